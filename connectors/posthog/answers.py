"""Reading PostHog's answers and errors (for :mod:`connectors.posthog.connector`).

Errors are drf-exceptions-hog's ``{"type", "code", "detail", "attr"}`` (a failed
async query: ``{"query_status": {"error_message"}}``); the message carries ``detail``
and ``code``, shortened. drf-exceptions-hog builds its Response without DRF's
``Retry-After`` header, so a 429's wait is read from ``Retry-After`` when a proxy
adds one, else from DRF's detail "Expected available in N seconds.".
"""

from __future__ import annotations

import contextlib
import json
import re
from typing import Any

import httpx

from connectors._analytics_basic import finite
from okrsync.errors import (
    AuthError,
    MeasureError,
    QueryError,
    QuotaError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.sdk.http import body_json, retry_after

_WAIT = re.compile(r"Expected available in (\d+(?:\.\d+)?) seconds?")


def one_number(data: Any) -> tuple[float, str]:
    """``results[0][0]`` of a HogQL answer, and a short raw excerpt of it."""
    if not isinstance(data, dict) or not isinstance(results := data.get("results"), list):
        raise SourceDataError("PostHog's answer has no results list")
    columns = data.get("columns")
    columns = columns if isinstance(columns, list) else []
    raw = excerpt(json.dumps({"columns": columns, "results": results[:3], **_cache(data)}))
    more = "+" if data.get("hasMore") else ""
    if not results:
        raise SourceDataError("the HogQL returned no rows; it must return one row with one number")
    if len(results) > 1:
        raise SourceDataError(
            f"the HogQL returned {len(results)}{more} rows; it must return one (aggregate it)"
        )
    row = results[0]
    if not isinstance(row, list) or len(row) != 1:
        width = len(row) if isinstance(row, list) else 0
        names = ", ".join(map(str, columns)) or "?"
        raise SourceDataError(f"the HogQL returned {width} columns ({names}); it must return one")
    name = str(columns[0]) if columns else "the value"
    return _number(row[0], f"{name} (results[0][0])"), raw


def _number(value: Any, what: str) -> float:
    """A finite number; PostHog writes a Decimal as a numeric string (``"12.50"``)."""
    if isinstance(value, str):
        with contextlib.suppress(ValueError):  # else finite() names the string
            value = float(value)
    return finite(value, what)


def _cache(data: dict[str, Any]) -> dict[str, Any]:
    return {k: data[k] for k in ("is_cached", "last_refresh") if k in data}


def classify(
    response: httpx.Response, label: str, project_id: int, max_time: float
) -> MeasureError | None:
    """The error for a PostHog error body; None (not PostHog's shape) falls back to the table.

    401/403 → AuthError; 429 → TransientError with the wait, or QuotaError when the
    wait is longer than ``max_time`` (the hourly allowance); 404 → QueryError naming
    the project; 5xx → TransientError except 512 (estimated execution too long), which
    retrying cannot fix; other 4xx (HogQL errors) → QueryError.
    """
    status = response.status_code
    if status < 400:
        return None
    detail, code = _error(body_json(response))
    if not detail:
        return None
    said = excerpt(detail, 240) + (f" [{code}]" if code else "")
    if status in (401, 403):
        return AuthError(f"HTTP {status}: credentials rejected ({label}): {said}")
    if status == 429:
        wait = retry_after(response)
        if wait is None and (found := _WAIT.search(detail)):
            wait = float(found.group(1))
        if wait is not None and wait > max_time:
            return QuotaError(f"HTTP 429 from {label}: PostHog's query allowance is spent: {said}")
        return TransientError(f"HTTP 429 from {label}: {said}", retry_after=wait)
    if status == 404 and label.startswith("POST"):
        hint = f"no project {project_id} visible to this API key"
        return QueryError(f"HTTP 404 from {label} ({hint}): {said}")
    if status >= 500 and status != 512:
        return TransientError(
            f"HTTP {status} from {label}: {said}", retry_after=retry_after(response)
        )
    return QueryError(f"HTTP {status} from {label}: {said}")


def _error(body: Any) -> tuple[str, str]:
    if not isinstance(body, dict):
        return "", ""
    status = body.get("query_status")
    if isinstance(status, dict) and status.get("error_message"):
        return str(status["error_message"]), ""
    detail = body.get("detail")
    return (str(detail), str(body.get("code") or "")) if detail else ("", "")


__all__ = ["classify", "one_number"]
