"""The ``jira`` client calls of :mod:`connectors.jira.connector`, and what they count and read.

Each call runs on one of the connection's pool threads and takes the client as its
first argument; a ``requests`` response hook counts the HTTP requests of the
measurement in progress on that thread (:data:`LOCAL`). The readers check the
reply's shape: a wrong one is a :class:`~okrsync.errors.SourceDataError`, never a
guess.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from okrsync.errors import QueryError, SourceDataError, excerpt

if TYPE_CHECKING:
    from jira import JIRA

Json = dict[str, Any]


@dataclass
class Calls:
    count: int = 0  # HTTP requests for one measurement, retries and failed sends included


class _Local(threading.local):
    calls: Calls | None = None


LOCAL = _Local()


def count_response(response: Any, **_: Any) -> None:  # a requests response hook
    if LOCAL.calls is not None:
        LOCAL.calls.count += 1


def search_page(
    client: JIRA, *, jql: str, cursor: str | int | None, size: int, fields: Sequence[str] = ()
) -> Json:
    """One search page; an int cursor is Data Center's startAt, else Cloud's nextPageToken.

    Several fields go as one comma list (one query parameter); none asks Cloud for ids only.
    """
    wanted = [",".join(fields)] if fields else []
    if isinstance(cursor, int):  # "id" is no field: Data Center sends no fields
        found = client.search_issues(
            jql, startAt=cursor, maxResults=size, fields=wanted or ["id"], json_result=True
        )
    else:
        found = client.enhanced_search_issues(
            jql, nextPageToken=cursor, maxResults=size, fields=wanted, json_result=True
        )
    return as_object(found, "search")


def approximate_count(client: JIRA, *, jql: str) -> int:
    count = client.approximate_issue_count(jql)
    if not isinstance(count, int) or isinstance(count, bool):
        raise SourceDataError("Jira approximate-count reply has no count")
    return count


def get_issue(client: JIRA, *, key: str, fields: str) -> Json:
    return as_object(client.issue(key, fields=fields).raw, f"issue {key}")


def load_fields(client: JIRA) -> list[Json]:
    fields = client.fields()
    if not isinstance(fields, list):
        raise SourceDataError("Jira field reply is not a list")
    found = [f for f in fields if isinstance(f, dict) and "id" in f]
    # The client maps JQL clause names from this same list before its first search:
    # hand it over rather than let it send the identical GET field again.
    client._fields_cache_value = {c: f["id"] for f in found for c in f.get("clauseNames") or []}
    return found


def numeric_field(fields: list[Json], name: str) -> str:
    """A field's id from its id, name or JQL clause name; it must hold numbers."""
    low = name.strip().lower()
    same = [f for f in fields if f["id"] == name.strip()] or [
        f
        for f in fields
        if low in {str(n).lower() for n in [f.get("name"), *f.get("clauseNames", [])]}
    ]
    numeric = [f for f in same if (f.get("schema") or {}).get("type") == "number"]
    if not same:
        raise QueryError(f"no Jira field named {name!r}")
    if not numeric:
        raise QueryError(f"Jira field {name!r} ({same[0]['id']}) does not hold numbers")
    if len(numeric) > 1:
        ids = ", ".join(str(f["id"]) for f in numeric)
        raise QueryError(f"several Jira fields are named {name!r} ({ids}); give field: <id>")
    return str(numeric[0]["id"])


def as_object(data: Any, what: str) -> Json:
    if not isinstance(data, dict):
        raise SourceDataError(f"Jira {what} reply is not a JSON object")
    return data


def is_done(issue: Json) -> bool:
    fields = issue.get("fields") or {}
    if "status" not in fields:
        raise SourceDataError(f"Jira sent {issue.get('key')} without its status")
    category = ((fields.get("status") or {}).get("statusCategory") or {}).get("key")
    return fields.get("resolution") is not None or category == "done"


def issue_line(issue: Json) -> str:
    fields = issue.get("fields") or {}
    status = (fields.get("status") or {}).get("name")
    resolution = (fields.get("resolution") or {}).get("name", "unresolved")
    return excerpt(f"{issue.get('key')} {fields.get('summary')!r}: {status}, {resolution}")
