"""``type: http``: one number or flag picked by JSONPath from any JSON API.

The generic fallback for internal dashboards and APIs without a dedicated
connector: GET (or POST a JSON body to) ``url`` + ``path`` and require exactly
one JSONPath match, so a changed response shape fails loudly instead of
recording a wrong value.

A JSONPath must not hang a sync: regular expressions (``=~`` filters and
``sub(/…/)``, which can backtrack for hours on 40 characters, holding the
interpreter lock) are refused when the mappings load, and so is more than one
recursive descent ``..`` (each multiplies the work by the answer's size). A
path that only names fields and indices is evaluated at once; any other
(wildcards, filters, slices, ``..``) runs on a worker thread of its own and is
given up after the connection's ``timeout``.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import math
import threading
from collections.abc import Iterator
from functools import lru_cache
from typing import Any, Literal

import httpx
from jsonpath_ng.exceptions import JSONPathError
from jsonpath_ng.ext.filter import Expression
from jsonpath_ng.ext.parser import parse
from jsonpath_ng.ext.string import Sub
from jsonpath_ng.jsonpath import Child, Descendants, Fields, Index, JSONPath, Root, This
from pydantic import Field, field_validator

from okrsync.errors import SourceDataError, excerpt
from okrsync.sdk.connector import ConnectionSettings, Connector, Reading, Runtime, SourceBase
from okrsync.sdk.http import AnswerLimit, CallCounter, check_base_url, make_client, request_json


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
        if path.startswith("/") and not path.startswith("//") and path.isprintable():
            return path  # what httpx.URL would accept as a path (parsing it cost 60 µs each)
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
            compiled = _compile(value)
        except JSONPathError as exc:
            raise ValueError(f"invalid JSONPath {value!r}: {exc}") from None
        problem = unbounded(compiled)
        if problem is not None:
            raise ValueError(f"JSONPath {value!r}: {problem}")
        return value


@lru_cache(maxsize=512)
def _compile(path: str) -> Any:
    return parse(path)


def _nodes(path: JSONPath) -> Iterator[JSONPath]:
    """Every node of a parsed path, filters' expressions included."""
    stack = [path]
    while stack:
        node = stack.pop()
        yield node
        for value in vars(node).values():
            items = value if isinstance(value, list | tuple) else [value]
            stack += [item for item in items if isinstance(item, JSONPath)]


def unbounded(path: JSONPath) -> str | None:
    """Why evaluating ``path`` could take unbounded time, or None."""
    nodes = list(_nodes(path))
    if any(isinstance(n, Expression) and n.op == "=~" for n in nodes):
        return (
            "regular-expression filters (=~) are not supported: a pattern can take hours "
            "on a short text; compare with ==, !=, <, > instead"
        )
    if any(isinstance(n, Sub) for n in nodes):
        return "sub(/…/) is not supported: a regular expression can take hours on a short text"
    if sum(isinstance(n, Descendants) for n in nodes) > 1:
        return "use at most one recursive descent (..): each one multiplies the work"
    return None


def _direct(path: JSONPath) -> bool:
    """True for paths of single field names and indices: work independent of the answer."""
    for node in _nodes(path):
        kind = type(node)  # exact: `sorted`, `split` … are subclasses of This
        if isinstance(node, Fields) and kind is Fields:
            if len(node.fields) != 1 or node.fields[0] == "*":
                return False
        elif isinstance(node, Index) and kind is Index:
            if len(node.indices) != 1:
                return False
        elif kind not in (Root, This, Child):
            return False
    return True


async def evaluate(path: str, data: Any, seconds: float) -> float | bool:
    """:func:`to_value`, off the event loop unless ``path`` is direct; at most ``seconds``.

    The worker is a daemon thread of its own: one given up on cannot be stopped,
    but it holds up neither the loop nor the end of the run.
    """
    if _direct(_compile(path)):
        return to_value(path, data)
    loop = asyncio.get_running_loop()
    done: asyncio.Future[float | bool] = loop.create_future()

    def settle(value: float | bool | None, error: Exception | None) -> None:
        if done.done():
            return
        if error is not None:
            done.set_exception(error)
        else:
            assert value is not None
            done.set_result(value)

    def work() -> None:
        try:
            value: float | bool | None = to_value(path, data)
            error: Exception | None = None
        except Exception as exc:  # handed to the loop, raised there
            value, error = None, exc
        with contextlib.suppress(RuntimeError):  # the loop closed meanwhile: nobody waits
            loop.call_soon_threadsafe(settle, value, error)

    threading.Thread(target=work, name="okrsync-jsonpath", daemon=True).start()
    try:
        return await asyncio.wait_for(done, seconds)  # a late answer finds it cancelled
    except TimeoutError:
        raise SourceDataError(
            f"JSONPath {path} took longer than {seconds:g}s (the connection's timeout); given up"
        ) from None


def to_value(path: str, data: Any) -> float | bool:
    """The single match of ``path`` in ``data`` as a bool or finite float."""
    try:
        matches = [m.value for m in _compile(path).find(data)]
    except RecursionError:  # jsonpath-ng recurses once per level of the answer
        raise SourceDataError(f"JSONPath {path}: the answer is nested too deeply") from None
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
        self.live = self._client.live  # X-RateLimit-* and Retry-After, answer by answer

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
        value = await evaluate(source.value, data, self._settings.timeout)
        return Reading(value, raw, calls=counter.count)

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

__all__ = [
    "CONNECTOR",
    "HttpConnection",
    "HttpSettings",
    "HttpSource",
    "describe",
    "evaluate",
    "to_value",
    "unbounded",
]
