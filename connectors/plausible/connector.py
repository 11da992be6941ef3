"""``type: plausible``: one aggregate metric from Plausible's Stats API (cloud or self-hosted).

v2: ``POST {url}/api/v2/query`` ``{"site_id", "metrics": [metric], "date_range":
[first, last], "filters": […]}`` → ``results[0].metrics[0]``. v1 (legacy): ``GET
{url}/api/v1/stats/aggregate?site_id=&period=custom&date=first,last&metrics=&filters=``
→ ``results.<metric>.value``. ``api_version: auto`` asks v2 and, on a 404 from
``/api/v2/query`` (Community Edition releases before v2), switches the connection to
v1 for good: one probe per connection, not one per query. v1 takes the simple filter
forms only (``is`` → ``==``, ``is_not`` → ``!=``, values joined by ``|``, filters by
``;``); anything else is refused with a QueryError naming the filter.

``event: NAME`` is shorthand for ``metric: events`` (unless a metric is given) and the
filter ``["is", "event:name", [NAME]]``. A null metric (Plausible's answer for e.g.
``time_on_page`` or ``scroll_depth`` with no data) is a SourceDataError, not 0.

Verified in Plausible's source (github.com/plausible/analytics):
``plugs/authorize_public_api.ex`` (Bearer key; 401 "Missing API key…" / "Invalid API
key or site ID…"; 400 "Missing site ID…"; 402 without Stats API on the plan or a
locked site; 429 "Too many API requests. Your API key is limited to N requests per
hour…" sent with no Retry-After), ``controllers/api/helpers.ex`` (every error is
``{"error": msg}``), ``external_query_api_controller.ex`` (v2: 400 with the query
parser's message, e.g. ``#/metrics/0: Invalid metric "foo"``),
``external_stats_controller.ex`` (v1 aggregate, its period/date/metric messages).
An hourly limit is not worth retrying inside one sync: 429 is a QuotaError.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any, Literal

import httpx
from pydantic import Field, field_validator, model_validator

from connectors._analytics_basic import check_http_url, finite
from connectors.plausible.api import V2, NoV2, classify, v1_filters
from okrsync.errors import MeasureError, QueryError, SourceDataError, excerpt
from okrsync.sdk.connector import ConnectionSettings, Connector, Reading, Runtime, SourceBase
from okrsync.sdk.date_ranges import DateRange, check_range, render_window, span
from okrsync.sdk.http import AnswerLimit, CallCounter, make_client, request_json
from okrsync.sdk.quota import HOUR, Window

CLOUD = "https://plausible.io"
V1 = "/api/v1/stats/aggregate"


class PlausibleSettings(ConnectionSettings, AnswerLimit):
    type: Literal["plausible"]
    url: str = Field(default=CLOUD, description="https://plausible.io or your own instance.")
    api_key: str = Field(description="Stats API key (Bearer): ${ENV_VAR}.")
    site_id: str | None = Field(default=None, description="Default site (its domain).")
    api_version: Literal["auto", "v2", "v1"] = Field(
        default="auto", description="auto: v2, falling back to v1 once on a 404."
    )

    _url = field_validator("url")(check_http_url)

    @field_validator("api_key")
    @classmethod
    def _key(cls, key: str) -> str:
        if not key.strip():
            raise ValueError("api_key is empty")
        return key


class PlausibleSource(SourceBase):
    metric: str | None = Field(
        default=None,
        pattern=r"^[a-z][a-z_]*$",
        description="visitors, visits, pageviews, views_per_visit, bounce_rate, visit_duration, events …",
    )
    event: str | None = Field(default=None, description="Shorthand: events named NAME.")
    site_id: str | None = Field(default=None, description="Overrides the connection's site.")
    filters: list[list[Any]] = Field(default_factory=list, description="v2 filter arrays.")
    date_range: DateRange = "cycle"

    _range = field_validator("date_range")(check_range)

    @model_validator(mode="after")
    def _what(self) -> PlausibleSource:
        if self.metric is None and self.event is None:
            raise ValueError("a plausible source needs metric (visitors, pageviews …) or event")
        if self.event is not None and not self.event.strip():
            raise ValueError("event is empty")
        for item in self.filters:
            if not item or not isinstance(item[0], str):
                raise ValueError(
                    f"filter {json.dumps(item)}: write [operator, dimension, [values]]"
                )
        return self

    @property
    def measured(self) -> str:
        return self.metric or "events"

    @property
    def all_filters(self) -> list[list[Any]]:
        named = [["is", "event:name", [self.event]]] if self.event is not None else []
        return [*self.filters, *named]


def describe(source: PlausibleSource) -> str:
    """``visitors of example.com, 2026-10-01..2026-11-15, filters [...]``."""
    first, last = span(source.date_range)
    site = source.site_id or "the connection's site"
    text = f"{source.measured} of {site}, {first}..{last}"
    if source.all_filters:
        text += ", filters " + excerpt(json.dumps(source.all_filters), 160)
    return text


class PlausibleConnection:
    def __init__(self, settings: PlausibleSettings, runtime: Runtime) -> None:
        self._settings = settings
        self._runtime = runtime
        self._version: str | None = None if settings.api_version == "auto" else settings.api_version
        self._probe = asyncio.Lock()
        auth = {"Authorization": f"Bearer {settings.api_key.strip()}"}
        self._client = make_client(settings, headers=auth, base_url=settings.url)
        self.live = self._client.live  # X-RateLimit-* and Retry-After, answer by answer

    async def measure(self, source: PlausibleSource) -> Reading:
        site = source.site_id or self._settings.site_id
        if not site:
            raise QueryError("no site_id: set it on the source or on the connection")
        counter = CallCounter()
        if self._version is None:
            async with self._probe:  # the first query finds out; the others wait for it
                if self._version is None:
                    return await self._first(source, site, counter)
        if self._version == "v1":
            return await self._v1(source, site, counter)
        return await self._v2(source, site, counter)

    async def _first(self, source: PlausibleSource, site: str, counter: CallCounter) -> Reading:
        try:
            reading = await self._v2(source, site, counter, probe=True)
        except NoV2:
            self._version = "v1"
            return await self._v1(source, site, counter)
        except MeasureError as exc:
            if exc.kind != "transient":
                self._version = "v2"  # it answered: v2 exists
            raise
        self._version = "v2"
        return reading

    async def _v2(
        self, source: PlausibleSource, site: str, counter: CallCounter, probe: bool = False
    ) -> Reading:
        first, last = span(source.date_range)
        body: dict[str, Any] = {
            "site_id": site,
            "metrics": [source.measured],
            "date_range": [first.isoformat(), last.isoformat()],
        }
        if source.all_filters:
            body["filters"] = source.all_filters
        data, _ = await self._call("POST", V2, counter, json_body=body, probe=probe)
        try:
            value = data["results"][0]["metrics"][0]
        except (KeyError, IndexError, TypeError):
            raise SourceDataError("Plausible's v2 answer has no results[0].metrics[0]") from None
        raw = excerpt(json.dumps({"results": data["results"][:2], "meta": data.get("meta", {})}))
        return Reading(self._number(value, source), raw, calls=counter.count)

    async def _v1(self, source: PlausibleSource, site: str, counter: CallCounter) -> Reading:
        first, last = span(source.date_range)
        params = {
            "site_id": site,
            "period": "custom",
            "date": f"{first.isoformat()},{last.isoformat()}",
            "metrics": source.measured,
        }
        if source.all_filters:
            params["filters"] = v1_filters(source.all_filters)
        data, _ = await self._call("GET", V1, counter, params=params)
        try:
            value = data["results"][source.measured]["value"]
        except (KeyError, TypeError):
            raise SourceDataError(
                f"Plausible's v1 answer has no results.{source.measured}.value"
            ) from None
        raw = excerpt(json.dumps({"results": data["results"]}))
        return Reading(self._number(value, source), raw, calls=counter.count)

    def _number(self, value: Any, source: PlausibleSource) -> float:
        return finite(value, f"Plausible's {source.measured} (no data in the window?)")

    async def _call(
        self, method: str, path: str, counter: CallCounter, probe: bool = False, **send: Any
    ) -> tuple[Any, str]:
        def errors(response: httpx.Response, label: str) -> MeasureError | None:
            return classify(response, label, probe)

        return await request_json(
            self._client,
            method,
            path,
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            what=f"plausible {method} {path}",
            counter=counter,
            classify=errors,
            **send,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


def open_connection(settings: PlausibleSettings, runtime: Runtime) -> PlausibleConnection:
    return PlausibleConnection(settings, runtime)


# plausible.io/docs/stats-api: an API key is limited to 600 requests an hour by default.
QUOTA = (Window(600, HOUR, "requests", "Plausible's 600 requests an hour"),)


def quota(settings: PlausibleSettings) -> tuple[Window, ...]:
    return QUOTA


CONNECTOR = Connector(
    type="plausible",
    settings_model=PlausibleSettings,
    source_model=PlausibleSource,
    open=open_connection,
    render=render_window,
    describe=describe,
    doc="Plausible Analytics: one aggregate metric over a date_range (Stats API v2, v1 fallback).",
    quota=quota,
)

__all__ = [
    "CONNECTOR",
    "PlausibleConnection",
    "PlausibleSettings",
    "PlausibleSource",
    "describe",
    "v1_filters",
]
