"""The dashboard's HTML: the OKR tree with filters, and one key result's page.

Templates are Jinja2 with autoescaping on: every title, owner and error from
the mappings or a vendor is text, never markup. A page needs only itself and
``/static/dashboard.css``; nothing is fetched from elsewhere.

A large organisation is paged by its top objectives (``PAGE_KRS`` key results
a page at most, a whole top objective never split), and below the first level
objectives start collapsed, so 10,000 key results stay a page a browser and
a person can handle.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib.resources import files
from typing import Any
from urllib.parse import urlencode

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from okrsync.domain.snapshot import KrView, ObjectiveView
from okrsync.domain.units import format_value
from okrsync.publish.dashboard import chart
from okrsync.publish.filters import STATUSES, Filters, kr_statuses, narrow
from okrsync.publish.snapshot import roots
from okrsync.publish.wording import WORDS, pct, word

PAGE_KRS = 500  # key results rendered on one page of the tree, at most (whole top objectives)
OPEN_KRS = 200  # a page with more than this opens only its top level
QUERY_KEYS = ("team", "level", "owner", "status")

ENV = Environment(
    loader=PackageLoader("okrsync.publish.dashboard", "templates"),
    autoescape=select_autoescape(default=True),
    undefined=StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def iso(when: datetime | str) -> str:
    """A ``<time datetime>`` value: UTC to the second (HTML allows at most milliseconds)."""
    moment = datetime.fromisoformat(when) if isinstance(when, str) else when
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


ENV.filters["iso"] = iso
CSS = files("okrsync.publish.dashboard").joinpath("static/dashboard.css").read_bytes()


@dataclass(frozen=True)
class Query:
    """The tree's query parameters: the filters of ``okrsync status`` and a page number."""

    team: str | None = None
    level: str | None = None
    owner: str | None = None
    status: str | None = None
    page: int = 1

    @classmethod
    def parse(cls, params: Mapping[str, str]) -> Query:
        """From a URL's parameters; ValueError says which one is wrong."""
        given = {k: (params.get(k) or "").strip() or None for k in QUERY_KEYS}
        if given["status"] is not None and given["status"] not in STATUSES:
            raise ValueError(f"status must be one of {', '.join(STATUSES)}")
        if given["level"] is not None and given["level"] not in ("company", "team", "personal"):
            raise ValueError("level must be company, team or personal")
        raw_page = (params.get("page") or "1").strip()
        if not raw_page.isdigit() or int(raw_page) < 1:
            raise ValueError("page must be a whole number, 1 or more")
        return cls(**given, page=int(raw_page))

    @property
    def filters(self) -> Filters:
        statuses = frozenset({self.status}) if self.status else frozenset()
        return Filters(team=self.team, level=self.level, owner=self.owner, statuses=statuses)

    def link(self, **change: Any) -> str:
        """This view's address with ``change`` applied (page 1 is left out)."""
        values = {**{k: getattr(self, k) for k in (*QUERY_KEYS, "page")}, **change}
        pairs = [(k, v) for k, v in values.items() if v and not (k == "page" and v == 1)]
        return "/?" + urlencode(pairs) if pairs else "/"


def age(when: datetime | None, now: datetime) -> str:
    """``measured 12 min ago`` as people say it."""
    if when is None:
        return "never measured"
    seconds = max(0, int((now - when).total_seconds()))
    for size, unit in ((86400, "day"), (3600, "hour"), (60, "min")):
        if seconds >= size:
            n = seconds // size
            plural = "s" if n != 1 and unit != "min" else ""
            return f"measured {n} {unit}{plural} ago"
    return "measured just now"


def _as_of(kr: KrView) -> str:
    """What a settled value describes, when that is not when it was measured."""
    if kr.as_of is None or kr.measured_at is None or kr.as_of >= kr.measured_at:
        return ""
    return f", as of {kr.as_of:%d %b %H:%M} UTC"


def bar(progress: float | None, expected: float | None, status: str, label: str) -> str:
    """A progress bar with the expected-progress mark, as SVG (attributes, no inline style)."""
    width = 0.0 if progress is None else round(max(0.0, min(1.0, progress)) * 100, 1)
    mark = (
        ""
        if expected is None
        else f'<line class="mark" x1="{expected * 100:.1f}" x2="{expected * 100:.1f}" y1="-1" y2="9"/>'
    )
    return (
        f'<svg class="bar" viewBox="0 -1 100 10" preserveAspectRatio="none" role="img" '
        f'aria-label="{label}"><rect class="track" width="100" height="8" rx="2"/>'
        f'<rect class="fill s-{status}" width="{width}" height="8" rx="2"/>{mark}</svg>'
    )


def kr_row(kr: KrView, now: datetime, pushes: Mapping[str, list[dict[str, Any]]]) -> dict[str, Any]:
    status = word(kr)
    label = f"progress {pct(kr.progress)}, expected {pct(kr.expected)} by today"
    return {
        "id": kr.id,
        "title": kr.title,
        "owner": kr.owner or "",
        "status": status,
        "word": WORDS[status],
        "held": kr.held_value is not None,
        "value": format_value(kr.value, kr.unit, milestone=kr.kind == "milestone"),
        "target": "" if kr.kind == "milestone" else format_value(kr.target, kr.unit),
        "pct": pct(kr.progress),
        "bar": bar(kr.progress, kr.expected, status, label),
        "age": age(kr.measured_at, now) + _as_of(kr),
        "measured_at": iso(kr.measured_at) if kr.measured_at else "",
        "reason": kr.last_error or kr.held_reason or kr.stale_reason,
        "initiatives": [_initiative(i) for i in kr.initiatives],
        "pushes": pushes.get(kr.id, []),
    }


def _initiative(view: Any) -> dict[str, Any]:
    i = view.record
    done = "" if i.total is None else f"{i.done}/{i.total} done"
    return {"issue": i.issue, "title": i.title or "", "word": view.status_word, "done": done,
            "error": i.error}  # fmt: skip


def _push_notes(marks: Mapping[str, Any] | None) -> dict[str, list[dict[str, Any]]]:
    notes: dict[str, list[dict[str, Any]]] = {}
    if marks is None:
        return notes
    for p in marks["failed"]:
        notes.setdefault(p["key_result"], []).append(
            {"failed": True, "text": f"push to {p['destination']} {p['item']} failed: {p['error']}"}
        )
    for p in marks["pending"]:
        notes.setdefault(p["key_result"], []).append(
            {"failed": False, "text": f"push to {p['destination']} {p['item']} pending"}
        )
    return notes


def _pages(tops: Sequence[ObjectiveView]) -> list[list[ObjectiveView]]:
    """Top objectives in pages of about PAGE_KRS key results; a top objective is never split."""
    pages: list[list[ObjectiveView]] = [[]]
    count = 0
    for top in tops:
        size = _kr_count(top)
        if pages[-1] and count + size > PAGE_KRS:
            pages.append([])
            count = 0
        pages[-1].append(top)
        count += size
    return pages


def _kr_count(view: ObjectiveView) -> int:
    return len(view.key_results) + sum(_kr_count(c) for c in view.children)


def _choices(views: Iterable[ObjectiveView]) -> dict[str, list[str]]:
    views = list(views)
    owners = {v.owner for v in views} | {k.owner for v in views for k in v.key_results}
    return {
        "team": sorted({v.team for v in views if v.team}),
        "level": [
            lv for lv in ("company", "team", "personal") if any(v.level == lv for v in views)
        ],
        "owner": sorted(o for o in owners if o),
        "status": list(STATUSES),
    }


def tree_page(
    views: list[ObjectiveView], now: datetime, query: Query, marks: Mapping[str, Any] | None
) -> str:
    """``/``: the tree (narrowed by ``query``), one page of it."""
    shown = narrow(views, query.filters)
    pages = _pages(roots(shown))
    page = min(query.page, len(pages))
    tops = pages[page - 1]
    opened_all = sum(_kr_count(t) for t in tops) <= OPEN_KRS
    notes = _push_notes(marks)

    def node(view: ObjectiveView, depth: int) -> dict[str, Any]:
        status = view.status
        return {
            "id": view.id,
            "title": view.title,
            "owner": view.owner or "",
            "team": view.team or "",
            "level": view.level,
            "kind": view.kind,
            "status": status,
            "word": WORDS.get(status, status),
            "pct": pct(view.progress),
            "bar": bar(
                view.progress,
                view.expected,
                status,
                f"objective progress {pct(view.progress)}, expected {pct(view.expected)}",
            ),
            "open": opened_all or depth == 0,
            "grade": None if view.grade is None else f"{view.grade.score:.1f}",
            "krs": [kr_row(k, now, notes) for k in view.key_results],
            "children": [node(c, depth + 1) for c in view.children],
        }

    all_krs = [k for v in views for k in v.key_results]
    counts = {s: 0 for s in STATUSES}
    for kr in all_krs:
        for s in kr_statuses(kr):
            counts[s] += 1
    cycles = sorted({v.cycle for v in views})
    return ENV.get_template("tree.html").render(
        title=f"OKRs {', '.join(cycles)}",
        now=now,
        query=query,
        choices=_choices(views),
        tree=[node(t, 0) for t in tops],
        page=page,
        pages=len(pages),
        prev_link=query.link(page=page - 1) if page > 1 else None,
        next_link=query.link(page=page + 1) if page < len(pages) else None,
        matched=sum(_kr_count(t) for t in roots(shown)),
        total=len(all_krs),
        counts=[(s, WORDS[s], n) for s, n in counts.items() if n],
        filtered=query.filters != Filters(),
        pending=len(marks["pending"]) if marks else 0,
        failed=len(marks["failed"]) if marks else 0,
        words=WORDS,
    )


def kr_page(
    kr: KrView,
    objective: ObjectiveView,
    now: datetime,
    series: chart.Series,
    info: Mapping[str, Any],
    marks: Mapping[str, Any] | None,
) -> str:
    """``/kr/{id}``: the chart, the numbers and where they came from (``explain``)."""
    row = kr_row(kr, now, _push_notes(marks))
    forecast = None if series.forecast is None else format_value(series.forecast, kr.unit)
    label = (
        f"{kr.title}: {len(series.points)} measured values from {series.start_at:%d %b} to now; "
        f"target {row['target']}; latest {row['value']}"
        + (f"; forecast {forecast} at the cycle's end" if forecast else "")
    )
    return ENV.get_template("kr.html").render(
        title=f"{kr.title} · okrsync",
        now=now,
        kr=row,
        objective=objective,
        chart=chart.svg(series, label),
        forecast=forecast,
        expected=pct(kr.expected),
        info=info,
        history=list(reversed(info.get("history", [])))[:20],
        unit=kr.unit,
        fmt=lambda v: format_value(v, kr.unit),
    )


def error_page(status: int, message: str, now: datetime) -> str:
    return ENV.get_template("error.html").render(
        title=f"{status} · okrsync", status=status, message=message, now=now
    )


__all__ = ["CSS", "PAGE_KRS", "Query", "age", "error_page", "kr_page", "tree_page"]
