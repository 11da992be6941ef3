"""The OKR tree as the store has it now: what ``status``, the dashboard and /metrics show.

One read of the store per question, never one per key result: a single query
gives every key result's points for its forecast.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

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


__all__ = ["push_marks", "views"]
