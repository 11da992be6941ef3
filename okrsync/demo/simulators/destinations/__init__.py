"""Simulators of the OKR tools okrsync pushes into: real HTTP on 127.0.0.1, the vendors' shapes.

Each records what it accepted, so tests and ``okrsync demo`` can show what
arrived. They declare no ``SERVES``: they serve destinations, not connections.
"""
