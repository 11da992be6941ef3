"""End-of-cycle grading: frozen scores, and the reflection report for the retrospective.

Scores are the domain's (:func:`okrsync.domain.progress.grade`): clamped
progress rounded to 2 decimals, success at 1.0 committed and 0.7 aspirational.
The report says what was reached, what moved most over the cycle, which
initiatives were done and which sources failed most: the questions an OKR
retrospective asks, answered from the store instead of from memory. It is a
:class:`~okrsync.sdk.messages.Message`, so it prints as Markdown and renders
as HTML like the digest.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Any

from okrsync.config.loader import Config
from okrsync.domain import progress as pm
from okrsync.domain.snapshot import ObjectiveView
from okrsync.domain.units import format_value
from okrsync.publish.digest import flat, initiative_done, value_text
from okrsync.sdk.messages import Item, Message, Section
from okrsync.store.database import Store

MOVED = 5  # key results listed under "what moved most"


def cycle_views(views: list[ObjectiveView], cycle: str) -> list[ObjectiveView]:
    return [v for v in flat(views) if v.cycle == cycle]


def grades(views: list[ObjectiveView], cycle: str) -> dict[str, Any]:
    """SPEC §7's JSON: per objective its score and success, per key result its value and score."""
    objectives = []
    for view in cycle_views(views, cycle):
        grade = view.grade
        score = grade.score if grade else round(pm.clamp(view.progress) or 0.0, 2)
        objectives.append({
            "id": view.id,
            "title": view.title,
            "kind": view.kind,
            "score": score,
            "success": grade.success if grade else None,
            "key_results": [
                {"id": kr.id, "title": kr.title, "value": kr.value, "unit": kr.unit,
                 "score": round(pm.clamp(kr.progress) or 0.0, 2)}
                for kr in view.key_results
            ],
        })  # fmt: skip
    return {"cycle": cycle, "objectives": objectives}


def reflection(
    config: Config, st: Store, views: list[ObjectiveView], cycle: str, at: datetime
) -> Message:
    """The retrospective's facts for ``cycle``, read from the store."""
    shown = cycle_views(views, cycle)
    graded = grades(views, cycle)
    reached = Section("What was reached")
    for o, g in zip(shown, graded["objectives"], strict=True):
        verdict = "success" if g["success"] else "short of success"
        needed = "1.0" if o.kind == "committed" else "0.7"
        reached.items.append(
            Item(
                o.title,
                f"{g['score']:.2f} ({o.kind}, success at {needed}): {verdict}",
                "done" if g["success"] else "off_track",
            )
        )
    moved: list[tuple[float, Item]] = []
    failures: Counter[str] = Counter()
    for o in shown:
        for kr in o.key_results:
            entry = config.krs.get(kr.id)
            if entry is None:
                continue
            points = st.history(kr.id, since=entry.cycle.start_at)
            for m in points:
                if m.status == "error":
                    failures[m.connection or "?"] += 1
            good = [m for m in points if m.status == "ok" and m.value is not None]
            first = pm.raw_progress(entry.kr, good[0].value) if good else None
            last = kr.raw_progress
            if first is not None and last is not None:
                unit = entry.kr.unit
                detail = (f"{format_value(good[0].value, unit)} → {value_text(kr)}: "
                          f"{(last - first) * 100:+.0f} pts")  # fmt: skip
                moved.append((abs(last - first), Item(kr.title, detail, kr.status)))
    movers = Section("What moved most", [i for _, i in sorted(moved, key=lambda p: -p[0])[:MOVED]])
    finished = Section("Initiatives done")
    for o in shown:
        for kr in o.key_results:
            for i in kr.initiatives:
                if initiative_done(i):
                    title = f"{i.record.issue} {i.record.title or ''}".strip()
                    finished.items.append(Item(title, f"for {kr.title}", "done"))
    failing = Section("Sources that failed most", [
        Item(name, f"{n} failed measurement(s) this cycle", "error")
        for name, n in failures.most_common(5)
    ])  # fmt: skip
    scores = [g["score"] for g in graded["objectives"]]
    successes = sum(1 for g in graded["objectives"] if g["success"])
    summary = (f"{len(shown)} objectives, {successes} successful; mean score "
               f"{sum(scores) / len(scores):.2f}." if scores else "No objectives in this cycle.")  # fmt: skip
    sections = [s for s in (reached, movers, finished, failing) if s.items]
    return Message("digest", f"grade:{cycle}", f"Reflection on {cycle}", summary, sections,
                   data={"cycle": cycle, "graded_at": at.isoformat(), "grades": graded})  # fmt: skip


__all__ = ["MOVED", "cycle_views", "grades", "reflection"]
