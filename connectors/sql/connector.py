"""``type: sql``: one number from a read-only query, on any database SQLAlchemy speaks.

A source is ``sql:``, one ``SELECT`` (or ``WITH … SELECT``) that returns exactly one
row with one column. ``{cycle.start}``, ``{cycle.end}`` and ``{as_of}`` become the
bound parameters ``:cycle_start``, ``:cycle_end`` (``datetime.date``) and ``:as_of``
(an aware UTC ``datetime``), so each driver binds them natively and no date is
ever pasted into the text (:mod:`connectors.sql.text`). Rendering pins the values
in the rendered source (:class:`SqlQuery`), so identical queries with identical
dates are run once and ``explain`` shows both the statement and its dates.

Queries run on the connection's own threads (:class:`okrsync.sdk.threads.ThreadedCalls`;
SQLAlchemy's engines are blocking) through one pooled engine sized to
``max_concurrency``, each in a read-only transaction limited to
``statement_timeout`` and rolled back (:mod:`connectors.sql.engine`); the answer
must be one row with one number or flag (:mod:`connectors.sql.answers`); failures
are classified in :mod:`connectors.sql.errors` and transient ones retried under
:func:`okrsync.sdk.retry.call_with_retries`. Messages carry the database's own words and
the URL with its password masked, never the password.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.engine import URL

from connectors.sql.answers import to_value
from connectors.sql.engine import create, read_only
from connectors.sql.errors import classify
from connectors.sql.settings import SqlQuery, SqlSettings, SqlSource
from connectors.sql.text import parse
from connectors.sql.urls import driver_hint, shown, to_url
from okrsync.errors import MeasureError
from okrsync.sdk.connector import (
    Connector,
    Reading,
    RenderContext,
    Runtime,
)
from okrsync.sdk.redaction import MASK, REDACTOR
from okrsync.sdk.retry import call_with_retries
from okrsync.sdk.threads import ThreadedCalls


def render(source: SqlSource, ctx: RenderContext) -> SqlQuery:
    """Pin the dates the statement uses; the text itself is never filled in."""
    as_of = ctx.as_of if ctx.as_of.tzinfo else ctx.as_of.replace(tzinfo=UTC)
    values = {
        "cycle_start": ctx.cycle.start.isoformat(),
        "cycle_end": ctx.cycle.end.isoformat(),
        "as_of": as_of.astimezone(UTC).isoformat(),
    }
    params = {name: values[name] for name in parse(source.sql).binds}
    return SqlQuery(connection=source.connection, sql=source.sql, params=params)


def describe(source: SqlSource) -> str:
    """``SELECT … WHERE issued_on >= :cycle_start with cycle_start=2026-10-01``.

    No square brackets: terminals that read markup (rich) would swallow them.
    """
    statement = parse(source.sql)
    params = source.params if isinstance(source, SqlQuery) else {}
    if not params:
        return statement.shown
    return f"{statement.shown} with {', '.join(f'{k}={v}' for k, v in params.items())}"


def _clause(source: SqlQuery) -> sa.TextClause:
    statement = parse(source.sql)
    missing = [name for name in statement.binds if name not in source.params]
    if missing:
        raise MeasureError(f"sql source rendered without {', '.join(missing)} (a bug)")
    try:
        binds = [
            sa.bindparam(name, datetime.fromisoformat(text), type_=sa.DateTime(timezone=True))
            if name == "as_of"
            else sa.bindparam(name, date.fromisoformat(text), type_=sa.Date())
            for name, text in source.params.items()
            if name in statement.binds
        ]
    except ValueError:  # only render() makes params: never text from outside
        raise MeasureError("sql source rendered with a value that is not a date (a bug)") from None
    return sa.text(statement.text).bindparams(*binds)


class SqlConnection:
    def __init__(self, settings: SqlSettings, runtime: Runtime, engine: sa.Engine) -> None:
        self._settings, self._runtime, self._engine = settings, runtime, engine
        self._url = to_url(settings.url)
        self._hidden = _secret_spellings(settings, self._url)
        self._threads = ThreadedCalls(settings.max_concurrency, "sql")

    async def measure(self, source: SqlSource) -> Reading:
        if not isinstance(source, SqlQuery):
            raise MeasureError("sql source was not rendered (a bug: the engine renders sources)")
        clause = _clause(source)
        tries = 0

        async def attempt() -> tuple[float | bool, str]:
            nonlocal tries
            tries += 1
            return await self._threads.call(self._run, clause)

        what = f"sql {shown(self._url)}"
        value, raw = await call_with_retries(
            attempt, self._settings.retry, self._runtime.sleep, what=what
        )
        return Reading(value, raw, calls=tries)

    async def aclose(self) -> None:
        await asyncio.to_thread(self._close)

    def _close(self) -> None:
        self._threads.close()
        self._engine.dispose()

    def _run(self, clause: sa.TextClause) -> tuple[float | bool, str]:
        """On a pool thread: one try, in a read-only transaction, its failure classified."""
        connecting = True
        try:
            with self._engine.connect() as conn:
                connecting = False
                with read_only(conn, self._settings.statement_timeout):
                    result = conn.execute(clause)
                    columns = list(result.keys()) if result.returns_rows else []
                    rows = result.fetchmany(2) if result.returns_rows else []
        except sa.exc.SQLAlchemyError as exc:
            error = classify(
                exc,
                connecting=connecting,
                url=self._url,
                settings=self._settings,
                hidden=self._hidden,
            )
            raise error from None
        return to_value(columns, [tuple(row) for row in rows])


def _secret_spellings(settings: SqlSettings, url: URL) -> tuple[str, ...]:
    """A url that is itself a secret (``url: ${WAREHOUSE_URL}``) stays one as messages show it.

    Messages show the url rewritten (:func:`shown`: the password masked), which
    the redactor would not recognise: those spellings are registered. The
    database's own words name the user and the database; they are returned, to
    be masked in this connection's messages only (a database called ``test``
    must not vanish from every log line). The host stays readable: "cannot
    connect" must still say where.
    """
    if REDACTOR.redact(settings.url.strip()) != MASK:
        return ()  # written in the file, or only its password a secret: shown as written
    bare = url.set(query={})
    for form in (shown(url), shown(bare), bare.render_as_string(hide_password=True)):
        REDACTOR.add(form)
    return tuple(part for part in (url.username, url.database) if part)


def open_connection(settings: SqlSettings, runtime: Runtime) -> SqlConnection:
    url = to_url(settings.url)
    try:
        engine = create(settings)
    except ImportError as exc:
        backend = url.get_backend_name()
        raise MeasureError(
            f"the {backend} driver ({exc.name}) is not installed: {driver_hint(backend)}"
        ) from None
    except sa.exc.SQLAlchemyError as exc:
        raise MeasureError(f"cannot set up {shown(url)}: {type(exc).__name__}") from None
    return SqlConnection(settings, runtime, engine)


CONNECTOR = Connector(
    type="sql",
    settings_model=SqlSettings,
    source_model=SqlSource,
    open=open_connection,
    render=render,
    describe=describe,
    doc="Any SQLAlchemy database: one read-only SELECT returning one number or flag.",
)

__all__ = [
    "CONNECTOR",
    "SqlConnection",
    "describe",
    "render",
    "to_value",
]
