"""The sql connector against real databases: a SQLite file, PostgreSQL and MariaDB.

PostgreSQL is the one named by ``OKRSYNC_TEST_PG_URL`` (skipped when down, unless
``OKRSYNC_TEST_REQUIRE_PG=1``); MariaDB runs at ``OKRSYNC_TEST_MARIADB_URL``
(default root@127.0.0.1:3306/test) when PyMySQL is installed. Each test makes its
own schema or table and drops it afterwards.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from pydantic import ValidationError

from connectors.sql.connector import (
    describe,
    open_connection,
    render,
)
from connectors.sql.engine import create, read_only
from connectors.sql.errors import classify
from connectors.sql.settings import SqlQuery, SqlSettings, SqlSource
from connectors.sql.text import parse
from connectors.sql.urls import secrets_of, shown, to_url
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.stats import metric_value
from okrsync.demo.simulators.warehouse import QUERIES, seed, url_for
from okrsync.domain.cycle import Cycle
from okrsync.errors import AuthError, MeasureError, QueryError, SourceDataError, TransientError
from okrsync.sdk.connector import Reading, RenderContext, Runtime
from okrsync.store.database import Store
from tests.support import FAST, NOW, TODAY, Sleeps, sync_now, write

CYCLE = Cycle.model_validate("2026-Q4")
CTX = RenderContext(CYCLE, NOW)  # 2026-11-15 12:00 UTC
PG_URL = os.environ.get("OKRSYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
MARIADB_URL = os.environ.get("OKRSYNC_TEST_MARIADB_URL", "mysql://root@127.0.0.1:3306/test")
PG_REQUIRED = os.environ.get("OKRSYNC_TEST_REQUIRE_PG") == "1"
HAS_PYMYSQL = importlib.util.find_spec("pymysql") is not None
PASSWORD = "s3cr3t-Pa55word"
ROWS = [  # id, d, amount, note
    (1, date(2026, 9, 30), "5.00", "before"),
    (2, date(2026, 10, 1), "10.50", "first :day 100%"),
    (3, date(2026, 11, 15), "20.25", "today"),
    (4, date(2026, 12, 31), "7.00", "last"),
    (5, date(2027, 1, 1), "100.00", "after"),
]


@dataclass
class Db:
    kind: str  # sqlite | postgresql | mariadb
    url: str  # what a connection's url: says
    admin: sa.Engine  # read-write, for setting up and checking
    table: str

    def snapshot(self) -> list[tuple[Any, ...]]:
        with self.admin.connect() as conn:
            rows = conn.exec_driver_sql(f"SELECT id, amount FROM {self.table} ORDER BY id")
            return [tuple(r) for r in rows]


def _fill(admin: sa.Engine, table: str) -> None:
    with admin.begin() as conn:
        conn.exec_driver_sql(
            f"CREATE TABLE {table} (id INTEGER PRIMARY KEY, d DATE NOT NULL, "
            "amount NUMERIC(12, 2) NOT NULL, note VARCHAR(40) NOT NULL)"
        )
        conn.execute(
            sa.text(f"INSERT INTO {table} VALUES (:id, :d, :amount, :note)"),
            [{"id": i, "d": d, "amount": a, "note": n} for i, d, a, n in ROWS],
        )


@pytest.fixture
def lite(tmp_path: Path) -> Iterator[Db]:
    path = tmp_path / "warehouse.db"
    admin = sa.create_engine(f"sqlite:///{path}")
    _fill(admin, "sales")
    yield Db("sqlite", f"sqlite:///{path}", admin, "sales")
    admin.dispose()


def _unavailable(reason: str) -> None:
    if PG_REQUIRED:
        pytest.fail(f"{reason} (OKRSYNC_TEST_REQUIRE_PG=1)")
    pytest.skip(reason)


@pytest.fixture
def pg() -> Iterator[Db]:
    schema = f"okrsync_sql_{uuid.uuid4().hex[:12]}"
    base = to_url(PG_URL)
    admin = sa.create_engine(
        base.update_query_dict({"options": f"-csearch_path={schema}"}),
        connect_args={"connect_timeout": 3},
    )
    try:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    except sa.exc.OperationalError as exc:
        admin.dispose()
        _unavailable(f"PostgreSQL at {base.render_as_string()} unreachable: {exc.orig}")
    try:
        _fill(admin, "sales")
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield Db("postgresql", url.render_as_string(hide_password=False), admin, "sales")
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()


@pytest.fixture
def maria() -> Iterator[Db]:
    if not HAS_PYMYSQL:
        pytest.skip("PyMySQL is not installed (pip install 'okrsync[mysql]'): MariaDB not tested")
    table = f"okrsync_sql_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(to_url(MARIADB_URL), connect_args={"connect_timeout": 3})
    try:
        _fill(admin, table)
    except sa.exc.OperationalError as exc:
        admin.dispose()
        pytest.skip(f"MariaDB at {MARIADB_URL} unreachable: {exc.orig}")
    yield Db("mariadb", MARIADB_URL, admin, table)
    with admin.begin() as conn:
        conn.exec_driver_sql(f"DROP TABLE IF EXISTS {table}, {table}_copy")
    admin.dispose()


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("postgresql", marks=pytest.mark.postgres),
        "mariadb",
    ]
)
def db(request: pytest.FixtureRequest) -> Db:
    name = {"sqlite": "lite", "postgresql": "pg", "mariadb": "maria"}[request.param]
    found: Db = request.getfixturevalue(name)
    return found


def measure(
    url: str, sql: str, *, sleep: Callable[[float], Any] | None = None, **options: Any
) -> Reading:
    settings = SqlSettings.model_validate({"type": "sql", "url": url, **options})
    runtime = Runtime(sleep=sleep) if sleep else FAST

    async def run() -> Reading:
        connection = open_connection(settings, runtime)
        try:
            return await connection.measure(render(SqlSource(connection="w", sql=sql), CTX))
        finally:
            await connection.aclose()

    return asyncio.run(run())


def fails(url: str, sql: str, kind: type[MeasureError], **options: Any) -> str:
    with pytest.raises(kind) as caught:
        measure(url, sql, **options)
    assert type(caught.value) is kind, caught.value
    return str(caught.value)


# --- values -------------------------------------------------------------------------------


def test_sum_and_count_with_bound_dates(db: Db) -> None:
    t = db.table
    cycle_sum = f"SELECT SUM(amount) FROM {t} WHERE d >= {{cycle.start}} AND d <= {{cycle.end}}"
    reading = measure(db.url, cycle_sum)
    assert reading.value == 37.75
    assert isinstance(reading.value, float)  # a Decimal from NUMERIC becomes a float
    assert reading.calls == 1
    assert "37.75" in reading.raw
    so_far = f"SELECT COUNT(*) FROM {t} WHERE d >= {{cycle.start}} AND d <= {{as_of}}"
    assert measure(db.url, so_far).value == 2.0  # the as-of day itself counts


def test_sql_sent_carries_binds_never_the_dates(db: Db) -> None:
    sent: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, params: Any, *_: Any) -> None:
        if db.table in statement:
            sent.append((statement, params))

    sa.event.listen(sa.Engine, "before_cursor_execute", capture)
    try:
        sql = f"SELECT COUNT(*) FROM {db.table} WHERE d >= {{cycle.start}} AND d <= {{cycle.end}}"
        assert measure(db.url, sql).value == 3.0
    finally:
        sa.event.remove(sa.Engine, "before_cursor_execute", capture)
    [(statement, params)] = sent
    assert "2026" not in statement
    expected = {"sqlite": "d >= ?", "postgresql": "%(cycle_start)s", "mariadb": "%(cycle_start)s"}
    assert expected[db.kind] in statement
    values = params.values() if isinstance(params, dict) else params
    assert any(str(v).startswith("2026-10-01") for v in values)


@pytest.mark.postgres
def test_postgresql_server_never_sees_the_date_text(pg: Db) -> None:
    """current_query() is the text the server received: the date arrives as a parameter."""
    sql = (
        "SELECT CASE WHEN {cycle.start} = make_date(2026, 10, 1) "
        "THEN position('2026' || '-10-01' IN current_query()) ELSE -1 END"
    )
    assert measure(pg.url, sql).value == 0.0


def test_colons_percents_and_casts_reach_the_database_unchanged(db: Db) -> None:
    sql = (
        f"SELECT COUNT(*) FROM {db.table} WHERE note = 'first :day 100%' "
        f"AND note LIKE '%:day%' AND d >= {{cycle.start}}"
    )
    assert measure(db.url, sql).value == 1.0
    if db.kind == "postgresql":  # a cast right after a placeholder
        assert measure(db.url, "SELECT {cycle.start}::date - DATE '2026-01-01'").value == 273.0


def test_a_bind_the_user_wrote_is_sent_as_written(lite: Db) -> None:
    message = fails(lite.url, "SELECT COUNT(*) FROM sales WHERE d >= :cycle_start", QueryError)
    assert "sqlite rejected the query" in message


@pytest.mark.postgres
def test_booleans_and_numeric_types(pg: Db) -> None:
    assert measure(pg.url, "SELECT EXISTS (SELECT 1 FROM sales WHERE d > {as_of})").value is True
    assert measure(pg.url, "SELECT 12.50::numeric(5, 2)").value == 12.5
    assert measure(pg.url, "SELECT 3::bigint").value == 3.0
    assert measure(pg.url, "SELECT 0.25::real").value == 0.25


def test_sqlite_comparison_is_a_number(lite: Db) -> None:
    assert measure(lite.url, "SELECT COUNT(*) > 0 FROM sales WHERE d = {cycle.start}").value == 1.0


SHAPES = [  # sql, message
    ("SELECT amount FROM sales WHERE 1 = 0", "returned no rows, not one"),
    ("SELECT amount FROM sales", "more than one row"),
    ("SELECT 1 AS a, 2 AS b", "returned 2 columns (a, b), not one"),
    ("SELECT SUM(amount) AS total FROM sales WHERE 1 = 0", "returned NULL in total"),
    ("SELECT note FROM sales WHERE id = 3", "returned text 'today', not a number"),
    ("SELECT 1e999", "returned inf, not a finite number"),
    ("SELECT x'00'", "returned a bytes"),
]


@pytest.mark.parametrize(("sql", "message"), SHAPES)
def test_answers_that_are_not_one_number(lite: Db, sql: str, message: str) -> None:
    assert message in fails(lite.url, sql, SourceDataError)


@pytest.mark.postgres
@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("SELECT 'NaN'::float8", "returned nan, not a finite number"),
        ("SELECT 'NaN'::numeric", "returned NaN, not a finite number"),
        ("SELECT '-Infinity'::float8", "returned -inf, not a finite number"),
        ("SELECT DATE '2026-10-01'", "returned a date"),
        ("SELECT d FROM sales WHERE d >= {cycle.start}", "more than one row"),
    ],
)
def test_postgresql_answers_that_are_not_one_number(pg: Db, sql: str, message: str) -> None:
    assert message in fails(pg.url, sql, SourceDataError)


# --- validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sql", "message"),
    [
        ("DELETE FROM sales", "starting with SELECT or WITH, not DELETE"),
        ("  -- note\n  update sales set amount = 0", "not UPDATE"),
        ("WITH d AS (DELETE FROM sales RETURNING 1) SELECT COUNT(*) FROM d", "DELETE is not"),
        ("WITH x AS (SELECT 1) DELETE FROM sales", "DELETE is not allowed"),
        ("SELECT 1; DELETE FROM sales", "one statement"),
        ("SELECT 1; SELECT 2", "one statement"),
        ("SELECT * INTO copy FROM sales", "INTO is not allowed"),
        ("SELECT 1 /* ok */; DROP TABLE sales", "one statement"),
        ("", "sql is empty"),
        ("-- nothing but a comment", "sql is empty"),
        ("SELECT COUNT(*) FROM sales WHERE d >= '{cycle.start}'", "inside quotes"),
        ('SELECT "{as_of}"', "inside quotes"),
        ("SELECT $$ {cycle.end} $$", "inside quotes"),
        ("SELECT 'a\\' ; COMMIT; DROP TABLE victim; -- '", "one statement"),
    ],
)
def test_source_validation(sql: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SqlSource(connection="w", sql=sql)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    "sql",
    [
        "select 1;",
        "(SELECT 1)",
        "WITH x AS (SELECT 1 AS n) SELECT n FROM x",
        "SELECT 'delete' AS word -- DROP in a comment",
        'SELECT COUNT("update") FROM t',
        "SELECT COUNT(*) FROM t WHERE created_at >= {cycle.start} -- since {cycle.start}",
        "SELECT 'it''s' AS s, COUNT(*) FROM t WHERE d >= {cycle.start}",
    ],
)
def test_source_validation_accepts(sql: str) -> None:
    SqlSource(connection="w", sql=sql)


@pytest.mark.parametrize(
    ("sql", "sent"),
    [
        ("SELECT ':x' AS a", "SELECT ':x' AS a"),
        ("SELECT 'a\\:b', 'c\\' FROM t", "SELECT 'a\\:b', 'c\\' FROM t"),
        ("SELECT x::int, arr[1 :n] FROM t -- :d", "SELECT x::int, arr[1 :n] FROM t -- :d"),
        ("SELECT '12:30', $$ :c $$, \"a:b\" FROM t;", "SELECT '12:30', $$ :c $$, \"a:b\" FROM t"),
        (
            "SELECT x FROM t WHERE d >= {cycle.start}::date AND n = ':y' -- {as_of}",
            "SELECT x FROM t WHERE d >= :cycle_start ::date AND n = ':y' -- {as_of}",
        ),
        ("SELECT 1 WHERE x={cycle.end}", "SELECT 1 WHERE x=:cycle_end"),
    ],
)
def test_only_placeholders_become_binds(sql: str, sent: str) -> None:
    """What sqlalchemy.text() makes of the statement: the user's SQL, binds for placeholders."""
    statement = parse(sql)
    assert str(sa.text(statement.text)) == sent
    assert statement.binds == tuple(n for n in ("cycle_start", "cycle_end") if n in sent)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "Field required"),
        ({"url": "not a url"}, "not a SQLAlchemy URL"),
        ({"url": f"nonsense://u:{PASSWORD}@h/db"}, "no SQLAlchemy dialect 'nonsense'"),
        ({"url": f"snowflake://u:{PASSWORD}@acct/db"}, "pip install 'okrsync[snowflake]'"),
        ({"url": "postgresql+asyncpg://u@h/db"}, "is an asyncio driver"),
        ({"url": "sqlite:///x.db", "ca_bundle": __file__}, "ca_bundle applies to postgresql"),
        ({"url": "sqlite:///x.db", "statement_timeout": 0}, "greater than 0"),
    ],
)
def test_settings_validation(options: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        SqlSettings.model_validate({"type": "sql", **options})
    # as the loader shows it: the messages, never the input (a url may hold a password)
    text = " ".join(e["msg"] for e in caught.value.errors(include_input=False))
    assert message in text
    assert PASSWORD not in text


def test_missing_driver_is_reported_when_the_connection_opens() -> None:
    if importlib.util.find_spec("MySQLdb") is not None:
        pytest.skip("mysqlclient is installed")
    settings = SqlSettings(type="sql", url=f"mysql+mysqldb://u:{PASSWORD}@127.0.0.1/test")
    with pytest.raises(MeasureError) as caught:
        open_connection(settings, FAST)
    assert "driver (MySQLdb) is not installed: pip install 'okrsync[mysql]'" in str(caught.value)


def test_render_pins_only_the_dates_used_and_describe_shows_them() -> None:
    source = SqlSource(connection="w", sql="SELECT SUM(x)\n  FROM t WHERE d >= {cycle.start}")
    rendered = render(source, CTX)
    assert rendered.params == {"cycle_start": "2026-10-01"}
    assert render(source, CTX) == rendered  # identical queries deduplicate
    assert (
        describe(rendered)
        == "SELECT SUM(x) FROM t WHERE d >= :cycle_start with cycle_start=2026-10-01"
    )
    later = render(SqlSource(connection="w", sql="SELECT {as_of} < {cycle.end}"), CTX)
    assert later.params == {"as_of": "2026-11-15T12:00:00+00:00", "cycle_end": "2026-12-31"}


def test_a_tampered_date_never_reaches_the_database(lite: Db) -> None:
    before = lite.snapshot()
    tampered = SqlQuery(
        connection="w",
        sql="SELECT COUNT(*) FROM sales WHERE d >= {cycle.start}",
        params={"cycle_start": "2026-10-01'; DROP TABLE sales; --"},
    )

    async def run() -> Reading:
        connection = open_connection(SqlSettings(type="sql", url=lite.url), FAST)
        try:
            return await connection.measure(tampered)
        finally:
            await connection.aclose()

    with pytest.raises(MeasureError, match="not a date"):
        asyncio.run(run())
    assert lite.snapshot() == before


# --- read-only ----------------------------------------------------------------------------

SMUGGLED = [
    "WITH x AS (SELECT 1) DELETE FROM {t}",
    "SELECT 1; DELETE FROM {t}",
    "DELETE FROM {t}",
    "UPDATE {t} SET amount = 0",
    "INSERT INTO {t} VALUES (9, '2026-10-02', 1, 'x')",
    "DROP TABLE {t}",
    "CREATE TABLE {t}_copy (a INTEGER)",
]


@pytest.mark.parametrize("statement", SMUGGLED)
def test_the_database_itself_refuses_writes(db: Db, statement: str) -> None:
    """Past validation (bypassed here), the read-only transaction is the guard."""
    before = db.snapshot()
    settings = SqlSettings(type="sql", url=db.url)
    guarded = create(settings)
    try:
        with (
            pytest.raises(sa.exc.DBAPIError) as caught,
            guarded.connect() as conn,
            read_only(conn, 5),
        ):
            conn.exec_driver_sql(statement.format(t=db.table))
    finally:
        guarded.dispose()
    error = classify(caught.value, connecting=False, url=to_url(db.url), settings=settings)
    assert isinstance(error, QueryError), error
    assert db.snapshot() == before


# The fault hunt's finding (#16): PostgreSQL reads \' as a backslash and the end of a
# string, MySQL as an escaped quote; the old lexer read it MySQL's way only, so the rest
# reached PostgreSQL as more statements.
BACKSLASH_BYPASS = [
    "SELECT 'a\\' ; COMMIT; DROP TABLE victim; -- '",
    "SELECT 'a\\' ; COMMIT; SET statement_timeout = 0; SELECT 7 FROM pg_sleep(8); -- '",
    'SELECT "a\\"" ; COMMIT; DROP TABLE victim -- "',  # the same trick, MySQL's way round
    "SELECT E'a\\' ; COMMIT; DROP TABLE victim; -- '",
]


@pytest.mark.parametrize("sql", BACKSLASH_BYPASS)
def test_a_backslash_before_a_quote_smuggles_no_statement(sql: str) -> None:
    with pytest.raises(ValidationError, match="one statement"):
        SqlSource(connection="w", sql=sql)


def test_a_statement_read_two_ways_is_refused_as_ambiguous() -> None:
    """A placeholder that is code to PostgreSQL ($$ string) and a comment to MySQL."""
    with pytest.raises(ValidationError, match="ambiguous"):
        SqlSource(connection="w", sql="SELECT $$ -- $$, {cycle.start}")


MULTI_STATEMENTS = [
    "SELECT 1; COMMIT; DROP TABLE {t}",
    "SELECT 1; COMMIT; CREATE TABLE {t}_copy (a INTEGER)",
]


@pytest.mark.parametrize("statement", MULTI_STATEMENTS)
def test_the_driver_sends_one_statement_whatever_the_lexer_let_through(
    db: Db, statement: str
) -> None:
    """Past validation (bypassed here), no second statement runs, so none can COMMIT."""
    before = db.snapshot()
    guarded = create(SqlSettings(type="sql", url=db.url))
    try:
        with (
            pytest.raises(sa.exc.DBAPIError),
            guarded.connect() as conn,
            read_only(conn, 5),
        ):
            conn.execute(sa.text(statement.format(t=db.table)))
    finally:
        guarded.dispose()
    assert db.snapshot() == before
    with db.admin.connect() as conn:
        assert f"{db.table}_copy" not in sa.inspect(conn).get_table_names()


def test_mariadb_url_cannot_turn_multi_statements_on(maria: Db) -> None:
    before = maria.snapshot()
    guarded = create(SqlSettings(type="sql", url=f"{maria.url}?client_flag=65536"))
    try:
        with (
            pytest.raises(sa.exc.DBAPIError),
            guarded.connect() as conn,
            read_only(conn, 5),
        ):
            conn.execute(sa.text(f"SELECT 1; COMMIT; DROP TABLE {maria.table}"))
    finally:
        guarded.dispose()
    assert maria.snapshot() == before


@pytest.mark.postgres
def test_postgresql_statement_cannot_lift_its_own_time_limit(pg: Db) -> None:
    sql = "SELECT 7 FROM (SELECT set_config('statement_timeout', '0', true)) AS s, pg_sleep(4)"
    started = time.monotonic()
    message = fails(pg.url, sql, QueryError, statement_timeout=0.5)
    assert time.monotonic() - started < 3
    assert message.startswith("query timed out after 0.5s (statement_timeout)")


@pytest.mark.postgres
def test_postgresql_writes_hidden_in_a_select_are_refused(pg: Db) -> None:
    with pg.admin.begin() as conn:
        conn.exec_driver_sql(
            "CREATE FUNCTION sneaky() RETURNS integer LANGUAGE plpgsql AS "
            "$$ BEGIN DELETE FROM sales; RETURN 1; END $$"
        )
        conn.exec_driver_sql("CREATE SEQUENCE counter")
    before = pg.snapshot()
    message = fails(pg.url, "SELECT sneaky()", QueryError)
    assert "tried to write" in message
    assert "cannot execute DELETE in a read-only transaction" in message
    assert "read-only" in fails(pg.url, "SELECT nextval('counter')", QueryError)
    assert pg.snapshot() == before


def test_sqlite_file_is_opened_read_only_and_never_created(tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    message = fails(f"sqlite:///{missing}", "SELECT 1", QueryError)
    assert message.startswith(f"cannot open sqlite:///{missing}: ")
    assert "unable to open database file" in message
    assert not missing.exists()


# --- failures -----------------------------------------------------------------------------


def test_statement_timeout(db: Db) -> None:
    slow = {
        "sqlite": "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) "
        "SELECT COUNT(*) FROM n",
        "postgresql": "SELECT pg_sleep(5)",
        "mariadb": "SELECT SLEEP(5)",
    }[db.kind]
    sleeps = Sleeps()
    started = time.monotonic()
    message = fails(db.url, slow, QueryError, statement_timeout=0.4, sleep=sleeps)
    assert time.monotonic() - started < 3
    assert message.startswith("query timed out after 0.4s (statement_timeout)")
    assert sleeps.waits == []  # a slow query stays slow: not retried
    assert measure(db.url, f"SELECT COUNT(*) FROM {db.table}", statement_timeout=0.4).value == 5


@pytest.mark.parametrize(
    ("sql", "words"),
    [
        ("SELECT COUNT(*) FROM nope", {"sqlite": "no such table: nope", "postgresql": 'relation "nope" does not exist', "mariadb": "nope' doesn't exist"}),
        ("SELECT SUM(nope) FROM {t}", {"sqlite": "no such column: nope", "postgresql": 'column "nope" does not exist', "mariadb": "Unknown column 'nope'"}),
        ("SELECT COUNT(*) FROM {t} WHERE WHERE", {"sqlite": 'near "WHERE": syntax error', "postgresql": 'syntax error at or near "WHERE"', "mariadb": "You have an error in your SQL syntax"}),
    ],
)  # fmt: skip
def test_bad_sql_carries_the_databases_own_words(db: Db, sql: str, words: dict[str, str]) -> None:
    sleeps = Sleeps()
    message = fails(db.url, sql.format(t=db.table), QueryError, sleep=sleeps)
    assert message.startswith(f"{to_url(db.url).get_backend_name()} rejected the query: ")
    assert words[db.kind] in message
    assert "\n" not in message
    assert sleeps.waits == []


UNREACHABLE = [
    pytest.param(f"postgresql://okrsync:{PASSWORD}@127.0.0.1:1/test", id="postgresql"),
    pytest.param(
        f"mysql://okrsync:{PASSWORD}@127.0.0.1:1/test",
        id="mariadb",
        marks=pytest.mark.skipif(not HAS_PYMYSQL, reason="PyMySQL is not installed"),
    ),
]


@pytest.mark.parametrize("url", UNREACHABLE)
def test_unreachable_database_is_transient_after_retries(url: str) -> None:
    sleeps = Sleeps()
    message = fails(url, "SELECT 1", TransientError, sleep=sleeps, retry={"attempts": 3})
    assert len(sleeps.waits) == 2
    assert message.startswith("cannot connect to ")
    assert "okrsync:***@127.0.0.1:1/test" in message
    assert PASSWORD not in message


@pytest.mark.postgres
def test_unknown_postgresql_user_is_an_auth_error(pg: Db) -> None:
    sleeps = Sleeps()
    url = f"postgresql://okrsync_nobody:{PASSWORD}@127.0.0.1:5432/test"
    message = fails(url, "SELECT 1", AuthError, sleep=sleeps)
    assert 'refused the login: connection failed: connection to server at "127.0.0.1"' in message
    assert 'role "okrsync_nobody" does not exist' in message
    assert PASSWORD not in message
    assert sleeps.waits == []  # not retried


def test_wrong_mariadb_password_is_an_auth_error(maria: Db) -> None:
    url = to_url(maria.url).set(password=PASSWORD).render_as_string(hide_password=False)
    message = fails(url, "SELECT 1", AuthError)
    assert "refused the login: Access denied for user 'root'" in message
    assert PASSWORD not in message


@pytest.mark.postgres
def test_queries_run_in_parallel_up_to_max_concurrency(pg: Db) -> None:
    settings = SqlSettings(type="sql", url=pg.url, max_concurrency=4)
    source = render(SqlSource(connection="w", sql="SELECT COUNT(*) FROM pg_sleep(0.3)"), CTX)

    async def run() -> list[Reading]:
        connection = open_connection(settings, FAST)
        try:
            return list(await asyncio.gather(*(connection.measure(source) for _ in range(4))))
        finally:
            await connection.aclose()

    started = time.monotonic()
    readings = asyncio.run(run())
    assert [r.value for r in readings] == [1.0] * 4
    assert time.monotonic() - started < 1.0  # one after another would take 1.2 s


# --- the demo warehouse and whole syncs ---------------------------------------------------


def test_warehouse_agrees_with_the_stats_simulator_on_every_day(tmp_path: Path) -> None:
    path = seed(tmp_path / "w.db", start=CYCLE.start, end=CYCLE.end, today=TODAY)
    db = sqlite3.connect(path)
    try:
        day = CYCLE.start - timedelta(1)
        while day <= TODAY:
            as_of = f"{day.isoformat()} 12:00:00.000000"  # how SQLite receives :as_of
            for name in ("annual_revenue", "new_product_sales"):
                sql = QUERIES[name].replace("{as_of}", "?")
                [(value,)] = db.execute(sql, [as_of] * sql.count("?")).fetchall()
                assert value == metric_value(name, CYCLE.start, CYCLE.end, day), (name, day)
            day += timedelta(1)
        [(future,)] = db.execute("SELECT COUNT(*) FROM invoices WHERE issued_on > ?", [str(TODAY)])
        assert future == 0
    finally:
        db.close()


def test_warehouse_bills_each_subscription_first_on_the_day_it_started(tmp_path: Path) -> None:
    path = seed(tmp_path / "w.db", start=CYCLE.start, end=CYCLE.end, today=TODAY)
    db = sqlite3.connect(path)
    try:
        subs = db.execute("SELECT customer, arr, started_on FROM subscriptions").fetchall()
        invoices = set(
            db.execute("SELECT customer, amount, issued_on FROM invoices WHERE product = 'core'")
        )
    finally:
        db.close()
    late = [s for s in subs if date.fromisoformat(s[2]).day >= 29]
    assert late, "the seed has no subscription starting on the 29th-31st to check"
    for customer, arr, started_on in subs:
        first = (customer, round(round(arr * 100) / 12) / 100, started_on)
        assert first in invoices, first


def test_warehouse_is_deterministic_and_replaced_whole(tmp_path: Path) -> None:
    def dump(path: Path) -> list[str]:
        db = sqlite3.connect(path)
        try:
            return list(db.iterdump())
        finally:
            db.close()

    first = dump(seed(tmp_path / "a.db", start=CYCLE.start, end=CYCLE.end, today=TODAY))
    target = tmp_path / "b.db"
    target.write_text("not a database")
    assert dump(seed(target, start=CYCLE.start, end=CYCLE.end, today=TODAY)) == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a.db", "b.db"]  # no temp file left


def _kr(kr_id: str, sql: str, connection: str = "warehouse", **head: Any) -> str:
    lines = [f"      - id: {kr_id}", f"        title: {kr_id}", "        owner: o@example.com"]
    lines += [f"        {k}: {v}" for k, v in head.items()]
    lines += ["        source:", f"          connection: {connection}", "          sql: >"]
    lines += [f"            {sql}"]
    return "\n".join(lines) + "\n"


def _config(tmp_path: Path, connections: str, krs: list[str], env: dict[str, str]) -> loader.Config:
    okrs = "cycle: 2026-Q4\nobjectives:\n  - id: obj\n    title: Objective\n    key_results:\n"
    directory = write(
        tmp_path / "m",
        {"connections.yaml": "connections:\n" + connections, "okrs.yaml": okrs + "".join(krs)},
    )
    return loader.load(directory, Registry.default(), environ=env)


def test_whole_sync_stores_values_and_keeps_the_last_good_one(tmp_path: Path) -> None:
    warehouse = seed(tmp_path / "warehouse.db", start=CYCLE.start, end=CYCLE.end, today=TODAY)
    connections = "  warehouse:\n    type: sql\n    url: ${WAREHOUSE_URL}\n"
    krs = [
        _kr("arr", QUERIES["annual_revenue"], start=12000000, target=24000000),
        _kr("new-sales", QUERIES["new_product_sales"], start=12000000, target=15000000),
        _kr("revenue", QUERIES["revenue_this_cycle"], start=0, target=6000000),
        _kr("invoiced-today", "SELECT COUNT(*) > 0 FROM invoices WHERE issued_on = date({as_of})", type="milestone"),
    ]  # fmt: skip
    config = _config(tmp_path, connections, krs, {"WAREHOUSE_URL": url_for(warehouse)})
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        first = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
        assert {k: r.status for k, r in first.items()} == dict.fromkeys(first, "ok")
        states = store.states()
        assert states["arr"].value == metric_value("annual_revenue", CYCLE.start, CYCLE.end, TODAY)
        expected = metric_value("new_product_sales", CYCLE.start, CYCLE.end, TODAY)
        assert states["new-sales"].value == expected
        assert 0 < (states["revenue"].value or 0) < 6000000
        assert states["invoiced-today"].value == 1.0
        assert states["revenue"].query == (
            "SELECT ROUND(COALESCE(SUM(amount), 0), 2) AS revenue FROM invoices WHERE issued_on "
            ">= :cycle_start AND issued_on <= :as_of "
            "with cycle_start=2026-10-01, as_of=2026-11-15T12:00:00+00:00"
        )
        assert first["arr"].raw == f"arr = {states['arr'].value}"

        warehouse.rename(tmp_path / "moved.db")
        later = NOW + timedelta(hours=2)
        second = {r.kr_id: r for r in sync_now(config, store, now=later, runtime=FAST).records}
        record = second["arr"]
        assert (record.status, record.error_kind) == ("error", "query")
        assert (record.error or "").startswith("connection 'warehouse': cannot open ")
        assert "unable to open database file" in (record.error or "")
        kept = store.state("arr")
        assert kept is not None
        assert (kept.value, kept.measured_at) == (states["arr"].value, states["arr"].measured_at)
        assert kept.last_status == "error"


@pytest.mark.postgres
def test_whole_sync_with_a_wrong_password_never_stores_it(tmp_path: Path, pg: Db) -> None:
    url = to_url(pg.url).set(username="okrsync_nobody").render_as_string(hide_password=False)
    host = url.split("@", 1)[1]
    connections = (
        f"  warehouse:\n    type: sql\n    url: postgresql://okrsync_nobody:${{PG_PASSWORD}}@{host}\n"
        "  good:\n    type: sql\n    url: ${GOOD_URL}\n"
    )
    krs = [
        _kr("revenue", "SELECT COALESCE(SUM(amount), 0) FROM sales", start=0, target=100),
        _kr("count", "SELECT COUNT(*) FROM sales", connection="good", start=0, target=10),
    ]
    config = _config(tmp_path, connections, krs, {"PG_PASSWORD": PASSWORD, "GOOD_URL": pg.url})
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        records = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
    bad = records["revenue"]
    assert (bad.status, bad.error_kind) == ("error", "auth")
    assert 'role "okrsync_nobody" does not exist' in (bad.error or "")
    assert PASSWORD not in (bad.error or "") + (bad.raw or "")
    assert (records["count"].status, records["count"].value) == ("ok", 5.0)


@pytest.mark.postgres
def test_a_secret_url_shows_neither_user_nor_database_in_errors(tmp_path: Path, pg: Db) -> None:
    """A url that is a secret whole is masked whole, also as messages rewrite it (#16.4)."""
    parsed = to_url(pg.url).set(username="okrsync_canary_user", password=PASSWORD)
    secret = parsed.render_as_string(hide_password=False).replace(
        "postgresql+psycopg", "postgresql"
    )
    connections = "  warehouse:\n    type: sql\n    url: ${CANARY_URL}\n"
    krs = [_kr("revenue", "SELECT COUNT(*) FROM sales", start=0, target=100)]
    config = _config(tmp_path, connections, krs, {"CANARY_URL": secret})
    with Store.open(f"sqlite:///{tmp_path / 'store.db'}") as store:
        bad = sync_now(config, store, now=NOW, runtime=FAST).records[0]
    text = (bad.error or "") + (bad.raw or "")
    assert (bad.status, bad.error_kind) == ("error", "auth"), text
    assert "refused the login" in text
    assert "***" in text
    for part in ("okrsync_canary_user", PASSWORD, f"/{parsed.database}"):
        assert part not in text


def test_query_options_never_reach_a_message() -> None:
    """A password may ride in the query string; the redactor cannot match a rewritten URL."""
    url = f"postgresql://okrsync@127.0.0.1:1/test?password={PASSWORD}&sslmode=disable"
    assert shown(to_url(url)) == "postgresql://okrsync@127.0.0.1:1/test?…"
    message = fails(url, "SELECT 1", TransientError, retry={"attempts": 1})
    assert message.startswith("cannot connect to postgresql://okrsync@127.0.0.1:1/test?…")
    assert PASSWORD not in message
    assert secrets_of(to_url(url)) == [PASSWORD]  # sslmode=disable is not a secret


def test_a_secret_url_is_shown_as_written_so_the_redactor_masks_it() -> None:
    text = "postgresql://okrsync@db.internal/finance"
    assert shown(to_url(text)) == text  # not postgresql+psycopg://…, which no redactor knows
    named = "mysql+pymysql://okrsync:pw12345@db.internal/finance"
    assert shown(to_url(named)) == "mysql://okrsync:***@db.internal/finance"
