"""How :mod:`connectors.prometheus.connector` reads Prometheus's answers (``/api/v1/query``).

Success (``{"status": "success", "data": {"resultType", "result"}}``):

    =========================  ===============================================
    ``scalar`` ``[ts, "v"]``   the value
    ``vector``, one sample     its value (labels ignored)
    ``vector``, empty          SourceDataError "no data: the query matched no series"
    ``vector``, 2+ series      SourceDataError listing the first label sets
    ``matrix`` / ``string``    SourceDataError: not an instant number
    ``"NaN"``/``"+Inf"``       SourceDataError: not a finite number
    native histogram sample    SourceDataError: use histogram_quantile() & co
    =========================  ===============================================

Errors (``{"status": "error", "errorType", "error"}``; status codes from
Prometheus's ``web/api/v1/api.go`` ``respondError``):

    =========================================  ================================
    ``bad_data`` 400, ``execution`` 422,       QueryError with Prometheus's text
    ``not_found`` 404, ``not_acceptable`` 406
    ``timeout`` 503, ``unavailable`` 503,      TransientError (retried), with
    ``canceled`` 499, ``internal`` 500         Prometheus's text
    401/403 (web config or a proxy, text)      AuthError naming the auth used
    anything else                              :mod:`okrsync.sdk.http`'s table
    =========================================  ================================
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

import httpx

from okrsync.errors import (
    EXCERPT_LIMIT,
    AuthError,
    MeasureError,
    QueryError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.sdk.http import body_json, retry_after

TRANSIENT_TYPES = frozenset({"timeout", "unavailable", "canceled", "internal"})
SHOWN_SERIES = 3
_SERIES_LIST = re.compile(r"\[\{[^\[\]]*\}\]")  # [{a="1"}, {a="2"}] in execution errors


def classify(response: httpx.Response, label: str, auth: str) -> MeasureError | None:
    """The error table above; ``auth`` says which credentials were sent (never their value)."""
    status = response.status_code
    if 200 <= status < 300:
        return None
    body = body_json(response)
    if status in (401, 403):
        said = excerpt(response.text, 120)
        tail = f": {said}" if said else ""
        return AuthError(f"HTTP {status}: Prometheus rejected {auth} ({label}){tail}")
    if not isinstance(body, dict) or body.get("status") != "error":
        return None  # a proxy's page, not Prometheus: the shared table decides
    kind = str(body.get("errorType") or "error")
    text = f"Prometheus {kind}: {_said(str(body.get('error', '')))} (HTTP {status} from {label})"
    if kind == "timeout" and "queue" not in str(body.get("error", "")):
        # It ran out of query_timeout evaluating: it will again. Waiting in a full
        # query queue ("query timed out in query queue") is the kind that passes.
        return QueryError(f"{text}; simplify the query or raise query_timeout")
    if kind in TRANSIENT_TYPES or status >= 500 or status in (408, 425, 429):
        return TransientError(text, retry_after=retry_after(response))
    return QueryError(text)


def _said(error: str) -> str:
    """Prometheus's message, its lists of series elided when long so the reason survives."""
    if len(error) > EXCERPT_LIMIT:
        error = _SERIES_LIST.sub("[…]", error)
    return excerpt(error)


def to_value(body: Any, when: str) -> float:
    """The one finite number in a successful answer; ``when`` names the evaluation time."""
    if not isinstance(body, dict) or body.get("status") != "success":
        raise SourceDataError(f"not a Prometheus query answer: {excerpt(json.dumps(body), 120)}")
    data = body.get("data")
    if not isinstance(data, dict):
        data = {}
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        return _number(result, "scalar")
    if kind == "vector" and isinstance(result, list):
        if not result:
            raise SourceDataError(f"no data: the query matched no series at {when}")
        if len(result) > 1:
            shown = excerpt(", ".join(series_name(s) for s in result[:SHOWN_SERIES]), 240)
            more = ", …" if len(result) > SHOWN_SERIES else ""
            raise SourceDataError(
                f"the query returned {len(result)} series, expected one: {shown}{more}; "
                "aggregate them (e.g. sum(…)) or narrow the label matchers"
            )
        sample = result[0] if isinstance(result[0], dict) else {}
        if "histogram" in sample:
            raise SourceDataError(
                f"{series_name(sample)} is a native histogram, not a number: "
                "use histogram_quantile(), histogram_count() or histogram_sum()"
            )
        return _number(sample.get("value"), series_name(sample))
    if kind == "matrix":
        raise SourceDataError(
            "the query returned a range vector (matrix), not an instant value: "
            "wrap the range in a function, e.g. avg_over_time(up[30d]) rather than up[30d]"
        )
    if kind == "string":
        text = result[1] if isinstance(result, list) and len(result) == 2 else result
        raise SourceDataError(f"the query returned a string, not a number: {_shown(text)}")
    raise SourceDataError(f"unexpected resultType {kind!r}: {excerpt(json.dumps(data), 120)}")


def _number(sample: Any, what: str) -> float:
    if not (isinstance(sample, list) and len(sample) == 2 and isinstance(sample[1], str)):
        raise SourceDataError(f"{what}: malformed sample {_shown(sample)}")
    try:
        number = float(sample[1])
    except ValueError:
        raise SourceDataError(f"{what} gave {_shown(sample[1])}, not a number") from None
    if not math.isfinite(number):
        raise SourceDataError(
            f"{what} gave {sample[1]}, not a finite number (a division by zero, or a ratio "
            "over a window without samples?)"
        )
    return number


def series_name(sample: Any) -> str:
    """``name{label="value",…}`` as PromQL writes a series; ``{}`` for no labels."""
    labels = sample.get("metric") if isinstance(sample, dict) else None
    if not isinstance(labels, Mapping):
        return "{}"
    name = str(labels.get("__name__", ""))
    pairs = ",".join(f"{k}={json.dumps(str(v))}" for k, v in labels.items() if k != "__name__")
    return f"{name}{{{pairs}}}"


def raw_excerpt(body: Any, raw: str) -> str:
    """The answer for ``Reading.raw``: warnings and infos first, so shortening keeps them."""
    if not isinstance(body, dict) or not (body.get("warnings") or body.get("infos")):
        return raw
    first = {k: body[k] for k in ("warnings", "infos") if body.get(k)}
    return excerpt(json.dumps({**first, **body}))


def _shown(value: Any) -> str:
    return excerpt(json.dumps(value), 80)


__all__ = ["classify", "raw_excerpt", "series_name", "to_value"]
