"""The ``sql:`` text of :mod:`connectors.sql.connector`: checked once, placeholders turned into binds.

A small lexer splits the statement into code, quoted strings, quoted identifiers
(``"…"``, backticks), comments (``--``, ``/* */``) and PostgreSQL dollar quotes.
Only in *code* does ``{cycle.start}`` / ``{cycle.end}`` / ``{as_of}`` become the
bound parameter ``:cycle_start`` / ``:cycle_end`` / ``:as_of``; one inside quotes
is refused (it would have been compared as text, not as a date), one inside a
comment is left alone. Every other colon that :func:`sqlalchemy.text` would take
for a bind parameter (``'a :b'``) is escaped, so the user's SQL reaches the
database exactly as written.

Databases disagree on what a backslash in a string means: PostgreSQL (with its
default ``standard_conforming_strings=on``) and SQLite take it as a plain
character, MySQL and MariaDB as an escape (``'a\\' ; DROP …`` is one string to
one, a string and a second statement to the other). The text is lexed both
ways (:data:`READINGS`); each reading must pass the checks, and both must agree,
or the statement is refused as ambiguous. The lexer is not the guard, though:
at run time the driver sends one statement only and the database enforces
read-only and the time limit (:mod:`connectors.sql.engine`); the checks here
give a clear message at ``okrsync validate``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

BINDS = {"cycle.start": "cycle_start", "cycle.end": "cycle_end", "as_of": "as_of"}
_PLACEHOLDER = re.compile(r"\{(cycle\.start|cycle\.end|as_of)\}")
# What sqlalchemy.text() takes for a bind (elements.TextClause) and for an escaped colon.
_SA_BIND = re.compile(r"(?<![:\w\\]):\w+(?![:\w])")
_SA_ESCAPED = re.compile(r"\\(?=:\w*(?![:\w]))")
_DOLLAR = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")
_WRITES = re.compile(
    r"\b(INSERT|UPDATE|DELETE|MERGE|DROP|CREATE|ALTER|TRUNCATE|GRANT|REVOKE|INTO)\b",
    re.IGNORECASE,
)
_FIRST_WORD = re.compile(r"[\s(]*([A-Za-z]+)")
_CLOSERS = {"'": "'", '"': '"', "`": "`"}


@dataclass(frozen=True)
class Reading:
    """How one family of databases lexes strings."""

    name: str
    backslash: frozenset[str]  # quotes inside which a backslash escapes the next character
    dollar: bool  # PostgreSQL's $tag$ … $tag$ strings


ANSI = Reading("standard SQL (PostgreSQL, SQLite)", frozenset(), dollar=True)
BACKSLASH = Reading("MySQL/MariaDB", frozenset({"'", '"'}), dollar=False)
READINGS = (ANSI, BACKSLASH)


@dataclass(frozen=True)
class Statement:
    """A checked ``sql:`` text."""

    text: str  # for sqlalchemy.text(): placeholders as :name, other colons escaped
    shown: str  # as a person reads it: placeholders as :name, whitespace collapsed
    binds: tuple[str, ...]  # bind names used, in order of first use


def segments(sql: str, reading: Reading = ANSI) -> list[tuple[str, str]]:
    """``sql`` as (kind, text) pieces (code, quoted, comment), lexed as ``reading`` does."""
    out: list[tuple[str, str]] = []
    i = start = 0
    n = len(sql)
    while i < n:
        ch, two = sql[i], sql[i : i + 2]
        end = -1
        kind = "quoted"
        if ch in _CLOSERS:
            end = _close_quote(sql, i, _CLOSERS[ch], backslash=ch in reading.backslash)
        elif two == "--":
            kind, nl = "comment", sql.find("\n", i)
            end = n if nl < 0 else nl
        elif two == "/*":
            kind, close = "comment", sql.find("*/", i + 2)
            end = n if close < 0 else close + 2
        elif (
            reading.dollar
            and ch == "$"
            and (i == 0 or not (sql[i - 1].isalnum() or sql[i - 1] == "_"))
        ):
            tag = _DOLLAR.match(sql, i)
            if tag is not None:
                close = sql.find(tag.group(0), tag.end())
                end = n if close < 0 else close + len(tag.group(0))
        if end < 0:
            i += 1
            continue
        if start < i:
            out.append(("code", sql[start:i]))
        out.append((kind, sql[i:end]))
        i = start = end
    if start < n:
        out.append(("code", sql[start:]))
    return out


def _close_quote(sql: str, i: int, quote: str, *, backslash: bool) -> int:
    """The index just past the quote opened at ``i`` (doubled quotes stay inside)."""
    j = i + 1
    while j < len(sql):
        if backslash and sql[j] == "\\":
            j += 2
            continue
        if sql[j] == quote:
            if sql[j + 1 : j + 2] == quote:
                j += 2
                continue
            return j + 1
        j += 1
    return len(sql)


def _escape_colons(text: str) -> str:
    """``text`` as sqlalchemy.text() must see it to send it unchanged."""
    text = _SA_ESCAPED.sub(r"\\\\", text)  # a user's own \: must survive the unescaping
    return _SA_BIND.sub(lambda m: "\\" + m.group(0), text)


def _bind(code: str, found: list[str]) -> tuple[str, str]:
    """(text for sqlalchemy, text shown) of a code piece, its placeholders made binds."""
    text, shown, last = [], [], 0
    for m in _PLACEHOLDER.finditer(code):
        name = BINDS[m.group(1)]
        if name not in found:
            found.append(name)
        before, after = code[last : m.start()], code[m.end() : m.end() + 1]
        pad_left = " " if before[-1:].isalnum() or before[-1:] in ("_", ":", "\\") else ""
        pad_right = " " if after.isalnum() or after in ("_", ":") else ""
        text.append(_escape_colons(before) + f"{pad_left}:{name}{pad_right}")
        shown.append(before + f":{name}")
        last = m.end()
    text.append(_escape_colons(code[last:]))
    shown.append(code[last:])
    return "".join(text), "".join(shown)


@lru_cache(maxsize=1024)
def parse(sql: str) -> Statement:
    """Check ``sql`` and turn its placeholders into binds; ValueError says what is wrong.

    Every reading must accept the text and make the same statement of it.
    """
    statements = [_parse(sql, reading) for reading in READINGS]
    if any(s != statements[0] for s in statements[1:]):
        raise ValueError(
            "sql is ambiguous: databases read it as different statements (a backslash in "
            "a string is a plain character to PostgreSQL and SQLite, an escape to MySQL and "
            "MariaDB; $$ quotes PostgreSQL's only); write a quote inside a string as '', "
            "leave out a backslash before a quote, and keep placeholders out of such strings"
        )
    return statements[0]


def _parse(sql: str, reading: Reading) -> Statement:
    pieces = segments(sql.strip(), reading)
    last = max((i for i, (kind, text) in enumerate(pieces) if text.strip()), default=-1)
    while last >= 0 and pieces[last][0] == "comment":
        last -= 1  # a trailing ; may stand before a trailing comment
    if last >= 0 and pieces[last][0] == "code":
        code = pieces[last][1]
        if code.rstrip().endswith(";"):
            pieces[last] = ("code", code.rstrip()[:-1] + code[len(code.rstrip()) :])
    code = " ".join(text for kind, text in pieces if kind == "code")
    if not code.strip():
        raise ValueError("sql is empty")
    first = _FIRST_WORD.match(code)
    word = first.group(1).upper() if first else code.split()[0]
    if word not in ("SELECT", "WITH"):
        raise ValueError(
            f"sql must be one read-only query starting with SELECT or WITH, not {word}"
        )
    if ";" in code:
        raise ValueError("sql must be one statement: remove the ';' and what follows it")
    if (write := _WRITES.search(code)) is not None:
        raise ValueError(f"sql must only read: {write.group(1).upper()} is not allowed")
    for kind, text in pieces:
        if kind == "quoted" and (m := _PLACEHOLDER.search(text)):
            raise ValueError(
                f"placeholder {m.group(0)} is inside quotes ({text[:40]}); write it bare, "
                f"e.g. issued_on >= {m.group(0)}: it is sent as a date parameter"
            )
    found: list[str] = []
    text_parts, shown_parts = [], []
    for kind, text in pieces:
        if kind == "code":
            sent, seen = _bind(text, found)
        else:
            sent, seen = _escape_colons(text), text
        text_parts.append(sent)
        shown_parts.append(seen)
    shown = " ".join("".join(shown_parts).split())
    return Statement("".join(text_parts), shown, tuple(found))


__all__ = ["ANSI", "BACKSLASH", "BINDS", "READINGS", "Reading", "Statement", "parse", "segments"]
