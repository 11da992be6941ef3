"""A :class:`~okrsync.sdk.connector.Runtime` whose sleeps are recorded, not slept.

Retries and ``Retry-After`` waits go through ``Runtime.sleep``, so a test of
a 5xx storm runs in milliseconds and can still check how long the connector
would have waited.
"""

from __future__ import annotations

from okrsync.sdk.connector import Runtime


class Sleeps:
    """A recording ``sleep``: every wait is appended to ``waits`` and returns at once."""

    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def no_sleep(_: float) -> None:
    return None


FAST = Runtime(sleep=no_sleep)  # retries without waiting

__all__ = ["FAST", "Sleeps", "no_sleep"]
