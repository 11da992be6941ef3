"""What the HTTP-Basic analytics connectors (mixpanel, amplitude) share.

Both vendors take ``user:secret`` as HTTP Basic, answer errors with a short
message of their own (Mixpanel ``{"request", "error"}``; Amplitude's bodies are
undocumented, so a JSON ``error`` is used when present, else the text), and
return plain JSON numbers that must be checked before they become a Reading.
Secrets only ever go into the ``Authorization`` header built here; messages
carry the method, the URL path and the vendor's words, excerpted.
"""

from __future__ import annotations

import base64
import json
import math
from typing import Any

import httpx
from pydantic import Field, PositiveInt

from okrsync.errors import (
    AuthError,
    MeasureError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.http_client import body_json, error_class, retry_after

VENDOR_CONCURRENCY = 5  # both vendors run at most 5 queries at once per project


def concurrency_field(vendor: str) -> Any:
    """``max_concurrency`` defaulting to, and capped at, the vendor's per-project limit."""
    return Field(
        default=VENDOR_CONCURRENCY,
        description=f"Queries in flight at once; {vendor} allows {VENDOR_CONCURRENCY} per project.",
    )


def check_concurrency(value: PositiveInt, vendor: str) -> PositiveInt:
    if value > VENDOR_CONCURRENCY:
        raise ValueError(
            f"{vendor} runs at most {VENDOR_CONCURRENCY} queries at once per project "
            f"(more are refused with HTTP 429): use 1..{VENDOR_CONCURRENCY}, not {value}"
        )
    return value


def check_http_url(url: str | None) -> str | None:
    """``url`` overrides the region's host (tests, proxies); it must be http(s) with a host."""
    if url is None:
        return url
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(f"url must start with http:// or https:// and name a host: {url!r}")
    return url


def basic_auth(user: str, secret: str) -> dict[str, str]:
    """The ``Authorization`` header both vendors take."""
    token = base64.b64encode(f"{user}:{secret}".encode()).decode("ascii")
    return {"Authorization": f"Basic {token}"}


def vendor_message(response: httpx.Response) -> str:
    """The vendor's own words: ``error`` (a string or ``{"message"}``) of a JSON body, else the text."""
    data = body_json(response)
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            error = error.get("message")
        if isinstance(error, str) and error.strip():
            return excerpt(error)
    return excerpt(response.text)


def status_error(
    response: httpx.Response, label: str, message: str, who: str
) -> MeasureError | None:
    """The shared status table (:mod:`okrsync.http_client`) carrying the vendor's message.

    ``who`` names the credentials (never the secret) for 401/403; None for 2xx.
    """
    status = response.status_code
    kind = error_class(status)
    if kind is None:
        return None
    tail = f": {message}" if message else ""
    if kind is AuthError:
        return AuthError(f"HTTP {status}: credentials rejected for {who} ({label}){tail}")
    if kind is TransientError:
        return TransientError(
            f"HTTP {status} from {label}{tail}", retry_after=retry_after(response)
        )
    return kind(f"HTTP {status} from {label}{tail}")


def finite(value: Any, what: str) -> float:
    """``value`` as a finite float, or a SourceDataError naming ``what``."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise SourceDataError(f"{what} is {excerpt(json.dumps(value), 80)}, not a number")
    number = float(value)
    if not math.isfinite(number):
        raise SourceDataError(f"{what} is {json.dumps(value)}, not a finite number")
    return number


def shape_error(vendor: str, what: str, raw: str) -> SourceDataError:
    return SourceDataError(f"{vendor} answered without {what}: {excerpt(raw, 160)}")


__all__ = [
    "VENDOR_CONCURRENCY",
    "basic_auth",
    "check_concurrency",
    "check_http_url",
    "concurrency_field",
    "finite",
    "shape_error",
    "status_error",
    "vendor_message",
]
