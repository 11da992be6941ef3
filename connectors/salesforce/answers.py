"""Reading one number out of a Salesforce answer, for :mod:`connectors.salesforce.connector`.

Query pages (``totalSize``, ``records``), aggregate rows (an alias, or ``exprN``),
record fields (``Account.Name``, case ignored as SOQL does) and report grand totals
(``factMap["T!T"]``, by aggregate key or label), Composite Batch results. :func:`query_value` and
:func:`report_value` return the value and a short JSON excerpt for ``raw``; a missing,
null or non-numeric value is a :class:`~okrsync.errors.SourceDataError` naming what was
there instead (but a SUM or COUNT column that is null over no rows is 0).
"""

from __future__ import annotations

import json
import re
from typing import Any

from connectors.salesforce.errors import Expired, error_for, first_error
from okrsync.errors import MeasureError, SourceDataError, excerpt


def records_of(page: Any) -> list[Any]:
    records = page.get("records") if isinstance(page, dict) else None
    if not isinstance(records, list):
        raise SourceDataError("the query answer has no records list")
    return records


def lookup(row: Any, path: str) -> Any:
    """``path`` (``total``, ``Account.Name``) in a record, ignoring case as SOQL does."""
    node = row
    for part in path.split("."):
        key = (
            next((k for k in node if k.lower() == part.lower()), None)
            if isinstance(node, dict)
            else None
        )
        if key is None:
            keys = ", ".join(k for k in row if k != "attributes") if isinstance(row, dict) else ""
            raise SourceDataError(f"no {path!r} in the row; available: {keys or 'nothing'}")
        node = node[key]
    return node


def number(found: Any, name: str) -> float | bool:
    if isinstance(found, bool):
        return found
    if isinstance(found, int | float):
        return float(found)
    if isinstance(found, str):
        try:
            return float(found)
        except ValueError:
            pass
    raise SourceDataError(f"{name!r} is {excerpt(json.dumps(found), 80)}, not a number")


def sum_like(soql: str, key: str) -> bool:
    """Is ``key`` a SUM/COUNT column (``total`` or unaliased ``exprN``) of ``soql``?"""
    m = re.match(r"\s*SELECT\s+(.*?)\s+FROM\s", soql, re.I | re.S)
    items = re.split(r",(?![^(]*\))", m.group(1)) if m else []
    unnamed = 0
    for item in items:
        agg = re.fullmatch(r"\s*(\w+)\s*\([^)]*\)\s*(\w+)?\s*", item)
        if agg is None:
            continue
        alias = agg.group(2) or f"expr{unnamed}"
        unnamed += agg.group(2) is None
        if alias.lower() == key.lower():
            return agg.group(1).upper() in ("SUM", "COUNT", "COUNT_DISTINCT")
    return False


def query_value(data: Any, key: str, soql: str) -> tuple[float | bool, str]:
    """COUNT() → totalSize; otherwise ``key`` of the single (aggregate) row."""
    if not isinstance(data, dict):
        raise SourceDataError("the query answer is not a JSON object")
    if key == "totalSize":
        total = data.get("totalSize")
        if not isinstance(total, int):
            raise SourceDataError("the query answer has no totalSize")
        return float(total), json.dumps({"totalSize": total, "done": data.get("done")})
    records = records_of(data)
    if len(records) != 1:
        raise SourceDataError(
            f"the query returned {len(records)} rows; {key!r} needs exactly one "
            "(an aggregate without GROUP BY; totalSize for SELECT COUNT())"
        )
    row = {k: v for k, v in records[0].items() if k != "attributes"}
    shown = json.dumps({"totalSize": data.get("totalSize"), "records": [row]})
    found = lookup(row, key)
    if found is None:
        if sum_like(soql, key):  # SUM over no rows is null
            return 0.0, shown
        raise SourceDataError(f"{key!r} is null")
    return number(found, key), shown


def report_value(data: Any, wanted: str) -> tuple[float, str]:
    """The grand total (``factMap["T!T"]``) of the aggregate named by key or label."""
    try:
        keys = [str(k) for k in data["reportMetadata"]["aggregates"]]
        cells = list(data["factMap"]["T!T"]["aggregates"])
    except (KeyError, TypeError):
        raise SourceDataError("the report answer has no grand total (factMap T!T)") from None
    info = (data.get("reportExtendedMetadata") or {}).get("aggregateColumnInfo") or {}
    labels = {k: str((info.get(k) or {}).get("label", k)) for k in keys}
    index = next(
        (
            i
            for i, k in enumerate(keys)
            if wanted in (k, labels[k]) or wanted.lower() == labels[k].lower()
        ),
        None,
    )
    if index is None or index >= len(cells) or not isinstance(cells[index], dict):
        shown = ", ".join(f"{k} ({labels[k]})" for k in keys)
        raise SourceDataError(f"the report has no aggregate {wanted!r}; available: {shown}")
    value = cells[index].get("value")
    totals = {k: c.get("value") for k, c in zip(keys, cells, strict=False) if isinstance(c, dict)}
    shown = json.dumps({"factMap": {"T!T": totals}})
    if value is None:
        raise SourceDataError(f"the report's {keys[index]} total is null")
    return float(number(value, keys[index])), shown


def batch_results(data: Any, size: int) -> list[Any]:
    """The ``results`` of a Composite Batch answer, one per subrequest.

    An INVALID_SESSION_ID among them raises Expired: the batch goes again after a new login.
    """
    subs = data.get("results") if isinstance(data, dict) else None
    if not isinstance(subs, list) or len(subs) != size:
        raise SourceDataError(
            f"composite/batch gave no result per request: {excerpt(json.dumps(data), 200)}"
        )
    if any(
        first_error(s.get("result"))[0] == "INVALID_SESSION_ID" for s in subs if isinstance(s, dict)
    ):
        raise Expired
    return subs


def subresult_value(sub: Any, key: str, soql: str) -> tuple[float | bool, str] | MeasureError:
    """One subresult as :func:`query_value` reads it, or its error by the failure table."""
    status = sub.get("statusCode") if isinstance(sub, dict) else None
    result = sub.get("result") if isinstance(sub, dict) else None
    if status == 200:
        try:
            return query_value(result, key, soql)
        except MeasureError as exc:
            return exc
    code, message = first_error(result)
    return error_for(status if isinstance(status, int) else 500, code, message, None)
