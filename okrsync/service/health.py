"""What ``/healthz`` and ``/readyz`` read (:mod:`okrsync.service.web` serves them).

Liveness fails when the scheduler loop has not ticked for longer than its
stall bound (a hung process should be restarted); readiness asks the store
for the last run, so it fails while the store is unreachable.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

ALL = "0.0.0.0"  # noqa: S104 - container probes arrive on the pod's address


class Heartbeat:
    """The scheduler beats; the probe reads how long ago."""

    def __init__(self, stall_after: float) -> None:
        self.stall_after = stall_after
        self._last = time.monotonic()
        self._lock = threading.Lock()

    def beat(self) -> None:
        with self._lock:
            self._last = time.monotonic()

    def age(self) -> float:
        with self._lock:
            return time.monotonic() - self._last


ReadyCheck = Callable[[], dict[str, Any]]  # raises when not ready


__all__ = ["ALL", "Heartbeat", "ReadyCheck"]
