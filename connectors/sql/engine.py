"""The engine behind :mod:`connectors.sql.connector`, and how each dialect is kept read-only.

    dialect      one statement per call            read-only, per query                  statement_timeout
    postgresql   extended query protocol           SET TRANSACTION READ ONLY             SET LOCAL statement_timeout (ms)
    mariadb      no CLIENT_MULTI_STATEMENTS        SET SESSION TRANSACTION READ ONLY     SET SESSION max_statement_time (s)
    mysql        no CLIENT_MULTI_STATEMENTS        SET SESSION TRANSACTION READ ONLY     SET SESSION max_execution_time (ms)
    sqlite       sqlite3 runs one statement        file opened ``mode=ro`` + query_only  a progress handler interrupts it
    any other    (the driver's own rule)           the database user must be read-only   the warehouse's own limit

The first column is what makes a statement that fooled the lexer
(:mod:`connectors.sql.text`) harmless: psycopg sends a statement without
parameters as a "simple query", which PostgreSQL runs as many statements as
it holds (``SELECT 1; COMMIT; DROP TABLE …``); here every statement goes through
the extended protocol (one Parse message), which PostgreSQL refuses to hold
more than one. A single statement cannot end the read-only transaction, and the
time limit is armed when the statement starts, so a ``set_config()`` inside it
cannot lift it either.

Every query runs in a transaction that is rolled back, never committed. The
settings are made again before every query, so nothing a query did to its
session (PostgreSQL's ``set_config(…)``) reaches the next one; on PostgreSQL
they are made inside the transaction, where no later statement can lift them.
MySQL's max_execution_time (error 3024, SELECT only) and MariaDB's
max_statement_time (seconds, error 1969) are from their server manuals; MySQL
itself was not available to test, MariaDB 10.11 was.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any, cast
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy.engine import URL
from sqlalchemy.engine.default import DefaultDialect
from sqlalchemy.pool import QueuePool

from connectors.sql.settings import SqlSettings
from connectors.sql.urls import to_url

MULTI_STATEMENTS = 1 << 16  # MySQL's CLIENT_MULTI_STATEMENTS capability flag

ENFORCED = ("postgresql", "mysql", "mariadb", "sqlite")  # okrsync keeps these read-only
SQLITE_STEPS = 1000  # virtual-machine steps between checks of the SQLite deadline


def create(settings: SqlSettings) -> sa.Engine:
    """One engine per connection, its pool as large as ``max_concurrency``; nothing connects yet.

    Raises ImportError when the dialect's driver is not installed.
    """
    url = to_url(settings.url)
    backend = url.get_backend_name()
    connect_args: dict[str, Any] = {}

    def default(key: str, value: Any) -> None:
        if key not in url.query:
            connect_args[key] = value

    if backend == "postgresql":
        default("connect_timeout", max(2, round(settings.timeout)))
        default("application_name", "okrsync")
        if settings.ca_bundle is not None:
            default("sslrootcert", str(settings.ca_bundle))
    elif backend in ("mysql", "mariadb"):
        default("connect_timeout", max(1, round(settings.timeout)))
        # PyMySQL leaves multi-statements off; a url's ?client_flag= must not turn it on.
        flag = _int_option(url.query.get("client_flag", 0))
        if flag & MULTI_STATEMENTS:
            connect_args["client_flag"] = flag & ~MULTI_STATEMENTS
        if settings.ca_bundle is not None:
            connect_args["ssl"] = {"ca": str(settings.ca_bundle)}
    elif backend == "sqlite":
        url = _sqlite_read_only(url)
        default("timeout", settings.timeout)  # waiting for a writer's lock
        default("check_same_thread", False)  # pooled: one thread at a time, any thread
    options: dict[str, Any] = {}
    dialect = cast("type[DefaultDialect]", url.get_dialect())
    if issubclass(dialect.get_pool_class(url), QueuePool):
        options = {
            "pool_size": settings.max_concurrency,
            "max_overflow": 0,
            "pool_timeout": settings.timeout,
        }
    engine = sa.create_engine(url, connect_args=connect_args, hide_parameters=True, **options)
    if backend == "sqlite":
        sa.event.listen(engine, "connect", _sqlite_query_only)
    if backend == "postgresql":
        sa.event.listen(engine, "do_execute", _one_statement)
        sa.event.listen(engine, "do_execute_no_params", _one_statement_no_params)
    return engine


def _int_option(value: Any) -> int:
    try:
        return int(value if isinstance(value, str | int) else value[-1])
    except (TypeError, ValueError, IndexError):
        return 0


def _one_statement(cursor: Any, statement: str, parameters: Any, _context: Any) -> bool:
    """Run through psycopg's extended protocol: PostgreSQL refuses a second statement.

    ``binary=True`` is psycopg's public way to ask for it (results come back in
    binary format, which psycopg turns into the same Python values).
    """
    cursor.execute(statement, parameters, binary=True)
    return True


def _one_statement_no_params(cursor: Any, statement: str, context: Any) -> bool:
    return _one_statement(cursor, statement, None, context)


def _sqlite_read_only(url: URL) -> URL:
    """A file database opened read-only: a mistyped path fails instead of creating a file."""
    database = url.database or ""
    if database in ("", ":memory:"):
        return url
    if url.query.get("uri") not in ("true", "1"):
        database = "file:" + quote(database)
    return url.set(database=database, query={**url.query, "uri": "true", "mode": "ro"})


def _sqlite_query_only(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA query_only = ON")


@contextmanager
def read_only(conn: sa.Connection, seconds: float) -> Iterator[None]:
    """A read-only transaction limited to ``seconds``, rolled back on the way out."""
    name = conn.dialect.name
    millis = max(1, round(seconds * 1000))
    raw: Any = None
    if name == "postgresql":
        conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        conn.exec_driver_sql(f"SET LOCAL statement_timeout = {millis}")
    elif name in ("mysql", "mariadb"):
        if getattr(conn.dialect, "is_mariadb", False):
            conn.exec_driver_sql(f"SET SESSION max_statement_time = {seconds:.6f}")
        else:
            conn.exec_driver_sql(f"SET SESSION max_execution_time = {millis}")
        # SESSION, not the next transaction only: DDL commits implicitly and would
        # run in a fresh transaction that a START TRANSACTION READ ONLY no longer covers.
        conn.exec_driver_sql("SET SESSION TRANSACTION READ ONLY")
    elif name == "sqlite":
        raw = conn.connection.driver_connection
        deadline = time.monotonic() + seconds
        raw.set_progress_handler(lambda: int(time.monotonic() > deadline), SQLITE_STEPS)
    try:
        yield
    finally:
        if raw is not None:
            raw.set_progress_handler(None, 0)
        with suppress(sa.exc.DBAPIError):  # a broken connection: the pool discards it
            conn.rollback()


__all__ = ["ENFORCED", "create", "read_only"]
