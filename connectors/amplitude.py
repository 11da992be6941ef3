"""``type: amplitude``: one event's totals, uniques, Active % or average (Dashboard REST API).

``GET /api/2/events/segmentation?e={"event_type", "filters"}&start=YYYYMMDD&end=YYYYMMDD
&m=<metric>&i=1`` (amplitude/amplitude-docs ``content/collections/api/en/dashboard-rest.md``):
``data.series[0]`` holds one value per ``xValues`` day and ``data.seriesCollapsed[0][0]
.value`` is "the value of the bar chart visualization … the total unique users over a
certain time interval". So ``totals`` is the sum of the days, and ``uniques`` (people
over the whole range, never a sum of daily uniques) is the collapsed value; for
``pct_dau`` and ``average`` the collapsed value is the range-wide figure the chart
shows (documented for uniques, assumed for these two).

No group-by is sent, so exactly one series comes back; several, an empty ``series``,
NaN/Inf or a non-number is a SourceDataError. Amplitude's error bodies are
undocumented: a JSON ``error`` is used when present, else the text, excerpted. 429
is retried honouring Retry-After (5 concurrent queries per project; cost limits of
1000 per 5 minutes), unless its message speaks of the hourly cost limit
(108,000 per hour), which is a QuotaError; that wording is unverified.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import httpx
from pydantic import BaseModel, ConfigDict, Field, PositiveInt, field_validator, model_validator

from connectors._analytics_basic import (
    basic_auth,
    check_concurrency,
    check_http_url,
    concurrency_field,
    finite,
    shape_error,
    status_error,
    vendor_message,
)
from okrsync.connector import ConnectionSettings, Connector, Reading, Runtime, SourceBase
from okrsync.errors import MeasureError, QuotaError, SourceDataError, TransientError
from okrsync.http_client import CallCounter, make_client, request_json, retry_after
from okrsync.window import DateRange, check_range, render_window, span

HOSTS = {"us": "https://amplitude.com", "eu": "https://analytics.eu.amplitude.com"}
SEGMENTATION = "/api/2/events/segmentation"
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


class AmplitudeSettings(ConnectionSettings):
    type: Literal["amplitude"]
    region: Literal["us", "eu"] = Field(default="us", description="Data residency.")
    url: str | None = Field(default=None, description="Default: the region's host.")
    api_key: str = Field(min_length=1, description="The project's API key.")
    secret_key: str = Field(
        min_length=1, description="The project's secret key: ${ENV} or ${file:…}."
    )
    max_concurrency: PositiveInt = concurrency_field("Amplitude")

    _url = field_validator("url")(check_http_url)

    @field_validator("max_concurrency")
    @classmethod
    def _at_most_five(cls, value: PositiveInt) -> PositiveInt:
        return check_concurrency(value, "Amplitude")

    @model_validator(mode="after")
    def _region_host(self) -> AmplitudeSettings:
        if self.url is None:  # shown by `okrsync explain`, used by the client
            self.url = HOSTS[self.region]
        return self


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


class AmplitudeConnection:
    def __init__(self, settings: AmplitudeSettings, runtime: Runtime) -> None:
        self._settings = settings
        self._runtime = runtime
        auth = basic_auth(settings.api_key, settings.secret_key)
        self._client = make_client(settings, headers=auth)

    async def measure(self, source: AmplitudeSource) -> Reading:
        first, last = span(source.date_range)
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
        counter = CallCounter()
        data, raw = await request_json(
            self._client,
            "GET",
            SEGMENTATION,
            params=params,
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            what=f"amplitude GET {SEGMENTATION}",
            counter=counter,
            classify=_classify,
        )
        value = segmentation_value(data, raw, source.event, source.metric, f"{first}..{last}")
        return Reading(value, raw, counter.count)

    async def aclose(self) -> None:
        await self._client.aclose()


def _classify(response: httpx.Response, label: str) -> MeasureError | None:
    if response.is_success:
        return None
    message = vendor_message(response)
    if response.status_code == 429:
        if _HOURLY.search(message):
            return QuotaError(f"Amplitude's hourly query cost limit is spent ({label}): {message}")
        return TransientError(
            f"HTTP 429 from {label}: {message}", retry_after=retry_after(response)
        )
    return status_error(response, label, message, "the project's API key and secret key")


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


CONNECTOR = Connector(
    type="amplitude",
    settings_model=AmplitudeSettings,
    source_model=AmplitudeSource,
    open=open_connection,
    render=render_window,
    describe=describe,
    doc="Amplitude Dashboard REST API: an event's totals, uniques, Active % or average.",
)

__all__ = [
    "CONNECTOR",
    "HOSTS",
    "AmplitudeConnection",
    "AmplitudeFilter",
    "AmplitudeSettings",
    "AmplitudeSource",
    "describe",
    "segmentation_value",
]
