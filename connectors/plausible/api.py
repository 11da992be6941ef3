"""What Plausible's two Stats APIs take and say (for :mod:`connectors.plausible.connector`).

Every Plausible error is ``{"error": msg}`` (``controllers/api/helpers.ex``); 401
(key, site) → AuthError, 402 (plan without Stats API, locked site) → AuthError,
429 (the key's hourly limit; no Retry-After) → QuotaError (a 429 that does say
Retry-After, from a proxy or a later Plausible, is waited out), other 4xx → QueryError,
each with Plausible's message. A 404 from ``/api/v2/query`` while probing means an
instance without v2 (:class:`NoV2`).
"""

from __future__ import annotations

import json
from typing import Any

import httpx

from okrsync.errors import AuthError, MeasureError, QueryError, QuotaError, excerpt
from okrsync.sdk.http import body_json

V2 = "/api/v2/query"
V1_OPERATORS = {"is": "==", "is_not": "!="}
_V1_UNSAFE = set(";|*")  # v1's separators and page wildcard: no v2 "is" means them


class NoV2(QueryError):
    """/api/v2/query answered 404: an instance without Stats API v2."""


def v1_filters(filters: list[list[Any]]) -> str:
    """v2 ``[["is", "event:page", ["/a", "/b"]]]`` as v1's ``event:page==/a|/b``."""
    parts = []
    for item in filters:
        shown = excerpt(json.dumps(item), 120)
        op = V1_OPERATORS.get(item[0]) if len(item) == 3 else None
        values = item[2] if op else None
        if (
            op is None
            or not isinstance(item[1], str)
            or not isinstance(values, list)
            or not values
            or not all(isinstance(v, str | int) and not isinstance(v, bool) for v in values)
            or any(set(str(v)) & _V1_UNSAFE for v in values)
        ):
            raise QueryError(
                f"filter {shown} has no Stats API v1 form (v1 takes is / is_not with plain "
                "values); this Plausible has no v2 (api_version: v1 or a 404 from /api/v2/query)"
            )
        parts.append(f"{item[1]}{op}{'|'.join(map(str, values))}")
    return ";".join(parts)


def classify(response: httpx.Response, label: str, probe: bool) -> MeasureError | None:
    """Plausible's ``{"error": msg}`` in the error; None falls back to the shared table."""
    status = response.status_code
    if status == 404 and label.endswith(V2):
        if probe:
            return NoV2(f"HTTP 404 from {label}")
        return QueryError(
            f"HTTP 404 from {label}: this Plausible has no Stats API v2; set api_version: v1"
        )
    body = body_json(response)
    message = body.get("error") if isinstance(body, dict) else None
    if status < 400 or not isinstance(message, str) or status >= 500:
        return None
    said = excerpt(message, 240)
    if status == 401:
        return AuthError(f"HTTP 401: credentials rejected ({label}): {said}")
    if status == 402:
        return AuthError(f"HTTP 402: the plan has no Stats API access ({label}): {said}")
    if status == 429 and "retry-after" in response.headers:
        return None  # the shared table: waited out for as long as it says
    if status == 429:
        return QuotaError(
            f"HTTP 429: hourly API limit spent, not retried this sync ({label}): {said}"
        )
    return QueryError(f"HTTP {status} from {label}: {said}")


__all__ = ["V2", "NoV2", "classify", "v1_filters"]
