"""OKR tools okrsync pushes key-result values into: one small module per tool.

Each module exports ``PUBLISHER``, a :class:`~okrsync.sdk.publisher.PublisherType`
with ``section="destinations"`` whose ``open`` returns a
:class:`~okrsync.sdk.publisher.Destination`. They are built-ins named by string in
``okrsync.config.registry.PUBLISHER_BUILTINS``; like connectors they import only
:mod:`okrsync.sdk` and :mod:`okrsync.errors`. The push stage
(:mod:`okrsync.publish.push`) decides what is pushed, paces it and records it.
"""
