"""The Salesforce simulator's SOQL: ``SELECT COUNT() | agg(f) [alias], … | f1, f2 FROM X
[WHERE a op v AND …]``, parsed and evaluated over the seeded records.

Everything else is answered with the error the real API gives (INVALID_FIELD,
INVALID_TYPE, INVALID_QUERY_FILTER_OPERATOR) or MALFORMED_QUERY: a :class:`SoqlError`,
never a made-up answer.
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from okrsync.demo.simulators._salesforce_data import TYPES

_LITERAL_KIND = {"id": "str", "string": "str", "double": "num", "date": "date", "datetime": "dt"}
_AGGREGATES = {"COUNT", "COUNT_DISTINCT", "SUM", "AVG", "MIN", "MAX"}
_RESERVED = {"SELECT", "FROM", "WHERE", "AND", "OR", "NOT", "IN", "LIKE", "GROUP", "ORDER"}
_RESERVED |= {"BY", "LIMIT", "OFFSET", "HAVING", "WITH", "USING", "TYPEOF", "INCLUDES", "FOR"}
_RESERVED |= {"EXCLUDES", "ASC", "DESC", "NULLS"}
_OPS: dict[str, Callable[[Any, Any], bool]] = dict(
    zip(
        ["=", "!=", "<>", "<", "<=", ">", ">="],
        [operator.eq, operator.ne, operator.ne, operator.lt, operator.le, operator.gt, operator.ge],
        strict=True,
    )
)
_TOKEN = re.compile(
    r"""\s*(?:
      (?P<dt>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,3})?(?:Z|[+-]\d\d:?\d\d))
    | (?P<date>\d{4}-\d\d-\d\d)
    | (?P<num>-?\d+(?:\.\d+)?)
    | (?P<str>'(?:[^'\\]|\\.)*')
    | (?P<op>!=|<>|<=|>=|=|<|>)
    | (?P<punct>[(),])
    | (?P<name>[A-Za-z_][\w.]*)
    )""",
    re.X,
)


class SoqlError(Exception):
    """A query the API refuses: 400 ``[{"errorCode", "message"}]``."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code, self.message = code, message


def _malformed(message: str) -> SoqlError:
    return SoqlError("MALFORMED_QUERY", message)


@dataclass(frozen=True)
class _Item:
    func: str | None  # None: a plain field
    field: str | None  # None: COUNT()
    alias: str | None


@dataclass(frozen=True)
class _Cond:
    field: str
    op: str
    literal: tuple[str, str]


class _Parser:
    def __init__(self, soql: str) -> None:
        self.tokens: list[tuple[str, str]] = []
        text, pos = soql.rstrip(), 0
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if m is None or m.lastgroup is None:
                raise _malformed(f"unexpected token: '{text[pos:].split()[0]}'")
            self.tokens.append((m.lastgroup, m.group(m.lastgroup)))
            pos = m.end()
        self.i = 0

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.i] if self.i < len(self.tokens) else None

    def take(self) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise _malformed("unexpected end of query")
        self.i += 1
        return token

    def word(self, word: str) -> bool:
        token = self.peek()
        if token is not None and token[0] == "name" and token[1].upper() == word:
            self.i += 1
            return True
        return False

    def punct(self, char: str) -> bool:
        if self.peek() == ("punct", char):
            self.i += 1
            return True
        return False

    def name(self) -> str:
        kind, text = self.take()
        if kind != "name" or text.upper() in _RESERVED:
            raise _malformed(f"unexpected token: '{text}'")
        return text

    def item(self) -> _Item:
        name = self.name()
        if not self.punct("("):
            return _Item(None, name, None)
        func = name.upper()
        if func not in _AGGREGATES:
            raise _malformed(f"unsupported function {name}() (the simulator knows {_AGGREGATES})")
        field = None if self.punct(")") else self.name()
        if field is not None and not self.punct(")"):
            raise _malformed(f"unexpected token: '{self.take()[1]}'")
        if field is None and func != "COUNT":
            raise _malformed(f"{func}() needs a field")
        token = self.peek()
        alias = None
        if token is not None and token[0] == "name" and token[1].upper() not in _RESERVED:
            alias = self.take()[1]
        return _Item(func, field, alias)

    def cond(self) -> _Cond:
        field = self.name()
        kind, op = self.take()
        if kind != "op":
            raise _malformed(f"unexpected token: '{op}'")
        return _Cond(field, op, self.take())


def parse(soql: str) -> tuple[list[_Item], str, list[_Cond]]:
    """(select items, sObject, AND-ed conditions) or SoqlError."""
    p = _Parser(soql)
    if not p.word("SELECT"):
        raise _malformed(f"unexpected token: '{p.take()[1]}'")
    items = [p.item()]
    while p.punct(","):
        items.append(p.item())
    if not p.word("FROM"):
        raise _malformed(f"unexpected token: '{p.take()[1]}'")
    sobject = p.name()
    conds = []
    if p.word("WHERE"):
        conds.append(p.cond())
        while p.word("AND"):
            conds.append(p.cond())
    rest = p.peek()
    if rest is not None:
        word = rest[1]
        if word.upper() in _RESERVED:
            raise _malformed(f"unexpected token: '{word}' (not supported by the simulator)")
        raise _malformed(f"unexpected token: '{word}'")
    if any(i.func == "COUNT" and i.field is None for i in items) and len(items) > 1:
        raise _malformed("COUNT() must be the only element in the SELECT list")
    return items, sobject, conds


def _soql_datetime(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%S.000+0000")


def _out(value: Any) -> Any:
    if isinstance(value, datetime):
        return _soql_datetime(value)
    if isinstance(value, date):
        return value.isoformat()
    return value


def select(
    soql: str, rows_of: Callable[[str], list[dict[str, Any]]], ver: str
) -> dict[str, Any] | list[dict[str, Any]]:
    """The whole answer to a COUNT() or aggregate query, else the records to page through.

    ``rows_of(sObject)`` gives the rows as SOQL sees them; SoqlError for a 400.
    """
    items, sobject, conds = parse(soql)
    name = next((n for n in TYPES if n.lower() == sobject.lower()), None)
    if name is None:
        raise SoqlError("INVALID_TYPE", f"sObject type '{sobject}' is not supported.")
    types = TYPES[name]
    tests = [_condition(name, types, c) for c in conds]
    rows = [r for r in rows_of(name) if all(t(r) for t in tests)]
    if items[0].func == "COUNT" and items[0].field is None:
        return {"totalSize": len(rows), "done": True, "records": []}
    if any(i.func for i in items):
        plain = next((i for i in items if i.func is None), None)
        if plain is not None:
            raise _malformed(f"Field must be grouped or aggregated: {plain.field}")
        record: dict[str, Any] = {"attributes": {"type": "AggregateResult"}}
        unnamed = 0
        for item in items:
            key = item.alias or f"expr{unnamed}"
            unnamed += item.alias is None
            record[key] = _aggregate(item, name, types, rows)
        return {"totalSize": 1, "done": True, "records": [record]}
    fields = [_field(name, types, i.field or "") for i in items]
    return [
        {
            "attributes": {
                "type": name,
                "url": f"/services/data/v{ver}/sobjects/{name}/{r['Id']}",
            }
        }
        | {f: _out(r[f]) for f in fields}
        for r in rows
    ]


def _condition(sobject: str, types: dict[str, str], cond: _Cond) -> Callable[[Any], bool]:
    field = _field(sobject, types, cond.field)
    ftype, (kind, text) = types[field], cond.literal
    literal: Any
    if kind == "name" and text.lower() == "null":
        if cond.op not in ("=", "!=", "<>"):
            raise _malformed(f"invalid operator {cond.op} with null")
        want_null = cond.op == "="
        return lambda row: (row[field] is None) == want_null
    if kind == "name" and text.lower() in ("true", "false"):
        kind, literal = "bool", text.lower() == "true"
    elif kind in ("name", "op", "punct"):
        raise _malformed(
            f"unexpected token: '{text}' (date literals such as THIS_QUARTER and functions are not supported by the simulator)"
        )
    if _LITERAL_KIND.get(ftype, "bool") != kind:
        quoted = "" if ftype in ("id", "string") else "not "
        raise SoqlError(
            "INVALID_QUERY_FILTER_OPERATOR",
            f"value of filter criterion for field '{field}' must be of type "
            f"{ftype.replace('datetime', 'dateTime')} and should {quoted}be enclosed in quotes",
        )
    if ftype == "boolean" and cond.op not in ("=", "!=", "<>"):
        raise SoqlError(
            "INVALID_QUERY_FILTER_OPERATOR", f"invalid operator on boolean field '{field}'"
        )
    try:
        literal = _literal(kind, text) if kind != "bool" else literal
    except ValueError:
        raise _malformed(f"invalid {kind} literal: {text}") from None
    compare = _OPS[cond.op]
    fold = ftype in ("id", "string")  # SOQL string comparison ignores case

    def test(row: Any) -> bool:
        value = row[field]
        if value is None:
            return compare is operator.ne
        if fold:
            return compare(str(value).lower(), str(literal).lower())
        return compare(value, literal)

    return test


def _field(sobject: str, types: dict[str, str], name: str) -> str:
    if "." in name:
        raise _malformed(f"relationship fields like {name} are not supported by the simulator")
    found = next((f for f in types if f.lower() == name.lower()), None)
    if found is None:
        raise SoqlError(
            "INVALID_FIELD",
            f"No such column '{name}' on entity '{sobject}'. If you are attempting to use a "
            "custom field, be sure to append the '__c' after the custom field name.",
        )
    return found


def _literal(kind: str, text: str) -> Any:
    if kind == "str":
        return re.sub(r"\\(.)", r"\1", text[1:-1])
    if kind == "num":
        return float(text)
    if kind == "date":
        return date.fromisoformat(text)
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def _aggregate(item: _Item, sobject: str, types: dict[str, str], rows: list[Any]) -> Any:
    field = _field(sobject, types, item.field or "Id")
    values = [r[field] for r in rows if r[field] is not None]
    if item.func == "COUNT":
        return len(values)
    if item.func == "COUNT_DISTINCT":
        return len(set(values))
    numeric = types[field] == "double"
    if (item.func in ("SUM", "AVG") and not numeric) or types[field] == "boolean":
        raise _malformed(f"field {field} does not support aggregate operator {item.func}")
    if not values:
        return None
    if item.func == "SUM":
        return float(sum(values))
    if item.func == "AVG":
        return float(sum(values)) / len(values)
    return _out(min(values) if item.func == "MIN" else max(values))
