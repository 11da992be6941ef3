"""The GA4 simulator's OAuth token endpoint: Google's JWT-bearer grant for service accounts.

``POST /token`` (form): ``grant_type=urn:ietf:params:oauth:grant-type:jwt-bearer`` and
an RS256 ``assertion`` checked against the registered service account's public key:
``aud`` must be ``https://oauth2.googleapis.com/token``, ``exp`` ≤ ``iat`` + 3600 and
not past, ``scope`` present. Success ``{access_token, expires_in, token_type}``;
refusals ``{error, error_description}`` in Google's words (``invalid_grant`` "Invalid
JWT Signature.", "Invalid grant: account not found", "Invalid JWT: Failed audience
check.", the 60-minute window message; ``invalid_scope``).

:func:`check_grant` does the checking; the simulator keeps the tokens it hands out
(:func:`new_access_token`, :class:`Grant`) and answers with :func:`token_response`.
:func:`demo_key` is the demo service account's key pair.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from urllib.parse import parse_qsl

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from okrsync.demo.simulators.server import Response

AUDIENCE = "https://oauth2.googleapis.com/token"
GRANT = "urn:ietf:params:oauth:grant-type:jwt-bearer"
_WINDOW = "Invalid JWT: Token must be a short-lived token (60 minutes) and in a reasonable timeframe. Check your iat and exp values and use a clock with skew to account for clock differences between systems."


@cache
def demo_key() -> tuple[str, bytes]:
    """(private key PEM, public key PEM) of the demo service account, made once per process."""
    return new_key()


def new_key() -> tuple[str, bytes]:
    """A fresh (private key PEM, public key PEM): a key Google knows only if it is added."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _oauth_error(error: str, description: str, status: int = 400) -> Response:
    return Response.json({"error": error, "error_description": description}, status)


@dataclass
class Grant:
    email: str
    scopes: set[str]
    expires: float  # time.monotonic()


def check_grant(
    body: bytes, accounts: Mapping[str, tuple[str, bytes]]
) -> Response | tuple[str, set[str]]:
    """(service account email, scopes) of a valid token request, else Google's refusal.

    ``accounts`` maps each registered email to (key id, public key PEM).
    """
    form = dict(parse_qsl(body.decode(), keep_blank_values=True))
    grant = form.get("grant_type", "")
    if grant != GRANT:
        return _oauth_error("unsupported_grant_type", f"Invalid grant_type: {grant}")
    assertion = form.get("assertion", "")
    try:
        header = jwt.get_unverified_header(assertion)
        claims = jwt.decode(assertion, options={"verify_signature": False})
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "Invalid JWT Signature.")
    account = accounts.get(str(claims.get("iss", "")))
    if account is None:
        return _oauth_error("invalid_grant", "Invalid grant: account not found")
    key_id, public = account
    try:
        if header.get("alg") != "RS256" or header.get("kid", key_id) != key_id:
            raise jwt.InvalidSignatureError
        jwt.decode(
            assertion,
            public,
            algorithms=["RS256"],
            options={"verify_aud": False, "verify_exp": False, "verify_iat": False},
        )
    except jwt.PyJWTError:
        return _oauth_error("invalid_grant", "Invalid JWT Signature.")
    if claims.get("aud") != AUDIENCE:
        return _oauth_error("invalid_grant", "Invalid JWT: Failed audience check.")
    iat, exp, now = claims.get("iat"), claims.get("exp"), time.time()
    if not isinstance(iat, int) or not isinstance(exp, int) or exp - iat > 3600:
        return _oauth_error("invalid_grant", _WINDOW)
    if exp < now or iat > now + 300:
        return _oauth_error("invalid_grant", _WINDOW)
    scopes = set(str(claims.get("scope", "")).split())
    if not scopes:
        return _oauth_error("invalid_scope", "Invalid OAuth scope or ID token audience provided.")
    return str(claims["iss"]), scopes


def new_access_token() -> str:
    return "ya29.sim-" + secrets.token_urlsafe(32)


def token_response(token: str, lifetime: int) -> Response:
    reply = {"access_token": token, "expires_in": lifetime, "token_type": "Bearer"}
    return Response.json(reply)
