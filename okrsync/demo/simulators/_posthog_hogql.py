"""A tiny HogQL subset for the PostHog simulator: enough for one-number queries.

    SELECT item [, item …] FROM events [WHERE cond [AND cond …]] [GROUP BY field] [LIMIT n]
    item   expr [AS name]
    expr   term [(+ | - | * | /) term …]; term: number, 'string', {placeholder}, field,
           (expr), INTERVAL n DAY|HOUR|MINUTE|SECOND|WEEK, function(args)
    cond   expr (= | == | != | <> | < | <= | > | >=) expr
    field  event, timestamp, distinct_id, person_id, properties.<name>
    funcs  toDateTime, toDate, toFloat, now, today; aggregates count() count(*)
           count([DISTINCT] x) uniq sum avg min max

``{name}`` placeholders become the constants of ``values`` as PostHog's parser does
(``parse_select(placeholders=…)``), with PostHog's messages for a missing one.
Anything outside the subset raises :class:`HogQLError`, answered with PostHog's 400
error shape: never a made-up number. The project's time zone is UTC. Aggregates over
no rows give ClickHouse's answers: 0 for count/uniq/sum, NaN for avg (which PostHog's
JSON renderer writes as null), null for min/max.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from okrsync.demo.simulators._posthog_eval import (
    COMPARE,
    Evaluator,
    Event,
    HogQLError,
    Node,
    has_agg,
    to_json,
    type_of,
)

AGGREGATES = ("count", "uniq", "sum", "avg", "min", "max")
FUNCTIONS = ("toDateTime", "toDate", "toFloat", "now", "today")
FIELDS = ("event", "timestamp", "distinct_id", "person_id")
TABLES = ("persons", "sessions", "groups", "cohort_people", "person_distinct_ids")
KEYWORDS = ("select", "from", "where", "group", "by", "limit", "and", "or", "as", "order")
UNITS = {"second": 1, "minute": 60, "hour": 3600, "day": 86400, "week": 604800}
_TOKEN = re.compile(
    r"(?P<ws>\s+|--[^\n]*)|(?P<str>'(?:[^'\\]|\\.)*')|(?P<num>\d+(?:\.\d+)?)"
    r"|(?P<ph>\{[^{}]*\})|(?P<name>[A-Za-z_$][\w$]*(?:\.[A-Za-z_$][\w$]*)*)"
    r"|(?P<op>>=|<=|!=|<>|==|[=<>+\-*/(),;])"
)
_IDENT = re.compile(r"\s*([A-Za-z_][A-Za-z0-9_]*)\s*")


@dataclass(frozen=True)
class Answer:
    columns: list[str]
    types: list[list[str]]
    results: list[list[Any]]
    has_more: bool
    limit: int


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    value: Any
    start: int
    end: int


def _tokens(query: str, values: Mapping[str, Any] | None) -> list[_Token]:
    out, pos = [], 0
    while pos < len(query):
        match = _TOKEN.match(query, pos)
        if match is None:
            raise HogQLError(_syntax(query, pos, query[pos]), "hogql_syntax_error")
        kind, text = match.lastgroup or "", match.group()
        pos = match.end()
        if kind == "ws":
            continue
        value: Any = text
        if kind == "str":
            value = re.sub(r"\\(.)", r"\1", text[1:-1])
        elif kind == "num":
            value = float(text) if "." in text else int(text)
        elif kind == "ph":
            kind, value = "const", _placeholder(text, values)
        out.append(_Token(kind, text, value, match.start(), match.end()))
    return out


def _placeholder(text: str, values: Mapping[str, Any] | None) -> Any:
    name = _IDENT.fullmatch(text[1:-1])
    if name is None:
        raise HogQLError(f"Placeholder expression {text} is not supported by the simulator")
    key = name.group(1)
    if not values:
        raise HogQLError(f"Unresolved placeholder: {{{key}}}")
    if key not in values:
        known = ", ".join(values)
        raise HogQLError(
            f"Placeholder {{{key}}} is not available in this context. "
            f"You can use the following: {known}"
        )
    return values[key]


def _syntax(query: str, pos: int, near: str) -> str:
    line = query.count("\n", 0, pos) + 1
    column = pos - (query.rfind("\n", 0, pos) + 1)
    return f"Syntax error at line {line}, column {column}: no viable alternative at input '{near}'"


class _Parser:
    def __init__(self, query: str, tokens: list[_Token]) -> None:
        self.query, self.tokens, self.i = query, tokens, 0

    def peek(self, offset: int = 0) -> _Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def word(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "name" and tok.text.lower() in words:
            self.i += 1
            return True
        return False

    def op(self, *ops: str) -> str | None:
        tok = self.peek()
        if tok is not None and tok.kind == "op" and tok.text in ops:
            self.i += 1
            return tok.text
        return None

    def fail(self) -> HogQLError:
        tok = self.peek()
        if tok is None:
            return HogQLError(_syntax(self.query, len(self.query), "<EOF>"), "hogql_syntax_error")
        return HogQLError(_syntax(self.query, tok.start, tok.text), "hogql_syntax_error")

    def unsupported(self, what: str) -> HogQLError:
        return HogQLError(f"{what} is not supported by the okrsync PostHog simulator")

    def select(self) -> tuple[list[tuple[str, Node]], list[Node], str | None, int | None, bool]:
        """(items, where, group by, limit, whether there is a FROM events)."""
        if not self.word("select"):
            raise self.unsupported("A query other than SELECT") if self.peek() else self.fail()
        if self.op("*"):
            raise self.unsupported("SELECT *")
        items = [self.item()]
        while self.op(","):
            items.append(self.item())
        if self.peek() is None:
            return items, [], None, None, False
        if not self.word("from"):
            raise self.fail()
        table = self.peek()
        if table is None or table.kind != "name":
            raise self.fail()
        self.i += 1
        if table.text in TABLES:
            raise self.unsupported(f"Table {table.text}")
        if table.text != "events":
            raise HogQLError(f"Unknown table `{table.text}`.")
        where = self.conditions() if self.word("where") else []
        group = None
        if self.word("group"):
            if not self.word("by") or (tok := self.peek()) is None or tok.kind != "name":
                raise self.fail()
            self.i, group = self.i + 1, _field_name(tok.text)
        limit = None
        if self.word("limit"):
            tok = self.peek()
            if tok is None or tok.kind != "num" or not isinstance(tok.value, int):
                raise self.fail()
            self.i, limit = self.i + 1, tok.value
        if self.peek() is not None:
            tok = self.peek()
            if tok is not None and tok.kind == "name" and tok.text.lower() in ("order", "having"):
                raise self.unsupported(tok.text.upper())
            raise self.fail()
        return items, where, group, limit, True

    def item(self) -> tuple[str, Node]:
        first = self.peek()
        node = self.expr()
        last = self.tokens[self.i - 1]
        label = self.query[first.start : last.end] if first else ""
        if self.word("as"):
            tok = self.peek()
            if tok is None or tok.kind != "name":
                raise self.fail()
            self.i, label = self.i + 1, tok.text
        return label, node

    def conditions(self) -> list[Node]:
        conds = [self.condition()]
        while self.word("and"):
            conds.append(self.condition())
        if self.word("or"):
            raise self.unsupported("OR")
        return conds

    def condition(self) -> Node:
        left = self.expr()
        op = self.op(*COMPARE)
        if op is None:
            tok = self.peek()
            if tok is not None and tok.kind == "name" and tok.text.lower() in ("in", "like", "not"):
                raise self.unsupported(tok.text.upper())
            raise self.fail()
        return ("cmp", op, left, self.expr())

    def expr(self) -> Node:
        node = self.term()
        while (op := self.op("+", "-", "*", "/")) is not None:
            node = ("bin", op, node, self.term())
        return node

    def term(self) -> Node:
        tok = self.peek()
        if tok is None:
            raise self.fail()
        self.i += 1
        if tok.kind in ("str", "num", "const"):
            return ("const", tok.value)
        if tok.kind == "op" and tok.text == "(":
            node = self.expr()
            if not self.op(")"):
                raise self.fail()
            return node
        if tok.kind != "name" or tok.text.lower() in KEYWORDS:
            raise HogQLError(_syntax(self.query, tok.start, tok.text), "hogql_syntax_error")
        if tok.text.lower() == "interval":
            return self.interval()
        if self.op("("):
            return self.call(tok.text)
        return ("field", _field_name(tok.text))

    def interval(self) -> Node:
        amount, unit = self.peek(), self.peek(1)
        if amount is None or amount.kind != "num" or unit is None or unit.kind != "name":
            raise self.fail()
        seconds = UNITS.get(unit.text.lower().rstrip("s"))
        if seconds is None:
            raise self.unsupported(f"INTERVAL … {unit.text}")
        self.i += 2
        return ("const", timedelta(seconds=seconds * amount.value))

    def call(self, name: str) -> Node:
        lower = name.lower()
        if lower in AGGREGATES:
            distinct = self.word("distinct")
            arg = None if lower == "count" and (self.op("*") or self._closing()) else self.expr()
            if not self.op(")"):
                raise self.fail()
            return ("agg", lower, arg, distinct or lower == "uniq")
        if name not in FUNCTIONS:
            raise HogQLError(f"Unsupported function call `{name}(...)`")
        args: list[Node] = []
        if not self.op(")"):
            args.append(self.expr())
            while self.op(","):
                args.append(self.expr())
            if not self.op(")"):
                raise self.fail()
        return ("call", name, args)

    def _closing(self) -> bool:
        tok = self.peek()
        return tok is not None and tok.kind == "op" and tok.text == ")"


def _field_name(text: str) -> str:
    if text in FIELDS or (text.startswith("properties.") and len(text) > len("properties.")):
        return text
    raise HogQLError(f"Unable to resolve field: {text.split('.')[0]}")


def run(
    query: str,
    values: Mapping[str, Any] | None,
    events: Sequence[Event],
    now: datetime,
    default_limit: int = 100,
) -> Answer:
    parser = _Parser(query, _tokens(query, values))
    items, where, group, limit, has_table = parser.select()
    ev = Evaluator(now)
    where = [ev.fold(c) for c in where]
    items = [(label, ev.fold(node)) for label, node in items]
    if not has_table:  # SELECT 1: one row of constants
        for _, node in items:
            if node[0] == "field":
                raise HogQLError(f"Unable to resolve field: {node[1]}")
        events = []
    rows = [e for e in events if all(ev.truth(c, e) for c in where)]
    limit = limit if limit is not None else default_limit
    aggregated = not has_table or group is not None or any(has_agg(n) for _, n in items)
    if not aggregated:
        table = [[ev.value(node, e) for _, node in items] for e in rows]
    elif group is None:
        table = [[ev.over(node, rows, None) for _, node in items]]
    else:
        groups: dict[Any, list[Event]] = {}
        for e in rows:
            groups.setdefault(ev.value(("field", group), e), []).append(e)
        table = [[ev.over(node, groups[k], group) for _, node in items] for k in sorted(groups)]
    columns = [label for label, _ in items]
    types = [
        [label, type_of(node, [row[i] for row in table])] for i, (label, node) in enumerate(items)
    ]
    shown = [[to_json(v) for v in row] for row in table[:limit]]
    return Answer(columns, types, shown, len(table) > limit, limit)


__all__ = ["Answer", "Event", "HogQLError", "run"]
