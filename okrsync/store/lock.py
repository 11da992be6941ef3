"""The single-writer lock: two okrsync processes on one store never both sync.

PostgreSQL: a session advisory lock on a connection of its own, keyed by the
schema (deployments sharing a database in different schemas do not block each
other). SQLite: an exclusive ``flock`` on ``<database>.lock`` (filelock).
Both are leases that expire with their holder: the kernel releases a dead
process's file lock, and PostgreSQL a dead session's advisory lock (TCP
keepalives bound how long a vanished host's session lingers). The holder is
identified (host, pid, since) so a skipped run can say who holds the lock.

A lost PostgreSQL session (terminated, restarted server, dropped database) is
a :class:`StoreError`, never a crash: ``acquire`` opens a new session, and
``check`` (run just before a run commits) fails a run whose lock went with
its session, so two writers never both commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Protocol

import sqlalchemy as sa
import structlog
from filelock import FileLock, Timeout
from sqlalchemy.pool import NullPool

from okrsync.errors import StoreError, excerpt
from okrsync.store.database import normalise_url

log = structlog.get_logger("okrsync.store.lock")

LOCK_NAME = "okrsync.writer"
POLL_SECONDS = 0.2


def identity() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class WriterLock(Protocol):
    def acquire(self, timeout: float = 0.0) -> bool:
        """True once held; False if another holder kept it for ``timeout`` seconds."""

    def release(self) -> None: ...

    def holder(self) -> str | None:
        """Who holds the lock now, as far as can be told; None if nobody."""

    def check(self) -> None:
        """Raise StoreError unless this process still holds the lock it acquired."""

    def close(self) -> None: ...


class NoLock:
    """An in-memory SQLite store belongs to one process: nothing to share."""

    def acquire(self, timeout: float = 0.0) -> bool:
        return True

    def release(self) -> None:
        return None

    def holder(self) -> str | None:
        return None

    def check(self) -> None:
        return None

    def close(self) -> None:
        return None


class SqliteLock:
    """``flock`` on ``<db>.lock``; who holds it is written to ``<db>.lock.json``."""

    def __init__(self, database: Path) -> None:
        self.path = database.with_name(database.name + ".lock")
        self.info = database.with_name(database.name + ".lock.json")
        self._lock = FileLock(self.path, thread_local=False)

    def acquire(self, timeout: float = 0.0) -> bool:
        try:
            self._lock.acquire(timeout=timeout, poll_interval=POLL_SECONDS)
            since = datetime.now(UTC).isoformat(timespec="seconds")
            self.info.write_text(json.dumps({"holder": identity(), "since": since}))
        except Timeout:
            return False
        except OSError as exc:  # the store's directory went away, or is read-only
            self.release()
            raise StoreError(f"cannot take the writer lock {self.path}: {exc.strerror}") from None
        return True

    def release(self) -> None:
        if self._lock.is_locked:
            self.info.unlink(missing_ok=True)
            self._lock.release()

    def holder(self) -> str | None:
        if not self.path.exists():
            return None
        probe = FileLock(self.path, thread_local=False)
        try:
            probe.acquire(timeout=0)
        except Timeout:
            try:
                data = json.loads(self.info.read_text())
                return f"{data['holder']} since {data['since']}"
            except (OSError, ValueError, KeyError):
                return "another process"
        probe.release()
        return None

    def check(self) -> None:
        return None  # a flock lives as long as this process: nothing to lose

    def close(self) -> None:
        self.release()


class PostgresLock:
    """``pg_try_advisory_lock`` held by a dedicated session for as long as the lock is."""

    def __init__(self, url: str) -> None:
        self._engine = sa.create_engine(
            normalise_url(url),
            poolclass=NullPool,
            connect_args={
                "application_name": f"okrsync writer {identity()}",
                "connect_timeout": 10,
                "keepalives": 1,
                "keepalives_idle": 30,
                "keepalives_interval": 10,
                "keepalives_count": 3,
            },
        )
        self._conn: sa.Connection | None = None
        self._key: int | None = None

    def _session(self) -> sa.Connection:
        if self._conn is None:
            try:
                self._conn = self._engine.connect().execution_options(isolation_level="AUTOCOMMIT")
                schema = self._conn.execute(sa.text("SELECT current_schema()")).scalar_one()
            except sa.exc.SQLAlchemyError as exc:
                self._drop()
                raise _lock_error("cannot take the writer lock", exc) from exc
            digest = hashlib.sha256(f"{schema}:{LOCK_NAME}".encode()).digest()
            self._key = int.from_bytes(digest[:8], "big", signed=True)
        return self._conn

    def _drop(self) -> None:
        """Forget a session that is gone (or going): its lock went with it."""
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.invalidate()
                self._conn.close()
        self._conn = None

    def _ask(self, sql: str, params: dict[str, int], *, retry: bool) -> tuple[Any, ...] | None:
        """One statement's first row on the lock's session; a dead session is replaced once."""
        conn = self._session()
        try:
            row = conn.execute(sa.text(sql), params).first()
            return None if row is None else tuple(row)
        except sa.exc.DBAPIError as exc:
            self._drop()
            if not (retry and exc.connection_invalidated):
                raise _lock_error("writer lock session failed", exc) from exc
        log.warning("writer lock session was lost: reconnecting")
        return self._ask(sql, params, retry=False)

    def acquire(self, timeout: float = 0.0) -> bool:
        deadline = time.monotonic() + timeout
        while True:
            self._session()
            # Only an idle session is replaced: a held lock lost with its session
            # is for check() to report, not to be quietly taken again.
            row = self._ask("SELECT pg_try_advisory_lock(:k)", {"k": self._key or 0}, retry=True)
            if row is not None and row[0]:
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)

    def release(self) -> None:
        if self._conn is not None:
            try:
                self._conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))
            except sa.exc.SQLAlchemyError:
                self._drop()  # the session is gone, and its lock with it

    def check(self) -> None:
        lost = "the writer lock was lost mid-run"
        if self._conn is None:
            raise StoreError(f"{lost} (no session)")
        key = self._key or 0
        try:
            row = self._ask(
                "SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND pid = pg_backend_pid() AND classid = :hi AND objid = :lo AND objsubid = 1",
                {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
                retry=False,
            )
        except StoreError as exc:
            raise StoreError(f"{lost} ({exc})") from exc
        if row is None:
            raise StoreError(f"{lost} (its session no longer holds it)")

    def holder(self) -> str | None:
        self._session()
        key = self._key or 0
        row = self._ask(
            "SELECT a.application_name, a.backend_start FROM pg_locks l "
            "JOIN pg_stat_activity a ON a.pid = l.pid "
            "WHERE l.locktype = 'advisory' AND l.granted "
            "AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1",
            {"hi": (key >> 32) & 0xFFFFFFFF, "lo": key & 0xFFFFFFFF},
            retry=True,
        )
        if row is None:
            return None
        name = str(row[0]).removeprefix("okrsync writer ")
        return f"{name} (session since {row[1]:%Y-%m-%dT%H:%M:%S%z})"

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(sa.exc.SQLAlchemyError):
                self._conn.close()  # ends the session: the lock goes with it
            self._conn = None
        self._engine.dispose()


def _lock_error(what: str, exc: sa.exc.SQLAlchemyError) -> StoreError:
    """A one-line StoreError: the driver's first line, never the SQL or a password."""
    orig = exc.orig if isinstance(exc, sa.exc.DBAPIError) else exc
    first = str(orig).strip().splitlines()[0] if str(orig).strip() else ""
    return StoreError(f"{what}: {orig.__class__.__name__}: {excerpt(first)}")


def writer_lock(url: str) -> WriterLock:
    """The lock that fits the store behind ``url``."""
    parsed = normalise_url(url)
    if parsed.get_backend_name() == "postgresql":
        return PostgresLock(url)
    database = parsed.database
    if not database or database == ":memory:":
        return NoLock()
    return SqliteLock(Path(database).resolve())


__all__ = ["NoLock", "PostgresLock", "SqliteLock", "WriterLock", "identity", "writer_lock"]
