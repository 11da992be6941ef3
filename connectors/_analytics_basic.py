"""What the HTTP-Basic analytics connectors (mixpanel, amplitude) share.

Both vendors take ``user:secret`` as HTTP Basic, answer errors with a short
message of their own (Mixpanel ``{"request", "error"}``; Amplitude's bodies are
undocumented, so a JSON ``error`` is used when present, else the text), and
return plain JSON numbers that must be checked before they become a Reading.
Secrets only ever go into the ``Authorization`` header built here; messages
carry the method, the URL path and the vendor's words, excerpted.

Both also pick a host by data region (:class:`RegionalSettings`) and answer a 429
either for a spent hourly allowance (QuotaError, not retried) or for a short-term
limit (TransientError, retried honouring Retry-After): :func:`basic_classifier`.
:class:`BasicConnection` holds the one client and the GET under the retry policy.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self

import httpx
from pydantic import Field, PositiveInt, field_validator, model_validator

from okrsync.errors import (
    AuthError,
    MeasureError,
    QuotaError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.sdk.connector import ConnectionSettings, Runtime
from okrsync.sdk.http import (
    AnswerLimit,
    CallCounter,
    Classify,
    basic_auth,
    body_json,
    check_base_url,
    error_class,
    make_client,
    request_json,
    retry_after,
)

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
    return url if url is None else check_base_url(url)


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
    """The shared status table (:mod:`okrsync.sdk.http`) carrying the vendor's message.

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


class RegionalSettings(ConnectionSettings, AnswerLimit):
    """A vendor with one host per data region: ``url`` defaults to ``HOSTS[region]``.

    Subclasses set ``VENDOR`` and ``HOSTS`` and narrow ``region`` to their regions'
    Literal; ``max_concurrency`` is capped at the vendor's per-project limit.
    """

    VENDOR: ClassVar[str]
    HOSTS: ClassVar[Mapping[str, str]]

    region: str
    url: str | None = Field(default=None, description="Default: the region's host.")

    _url = field_validator("url")(check_http_url)

    @field_validator("max_concurrency")
    @classmethod
    def _at_most_five(cls, value: PositiveInt) -> PositiveInt:
        return check_concurrency(value, cls.VENDOR)

    @model_validator(mode="after")
    def _region_host(self) -> Self:
        if self.url is None:  # shown by `okrsync explain`, used by the client
            self.url = self.HOSTS[self.region]
        return self


def basic_classifier(
    vendor: str, allowance: str, spent: Callable[[str], bool], who: str
) -> Classify:
    """The ``classify`` hook: a 429 whose message ``spent`` recognises is a QuotaError
    ("<vendor>'s <allowance> is spent"), any other 429 a TransientError honouring
    Retry-After; the rest is :func:`status_error`'s table, ``who`` naming the credentials.
    """

    def classify(response: httpx.Response, label: str) -> MeasureError | None:
        if response.is_success:
            return None
        message = vendor_message(response)
        if response.status_code == 429:
            if spent(message):
                return QuotaError(f"{vendor}'s {allowance} is spent ({label}): {message}")
            return TransientError(
                f"HTTP 429 from {label}: {message}", retry_after=retry_after(response)
            )
        return status_error(response, label, message, who)

    return classify


class BasicConnection:
    """The open connection both vendors share: one Basic-auth client, GETs under the policy."""

    vendor: ClassVar[str]

    def __init__(
        self,
        settings: RegionalSettings,
        runtime: Runtime,
        user: str,
        secret: str,
        classify: Classify,
    ) -> None:
        self._settings = settings
        self._runtime = runtime
        self._client = make_client(settings, headers=basic_auth(user, secret))
        self.live = self._client.live
        self._classify = classify

    async def _get(
        self, path: str, params: dict[str, Any] | None, counter: CallCounter
    ) -> tuple[Any, str]:
        return await request_json(
            self._client,
            "GET",
            path,
            params=params,
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            what=f"{self.vendor.lower()} GET {path}",
            counter=counter,
            classify=self._classify,
        )

    async def aclose(self) -> None:
        await self._client.aclose()


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
    "BasicConnection",
    "RegionalSettings",
    "basic_classifier",
    "check_concurrency",
    "check_http_url",
    "concurrency_field",
    "finite",
    "shape_error",
    "status_error",
    "vendor_message",
]
