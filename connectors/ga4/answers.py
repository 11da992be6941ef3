"""What :mod:`connectors.ga4.connector` makes of runReport answers: errors and the one number.

Errors are Google's ``{"error": {"code", "message", "status"}}``
(cloud.google.com/apis/design/errors); the message is Google's, excerpted:

    ==========================================  ===========================================
    HTTP 400 INVALID_ARGUMENT (and other 4xx)   QueryError, e.g. "Field x is not a valid metric…"
    HTTP 401 UNAUTHENTICATED                    TokenRejected: the token is renewed once,
                                                then AuthError
    HTTP 403 PERMISSION_DENIED                  AuthError naming the account and the property
                                                (or the project, when the API is not enabled)
    HTTP 429 RESOURCE_EXHAUSTED "…tokens per    QuotaError (not retried: the property's token
    day/hour…" (also "…for a project per hour") bucket refills within the day/hour)
    any other 429 (concurrent requests …)       TransientError (retried, Retry-After honoured)
    408, 5xx                                    TransientError
    ==========================================  ===========================================

The number is ``rows[0].metricValues[0].value``, a string (RunReportResponse). No
dimensions are requested, so GA4 answers one row; when nothing matched it leaves
``rows`` out (proto3 JSON omits empty lists; seen in google/site-kit-wp#6559,
estuary/connectors#2368). That is "no data", a SourceDataError, unless the source
says ``empty_is_zero`` (a count where no rows means none happened): then 0.
Several rows, a missing value, a non-number or NaN/Infinity are SourceDataError.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

import httpx

from okrsync.errors import (
    AuthError,
    MeasureError,
    QueryError,
    QuotaError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.sdk.google_auth import TokenRejected
from okrsync.sdk.http import Classify, body_json, retry_after

# "Exhausted property tokens per day. …", "… per hour.", "… for a project per hour."
# (wording from Airbyte's source-google-analytics-data-api and public GA4 clients; the
# quota names are PropertyQuota's). Concurrent-request and thresholded quotas pass.
_SPENT = re.compile(r"tokens\b.*\bper (?:day|hour)", re.IGNORECASE)
# 403 SERVICE_DISABLED: "Google Analytics Data API has not been used in project N before or it is disabled."
_DISABLED = re.compile(r"has not been used in project|API .*is disabled", re.IGNORECASE)


def google_error(response: httpx.Response) -> tuple[str, str]:
    """(status, message) from Google's error body, or ("", body excerpt)."""
    body = body_json(response)
    error = body.get("error") if isinstance(body, dict) else None
    if isinstance(error, dict):
        status = error.get("status") if isinstance(error.get("status"), str) else ""
        message = error.get("message") if isinstance(error.get("message"), str) else ""
        return str(status), excerpt(str(message), 240)
    return "", excerpt(response.text, 240)


def classifier(prop: str, who: str) -> Classify:
    """The ``classify`` hook for one runReport call on property ``prop`` as ``who``."""

    def classify(response: httpx.Response, label: str) -> MeasureError | None:
        code = response.status_code
        if code < 400:
            return None
        status, message = google_error(response)
        head = f"HTTP {code}{' ' + status if status else ''}"
        said = f": {message}" if message else ""
        if code == 401:
            sent = response.request.headers.get("authorization", "")
            return TokenRejected(
                f"{head} from runReport as {who}{said}", sent.removeprefix("Bearer ")
            )
        if code == 403 and _DISABLED.search(message):
            return AuthError(
                f"{head}: enable the Google Analytics Data API in {who}'s project{said}"
            )
        if code == 403:
            return AuthError(
                f"{head}: {who} may not read GA4 property {prop} (add it under Admin → "
                f"Property access management, role Viewer){said}"
            )
        if code == 429 and _SPENT.search(message):
            return QuotaError(f"{head}: GA4 property {prop} has spent its quota{said}")
        if code in (408, 425, 429) or code >= 500:
            return TransientError(
                f"{head} from runReport (property {prop}){said}", retry_after=retry_after(response)
            )
        return QueryError(f"{head}: GA4 rejected the report for property {prop}{said}")

    return classify


def report_value(data: Any, metric: str, days: str, empty_is_zero: bool = False) -> float:
    """The metric's one value; an absent ``rows`` is GA4's "no data": an error, or 0 if asked."""
    if not isinstance(data, dict):
        raise SourceDataError("runReport answered something other than a JSON object")
    rows = data.get("rows")
    if rows is None or rows == []:
        if empty_is_zero:
            return 0.0
        raise SourceDataError(
            f"no data: GA4 returned no rows for {metric} over {days} (nothing matched the "
            "filter or the property collected nothing in those days; set empty_is_zero: true "
            "on the source if that means 0)"
        )
    if not isinstance(rows, list):
        raise SourceDataError("runReport rows is not a list")
    if len(rows) != 1:
        raise SourceDataError(
            f"runReport returned {len(rows)} rows for {metric}, expected one (no dimensions asked)"
        )
    row = rows[0]
    values = row.get("metricValues") if isinstance(row, dict) else None
    first = values[0] if isinstance(values, list) and values else None
    text = first.get("value") if isinstance(first, dict) else None
    if not isinstance(text, str):
        raise SourceDataError(
            f"runReport row has no value for {metric}: {excerpt(json.dumps(row), 120)}"
        )
    try:
        number = float(text)
    except ValueError:
        raise SourceDataError(f"{metric} is {excerpt(text, 60)!r}, not a number") from None
    if not math.isfinite(number):
        raise SourceDataError(f"{metric} is {excerpt(text, 60)!r}, not a finite number")
    return number


def raw_excerpt(data: Any) -> str:
    """The answer's numbers and the property's remaining daily tokens, shortened."""
    if not isinstance(data, dict):
        return excerpt(json.dumps(data))
    keep = {k: data[k] for k in ("metricHeaders", "rows", "rowCount") if k in data}
    quota = data.get("propertyQuota")
    per_day = quota.get("tokensPerDay") if isinstance(quota, dict) else None
    if per_day is not None:
        keep["propertyQuota"] = {"tokensPerDay": per_day}
    return excerpt(json.dumps(keep, separators=(",", ":")))


__all__ = ["classifier", "google_error", "raw_excerpt", "report_value"]
