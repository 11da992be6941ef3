"""The weekly check-in digest: the check-in nobody types, for one channel's objectives.

For its objectives: progress and its change since the last digest, status
changes, key results at risk or off track, stale or failing sources, and
initiatives done since. The last digest's numbers travel in its message's
``data["baseline"]`` (kept in the store with the notice), so "since the last
digest" means since the one this channel really received.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import datetime
from typing import Any

from okrsync.domain.snapshot import InitiativeView, KrView, ObjectiveView
from okrsync.domain.units import format_value
from okrsync.publish.filters import STATUSES, Filters, narrow
from okrsync.publish.snapshot import roots
from okrsync.publish.wording import WORDS, pct, word
from okrsync.sdk.messages import Item, Message, Section
from okrsync.sdk.publisher import ObjectiveScope

ATTENTION = ("at_risk", "off_track")
TROUBLE = ("stale", "error", "not_measured")


def scoped(views: list[ObjectiveView], scope: ObjectiveScope) -> list[ObjectiveView]:
    """The objectives a channel speaks of: its team, level, owner and ids (with what is below)."""
    shown = narrow(views, Filters(team=scope.team, level=scope.level, owner=scope.owner))
    if not scope.ids:
        return shown
    by_id = {v.id: v for v in shown}
    keep: set[str] = set()

    def walk(view: ObjectiveView) -> None:
        keep.add(view.id)
        for child in view.children:
            walk(child)

    for ident in scope.ids:
        if ident in by_id:
            walk(by_id[ident])
    return [
        replace(v, children=[c for c in v.children if c.id in keep]) for v in shown if v.id in keep
    ]


def flat(views: Iterable[ObjectiveView]) -> list[ObjectiveView]:
    """Every objective once, parents before their children, in file order."""
    seen: dict[str, ObjectiveView] = {}

    def walk(view: ObjectiveView) -> None:
        if view.id not in seen:
            seen[view.id] = view
            for child in view.children:
                walk(child)

    for top in roots(list(views)):
        walk(top)
    return list(seen.values())


def initiative_done(view: InitiativeView) -> bool:
    record = view.record
    if record.total and record.done is not None and record.done >= record.total:
        return True
    return view.status_word.strip().lower() in ("done", "closed", "resolved", "complete")


def points(now: float | None, before: float | None) -> str:
    """``+5 pts`` between two progress ratios; empty when either is unknown."""
    if now is None or before is None:
        return ""
    delta = round((now - before) * 100)
    return "±0 pts" if delta == 0 else f"{delta:+d} pts"


def baseline(views: Iterable[ObjectiveView]) -> dict[str, Any]:
    """What the next digest compares with: progress and statuses, initiatives done."""
    objectives = flat(views)
    return {
        "objectives": {o.id: o.progress for o in objectives},
        "krs": {
            k.id: {"status": word(k), "progress": k.progress}
            for o in objectives
            for k in o.key_results
        },
        "initiatives_done": sorted(
            f"{k.id}:{i.record.issue}"
            for o in objectives
            for k in o.key_results
            for i in k.initiatives
            if initiative_done(i)
        ),
    }


def link(base: str | None, path: str) -> str | None:
    return None if not base else base.rstrip("/") + path


def value_text(kr: KrView) -> str:
    milestone = kr.kind == "milestone"
    shown = format_value(kr.value, kr.unit, milestone=milestone)
    if milestone or kr.target is None:
        return shown
    return f"{shown} of {format_value(kr.target, kr.unit)}"


def build(
    channel: str,
    views: list[ObjectiveView],
    now: datetime,
    *,
    scope: ObjectiveScope | None = None,
    previous: Mapping[str, Any] | None = None,
    previous_at: datetime | None = None,
    dashboard: str | None = None,
    key: str | None = None,
) -> Message:
    """The digest of ``views`` (narrowed to ``scope``) as of ``now``, against ``previous``."""
    shown = flat(scoped(views, scope or ObjectiveScope()))
    krs = [(o, k) for o in shown for k in o.key_results]
    before_objectives: Mapping[str, Any] = (previous or {}).get("objectives", {})
    before_krs: Mapping[str, Any] = (previous or {}).get("krs", {})
    done_before = set((previous or {}).get("initiatives_done", []))
    since = f" since {previous_at:%d %b}" if previous_at else ""

    def kr_item(kr: KrView, detail: str) -> Item:
        return Item(kr.title, detail, word(kr), link(dashboard, f"/kr/{kr.id}"))

    objectives = Section("Objectives")
    for o in shown:
        change = points(o.progress, before_objectives.get(o.id)) if previous else ""
        detail = f"{pct(o.progress)}" + (f" ({change}{since})" if change else "")
        detail += f" · {WORDS.get(o.status, o.status)} · expected {pct(o.expected)}"
        objectives.items.append(Item(o.title, detail, o.status, link(dashboard, f"/#o-{o.id}")))

    changes = Section(f"Status changes{since}")
    if previous:
        for _, kr in krs:
            was = before_krs.get(kr.id, {}).get("status")
            if was is not None and was != word(kr):
                changes.items.append(
                    kr_item(kr, f"{WORDS.get(was, was)} → {WORDS[word(kr)]} · {value_text(kr)}")
                )

    attention = Section("At risk or off track")
    for _, kr in krs:
        if word(kr) in ATTENTION:
            detail = f"{WORDS[word(kr)]} · {pct(kr.progress)}, {pct(kr.expected)} expected by now"
            attention.items.append(kr_item(kr, f"{detail} · {value_text(kr)}"))

    trouble = Section("Stale or failing sources")
    for _, kr in krs:
        if word(kr) in TROUBLE or kr.held_value is not None:
            why = kr.last_error or kr.held_reason or kr.stale_reason or WORDS[word(kr)]
            label = (
                "held" if kr.held_value is not None and word(kr) not in TROUBLE else WORDS[word(kr)]
            )
            trouble.items.append(kr_item(kr, why if why.startswith(label) else f"{label}: {why}"))

    finished = Section(f"Initiatives done{since}")
    for _, kr in krs:
        for i in kr.initiatives:
            if initiative_done(i) and f"{kr.id}:{i.record.issue}" not in done_before:
                title = f"{i.record.issue} {i.record.title or ''}".strip()
                finished.items.append(Item(title, f"for {kr.title}", "done"))

    counts: dict[str, int] = {}
    for _, kr in krs:
        counts[word(kr)] = counts.get(word(kr), 0) + 1
    tally = ", ".join(f"{counts[s]} {WORDS[s]}" for s in STATUSES if counts.get(s))
    tops = roots(shown)
    mean = [o.progress for o in tops if o.progress is not None]
    average = sum(mean) / len(mean) if mean else None
    before_mean = [before_objectives.get(o.id) for o in tops]
    known = [b for b in before_mean if b is not None]
    change = points(average, sum(known) / len(known) if known and len(known) == len(mean) else None)
    summary = f"{len(krs)} key results in {len(shown)} objectives: {tally or 'none'}."
    if average is not None:
        summary += f" Top objectives at {pct(average)}" + (
            f" ({change}{since})." if change else "."
        )
    sections = [s for s in (objectives, changes, attention, trouble, finished) if s.items]
    return Message(
        kind="digest",
        key=key or f"digest:{now:%Y-%m-%dT%H:%MZ}",
        title=f"Weekly check-in, {channel}: {now:%d %b %Y}",
        summary=summary,
        sections=sections,
        link=link(dashboard, "/"),
        data={
            "channel": channel,
            "as_of": now.isoformat(),
            "previous_at": previous_at.isoformat() if previous_at else None,
            "counts": counts,
            "baseline": baseline(shown),
        },
    )


__all__ = ["baseline", "build", "flat", "initiative_done", "link", "points", "scoped", "value_text"]
