"""Standard Webhooks v1 signing, shared by the webhook destination and the webhook channel.

github.com/standard-webhooks/standard-webhooks @b2fa7b8 (``spec/standard-webhooks.md``,
``libraries/python``): the key is the base64 after ``whsec_`` (24 to 64 random
bytes); ``webhook-signature`` is ``v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>``
over the exact bytes sent, so :class:`Signer` signs in an :class:`httpx.Auth`
flow, on the built request, at every attempt: a retry carries a fresh
timestamp and the same ``webhook-id``, the receiver's idempotency key.
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

import httpx
from pydantic import BaseModel, Field, SecretStr, field_validator

from okrsync.errors import AuthError, MeasureError, QueryError, TransientError, excerpt
from okrsync.sdk.http import HttpOptions, check_base_url, make_client, retry_after
from okrsync.sdk.redaction import Redactor

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


def check_headers(headers: dict[str, str]) -> dict[str, str]:
    """Extra headers a user configured: valid names, none of ours, no line breaks."""
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


class SignedEndpoint(BaseModel):
    """Where a signed POST goes, its secret and extra headers: the webhook destination's and
    channel's own settings (each also takes its section's, e.g. ``retry``)."""

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
        return check_headers(headers)


def signed_client(
    options: HttpOptions, secret: SecretStr, headers: dict[str, str], clock: Callable[[], float]
) -> tuple[httpx.AsyncClient, Redactor]:
    """A client that signs every request with ``secret``, and a redactor that masks it."""
    text = secret.get_secret_value().strip()
    redactor = Redactor()
    redactor.add(text)
    redactor.add(text[len(SECRET_PREFIX) :])
    client = make_client(
        options, headers={"Accept": "application/json, text/plain, */*", **headers}
    )
    client.auth = Signer(signing_key(text), clock)
    return client, redactor


def classify(
    response: httpx.Response, label: str, scrub: Callable[[str], str], thing: str, stop: str
) -> MeasureError | None:
    """A receiver's answer as the spec reads it, in the receiver's words (secrets masked).

    2xx is success; 410 Gone means it wants no more (``stop`` says what to do);
    408/425/429/5xx are retried honouring ``Retry-After``; 401/403 point at the
    secret and the clocks; redirects are not followed. ``thing``: "delivery", "message".
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    text = scrub(excerpt(response.text, 240))
    tail = f": {text}" if text else ""
    if status == 410:
        return QueryError(f"the receiver asked to stop (HTTP 410 Gone from {label}): {stop}{tail}")
    if status in (408, 425, 429) or status >= 500:
        return TransientError(
            f"HTTP {status} from {label}{tail}", retry_after=retry_after(response)
        )
    if status in (401, 403):
        return AuthError(
            f"the receiver refused the {thing} (HTTP {status} from {label}){tail}; "
            "check that it verifies with this secret and that the clocks agree"
        )
    if status < 400:
        return QueryError(
            f"HTTP {status} from {label}: redirects are not followed, set url to the "
            f"final address{tail}"
        )
    return QueryError(f"HTTP {status} from {label}{tail}")


__all__ = [
    "GENERATE",
    "KEY_BYTES",
    "RESERVED",
    "SECRET_PREFIX",
    "SignedEndpoint",
    "Signer",
    "check_headers",
    "classify",
    "sign",
    "signed_client",
    "signing_key",
]
