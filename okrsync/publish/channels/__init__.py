"""The built-in channels: where digests and alerts are posted (Slack, Teams, email, webhook).

Each is one small module: a :class:`~okrsync.sdk.publisher.ChannelSettings`
subclass, a class with ``send(message) -> receipt`` and ``aclose()``, and a
``PUBLISHER`` listed in ``okrsync.config.registry.CHANNEL_BUILTINS``. Like the
destinations they import only :mod:`okrsync.sdk` and :mod:`okrsync.errors`;
which messages are due, and that each goes out once, is the notify stage's job.
"""
