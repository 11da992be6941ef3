"""How :mod:`connectors.jira.connector` classifies a failed ``jira`` client call.

    JIRAError 401, 403                  AuthError "credentials rejected for <email>"
    JIRAError 408, 425, 429, 5xx        TransientError, honouring Retry-After
    JIRAError 404 from issue/KEY        QueryError "issue KEY does not exist …"
    other JIRAError (400 bad JQL, 410)  QueryError with Jira's errorMessages
    requests Timeout, ConnectionError   TransientError
    a reply of the wrong shape          SourceDataError
    a reply nested too deeply           SourceDataError
    a reply that does not decompress    SourceDataError
    a redirect loop or unusable address QueryError
    a reply over max_response_bytes     SourceDataError (from the adapter, not retried)
    repeated page token, > MAX_PAGES    SourceDataError (never an endless loop)

Messages carry Jira's words, excerpted, never the token: ``str(JIRAError)``
prints the request headers, so it is never used.
"""

from __future__ import annotations

import re

from connectors.jira.calls import Calls
from connectors.jira.settings import JiraSettings
from okrsync.errors import (
    AuthError,
    MeasureError,
    QueryError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.sdk.retry import parse_retry_after


def classify(exc: Exception, what: str, settings: JiraSettings, calls: Calls) -> Exception:
    """The table above; anything else is returned unchanged (a bug to see)."""
    import requests  # noqa: TID251 - the jira client's transport
    from jira.exceptions import JIRAError

    if isinstance(exc, requests.Timeout | requests.ConnectionError):
        calls.count += 1  # sent or tried without an answer: the hook did not see it
    if isinstance(exc, requests.Timeout):
        return TransientError(f"Jira {what} timed out after {settings.timeout:g}s")
    if isinstance(exc, requests.exceptions.SSLError):
        return TransientError(f"Jira {what}: TLS certificate not trusted; set ca_bundle")
    if isinstance(exc, requests.exceptions.InvalidURL | requests.exceptions.InvalidSchema):
        return QueryError(  # only a redirect's Location can name such an address
            f"Jira {what}: redirected to an unusable address ({excerpt(str(exc), 120)})"
        )
    if isinstance(exc, requests.TooManyRedirects):
        return QueryError(f"Jira {what}: too many redirects; set url to the final address")
    if isinstance(exc, requests.exceptions.ContentDecodingError):
        return SourceDataError(f"Jira {what}: the reply could not be decompressed")
    if isinstance(exc, requests.ConnectionError | requests.exceptions.ChunkedEncodingError):
        caused = re.search(r"\(Caused by (.*)\)$", text := str(exc))
        reason = excerpt(caused.group(1) if caused else text, 160)
        return TransientError(scrub(f"Jira {what}: connection failed ({reason})", settings))
    if isinstance(exc, ValueError | KeyError | TypeError | AttributeError):
        return SourceDataError(f"Jira {what}: unexpected reply ({type(exc).__name__})")
    if isinstance(exc, RecursionError):  # json's parser recurses once per level
        return SourceDataError(f"Jira {what}: the reply is nested too deeply to read")
    if not isinstance(exc, JIRAError):
        return exc
    status: int | None = exc.status_code
    tail = f": {scrub(excerpt(str(exc.text or '')), settings)}" if exc.text else ""
    who = settings.email or "the access token"
    if status is None:
        return MeasureError(f"Jira {what}{tail or ': no response'}")
    if status in (401, 403):
        return AuthError(f"HTTP {status}: credentials rejected for {who} ({what}){tail}")
    if status in (408, 425, 429) or status >= 500:
        headers = exc.response.headers if exc.response is not None else {}
        wait = parse_retry_after(headers.get("Retry-After"))
        return TransientError(f"HTTP {status} from Jira {what}{tail}", retry_after=wait)
    if status == 404 and what.startswith("issue "):
        return QueryError(f"{what} does not exist or is not visible to {who}{tail}")
    return QueryError(f"HTTP {status} from Jira {what}{tail}")


def scrub(text: str, settings: JiraSettings) -> str:
    """``text`` with the token masked as ``***`` (tokens shorter than 4 characters are left)."""
    token = settings.token
    return text.replace(token, "***") if len(token) >= 4 else text
