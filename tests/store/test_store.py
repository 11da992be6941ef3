"""The store against real databases: SQLite files and PostgreSQL (``store_url``)."""

from __future__ import annotations

import random
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from okrsync.domain.records import MeasurementRecord, RunRecord
from okrsync.errors import StoreError
from okrsync.store.database import (
    NoStoreYet,
    NothingHeld,
    Store,
    StoreUnusable,
    create_store_engine,
    measurements_table,
    metadata,
    normalise_url,
    sqlite_file,
)

T0 = datetime(2024, 3, 1, 9, 0, tzinfo=UTC)


def at(minutes: float) -> datetime:
    return T0 + timedelta(minutes=minutes)


def run(minutes: float = 0, **kw: object) -> RunRecord:
    return RunRecord(started_at=at(minutes), finished_at=at(minutes + 1), status="ok", **kw)  # type: ignore[arg-type]


def ok(kr: str, value: float, minutes: float, **kw: object) -> MeasurementRecord:
    return MeasurementRecord(kr_id=kr, measured_at=at(minutes), status="ok", value=value, **kw)  # type: ignore[arg-type]


def held(kr: str, value: float, minutes: float) -> MeasurementRecord:
    return MeasurementRecord(kr_id=kr, measured_at=at(minutes), status="held", value=value)


def error(kr: str, minutes: float, kind: str = "transient") -> MeasurementRecord:
    return MeasurementRecord(
        kr_id=kr, measured_at=at(minutes), status="error", error_kind=kind, error=f"{kind} boom"
    )


@contextmanager
def raw_engine(url: str) -> Iterator[sa.Engine]:
    """The store's own engine setup, for looking under the API (pragmas, counts)."""
    engine = create_store_engine(normalise_url(url))
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def store(store_url: str) -> Iterator[Store]:
    with Store.open(store_url) as opened:
        yield opened


# --- schema and migrations --------------------------------------------------------------

HEAD = "0009"  # the newest migration


def test_upgrading_from_the_first_revision_keeps_the_data(store_url: str) -> None:
    from alembic import command

    from okrsync.store.database import _alembic_config, create_store_engine, normalise_url

    engine = create_store_engine(normalise_url(store_url))
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "0001")
            conn.exec_driver_sql(
                "INSERT INTO runs (started_at, finished_at, status, trigger, summary) "
                "VALUES ('2026-11-01 00:00:00', '2026-11-01 00:00:01', 'ok', 'sync', '{}')"
            )
    finally:
        engine.dispose()
    with Store.open(store_url) as store:
        assert store.schema_revision() == HEAD
        assert len(store.runs()) == 1
        assert store.initiatives() == {}


def test_migrations_create_the_schema_from_empty(store_url: str) -> None:
    with Store.open(store_url) as store:
        assert store.schema_revision() == HEAD
        assert store.states() == {}
        assert store.runs() == []
        assert store.last_run() is None
        assert store.state("nope") is None
    with raw_engine(store_url) as engine:
        inspector = sa.inspect(engine)
        assert {"runs", "measurements", "kr_state", "initiatives", "alembic_version"} <= set(
            inspector.get_table_names()
        )
        indexes = {ix["name"]: ix["column_names"] for ix in inspector.get_indexes("measurements")}
        assert indexes["ix_measurements_kr_id_measured_at"] == ["kr_id", "measured_at"]


def test_migrations_match_the_tables_the_code_uses(store_url: str) -> None:
    Store.open(store_url, fresh="migrate").close()
    with raw_engine(store_url) as engine, engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        assert compare_metadata(context, metadata) == []


def schema_of(url: str) -> dict[str, object]:
    """Everything a migration could get wrong, table by table."""
    with raw_engine(url) as engine:
        inspector = sa.inspect(engine)
        return {
            name: (
                [(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(name)],
                inspector.get_pk_constraint(name),
                sorted(
                    (ix["name"], ix["column_names"], ix["unique"])
                    for ix in inspector.get_indexes(name)
                ),
                sorted(
                    (fk["name"] or "", fk["constrained_columns"], fk["referred_table"])
                    for fk in inspector.get_foreign_keys(name)
                ),
                sorted(str(uc) for uc in inspector.get_unique_constraints(name)),
            )
            for name in sorted(inspector.get_table_names())
        }


def test_an_empty_store_is_created_without_alembic_and_equals_the_migrated_one(
    store_url: str,
) -> None:
    code = (
        "import sys\nfrom okrsync.store.database import Store\n"
        f"Store.open({store_url!r}).close()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('alembic', 'mako')))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"  # created from the tables: no alembic import
    created = schema_of(store_url)
    with Store.open(store_url) as store:
        assert store.schema_revision() == HEAD
    with raw_engine(store_url) as engine, engine.begin() as conn:
        metadata.drop_all(conn)
        conn.execute(sa.text("DROP TABLE alembic_version"))
    Store.open(store_url, fresh="migrate").close()
    assert schema_of(store_url) == created
    assert {"runs", "measurements", "kr_state", "initiatives", "alembic_version"} <= set(created)


def test_reopening_is_idempotent_and_keeps_data(store_url: str) -> None:
    with Store.open(store_url) as store:
        run_id = store.record_run(run(), [ok("kr.a", 1.0, 0)])
    for _ in range(2):
        with Store.open(store_url) as store:
            assert store.schema_revision() == HEAD
            assert store.state("kr.a") is not None
            assert [r.id for r in store.runs()] == [run_id]
    with raw_engine(store_url) as engine, engine.connect() as conn:
        assert conn.execute(sa.text("SELECT version_num FROM alembic_version")).all() == [(HEAD,)]


def test_concurrent_first_opens_migrate_once(store_url: str) -> None:
    failures: list[BaseException] = []

    def open_one() -> None:
        try:
            Store.open(store_url).close()
        except BaseException as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with Store.open(store_url, upgrade=False) as store:
        assert store.schema_revision() == HEAD


def test_new_sqlite_files_opened_together_never_report_locked(tmp_path: Path) -> None:
    """Switching a new file to WAL answers "locked" at once to all but one opener."""
    failures: list[BaseException] = []

    def open_one(url: str) -> None:
        try:
            Store.open(url).close()
        except BaseException as exc:  # reported below
            failures.append(exc)

    for round_ in range(25):  # the race lost about one round in twenty before the fix
        url = f"sqlite:///{tmp_path / f'r{round_}.db'}"
        threads = [threading.Thread(target=open_one, args=(url,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert failures == []


def _empty_store(url: str) -> None:
    """An empty database at ``url``: a 0-byte SQLite file, or the fixture's empty schema."""
    path = sqlite_file(normalise_url(url))
    if path is not None:
        path.touch()


def test_without_upgrade_an_empty_store_says_so(store_url: str) -> None:
    _empty_store(store_url)
    with Store.open(store_url, upgrade=False) as store:
        assert store.schema_revision() is None
        with pytest.raises(StoreError, match=rf"revision none.*needs {HEAD}.*upgrade"):
            store.states()
    with Store.open(store_url) as store:
        assert store.states() == {}


@pytest.mark.parametrize("upgrade", [True, False])
def test_a_schema_newer_than_the_code_is_refused(store_url: str, upgrade: bool) -> None:
    Store.open(store_url).close()
    with raw_engine(store_url) as engine, engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    with pytest.raises(StoreUnusable, match="0099_future, newer than this okrsync"):
        Store.open(store_url, upgrade=upgrade)


def test_sqlite_connections_use_wal_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 's.db'}"
    Store.open(url).close()
    with raw_engine(url) as engine, engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 30_000
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        with pytest.raises(sa.exc.IntegrityError, match="FOREIGN KEY"):
            conn.execute(
                sa.insert(measurements_table),
                {"run_id": 999, "kr_id": "x", "measured_at": T0, "status": "ok"}
                | {"duration_ms": 0.0, "calls": 0},
            )
    plain = sqlite3.connect(tmp_path / "s.db")
    try:
        assert plain.execute("PRAGMA journal_mode").fetchone() == ("wal",)  # persisted in the file
    finally:
        plain.close()


# --- read-only opens, foreign databases (issue #16, point 10) ---------------------------


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(normalise_url(url))  # plain: no pragma changes the file
    try:
        return set(sa.inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_a_read_only_open_of_no_store_creates_nothing(store_url: str) -> None:
    path = sqlite_file(normalise_url(store_url))
    with pytest.raises(
        NoStoreYet, match=r"no store yet at .*run okrsync sync or okrsync db upgrade"
    ):
        Store.open(store_url, read_only=True)
    if path is not None:
        assert not path.exists()  # not even an empty file
        path.touch()
        with pytest.raises(NoStoreYet, match=r"no store yet .*\(empty\)"):
            Store.open(store_url, read_only=True)
        assert path.stat().st_size == 0
    else:
        assert _tables(store_url) == set()


def test_a_read_only_open_never_migrates(store_url: str) -> None:
    from alembic import command

    from okrsync.store.database import _alembic_config

    engine = create_store_engine(normalise_url(store_url))
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "0001")
    finally:
        engine.dispose()
    with Store.open(store_url, read_only=True) as store:
        assert store.schema_revision() == "0001"
        with pytest.raises(StoreError, match=r"revision 0001, this okrsync needs .*db upgrade"):
            store.states()
    with Store.open(store_url, upgrade=False) as store:
        assert store.schema_revision() == "0001"  # still: nothing migrated it


@pytest.mark.parametrize("read_only", [True, False])
def test_a_foreign_database_is_refused_and_left_alone(store_url: str, read_only: bool) -> None:
    path = sqlite_file(normalise_url(store_url))
    if path is not None:
        plain = sqlite3.connect(path)  # someone else's database, in the default journal mode
        plain.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
        plain.commit()
        plain.close()
    else:
        with raw_engine(store_url) as engine, engine.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT)")
    with pytest.raises(StoreUnusable, match=r"holds tables \(customers\) but no okrsync schema"):
        Store.open(store_url, read_only=read_only)
    assert _tables(store_url) == {"customers"}  # no okrsync table was created in it
    if path is not None:
        plain = sqlite3.connect(path)
        try:  # not switched to WAL either
            assert plain.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        finally:
            plain.close()


# --- the SQLite file pinned (issue #16, point 6) ----------------------------------------


def test_a_moved_sqlite_file_is_neither_written_nor_recreated(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    away = tmp_path / "moved.db"
    with Store.open(f"sqlite:///{path}") as store:
        store.record_run(run(), [ok("kr.a", 1.0, 0)])  # a pooled connection stays open
        path.rename(away)
        with pytest.raises(StoreError, match=r"store file .*s\.db is gone \(moved or deleted\)"):
            store.record_run(run(1), [ok("kr.a", 2.0, 1)])
        with pytest.raises(StoreError, match="is gone"):
            store.last_run()
        assert not path.exists()  # no fresh empty store in its place
        path.touch()  # an empty file where the store was: another file, refused
        with pytest.raises(StoreError, match="is another file than the one opened"):
            store.record_run(run(1), [ok("kr.a", 2.0, 1)])
        assert path.stat().st_size == 0
        away.replace(path)  # the store is back: it carries on
        store.record_run(run(2), [ok("kr.a", 3.0, 2)])
        assert [r.started_at for r in store.runs()] == [at(2), at(0)]
    with Store.open(f"sqlite:///{path}") as store:  # the refused run landed nowhere
        assert [r.started_at for r in store.runs()] == [at(2), at(0)]


def test_a_fence_that_fails_rolls_the_write_back(store_url: str) -> None:
    def lost() -> None:
        raise StoreError("the writer lock was lost")

    with Store.open(store_url) as store:
        with store.fenced(lost), pytest.raises(StoreError, match="writer lock was lost"):
            store.record_run(run(), [ok("kr.a", 1.0, 0)])
        assert store.runs() == []
        assert store.states() == {}
        store.record_run(run(), [ok("kr.a", 1.0, 0)])  # unfenced again
        assert len(store.runs()) == 1


# --- opening failures -------------------------------------------------------------------


def test_unreachable_postgres_fails_fast_without_the_password() -> None:
    started = time.monotonic()
    with pytest.raises(StoreError) as caught:
        Store.open("postgres://okr:s3cret@127.0.0.1:1/okrsync")
    assert time.monotonic() - started < 5
    message = str(caught.value)
    assert "s3cret" not in message
    assert "okr:***@127.0.0.1:1" in message
    assert message.startswith("cannot open store postgresql+psycopg://")


def test_unreachable_sqlite_path_is_a_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match=r"cannot open store sqlite:///.*missing"):
        Store.open(f"sqlite:///{tmp_path / 'missing' / 'dir' / 'x.db'}")


@pytest.mark.parametrize("url", ["mysql://okr:s3cret@db/okrsync", "not a url at all"])
def test_unsupported_urls_are_store_errors(url: str) -> None:
    with pytest.raises(StoreError) as caught:
        Store.open(url)
    assert "s3cret" not in str(caught.value)


def test_a_closed_store_refuses_work(store_url: str) -> None:
    with Store.open(store_url) as store:
        pass
    with pytest.raises(StoreError, match="closed"):
        store.states()


# --- kr_state rules ---------------------------------------------------------------------


def test_ok_sets_the_value_and_the_attempt(store: Store) -> None:
    run_id = store.record_run(run(), [ok("kr.a", 42.5, 1, connection="jira", query="q1")])
    state = store.state("kr.a")
    assert state is not None
    assert (state.value, state.measured_at, state.last_attempt_at) == (42.5, at(1), at(1))
    assert (state.last_status, state.last_run_id) == ("ok", run_id)
    assert (state.connection, state.query) == ("jira", "q1")
    assert state.last_error is None
    assert state.held_value is None


def test_the_last_good_value_survives_errors_and_held_values(store: Store) -> None:
    store.record_run(run(0), [ok("kr.a", 10.0, 0)])
    r2 = store.record_run(run(10), [error("kr.a", 10, "auth")])
    state = store.state("kr.a")
    assert state is not None
    assert (state.value, state.measured_at) == (10.0, at(0))
    assert (state.last_status, state.last_error_kind, state.last_error) == (
        "error",
        "auth",
        "auth boom",
    )
    assert (state.last_attempt_at, state.last_run_id) == (at(10), r2)

    r3 = store.record_run(run(20), [held("kr.a", 9999.0, 20)])
    state = store.state("kr.a")
    assert state is not None
    assert (state.value, state.measured_at) == (10.0, at(0))
    assert (state.last_status, state.held_value, state.held_at) == ("held", 9999.0, at(20))
    assert (state.last_attempt_at, state.last_run_id) == (at(20), r3)

    store.record_run(run(30), [ok("kr.a", 12.0, 30)])
    state = store.state("kr.a")
    assert state is not None
    assert (state.value, state.measured_at, state.last_status) == (12.0, at(30), "ok")
    assert (state.held_value, state.held_at) == (None, None)
    assert (state.last_error, state.last_error_kind) == (None, None)


def test_a_held_value_accepted_becomes_the_good_value_as_of_when_it_was_held(
    store: Store,
) -> None:
    store.record_run(run(0), [ok("kr.a", 10.0, 0, connection="stats", query="GET /m")])
    suspicious = replace(held("kr.a", 55.0, 5), error="above max 50", connection="stats")
    store.record_run(run(5), [replace(suspicious, query="GET /m")])
    assert store.state("kr.a").held_reason == "above max 50"  # type: ignore[union-attr]

    accepted = store.accept_held("kr.a", run(9, trigger="hold accept"), "accepted by ana: ok")
    state = store.state("kr.a")
    assert state is not None
    assert (state.value, state.measured_at, state.last_status) == (55.0, at(5), "ok")
    assert (state.held_value, state.held_at, state.held_reason) == (None, None, None)
    assert (state.connection, state.query, state.last_run_id) == (
        "stats",
        "GET /m",
        accepted.run_id,
    )
    last = store.history("kr.a")[-1]
    assert (last.status, last.value, last.raw, last.run_id) == (
        "ok", 55.0, "accepted by ana: ok", accepted.run_id,
    )  # fmt: skip
    assert store.runs(limit=1)[0].trigger == "hold accept"
    with pytest.raises(NothingHeld):  # nothing left to accept: no second run
        store.accept_held("kr.a", run(10), "again")
    assert len(store.runs()) == 3


def test_a_held_value_rejected_is_dropped_and_the_good_value_stays(store: Store) -> None:
    store.record_run(run(0), [ok("kr.a", 10.0, 0)])
    store.record_run(run(5), [replace(held("kr.a", 55.0, 5), error="above max 50")])
    before = store.reject_held("kr.a", run(9, trigger="hold reject"))
    assert (before.held_value, before.held_reason) == (55.0, "above max 50")
    state = store.state("kr.a")
    assert state is not None
    assert (state.value, state.measured_at, state.held_value, state.held_reason) == (
        10.0, at(0), None, None,
    )  # fmt: skip
    assert [m.status for m in store.history("kr.a")] == ["ok", "held"]  # history keeps both
    assert store.runs(limit=1)[0].trigger == "hold reject"
    with pytest.raises(NothingHeld):
        store.reject_held("kr.never", run(10))


def test_measurements_of_one_run_apply_in_order(store: Store) -> None:
    store.record_run(run(), [ok("kr.a", 1.0, 1), error("kr.a", 2), held("kr.a", 5.0, 3)])
    store.record_run(run(), [held("kr.b", 7.0, 1), ok("kr.b", 2.0, 2)])
    a, b = store.state("kr.a"), store.state("kr.b")
    assert a is not None
    assert b is not None
    assert (a.value, a.measured_at, a.last_status, a.held_value) == (1.0, at(1), "held", 5.0)
    assert (a.last_error_kind, a.last_attempt_at) == ("transient", at(3))
    assert (b.value, b.last_status, b.held_value, b.held_at) == (2.0, "ok", None, None)


def test_a_kr_first_seen_failing_has_no_value(store: Store) -> None:
    store.record_run(run(), [error("kr.new", 1)])
    assert store.states()["kr.new"].value is None
    assert store.states()["kr.new"].measured_at is None
    store.record_run(run(), [held("kr.new", 3.0, 2)])
    state = store.states()["kr.new"]
    assert (state.value, state.held_value, state.last_error_kind) == (None, 3.0, "transient")


def test_states_lists_every_kr(store: Store) -> None:
    store.record_run(run(), [ok("kr.a", 1.0, 0), error("kr.b", 0)])
    store.record_run(run(), [ok("kr.c", 3.0, 0)])
    assert sorted(store.states()) == ["kr.a", "kr.b", "kr.c"]


# --- history and runs -------------------------------------------------------------------


def test_history_is_oldest_first_with_limit_and_since(store: Store) -> None:
    store.record_run(run(), [ok("kr.a", float(i), i) for i in (3, 4)] + [ok("kr.b", 0.0, 0)])
    first = store.record_run(run(), [ok("kr.a", float(i), i) for i in (0, 1, 2)])

    def values(ms: list[MeasurementRecord]) -> list[float | None]:
        return [m.value for m in ms]

    assert values(store.history("kr.a")) == [0, 1, 2, 3, 4]
    assert values(store.history("kr.a", limit=2)) == [3, 4]
    assert values(store.history("kr.a", since=at(2))) == [2, 3, 4]
    assert values(store.history("kr.a", since=at(2), limit=1)) == [4]
    assert store.history("kr.a", limit=0) == []
    assert store.history("kr.nope") == []
    assert store.history("kr.a")[0].run_id == first


def test_history_round_trips_every_field(store: Store) -> None:
    m = MeasurementRecord(
        kr_id="kr.a",
        measured_at=at(5),
        status="error",
        error_kind="query",
        error="bad JQL",
        connection="jira",
        query="project = X",
        raw='{"errorMessages": ["bad"]}',
        duration_ms=12.25,
        calls=3,
    )
    run_id = store.record_run(run(), [m])
    [back] = store.history("kr.a")
    assert back == MeasurementRecord(**{**m.__dict__, "run_id": run_id})


def test_runs_are_newest_first_and_summaries_round_trip(store: Store) -> None:
    summary = {"measured": 3, "errors": 1, "by_status": {"ok": 2}, "note": "héllo ✓", "x": None}
    ids = [
        store.record_run(run(0, trigger="demo"), []),
        store.record_run(run(20, summary=summary), [ok("kr.a", 1.0, 20)]),
        store.record_run(
            RunRecord(
                started_at=at(10), finished_at=at(11), status="partial", summary={"n": [1, 2.5]}
            ),
            [],
        ),
    ]
    runs = store.runs()
    assert [r.id for r in runs] == [ids[1], ids[2], ids[0]]
    assert runs[0] == RunRecord(at(20), at(21), "ok", "sync", summary, id=ids[1])
    assert (runs[1].status, runs[1].summary) == ("partial", {"n": [1, 2.5]})
    assert (runs[2].trigger, runs[2].summary) == ("demo", {})
    assert [r.id for r in store.runs(limit=2)] == [ids[1], ids[2]]
    assert store.last_run() == runs[0]
    assert store.triggers() == {"demo", "sync"}  # sync --simulators refuses a store with "sync"


def test_datetimes_come_back_aware_utc(store: Store) -> None:
    ist = timezone(timedelta(hours=5, minutes=30))
    local = datetime(2024, 3, 1, 14, 30, 0, 123456, tzinfo=ist)
    store.record_run(
        RunRecord(local, local, "ok"),
        [
            MeasurementRecord("kr.a", local, "ok", 1.0),
            MeasurementRecord("kr.b", local, "held", 2.0),
        ],
    )
    [m] = store.history("kr.a", since=local)
    state, state_b, last = store.state("kr.a"), store.state("kr.b"), store.last_run()
    assert state is not None
    assert state_b is not None
    assert last is not None
    for when in (m.measured_at, state.measured_at, state.last_attempt_at, state_b.held_at):
        assert when == local
        assert when is not None
        assert when.tzinfo is UTC
        assert (when.hour, when.microsecond) == (9, 123456)
    assert last.started_at.tzinfo is UTC
    assert last.started_at == local


def test_naive_datetimes_and_missing_values_are_rejected() -> None:
    naive = datetime(2024, 1, 1)  # noqa: DTZ001
    with pytest.raises(ValueError, match="timezone-aware"):
        MeasurementRecord("kr.a", naive, "ok", 1.0)
    with pytest.raises(ValueError, match="timezone-aware"):
        RunRecord(T0, naive, "ok")
    with pytest.raises(ValueError, match="finite value"):
        MeasurementRecord("kr.a", T0, "ok")
    with pytest.raises(ValueError, match="finite value"):
        MeasurementRecord("kr.a", T0, "held", float("nan"))


def test_naive_since_is_rejected(store: Store) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        store.history("kr.a", since=datetime(2024, 1, 1))  # noqa: DTZ001


# --- kill -9 mid-run --------------------------------------------------------------------

PER_RUN, KRS = 2000, 500

# Records runs of PER_RUN measurements forever, numbering them after the last
# stored one. With STEP > 0 it freezes at the STEP-th database step (statement
# or commit) of its second run and waits to be killed there; if that run has
# fewer steps it finishes it, touches MARKER.done and exits.
WRITER = f"""
import itertools, sys, time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, event

from okrsync.domain.records import MeasurementRecord, RunRecord

from okrsync.store.database import Store

url, marker, stall_step = sys.argv[1], Path(sys.argv[2]), int(sys.argv[3])
armed, steps = False, 0


def step(*_):
    global steps
    if armed:
        steps += 1
        if steps == stall_step:
            marker.write_text(str(steps))
            time.sleep(600)


event.listen(Engine, "after_cursor_execute", step)
event.listen(Engine, "commit", step)

with Store.open(url) as store:
    last = store.last_run()
    first = last.summary["run"] + 1 if last else 1
    for run_no in itertools.count(first):
        armed = stall_step > 0 and run_no == first + 1
        when = datetime(2024, 1, 1, tzinfo=UTC) + timedelta(minutes=run_no)
        records = [
            MeasurementRecord(f"kr.{{j % {KRS}:03d}}", when, "ok", run_no * 10_000.0 + j)
            for j in range({PER_RUN})
        ]
        store.record_run(RunRecord(when, when, "ok", summary={{"run": run_no}}), records)
        if armed:
            marker.with_suffix(".done").touch()
            break
"""


def _wait_until(
    what: str, done: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path
) -> None:
    deadline = time.monotonic() + 60
    while not done():
        if proc.poll() is not None:
            pytest.fail(f"writer exited ({proc.returncode}) before {what}:\n{log.read_text()}")
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}:\n{log.read_text()}")
        time.sleep(0.02)


def _committed_runs(url: str) -> int:
    try:
        with Store.open(url, upgrade=False) as store:
            return len(store.runs(limit=10_000))
    except StoreError:  # not migrated yet
        return 0


def _run_and_kill(url: str, tmp_path: Path, stall_step: int) -> bool:
    """Start a writer; SIGKILL it once it committed a run and is inside the next one.

    Returns False when the writer had no ``stall_step``-th step and finished instead.
    """
    script, marker, log = tmp_path / "writer.py", tmp_path / "stalled", tmp_path / "writer.log"
    done = marker.with_suffix(".done")
    script.write_text(WRITER)
    marker.unlink(missing_ok=True)
    before = _committed_runs(url)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, str(script), url, str(marker), str(stall_step)],
            stdout=out,
            stderr=out,
        )
        try:
            _wait_until("a committed run", lambda: _committed_runs(url) > before, proc, log)
            if stall_step:
                _wait_until(
                    f"step {stall_step}", lambda: marker.exists() or done.exists(), proc, log
                )
                if done.exists():
                    assert proc.wait(timeout=30) == 0, log.read_text()
                    return False
            else:
                time.sleep(random.uniform(0.0, 0.3))  # noqa: S311 -- likely inside a later run
            assert proc.poll() is None, log.read_text()
            proc.send_signal(signal.SIGKILL)
        finally:
            if proc.poll() is None:
                proc.kill()
            proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return True


def _assert_whole(url: str) -> int:
    """Every stored run has all its measurements and kr_state is the last run's; → runs."""
    with Store.open(url) as store:
        runs = store.runs(limit=10_000)
        last = store.last_run()
        states = store.states()
    with raw_engine(url) as engine, engine.connect() as conn:
        per_run = sa.select(measurements_table.c.run_id, sa.func.count())
        counts: dict[int, int] = dict(
            conn.execute(per_run.group_by(measurements_table.c.run_id)).all()
        )
    assert counts == {r.id: PER_RUN for r in runs}
    assert last is not None
    assert last.id == max(counts)
    n = int(last.summary["run"])
    assert [r.summary["run"] for r in runs] == list(range(n, 0, -1))
    assert len(states) == KRS
    for i in range(KRS):
        state = states[f"kr.{i:03d}"]
        assert (state.last_run_id, state.last_status) == (last.id, "ok")
        assert state.value == n * 10_000.0 + PER_RUN - KRS + i
    return n


def test_kill_9_at_every_step_of_a_run(store_url: str, tmp_path: Path) -> None:
    """Kill a writer at each statement/commit of a run in turn: never a partial run."""
    step = 0
    while _run_and_kill(store_url, tmp_path, stall_step=step + 1):
        step += 1
        assert _assert_whole(store_url) == step  # the killed run left nothing
        assert step < 50
    assert step >= 4  # BEGIN, run, measurements, kr_state, (COMMIT): each was a kill point
    assert _assert_whole(store_url) == step + 2


def test_kill_9_at_random_moments(store_url: str, tmp_path: Path) -> None:
    for _ in range(3):
        _run_and_kill(store_url, tmp_path, stall_step=0)
        _assert_whole(store_url)
    with Store.open(store_url) as store:  # the killed writers left no lock behind
        next_id = store.record_run(run(), [ok("kr.000", -1.0, 0)])
        assert store.states()["kr.000"].last_run_id == next_id


def test_initiatives_keep_their_last_good_numbers_on_error(store: Store) -> None:
    from okrsync.domain.records import InitiativeRecord

    t1 = datetime(2026, 11, 1, tzinfo=UTC)
    t2 = datetime(2026, 11, 2, tzinfo=UTC)
    good = InitiativeRecord(
        "kr.a",
        "PROD-101",
        "jira",
        t1,
        title="Checkout v2",
        done=3,
        total=8,
        status="indeterminate",
        measured_at=t1,
    )
    store.record_run(run(), [], [good])
    failed = InitiativeRecord("kr.a", "PROD-101", "jira", t2, error="connection 'jira': HTTP 503")
    store.record_run(run(), [], [failed])
    [got] = store.initiatives()["kr.a"]
    assert (got.title, got.done, got.total, got.measured_at) == ("Checkout v2", 3, 8, t1)
    assert got.checked_at == t2
    assert got.error == "connection 'jira': HTTP 503"
    assert got.completion == 3 / 8
    fixed = InitiativeRecord(
        "kr.a",
        "PROD-101",
        "jira",
        t2,
        title="Checkout v2",
        done=8,
        total=8,
        status="done",
        measured_at=t2,
    )
    store.record_run(run(), [], [fixed])
    [got] = store.initiatives()["kr.a"]
    assert (got.done, got.error, got.status) == (8, None, "done")


def test_schema_head_constant_matches_the_migration_scripts(store: Store) -> None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    from okrsync.store.database import MIGRATIONS
    from okrsync.store.tables import SCHEMA_HEAD

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    assert ScriptDirectory.from_config(config).get_current_head() == SCHEMA_HEAD == HEAD


def test_good_values_of_every_kr_in_one_query_match_each_history(store: Store) -> None:
    failed = MeasurementRecord(kr_id="kr.a", measured_at=at(15), status="error", error="down")
    store.record_run(run(0), [ok("kr.a", 1.0, 0), ok("kr.b", 5.0, 1), held("kr.b", 99.0, 2)])
    store.record_run(run(10), [ok("kr.a", 2.0, 10), failed, ok("kr.a", 3.0, 20)])
    found = store.good_values(since=at(5))
    assert found == {"kr.a": [(at(10), 2.0), (at(20), 3.0)]}  # no held, no error, none before
    for kr in ("kr.a", "kr.b"):
        each = [
            (m.measured_at, m.value) for m in store.history(kr, since=at(5)) if m.status == "ok"
        ]
        assert found.get(kr, []) == each
    assert store.good_values(since=at(0))["kr.b"] == [(at(1), 5.0)]


def test_a_path_for_a_store_url_gets_the_sqlite_url_to_write(tmp_path: Path) -> None:
    with pytest.raises(StoreError) as info:
        Store.open("okrsync.db")
    assert str(info.value) == (
        "store URL 'okrsync.db' is a path, not a database URL: write sqlite:///okrsync.db"
    )
    with pytest.raises(StoreError) as info:
        Store.open("okrsync:s3cret@db.internal/okrsync")  # no scheme, but credentials
    assert "s3cret" not in str(info.value)
    assert not (tmp_path / "okrsync.db").exists()
