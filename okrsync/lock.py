"""The single-writer lock: two okrsync processes on one store never both sync.

PostgreSQL: a session advisory lock on a connection of its own, keyed by the
schema (deployments sharing a database in different schemas do not block each
other). SQLite: an exclusive ``flock`` on ``<database>.lock`` (filelock).
Both are leases that expire with their holder: the kernel releases a dead
process's file lock, and PostgreSQL a dead session's advisory lock (TCP
keepalives bound how long a vanished host's session lingers). The holder is
identified (host, pid, since) so a skipped run can say who holds the lock.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from filelock import FileLock, Timeout
from sqlalchemy.pool import NullPool

from okrsync.errors import StoreError
from okrsync.store import normalise_url

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

    def close(self) -> None: ...


class NoLock:
    """An in-memory SQLite store belongs to one process: nothing to share."""

    def acquire(self, timeout: float = 0.0) -> bool:
        return True

    def release(self) -> None:
        return None

    def holder(self) -> str | None:
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
        except Timeout:
            return False
        since = datetime.now(UTC).isoformat(timespec="seconds")
        self.info.write_text(json.dumps({"holder": identity(), "since": since}))
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
                self._conn = None
                raise StoreError(f"cannot take the writer lock: {exc.__class__.__name__}") from exc
            digest = hashlib.sha256(f"{schema}:{LOCK_NAME}".encode()).digest()
            self._key = int.from_bytes(digest[:8], "big", signed=True)
        return self._conn

    def acquire(self, timeout: float = 0.0) -> bool:
        conn = self._session()
        deadline = time.monotonic() + timeout
        while True:
            got = conn.execute(sa.text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key})
            if got.scalar_one():
                return True
            if time.monotonic() >= deadline:
                return False
            time.sleep(POLL_SECONDS)

    def release(self) -> None:
        if self._conn is not None:
            self._conn.execute(sa.text("SELECT pg_advisory_unlock_all()"))

    def holder(self) -> str | None:
        conn = self._session()
        assert self._key is not None
        row = conn.execute(
            sa.text(
                "SELECT a.application_name, a.backend_start FROM pg_locks l "
                "JOIN pg_stat_activity a ON a.pid = l.pid "
                "WHERE l.locktype = 'advisory' AND l.granted "
                "AND l.classid = :hi AND l.objid = :lo AND l.objsubid = 1"
            ),
            {"hi": (self._key >> 32) & 0xFFFFFFFF, "lo": self._key & 0xFFFFFFFF},
        ).first()
        if row is None:
            return None
        name = str(row[0]).removeprefix("okrsync writer ")
        return f"{name} (session since {row[1]:%Y-%m-%dT%H:%M:%S%z})"

    def close(self) -> None:
        if self._conn is not None:
            self._conn.close()  # ends the session: the lock goes with it
            self._conn = None
        self._engine.dispose()


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
