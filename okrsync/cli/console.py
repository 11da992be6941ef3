"""What people read in a terminal: the status tree, explain, history, plan, problems.

Rich tables only; no computation beyond formatting lives here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from okrsync.config.loader import Config, KrEntry
from okrsync.domain.records import MeasurementRecord, PushRecord
from okrsync.domain.snapshot import InitiativeView, KrView, ObjectiveView
from okrsync.domain.units import format_value
from okrsync.errors import Problem
from okrsync.publish.push import Pending
from okrsync.publish.snapshot import measurement, roots
from okrsync.sync.changes import Change, counts, skipped_counts, throttled_groups
from okrsync.sync.plan import Plan

STATUS_STYLE = {
    "on_track": "green",
    "at_risk": "yellow",
    "off_track": "red",
    "done": "bold cyan",
    "stale": "magenta",
    "error": "bold red",
    "throttled": "dark_orange",
}
BAR_WIDTH = 20
PIPE_WIDTH = 160


def bar(progress: float | None, expected: float | None = None, width: int = BAR_WIDTH) -> Text:
    """A progress bar with a tick where progress is expected to be by now (also when past it)."""
    if progress is None:
        return Text("·" * width, style="dim")
    filled = round(progress * width)
    cells = ["█"] * filled + ["░"] * (width - filled)
    if expected is not None:
        mark = min(width - 1, int(expected * width))
        cells[mark] = "│" if mark >= filled else "▌"
    return Text("".join(cells))


def age(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _measured(kr: KrView, now: datetime) -> str:
    """``2m ago``, and what a settled value describes: ``2m ago, as of 1d``."""
    shown = age(kr.measured_at, now)
    if kr.as_of is not None and kr.measured_at is not None and kr.as_of < kr.measured_at:
        lag = age(kr.as_of, kr.measured_at).removesuffix(" ago")
        shown += f", as of {lag} before"
    return shown


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.0f}%"


NOT_MEASURED = "not measured yet"
TITLE_AT = 120  # narrower than this the title column goes first; the numbers always stay
BARS_AT = 100  # narrower than this the bars go too
OWNERS_AT = 180  # wider than this an owner column fits beside whole titles
OWNER = 8  # the owner's cell in a row
NARROW_BAR = 10
LEGEND = (
    "│ in a bar: the progress expected by now (▌ when already past it); "
    "% over 100 is over-achievement; held: a suspicious value kept aside (okrsync hold list)"
)
Row = list[Text | str]


def _who(owner: str | None) -> str:
    """An owner as a column has room for: the name part of an e-mail address."""
    return (owner or "").split("@", 1)[0]


def status_word(kr: KrView) -> str:
    """A key result's status as people read it: before its first value, not "stale"."""
    return NOT_MEASURED if kr.status == "stale" and kr.measured_at is None else kr.status


def status_summary(views: list[ObjectiveView]) -> str:
    """How many key results have each status, in the order statuses are judged."""
    krs = [kr for view in views for kr in view.key_results]
    order = [
        "done",
        "on_track",
        "at_risk",
        "off_track",
        "stale",
        NOT_MEASURED,
        "throttled",
        "error",
    ]
    words = [status_word(kr) for kr in krs]
    parts = [f"{words.count(w)} {w}" for w in order if w in words]
    held = sum(kr.held_value is not None for kr in krs)
    return " · ".join([*parts, *([f"{held} held"] if held else [])]) or "no key results"


def status_table(
    views: list[ObjectiveView], now: datetime, width: int | None = None, notes: Sequence[str] = ()
) -> Table:
    """The OKR tree, fitted to ``width`` columns: titles go first, then the bars; never a number.

    No status word is ever cut; why each error or hold is, is said under the table, whole.
    """
    over = {v.cycle for v in views if v.grade is not None}  # graded: the cycle has ended
    cycles = ", ".join(f"{c} (over)" if c in over else c for c in sorted({v.cycle for v in views}))
    owners = width is None or width >= OWNERS_AT  # only where there is room to spare
    titles = width is None or width >= TITLE_AT  # the first to go when narrow
    bars = width is None or width >= BARS_AT  # then the bars: % says the same in numbers
    cells = BAR_WIDTH if titles else NARROW_BAR
    rows: list[tuple[Row, str, str | None]] = []  # the cells, whose they are, why (if shown)

    def add_objective(view: ObjectiveView, depth: int) -> None:
        title = Text(view.title)
        title.append(" · ".join(["", *([view.team] if view.team else []), view.kind]), style="dim")
        status = Text(view.status, style=STATUS_STYLE[view.status])
        if view.grade is not None:
            status.append(f" {view.grade.score:.1f}{' ✓' if view.grade.success else ''}")
        label = Text(f"{'  ' * depth}◆ {view.id}", style="bold")
        rows.append(([label, title, bar(view.progress, view.expected, cells),
                      _pct(view.progress), status, "", "", "", _who(view.owner)],
                     view.id, None))  # fmt: skip
        for kr in view.key_results:
            add_kr(kr, depth + 1)
        for child in view.children:
            add_objective(child, depth + 1)

    def add_kr(kr: KrView, depth: int) -> None:
        status = Text(status_word(kr), style=STATUS_STYLE[kr.status])
        reason = kr.reason
        if kr.held_value is not None:
            status.append(" held", style="yellow")
            why = (kr.held_reason or "suspicious").removeprefix("held for review: ")
            held = f"held {format_value(kr.held_value, kr.unit)}: {why}"
            reason = held if reason is None or reason == kr.held_reason else f"{reason}; {held}"
        target = "done" if kr.kind == "milestone" else format_value(kr.target, kr.unit)
        if kr.kind == "maintain":
            sign = "≤" if kr.direction == "at_most" else "≥"
            target = f"{sign} {target}" if kr.start is None else target
        value = format_value(kr.value, kr.unit, milestone=kr.kind == "milestone")
        expected = None if kr.kind == "milestone" else kr.expected  # done or not: no schedule
        label = Text(f"{'  ' * depth}• {kr.id}")
        rows.append(([label, kr.title, bar(kr.progress, expected, cells), _pct(kr.raw_progress),
                      status, value, target, _measured(kr, now), _who(kr.owner)],
                     kr.id, reason))  # fmt: skip
        for item in kr.initiatives:
            add_initiative(item, depth + 1)

    def add_initiative(view: InitiativeView, depth: int) -> None:
        item = view.record
        label = Text(f"{'  ' * depth}↳ {item.issue}", style="dim")
        note = Text("error", style="red") if item.error else Text(view.status_word, style="dim")
        done = "" if item.total is None else f"{item.done}/{item.total} done"
        rows.append(([label, Text(item.title or "", style="dim"), bar(item.completion, None, cells),
                      _pct(item.completion), note, done, "initiative",
                      age(item.measured_at, now), ""], item.issue, item.error))  # fmt: skip

    for view in roots(views):
        add_objective(view, 0)

    # Why each error or hold: under the table, whole (a table cell would cut it).
    why = [f"↳ {subject}: {reason}" for _, subject, reason in rows if reason]
    table = Table(
        title=f"OKRs {cycles} as of {now:%Y-%m-%d %H:%M} UTC",
        title_justify="left",
        caption="\n".join([status_summary(views), *why, *notes, LEGEND]),
        caption_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )

    def widest(i: int, floor: int = 1) -> int:
        return max([floor, *(len(str(cells_[i])) for cells_, _, _ in rows)])

    numbers = [(3, "%"), (4, "Status"), (5, "Value"), (6, "Target"), (7, "Measured")]
    kept = {name: widest(i, len(name)) for i, name in numbers}  # never cut
    if bars:
        kept["Progress"] = cells
    # Between two columns: one space of padding and a separator (collapse_padding).
    if owners:
        kept["Owner"] = min(24, widest(OWNER, len("Owner")))
    room = (width or 10_000) - sum(kept.values()) - 2 * (len(kept) + titles)
    label = min(widest(0, 12), max(12, room // 3 if titles else room))
    table.add_column("Objective / key result", no_wrap=True, overflow="ellipsis", max_width=label)
    if titles:
        fits = max(10, room - label)
        table.add_column("Title", no_wrap=True, overflow="ellipsis", max_width=min(widest(1), fits))
    if bars:
        table.add_column("Progress", no_wrap=True, min_width=cells)
    for _, name in numbers:
        if name == "Status":
            table.add_column(name, no_wrap=True, min_width=kept[name])
        else:
            table.add_column(name, justify="right", no_wrap=True, min_width=kept[name])
    if owners:
        table.add_column("Owner", no_wrap=True, overflow="ellipsis", max_width=24)
    for cells_, _, _ in rows:
        shown = (i for i, _ in enumerate(cells_) if (i != 1 or titles) and (i != 2 or bars))
        table.add_row(*[cells_[i] for i in shown if i != OWNER or owners])
    return table


PLAN_MARKS = {"new": "+", "change": "~", "held": "?", "error": "!", "same": " "}
PLAN_WORDS = {"change": "to change", "new": "new", "held": "would be held",
              "error": "would fail", "same": "unchanged"}  # fmt: skip
PLAN_STYLE = {"new": "green", "change": "yellow", "held": "yellow", "error": "red", "same": "dim"}


def plan_lines(config: Config, plan: Plan, found: Sequence[Change]) -> list[Text]:
    """What a sync would change, like ``terraform plan``: changes marked, unchanged rows quiet.

    ``+`` a first value, ``~ old → new`` a change, ``?`` a value that would be
    held, ``!`` a failing query; each with its connection and rendered query.
    """
    lines = [
        Text(
            f"Plan as of {plan.now:%Y-%m-%d %H:%M} UTC: {plan.kr_count} key result(s) due, "
            f"{len(plan.queries)} quer{'y' if len(plan.queries) == 1 else 'ies'}",
            style="bold",
        )
    ]
    width = max([12, *(len(c.kr_id) for c in found)])
    for c in found:
        kr = config.krs[c.kr_id].kr
        milestone = kr.kind == "milestone"

        def shown(value: float | None, *, unit: str | None = kr.unit, m: bool = milestone) -> str:
            return format_value(value, unit, milestone=m)

        line = Text(f"  {PLAN_MARKS[c.action]} ", style=PLAN_STYLE[c.action])
        line.append(f"{c.kr_id:<{width}}  ", style="dim" if c.action == "same" else "")
        if c.action == "same":
            line.append(f"{shown(c.new)} (unchanged)", style="dim")
        elif c.action == "error":
            line.append(f"{shown(c.old)}, would fail: {c.reason}", style="red")
        elif c.action == "held":
            line.append(f"{shown(c.old)} → {shown(c.new)} would be held: {c.reason}")
        else:
            line.append(f"{shown(c.old)} → {shown(c.new)}")
        lines.append(line)
        if c.action != "same":
            lines.append(Text(f"      {c.connection}: {c.query}", style="dim"))
    tally = counts(found)
    summary = ", ".join(f"{n} {PLAN_WORDS[action]}" for action, n in tally.items())
    lines.append(Text(""))
    if not plan.queries:
        lines.append(Text("Nothing due; okrsync plan --all measures every key result now."))
    else:
        lines.append(Text(f"Plan: {summary or 'nothing measured'}.", style="bold"))
    for why, n in skipped_counts(plan).items():
        lines.append(Text(f"  {n} not measured now: {why}", style="dim"))
    for why, krs in throttled_groups(plan).items():
        names = ", ".join(krs[:5]) + (f" and {len(krs) - 5} more" if len(krs) > 5 else "")
        lines.append(Text(f"  {len(krs)} throttled ({names}): {why}", style="dark_orange"))
    if plan.queries and any(why.startswith("not due") for why in plan.skipped.values()):
        lines.append(Text("  okrsync plan --all measures those too.", style="dim"))
    return lines


def push_lines(
    config: Config,
    due: Sequence[Pending],
    done: Sequence[PushRecord],
    title: str = "Pushes",
) -> list[Text]:
    """What is (or was) pushed to each destination: item, old → new; the outcome once sent."""
    if not due:
        return [
            Text(f"{title}: nothing due (every destination has its current values)", style="dim")
        ]
    outcome = {(d.destination, d.item, d.measured_at): d for d in done}
    lines = [Text(f"{title}: {len(due)} value(s)", style="bold")]
    for p in due:
        kr = config.krs[p.item.kr_id].kr
        milestone = kr.kind == "milestone"
        old = format_value(p.old, kr.unit, milestone=milestone)
        new = format_value(p.item.value, kr.unit, milestone=milestone)
        when = f" ({p.item.measured_at:%Y-%m-%d})" if p.history else ""
        line = Text(f"  → {p.destination} {p.item.item} ({p.item.kr_id}): {old} → {new}{when}")
        sent = outcome.get((p.destination, p.item.item, p.item.measured_at))
        if sent is not None and sent.outcome == "ok":
            line.append("  ok", style="green")
        elif sent is not None:
            line.append(f"  failed: {sent.error}", style="red")
        lines.append(line)
    if done:
        failed = sum(d.outcome == "error" for d in done)
        lines.append(Text(f"{len(done) - failed} pushed, {failed} failed", style="bold"))
    return lines


SPARKS = "▁▂▃▄▅▆▇█"


def sparkline(values: Sequence[float]) -> str:
    """One character per value, from ▁ (the lowest) to █ (the highest); flat: all ▄."""
    if not values:
        return ""
    low, high = min(values), max(values)
    if high == low:
        return SPARKS[3] * len(values)
    top = len(SPARKS) - 1
    return "".join(SPARKS[round((v - low) / (high - low) * top)] for v in values)


def history_table(entry: KrEntry, points: Sequence[MeasurementRecord]) -> Table:
    """``points`` formatted; their progress comes from :func:`okrsync.publish.snapshot.measurement`.

    The caption is a sparkline of the good values, oldest first, with their range.
    """
    table = Table(title=f"History of {entry.kr.id}: {entry.kr.title}", title_justify="left")
    good = [m.value for m in points if m.status == "ok" and m.value is not None]
    if good:
        unit, milestone = entry.kr.unit, entry.kr.kind == "milestone"
        low, high = (format_value(v, unit, milestone=milestone) for v in (min(good), max(good)))
        count = f"{len(good)} good value" + ("" if len(good) == 1 else "s")
        table.caption = f"{sparkline(good)}  {count}, {low} to {high}"
        table.caption_justify = "left"
    for name in ("As of (UTC)", "Status", "Value", "Progress", "Note"):
        table.add_column(name, justify="right" if name in ("Value", "Progress") else "left")
    for m in points:
        row = measurement(entry, m)
        note = m.error or ""
        if m.backfilled:
            note = "backfilled" + (f"; {note}" if note else "")
        elif m.as_of is not None and m.as_of != m.measured_at:
            note = f"measured {m.measured_at:%Y-%m-%d %H:%M}" + (f"; {note}" if note else "")
        table.add_row(
            f"{(m.as_of or m.measured_at):%Y-%m-%d %H:%M:%S}",
            Text(m.status, style={"ok": "green", "held": "yellow"}.get(m.status, "red")),
            format_value(m.value, entry.kr.unit, milestone=entry.kr.kind == "milestone"),
            _pct(row["progress"]),
            note,
        )
    return table


def print_explain(out: Console, info: dict[str, Any]) -> None:
    kr = info["key_result"]
    out.print(Text(f"{kr['id']}: {kr['title']}", style="bold"))
    out.print(f"  objective   {info['objective']}  ({info['file']})")
    conn = info["connection"]
    derived = info.get("derived")
    if conn is None and derived:
        out.print(f"  source      derived: {derived['expression']}")
        for name, given in derived["inputs"].items():
            out.print(f"    {name:<10}{given['connection']} ({given['type']})")
    elif conn is None and info["manual"]:
        out.print(f"  source      manual: values are checked in (okrsync checkin {kr['id']} VALUE)")
    elif conn is None:
        out.print("  source      none: this key result is never measured")
        return
    elif info["simulated"]:  # the value came from a simulator, not from what is configured
        out.print(
            f"  connection  {conn['name']} (type {conn['type']}): the built-in simulator, in a "
            f"demo or --simulators run; configured: {conn['url'] or 'no url'}"
        )
    else:
        out.print(f"  connection  {conn['name']} (type {conn['type']}, {conn['url'] or 'no url'})")
    if not info["manual"]:
        out.print(f"  query       {info['rendered_query'] or '(not yet run)'}", soft_wrap=True)
    milestone = kr["type"] == "milestone"
    value = format_value(info["value"], kr["unit"], milestone=milestone)
    out.print(f"  value       {value}  measured {info['measured_at'] or 'never'}")
    if info.get("settle"):
        out.print(f"  as of       {info['as_of'] or '—'}  (settle {info['settle']}: late numbers)")
    if throttled := info.get("throttled"):
        can = throttled["can_refresh"]
        can = f"; it can refresh every {can}" if can and can not in throttled["reason"] else ""
        out.print(
            f"  throttled   since {throttled['since']}: {throttled['reason']} "
            f"(asks every {throttled['refresh']}{can})",
            style="dark_orange",
            soft_wrap=True,
        )
    last = info["last_attempt"]
    if last:
        style = "red" if last["status"] == "error" else ""
        out.print(
            f"  last run    #{last['run_id']} {last['at']}: {last['status']}, "
            f"{last['duration_ms']:.0f} ms, {last['calls']} call(s)", style=style
        )  # fmt: skip
        if last["raw"]:
            out.print(f"  raw answer  {last['raw']}", soft_wrap=True)
        if last["error"]:
            out.print(f"  error       {last['error']}", style=style or "yellow", soft_wrap=True)
    for p in info.get("pushes", []):
        if p["outcome"] == "ok":
            said = f"ok {format_value(p['value'], kr['unit'], milestone=milestone)}"
            out.print(
                f"  pushed      {p['destination']} {p['item']}: {said} at {p['attempted_at']}"
            )
        else:
            out.print(
                f"  pushed      {p['destination']} {p['item']}: failed at {p['attempted_at']}: "
                f"{p['error']}",
                style="red",
                soft_wrap=True,
            )
    out.print(f"  history     {len(info['history'])} most recent measurement(s):")
    for row in info["history"]:
        out.print(
            f"    {row['measured_at']}  {row['status']:<5}  "
            f"{format_value(row['value'], kr['unit'], milestone=milestone)}"
        )


def problems(console: Console, found: Sequence[Problem]) -> None:
    """One line per problem, printed at once: 10,000 prints took rich twice as long."""
    if not found:
        return
    lines = (Text(str(p), style="red" if p.severity == "error" else "yellow") for p in found)
    console.print(Text("\n").join(lines), soft_wrap=True)


def make_console(stderr: bool = False) -> Console:
    """A console that keeps tables readable when piped (rich assumes 80 columns).

    Markup is off: queries, titles and vendor answers hold brackets (PromQL
    ``[30d]``, SQL arrays, ``[link]`` in a title) that rich would eat as tags.
    """
    stream = sys.stderr if stderr else sys.stdout
    width = None if stream.isatty() else int(os.environ.get("COLUMNS", PIPE_WIDTH))
    return Console(stderr=stderr, highlight=False, soft_wrap=False, width=width, markup=False)


__all__ = [
    "age",
    "bar",
    "history_table",
    "make_console",
    "plan_lines",
    "print_explain",
    "problems",
    "push_lines",
    "sparkline",
    "status_table",
]
