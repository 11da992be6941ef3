"""Statuses and progress as people read them, in every outlet: pages, digests, alerts.

Apart from the dashboard's templates, so a sync that sends a digest does not
load Jinja and the pages' stylesheet to say "on track".
"""

from __future__ import annotations

from okrsync.domain.snapshot import KrView

WORDS = {
    "done": "done", "on_track": "on track", "at_risk": "at risk", "off_track": "off track",
    "stale": "stale", "error": "error", "held": "held", "not_measured": "not measured",
    "throttled": "throttled",
}  # fmt: skip


def pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.0f}%"


def word(kr: KrView) -> str:
    """The status as people say it: not measured yet is not the same as stale."""
    if kr.status == "stale" and kr.measured_at is None:
        return "not_measured"
    return kr.status


__all__ = ["WORDS", "pct", "word"]
