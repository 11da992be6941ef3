"""Schedules, the writer lock on both backends, the probe endpoints, db commands."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.service.health import Heartbeat
from okrsync.service.timetable import Cron, Interval, jitter, parse_schedule, period
from okrsync.service.web import Sources, WebServer, make_app
from okrsync.store.database import Store
from okrsync.store.lock import NoLock, PostgresLock, SqliteLock, identity, writer_lock
from okrsync.store.tables import SCHEMA_HEAD

T0 = datetime(2026, 11, 26, 10, 7, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "kind", "next_at"),
    [
        ("15m", Interval, T0 + timedelta(minutes=15)),
        ("1h", Interval, T0 + timedelta(hours=1)),
        ("*/15 * * * *", Cron, datetime(2026, 11, 26, 10, 15, tzinfo=UTC)),
        ("0 9 * * 1", Cron, datetime(2026, 11, 30, 9, 0, tzinfo=UTC)),
    ],
)
def test_schedules(text: str, kind: type, next_at: datetime) -> None:
    schedule = parse_schedule(text)
    assert isinstance(schedule, kind)
    assert schedule.next_after(T0) == next_at


@pytest.mark.parametrize("bad", ["15", "every day", "* * *", "61 * * * *", ""])
def test_invalid_schedules_name_both_forms(bad: str) -> None:
    with pytest.raises(ValueError, match=r"invalid schedule .*interval like 15m.*cron expression"):
        parse_schedule(bad)


def test_jitter_is_bounded_by_a_tenth_of_the_period_and_30_seconds() -> None:
    short, long = parse_schedule("10s"), parse_schedule("0 9 * * 1")
    assert period(long, T0) == timedelta(days=7)
    assert all(0 <= jitter(short, T0) <= 1.0 for _ in range(200))
    assert all(0 <= jitter(long, T0) <= 30.0 for _ in range(200))


def lock_pair(store_url: str) -> tuple[Any, Any]:
    with Store.open(store_url):  # the schema (and, for PostgreSQL, the search_path) exists
        pass
    return writer_lock(store_url), writer_lock(store_url)


def test_writer_lock_excludes_and_names_its_holder(store_url: str) -> None:
    first, second = lock_pair(store_url)
    assert isinstance(first, SqliteLock | PostgresLock)
    try:
        assert second.holder() is None
        assert first.acquire()
        assert not second.acquire(timeout=0.5)
        holder = second.holder()
        assert holder is not None
        assert identity() in holder
        first.release()
        assert second.acquire()
        assert not first.acquire()
    finally:
        first.close()
        second.close()


def test_closing_the_holder_frees_the_lock(store_url: str) -> None:
    first, second = lock_pair(store_url)
    try:
        assert first.acquire()
        first.close()  # what a dying process does, without the goodbye
        assert second.acquire(timeout=2)
    finally:
        second.close()


def test_memory_store_needs_no_lock() -> None:
    assert isinstance(writer_lock("sqlite://"), NoLock)


def get(port: int, path: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_probes_report_a_stalled_loop_and_an_unready_store(tmp_path: Path) -> None:
    beat = Heartbeat(stall_after=0.2)
    state: dict[str, Any] = {"ready": True}

    def ready() -> dict[str, Any]:
        if not state["ready"]:
            raise RuntimeError("store unreachable: connection refused")
        return {"last_run": None}

    st = Store.open(f"sqlite:///{tmp_path / 'probe.db'}")
    server = WebServer(make_app(Sources(lambda: None, st, ready, beat)), 0, "127.0.0.1").start()
    try:
        assert get(server.port, "/healthz")[0] == 200
        assert get(server.port, "/readyz") == (200, {"ready": True, "last_run": None})
        time.sleep(0.3)
        status, body = get(server.port, "/healthz")
        assert (status, body["status"]) == (503, "stalled")
        beat.beat()
        assert get(server.port, "/healthz")[0] == 200
        state["ready"] = False
        assert get(server.port, "/readyz") == (
            503,
            {"ready": False, "error": "store unreachable: connection refused"},
        )
    finally:
        server.stop()
        st.close()


def test_db_upgrade_and_revision(tmp_path: Path) -> None:
    runner = CliRunner()
    url = f"sqlite:///{tmp_path / 's.db'}"
    before = runner.invoke(app, ["db", "revision", "--store", url])
    assert before.exit_code == 0
    assert "schema at revision none" in before.stdout
    up = runner.invoke(app, ["db", "upgrade", "--store", url])
    assert up.exit_code == 0
    assert f"schema at revision {SCHEMA_HEAD}" in up.stdout
    after = runner.invoke(app, ["db", "revision", "--store", url])
    assert f"schema at revision {SCHEMA_HEAD}" in after.stdout


@pytest.mark.parametrize(
    ("text", "why"),
    [
        ("0.0001s", "too short: at least 1s"),
        ("0.5s", "too short: at least 1s"),
        ("400d", "too long: at most 366d"),
        ("99999999999d", "too long: at most 366d"),  # OverflowError before
    ],
)
def test_schedules_out_of_bounds_are_refused(text: str, why: str) -> None:
    with pytest.raises(ValueError, match=why):
        parse_schedule(text)
    assert parse_schedule("1s").next_after(T0) == T0 + timedelta(seconds=1)
    assert parse_schedule("366d").next_after(T0) == T0 + timedelta(days=366)


def terminate_sessions(store_url: str, application_name: str) -> int:
    """pg_terminate_backend the sessions of one process (never other tests' on the server)."""
    import sqlalchemy as sa

    from okrsync.store.database import normalise_url

    admin = sa.create_engine(normalise_url(store_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name = :name AND pid <> pg_backend_pid()"
                ),
                {"name": application_name},
            )
            return len(killed.all())
    finally:
        admin.dispose()


def _terminate_lock_sessions(store_url: str) -> int:
    return terminate_sessions(store_url, f"okrsync writer {identity()}")


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_postgres_lock_survives_a_terminated_session(store_url: str) -> None:
    """Issue #16, point 5: OperationalError at pg_try_advisory_lock, uncaught, killed `run`."""
    from okrsync.errors import StoreError

    lock, other = lock_pair(store_url)
    try:
        assert lock.acquire()
        lock.check()  # held
        assert _terminate_lock_sessions(store_url) >= 1
        time.sleep(0.2)
        with pytest.raises(StoreError, match="writer lock was lost mid-run"):
            lock.check()  # a run in flight must not commit now
        assert other.acquire(timeout=2)  # the lock really went with the session
        assert not lock.acquire()  # a new session for the first, which now waits its turn
        holder = lock.holder()
        assert holder is not None
        assert identity() in holder
        lock.release()
        other.release()
        assert _terminate_lock_sessions(store_url) >= 1  # idle sessions lost between cycles
        time.sleep(0.2)
        assert lock.acquire()  # reconnects
        lock.check()
    finally:
        lock.close()
        other.close()


def test_postgres_lock_on_a_lost_server_is_a_store_error() -> None:
    from okrsync.errors import StoreError

    lock = PostgresLock("postgresql://okr:s3cretpw@127.0.0.1:1/okrsync")
    try:
        with pytest.raises(StoreError, match="cannot take the writer lock: OperationalError") as e:
            lock.acquire()
        assert "s3cretpw" not in str(e.value)
        assert "\n" not in str(e.value)
    finally:
        lock.close()
