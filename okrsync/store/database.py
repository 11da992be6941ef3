"""Where measured values live: runs, every measurement, and each KR's latest state.

SQLAlchemy Core on SQLite (the default, one file) or PostgreSQL. A sync run is
written in ONE transaction — the run, its measurements and the ``kr_state``
upserts — so a process killed mid-run leaves the previous complete state.
``kr_state.value`` is the last GOOD value: an error or a held (suspicious)
value never overwrites it. The schema is owned by the alembic scripts in
``okrsync/migrations``; :meth:`Store.open` upgrades to head unless told not to,
refuses a database that holds tables but no okrsync schema version, and a
read-only open never creates or migrates anything. A SQLite store pins the
file it opened: moved, deleted or replaced, it fails every use with the reason
instead of writing the moved file or creating an empty one in its place.
"""

from __future__ import annotations

import json
import os
import socket
import sqlite3
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import fields, replace
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy import Connection, Engine
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError

from okrsync.domain.records import (
    Accepted,
    InitiativeRecord,
    KrState,
    MeasurementRecord,
    PushRecord,
    RunRecord,
    check_aware,
)
from okrsync.errors import StoreError, excerpt
from okrsync.sdk.quota import Observation, Pacing, Spent, Window
from okrsync.store import initiatives as store_initiatives
from okrsync.store import notices as store_notices
from okrsync.store import pushes as store_pushes
from okrsync.store import quota as store_quota
from okrsync.store import totals as store_totals
from okrsync.store.tables import (
    SCHEMA_HEAD,
    UtcDateTime,
    graded_cycles_table,
    kr_state_table,
    measurements_table,
    metadata,
    pushes_table,
    runs_table,
)

DEFAULT_URL = "sqlite:///okrsync.db"
MIGRATIONS = Path(__file__).parent / "migrations"
SQLITE_BUSY_TIMEOUT_MS = 30_000
PG_CONNECT_TIMEOUT_S = 10
_PG_MIGRATION_LOCK = 0x6F6B7273  # "okrs": serialises concurrent first opens on PostgreSQL
_WRITE = "okrsync_write"  # execution option: take SQLite's write lock at BEGIN

NO_STORE_HINT = "run okrsync sync or okrsync db upgrade"


class StoreUnusable(StoreError):
    """The store answered and cannot be used as it is: retrying will not help.

    A schema newer than this code, a database that is not an okrsync store,
    or no store at all for a read-only command.
    """


class NoStoreYet(StoreUnusable):
    """A read-only open found nothing: no file, or an empty database."""


# kr_state columns each status writes; the rest keep what an earlier run left.
_ALWAYS = (
    *("last_attempt_at", "last_status", "last_run_id", "connection", "query"),
    *("throttled_reason", "throttled_at", "throttled_refresh"),  # a measurement clears them
)
WRITE_CHUNK = 1000  # rows per executemany: bounds what a 10,000-KR run builds at once
_STATE_COLUMNS = tuple(c.name for c in kr_state_table.columns)
_WRITES: dict[str, tuple[str, ...]] = {
    "ok": (
        *("value", "measured_at", "as_of", "held_value", "held_at", "held_reason"),
        *("last_error_kind", "last_error"),
    ),
    "held": ("held_value", "held_at", "held_reason"),
    "error": ("last_error_kind", "last_error"),
}


def normalise_url(url: str) -> URL:
    """Parse a store URL; plain ``postgresql://``/``postgres://`` mean psycopg 3."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            url = "postgresql+psycopg://" + url[len(prefix) :]
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        if "://" not in url and "@" not in url:  # a path (no credentials): the commonest slip
            raise StoreError(
                f"store URL {url!r} is a path, not a database URL: write sqlite:///{url}"
            ) from None
        raise StoreError(f"store URL is not a database URL: {exc}") from None
    if parsed.get_backend_name() not in ("sqlite", "postgresql"):
        shown = parsed.render_as_string(hide_password=True)
        raise StoreError(f"store URL {shown}: use sqlite:///PATH or postgresql://…")
    return parsed


def sqlite_file(url: URL) -> Path | None:
    """The absolute path of a file-backed SQLite store; None for memory or PostgreSQL."""
    if url.get_backend_name() != "sqlite" or url.database in (None, "", ":memory:"):
        return None
    if url.query.get("uri") == "true":  # the user's own URI form: left as given
        return None
    return Path(url.database).absolute()


def _existing_file_only(url: URL) -> URL:
    """The same SQLite file, opened so that a missing file is an error, never created."""
    path = sqlite_file(url)
    if path is None:
        return url
    from urllib.parse import quote

    query = {**url.query, "mode": "rw", "uri": "true"}
    return url.set(database=f"file:{quote(str(path))}", query=query)


def create_store_engine(url: URL, *, wal: bool = True, existing: bool = False) -> Engine:
    """An engine set up for the store: SQLite pragmas and real transactions.

    ``existing`` opens a SQLite file in ``mode=rw``: the store's own engine,
    so no connection ever creates an empty database at its path. ``wal=False``
    leaves the journal mode alone (a database that may not be ours is
    inspected, not changed); :func:`enable_wal` turns it on once it is known.
    """
    if url.get_backend_name() == "postgresql":
        # host:pid, as the writer lock's session: an operator can tell processes apart
        name = f"okrsync store {socket.gethostname()}:{os.getpid()}"
        connect_args: dict[str, Any] = {"application_name": name}
        if "connect_timeout" not in url.query:
            connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
        return sa.create_engine(url, connect_args=connect_args, pool_pre_ping=True)
    engine = sa.create_engine(_existing_file_only(url) if existing else url)

    @sa.event.listens_for(engine, "connect")
    def _pragmas(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy emit BEGIN itself (below): the sqlite3 module's legacy
        # mode would autocommit DDL and leave SELECTs outside any transaction.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        if wal:
            _journal_mode_wal(cursor)  # readers never block the writer
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        # IMMEDIATE takes the write lock up front (waiting busy_timeout), so a
        # writer never fails half-way when another process committed meanwhile.
        immediate = conn.get_execution_options().get(_WRITE, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _journal_mode_wal(cursor: Any) -> None:
    """Switch to WAL, waiting out other first openers of a new file.

    Switching needs the file to itself, and SQLite answers "database is
    locked" at once rather than through busy_timeout when another connection
    is switching it too: a few processes opening a new store together failed
    about one time in twenty.
    """
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def enable_wal(engine: Engine, conn: Connection) -> None:
    """WAL on this connection (outside any transaction) and on every later one."""
    if engine.dialect.name != "sqlite":
        return
    conn.commit()
    _wal_on_connect(conn.connection.dbapi_connection, None)
    sa.event.listen(engine, "connect", _wal_on_connect)


def _wal_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        _journal_mode_wal(cursor)  # readers never block the writer
    finally:
        cursor.close()


def _reason(exc: SQLAlchemyError) -> str:
    return excerpt(str(exc.orig if isinstance(exc, DBAPIError) else exc))


def _alembic_config(connection: Connection) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


Fresh = Literal["create", "migrate"]


def _is_empty(conn: Connection) -> bool:
    """No table at all (in PostgreSQL: in the current schema): nothing to respect."""
    return not sa.inspect(conn).get_table_names()


def _refuse_foreign(conn: Connection, shown: str) -> None:
    """Tables but no okrsync schema version: someone else's database; never write into it."""
    names = sorted(sa.inspect(conn).get_table_names())
    if names and "alembic_version" not in names:
        listed = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
        raise StoreUnusable(
            f"store {shown} holds tables ({listed}) but no okrsync schema version: "
            "not an okrsync store; point OKRSYNC_STORE_URL at an empty database or schema"
        )


def _revision(conn: Connection) -> str | None:
    """The alembic revision the database is at (plain SQL: no alembic import on the hot path)."""
    if not sa.inspect(conn).has_table("alembic_version"):
        return None
    rows = conn.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return str(rows[0]) if rows else None


class Store:
    """The store behind one URL. Open with :meth:`open`; close (or use ``with``)."""

    def __init__(
        self,
        engine: Engine,
        shown_url: str,
        head: str,
        ready: bool,
        file: tuple[Path, int, int] | None = None,
    ) -> None:
        self._engine = engine
        self._head = head
        self._ready = ready  # schema known to be at head; it never goes back
        self._closed = False
        self._file = file  # SQLite: (path, st_dev, st_ino) of the file opened
        self._fence: Callable[[], None] | None = None
        self.url = shown_url  # password masked: safe to print and log

    @classmethod
    def open(
        cls,
        url: str = DEFAULT_URL,
        *,
        upgrade: bool = True,
        fresh: Fresh = "create",
        read_only: bool = False,
    ) -> Store:
        """Connect, refuse a schema newer than this code or a foreign database, upgrade to head.

        An empty database is created from :mod:`okrsync.store.tables` and stamped at
        head (``fresh="create"``), as alembic's own cookbook advises: importing
        alembic, mako and pygments for it cost a service 12 MB of memory for
        good. ``fresh="migrate"`` runs the migration scripts instead (tests
        prove both give the same schema). ``read_only`` creates and migrates
        nothing (no file either): no store yet raises :class:`NoStoreYet`.
        """
        parsed = normalise_url(url)
        shown = parsed.render_as_string(hide_password=True)
        path = sqlite_file(parsed)
        if path is not None and not path.exists():
            if read_only or not upgrade:
                raise NoStoreYet(f"no store yet at {shown}: {NO_STORE_HINT}")
            try:
                path.touch()  # SQLite takes an empty file for an empty database
            except OSError as exc:
                raise StoreError(f"cannot open store {shown}: {exc.strerror}") from None
        engine = create_store_engine(parsed, wal=False, existing=True)
        head = SCHEMA_HEAD
        try:
            with engine.connect() as conn:
                current = _revision(conn)
                if current is None:
                    _refuse_foreign(conn, shown)
                    if read_only:
                        raise NoStoreYet(f"no store yet at {shown} (empty): {NO_STORE_HINT}")
                if not read_only:
                    enable_wal(engine, conn)  # known ours (or empty) now
                if current is None and upgrade and fresh == "create":
                    current = cls._create(conn)
                if current != head:  # alembic (and its import) only when there is work
                    current = cls._migrate(conn, shown, upgrade and not read_only)
            pinned = _pin(path, shown) if path is not None else None
        except SQLAlchemyError as exc:
            engine.dispose()
            raise StoreError(f"cannot open store {shown}: {_reason(exc)}") from exc
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, shown, head, ready=current == head, file=pinned)

    @classmethod
    def _create(cls, conn: Connection) -> str | None:
        """Create head's tables in an empty database; another opener may win the race."""
        conn.commit()  # end the read transaction; create under a write lock
        with conn.execution_options(**{_WRITE: True}).begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            if not _is_empty(conn):
                return _revision(conn)  # created (or migrated) meanwhile: decide again
            metadata.create_all(conn)
            version = sa.Table(
                "alembic_version",
                sa.MetaData(),
                sa.Column("version_num", sa.String(32), nullable=False),  # alembic's own shape
                sa.PrimaryKeyConstraint("version_num", name="alembic_version_pkc"),
            )
            version.create(conn)
            conn.execute(version.insert().values(version_num=SCHEMA_HEAD))
        return SCHEMA_HEAD

    @classmethod
    def _migrate(cls, conn: Connection, shown: str, upgrade: bool) -> str | None:
        """Refuse a schema newer than this code; upgrade to head when asked. Returns the revision."""
        from alembic import command
        from alembic.script import ScriptDirectory

        script = ScriptDirectory.from_config(_alembic_config(conn))
        assert script.get_current_head() == SCHEMA_HEAD, "tables.SCHEMA_HEAD is stale"
        current = cls._check_known(conn, script, shown)
        if not upgrade or current == SCHEMA_HEAD:
            return current
        conn.commit()  # end the read transaction; migrate under a write lock
        with conn.execution_options(**{_WRITE: True}).begin():
            if conn.dialect.name == "postgresql":
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
            cls._check_known(conn, script, shown)
            command.upgrade(_alembic_config(conn), "head")
        return SCHEMA_HEAD

    @staticmethod
    def _check_known(conn: Connection, script: Any, shown: str) -> str | None:
        current = _revision(conn)
        known = {s.revision for s in script.walk_revisions()}
        if current is not None and current not in known:
            raise StoreUnusable(
                f"store {shown} has schema revision {current}, newer than this "
                f"okrsync knows (head {SCHEMA_HEAD}): upgrade okrsync"
            )
        return current

    @contextmanager
    def fenced(self, check: Callable[[], None]) -> Iterator[None]:
        """Run ``check`` inside every write transaction, just before it commits.

        The scheduler passes the writer lock's check: a run whose lock was lost
        on the way (its PostgreSQL session ended) raises and is rolled back.
        """
        self._fence = check
        try:
            yield
        finally:
            self._fence = None

    def _check_file(self) -> None:
        """The SQLite file at the store's path is still the one opened (same inode)."""
        if self._file is None:
            return
        path, dev, ino = self._file
        try:
            now = os.stat(path)
        except OSError:
            raise StoreError(
                f"store file {path} is gone (moved or deleted): put it back; "
                "nothing is written until then"
            ) from None
        if (now.st_dev, now.st_ino) != (dev, ino):
            raise StoreError(
                f"store file {path} is another file than the one opened (inode {ino} → "
                f"{now.st_ino}): put the original back, or restart okrsync to use the new one"
            )

    @contextmanager
    def _connect(self, *, write: bool = False, schema: bool = True) -> Iterator[Connection]:
        """A connection in a transaction, committed on success; DB errors become StoreError.

        With ``schema`` the tables must be at head: a store opened with
        ``upgrade=False`` fails here with a clear message, not "no such table".
        A write checks the SQLite file and the fence again just before commit.
        """
        if self._closed:
            raise StoreError(f"store {self.url} is closed")
        self._check_file()
        try:
            with self._engine.connect() as conn:
                if write:
                    conn.execution_options(**{_WRITE: True})
                with conn.begin():
                    if schema and not self._ready:
                        if (current := _revision(conn)) != self._head:
                            raise StoreError(
                                f"store {self.url} schema is at revision {current or 'none'}, "
                                f"this okrsync needs {self._head}: run okrsync db upgrade"
                            )
                        self._ready = True
                    yield conn
                    if write:
                        self._check_file()
                        if self._fence is not None:
                            self._fence()
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.url}: {_reason(exc)}") from exc

    def schema_revision(self) -> str | None:
        """The alembic revision the database is at; None before the first migration."""
        with self._connect(schema=False) as conn:
            return _revision(conn)

    def record_run(
        self,
        run: RunRecord,
        measurements: Sequence[MeasurementRecord],
        initiatives: Sequence[InitiativeRecord] = (),
        throttled: store_quota.Throttles | None = None,
    ) -> int:
        """Write a run, its measurements, KR states and initiatives atomically; returns the run id.

        ``throttled`` key results (kr → reason, the refresh they can get) were
        not measured for their quota, or are measured less often than asked.
        """
        with self._connect(write=True) as conn:
            run_id = _insert_run(conn, run)
            _insert_measurements(conn, run_id, measurements)
            if measurements:
                _upsert_states(conn, run_id, measurements)
            store_quota.throttle(conn, run.started_at, throttled or {})  # after: measuring clears
            if initiatives:
                store_initiatives.upsert(conn, initiatives)
            store_totals.add(conn, run.summary.get("connections") or {})
        return run_id

    def record_backfill(self, run: RunRecord, measurements: Sequence[MeasurementRecord]) -> int:
        """Store past points (``okrsync backfill``) as one run; the key results' states stay.

        A backfilled value describes an earlier instant than the one the state
        holds, so it joins the history (forecast, charts) without replacing today's.
        """
        with self._connect(write=True) as conn:
            run_id = _insert_run(conn, run)
            _insert_measurements(conn, run_id, measurements)
            store_totals.add(conn, run.summary.get("connections") or {})
        return run_id

    def described_at(self, kr_ids: Sequence[str], since: datetime) -> set[tuple[str, datetime]]:
        """(kr, as-of) of the backfilled values of these key results since ``since``.

        Failed attempts are left out, so the next backfill tries them again.
        """
        check_aware("since", since)
        m = measurements_table.c
        query = sa.select(m.kr_id, m.measured_at, m.as_of).where(
            m.backfilled.is_(True), m.measured_at >= since, m.status != "error"
        )
        wanted = set(kr_ids)
        with self._connect() as conn:
            rows = conn.execute(query).all()
        return {(k, a or t) for k, t, a in rows if k in wanted}

    def accept_held(self, kr_id: str, run: RunRecord, note: str) -> MeasurementRecord:
        """The held value becomes the good value, as of when it was measured; one transaction.

        Read and written in the same transaction, so a sync that replaced the
        held value in between cannot have a different value accepted.
        """
        with self._connect(write=True) as conn:
            state = _held_state(conn, kr_id)
            assert state.held_value is not None  # _held_state checked
            assert state.held_at is not None
            accepted = MeasurementRecord(
                kr_id=kr_id,
                measured_at=state.held_at,
                status="ok",
                value=state.held_value,
                connection=state.connection,
                query=state.query,
                raw=note,
            )
            run_id = _insert_run(conn, run)
            conn.execute(sa.insert(measurements_table), [_measurement_row(run_id, accepted)])
            _upsert_states(conn, run_id, [accepted])
        return replace(accepted, run_id=run_id)

    def reject_held(self, kr_id: str, run: RunRecord) -> KrState:
        """Drop the held value (the good value stays); the run records who and why."""
        with self._connect(write=True) as conn:
            state = _held_state(conn, kr_id)
            _insert_run(conn, run)
            cleared = dict(held_value=None, held_at=None, held_reason=None)
            conn.execute(
                sa.update(kr_state_table).where(kr_state_table.c.kr_id == kr_id).values(cleared)
            )
        return state

    def record_pushes(self, attempts: Sequence[PushRecord]) -> None:
        """Store push attempts; accepted ones become their items' last accepted values."""
        with self._connect(write=True) as conn:
            store_pushes.record(conn, attempts)

    def accepted(self) -> dict[tuple[str, str], Accepted]:
        """(destination, item) → the last value it accepted."""
        with self._connect() as conn:
            return store_pushes.accepted(conn)

    def last_pushes(self, kr_id: str | None = None) -> dict[tuple[str, str], PushRecord]:
        """(destination, item) → its newest push attempt (of one key result, if given)."""
        with self._connect() as conn:
            return store_pushes.latest(conn, kr_id)

    def initiatives(self) -> dict[str, list[InitiativeRecord]]:
        """The latest initiative readings, by key result id."""
        with self._connect() as conn:
            return store_initiatives.read(conn)

    def states(self) -> dict[str, KrState]:
        """Every KR ever measured, by id."""
        with self._connect() as conn:
            rows = conn.execute(
                sa.select(kr_state_table).order_by(kr_state_table.c.kr_id)
            ).mappings()
            return {row["kr_id"]: _state(row) for row in rows}

    def state(self, kr_id: str) -> KrState | None:
        with self._connect() as conn:
            row = (
                conn.execute(sa.select(kr_state_table).where(kr_state_table.c.kr_id == kr_id))
                .mappings()
                .first()
            )
            return None if row is None else _state(row)

    def history(
        self, kr_id: str, *, since: datetime | None = None, limit: int | None = None
    ) -> list[MeasurementRecord]:
        """Measurements of one KR, oldest first; ``limit`` keeps the newest ones."""
        check_aware("since", since)
        query = sa.select(measurements_table).where(measurements_table.c.kr_id == kr_id)
        if since is not None:
            query = query.where(measurements_table.c.measured_at >= since)
        newest_first = query.order_by(
            measurements_table.c.measured_at.desc(), measurements_table.c.id.desc()
        )
        if limit is not None:
            newest_first = newest_first.limit(limit)
        with self._connect() as conn:
            rows = conn.execute(newest_first).mappings().all()
        return [_measurement(row) for row in reversed(rows)]

    def good_values(self, *, since: datetime) -> dict[str, list[tuple[datetime, float]]]:
        """Every KR's good values since ``since``, oldest first, in one query (status, forecasts).

        One query per key result took ``status`` 5.8 s on SQLite and 13.5 s on
        PostgreSQL at 10,000 key results.
        """
        check_aware("since", since)
        m = measurements_table.c
        query = (
            sa.select(m.kr_id, m.measured_at, m.value)
            .where(m.status == "ok", m.value.is_not(None), m.measured_at >= since)
            .order_by(m.kr_id, m.measured_at, m.id)
        )
        found: dict[str, list[tuple[datetime, float]]] = {}
        with self._connect() as conn:
            for kr_id, measured_at, value in conn.execute(query):
                found.setdefault(kr_id, []).append((measured_at, float(value)))
        return found

    def runs(self, limit: int = 20) -> list[RunRecord]:
        """The latest runs, newest first."""
        query = (
            sa.select(runs_table)
            .order_by(runs_table.c.started_at.desc(), runs_table.c.id.desc())
            .limit(limit)
        )
        with self._connect() as conn:
            return [_run(row) for row in conn.execute(query).mappings()]

    def run(self, run_id: int) -> RunRecord | None:
        with self._connect() as conn:
            row = (
                conn.execute(sa.select(runs_table).where(runs_table.c.id == run_id))
                .mappings()
                .first()
            )
        return None if row is None else _run(row)

    def triggers(self) -> set[str]:
        """What started the stored runs (``sync``, ``run``, ``simulated`` …), each once."""
        query = sa.select(runs_table.c.trigger).distinct()
        with self._connect() as conn:
            return {row[0] for row in conn.execute(query)}

    def last_run(self) -> RunRecord | None:
        latest = self.runs(limit=1)
        return latest[0] if latest else None

    def last_completed_run(self) -> RunRecord | None:
        """The newest run that was not ``failed`` (``partial`` counts: its values were stored)."""
        query = (
            sa.select(runs_table)
            .where(runs_table.c.status != "failed")
            .order_by(runs_table.c.started_at.desc(), runs_table.c.id.desc())
            .limit(1)
        )
        with self._connect() as conn:
            row = conn.execute(query).mappings().first()
        return None if row is None else _run(row)

    def generation(self) -> tuple[int, int]:
        """(newest run id, newest push id): changes whenever anything a page shows does.

        Every write that changes a value, a status or a hold is a run; every push
        attempt is a row of ``pushes``. Readers cache what they derive on it.
        """
        query = sa.select(
            sa.select(sa.func.max(runs_table.c.id)).scalar_subquery(),
            sa.select(sa.func.max(pushes_table.c.id)).scalar_subquery(),
        )
        with self._connect() as conn:
            runs, pushes = conn.execute(query).one()
        return int(runs or 0), int(pushes or 0)

    # -- notices: digests and alerts, each claimed once --------------------------

    def claim_notice(
        self, channel: str, key: str, kind: str, message: dict[str, Any], now: datetime
    ) -> int | None:
        """Claim (channel, key) for sending; its id, or None when it was claimed before."""
        with self._connect(write=True) as conn:
            return store_notices.claim(conn, channel, key, kind, message, now)

    def reclaim_notice(self, notice: store_notices.Notice, now: datetime) -> bool:
        with self._connect(write=True) as conn:
            return store_notices.reclaim(conn, notice, now)

    def finish_notice(
        self, notice_id: int, now: datetime, *, error: str | None = None, receipt: str | None = None
    ) -> None:
        with self._connect(write=True) as conn:
            store_notices.finish(conn, notice_id, now, error=error, receipt=receipt)

    def retryable_notices(self, channel: str, now: datetime) -> list[store_notices.Notice]:
        with self._connect() as conn:
            return store_notices.retryable(conn, channel, now)

    def latest_notice(
        self, channel: str, kind: str, *, sent_only: bool = True
    ) -> store_notices.Notice | None:
        with self._connect() as conn:
            return store_notices.latest(conn, channel, kind, sent_only=sent_only)

    def notices(self, channel: str | None = None, limit: int = 50) -> list[store_notices.Notice]:
        """The newest notices, newest first."""
        with self._connect() as conn:
            return store_notices.listed(conn, channel, limit)

    def channel_statuses(self, channel: str) -> dict[str, tuple[str, datetime]]:
        with self._connect() as conn:
            return store_notices.statuses(conn, channel)

    def move_channel_statuses(
        self, channel: str, moves: Sequence[tuple[str, str | None, str]], now: datetime
    ) -> set[str]:
        """Each (kr, old → new) of one channel, in one transaction; the ones this call moved."""
        with self._connect(write=True) as conn:
            return {
                kr_id
                for kr_id, old, new in moves
                if store_notices.set_status(conn, channel, kr_id, old, new, now)
            }

    # -- graded cycles: frozen -------------------------------------------------

    def graded(self) -> dict[str, dict[str, Any]]:
        """Cycle name → {graded_at, graded_by, grades, report} of every graded cycle."""
        with self._connect() as conn:
            rows = conn.execute(sa.select(graded_cycles_table)).mappings().all()
        return {
            r["cycle"]: {"graded_at": r["graded_at"], "graded_by": r["graded_by"],
                         "grades": json.loads(r["grades"]), "report": json.loads(r["report"])}
            for r in rows
        }  # fmt: skip

    def freeze_cycle(
        self, cycle: str, at: datetime, by: str, grades: dict[str, Any], report: dict[str, Any]
    ) -> bool:
        """Record the cycle's grades once; False when it was graded already (kept as it was)."""
        dialect: Any = postgresql if self._engine.dialect.name == "postgresql" else sqlite
        stmt = (
            dialect.insert(graded_cycles_table)
            .values(
                cycle=cycle,
                graded_at=at,
                graded_by=by,
                grades=json.dumps(grades),
                report=json.dumps(report, ensure_ascii=False),
            )
            .on_conflict_do_nothing(index_elements=["cycle"])
        )
        with self._connect(write=True) as conn:
            return conn.execute(stmt).rowcount == 1

    def quota_live(self) -> dict[str, list[Observation]]:
        """The vendor's last figures per pool, as syncs stored them."""
        with self._connect() as conn:
            return store_quota.live(conn)

    def reserve_quota(
        self,
        pool: str,
        windows: Sequence[Window],
        now: float,
        decide: Callable[[Spent], Mapping[str, float]],
        pacing: Pacing | None = None,
    ) -> None:
        """Read the pool's spend and add what ``decide`` takes of it, under the pool's lock.

        Committed at once, apart from the run: a second process reserving next
        sees this spend, and a process killed after it still counts its calls.
        """
        with self._connect(write=True) as conn:
            store_quota.lock(conn, pool)
            state = store_quota.spent(conn, pool, windows, now)
            taken = decide(state)
            store_quota.spend(conn, pool, now, taken)
            store_quota.pace(conn, pool, state.pace, now, taken, pacing or {})
            store_quota.prune(conn, now)

    def spend_quota(self, pool: str, now: float, units: Mapping[str, float]) -> None:
        """Settle a reservation: add what was spent beyond it, or give back what was not."""
        with self._connect(write=True) as conn:
            store_quota.lock(conn, pool)
            store_quota.spend(conn, pool, now, units)

    def observe_quota(
        self, pool: str, seen: Sequence[Observation], blocked: tuple[float, str] | None
    ) -> None:
        with self._connect(write=True) as conn:
            store_quota.observe(conn, pool, seen, blocked)

    def quota_spent(self, pool: str, windows: Sequence[Window], now: float) -> Spent:
        with self._connect() as conn:
            return store_quota.spent(conn, pool, windows, now)

    def totals(self) -> store_totals.Totals:
        """Vendor requests and errors per connection since the store began."""
        with self._connect() as conn:
            return store_totals.read(conn)

    def close(self) -> None:
        """Release every pooled connection; the store cannot be used afterwards."""
        self._closed = True
        self._engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"


class NothingHeld(LookupError):
    """The key result holds no value for review (none was held, or it was resolved)."""


def _held_state(conn: Connection, kr_id: str) -> KrState:
    table = kr_state_table
    row = conn.execute(sa.select(table).where(table.c.kr_id == kr_id)).mappings().first()
    if row is None or row["held_value"] is None:
        raise NothingHeld(f"{kr_id} holds no value for review")
    return _state(row)


def _insert_measurements(
    conn: Connection, run_id: int, measurements: Sequence[MeasurementRecord]
) -> None:
    """WRITE_CHUNK rows per executemany: a big run never builds them all at once."""
    for start in range(0, len(measurements), WRITE_CHUNK):
        part = measurements[start : start + WRITE_CHUNK]
        conn.execute(sa.insert(measurements_table), [_measurement_row(run_id, m) for m in part])


def _insert_run(conn: Connection, run: RunRecord) -> int:
    values = {f.name: getattr(run, f.name) for f in fields(RunRecord) if f.name != "id"}
    values["summary"] = json.dumps(run.summary, ensure_ascii=False)
    run_id: int = conn.execute(
        sa.insert(runs_table).values(values).returning(runs_table.c.id)
    ).scalar_one()
    return run_id


def _pin(path: Path, shown: str) -> tuple[Path, int, int]:
    try:
        st = os.stat(path)
    except OSError as exc:
        raise StoreError(f"cannot open store {shown}: {exc.strerror}") from None
    return path, st.st_dev, st.st_ino


def _upsert_states(conn: Connection, run_id: int, records: Sequence[MeasurementRecord]) -> None:
    """Fold each KR's measurements in order, then upsert once per set of columns written.

    ON CONFLICT … DO UPDATE names only the columns the statuses wrote, so the
    others (the last good value above all) keep what is stored: no read
    needed, and concurrent writers cannot lose each other's updates. Rows are
    built WRITE_CHUNK key results at a time, so a big run never holds them all.
    """
    by_kr: dict[str, list[MeasurementRecord]] = {}
    for m in records:
        by_kr.setdefault(m.kr_id, []).append(m)
    kr_ids = list(by_kr)
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    for start in range(0, len(kr_ids), WRITE_CHUNK):
        groups: dict[frozenset[str], list[dict[str, Any]]] = {}
        for kr_id in kr_ids[start : start + WRITE_CHUNK]:
            row, written = _fold(kr_id, by_kr[kr_id], run_id)
            groups.setdefault(written, []).append(row)
        for columns, rows in groups.items():
            stmt = dialect.insert(kr_state_table)
            update = {c: stmt.excluded[c] for c in (*_ALWAYS, *sorted(columns))}
            conn.execute(stmt.on_conflict_do_update(index_elements=["kr_id"], set_=update), rows)


def _fold(
    kr_id: str, measurements: list[MeasurementRecord], run_id: int
) -> tuple[dict[str, Any], frozenset[str]]:
    """One KR's state row after its measurements, in order, and the columns they wrote."""
    row: dict[str, Any] = dict.fromkeys(_STATE_COLUMNS)
    row["kr_id"] = kr_id
    written: frozenset[str] = frozenset()
    for m in measurements:
        row.update(last_attempt_at=m.measured_at, last_status=m.status, last_run_id=run_id)
        row.update(connection=m.connection, query=m.query)
        if m.status == "ok":
            row.update(value=m.value, measured_at=m.measured_at, held_value=None, held_at=None)
            row.update(as_of=m.as_of)
            row.update(held_reason=None, last_error_kind=None, last_error=None)
        elif m.status == "held":
            row.update(held_value=m.value, held_at=m.measured_at, held_reason=m.error)
        else:
            row.update(last_error_kind=m.error_kind, last_error=m.error)
        written = written.union(_WRITES[m.status])
    return row, written


_MEASUREMENT_FIELDS = [f.name for f in fields(MeasurementRecord)]


def _measurement_row(run_id: int, m: MeasurementRecord) -> dict[str, Any]:
    return {**{name: getattr(m, name) for name in _MEASUREMENT_FIELDS}, "run_id": run_id}


def _measurement(row: Any) -> MeasurementRecord:
    return MeasurementRecord(**{name: row[name] for name in _MEASUREMENT_FIELDS})


def _run(row: Any) -> RunRecord:
    return RunRecord(**{**row, "summary": json.loads(row["summary"])})


def _state(row: Any) -> KrState:
    return KrState(**{c.name: row[c.name] for c in kr_state_table.columns})


__all__ = [
    "DEFAULT_URL",
    "NoStoreYet",
    "NothingHeld",
    "Store",
    "StoreUnusable",
    "UtcDateTime",
    "create_store_engine",
    "metadata",
    "normalise_url",
]
