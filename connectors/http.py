"""``type: http``: one number or flag picked by JSONPath from any JSON API.

The generic fallback for internal dashboards and APIs without a dedicated
connector: GET (or POST a JSON body to) ``url`` + ``path`` and require exactly
one JSONPath match, so a changed response shape fails loudly instead of
recording a wrong value.
"""

from __future__ import annotations

import json
import math
from functools import lru_cache
from typing import Any, Literal

import httpx
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.parser import parse
from pydantic import Field, field_validator

from okrsync.connector import ConnectionSettings, Connector, Reading, Runtime, SourceBase
from okrsync.errors import SourceDataError, excerpt
from okrsync.http_client import (
    AnswerLimit,
    CallCounter,
    check_base_url,
    make_client,
    request_json,
)


def _url(text: str) -> httpx.URL | None:
    try:
        return httpx.URL(text)
    except httpx.InvalidURL:
        return None


class HttpSettings(ConnectionSettings, AnswerLimit):
    type: Literal["http"]
    url: str = Field(description="Base address; each source's path is joined to it.")
    headers: dict[str, str] = Field(default_factory=dict, description="Sent on every request.")

    @field_validator("url")
    @classmethod
    def _http_url(cls, url: str) -> str:
        return check_base_url(url)


class HttpSource(SourceBase):
    path: str = Field(description="Joined to the connection's url, query string included.")
    value: str = Field(description="JSONPath that must match exactly one value.")
    method: Literal["GET", "POST"] = "GET"
    body: dict[str, Any] | list[Any] | None = Field(default=None, description="JSON for POST.")

    @field_validator("path")
    @classmethod
    def _relative(cls, path: str) -> str:
        parsed = _url(path)
        if parsed is None:
            raise ValueError(f"not a valid URL path: {path!r}")
        if parsed.scheme or parsed.host:  # the connection's headers must not go elsewhere
            raise ValueError("path is joined to the connection's url: write /api/…, not a full URL")
        return path

    @field_validator("value")
    @classmethod
    def _jsonpath(cls, value: str) -> str:
        try:
            _compile(value)
        except JSONPathError as exc:
            raise ValueError(f"invalid JSONPath {value!r}: {exc}") from None
        return value


@lru_cache(maxsize=512)
def _compile(path: str) -> Any:
    return parse(path)


def to_value(path: str, data: Any) -> float | bool:
    """The single match of ``path`` in ``data`` as a bool or finite float."""
    matches = [m.value for m in _compile(path).find(data)]
    if not matches:
        raise SourceDataError(f"JSONPath {path} matched nothing")
    if len(matches) > 1:
        raise SourceDataError(f"JSONPath {path} matched {len(matches)} values, expected one")
    found = matches[0]
    if isinstance(found, bool):
        return found
    shown = excerpt(json.dumps(found), 80)
    if not isinstance(found, int | float | str):
        raise SourceDataError(f"JSONPath {path} gave {shown}, not a number")
    try:
        number = float(found)
    except (ValueError, OverflowError):
        raise SourceDataError(f"JSONPath {path} gave {shown}, not a number") from None
    if not math.isfinite(number):
        raise SourceDataError(f"JSONPath {path} gave {shown}, not a finite number")
    return number


class HttpConnection:
    def __init__(self, settings: HttpSettings, runtime: Runtime) -> None:
        self._settings = settings
        self._runtime = runtime
        self._client = make_client(settings, headers=settings.headers, base_url=settings.url)

    async def measure(self, source: HttpSource) -> Reading:
        counter = CallCounter()
        data, raw = await request_json(
            self._client,
            source.method,
            source.path,
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body=source.body,
            what=f"http {source.method} {httpx.URL(source.path).path}",
            counter=counter,
        )
        return Reading(to_value(source.value, data), raw, calls=counter.count)

    async def aclose(self) -> None:
        await self._client.aclose()


def open_connection(settings: HttpSettings, runtime: Runtime) -> HttpConnection:
    return HttpConnection(settings, runtime)


def describe(source: HttpSource) -> str:
    """``GET /api/x?from=2026-10-01 → $.data.total``, the body shown for POST."""
    body = "" if source.body is None else " " + excerpt(json.dumps(source.body), 120)
    return f"{source.method} {source.path}{body} → {source.value}"


CONNECTOR = Connector(
    type="http",
    settings_model=HttpSettings,
    source_model=HttpSource,
    open=open_connection,
    describe=describe,
    doc="Any JSON API: GET or POST a path, pick one number or flag with JSONPath.",
)

__all__ = ["CONNECTOR", "HttpConnection", "HttpSettings", "HttpSource", "describe", "to_value"]
