"""The Jira simulator's JQL: a small parser and evaluator, refusing what it does not know.

``or := and (OR and)*``, ``and := unary (AND unary)*``, ``unary := NOT unary | (or) |
clause``; clauses compare the fields in ``_FIELDS`` with ``= != < > <= >=``, ``IN``,
``NOT IN``, ``IS [NOT] EMPTY``; values are words, quoted strings, dates
(``yyyy-MM-dd [HH:mm]``, ``-5d``) and ``now()`` / ``startOf…()`` / ``endOf…()``.
``ORDER BY`` is skipped. Anything else is a :class:`JqlError` in Jira's words (a 400),
never a made-up answer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any, Protocol

from okrsync.demo.simulators._jira_data import CATEGORIES, PROJECTS, STATUSES, Issue


class JiraSite(Protocol):
    """What the parser asks of the simulator it evaluates queries for."""

    @property
    def flavor(self) -> str: ...

    @property
    def issues(self) -> Mapping[str, Issue]: ...

    def today(self) -> date: ...

    def now(self) -> datetime: ...

    def value(self, issue: Issue, field: str) -> Any: ...


# fmt: off
_FIELDS = {  # JQL clause name, lower case → what it compares
    "project": "project", "type": "type", "issuetype": "type", "status": "status",
    "statuscategory": "category", "resolution": "resolution", "created": "created",
    "createddate": "created", "resolved": "resolved", "resolutiondate": "resolved",
    "key": "key", "issuekey": "key", "parent": "parent", "summary": "summary",
    "story points": "points", "cf[10016]": "points", "epic link": "epic", "cf[10014]": "epic",
}
_VALUES: dict[str, Mapping[str, str | None]] = {  # field → accepted value (lower case) → canonical
    "project": {k.lower(): k for k in PROJECTS} | {v.lower(): k for k, v in PROJECTS.items()},
    "type": {t: t for t in ("story", "bug", "task", "epic", "sub-task")},
    "status": {s.lower(): s.lower() for s in STATUSES},
    "category": {k: k for k in CATEGORIES} | {v[1].lower(): k for k, v in CATEGORIES.items()}
    | {str(v[0]): k for k, v in CATEGORIES.items()},
    "resolution": {"unresolved": None, "done": "done"},
}
# fmt: on
_DATE_HELP = (
    "Valid formats include: 'yyyy/MM/dd HH:mm', 'yyyy-MM-dd HH:mm', 'yyyy/MM/dd', "
    "'yyyy-MM-dd', or a period format e.g. '-5d', '4w 2d'."
)


class JqlError(ValueError):
    """A query Jira would refuse with 400; the message is Jira's."""


def _syntax(text: str) -> JqlError:
    return JqlError(f"Error in the JQL Query: {text}")


Predicate = Callable[[Issue], bool]
_TOKEN = re.compile(
    r"""\s*(?:(?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')|(?P<op>!=|>=|<=|!~|=|>|<|~)"""
    r"""|(?P<punct>[(),])|(?P<word>[^\s"'(),=!<>~]+))"""
)
_DATE = re.compile(r"(\d{4})[-/](\d{1,2})[-/](\d{1,2})(?:\s+(\d{1,2}):(\d{2}))?")
_PERIOD = re.compile(r"([-+]?)(\d+)([wdhm])")
_OPS: dict[str, Callable[[Any, Any], bool]] = {
    "=": lambda a, b: a == b,
    "!=": lambda a, b: a != b,
    "<": lambda a, b: a < b,
    ">": lambda a, b: a > b,
    "<=": lambda a, b: a <= b,
    ">=": lambda a, b: a >= b,
}


@dataclass
class _Tok:
    kind: str  # str | op | punct | word
    text: str
    pos: int


def _tokens(jql: str) -> list[_Tok]:
    out: list[_Tok] = []
    pos = 0
    while jql[pos:].strip():
        m = _TOKEN.match(jql, pos)
        if m is None or m.lastgroup is None:
            raise _syntax(f"The quoted string starting at character {pos + 1} is not closed.")
        kind, text = m.lastgroup, m.group(m.lastgroup)
        if kind == "str":
            text = re.sub(r"\\(.)", r"\1", text[1:-1])
        out.append(_Tok(kind, text, m.start(kind) + 1))
        pos = m.end()
    return out


class _Parser:
    """``or := and (OR and)*``, ``and := unary (AND unary)*``, ``unary := NOT unary | (or) | clause``."""

    def __init__(self, sim: JiraSite, jql: str) -> None:
        self.sim, self.toks, self.i, self.clauses = sim, _tokens(jql), 0, 0

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def keyword(self, *words: str) -> bool:
        tok = self.peek()
        if tok is not None and tok.kind == "word" and tok.text.upper() in words:
            self.i += 1
            return True
        return False

    def take(self, what: str, *texts: str) -> _Tok:
        tok = self.peek()
        if tok is None:
            raise _syntax(f"Expecting {what} but reached the end of the query.")
        if texts and not (tok.kind in ("punct", "op") and tok.text in texts):
            raise self.fail(tok, what)
        self.i += 1
        return tok

    def fail(self, tok: _Tok, expected: str) -> JqlError:
        where = f"(line 1, character {tok.pos})"
        return _syntax(f"Expecting {expected} but got '{tok.text}'. {where}")

    def parse(self) -> Predicate | None:
        pred = None
        tok = self.peek()
        if tok is not None and not (tok.kind == "word" and tok.text.upper() == "ORDER"):
            pred = self.or_expr()
        if self.keyword("ORDER"):
            if not self.keyword("BY"):
                raise self.fail(self.take("'by'"), "'by'")
            self.i = len(self.toks)  # sort order does not change a count
        if (tok := self.peek()) is not None:
            raise self.fail(tok, "either 'OR' or 'AND'")
        return pred

    def or_expr(self) -> Predicate:
        parts = [self.and_expr()]
        while self.keyword("OR"):
            parts.append(self.and_expr())
        return parts[0] if len(parts) == 1 else lambda i: any(p(i) for p in parts)

    def and_expr(self) -> Predicate:
        parts = [self.unary()]
        while self.keyword("AND"):
            parts.append(self.unary())
        return parts[0] if len(parts) == 1 else lambda i: all(p(i) for p in parts)

    def unary(self) -> Predicate:
        if self.keyword("NOT"):
            inner = self.unary()
            return lambda i: not inner(i)
        tok = self.take("a field name")
        if tok.kind == "punct" and tok.text == "(":
            inner = self.or_expr()
            self.take("')'", ")")
            return inner
        if tok.kind not in ("word", "str"):
            raise self.fail(tok, "a field name")
        return self.clause(tok)

    def clause(self, name: _Tok) -> Predicate:
        field = _FIELDS.get(name.text.lower())
        if field is None or (field == "epic" and self.sim.flavor == "cloud"):  # Cloud: parent
            raise JqlError(f"Field '{name.text}' does not exist or you do not have permission to view it.")  # fmt: skip
        self.clauses += 1
        get = self.sim.value
        if self.keyword("IS"):
            negate = self.keyword("NOT")
            if not self.keyword("EMPTY", "NULL"):
                raise self.fail(self.take("'EMPTY'"), "'EMPTY' or 'NULL'")
            return lambda i: (get(i, field) is None) != negate
        negate = self.keyword("NOT")
        if negate or self.keyword("IN"):
            if negate and not self.keyword("IN"):
                raise self.fail(self.take("'IN'"), "'IN'")
            self.take("'('", "(")
            values = {self.value(field, name.text)}
            while self.take("',' or ')'", ",", ")").text == ",":
                values.add(self.value(field, name.text))
            return lambda i: (get(i, field) in values) != negate
        op = self.take("an operator", *_OPS, "~", "!~").text
        if op in ("~", "!~") or field == "summary":
            raise _syntax(f"the operator '{op}' on '{name.text}' is not supported by this simulator.")  # fmt: skip
        if op not in ("=", "!=") and field not in ("created", "resolved", "points"):
            raise _syntax(f"The operator '{op}' is not supported by the '{name.text}' field.")
        expected, test = self.value(field, name.text), _OPS[op]

        def pred(issue: Issue) -> bool:
            actual = get(issue, field)
            if actual is None or expected is None:  # = EMPTY matches empties; nothing else does
                return op == "=" and actual is None and expected is None
            return test(actual, expected)

        return pred

    def value(self, field: str, label: str) -> Any:
        tok = self.take("a value")
        if tok.kind not in ("word", "str"):
            raise self.fail(tok, "a value")
        nxt = self.peek()
        if tok.kind == "word" and nxt is not None and nxt.text == "(":
            self.i += 1
            args: list[str] = []
            while (arg := self.take("')'")).text != ")":
                if arg.text != ",":
                    args.append(arg.text)
            if field not in ("created", "resolved"):
                raise _syntax(f"the function '{tok.text}()' does not apply to '{label}'.")
            return self.function(tok.text, args)
        return self.literal(field, label, tok.text)

    def literal(self, field: str, label: str, text: str) -> Any:
        low = text.lower()
        if low in ("empty", "null"):
            return None
        if field in _VALUES:
            if low not in _VALUES[field]:
                raise JqlError(f"The value '{text}' does not exist for the field '{label}'.")
            return _VALUES[field][low]
        if field in ("created", "resolved"):
            return self._date(text, label)
        if field == "points":
            try:
                return float(text)
            except ValueError:
                raise JqlError(f"'{text}' is not a valid number for field '{label}'.") from None
        if text.upper() not in self.sim.issues:  # key, parent, Epic Link
            raise JqlError(f"An issue with key '{text}' does not exist for field '{label}'.")
        return text.upper()

    def _date(self, text: str, label: str) -> datetime:
        if m := _DATE.fullmatch(text.strip()):
            y, mo, d, hh, mm = (int(g or 0) for g in m.groups())
            try:
                return datetime(y, mo, d, hh, mm, tzinfo=UTC)
            except ValueError:
                pass
        elif m := _PERIOD.fullmatch(text.strip()):
            sign, amount, unit = m.groups()
            units = {"w": "weeks", "d": "days", "h": "hours", "m": "minutes"}
            delta = timedelta(**{units[unit]: int(amount)})
            return self.sim.now() - delta if sign == "-" else self.sim.now() + delta
        raise JqlError(f"Date value '{text}' for field '{label}' is invalid. {_DATE_HELP}")

    def function(self, name: str, args: list[str]) -> datetime:
        """``now()``, ``startOf|endOf`` + ``Day|Week|Month|Year``, with an optional whole offset."""
        match = re.fullmatch(r"(start|end)of(day|week|month|year)", name.lower())
        if name.lower() == "now" and not args:
            return self.sim.now()
        if match is None:
            raise JqlError(f"Unable to find JQL function '{name}()'.")
        if len(args) > 1 or (args and not re.fullmatch(r"[-+]?\d+", args[0])):
            raise _syntax(f"this simulator takes only a whole-number offset in '{name}()'.")
        offset = int(args[0]) if args else 0
        edge, unit, today = match[1], match[2], self.sim.today()
        if unit == "day":
            start = today + timedelta(days=offset)
            nxt = start + timedelta(days=1)
        elif unit == "week":  # Jira weeks start on Sunday
            start = today - timedelta(days=(today.weekday() + 1) % 7) + timedelta(weeks=offset)
            nxt = start + timedelta(weeks=1)
        elif unit == "month":
            months = today.year * 12 + today.month - 1 + offset
            start = date(months // 12, months % 12 + 1, 1)
            nxt = date((months + 1) // 12, (months + 1) % 12 + 1, 1)
        else:
            start, nxt = date(today.year + offset, 1, 1), date(today.year + offset + 1, 1, 1)
        if edge == "start":
            return datetime.combine(start, time.min, tzinfo=UTC)
        return datetime.combine(nxt, time.min, tzinfo=UTC) - timedelta(milliseconds=1)


def parse_jql(sim: JiraSite, jql: str) -> tuple[Predicate | None, int]:
    """(predicate, or None for "everything"; number of clauses); JqlError means a 400."""
    parser = _Parser(sim, jql)
    return parser.parse(), parser.clauses
