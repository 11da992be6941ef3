"""The records a sync produces: one per measurement, per run, per initiative, and each KR's state.

The sync stages build them, the store writes and reads them back, status and
publishers read them; so they belong to none of those but to the domain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

MeasurementStatus = Literal["ok", "error", "held"]
RunStatus = Literal["ok", "partial", "failed"]


def check_aware(name: str, value: datetime | None) -> None:
    if value is not None and value.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware, got naive {value.isoformat()}")


@dataclass(frozen=True)
class MeasurementRecord:
    """One attempt to measure one KR; ``value`` is the held value for ``held``."""

    kr_id: str
    measured_at: datetime
    status: MeasurementStatus
    value: float | None = None
    error_kind: str | None = None
    error: str | None = None
    connection: str | None = None
    query: str | None = None
    raw: str | None = None
    duration_ms: float = 0.0
    calls: int = 0
    run_id: int | None = None
    as_of: datetime | None = (
        None  # the instant the value describes (settle, backfill); None: measured_at
    )
    backfilled: bool = False  # stored by okrsync backfill, not by a sync

    def __post_init__(self) -> None:
        check_aware("measured_at", self.measured_at)
        check_aware("as_of", self.as_of)
        if self.status not in ("ok", "error", "held"):
            raise ValueError(f"status must be ok, error or held, not {self.status!r}")
        # SQLite would silently store NaN as NULL, turning a value into "no value".
        if self.status != "error" and (self.value is None or not math.isfinite(self.value)):
            raise ValueError(f"a {self.status} measurement needs a finite value, got {self.value}")


@dataclass(frozen=True)
class RunRecord:
    """One sync (or demo) run; ``summary`` is free-form JSON for reports."""

    started_at: datetime
    finished_at: datetime
    status: RunStatus
    trigger: str = "sync"
    summary: dict[str, Any] = field(default_factory=dict)
    id: int | None = None

    def __post_init__(self) -> None:
        check_aware("started_at", self.started_at)
        check_aware("finished_at", self.finished_at)
        if self.status not in ("ok", "partial", "failed"):
            raise ValueError(f"status must be ok, partial or failed, not {self.status!r}")


@dataclass(frozen=True)
class KrState:
    """What we know of a KR now: the last good value and how the last attempt went."""

    kr_id: str
    value: float | None
    measured_at: datetime | None
    last_attempt_at: datetime | None
    last_status: MeasurementStatus | None
    last_error_kind: str | None
    last_error: str | None
    held_value: float | None
    held_at: datetime | None
    last_run_id: int | None
    connection: str | None
    query: str | None
    held_reason: str | None = None  # why the held value was held
    as_of: datetime | None = None  # the instant the good value describes (None: measured_at)
    throttled_reason: str | None = None  # why the last run did not measure it (SPEC §8)
    throttled_at: datetime | None = None
    throttled_refresh: float | None = None  # seconds: the refresh its quota allows, if known


@dataclass(frozen=True)
class InitiativeRecord:
    kr_id: str
    issue: str
    connection: str
    checked_at: datetime
    title: str | None = None
    done: int | None = None
    total: int | None = None
    status: str | None = None
    measured_at: datetime | None = None  # set by a good reading
    error: str | None = None

    def __post_init__(self) -> None:
        check_aware("checked_at", self.checked_at)
        check_aware("measured_at", self.measured_at)

    @property
    def completion(self) -> float | None:
        if self.done is None or not self.total:
            return None
        return self.done / self.total


PushOutcome = Literal["ok", "error"]


@dataclass(frozen=True)
class PushRecord:
    """One attempt to push one key result's value into one destination item."""

    destination: str
    item: str
    kr_id: str
    value: float
    measured_at: datetime  # of the value pushed
    attempted_at: datetime
    outcome: PushOutcome
    run_id: int | None = None
    error_kind: str | None = None
    error: str | None = None
    receipt: str | None = None  # the tool's short answer
    calls: int = 1

    def __post_init__(self) -> None:
        check_aware("measured_at", self.measured_at)
        check_aware("attempted_at", self.attempted_at)
        if self.outcome not in ("ok", "error"):
            raise ValueError(f"outcome must be ok or error, not {self.outcome!r}")


@dataclass(frozen=True)
class Accepted:
    """The last value a destination item accepted: a push happens only when it differs."""

    destination: str
    item: str
    kr_id: str
    value: float
    measured_at: datetime
    accepted_at: datetime


__all__ = [
    "Accepted",
    "InitiativeRecord",
    "KrState",
    "MeasurementRecord",
    "MeasurementStatus",
    "PushOutcome",
    "PushRecord",
    "RunRecord",
    "RunStatus",
    "check_aware",
]
