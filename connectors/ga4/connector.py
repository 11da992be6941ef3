"""``type: ga4``: one metric of a Google Analytics 4 property (Data API v1beta runReport).

Each source is one ``POST /v1beta/properties/{id}:runReport`` with one metric, one
date range, no dimensions and the source's ``dimension_filter`` sent verbatim as
``dimensionFilter`` (developers.google.com/analytics/devguides/reporting/data/v1/rest/
v1beta/properties/runReport). ``returnPropertyQuota`` costs nothing and puts the
property's remaining daily tokens into the Reading's raw excerpt.

Sign-in: the service-account key file's JWT bearer grant, token shared by every
measure of the connection (:mod:`okrsync.sdk.google_auth`, which the sheets
destination shares); a 401 renews it once.
Answers and errors: :mod:`connectors.ga4.answers` (its table). Verified in vendor
docs or source: request/response shapes, PropertyQuota fields, error body shape,
google-auth's claims. Seen only in third-party clients (**unverified** by Google's
docs): the exact wording of invalid-name and exhausted-quota messages, and that an
empty result leaves ``rows`` out. No rows is a SourceDataError ("no data") unless the
source sets ``empty_is_zero: true``.
"""

from __future__ import annotations

import json
import re
import time
from typing import Any, Literal

from pydantic import ConfigDict, Field, field_validator

from connectors.ga4.answers import classifier, raw_excerpt, report_value
from okrsync.errors import QueryError, excerpt
from okrsync.sdk.connector import ConnectionSettings, Connector, Reading, Runtime, SourceBase
from okrsync.sdk.date_ranges import DateRange, check_range, render_window, span
from okrsync.sdk.google_auth import AccessTokens, ServiceAccount, parse_service_account
from okrsync.sdk.http import AnswerLimit, CallCounter, check_base_url, make_client, request_json
from okrsync.sdk.quota import DAY, HOUR, Cost, Window, ga4_property_quota

DEFAULT_URL = "https://analyticsdata.googleapis.com"
SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
_PROPERTY = re.compile(r"(?:properties/)?(\d{1,20})")
_METRIC = re.compile(r"[A-Za-z][A-Za-z0-9_]*(?::[A-Za-z0-9_]+)?")
_GROUPS = ("andGroup", "orGroup")
_EXPRESSIONS = (*_GROUPS, "notExpression", "filter")
_FILTERS = ("stringFilter", "inListFilter", "numericFilter", "betweenFilter", "emptyFilter")
_MAX_DEPTH = 10


def property_id(value: Any) -> Any:
    """``312345678``, ``"312345678"`` or ``"properties/312345678"`` → ``"312345678"``."""
    if value is None:
        return None
    text = str(value).strip() if isinstance(value, int | str) else value
    match = _PROPERTY.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(
            f"property {excerpt(str(value), 60)!r} is not a GA4 property id: use the numeric id "
            "shown under Admin → Property details, e.g. 312345678 or properties/312345678"
        )
    return match.group(1)


class Ga4Settings(ConnectionSettings, AnswerLimit):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # never echo the key

    type: Literal["ga4"]
    url: str = Field(default=DEFAULT_URL, description="The Data API's address.")
    credentials: str = Field(
        description="The service-account key file's JSON: ${file:/run/secrets/ga4.json}."
    )
    property: str | None = Field(
        default=None, description="Property id used by sources that name none."
    )

    _property = field_validator("property", mode="before")(property_id)
    _url = field_validator("url")(check_base_url)

    @field_validator("credentials")
    @classmethod
    def _key_file(cls, text: str) -> str:
        parse_service_account(text)
        return text


def check_filter(expr: Any, where: str = "dimension_filter", depth: int = 0) -> None:
    """Structure only (GA4 checks names and values): one expression kind per object."""
    if depth > _MAX_DEPTH:
        raise ValueError(f"{where}: nested deeper than {_MAX_DEPTH} levels")
    if not isinstance(expr, dict) or len(expr) != 1 or next(iter(expr)) not in _EXPRESSIONS:
        found = sorted(expr) if isinstance(expr, dict) else type(expr).__name__
        raise ValueError(
            f"{where} must be a GA4 FilterExpression with exactly one of "
            f"{', '.join(_EXPRESSIONS)} (GA4's JSON names); found {found}"
        )
    kind, inner = next(iter(expr.items()))
    if kind in _GROUPS:
        items = inner.get("expressions") if isinstance(inner, dict) else None
        if not isinstance(items, list) or not items:
            raise ValueError(f"{where}.{kind} needs a non-empty 'expressions' list")
        for i, item in enumerate(items):
            check_filter(item, f"{where}.{kind}.expressions[{i}]", depth + 1)
    elif kind == "notExpression":
        check_filter(inner, f"{where}.notExpression", depth + 1)
    else:
        kinds = [k for k in _FILTERS if isinstance(inner, dict) and k in inner]
        if (
            not isinstance(inner, dict)
            or not isinstance(inner.get("fieldName"), str)
            or len(kinds) != 1
        ):
            raise ValueError(
                f"{where}.filter needs 'fieldName' (a dimension, e.g. eventName) and exactly "
                f"one of {', '.join(_FILTERS)}"
            )


class Ga4Source(SourceBase):
    property: str | None = Field(
        default=None, description="Property id (or properties/ID); default: the connection's."
    )
    metric: str = Field(description="A Data API metric name, e.g. activeUsers.")
    dimension_filter: dict[str, Any] | None = Field(
        default=None, description="A GA4 FilterExpression, sent as dimensionFilter."
    )
    date_range: DateRange = Field(
        default="cycle", description="cycle, full_cycle, last_N_days or {start, end}."
    )
    empty_is_zero: bool = Field(
        default=False, description="Read a report without rows as 0 (counts), not an error."
    )

    _property = field_validator("property", mode="before")(property_id)

    @field_validator("metric")
    @classmethod
    def _metric(cls, name: str) -> str:
        if not _METRIC.fullmatch(name):
            raise ValueError(
                f"metric {excerpt(name, 60)!r} is not a GA4 API name such as activeUsers, "
                "screenPageViews or customEvent:amount"
            )
        return name

    @field_validator("dimension_filter")
    @classmethod
    def _filter(cls, expr: dict[str, Any] | None) -> dict[str, Any] | None:
        if expr is not None:
            check_filter(expr)
        return expr

    @field_validator("date_range")
    @classmethod
    def _range(cls, spec: DateRange) -> DateRange:
        return check_range(spec)


def report_request(source: Ga4Source) -> dict[str, Any]:
    """The runReport body for a rendered source."""
    start, end = span(source.date_range)
    body: dict[str, Any] = {
        "dateRanges": [{"startDate": start.isoformat(), "endDate": end.isoformat()}],
        "metrics": [{"name": source.metric}],
        "returnPropertyQuota": True,
    }
    if source.dimension_filter is not None:
        body["dimensionFilter"] = source.dimension_filter
    return body


class Ga4Connection:
    def __init__(self, settings: Ga4Settings, runtime: Runtime) -> None:
        self._settings, self._runtime = settings, runtime
        self._account: ServiceAccount = parse_service_account(settings.credentials)
        self._api = make_client(settings)
        self.live = self._api.live  # + propertyQuota's token windows, answer by answer
        self._tokens = AccessTokens(
            self._account,
            self._api,
            scope=SCOPE,
            retry=settings.retry,
            sleep=runtime.sleep,
            what="ga4 token",
        )

    async def measure(self, source: Ga4Source) -> Reading:
        prop = source.property or self._settings.property
        if prop is None:
            raise QueryError("no GA4 property: set property on the source or on the connection")
        counter = CallCounter()
        data = await self._tokens.call(lambda token: self._run(prop, source, counter, token))
        if isinstance(data, dict):
            said = ga4_property_quota(data.get("propertyQuota"), time.time(), LIMITS)
            self.live.observe(*said[0])
        start, end = span(source.date_range)
        value = report_value(data, source.metric, f"{start}…{end}", source.empty_is_zero)
        return Reading(value, raw_excerpt(data), calls=counter.count)

    async def _run(self, prop: str, source: Ga4Source, counter: CallCounter, token: str) -> Any:
        data, _ = await request_json(
            self._api,
            "POST",
            f"/v1beta/properties/{prop}:runReport",
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body=report_request(source),
            what=f"ga4 runReport {prop} {source.metric}",
            counter=counter,
            classify=classifier(prop, self._account.client_email),
            headers={"Authorization": f"Bearer {token}"},  # the API only, never token_uri
        )
        return data

    async def aclose(self) -> None:
        await self._api.aclose()


def open_connection(settings: Ga4Settings, runtime: Runtime) -> Ga4Connection:
    return Ga4Connection(settings, runtime)


# developers.google.com/analytics/devguides/reporting/data/v1/quotas, standard property;
# the hourly bucket per project and property (14,000) is the tighter of the two hourly ones.
QUOTA = (
    Window(200_000, DAY, "tokens", "GA4's 200,000 property tokens a day"),
    Window(14_000, HOUR, "tokens", "GA4's 14,000 property tokens per project an hour"),
)
LIMITS = {"tokensPerDay": 200_000, "tokensPerHour": 40_000, "tokensPerProjectPerHour": 14_000}
TOKENS_PER_REPORT = 10.0  # "most requests consume 10 or fewer tokens"; propertyQuota says exactly


def quota(settings: Ga4Settings) -> tuple[Window, ...]:
    return QUOTA


def cost(source: Ga4Source) -> Cost:
    return {"requests": 1.0, "tokens": TOKENS_PER_REPORT}


def describe(source: Ga4Source) -> str:
    """``GA4 properties/312345678 activeUsers 2026-10-01..2026-11-15 where {…}``."""
    where = f"properties/{source.property}" if source.property else "the connection's property"
    start, end = span(source.date_range)
    text = f"GA4 {where} {source.metric} {start}..{end}"
    if source.dimension_filter is not None:
        text += " where " + excerpt(json.dumps(source.dimension_filter), 160)
    return text


CONNECTOR = Connector(
    type="ga4",
    settings_model=Ga4Settings,
    source_model=Ga4Source,
    open=open_connection,
    render=render_window,
    describe=describe,
    doc="Google Analytics 4: one metric of a property over a date range (Data API runReport).",
    quota=quota,
    cost=cost,
)

__all__ = [
    "CONNECTOR",
    "Ga4Connection",
    "Ga4Settings",
    "Ga4Source",
    "check_filter",
    "describe",
    "property_id",
    "report_request",
]
