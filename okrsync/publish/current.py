"""The OKR tree as the store has it now: what ``status``, the dashboard and /metrics show.

One read of the store per question, never one per key result: a single query
gives every key result's points for its forecast. A server keeps what it
derived in a :class:`Cache` until the store's generation, the configuration or
the minute changes: the tree of 10,000 key results takes most of a second to
build, and nothing it shows can change otherwise (expected progress moves by
about a thousandth of a percent a minute in a quarter).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from okrsync.config.loader import Config
from okrsync.domain.snapshot import ObjectiveView
from okrsync.publish import push as push_stage
from okrsync.publish import snapshot
from okrsync.store.database import Store


def views(config: Config, st: Store, now: datetime) -> list[ObjectiveView]:
    """Every objective with its key results, progress, status and forecast."""
    earliest = min((entry.cycle.start_at for entry in config.krs.values()), default=now)
    points = st.good_values(since=earliest)  # one query for every key result's forecast

    def history(kr_id: str, since: datetime) -> list[tuple[datetime, float]]:
        return [(t, v) for t, v in points.get(kr_id, ()) if t >= since]

    return snapshot.build(config, st.states(), now, history, st.initiatives())


def push_marks(config: Config, st: Store, now: datetime) -> dict[str, Any] | None:
    """Pushes still due, and items whose last push failed; None without destinations."""
    if not config.destinations and not config.unavailable_destinations:
        return None
    due = push_stage.pending(config, st.states(), st.accepted(), now)
    failed = [p for p in st.last_pushes().values() if p.outcome == "error"]
    pending = [
        {"destination": p.destination, "item": p.item.item, "key_result": p.item.kr_id,
         "value": p.item.value, "accepted": p.old}
        for p in due
    ]  # fmt: skip
    return {"pending": pending, "failed": [snapshot.push_json(p) for p in failed]}


T = TypeVar("T")
BUCKET_SECONDS = 60


@dataclass(frozen=True)
class Tree:
    """The views and push marks as of ``as_of``."""

    views: list[ObjectiveView]
    marks: dict[str, Any] | None
    as_of: datetime


class Cache(Generic[T]):
    """One derived value per (configuration, store generation, minute), computed once.

    Concurrent requests for the same key wait for the one computing it.
    """

    def __init__(self) -> None:
        self._key: tuple[Any, ...] | None = None
        self._value: T | None = None
        self._made = 0.0  # time.monotonic() when the value was made
        self._lock = threading.Lock()
        self.misses = 0

    def get(self, key: tuple[Any, ...], make: Callable[[], T]) -> T:
        with self._lock:
            if self._key != key or self._value is None:
                self._value, self._key = make(), key
                self._made = time.monotonic()
                self.misses += 1
            return self._value

    def latest(self) -> tuple[tuple[Any, ...], T, float] | None:
        """(key, value, seconds since it was made) of what is held, whatever its key."""
        key, value = self._key, self._value
        if key is None or value is None:
            return None
        return key, value, time.monotonic() - self._made


def key(config: Config, st: Store, now: datetime) -> tuple[Any, ...]:
    """What a cached tree depends on: the configuration, the store's writes and the minute."""
    return (config.fingerprint, st.generation(), int(now.timestamp() // BUCKET_SECONDS))


def tree(config: Config, st: Store, now: datetime) -> Tree:
    return Tree(views(config, st, now), push_marks(config, st, now), now)


__all__ = ["BUCKET_SECONDS", "Cache", "Tree", "key", "push_marks", "tree", "views"]
