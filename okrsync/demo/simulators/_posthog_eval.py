"""Values and evaluation for the PostHog simulator's HogQL subset (:mod:`._posthog_hogql`).

An expression is a tuple node: ``("const", v)``, ``("field", name)``, ``("call", name,
[args])``, ``("agg", name, arg, distinct)``, ``("bin", op, l, r)``, ``("cmp", op, l, r)``.
Comparisons follow ClickHouse loosely: a string meets a date by being parsed as one,
NULL compares false. Aggregates over no rows: 0 for count/uniq/sum, NaN for avg
(written as null, as PostHog's orjson renderer does), null for min/max.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

Node = tuple[Any, ...]


COMPARE: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "==": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<>": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    "<=": lambda a, b: a <= b,
    ">": lambda a, b: a > b,
    ">=": lambda a, b: a >= b,
}


class HogQLError(Exception):
    """PostHog's 400 ``validation_error``; ``code`` as in posthog/hogql/errors.py."""

    def __init__(self, message: str, code: str = "hogql_query_error") -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class Event:
    event: str
    timestamp: datetime
    distinct_id: str
    person_id: str
    properties: dict[str, Any] = field(default_factory=dict)


def has_agg(node: Node) -> bool:
    if node[0] == "agg":
        return True
    children = [c for c in node[1:] if isinstance(c, tuple)] + (
        node[2] if node[0] == "call" else []
    )
    return any(has_agg(c) for c in children)


class Evaluator:
    def __init__(self, now: datetime) -> None:
        self.now = now
        self.funcs: dict[str, Callable[..., Any]] = {
            "toDateTime": lambda x, _tz=None: _to_datetime(x),
            "toDate": lambda x: d.date() if (d := _to_datetime(x)) else None,
            "toFloat": lambda x: _number(x) if x is not None else None,
            "now": lambda: self.now,
            "today": lambda: self.now.date(),
        }

    def fold(self, node: Node) -> Node:
        """Evaluate once what depends on no event (``toDateTime({cycle_start})`` …)."""
        kind = node[0]
        if kind in ("const", "field", "agg"):
            return node
        if kind == "call":
            args = [self.fold(a) for a in node[2]]
            folded: Node = ("call", node[1], args)
            if all(a[0] == "const" for a in args):
                return ("const", self.call(node[1], [a[1] for a in args]))
            return folded
        left, right = self.fold(node[2]), self.fold(node[3])
        if kind == "bin" and left[0] == right[0] == "const":
            return ("const", _arith(node[1], left[1], right[1]))
        return (kind, node[1], left, right)

    def value(self, node: Node, e: Event) -> Any:
        kind = node[0]
        if kind == "const":
            return node[1]
        if kind == "field":
            name = node[1]
            if name.startswith("properties."):
                return e.properties.get(name.removeprefix("properties."))
            return getattr(e, name)
        if kind == "bin":
            return _arith(node[1], self.value(node[2], e), self.value(node[3], e))
        if kind == "call":
            return self.call(node[1], [self.value(a, e) for a in node[2]])
        raise HogQLError("aggregate functions are not allowed here")

    def truth(self, node: Node, e: Event) -> bool:
        left, right = _coerce(self.value(node[2], e), self.value(node[3], e))
        if left is None or right is None:
            return False
        try:
            return COMPARE[node[1]](left, right)
        except TypeError:
            raise HogQLError(f"Cannot compare {_kind(left)} with {_kind(right)}") from None

    def over(self, node: Node, rows: list[Event], group: str | None) -> Any:
        kind = node[0]
        if kind == "agg":
            return self.aggregate(node, rows)
        if kind == "bin":
            return _arith(node[1], self.over(node[2], rows, group), self.over(node[3], rows, group))
        if kind == "field" and node[1] != group:
            raise HogQLError(
                f"Column `{node[1]}` is not under aggregate function and not in GROUP BY"
            )
        if kind in ("field", "call") and rows:
            return self.value(node, rows[0])
        return node[1] if kind == "const" else None

    def aggregate(self, node: Node, rows: list[Event]) -> Any:
        _, name, arg, distinct = node
        if arg is None:
            return len(rows)
        seen = [v for e in rows if (v := self.value(arg, e)) is not None]
        if name in ("count", "uniq"):
            return len(set(map(repr, seen))) if distinct else len(seen)
        if distinct:
            raise HogQLError(
                f"{name}(DISTINCT …) is not supported by the okrsync PostHog simulator"
            )
        numbers = [_number(v) for v in seen]
        if name == "sum":
            return math.fsum(numbers)
        if name == "avg":
            return math.fsum(numbers) / len(numbers) if numbers else math.nan
        return (min if name == "min" else max)(numbers) if numbers else None

    def call(self, name: str, args: list[Any]) -> Any:
        if name not in self.funcs:
            raise HogQLError(f"Unsupported function call `{name}(...)`")
        try:
            return self.funcs[name](*args)
        except TypeError:
            raise HogQLError(f"Function '{name}' got the wrong number of arguments") from None


def _to_datetime(value: Any) -> datetime | None:
    if isinstance(value, datetime):
        return value
    if isinstance(value, date):
        return datetime(value.year, value.month, value.day, tzinfo=UTC)
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None  # parseDateTime64BestEffortOrNull
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _coerce(left: Any, right: Any) -> tuple[Any, Any]:
    if isinstance(left, date) or isinstance(right, date):
        if isinstance(left, datetime) or isinstance(right, datetime):
            return _to_datetime(left), _to_datetime(right)
        if isinstance(left, str) or isinstance(right, str):
            a, b = _to_datetime(left), _to_datetime(right)
            return (a.date() if a else None), (b.date() if b else None)
    return left, right


def _arith(op: str, left: Any, right: Any) -> Any:
    if left is None or right is None:
        return None
    if isinstance(left, date | datetime) and isinstance(right, timedelta) and op in "+-":
        return left + right if op == "+" else left - right
    if isinstance(left, str) or isinstance(right, str):
        raise HogQLError(f"Illegal types of arguments ({_kind(left)}, {_kind(right)}) for '{op}'")
    a, b = _number(left), _number(right)
    if op == "/":
        return a / b if b else math.nan
    return a + b if op == "+" else a - b if op == "-" else a * b


def _number(value: Any) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    try:
        return float(value)
    except (TypeError, ValueError):
        raise HogQLError(f"Cannot convert {_kind(value)} to a number") from None


def _kind(value: Any) -> str:
    return {str: "String", int: "Int64", float: "Float64"}.get(type(value), type(value).__name__)


def type_of(node: Node, column: list[Any]) -> str:
    if node[0] == "agg":
        return "UInt64" if node[1] in ("count", "uniq") else "Float64"
    sample = next((v for v in column if v is not None), None)
    if isinstance(sample, datetime):
        return "DateTime64(6, 'UTC')"
    if isinstance(sample, date):
        return "Date"
    return _kind(sample) if sample is not None else "Nullable(Nothing)"


def to_json(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return None  # orjson writes NaN and Inf as null
    if isinstance(value, date | datetime):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    return value


__all__ = [
    "COMPARE",
    "Evaluator",
    "Event",
    "HogQLError",
    "Node",
    "has_agg",
    "to_json",
    "type_of",
]
