"""Alerts: a key result changing status, a source failing 3 runs in a row, a value held.

Each event has a key that is the same whoever sees it and however often:
``status:<kr>:<new status>:<since>``, ``failing:<connection>:<query>:<last good
value>``, ``held:<kr>:<held value>:<last good value>``. The notify stage claims the key in the
store before sending, so an event is posted once per channel, never again by
the next sync or another process. Status changes are found against the
status each channel last knew (kept in the store, moved conditionally), so a
change the clock makes (a value going stale) alerts too, and a channel added
later starts from what it finds instead of alerting on everything.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime

from okrsync.domain.records import KrState, MeasurementRecord
from okrsync.domain.snapshot import KrView, ObjectiveView
from okrsync.publish.digest import flat, link, scoped, value_text
from okrsync.publish.wording import WORDS, pct, word
from okrsync.sdk.messages import Item, Message, Section
from okrsync.sdk.publisher import ChannelSettings

FAILING_RUNS = 3  # consecutive failed measurements that make a source "failing"


@dataclass(frozen=True)
class Watch:
    """What the alerts read from the store for one channel (functions, so tests can see calls)."""

    known: Mapping[str, tuple[str, datetime]]  # kr → (status the channel last knew, since)
    move: Callable[[list[tuple[str, str | None, str]]], set[str]]
    # [(kr, old, new)] → the key results whose move this process won (one transaction)
    states: Mapping[str, KrState]
    recent: Callable[[str, int], Sequence[MeasurementRecord]]  # (kr, n) → newest n, oldest first


def status_changes(
    channel: str, settings: ChannelSettings, krs: Sequence[KrView], watch: Watch, now: datetime
) -> list[Message]:
    moves: list[tuple[str, str | None, str]] = []
    changed: dict[str, tuple[KrView, str]] = {}
    for kr in krs:
        new = word(kr)
        old = watch.known.get(kr.id)
        if old is None:
            moves.append((kr.id, None, new))  # first sight: remembered, not alerted
        elif old[0] != new:
            moves.append((kr.id, old[0], new))
            changed[kr.id] = (kr, old[0])
    won = watch.move(moves) if moves else set()
    out = []
    for kr_id, (kr, was) in changed.items():
        if kr_id not in won:
            continue  # another process already moved (and alerted) it
        new = word(kr)
        title = f"{kr.title}: {WORDS.get(was, was)} → {WORDS[new]}"
        detail = f"{pct(kr.progress)}, {pct(kr.expected)} expected by now · {value_text(kr)}"
        why = kr.last_error or kr.held_reason or kr.stale_reason
        items = [Item(kr.title, detail, new, link(settings.dashboard_url, f"/kr/{kr.id}"))]
        if why:
            items.append(Item("Why", why))
        out.append(
            Message(
                "alert",
                f"status:{kr.id}:{new}:{now:%Y-%m-%dT%H:%M:%SZ}",
                title,
                f"{kr.title} is {WORDS[new]} now (was {WORDS.get(was, was)}).",
                [Section("Key result", items)],
                link(settings.dashboard_url, f"/kr/{kr.id}"),
                {"event": "status_change", "key_result": kr.id, "from": was, "to": new},
            )
        )
    return out


def held(
    channel: str, settings: ChannelSettings, krs: Sequence[KrView], watch: Watch
) -> list[Message]:
    out = []
    for kr in krs:
        state = watch.states.get(kr.id)
        if kr.held_value is None or state is None or state.held_at is None:
            continue
        at = state.held_at
        good = f"{state.measured_at:%Y-%m-%dT%H:%M:%SZ}" if state.measured_at else "never"
        title = f"{kr.title}: a value is held for review"
        why = kr.held_reason or "suspicious"
        out.append(
            Message(
                "alert",
                f"held:{kr.id}:{kr.held_value!r}:{good}",  # held again unchanged: the same event
                title,
                f"{why}. Accept it with okrsync hold accept {kr.id}, or drop it with okrsync hold reject {kr.id}.",
                [
                    Section(
                        "Key result",
                        [
                            Item(
                                kr.title,
                                f"kept: {value_text(kr)}",
                                "held",
                                link(settings.dashboard_url, f"/kr/{kr.id}"),
                            )
                        ],
                    )
                ],
                link(settings.dashboard_url, f"/kr/{kr.id}"),
                {
                    "event": "held",
                    "key_result": kr.id,
                    "held_value": kr.held_value,
                    "held_at": at.isoformat(),
                },
            )
        )
    return out


def failing(
    channel: str, settings: ChannelSettings, krs: Sequence[KrView], watch: Watch
) -> list[Message]:
    """One alert per source (connection and query) whose last 3 measurements all failed."""
    sources: dict[tuple[str, str], list[KrView]] = {}
    errors: dict[tuple[str, str], str] = {}
    since: dict[tuple[str, str], str] = {}
    for kr in krs:
        state = watch.states.get(kr.id)
        if state is None or state.last_status != "error":
            continue
        recent = watch.recent(kr.id, FAILING_RUNS)
        if len(recent) < FAILING_RUNS or any(m.status != "error" for m in recent):
            continue
        where = (state.connection or "?", state.query or "")
        sources.setdefault(where, []).append(kr)
        errors[where] = state.last_error or recent[-1].error or "failed"
        good = state.measured_at
        since[where] = f"{good:%Y-%m-%dT%H:%M:%SZ}" if good else "never"
    out = []
    for (connection, query), affected in sources.items():
        digest = hashlib.sha256(query.encode()).hexdigest()[:12]
        names = ", ".join(k.title for k in affected)
        items = [Item(k.title, f"last good value {value_text(k)}", word(k),
                      link(settings.dashboard_url, f"/kr/{k.id}")) for k in affected]  # fmt: skip
        items.append(Item("Error", errors[(connection, query)]))
        out.append(
            Message(
                "alert",
                f"failing:{connection}:{digest}:{since[(connection, query)]}",
                f"{connection} has failed {FAILING_RUNS} runs in a row",
                f"The source of {names} failed its last {FAILING_RUNS} measurements.",
                [Section("Affected key results", items)],
                settings.dashboard_url,
                {
                    "event": "failing",
                    "connection": connection,
                    "query": query,
                    "key_results": [k.id for k in affected],
                },
            )
        )
    return out


def detect(
    channel: str,
    settings: ChannelSettings,
    views: list[ObjectiveView],
    watch: Watch,
    now: datetime,
) -> list[Message]:
    """This channel's alert events as of ``now``, for the kinds it asked for."""
    krs = [k for o in flat(scoped(views, settings.objectives)) for k in o.key_results]
    found: list[Message] = []
    if "status_change" in settings.alerts:
        found += status_changes(channel, settings, krs, watch, now)
    if "failing" in settings.alerts:
        found += failing(channel, settings, krs, watch)
    if "held" in settings.alerts:
        found += held(channel, settings, krs, watch)
    return found


__all__ = ["FAILING_RUNS", "Watch", "detect", "failing", "held", "status_changes"]
