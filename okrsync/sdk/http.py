"""Shared httpx machinery for every HTTP-based connector.

One table turns what happened into an error (cf. Airbyte's
``default_error_mapping``), so every connector classifies alike:

    =================================  ====================================
    outcome                            result
    =================================  ====================================
    2xx, JSON body                     (parsed JSON, excerpt of the body)
    2xx, body not JSON                 SourceDataError "response is not JSON"
    2xx, JSON nested too deeply        SourceDataError "response is nested too deeply"
    body over max_response_bytes       SourceDataError (not retried; read stops there)
    body not as Content-Encoding says  SourceDataError
    401, 403                           AuthError "HTTP 401: credentials rejected"
    408, 425, 429, 5xx                 TransientError, retry_after=Retry-After
    other 4xx (400/404/405/422 …)      QueryError "HTTP 404 from GET /path"
    1xx/3xx (redirects not followed)   QueryError
    3xx with an unusable Location      QueryError
    httpx.TimeoutException             TransientError "timed out after Ns"
    httpx.TransportError               TransientError (connect, reset, protocol)
    =================================  ====================================

Every request goes through :func:`okrsync.sdk.retry.call_with_retries`. Bodies are
streamed and read at most ``max_response_bytes`` (decoded) far, so a runaway
answer costs a bounded amount of memory and never reaches the JSON parser.
Messages carry the method, the URL *path* (the query string may hold tokens)
and a body excerpt; never header values or whole bodies. Redirects are not
followed because httpx would resend custom auth headers to another host.
"""

from __future__ import annotations

import base64
import ssl
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import httpx
from pydantic import BaseModel, Field, PositiveInt

from okrsync import __version__
from okrsync.errors import (
    EXCERPT_LIMIT,
    AuthError,
    MeasureError,
    QueryError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.sdk.connector import Sleep
from okrsync.sdk.quota import LiveQuota
from okrsync.sdk.retry import RetryConfig, call_with_retries, parse_retry_after
from okrsync.sdk.tls import ssl_context

USER_AGENT = f"okrsync/{__version__}"
MAX_RESPONSE_BYTES = 10 * 1024 * 1024
STATUS_ERRORS: dict[int, type[MeasureError]] = {
    401: AuthError,
    403: AuthError,
    408: TransientError,
    425: TransientError,
    429: TransientError,
}


Classify = Callable[[httpx.Response, str], MeasureError | None]
"""(response, "METHOD /path") → the error to raise, or None for the default table."""


class AnswerLimit(BaseModel):
    """``max_response_bytes`` for the settings of connections that read HTTP answers."""

    max_response_bytes: PositiveInt = Field(
        default=MAX_RESPONSE_BYTES,
        description="Largest answer body read, in bytes; a larger one is a source_data error.",
    )


class Client(httpx.AsyncClient):
    """An ``AsyncClient`` that knows the largest answer body its connection reads."""

    def __init__(self, *, max_response_bytes: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.max_response_bytes = max_response_bytes
        self.live = LiveQuota()  # what the vendor's rate-limit headers say, answer by answer


@dataclass
class CallCounter:
    """Counts requests actually sent (retries included) for ``Reading.calls``."""

    count: int = 0


class HttpOptions(Protocol):
    """What a client is built from: a connection's or a destination's settings."""

    @property
    def url(self) -> str | None: ...
    @property
    def timeout(self) -> float: ...
    @property
    def max_concurrency(self) -> int: ...
    @property
    def ca_bundle(self) -> Path | None: ...


class _Transport(Protocol):
    @property
    def timeout(self) -> float: ...
    @property
    def max_concurrency(self) -> int: ...
    @property
    def ca_bundle(self) -> Path | None: ...


@dataclass(frozen=True)
class SecretUrlOptions:
    """A settings' client options without a base ``url``: for a tool whose URL is itself the
    credential (a Slack webhook, a Teams workflow's sig), given per request, never stored."""

    timeout: float
    max_concurrency: int
    ca_bundle: Path | None
    url: str | None = None

    @classmethod
    def of(cls, settings: _Transport) -> SecretUrlOptions:
        return cls(settings.timeout, settings.max_concurrency, settings.ca_bundle)


def make_client(
    settings: HttpOptions,
    *,
    headers: dict[str, str] | None = None,
    base_url: str | None = None,
) -> Client:
    """A client honouring the connection's timeout, CA bundle, concurrency and answer limit."""
    size = settings.max_concurrency
    return Client(
        max_response_bytes=getattr(settings, "max_response_bytes", MAX_RESPONSE_BYTES),
        base_url=base_url or settings.url or "",
        headers={"User-Agent": USER_AGENT, **(headers or {})},
        timeout=httpx.Timeout(settings.timeout),
        verify=ssl_context(settings.ca_bundle),
        limits=httpx.Limits(max_connections=size, max_keepalive_connections=size),
        follow_redirects=False,
    )


def check_base_url(url: str) -> str:
    """A connection's ``url``: http(s) and a host, so a typo fails at load time, not per query."""
    try:
        parsed: httpx.URL | None = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is not None and parsed.userinfo:  # checked first: never echo such a url
        raise ValueError("put credentials in the connection's secret fields, not in the url")
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"url must start with http:// or https:// and name a host: {url!r}")
    return url


def basic_auth(user: str, secret: str) -> dict[str, str]:
    """An ``Authorization: Basic`` header, for vendors that take user:secret pairs."""
    token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def error_class(status: int) -> type[MeasureError] | None:
    """The table above for a status code; None means success."""
    if 200 <= status < 300:
        return None
    if status in STATUS_ERRORS:
        return STATUS_ERRORS[status]
    return TransientError if status >= 500 else QueryError


async def request_json(
    client: httpx.AsyncClient,
    method: str,
    url: str,
    *,
    retry: RetryConfig,
    sleep: Sleep,
    json_body: Any = None,
    params: dict[str, Any] | None = None,
    what: str,
    counter: CallCounter | None = None,
    classify: Classify | None = None,
    data: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    expect_json: bool = True,
) -> tuple[Any, str]:
    """Send under the retry policy; return (parsed JSON, body excerpt ≤300 chars).

    ``classify`` lets a connector read its vendor's error bodies first (the
    vendor's own message, a spent quota that must not be retried); it returns
    None to fall back to the table above. ``data`` sends a form body.
    ``expect_json=False``: a success's body is text (some tools answer a write
    so), returned as (None, excerpt).
    """

    async def attempt() -> tuple[Any, str]:
        request = client.build_request(
            method, url, json=json_body, params=params, data=data, headers=headers
        )
        label = f"{method} {request.url.path}"
        if counter is not None:
            counter.count += 1
        try:
            response = await _send(client, request, label)
        except httpx.TimeoutException:
            seconds = client.timeout.read or client.timeout.connect
            raise TransientError(f"{label} timed out after {seconds:g}s") from None
        except httpx.TransportError as exc:
            raise TransientError(f"{label}: {_transport_message(exc)}") from None
        except httpx.DecodingError:  # a body that its Content-Encoding does not describe
            raise SourceDataError(f"{label}: the answer could not be decompressed") from None
        if classify is not None:
            error = classify(response, f"{method} {request.url.path}")
            if error is not None:
                raise error
        return _interpret(response, expect_json)

    return await call_with_retries(attempt, retry, sleep, what=what)


async def _send(client: httpx.AsyncClient, request: httpx.Request, label: str) -> httpx.Response:
    """The response with its body read, at most the client's ``max_response_bytes`` of it.

    httpx builds the redirect request of a 3xx even when it follows none, and
    raises ``InvalidURL`` for a ``Location`` it cannot use: that is the answer's
    fault, a query error, not a crash.
    """
    limit = client.max_response_bytes if isinstance(client, Client) else MAX_RESPONSE_BYTES
    try:
        response = await client.send(request, stream=True)
    except httpx.InvalidURL as exc:
        raise QueryError(
            f"{label} answered a redirect to an unusable address ({excerpt(str(exc), 120)}); "
            "redirects are not followed: set url to the final address"
        ) from None
    try:
        body = BoundedBody(
            label, limit, error_class(response.status_code) is None, response.headers
        )
        async for chunk in response.aiter_bytes():
            if not body.take(chunk):
                break
    finally:
        await response.aclose()
    if isinstance(client, Client):
        client.live.headers(response.headers, response.status_code)
    # What httpx's own aread() stores; building a new Response instead cost 10 % more
    # CPU per request (headers copied, the body encoded and read again).
    response._content = bytes(body.data)
    return response


class BoundedBody:
    """An answer's body, read chunk by chunk up to ``limit`` bytes (httpx and requests alike).

    A success larger than the limit is a :class:`SourceDataError`, refused as
    soon as its ``Content-Length`` says so; an error status's body is cut
    instead, since only its message is read.
    """

    def __init__(self, label: str, limit: int, ok: bool, headers: Mapping[str, str]) -> None:
        if ok and declared_length(headers) > limit:
            raise too_large(label, limit)
        self.label, self.limit, self.ok = label, limit, ok
        self.data = bytearray()

    def take(self, chunk: bytes) -> bool:
        """Add ``chunk``; False when nothing more should be read."""
        self.data += chunk
        if len(self.data) <= self.limit:
            return True
        if self.ok:
            raise too_large(self.label, self.limit)
        del self.data[self.limit :]
        return False


def declared_length(headers: Mapping[str, str]) -> int:
    """The ``Content-Length`` a server announced; 0 when it announced none."""
    try:
        return int(headers.get("Content-Length", ""))
    except ValueError:
        return 0


def too_large(label: str, limit: int) -> SourceDataError:
    """The error of an answer over ``max_response_bytes``: a data error, never retried."""
    return SourceDataError(
        f"{label}: the answer is larger than {limit:,} bytes (max_response_bytes); not read further"
    )


def body_json(response: httpx.Response) -> Any:
    """The parsed body, or None when it is not JSON (for ``classify`` hooks)."""
    try:
        return response.json()
    except (ValueError, RecursionError):
        return None


def retry_after(response: httpx.Response) -> float | None:
    return parse_retry_after(response.headers.get("Retry-After"))


def _interpret(response: httpx.Response, expect_json: bool = True) -> tuple[Any, str]:
    head = response.content[: 4 * EXCERPT_LIMIT]  # never split a 10 MB body for 300 chars
    raw = excerpt(head.decode(response.encoding or "utf-8", errors="replace"))
    status = response.status_code
    error = error_class(status)
    if error is None and not expect_json:
        return None, raw
    if error is None:
        try:
            return response.json(), raw
        except ValueError:
            raise SourceDataError(f"response is not JSON: {raw}") from None
        except RecursionError:  # json's parser recurses once per level
            raise SourceDataError(f"response is nested too deeply to read: {raw[:80]}") from None
    label = f"{response.request.method} {response.request.url.path}"
    tail = f": {raw}" if raw else ""
    if error is AuthError:
        raise AuthError(f"HTTP {status}: credentials rejected ({label}){tail}")
    if error is TransientError:
        raise TransientError(f"HTTP {status} from {label}{tail}", retry_after=retry_after(response))
    hint = " (redirect not followed: set url to the final address)" if 300 <= status < 400 else ""
    raise error(f"HTTP {status} from {label}{hint}{tail}")


def _transport_message(exc: httpx.TransportError) -> str:
    """Name the failure by the first cause that says something (httpx's own are often blank)."""
    cause: BaseException | None = exc
    detail = ""
    for _ in range(10):  # bounded: a cause chain may loop
        if cause is None:
            break
        if isinstance(cause, ssl.SSLCertVerificationError):
            return f"TLS certificate not trusted ({cause.verify_message}); set ca_bundle to the issuing CA"
        detail = detail or str(cause)
        cause = cause.__cause__ or cause.__context__
    return f"{type(exc).__name__}: {excerpt(detail, 200) or 'no detail'}"


__all__ = [
    "MAX_RESPONSE_BYTES",
    "STATUS_ERRORS",
    "USER_AGENT",
    "AnswerLimit",
    "BoundedBody",
    "CallCounter",
    "Classify",
    "Client",
    "SecretUrlOptions",
    "basic_auth",
    "body_json",
    "check_base_url",
    "declared_length",
    "error_class",
    "make_client",
    "request_json",
    "retry_after",
    "too_large",
]
