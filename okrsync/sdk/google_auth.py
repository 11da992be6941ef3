"""Google service-account sign-in (the OAuth 2.0 JWT bearer grant), for any Google API.

Built as google-auth builds it (``google/oauth2/service_account.py``,
``_make_authorization_grant_assertion``): an RS256 JWT with ``iss`` = client_email,
``scope``, ``aud`` = ``https://oauth2.googleapis.com/token`` (that constant even when
the key file's ``token_uri`` differs), ``iat`` and ``exp`` = iat + 3600, header
``kid`` = private_key_id; form-POSTed to the key file's ``token_uri`` as
``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…``
(developers.google.com/identity/protocols/oauth2/service-account). The answer
``{access_token, expires_in, token_type}`` is kept until ``REFRESH_MARGIN`` before it
expires (google-auth's ``REFRESH_THRESHOLD`` is 3 min 45 s). Refusals
``{error, error_description}`` become :class:`AuthError` with Google's words, and a
refused key is not tried again by the same client.

The JWT is signed with ``cryptography`` directly (RS256 is PKCS#1 v1.5 over SHA-256,
RFC 7518 §3.3), so the sdk needs no JWT library. The ga4 connector and the
sheets destination both sign in through it, each with its own scope.

One :class:`asyncio.Lock` guards the token: concurrent calls wait for one token call
instead of stampeding the endpoint. Nothing here puts the private key, the assertion
or an access token into a message or a repr; every access token is registered with
the redactor as it arrives (an API may echo one after it was replaced), and
:meth:`AccessTokens.scrub` masks the assertion too.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, TypeVar

import httpx
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from okrsync.errors import AuthError, MeasureError, excerpt
from okrsync.sdk.connector import Sleep
from okrsync.sdk.http import body_json, request_json
from okrsync.sdk.redaction import MASK, REDACTOR
from okrsync.sdk.retry import RetryConfig

AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth's _GOOGLE_OAUTH2_TOKEN_ENDPOINT
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LIFETIME = 3600  # the longest assertion Google accepts
REFRESH_MARGIN = 225.0  # seconds before expiry a token counts as spent (google-auth's)
REQUIRED = ("client_email", "private_key", "token_uri")

T = TypeVar("T")


@dataclass(frozen=True)
class ServiceAccount:
    """The parts of a key file okrsync uses; the key is kept out of repr."""

    client_email: str
    token_uri: str
    key: RSAPrivateKey = field(repr=False, compare=False)
    private_key_id: str = ""


class TokenRejected(AuthError):
    """An API answered 401 to ``token`` (never in the message): renew once, then give up."""

    def __init__(self, message: str, token: str) -> None:
        super().__init__(message)
        self.token = token


@lru_cache(maxsize=16)  # validation and open() share one key load (~50 ms for RSA 2048)
def parse_service_account(text: str) -> ServiceAccount:
    """The key file's contents, checked; ValueError names what is wrong, never a value."""
    hint = "credentials must hold a service-account key file (credentials: ${file:/run/secrets/key.json})"
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:  # positions only: the message quotes no input
        raise ValueError(
            f"credentials is not JSON (line {exc.lineno} column {exc.colno}): {hint}"
        ) from None
    if not isinstance(info, dict):
        raise ValueError(f"credentials is JSON but not an object: {hint}")
    kind = info.get("type")
    if kind != "service_account":
        shown = repr(excerpt(kind, 40)) if isinstance(kind, str) else "missing"
        raise ValueError(
            f"credentials type is {shown}, expected 'service_account': create a JSON key for "
            "a service account (IAM → Service accounts → Keys)"
        )
    missing = [k for k in REQUIRED if not isinstance(info.get(k), str) or not info[k].strip()]
    if missing:
        raise ValueError(
            f"credentials lacks {', '.join(missing)}: not a whole service-account key file"
        )
    try:
        uri: httpx.URL | None = httpx.URL(info["token_uri"])
    except httpx.InvalidURL:
        uri = None
    if uri is None or uri.scheme not in ("http", "https") or not uri.host:
        raise ValueError("credentials token_uri must be an http(s) URL with a host")
    try:
        key = load_pem_private_key(info["private_key"].encode(), password=None)
    except (ValueError, TypeError):
        raise ValueError("credentials private_key is not a PEM private key") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("credentials private_key is not an RSA key (Google signs with RS256)")
    kid = info.get("private_key_id")
    return ServiceAccount(
        client_email=info["client_email"].strip(),
        token_uri=info["token_uri"],
        private_key_id=kid if isinstance(kid, str) else "",
        key=key,
    )


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _segment(value: dict[str, Any]) -> str:
    return _b64(json.dumps(value, separators=(",", ":")).encode())


def assertion(account: ServiceAccount, scope: str, now: int) -> str:
    """The signed JWT google-auth would send for ``scope`` (space-separated scopes)."""
    header: dict[str, Any] = {"alg": "RS256", "typ": "JWT"}
    if account.private_key_id:
        header["kid"] = account.private_key_id
    claims: dict[str, Any] = {"iss": account.client_email, "scope": scope, "aud": AUDIENCE}
    claims |= {"iat": now, "exp": now + LIFETIME}
    signing_input = f"{_segment(header)}.{_segment(claims)}"
    signature = account.key.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{_b64(signature)}"


class AccessTokens:
    """One client's access token: fetched once, shared, renewed before expiry or once on a 401."""

    def __init__(
        self,
        account: ServiceAccount,
        client: httpx.AsyncClient,
        *,
        scope: str,
        retry: RetryConfig,
        sleep: Sleep,
        token_url: str | None = None,
        what: str = "google token",
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._account, self._client, self._scope = account, client, scope
        self._url = token_url or account.token_uri
        self._retry, self._sleep, self._what, self._clock = retry, sleep, what, clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._assertion = ""
        self._valid_until = 0.0
        self._refused: AuthError | None = None

    @property
    def email(self) -> str:
        return self._account.client_email

    async def get(self) -> str:
        """A token that is not about to expire."""
        async with self._lock:
            if self._token is None or self._clock() >= self._valid_until:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def renew(self, rejected: str) -> str:
        """A new token unless another call already replaced ``rejected``."""
        async with self._lock:
            if self._token is None or self._token == rejected:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def call(self, send: Callable[[str], Awaitable[T]]) -> T:
        """``send(token)``; on :class:`TokenRejected` once more with a new token, then an AuthError."""
        token = await self.get()
        try:
            return await send(token)
        except TokenRejected as exc:
            token = await self.renew(exc.token or token)
        try:
            return await send(token)
        except TokenRejected as again:
            raise AuthError(f"{again} (right after a new access token)") from None

    def scrub(self, text: str) -> str:
        """``text`` without the current token or assertion, and without any registered secret."""
        for secret in (self._token, self._assertion):
            if secret:
                text = text.replace(secret, MASK)
        return REDACTOR.redact(text)

    async def _fetch(self) -> None:
        if self._refused is not None:  # the same key would be refused again
            raise self._refused
        self._token = None
        started = self._clock()
        self._assertion = assertion(self._account, self._scope, int(time.time()))
        form = {"grant_type": GRANT_TYPE, "assertion": self._assertion}
        try:
            data, _ = await request_json(
                self._client,
                "POST",
                self._url,
                retry=self._retry,
                sleep=self._sleep,
                data=form,
                what=self._what,
                classify=self._classify,
            )
        except AuthError as exc:
            self._refused = exc
            raise
        token, lifetime = self._read(data)
        REDACTOR.add(token)  # an API may echo it after it is replaced: masked for good
        self._token, self._valid_until = token, started + max(0.0, lifetime - REFRESH_MARGIN)

    def _classify(self, response: httpx.Response, label: str) -> MeasureError | None:
        status = response.status_code
        if status < 400 or status in (408, 425, 429) or status >= 500:
            return None  # the shared table: retried
        body = body_json(response)
        said = ""
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            detail = body.get("error_description")
            said = body["error"] + (f": {detail}" if isinstance(detail, str) and detail else "")
        said = excerpt(self.scrub(said or response.text), 200) or "no detail"
        return AuthError(
            f"Google refused service account {self._account.client_email} "
            f"(HTTP {status} from {label}): {said}"
        )

    def _read(self, data: Any) -> tuple[str, float]:
        token = data.get("access_token") if isinstance(data, dict) else None
        lifetime = data.get("expires_in") if isinstance(data, dict) else None
        if not isinstance(token, str) or not token:
            raise AuthError(
                f"the token endpoint answered without an access_token for {self._account.client_email}"
            )
        try:
            seconds = float(lifetime) if lifetime is not None else float(LIFETIME)
        except (TypeError, ValueError):
            seconds = 0.0  # use it once, fetch again next time
        return token, seconds


__all__ = [
    "AUDIENCE",
    "GRANT_TYPE",
    "AccessTokens",
    "ServiceAccount",
    "TokenRejected",
    "assertion",
    "parse_service_account",
]
