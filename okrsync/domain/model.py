"""Pydantic models of the mapping files ops edit (SPEC §2).

Files are versioned (``version: 1``) and every model forbids unknown keys. A
key result's ``source`` is kept as a plain mapping here and validated by its
connector's own model in :mod:`okrsync.config.loader`, once the connection's type is
known, so each connector owns its query fields.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any, Literal

from pydantic import (
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    PositiveFloat,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)

from okrsync.domain.cycle import Cycle
from okrsync.domain.frozen_model import Frozen
from okrsync.domain.units import format_duration, parse_clock, parse_duration

ID_PATTERN = r"^[a-z0-9][a-z0-9._-]*$"

Id = Annotated[
    str,
    Field(pattern=ID_PATTERN, max_length=100, description="lowercase letters, digits, . _ -"),
]


def _number(value: Any) -> Any:
    """Accept clock notation for durations: ``2:37`` → 157 seconds."""
    if isinstance(value, str) and (seconds := parse_clock(value)) is not None:
        return seconds
    return value


Number = Annotated[
    float,
    BeforeValidator(_number),
    WithJsonSchema(
        {"anyOf": [{"type": "number"}, {"type": "string", "pattern": r"^\d+:[0-5]\d(:[0-5]\d)?$"}]}
    ),
]

Duration = Annotated[
    timedelta,
    BeforeValidator(parse_duration),
    PlainSerializer(format_duration, return_type=str),
    WithJsonSchema(
        {"type": "string", "pattern": r"^\d+(\.\d+)?(ms|s|m|h|d|w)$", "examples": ["15m", "1h"]}
    ),
]

MaxChange = Annotated[
    float | str,
    Field(
        description="Largest accepted jump from the last good value: a number, or a percentage like '20%'.",
        union_mode="left_to_right",
    ),
]


class Initiative(Frozen):
    """Work that should move a key result: an issue, epic or project in a tracker.

    ``{connection: NAME, issue: KEY}``, or the shorthand ``<type>: KEY`` (such
    as ``jira: PROD-101``) when exactly one connection has that type; the
    shorthand is read as ``{type: jira, issue: PROD-101}``.
    """

    model_config = ConfigDict(
        extra="forbid",
        frozen=True,
        json_schema_extra={
            "additionalProperties": {
                "type": "string",
                "description": "<connection type>: KEY, e.g. jira: PROD-101",
            }
        },
    )

    connection: str | None = None
    type: str | None = Field(default=None, description="A connection type with one connection.")
    issue: str | None = None
    title: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, data: Any) -> Any:
        if isinstance(data, dict) and not {"connection", "type", "issue"} & data.keys():
            extra = [k for k in data if k not in cls.model_fields]
            if len(extra) == 1:
                rest = {k: v for k, v in data.items() if k != extra[0]}
                return {**rest, "type": extra[0], "issue": data[extra[0]]}
        return data

    @model_validator(mode="after")
    def _one_form(self) -> Initiative:
        if self.issue is None or (self.connection is None) == (self.type is None):
            raise ValueError(
                "an initiative is {connection: NAME, issue: KEY} or <type>: KEY (jira: KEY)"
            )
        return self

    @property
    def key(self) -> str:
        return self.issue or ""


KrType = Literal["increase", "decrease", "maintain", "milestone"]


class KeyResult(Frozen):
    """How we know an objective is met: from ``start`` to ``target`` by cycle end."""

    id: Id
    title: str = Field(min_length=1)
    owner: str | None = None
    type: KrType | None = Field(
        default=None,
        description="increase/decrease are derived from start and target when left out.",
    )
    start: Number | None = None
    target: Number | None = None
    unit: str | None = Field(
        default=None, description="USD, %, duration (seconds, shown m:ss), users …"
    )
    direction: Literal["at_least", "at_most"] | None = Field(
        default=None, description="maintain only: which side of target is good (default at_least)."
    )
    weight: PositiveFloat = 1.0
    source: dict[str, Any] | None = Field(
        default=None,
        description="Where the value comes from; its keys depend on the connection's type.",
    )
    refresh: Duration = Field(default=timedelta(hours=1), description="How often to measure.")
    stale_after: Duration | None = Field(
        default=None,
        description="No good value for this long marks the KR stale (default 3 × refresh).",
    )
    settle: Duration | None = Field(
        default=None,
        description="Measure as of this long ago, for numbers that arrive late (1d, 6h).",
    )
    min: float | None = Field(default=None, description="Values below are held for review.")
    max: float | None = Field(default=None, description="Values above are held for review.")
    max_change: MaxChange | None = None
    initiatives: list[Initiative] = Field(default_factory=list)
    push: dict[str, Annotated[str, StringConstraints(min_length=1)]] = Field(
        default_factory=dict,
        description="Where the value goes: destination name → that tool's id of this key result.",
    )

    @model_validator(mode="after")
    def _consistent(self) -> KeyResult:
        kind = self.type
        if kind in (None, "increase", "decrease"):
            if self.start is None or self.target is None:
                raise ValueError("an increase/decrease key result needs both start and target")
            if self.start == self.target:
                raise ValueError(
                    f"start equals target ({self.start:g}): progress would be undefined; "
                    "for a value that must hold, use type: maintain with a target"
                )
            derived = "increase" if self.target > self.start else "decrease"
            if kind is not None and kind != derived:
                raise ValueError(
                    f"type is {kind} but target {self.target:g} is "
                    f"{'above' if derived == 'increase' else 'below'} start {self.start:g}"
                )
            object.__setattr__(self, "type", derived)
        elif kind == "maintain":
            if self.target is None:
                raise ValueError("a maintain key result needs target (the threshold)")
            if self.start is not None:
                raise ValueError("a maintain key result has no start")
            if self.direction is None:
                object.__setattr__(self, "direction", "at_least")
        elif kind == "milestone" and (self.start is not None or self.target is not None):
            raise ValueError("a milestone key result has no start or target")
        if self.direction is not None and self.type != "maintain":
            raise ValueError("direction is only for maintain key results")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min {self.min:g} is above max {self.max:g}")
        if isinstance(self.max_change, str):
            _parse_percent(self.max_change)
        return self

    @property
    def kind(self) -> KrType:
        assert self.type is not None  # set by the validator
        return self.type

    @property
    def freshness(self) -> timedelta:
        return self.stale_after or self.refresh * 3


def _parse_percent(text: str) -> float:
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*%\s*", text)
    if not m:
        raise ValueError(f"max_change {text!r}: write a number or a percentage like '20%'")
    return float(m[1]) / 100


def max_change_allows(kr: KeyResult, last: float | None, value: float) -> bool:
    """False when ``value`` jumps further from ``last`` than ``max_change`` allows."""
    if kr.max_change is None or last is None:
        return True
    if isinstance(kr.max_change, str):
        limit = abs(last) * _parse_percent(kr.max_change)
    else:
        limit = abs(kr.max_change)
    return abs(value - last) <= limit


class Objective(Frozen):
    """The qualitative "what", with the key results that say how we know."""

    id: Id
    title: str = Field(min_length=1)
    owner: str | None = None
    level: Literal["company", "team", "personal"] = "team"
    team: str | None = None
    parent: str | None = Field(
        default=None, description="Id of the objective or key result one level up."
    )
    kind: Literal["committed", "aspirational"] = "committed"
    cycle: Cycle | None = Field(default=None, description="Overrides the file's cycle.")
    weight: PositiveFloat = Field(default=1.0, description="Weight when rolled up into its parent.")
    rollup: Literal["key_results", "children"] = Field(
        default="key_results", description="children: progress includes aligned child objectives."
    )
    key_results: list[KeyResult] = Field(default_factory=list)


class MappingFile(Frozen):
    """One ``*.yaml`` file under the mappings directory."""

    version: Literal[1] = 1
    cycle: Cycle
    objectives: list[Objective] = Field(default_factory=list)


class ConnectionsFile(Frozen):
    """``connections.yaml``: named connections; each entry is checked by its connector."""

    version: Literal[1] = 1
    connections: dict[str, dict[str, Any]] = Field(default_factory=dict)
    destinations: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="OKR tools that receive key-result values."
    )
    channels: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Where check-in digests and alerts go."
    )


__all__ = [
    "ConnectionsFile",
    "Initiative",
    "KeyResult",
    "KrType",
    "MappingFile",
    "Objective",
    "max_change_allows",
]
