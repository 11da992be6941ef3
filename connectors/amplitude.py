"""``type: amplitude``: one event's totals, uniques, Active % or average (Dashboard REST API).

``GET /api/2/events/segmentation?e={"event_type", "filters"}&start=YYYYMMDD&end=YYYYMMDD
&m=<metric>&i=1`` (amplitude/amplitude-docs ``content/collections/api/en/dashboard-rest.md``):
``data.series[0]`` holds one value per ``xValues`` day and ``data.seriesCollapsed[0][0]
.value`` is "the value of the bar chart visualization … the total unique users over a
certain time interval". So ``totals`` is the sum of the days, and ``uniques`` (people
over the whole range, never a sum of daily uniques) is the collapsed value; for
``pct_dau`` and ``average`` the collapsed value is the range-wide figure the chart
shows (documented for uniques, assumed for these two).

Amplitude answers an unknown event name with zeros, so before its first query a
connection fetches ``GET /api/2/events/list`` once (under a lock, so concurrent
measures share the call) and an event that is not listed, or listed as deleted, is a
QueryError naming it. The documented answer ("Get events list", same page) is
``{"data": [{"value": raw name, "display", "totals", "deleted", "hidden",
"non_active", "flow_hidden"}]}``. ``_active``, ``_all`` and ``ce:`` custom events are
not in that list and are not checked. Whether hidden events are listed is unverified
(the schema has a ``hidden`` flag; a third-party connector's notes say they are not).

No group-by is sent, so exactly one series comes back; several, an empty ``series``,
NaN/Inf or a non-number is a SourceDataError. Amplitude's error bodies are
undocumented: a JSON ``error`` is used when present, else the text, excerpted. 429
is retried honouring Retry-After (5 concurrent queries per project; cost limits of
1000 per 5 minutes), unless its message speaks of the hourly cost limit
(108,000 per hour), which is a QuotaError; that wording is unverified.
"""

from __future__ import annotations

import asyncio
import difflib
import json
import re
from collections.abc import Mapping
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator

from connectors._analytics_basic import (
    BasicConnection,
    RegionalSettings,
    basic_classifier,
    concurrency_field,
    finite,
    shape_error,
)
from okrsync.errors import QueryError, SourceDataError
from okrsync.sdk.connector import Connector, Reading, Runtime, SourceBase
from okrsync.sdk.date_ranges import DateRange, check_range, render_window, span
from okrsync.sdk.http import CallCounter
from okrsync.sdk.quota import HOUR, Cost, Window

HOSTS = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}
SEGMENTATION = "/api/2/events/segmentation"
EVENTS_LIST = "/api/2/events/list"
UNLISTED = ("_active", "_all")  # any active event / any event; ce:Name custom events too
_HOURLY = re.compile(r"\bper hour\b|\bhourly\b", re.IGNORECASE)
Metric = Literal["uniques", "totals", "pct_dau", "average"]
Op = Literal[
    "is",
    "is not",
    "contains",
    "does not contain",
    "less",
    "less or equal",
    "greater",
    "greater or equal",
    "set is",
    "set is not",
]


class AmplitudeSettings(RegionalSettings):
    VENDOR: ClassVar[str] = "Amplitude"
    HOSTS: ClassVar[Mapping[str, str]] = HOSTS

    type: Literal["amplitude"]
    region: Literal["us", "eu"] = Field(default="us", description="Data residency.")
    api_key: str = Field(min_length=1, description="The project's API key.")
    secret_key: str = Field(
        min_length=1, description="The project's secret key: ${ENV} or ${file:…}."
    )
    max_concurrency: PositiveInt = concurrency_field("Amplitude")


class AmplitudeFilter(BaseModel):
    """One property filter of the event, sent as written (Amplitude's event format)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    subprop_type: Literal["event", "user"]
    subprop_key: str = Field(min_length=1, description="gp:name for custom user properties.")
    subprop_op: Op
    subprop_value: list[str | int | float | bool] = Field(min_length=1)


class AmplitudeSource(SourceBase):
    event: str = Field(min_length=1, description="event_type; _active, _all, ce:Name allowed.")
    metric: Metric = Field(default="totals", description="uniques | totals | pct_dau | average.")
    filters: list[AmplitudeFilter] = Field(default_factory=list, description="Property filters.")
    date_range: DateRange = "cycle"

    _range = field_validator("date_range")(check_range)


def describe(source: AmplitudeSource) -> str:
    """``totals of "Purchase" where plan is ["pro"] 2026-10-01..2026-11-15``."""
    first, last = span(source.date_range)
    where = " and ".join(
        f"{f.subprop_key} {f.subprop_op} {json.dumps(f.subprop_value)}" for f in source.filters
    )
    return (
        f'{source.metric} of "{source.event}"{" where " + where if where else ""} {first}..{last}'
    )


class AmplitudeConnection(BasicConnection):
    vendor = "Amplitude"

    def __init__(self, settings: AmplitudeSettings, runtime: Runtime) -> None:
        classify = basic_classifier(
            self.vendor,
            "hourly query cost limit",
            lambda message: bool(_HOURLY.search(message)),
            "the project's API key and secret key",
        )
        super().__init__(settings, runtime, settings.api_key, settings.secret_key, classify)
        self._settings: AmplitudeSettings = settings
        self._events: dict[str, bool] | None = None  # event name → deleted, fetched once
        self._events_lock = asyncio.Lock()

    async def measure(self, source: AmplitudeSource) -> Reading:
        first, last = span(source.date_range)
        counter = CallCounter()
        await self._check_event(source.event, counter)
        event: dict[str, Any] = {"event_type": source.event}
        if source.filters:
            event["filters"] = [f.model_dump() for f in source.filters]
        params = {
            "e": json.dumps(event, separators=(",", ":")),
            "start": first.strftime("%Y%m%d"),
            "end": last.strftime("%Y%m%d"),
            "m": source.metric,
            "i": "1",
        }
        data, raw = await self._get(SEGMENTATION, params, counter)
        value = segmentation_value(data, raw, source.event, source.metric, f"{first}..{last}")
        return Reading(value, raw, counter.count)

    async def _check_event(self, name: str, counter: CallCounter) -> None:
        """Amplitude answers an unknown event with zeros: check the name against the list."""
        if name in UNLISTED or name.startswith("ce:"):
            return
        async with self._events_lock:  # one list call per connection, however many measures
            if self._events is None:
                data, raw = await self._get(EVENTS_LIST, None, counter)
                self._events = event_names(data, raw)
        deleted = self._events.get(name)
        if deleted is None:
            close = difflib.get_close_matches(name, list(self._events), n=3)
            hint = f"; did you mean {', '.join(repr(c) for c in close)}?" if close else ""
            raise QueryError(
                f"Amplitude project has no event {name!r} (GET {EVENTS_LIST}; names are "
                f"case-sensitive, use the raw name, not the display name){hint}"
            )
        if deleted:
            raise QueryError(f"Amplitude event {name!r} is deleted in the project")


def event_names(data: Any, raw: str) -> dict[str, bool]:
    """``{"data": [{"value": raw name, "deleted": bool, …}]}`` → {name: deleted}."""
    entries = data.get("data") if isinstance(data, dict) else None
    if not isinstance(entries, list):
        raise shape_error("Amplitude", "the events list's data", raw)
    return {
        e["value"]: e.get("deleted") is True
        for e in entries
        if isinstance(e, dict) and isinstance(e.get("value"), str)
    }


def segmentation_value(data: Any, raw: str, event: str, metric: Metric, days: str) -> float:
    """``totals``: the sum of the days; other metrics: the range-wide collapsed value."""
    block = data.get("data") if isinstance(data, dict) else None
    series = block.get("series") if isinstance(block, dict) else None
    if not isinstance(block, dict) or not isinstance(series, list):
        raise shape_error("Amplitude", "data.series", raw)
    if not series:
        raise SourceDataError(f"Amplitude has no data for event {event!r} in {days}")
    if len(series) > 1:
        labels = ", ".join(json.dumps(label) for label in block.get("seriesLabels") or [])
        raise SourceDataError(
            f"Amplitude answered {len(series)} series ({labels or 'unlabelled'}) for {event!r}, expected one"
        )
    what = f"Amplitude {metric} of {event!r}"
    if metric == "totals":
        if not isinstance(series[0], list):
            raise shape_error("Amplitude", "a list of daily values", raw)
        return sum(finite(v, f"{what} on day {n + 1}") for n, v in enumerate(series[0]))
    try:
        value = block["seriesCollapsed"][0][0]["value"]
    except (KeyError, IndexError, TypeError):
        raise shape_error("Amplitude", "data.seriesCollapsed[0][0].value", raw) from None
    return finite(value, f"{what} over {days}")


def open_connection(settings: AmplitudeSettings, runtime: Runtime) -> AmplitudeConnection:
    return AmplitudeConnection(settings, runtime)


# amplitude.com/docs/apis/analytics/dashboard-rest: a query costs days x conditions x the
# query's cost (1 for segmentation), at most 1,000 in 5 minutes and 108,000 an hour.
QUOTA = (
    Window(1_000, 300, "cost", "Amplitude's 1,000 query cost in 5 minutes"),
    Window(108_000, HOUR, "cost", "Amplitude's 108,000 query cost an hour"),
)


def quota(settings: AmplitudeSettings) -> tuple[Window, ...]:
    return QUOTA


def cost(source: AmplitudeSource) -> Cost:
    """Days x conditions; a source not rendered yet (demand over a cycle) counts a quarter."""
    try:
        start, end = span(source.date_range)
        days = max(1, (end - start).days + 1)
    except (TypeError, ValueError):  # not rendered, or a window only its as-of makes whole
        days = 92
    return {"requests": 1.0, "cost": float(days * max(1, len(source.filters)))}


CONNECTOR = Connector(
    type="amplitude",
    settings_model=AmplitudeSettings,
    source_model=AmplitudeSource,
    open=open_connection,
    render=render_window,
    describe=describe,
    doc="Amplitude Dashboard REST API: an event's totals, uniques, Active % or average.",
    quota=quota,
    cost=cost,
)

__all__ = [
    "CONNECTOR",
    "HOSTS",
    "AmplitudeConnection",
    "AmplitudeFilter",
    "AmplitudeSettings",
    "AmplitudeSource",
    "describe",
    "event_names",
    "segmentation_value",
]
