"""Service-account sign-in for :mod:`connectors.ga4.connector`: the OAuth 2.0 JWT bearer grant.

Built as google-auth builds it (``google/oauth2/service_account.py``,
``_make_authorization_grant_assertion``, checked in its source): an RS256 JWT with
``iss`` = client_email, ``scope``, ``aud`` = ``https://oauth2.googleapis.com/token``
(that constant even when the key file's ``token_uri`` differs), ``iat`` and
``exp`` = iat + 3600, header ``kid`` = private_key_id; form-POSTed to the key file's
``token_uri`` as ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer&assertion=…``
(developers.google.com/identity/protocols/oauth2/service-account). The answer
``{access_token, expires_in, token_type}`` is kept until ``REFRESH_MARGIN`` before it
expires (google-auth's ``REFRESH_THRESHOLD`` is 3 min 45 s). Refusals
``{error, error_description}`` (``invalid_grant``: "Invalid JWT Signature.",
"Invalid grant: account not found" …) become :class:`AuthError` with Google's words,
and a refused key is not tried again by the same connection.

One :class:`asyncio.Lock` guards the token: concurrent measures wait for one token
call instead of stampeding the endpoint. Nothing here ever puts the private key, the
assertion or an access token into a message or a repr.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Generator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

from okrsync.errors import AuthError, MeasureError, excerpt
from okrsync.sdk.connector import Sleep
from okrsync.sdk.http import body_json, request_json
from okrsync.sdk.retry import RetryConfig

SCOPE = "https://www.googleapis.com/auth/analytics.readonly"
AUDIENCE = "https://oauth2.googleapis.com/token"  # google-auth's _GOOGLE_OAUTH2_TOKEN_ENDPOINT
GRANT_TYPE = "urn:ietf:params:oauth:grant-type:jwt-bearer"
LIFETIME = 3600  # the longest assertion Google accepts
REFRESH_MARGIN = 225.0  # seconds before expiry a token counts as spent (google-auth's)
REQUIRED = ("client_email", "private_key", "token_uri")


@dataclass(frozen=True)
class ServiceAccount:
    """The parts of a key file okrsync uses; the key is kept out of repr."""

    client_email: str
    token_uri: str
    key: RSAPrivateKey = field(repr=False, compare=False)
    private_key_id: str = ""


@lru_cache(maxsize=16)  # validation and open() share one key load (~50 ms for RSA 2048)
def parse_service_account(text: str) -> ServiceAccount:
    """The key file's contents, checked; ValueError names what is wrong, never a value."""
    hint = "credentials must hold a service-account key file (credentials: ${file:/run/secrets/ga4.json})"
    try:
        info = json.loads(text)
    except json.JSONDecodeError as exc:  # its message quotes no input, but positions suffice
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


def assertion(account: ServiceAccount, now: int) -> str:
    """The signed JWT google-auth would send."""
    claims = {
        "iss": account.client_email,
        "scope": SCOPE,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + LIFETIME,
    }
    headers = {"kid": account.private_key_id} if account.private_key_id else None
    return jwt.encode(claims, account.key, algorithm="RS256", headers=headers)


class Bearer(httpx.Auth):
    """Adds the current access token to Data API requests, and to nothing else.

    One httpx client serves the token endpoint and the API (one TLS context and
    pool); the token only goes to URLs under ``prefix`` (``{url}/v1beta/``), so a
    renewal never carries the old token to ``token_uri``.
    """

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.token = ""

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        if self.token and str(request.url).startswith(self.prefix):
            request.headers["Authorization"] = f"Bearer {self.token}"
        yield request


class AccessTokens:
    """The connection's access token: fetched once, shared, renewed once when rejected."""

    def __init__(
        self,
        account: ServiceAccount,
        client: httpx.AsyncClient,
        *,
        retry: RetryConfig,
        sleep: Sleep,
        on_token: Callable[[str], None],
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._account, self._client = account, client
        self._retry, self._sleep, self._on_token, self._clock = retry, sleep, on_token, clock
        self._lock = asyncio.Lock()
        self._token: str | None = None
        self._valid_until = 0.0
        self._refused: AuthError | None = None

    async def get(self) -> str:
        """A token that is not about to expire."""
        async with self._lock:
            if self._token is None or self._clock() >= self._valid_until:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def renew(self, rejected: str) -> str:
        """A new token unless another measure already replaced ``rejected``."""
        async with self._lock:
            if self._token is None or self._token == rejected:
                await self._fetch()
            assert self._token is not None
            return self._token

    async def _fetch(self) -> None:
        if self._refused is not None:  # the same key would be refused again
            raise self._refused
        self._token = None
        started = self._clock()
        form = {"grant_type": GRANT_TYPE, "assertion": assertion(self._account, int(time.time()))}
        try:
            data, _ = await request_json(
                self._client,
                "POST",
                self._account.token_uri,
                retry=self._retry,
                sleep=self._sleep,
                data=form,
                what="ga4 token",
                classify=self._classify,
            )
        except AuthError as exc:
            self._refused = exc
            raise
        token, lifetime = self._read(data)
        self._token, self._valid_until = token, started + max(0.0, lifetime - REFRESH_MARGIN)
        self._on_token(token)

    def _classify(self, response: httpx.Response, label: str) -> MeasureError | None:
        status = response.status_code
        if status < 400 or status in (408, 425, 429) or status >= 500:
            return None  # the shared table: retried
        body = body_json(response)
        said = ""
        if isinstance(body, dict) and isinstance(body.get("error"), str):
            detail = body.get("error_description")
            said = body["error"] + (f": {detail}" if isinstance(detail, str) and detail else "")
        said = excerpt(said or response.text, 200) or "no detail"
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
    "SCOPE",
    "AccessTokens",
    "Bearer",
    "ServiceAccount",
    "assertion",
    "parse_service_account",
]
