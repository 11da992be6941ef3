"""The domain: OKRs, cycles, units, progress maths and the records a sync produces.

Imports nothing else of okrsync but :mod:`okrsync.errors`."""
