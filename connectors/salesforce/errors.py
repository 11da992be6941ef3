"""How :mod:`connectors.salesforce.connector` classifies a failure; messages never carry a secret.

simple-salesforce retries nothing; every retry is :func:`okrsync.sdk.retry.call_with_retries`.

    ===================================================  =================================
    what happened                                        MeasureError
    ===================================================  =================================
    SalesforceMalformedRequest 400 (MALFORMED_QUERY,     QueryError "CODE: message"
    INVALID_FIELD, INVALID_TYPE, …), 404, 300
    SalesforceExpiredSession 401 INVALID_SESSION_ID      log in again once, retry; then
                                                         AuthError (session_id: at once)
    SalesforceRefusedRequest 403 REQUEST_LIMIT_EXCEEDED  QuotaError when "TotalRequests" (the
                                                         daily allowance: not retried), else
                                                         TransientError (concurrency limits)
    SalesforceRefusedRequest 403, other codes            AuthError (no permission)
    SalesforceGeneralError 429, 5xx                      TransientError, Retry-After kept
    SalesforceGeneralError, other status                 QueryError
    SalesforceAuthenticationFailed (login refused)       AuthError naming user/consumer key
    login answered 429/5xx without a fault               TransientError
    requests Timeout, ConnectionError (reset, TLS)       TransientError
    a redirect to an unusable address                    QueryError
    a body that does not decompress                      SourceDataError
    body not JSON, no such alias/label, null, >1 row     SourceDataError
    JSON nested too deeply, login answer not XML or      SourceDataError
    without a session id
    a body over max_response_bytes                       SourceDataError (not retried)
    a Composite Batch subresult                          the same table, for its source only
    ===================================================  =================================
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import SecretStr

from connectors.salesforce.settings import SalesforceSettings
from okrsync.errors import (
    AuthError,
    MeasureError,
    QueryError,
    QuotaError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.sdk.retry import parse_retry_after

NO_SESSION = ("UNKNOWN_EXCEPTION_CODE", "UNKNOWN_EXCEPTION_MESSAGE")  # simple-salesforce's words


class Expired(Exception):
    """INVALID_SESSION_ID: log in again (internal; never leaves the connection)."""


class SomeTransient(TransientError):
    """Some sources of a batch failed for now; their own errors are already recorded."""


def classify(
    exc: Exception, settings: SalesforceSettings, retry_after: str | None
) -> MeasureError | Expired:
    """A failed REST call; ``retry_after`` is the header of the last response, if any."""
    import requests  # noqa: TID251 - simple-salesforce's transport
    from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

    if isinstance(exc, SalesforceExpiredSession):
        return Expired()
    wait = parse_retry_after(retry_after)
    if isinstance(exc, SalesforceError):
        code, message = first_error(exc.content)
        return error_for(exc.status, code, scrub(message, settings), wait)
    if isinstance(exc, requests.exceptions.JSONDecodeError):
        return SourceDataError("Salesforce answered with a body that is not JSON")
    if isinstance(exc, RecursionError):  # json's parser recurses once per level
        return SourceDataError("Salesforce answered with JSON nested too deeply to read")
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return SourceDataError("Salesforce answered with a body that could not be decompressed")
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return QueryError(  # only a redirect's Location can name such an address
            f"Salesforce redirected to an unusable address ({excerpt(str(exc), 120)})"
        )
    if isinstance(exc, requests.Timeout):
        return TransientError(f"Salesforce timed out after {settings.timeout:g}s")
    if isinstance(exc, requests.exceptions.SSLError):
        return TransientError(
            f"TLS to Salesforce failed (certificate not trusted? set ca_bundle): "
            f"{excerpt(str(exc), 160)}"
        )
    return TransientError(f"Salesforce unreachable: {type(exc).__name__}: {excerpt(str(exc), 160)}")


def login_error(exc: Any, settings: SalesforceSettings, retry_after: str | None) -> MeasureError:
    """A SalesforceAuthenticationFailed: 429/5xx is transient, anything else a refusal."""
    code, message = exc.code, scrub(excerpt(str(exc.auth_message), 200), settings)
    if (code, message) == NO_SESSION:  # a 200 whose XML is no login response: no refusal
        return SourceDataError(
            f"Salesforce login for {settings.who} was answered without a session id "
            "(not a SOAP login response)"
        )
    if isinstance(code, int) and (code == 429 or code >= 500):
        return TransientError(
            f"Salesforce login for {settings.who}: HTTP {code}", parse_retry_after(retry_after)
        )
    return AuthError(
        f"Salesforce login failed for {settings.who} ({settings.flow}): {code}: {message}"
    )


def first_error(content: Any) -> tuple[str | None, str]:
    """(errorCode, message) of a Salesforce error body ``[{"message", "errorCode"}]``."""
    first = content[0] if isinstance(content, list) and content else content
    if isinstance(first, dict):
        return first.get("errorCode"), str(first.get("message", ""))
    text = first.decode(errors="replace") if isinstance(first, bytes) else str(first or "")
    return None, excerpt(text, 200)


def error_for(
    status: int, code: str | None, message: str, retry_after: float | None
) -> MeasureError:
    text = excerpt(f"{code}: {message}" if code else f"HTTP {status}: {message}", 300)
    if code == "REQUEST_LIMIT_EXCEEDED" and "TotalRequests" in message:
        return QuotaError(f"the org's daily API request allowance is used up ({text})")
    if code == "REQUEST_LIMIT_EXCEEDED":  # concurrent long-request limits pass
        return TransientError(f"the org's API request limit is reached ({text})", retry_after)
    if status == 429 or status >= 500:
        return TransientError(text, retry_after)
    if status in (401, 403):
        return AuthError(text)
    return QueryError(text)


def scrub(text: str, settings: SalesforceSettings) -> str:
    """``text`` without the connection's password, token, secret or session id."""
    s = settings
    for secret in (s.password, s.security_token, s.consumer_secret, s.session_id):
        value = plain(secret)
        if value and len(value) >= 4:
            text = text.replace(value, "***")
    return text


def plain(value: SecretStr | Path | str | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return None if value is None else str(value)
