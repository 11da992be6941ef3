"""The exception tree, and how a failure is classified.

    OkrsyncError
    ├── ConfigError          mapping/connection files are wrong; sync exits 2
    │                        (carries a list of Problem, each with file:line:col)
    ├── StoreError           the store is unreachable or its schema is too new
    └── MeasureError         one source failed for one query; only its key
        │                    results are marked ``error``
        ├── TransientError   worth retrying: timeouts, resets, 429, 5xx
        ├── AuthError        401/403: credentials are wrong or lack permission
        ├── QuotaError       a daily allowance is spent: retrying now only wastes calls
        ├── ThrottledError   never sent: okrsync's own budget of the quota has no room
        ├── QueryError       the source rejected the query (bad JQL/SOQL/path)
        └── SourceDataError  the answer came back but holds no usable number

Every ``MeasureError`` has a ``kind`` (stored with the measurement) and a
message that never carries a secret or a whole response body: connectors pass
an excerpt through :func:`excerpt`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ErrorKind = Literal[
    "transient", "auth", "quota", "throttled", "query", "source_data", "config", "internal"
]

EXCERPT_LIMIT = 300


def excerpt(text: str, limit: int = EXCERPT_LIMIT) -> str:
    """Shorten a response body for messages and the store."""
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


class OkrsyncError(Exception):
    """Base of every error okrsync raises on purpose."""


@dataclass(frozen=True)
class Problem:
    """One finding in the configuration, located in its file."""

    file: str
    line: int | None
    column: int | None
    field: str
    message: str
    severity: Literal["error", "warning"] = "error"

    def __str__(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        field = f" {self.field}:" if self.field else ""
        return f"{where}: {self.severity}:{field} {self.message}"


class ConfigError(OkrsyncError):
    """The configuration cannot be used; ``problems`` lists every error found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


class StoreError(OkrsyncError):
    """The store cannot be opened or written."""


class MeasureError(OkrsyncError):
    """A source could not give a value for a query."""

    kind: ErrorKind = "internal"
    # Vendor calls spent before it failed (the retry policy counts its tries);
    # None: not counted, taken as the one call that failed.
    calls: int | None = None


class TransientError(MeasureError):
    """A failure that may pass: retried with backoff, honouring Retry-After."""

    kind: ErrorKind = "transient"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class AuthError(MeasureError):
    kind: ErrorKind = "auth"


class QuotaError(MeasureError):
    """The vendor's allowance for the day is used up; the next run tries again."""

    kind: ErrorKind = "quota"


class ThrottledError(MeasureError):
    """Not sent: the budget of its vendor's quota has no room now (SPEC §8); nothing failed."""

    kind: ErrorKind = "throttled"
    calls = 0


class QueryError(MeasureError):
    kind: ErrorKind = "query"


class SourceDataError(MeasureError):
    kind: ErrorKind = "source_data"


__all__ = [
    "AuthError",
    "ConfigError",
    "ErrorKind",
    "MeasureError",
    "OkrsyncError",
    "Problem",
    "QueryError",
    "QuotaError",
    "SourceDataError",
    "StoreError",
    "TransientError",
    "excerpt",
]
