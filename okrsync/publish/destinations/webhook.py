"""``type: webhook``: each pushed value as a signed JSON POST to any URL (Standard Webhooks v1).

One request per value::

    POST {url}
    webhook-id: msg_<hash of key result, item, value, measured_at>
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

    {"type":"key_result.value","timestamp":"<measured_at>","data":{"key_result":…}}

Following github.com/standard-webhooks/standard-webhooks @b2fa7b8
(``spec/standard-webhooks.md``, ``libraries/python``): the key is the base64
after ``whsec_`` (24 to 64 random bytes); the signature covers the exact bytes
sent, so it is computed in an :class:`httpx.Auth` flow, on the built request,
at every attempt (a retry carries a fresh timestamp and the same id, which the
receiver uses as its idempotency key). 2xx is success; 410 Gone means the
receiver wants no more (a query error saying to remove it); 429, 502, 503, 504
and other 5xx are retried, honouring ``Retry-After``; redirects are not followed.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import math
import re
import time
from collections.abc import Callable, Generator
from datetime import UTC, datetime
from typing import Any, Literal

import httpx
from pydantic import Field, SecretStr, field_validator

from okrsync.errors import AuthError, MeasureError, QueryError, TransientError, excerpt
from okrsync.sdk.connector import Runtime
from okrsync.sdk.http import check_base_url, make_client, request_json, retry_after
from okrsync.sdk.publisher import DestinationSettings, PublisherType, PushItem
from okrsync.sdk.redaction import REDACTOR, Redactor

EVENT_TYPE = "key_result.value"
SECRET_PREFIX = "whsec_"  # noqa: S105 - the form's prefix, not a secret
KEY_BYTES = (24, 64)  # the spec's range for a symmetric signing secret
TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")  # an HTTP header name (RFC 9110 token)
RESERVED = {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type"}
RESERVED |= {"content-length", "host", "transfer-encoding"}
GENERATE = (
    "python -c \"import base64,os;print('whsec_'+base64.b64encode(os.urandom(32)).decode())\""
)


def signing_key(secret: str) -> bytes:
    """The HMAC key of a ``whsec_…`` secret; ValueError (never quoting it) when malformed."""
    text = secret.strip()
    if not text.startswith(SECRET_PREFIX):
        raise ValueError(f"secret must start with {SECRET_PREFIX} (a Standard Webhooks secret)")
    core = text[len(SECRET_PREFIX) :].rstrip("=")
    try:
        key = base64.b64decode(core + "=" * (-len(core) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            f"secret: what follows {SECRET_PREFIX} is not standard base64; make one with {GENERATE}"
        ) from None
    low, high = KEY_BYTES
    if not low <= len(key) <= high:
        raise ValueError(
            f"secret: the key is {len(key)} bytes, the spec wants {low} to {high}; "
            f"make one with {GENERATE}"
        )
    return key


def sign(key: bytes, msg_id: str, timestamp: str, body: bytes) -> str:
    """``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``."""
    digest = hmac.new(key, f"{msg_id}.{timestamp}.".encode() + body, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def message_id(item: PushItem) -> str:
    """The same for every attempt of one value of one item, so the receiver can dedupe."""
    when = _iso(item.measured_at)
    key = "\x1f".join((item.kr_id, item.item, repr(float(item.value)), when))
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def payload(item: PushItem) -> dict[str, Any]:
    """The body: ``{type, timestamp, data}`` as the spec recommends."""
    when = _iso(item.measured_at)
    return {
        "type": EVENT_TYPE,
        "timestamp": when,
        "data": {
            "key_result": item.kr_id,
            "item": item.item,
            "value": item.value,
            "unit": item.unit,
            "measured_at": when,
            "progress": _finite(item.progress),
            "start": _finite(item.start),
            "target": _finite(item.target),
            "title": item.title,
            "comment": item.comment,
            "run_id": item.run_id,
        },
    }


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class WebhookSettings(DestinationSettings):
    type: Literal["webhook"]
    url: str = Field(description="Where to POST (http or https); a query string is kept.")
    secret: SecretStr = Field(description="The signing secret: whsec_ + base64 of 24-64 bytes.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra headers sent with every request."
    )

    _url = field_validator("url")(check_base_url)

    @field_validator("secret")
    @classmethod
    def _secret(cls, secret: SecretStr) -> SecretStr:
        signing_key(secret.get_secret_value())
        return secret

    @field_validator("headers")
    @classmethod
    def _headers(cls, headers: dict[str, str]) -> dict[str, str]:
        for name, value in headers.items():
            if not TOKEN.fullmatch(name):
                raise ValueError(f"header name {name!r} is not a valid HTTP header name")
            if name.lower() in RESERVED:
                raise ValueError(f"header {name} is set by okrsync itself; remove it")
            if "\r" in value or "\n" in value:
                raise ValueError(f"header {name}: the value holds a line break")
        return headers


class Signer(httpx.Auth):
    """Signs each request as it is sent: its exact body, and a timestamp of this attempt."""

    requires_request_body = True

    def __init__(self, key: bytes, clock: Callable[[], float] = time.time) -> None:
        self._key, self._clock = key, clock

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        msg_id = request.headers["webhook-id"]
        stamp = str(math.floor(self._clock()))
        request.headers["webhook-timestamp"] = stamp
        request.headers["webhook-signature"] = sign(self._key, msg_id, stamp, request.content)
        yield request


class WebhookDestination:
    dated = False

    def __init__(
        self,
        name: str,
        settings: WebhookSettings,
        runtime: Runtime,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._name, self._settings, self._runtime = name, settings, runtime
        self._closed = False
        secret = settings.secret.get_secret_value().strip()
        self._redactor = Redactor()
        self._redactor.add(secret)
        self._redactor.add(secret[len(SECRET_PREFIX) :])
        headers = {"Accept": "application/json, text/plain, */*", **settings.headers}
        self._client = make_client(settings, headers=headers)
        self._client.auth = Signer(signing_key(secret), clock)

    async def push(self, item: PushItem) -> str:
        if not math.isfinite(item.value):
            raise QueryError(f"{item.kr_id} has no finite value ({item.value}) to send")
        msg_id = message_id(item)
        _, raw = await request_json(
            self._client,
            "POST",
            self._settings.url,  # absolute: a base_url would gain a trailing slash
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body=payload(item),
            headers={"webhook-id": msg_id},
            what="webhook push",
            classify=self._classify,
            expect_json=False,
        )
        answer = self._scrub(excerpt(raw, 160))
        return f"{msg_id} accepted" + (f": {answer}" if answer else "")

    def _classify(self, response: httpx.Response, label: str) -> MeasureError | None:
        """Every non-2xx answer, with the receiver's words (secrets masked)."""
        status = response.status_code
        if 200 <= status < 300:
            return None
        text = self._scrub(excerpt(response.text, 240))
        tail = f": {text}" if text else ""
        if status == 410:
            return QueryError(
                f"the receiver asked to stop (HTTP 410 Gone from {label}): remove it from "
                f"destinations, or point url at its new address{tail}"
            )
        if status in (408, 425, 429) or status >= 500:
            return TransientError(
                f"HTTP {status} from {label}{tail}", retry_after=retry_after(response)
            )
        if status in (401, 403):
            return AuthError(
                f"the receiver refused the delivery (HTTP {status} from {label}){tail}; "
                "check that it verifies with this destination's secret and that the clocks agree"
            )
        if status < 400:
            return QueryError(
                f"HTTP {status} from {label}: redirects are not followed, set url to the "
                f"final address{tail}"
            )
        return QueryError(f"HTTP {status} from {label}{tail}")

    def _scrub(self, text: str) -> str:
        return self._redactor.redact(REDACTOR.redact(text))

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_destination(name: str, settings: Any, runtime: Runtime) -> WebhookDestination:
    return WebhookDestination(name, settings, runtime)


PUBLISHER = PublisherType(
    type="webhook",
    section="destinations",
    settings_model=WebhookSettings,
    open=open_destination,
    doc="Any URL: a JSON POST per value, signed the Standard Webhooks way.",
)

__all__ = [
    "EVENT_TYPE",
    "PUBLISHER",
    "Signer",
    "WebhookDestination",
    "WebhookSettings",
    "message_id",
    "payload",
    "sign",
    "signing_key",
]
