"""``type: posthog``: one number from a HogQL ``SELECT`` through PostHog's query API.

``POST {url}/api/projects/{project_id}/query/`` with a personal API key as Bearer
and ``{"query": {"kind": "HogQLQuery", "query": …, "values": {…}}, "name":
"okrsync", "refresh": "blocking"}``; the value is ``results[0][0]``.

Placeholders are never pasted into HogQL as text. ``{cycle.start}``, ``{cycle.end}``
and ``{as_of}`` become the HogQL placeholders ``{cycle_start}``, ``{cycle_end}`` and
``{as_of}`` (HogQL placeholders are plain identifiers) and their dates travel in
``values``, which PostHog turns into string constants while parsing: ``'2026-10-01'``,
``'2026-12-31'`` (the cycle's last day) and ``'2026-11-15T12:00:00Z'``. Write
``toDateTime({cycle.start})`` (``parseDateTime64BestEffortOrNull`` in the project's
time zone; it honours the ``Z`` of ``{as_of}``) or ``toDate({cycle.end})``. A quoted
placeholder (``'{cycle.start}'``) is unquoted, since the value is a string already;
one inside a longer literal (``'{cycle.start} 00:00:00'``) would be sent as text
PostHog never fills, so the source is refused when the mappings load.

Verified in PostHog's source (github.com/PostHog/posthog): ``HogQLQuery.values`` is
"Constant values that can be referenced with the {placeholder} syntax in the query"
(frontend/src/queries/schema); ``HogQLQueryRunner.to_query`` wraps each value in
``ast.Constant`` and hands them to ``parse_select(placeholders=…)``
(posthog/hogql_queries/hogql_query_runner.py); PostHog itself queries
``… where query_id = {client_query_id}`` with ``values={"client_query_id": pk}``
(posthog/api/query.py); ``toDate``/``toDateTime`` of a string map to
``toDateOrNull``/``parseDateTime64BestEffortOrNull`` (posthog/hogql/functions).
posthog/api/query.py also shows the top-level ``name`` (a query-log tag), the 202
answer while ``query_status.complete`` is false, and ``GET …/query/{id}/`` (202
running, 200 done with ``query_status.results``, 400 with ``error_message``).

Errors are drf-exceptions-hog's ``{"type", "code", "detail", "attr"}``. HogQL errors
are 400 ``validation_error`` with code ``hogql_syntax_error``/``hogql_query_error``
(posthog/hogql/errors.py) → QueryError; 401 ``authentication_failed`` / 403
(missing ``query:read`` scope) → AuthError; 429 ``throttled_error`` → TransientError.
drf-exceptions-hog builds its Response without DRF's ``Retry-After`` header, so the
wait is read from ``Retry-After`` when present, else from DRF's detail "Expected
available in N seconds."; a wait longer than ``retry.max_time`` (the hourly
allowance) is a QuotaError. 512 (estimated execution too long) is a QueryError.
A status answer saying ``complete`` and ``error`` is a QueryError with its
``error_message``. ``max_concurrency`` defaults to 3: PostHog runs 3 queries at once
per project (PostHog's API-queries docs).
"""

from __future__ import annotations

import re
from typing import Any, Literal

import httpx
from pydantic import Field, PositiveInt, field_validator
from pydantic.json_schema import SkipJsonSchema

from connectors._analytics_basic import check_http_url
from connectors.posthog.answers import classify, one_number
from okrsync.errors import MeasureError, QueryError, SourceDataError, TransientError, excerpt
from okrsync.sdk.connector import (
    ConnectionSettings,
    Connector,
    Reading,
    RenderContext,
    Runtime,
    SourceBase,
)
from okrsync.sdk.http import AnswerLimit, CallCounter, make_client, request_json
from okrsync.sdk.placeholders import iso_values
from okrsync.sdk.quota import HOUR, MINUTE, Window

US_CLOUD = "https://us.posthog.com"
HOGQL_NAMES = {"cycle.start": "cycle_start", "cycle.end": "cycle_end", "as_of": "as_of"}
_PLACEHOLDER = re.compile(r"('?)\{(cycle\.start|cycle\.end|as_of)\}\1")
_SELECT = re.compile(r"(?:\s+|--[^\n]*|/\*.*?\*/)*\(?\s*(select|with)\b", re.I | re.S)
# comments, then single-quoted string literals (group 1: the text between the quotes)
_LITERAL = re.compile(r"--[^\n]*|/\*.*?\*/|'((?:[^'\\]|\\.|'')*)'", re.S)
_NAME = re.compile(r"\{(cycle\.start|cycle\.end|as_of)\}")


class PostHogSettings(ConnectionSettings, AnswerLimit):
    type: Literal["posthog"]
    url: str = Field(default=US_CLOUD, description="us/eu.posthog.com or your own instance.")
    project_id: PositiveInt = Field(description="The project's id (project settings).")
    api_key: str = Field(description="Personal API key with the query:read scope: ${ENV_VAR}.")
    max_concurrency: PositiveInt = Field(
        default=3, description="Queries in flight at once; PostHog runs 3 per project."
    )
    refresh: Literal["blocking", "force_blocking"] = Field(
        default="blocking", description="blocking may answer from PostHog's cache."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, url: str) -> str:
        check_http_url(url)
        host = httpx.URL(url).host
        if host.endswith(".i.posthog.com"):
            raise ValueError(
                f"{host} is PostHog's event capture host; queries go to "
                "https://us.posthog.com or https://eu.posthog.com"
            )
        return url

    @field_validator("api_key")
    @classmethod
    def _key(cls, key: str) -> str:
        if key.strip().startswith("phc_"):
            raise ValueError(
                "api_key is a project capture token (phc_…); queries need a personal "
                "API key (phx_…) with the query:read scope"
            )
        if not key.strip():
            raise ValueError("api_key is empty")
        return key


class PostHogSource(SourceBase):
    hogql: str = Field(description="A SELECT returning one row with one number.")
    values: SkipJsonSchema[dict[str, str]] = Field(default_factory=dict)

    @field_validator("hogql")
    @classmethod
    def _select(cls, hogql: str) -> str:
        if not _SELECT.match(hogql):
            raise ValueError("hogql must be a SELECT (or WITH … SELECT) returning one number")
        for literal in _LITERAL.finditer(hogql):
            text = literal.group(1)
            if text is None or _NAME.fullmatch(text) or not (name := _NAME.search(text)):
                continue
            raise ValueError(
                f"hogql has {name.group(0)} inside the string literal {literal.group(0)!s}, "
                "which PostHog never fills (the query would compare with the literal text): "
                f"write the placeholder bare, e.g. toDateTime({name.group(0)})"
            )
        return hogql

    @field_validator("values")
    @classmethod
    def _not_by_hand(cls, values: dict[str, str]) -> dict[str, str]:
        if values:
            raise ValueError(
                "values is filled by okrsync: write {cycle.start}, {cycle.end} or {as_of} in hogql"
            )
        return values


def hogql_values(ctx: RenderContext) -> dict[str, str]:
    """What each HogQL placeholder stands for, as the string constants PostHog receives."""
    return {HOGQL_NAMES[name]: value for name, value in iso_values(ctx).items()}


def render(source: PostHogSource, ctx: RenderContext) -> PostHogSource:
    """``{cycle.start}`` → ``{cycle_start}`` in the text, its date in ``values`` (only those used)."""
    every, used = hogql_values(ctx), {}

    def swap(match: re.Match[str]) -> str:
        name = HOGQL_NAMES[match.group(2)]
        used[name] = every[name]
        return "{" + name + "}"

    hogql = _PLACEHOLDER.sub(swap, source.hogql)
    return source.model_copy(update={"hogql": hogql, "values": dict(sorted(used.items()))})


def describe(source: PostHogSource) -> str:
    """``HogQL SELECT … {cycle_start} … with cycle_start='2026-10-01'``."""
    text = "HogQL " + " ".join(source.hogql.split())
    if source.values:
        text += " with " + ", ".join(f"{k}='{v}'" for k, v in source.values.items())
    return text


class PostHogConnection:
    def __init__(self, settings: PostHogSettings, runtime: Runtime) -> None:
        self._settings = settings
        self._runtime = runtime
        self._path = f"/api/projects/{settings.project_id}/query/"
        auth = {"Authorization": f"Bearer {settings.api_key.strip()}"}
        self._client = make_client(settings, headers=auth, base_url=settings.url)
        self.live = self._client.live  # X-RateLimit-* and Retry-After, answer by answer

    async def measure(self, source: PostHogSource) -> Reading:
        counter = CallCounter()
        query: dict[str, Any] = {"kind": "HogQLQuery", "query": source.hogql}
        if source.values:
            query["values"] = source.values
        body = {"query": query, "name": "okrsync", "refresh": self._settings.refresh}
        data = await self._call("POST", self._path, counter, body)
        status = data.get("query_status") if isinstance(data, dict) else None
        if isinstance(status, dict) and status.get("complete") is False:
            if not status.get("id"):
                raise SourceDataError("PostHog answered 202 without a query id to poll")
            data = await self._poll(str(status["id"]), counter)
        value, raw = one_number(data)
        return Reading(value, raw, calls=counter.count)

    async def _poll(self, query_id: str, counter: CallCounter) -> Any:
        """Wait out a 202: GET the query's status with backoff, within ``retry.max_time``."""
        retry, waited, wait = self._settings.retry, 0.0, self._settings.retry.initial_wait
        while waited + wait <= retry.max_time:
            await self._runtime.sleep(wait)
            waited, wait = waited + wait, min(wait * 2, retry.max_wait)
            data = await self._call("GET", f"{self._path}{query_id}/", counter)
            status = data.get("query_status") if isinstance(data, dict) else None
            if not isinstance(status, dict):
                raise SourceDataError("PostHog's query status answer has no query_status")
            if status.get("complete") and status.get("error"):
                message = status.get("error_message") or "no error_message given"
                raise QueryError(f"PostHog query {query_id} failed: {excerpt(str(message))}")
            if status.get("complete"):
                return status.get("results")
        raise TransientError(f"PostHog query {query_id} still running after {waited:g}s")

    async def _call(self, method: str, path: str, counter: CallCounter, body: Any = None) -> Any:
        data, _raw = await request_json(
            self._client,
            method,
            path,
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body=body,
            what=f"posthog {method} {path}",
            counter=counter,
            classify=self._classify,
        )
        return data

    def _classify(self, response: httpx.Response, label: str) -> MeasureError | None:
        return classify(response, label, self._settings.project_id, self._settings.retry.max_time)

    async def aclose(self) -> None:
        await self._client.aclose()


def open_connection(settings: PostHogSettings, runtime: Runtime) -> PostHogConnection:
    return PostHogConnection(settings, runtime)


# posthog.com/docs/api/queries: 240 queries a minute and 2,400 an hour per project.
QUOTA = (
    Window(240, MINUTE, "requests", "PostHog's 240 queries a minute"),
    Window(2400, HOUR, "requests", "PostHog's 2,400 queries an hour"),
)


def quota(settings: PostHogSettings) -> tuple[Window, ...]:
    return QUOTA


CONNECTOR = Connector(
    type="posthog",
    settings_model=PostHogSettings,
    source_model=PostHogSource,
    open=open_connection,
    render=render,
    describe=describe,
    doc="PostHog: one number from a HogQL SELECT (query API, personal API key).",
    quota=quota,
)

__all__ = [
    "CONNECTOR",
    "HOGQL_NAMES",
    "PostHogConnection",
    "PostHogSettings",
    "PostHogSource",
    "describe",
    "hogql_values",
    "one_number",
    "render",
]
