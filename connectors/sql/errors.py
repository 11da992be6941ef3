"""How :mod:`connectors.sql.connector` classifies a failed connect or query.

    while connecting
      SQLite file cannot be opened                 QueryError  "cannot open …"
      login refused (PG 28xxx, unknown role or     AuthError   "… refused the login: …"
      database; MySQL 1044/1045/1049/1698)
      anything else (refused, DNS, timeout)        TransientError (retried)
    while querying
      statement timeout (PG 57014, MySQL 3024,     QueryError  "query timed out after Ns …"
      MariaDB 1969, SQLite interrupted)            (not retried: a slow query stays slow)
      connection lost, deadlock, serialization,    TransientError (retried)
      too many connections, lock wait, busy
      permission denied (PG 42501, MySQL 1142/3)   AuthError
      a write refused (PG 25006, MySQL 1792,       QueryError  "the query tried to write …"
      SQLITE_READONLY)
      anything else: syntax, unknown table/column  QueryError  "<dialect> rejected the query: …"
    no free pooled connection in ``timeout`` s     TransientError

Codes are SQLSTATEs where the driver gives one (psycopg, Snowflake …), MySQL
error numbers from PyMySQL/mysqlclient, SQLite's extended result names. The
message is the database's own first line, excerpted, with the URL's password
masked; SQLAlchemy's text (which repeats the statement) is never used.
"""

from __future__ import annotations

import re
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import URL

from connectors.sql.settings import SqlSettings
from connectors.sql.urls import secrets_of, shown
from okrsync.errors import AuthError, QueryError, TransientError, excerpt

_TIMEOUT: tuple[str, ...] = (
    "sqlstate:57014",
    "mysql:3024",
    "mysql:1969",
    "sqlite:SQLITE_INTERRUPT",
)
_LOGIN: tuple[str, ...] = (
    "sqlstate:28",
    "sqlstate:3D000",
    "mysql:1044",
    "mysql:1045",
    "mysql:1049",
)
_LOGIN += ("mysql:1698",)
_TRANSIENT: tuple[str, ...] = (
    "sqlstate:08",
    "sqlstate:53",
    "sqlstate:57P",
    "sqlstate:40",
    "sqlstate:55P03",
)
_TRANSIENT += ("mysql:1040", "mysql:1053", "mysql:1205", "mysql:1213", "mysql:2002")
_TRANSIENT += ("mysql:2003", "mysql:2006", "mysql:2013", "mysql:2055")
_TRANSIENT += ("sqlite:SQLITE_BUSY", "sqlite:SQLITE_LOCKED")
_DENIED: tuple[str, ...] = ("sqlstate:42501", "mysql:1142", "mysql:1143", "mysql:1044")
_WRITE: tuple[str, ...] = ("sqlstate:25006", "mysql:1792", "sqlite:SQLITE_READONLY")
# psycopg reports a refused login without a SQLSTATE: its text says it.
_LOGIN_TEXT = re.compile(
    r"password authentication failed|authentication failed|role \"[^\"]*\" does not exist"
    r"|database \"[^\"]*\" does not exist|no pg_hba\.conf entry|access denied|login failed"
    r"|incorrect username or password|not authorized",
    re.IGNORECASE,
)


def code_of(orig: BaseException) -> str:
    """``sqlstate:57014``, ``mysql:1146``, ``sqlite:SQLITE_BUSY``, or "" when unknown."""
    args: tuple[Any, ...] = getattr(orig, "args", ())
    if type(orig).__module__.startswith(("pymysql", "MySQLdb")) and args:
        return f"mysql:{args[0]}"  # before its SQLSTATE, which is HY000 for most errors
    sqlstate = getattr(orig, "sqlstate", None) or getattr(orig, "pgcode", None)
    if isinstance(sqlstate, str) and sqlstate:
        return f"sqlstate:{sqlstate}"
    name = getattr(orig, "sqlite_errorname", None)
    if isinstance(name, str):
        return f"sqlite:{name}"
    return ""


def message_of(orig: BaseException, url: URL, hidden: tuple[str, ...] = ()) -> str:
    """The database's own words: the first line, excerpted, the password and ``hidden`` masked."""
    args: tuple[Any, ...] = getattr(orig, "args", ())
    mysql = type(orig).__module__.startswith(("pymysql", "MySQLdb"))
    text = str(args[1]) if mysql and len(args) > 1 else str(orig)
    first = next((line for line in text.splitlines() if line.strip()), type(orig).__name__)
    for secret in sorted({*secrets_of(url), *hidden}, key=len, reverse=True):
        first = first.replace(secret, "***")
    return excerpt(first, 240)


def classify(
    exc: Exception,
    *,
    connecting: bool,
    url: URL,
    settings: SqlSettings,
    hidden: tuple[str, ...] = (),
) -> Exception:
    """The table above; an exception that is not SQLAlchemy's is returned unchanged.

    ``hidden``: more words the database's message must not show (the user and
    database of a url that is itself a secret).
    """
    if isinstance(exc, sa.exc.TimeoutError):
        waited = settings.timeout
        return TransientError(f"no free connection to {shown(url)} within {waited:g}s")
    if isinstance(exc, sa.exc.SQLAlchemyError) and not isinstance(exc, sa.exc.DBAPIError):
        # SQLAlchemy's own text may quote the statement and its parameters: name it only.
        return QueryError(f"{url.get_backend_name()}: {type(exc).__name__} (SQLAlchemy)")
    if not isinstance(exc, sa.exc.DBAPIError):
        return exc
    orig: BaseException = exc.orig or exc
    code, text = code_of(orig), message_of(orig, url, hidden)
    backend = url.get_backend_name()
    if code.startswith(_TIMEOUT):
        limit = settings.statement_timeout
        return QueryError(f"query timed out after {limit:g}s (statement_timeout): {text}")
    if connecting:
        if backend == "sqlite":
            return QueryError(f"cannot open {shown(url)}: {text}")
        if code.startswith(_LOGIN) or _LOGIN_TEXT.search(text):
            return AuthError(f"{shown(url)} refused the login: {text}")
        return TransientError(f"cannot connect to {shown(url)}: {text}")
    if exc.connection_invalidated or code.startswith(_TRANSIENT):
        return TransientError(f"{backend}: {text}")
    if code.startswith(_DENIED):
        return AuthError(f"{backend} denied access: {text}")
    if code.startswith(_WRITE):
        return QueryError(f"the query tried to write; okrsync reads only ({backend}: {text})")
    return QueryError(f"{backend} rejected the query: {text}")


__all__ = ["classify", "code_of", "message_of"]
