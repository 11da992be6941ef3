"""What people read in a terminal: the status tree, explain, history, plan, problems.

Rich tables only; no computation beyond formatting lives here.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from rich.console import Console
from rich.table import Table
from rich.text import Text

from okrsync.config.loader import Config, KrEntry
from okrsync.domain.records import KrState, MeasurementRecord
from okrsync.domain.snapshot import InitiativeView, KrView, ObjectiveView
from okrsync.domain.units import format_value
from okrsync.errors import Problem
from okrsync.publish.snapshot import measurement, roots
from okrsync.sync.plan import Plan

STATUS_STYLE = {
    "on_track": "green",
    "at_risk": "yellow",
    "off_track": "red",
    "done": "bold cyan",
    "stale": "magenta",
    "error": "bold red",
}
BAR_WIDTH = 20
PIPE_WIDTH = 160


def bar(progress: float | None, expected: float | None = None) -> Text:
    """A progress bar with a tick where progress is expected to be by now."""
    if progress is None:
        return Text("·" * BAR_WIDTH, style="dim")
    filled = round(progress * BAR_WIDTH)
    cells = ["█"] * filled + ["░"] * (BAR_WIDTH - filled)
    if expected is not None:
        mark = min(BAR_WIDTH - 1, int(expected * BAR_WIDTH))
        cells[mark] = "│" if mark >= filled else cells[mark]
    return Text("".join(cells))


def age(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = max(0, int((now - when).total_seconds()))
    for size, unit in ((86400, "d"), (3600, "h"), (60, "m")):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x * 100:.0f}%"


def status_table(views: list[ObjectiveView], now: datetime) -> Table:
    over = {v.cycle for v in views if v.grade is not None}  # graded: the cycle has ended
    cycles = ", ".join(f"{c} (over)" if c in over else c for c in sorted({v.cycle for v in views}))
    table = Table(
        title=f"OKRs {cycles} as of {now:%Y-%m-%d %H:%M} UTC",
        title_justify="left",
        caption="│ in a bar marks the progress expected by now; % over 100 is over-achievement",
        caption_justify="left",
    )
    table.add_column("Objective / key result", no_wrap=True)
    table.add_column("Title", overflow="ellipsis", no_wrap=True, max_width=38)
    table.add_column("Progress", no_wrap=True, min_width=BAR_WIDTH)
    table.add_column("%", justify="right", no_wrap=True, min_width=4)
    table.add_column("Status", no_wrap=True, min_width=9)
    table.add_column("Value", justify="right", no_wrap=True)
    table.add_column("Target", justify="right", no_wrap=True)
    table.add_column("Measured", justify="right", no_wrap=True, min_width=8)

    def add_objective(view: ObjectiveView, depth: int) -> None:
        indent = "  " * depth
        label = Text(f"{indent}◆ {view.id}", style="bold")
        title = Text(view.title)
        title.append(f" · {view.kind}", style="dim")
        status = Text(view.status, style=STATUS_STYLE[view.status])
        if view.grade is not None:
            status.append(f" {view.grade.score:.1f}{' ✓' if view.grade.success else ''}")
        table.add_row(
            label, title, bar(view.progress, view.expected), _pct(view.progress),
            status, "", "", "",
        )  # fmt: skip
        for kr in view.key_results:
            add_kr(kr, depth + 1)
        for child in view.children:
            add_objective(child, depth + 1)

    def add_kr(kr: KrView, depth: int) -> None:
        label = Text(f"{'  ' * depth}• {kr.id}")
        status = Text(kr.status, style=STATUS_STYLE[kr.status])
        if kr.held_value is not None:
            status.append(" held", style="yellow")
        target = "done" if kr.kind == "milestone" else format_value(kr.target, kr.unit)
        if kr.kind == "maintain":
            sign = "≤" if kr.direction == "at_most" else "≥"
            target = f"{sign} {target}" if kr.start is None else target
        value = (
            ("yes" if kr.value else "no")
            if kr.kind == "milestone" and kr.value is not None
            else format_value(kr.value, kr.unit)
        )
        table.add_row(
            label, kr.title, bar(kr.progress, kr.expected), _pct(kr.raw_progress), status,
            value, target, age(kr.measured_at, now),
        )  # fmt: skip
        for item in kr.initiatives:
            add_initiative(item, depth + 1)

    def add_initiative(view: InitiativeView, depth: int) -> None:
        item = view.record
        label = Text(f"{'  ' * depth}↳ {item.issue}", style="dim")
        note = Text("error", style="red") if item.error else Text(view.status_word, style="dim")
        done = "" if item.total is None else f"{item.done}/{item.total} done"
        table.add_row(
            label, Text(item.title or "", style="dim"), bar(item.completion),
            _pct(item.completion), note, done, "initiative", age(item.measured_at, now),
        )  # fmt: skip

    for view in roots(views):
        add_objective(view, 0)
    return table


def plan_table(
    config: Config,
    plan: Plan,
    records: Sequence[MeasurementRecord],
    states: Mapping[str, KrState],
) -> Table:
    """What a sync would query (one row per distinct query) and what would change."""
    table = Table(title=f"Plan: {len(plan.queries)} queries for {plan.kr_count} key results")
    table.add_column("Connection")
    table.add_column("Query", overflow="fold", max_width=70)
    table.add_column("Key result")
    table.add_column("Now", justify="right")
    table.add_column("Would be", justify="right")
    by_kr = {r.kr_id: r for r in records}
    for query in plan.queries.values():
        for i, kr_id in enumerate(query.kr_ids):
            state = states.get(kr_id)
            record = by_kr.get(kr_id)
            unit = config.krs[kr_id].kr.unit
            new: Text | str = "—"
            if record is not None and record.status == "error":
                new = Text(f"error: {record.error}", style="red")
            elif record is not None:
                held = record.status == "held"
                new = Text(format_value(record.value, unit), style="yellow" if held else "")
                if held:
                    new.append(" (held)")
            old = format_value(state.value if state else None, unit)
            table.add_row(
                query.connection if i == 0 else "", query.text if i == 0 else "", kr_id, old, new
            )
    return table


def history_table(entry: KrEntry, points: Sequence[MeasurementRecord]) -> Table:
    """``points`` formatted; their progress comes from :func:`okrsync.publish.snapshot.measurement`."""
    table = Table(title=f"History of {entry.kr.id}: {entry.kr.title}", title_justify="left")
    for name in ("Measured at (UTC)", "Status", "Value", "Progress", "Note"):
        table.add_column(name, justify="right" if name in ("Value", "Progress") else "left")
    for m in points:
        row = measurement(entry, m)
        table.add_row(
            f"{m.measured_at:%Y-%m-%d %H:%M:%S}",
            Text(m.status, style={"ok": "green", "held": "yellow"}.get(m.status, "red")),
            format_value(m.value, entry.kr.unit),
            _pct(row["progress"]),
            m.error or "",
        )
    return table


def print_explain(out: Console, info: dict[str, Any]) -> None:
    kr = info["key_result"]
    out.print(Text(f"{kr['id']}: {kr['title']}", style="bold"))
    out.print(f"  objective   {info['objective']}  ({info['file']})")
    conn = info["connection"]
    if conn is None:
        out.print("  source      none: this key result is never measured")
        return
    out.print(f"  connection  {conn['name']} (type {conn['type']}, {conn['url'] or 'no url'})")
    out.print(f"  query       {info['rendered_query'] or '(not yet run)'}", soft_wrap=True)
    value = format_value(info["value"], kr["unit"])
    out.print(f"  value       {value}  measured {info['measured_at'] or 'never'}")
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
    out.print(f"  history     {len(info['history'])} most recent measurement(s):")
    for row in info["history"]:
        out.print(
            f"    {row['measured_at']}  {row['status']:<5}  {format_value(row['value'], kr['unit'])}"
        )


def problems(console: Console, found: Sequence[Problem]) -> None:
    for p in found:
        style = "red" if p.severity == "error" else "yellow"
        console.print(Text(str(p), style=style), soft_wrap=True)


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
    "plan_table",
    "print_explain",
    "problems",
    "status_table",
]
