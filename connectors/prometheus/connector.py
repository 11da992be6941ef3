"""``type: prometheus``: one number from a PromQL instant query.

okrsync asks ``/api/v1/query`` for ``promql`` evaluated at the sync's as-of
instant (Prometheus's ``time`` parameter), so ``okrsync backfill`` measures
the past with the same query, and identical queries at one instant are asked
once. Windows are written in PromQL itself (``avg_over_time(up[30d])``): the
cycle's dates are not interpolated, and a ``{cycle.*}`` or ``{as_of}``
placeholder in ``promql`` is refused when the mappings load.

Checked against prometheus.io/docs/prometheus/latest/querying/api/ (GET or
form-encoded POST, ``query``/``time``/``timeout``, the response envelope,
400/422/503, ``warnings``), Prometheus's ``web/api/v1/api.go``
(``respondError``: errorType → status, ``canceled`` 499, ``internal`` 500;
``parseDuration`` takes plain seconds), and by the tests against a real
Prometheus 2.42 (parse-error text, ``NaN``/``+Inf`` as strings, basic auth
from ``--web.config.file`` answering 401 ``Unauthorized`` in plain text).
Prometheus itself has no rate limit or token auth; ``token`` is for proxies
and hosted services (Grafana Cloud, Mimir/Cortex gateways).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Literal

import httpx
from pydantic import AwareDatetime, Field, PositiveFloat, field_validator, model_validator

from connectors.prometheus.answers import classify, raw_excerpt, to_value
from okrsync.errors import MeasureError, excerpt
from okrsync.sdk.connector import (
    ConnectionSettings,
    Connector,
    Reading,
    RenderContext,
    Runtime,
    SourceBase,
)
from okrsync.sdk.http import (
    AnswerLimit,
    CallCounter,
    basic_auth,
    check_base_url,
    make_client,
    request_json,
)
from okrsync.sdk.placeholders import find_placeholders

API_PATH = "/api/v1/query"
MAX_GET_QUERY = 2000  # longer encoded queries go as a form POST (URL limits of proxies)


class PrometheusSettings(ConnectionSettings, AnswerLimit):
    type: Literal["prometheus"]
    url: str = Field(description="Prometheus's address, with any path prefix before /api/v1.")
    token: str | None = Field(default=None, description="Sent as `Authorization: Bearer`.")
    username: str | None = Field(default=None, description="Basic auth user (web config).")
    password: str | None = Field(default=None, description="Basic auth password.")
    headers: dict[str, str] = Field(default_factory=dict, description="Sent on every request.")
    query_timeout: PositiveFloat | None = Field(
        default=None, description="Seconds Prometheus may spend evaluating (its `timeout`)."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return check_base_url(url)

    @model_validator(mode="after")
    def _one_way_to_authenticate(self) -> PrometheusSettings:
        basic = self.username is not None or self.password is not None
        if basic and (self.username is None or self.password is None):
            raise ValueError("basic auth needs both username and password")
        if basic and self.token is not None:
            raise ValueError("use either token (Bearer) or username + password (Basic), not both")
        if (basic or self.token is not None) and "authorization" in map(str.lower, self.headers):
            raise ValueError("an Authorization header and token/username clash: keep one")
        if self.query_timeout is not None and self.query_timeout >= self.timeout:
            raise ValueError(
                f"query_timeout ({self.query_timeout:g}s) must be shorter than timeout "
                f"({self.timeout:g}s), so Prometheus ends a slow query with its own message"
            )
        return self


class PrometheusSource(SourceBase):
    promql: str = Field(
        min_length=1, description="An instant query giving one number (a scalar or one series)."
    )

    @field_validator("promql")
    @classmethod
    def _no_placeholders(cls, promql: str) -> str:
        used = find_placeholders(promql)
        if "as_of" in used:
            raise ValueError(
                "{as_of} is not written in PromQL: the query is evaluated at the as-of instant "
                "(Prometheus's time parameter), which is what backfill changes"
            )
        if used & {"cycle.start", "cycle.end"}:
            raise ValueError(
                "{cycle.start}/{cycle.end} cannot be used in PromQL: write the window as a "
                "range in the query, e.g. avg_over_time(probe_success[30d]) or "
                "increase(orders_total[90d])"
            )
        if not promql.strip():
            raise ValueError("promql is empty")
        return promql


class PrometheusQuery(PrometheusSource):
    """A rendered source: the PromQL and the instant Prometheus evaluates it at."""

    time: AwareDatetime = Field(description="Set by okrsync from the as-of instant.")


def render(source: PrometheusSource, ctx: RenderContext) -> PrometheusQuery:
    """Pin the evaluation instant (whole seconds, UTC) so identical queries deduplicate."""
    as_of = ctx.as_of if ctx.as_of.tzinfo else ctx.as_of.replace(tzinfo=UTC)
    when = as_of.astimezone(UTC).replace(microsecond=0)
    return PrometheusQuery(connection=source.connection, promql=source.promql, time=when)


def rfc3339(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def describe(source: PrometheusSource) -> str:
    """``PromQL at 2026-11-15T12:00:00Z: avg_over_time(up[30d])``, whitespace collapsed."""
    when = rfc3339(source.time) if isinstance(source, PrometheusQuery) else "now"
    return f"PromQL at {when}: {' '.join(source.promql.split())}"


def _auth(settings: PrometheusSettings) -> tuple[dict[str, str], str]:
    """The auth header to send and how to name it in errors (never its value)."""
    if settings.token is not None:
        return {"Authorization": f"Bearer {settings.token}"}, "the bearer token"
    if settings.username is not None and settings.password is not None:
        header = basic_auth(settings.username, settings.password)
        return header, f"basic auth for user {settings.username!r}"
    if "authorization" in map(str.lower, settings.headers):
        return {}, "the Authorization header"
    return {}, "the request (no credentials sent: set username + password or token)"


class PrometheusConnection:
    def __init__(self, settings: PrometheusSettings, runtime: Runtime) -> None:
        self._settings = settings
        self._runtime = runtime
        auth, self._auth_name = _auth(settings)
        self._client = make_client(settings, headers={**settings.headers, **auth})
        self.live = self._client.live  # X-RateLimit-* and Retry-After, answer by answer

    def _classify(self, response: httpx.Response, label: str) -> MeasureError | None:
        return classify(response, label, self._auth_name)

    async def measure(self, source: PrometheusSource) -> Reading:
        params = {"query": source.promql}
        when = source.time if isinstance(source, PrometheusQuery) else None
        if when is not None:
            params["time"] = rfc3339(when)
        if self._settings.query_timeout is not None:
            params["timeout"] = f"{self._settings.query_timeout:g}"
        long = len(str(httpx.QueryParams(params))) > MAX_GET_QUERY
        counter = CallCounter()
        body, raw = await request_json(
            self._client,
            "POST" if long else "GET",
            API_PATH,
            params=None if long else params,
            data=params if long else None,
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            what=f"prometheus {excerpt(' '.join(source.promql.split()), 60)}",
            counter=counter,
            classify=self._classify,
        )
        value = to_value(body, params.get("time", "the server's now"))
        return Reading(value, raw_excerpt(body, raw), calls=counter.count)

    async def aclose(self) -> None:
        await self._client.aclose()


def open_connection(settings: PrometheusSettings, runtime: Runtime) -> PrometheusConnection:
    return PrometheusConnection(settings, runtime)


CONNECTOR = Connector(
    type="prometheus",
    settings_model=PrometheusSettings,
    source_model=PrometheusSource,
    open=open_connection,
    render=render,
    describe=describe,
    doc="Prometheus: one number from a PromQL instant query, evaluated at the as-of instant.",
)

__all__ = [
    "CONNECTOR",
    "PrometheusConnection",
    "PrometheusQuery",
    "PrometheusSettings",
    "PrometheusSource",
    "describe",
    "render",
    "rfc3339",
]
