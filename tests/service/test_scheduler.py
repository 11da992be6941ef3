"""`okrsync run` as real processes: cycles, signals, kill -9, racing writers, broken edits.

Every test runs on SQLite and on the real PostgreSQL (the ``store_url`` fixture).
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.domain.records import RunRecord
from okrsync.store.database import Store, normalise_url
from tests.support import (
    TOKEN,
    connections_yaml,
    kr_yaml,
    log_events,
    mapping,
    objective_yaml,
    okrsync_env,
    spawn_okrsync,
    write,
)

METRICS = ["support_tickets_month", "checkout_steps"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for(what: str, check: Callable[[], Any], timeout: float = 20.0) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(0.1)
    raise AssertionError(f"timed out waiting for {what}")


class Proc:
    """An `okrsync run` process with its log in a file."""

    def __init__(self, tmp: Path, mappings: Path, store_url: str, *args: str, **env: str) -> None:
        self.log = tmp / f"run-{time.monotonic_ns()}.log"
        self.health = free_port()
        full_env = okrsync_env(mappings, store_url, health_port=str(self.health), store_wait="5")
        self.proc = spawn_okrsync(["run", *args], {**full_env, **env}, self.log)

    def events(self) -> list[dict[str, Any]]:
        return log_events(self.log)

    def said(self, event: str) -> bool:
        return any(e.get("event") == event for e in self.events())

    def get(self, path: str) -> tuple[int, dict[str, Any]]:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.health}{path}", timeout=5) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read())

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(timeout=timeout)

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(timeout=10)


@pytest.fixture
def sim() -> Iterator[StatsSimulator]:
    with StatsSimulator(token=TOKEN) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def mappings(tmp_path: Path, sim: StatsSimulator) -> Path:
    krs = [kr_yaml(f"kr-{m}", m, refresh="1s") for m in METRICS]
    files = {
        "connections.yaml": connections_yaml(sim.url),
        "okrs.yaml": mapping([objective_yaml("obj", krs)]),
    }
    return write(tmp_path / "mappings", files)


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    yield started
    for p in started:
        p.kill()


def runs(url: str) -> list[RunRecord]:
    with Store.open(url) as st:
        return st.runs(limit=1000)


def assert_consistent(url: str, kr_count: int) -> None:
    """Every stored run is whole: as many measurements as it measured, states from the last."""
    with Store.open(url) as st:
        for run in st.runs(limit=1000):
            assert run.summary["measured"] in (0, kr_count)
        engine = sa.create_engine(normalise_url(url))
        try:
            with engine.connect() as conn:
                rows = conn.execute(
                    sa.text("SELECT run_id, count(*) FROM measurements GROUP BY run_id")
                )
                per_run = dict(rows.all())
        finally:
            engine.dispose()
        by_id = {r.id: r.summary["measured"] for r in st.runs(limit=1000)}
        assert per_run == {k: v for k, v in by_id.items() if v}


def test_syncs_every_second_with_health_then_stops_on_sigterm(
    tmp_path: Path, mappings: Path, store_url: str, procs: list[Proc]
) -> None:
    p = Proc(tmp_path, mappings, store_url)
    procs.append(p)
    wait_for("three runs", lambda: len(runs(store_url)) >= 3)
    assert p.get("/healthz") == (200, {"status": "ok", "loop_age_s": pytest.approx(0, abs=6)})
    status, ready = p.get("/readyz")
    assert status == 200
    assert ready["ready"] is True
    assert ready["last_run"]["status"] == "ok"
    assert p.get("/nope")[0] == 404
    assert p.stop() == 0
    assert p.said("scheduler stopped")
    stored = runs(store_url)
    assert all(r.status == "ok" and r.trigger == "schedule" for r in stored)
    assert all(r.summary["measured"] == 2 for r in stored)  # refresh 1s: measured each cycle
    finished = [e for e in p.events() if e.get("event") == "sync finished"]
    assert len(finished) == len(stored)
    assert all(e["exit_code"] == 0 for e in finished)


def test_sigterm_mid_run_finishes_the_run_in_flight(
    tmp_path: Path, mappings: Path, store_url: str, sim: StatsSimulator, procs: list[Proc]
) -> None:
    p = Proc(tmp_path, mappings, store_url)
    procs.append(p)
    wait_for("a first run", lambda: runs(store_url))
    sim.latency = 1.5
    sim.clear_requests()
    wait_for("a request in flight", lambda: sim.requests)
    signalled = time.time()
    assert p.stop() == 0
    last = runs(store_url)[0]
    assert last.finished_at.timestamp() > signalled  # the run in flight was completed ...
    assert last.summary["measured"] == 2  # ... whole
    assert_consistent(store_url, 2)


def test_grace_period_abandons_a_run_that_will_not_end(
    tmp_path: Path, mappings: Path, store_url: str, sim: StatsSimulator, procs: list[Proc]
) -> None:
    p = Proc(tmp_path, mappings, store_url, OKRSYNC_STOP_GRACE="1")
    procs.append(p)
    wait_for("a first run", lambda: runs(store_url))
    sim.latency = 8.0
    sim.clear_requests()
    wait_for("a request in flight", lambda: sim.requests)
    before = len(runs(store_url))
    started = time.monotonic()
    assert p.stop(timeout=10) == 4
    assert time.monotonic() - started < 5
    assert len(runs(store_url)) == before  # nothing of the abandoned run
    assert_consistent(store_url, 2)


def test_kill_9_mid_run_then_a_new_process_carries_on(
    tmp_path: Path, mappings: Path, store_url: str, sim: StatsSimulator, procs: list[Proc]
) -> None:
    p = Proc(tmp_path, mappings, store_url)
    procs.append(p)
    wait_for("two runs", lambda: len(runs(store_url)) >= 2)
    sim.latency = 1.0
    sim.clear_requests()
    wait_for("a request in flight", lambda: sim.requests)
    p.kill()
    before = len(runs(store_url))
    assert_consistent(store_url, 2)
    sim.latency = 0.0
    q = Proc(tmp_path, mappings, store_url)
    procs.append(q)
    wait_for("the new process's runs", lambda: len(runs(store_url)) >= before + 2)
    assert q.stop() == 0
    assert_consistent(store_url, 2)


def test_two_racing_processes_never_both_write(
    tmp_path: Path, mappings: Path, store_url: str, sim: StatsSimulator, procs: list[Proc]
) -> None:
    sim.latency = 0.3
    a = Proc(tmp_path, mappings, store_url)
    b = Proc(tmp_path, mappings, store_url)
    procs += [a, b]
    wait_for("both to have tried", lambda: a.said("sync finished") or b.said("sync finished"))
    wait_for(
        "a skipped cycle",
        lambda: any(
            p.said("another okrsync holds the writer lock: skipping this run") for p in (a, b)
        ),
    )
    time.sleep(3)
    # kill -9 whichever holds the lock now-ish; the other takes over
    holder, other = (a, b) if a.said("sync finished") else (b, a)
    holder.kill()
    count = len(runs(store_url))
    wait_for("the survivor's runs", lambda: len(runs(store_url)) >= count + 2)
    assert other.stop() == 0
    stored = sorted(runs(store_url), key=lambda r: r.started_at)
    for earlier, later in itertools.pairwise(stored):
        assert earlier.finished_at <= later.started_at, "two runs overlapped"
    skipped = [
        e for p in (a, b) for e in p.events() if e.get("event", "").startswith("another okrsync")
    ]
    assert skipped
    assert all(e["holder"] for e in skipped)  # it says who holds the lock
    assert_consistent(store_url, 2)


def test_a_broken_edit_keeps_the_last_valid_config(
    tmp_path: Path, mappings: Path, store_url: str, procs: list[Proc]
) -> None:
    p = Proc(tmp_path, mappings, store_url)
    procs.append(p)
    wait_for("a first run", lambda: runs(store_url))
    (mappings / "okrs.yaml").write_text(
        (mappings / "okrs.yaml").read_text().replace("start: 120", "start: [oops")
    )
    wait_for(
        "the problem logged", lambda: p.said("configuration invalid: keeping the last valid one")
    )
    count = len(runs(store_url))
    wait_for("runs on the old config", lambda: len(runs(store_url)) >= count + 2)
    assert all(r.summary["measured"] == 2 for r in runs(store_url))
    problems = [e["problem"] for e in p.events() if e.get("event") == "configuration problem"]
    assert any("okrs.yaml" in x and "invalid YAML" in x for x in problems)
    status, ready = p.get("/readyz")  # still ready (it syncs on), and it says the edit is broken
    assert status == 200
    assert ready["mappings"]["broken"] is True
    assert ready["mappings"]["running"] == ready["config"]
    assert ready["mappings"]["problem_count"] == len(ready["mappings"]["problems"]) >= 1
    assert "okrs.yaml" in ready["mappings"]["problems"][0]

    # the fix, with one more key result, is picked up by the next cycle
    fixed = mapping(
        [
            objective_yaml(
                "obj", [kr_yaml(f"kr-{m}", m, refresh="1s") for m in [*METRICS, "annual_revenue"]]
            )
        ]
    )
    (mappings / "okrs.yaml").write_text(fixed)
    wait_for("the new key result measured", lambda: runs(store_url)[0].summary["measured"] == 3)
    status, ready = p.get("/readyz")
    assert status == 200
    assert "mappings" not in ready  # fixed: nothing to report
    assert p.stop() == 0


def test_run_once_and_bad_schedule(tmp_path: Path, mappings: Path, store_url: str) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")},
           "TEST_STATS_TOKEN": TOKEN, "OKRSYNC_MAPPINGS": str(mappings), "OKRSYNC_STORE_URL": store_url}  # fmt: skip
    once = subprocess.run(
        [sys.executable, "-m", "okrsync", "run", "--once"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert once.returncode == 0, once.stderr
    assert [r.trigger for r in runs(store_url)] == ["once"]
    bad = subprocess.run(
        [sys.executable, "-m", "okrsync", "run", "--schedule", "every tuesday"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 2
    assert "invalid schedule 'every tuesday'" in bad.stderr


def test_unreachable_store_at_start_gives_up_clearly(tmp_path: Path, mappings: Path) -> None:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")},
           "TEST_STATS_TOKEN": TOKEN, "OKRSYNC_MAPPINGS": str(mappings), "OKRSYNC_STORE_WAIT": "2",
           "OKRSYNC_LOG_FORMAT": "json",
           "OKRSYNC_STORE_URL": "postgresql://okr:s3cretpw@127.0.0.1:1/okrsync"}  # fmt: skip
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "okrsync", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert time.monotonic() - started < 20
    assert "gave up after 2s" in out.stderr
    assert "store not reachable yet" in out.stderr  # it retried with backoff
    assert "s3cretpw" not in out.stderr + out.stdout


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)  # renames its schema mid-run
def test_store_lost_mid_run_fails_that_run_whole_and_the_next_recovers(
    tmp_path: Path, mappings: Path, store_url: str, sim: StatsSimulator, procs: list[Proc]
) -> None:
    schema = store_url.rsplit("search_path%3D", 1)[-1].rsplit("search_path=", 1)[-1]
    admin = sa.create_engine(normalise_url(store_url), isolation_level="AUTOCOMMIT")
    p = Proc(tmp_path, mappings, store_url)
    procs.append(p)
    try:
        wait_for("a first run", lambda: runs(store_url))
        sim.latency = 1.0
        sim.clear_requests()
        wait_for("a request in flight", lambda: sim.requests)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER SCHEMA "{schema}" RENAME TO "{schema}_away"')
        wait_for(
            "the failed run logged",
            lambda: p.said("run failed: the store is unavailable, nothing was written"),
        )
        with admin.connect() as conn:
            conn.exec_driver_sql(f'ALTER SCHEMA "{schema}_away" RENAME TO "{schema}"')
        sim.latency = 0.0
        count = len(runs(store_url))
        wait_for("runs again", lambda: len(runs(store_url)) >= count + 2)
        assert p.stop() == 0
        assert_consistent(store_url, 2)
    finally:
        admin.dispose()


# --- the store lost or moved while `run` runs (issue #16, points 5 and 6) ---------------


def terminate(url: str, pid: int) -> int:
    """pg_terminate_backend every session of process ``pid`` (lock and store), none else."""
    admin = sa.create_engine(normalise_url(url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            killed = conn.execute(
                sa.text(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE application_name IN (:lock, :store)"
                ),
                {
                    "lock": f"okrsync writer {socket.gethostname()}:{pid}",
                    "store": f"okrsync store {socket.gethostname()}:{pid}",
                },
            )
            return len(killed.all())
    finally:
        admin.dispose()


def unready_because(p: Proc, *words: str) -> dict[str, Any] | None:
    status, body = p.get("/readyz")
    if status == 503 and all(w in body["error"] for w in words):
        return body
    return None


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_terminated_postgres_sessions_fail_the_run_whole_and_the_next_recovers(
    tmp_path: Path, mappings: Path, store_url: str, sim: StatsSimulator, procs: list[Proc]
) -> None:
    """Before: OperationalError at pg_try_advisory_lock, exit 1, the probes gone."""
    p = Proc(tmp_path, mappings, store_url)
    procs.append(p)
    wait_for("two runs", lambda: len(runs(store_url)) >= 2)
    assert terminate(store_url, p.proc.pid) >= 1  # between runs: the next lock reconnects
    count = len(runs(store_url))
    wait_for("runs after idle sessions were cut", lambda: len(runs(store_url)) >= count + 2)
    sim.latency = 1.0
    sim.clear_requests()
    wait_for("a request in flight", lambda: sim.requests)
    assert terminate(store_url, p.proc.pid) >= 1  # mid-run: the lock it holds is gone
    body = wait_for("/readyz saying why", lambda: unready_because(p, "writer lock was lost"))
    assert "nothing was written" in body["error"]
    assert p.get("/healthz")[0] == 200
    assert p.proc.poll() is None
    sim.latency = 0.0
    wait_for("/readyz ready again", lambda: p.get("/readyz")[0] == 200)
    count = len(runs(store_url))
    wait_for("runs again", lambda: len(runs(store_url)) >= count + 2)
    assert p.stop() == 0
    assert not any(e.get("level") == "critical" or "Traceback" in str(e) for e in p.events())
    assert_consistent(store_url, 2)


@pytest.fixture
def own_database(store_url: str) -> Iterator[str]:
    """A PostgreSQL database of this test's own, safe to drop; dropped afterwards."""
    name = f"okrsync_drop_{os.getpid()}_{time.monotonic_ns() % 10**9}"
    admin = sa.create_engine(normalise_url(store_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        url = normalise_url(store_url).set(database=name, query={})
        yield url.render_as_string(hide_password=False)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        admin.dispose()


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_dropped_database_fails_cycles_clearly_until_it_is_back(
    tmp_path: Path, mappings: Path, own_database: str, procs: list[Proc]
) -> None:
    url = own_database
    name = normalise_url(url).database
    admin = sa.create_engine(
        normalise_url(url).set(database="postgres"), isolation_level="AUTOCOMMIT"
    )
    p = Proc(tmp_path, mappings, url)
    procs.append(p)
    try:
        wait_for("two runs", lambda: len(runs(url)) >= 2)
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE "{name}" WITH (FORCE)')
        wait_for("/readyz saying why", lambda: unready_because(p, "does not exist"))
        time.sleep(2.5)  # more cycles against no database at all
        assert p.proc.poll() is None
        assert p.get("/healthz")[0] == 200
        failed = [e for e in p.events() if e.get("event", "").startswith("run failed")]
        assert len(failed) >= 2
        assert all("does not exist" in e["error"] for e in failed)
        with admin.connect() as conn:  # back, empty: the service must not re-create it itself
            conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
        time.sleep(2.5)
        assert wait_for("/readyz not ready", lambda: unready_because(p, '"kr_state" does not'))
        upgrade = subprocess.run(
            [sys.executable, "-m", "okrsync", "db", "upgrade", "--store", url],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert upgrade.returncode == 0, upgrade.stderr
        wait_for("/readyz ready again", lambda: p.get("/readyz")[0] == 200)
        wait_for("runs in the new database", lambda: len(runs(url)) >= 2)
        assert p.stop() == 0
    finally:
        admin.dispose()


def test_a_moved_sqlite_store_is_not_written_and_readyz_says_why(
    tmp_path: Path, mappings: Path, procs: list[Proc]
) -> None:
    """Before: 6 more runs went into the moved file and /readyz stayed 200."""
    db = tmp_path / "store.db"
    away = tmp_path / "moved-away.db"
    url = f"sqlite:///{db}"
    p = Proc(tmp_path, mappings, url)
    procs.append(p)
    wait_for("two runs", lambda: len(runs(url)) >= 2)
    moved_at = datetime.now(UTC)
    db.rename(away)
    body = wait_for("/readyz saying why", lambda: unready_because(p, "is gone"))
    assert str(db) in body["error"]
    time.sleep(3)  # three more cycles with the file away
    assert not db.exists()  # no fresh empty store created in its place
    assert p.proc.poll() is None
    assert p.get("/healthz")[0] == 200
    failed = [e for e in p.events() if e.get("event", "").startswith("run failed")]
    assert len(failed) >= 2
    back_at = datetime.now(UTC)
    away.rename(db)
    wait_for("/readyz ready again", lambda: p.get("/readyz")[0] == 200)
    count = len(runs(url))
    wait_for("runs again", lambda: len(runs(url)) >= count + 2)
    assert p.stop() == 0
    stored = runs(url)
    assert not [r for r in stored if moved_at < r.started_at < back_at], "wrote the moved file"
    assert_consistent(url, 2)


# --- start-up refusals and warnings (issue #16, points 9a and 10) -----------------------


def test_a_newer_store_is_refused_at_once_not_retried(
    tmp_path: Path, mappings: Path, store_url: str
) -> None:
    Store.open(store_url).close()
    engine = sa.create_engine(normalise_url(store_url))
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("UPDATE alembic_version SET version_num = '0099_future'"))
    finally:
        engine.dispose()
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")},
           "TEST_STATS_TOKEN": TOKEN, "OKRSYNC_MAPPINGS": str(mappings), "OKRSYNC_STORE_WAIT": "30",
           "OKRSYNC_LOG_FORMAT": "json", "OKRSYNC_STORE_URL": store_url}  # fmt: skip
    started = time.monotonic()
    out = subprocess.run(
        [sys.executable, "-m", "okrsync", "run"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 2
    assert time.monotonic() - started < 10  # not 30 s of retries
    assert "0099_future, newer than this okrsync" in out.stderr
    assert "store not reachable yet" not in out.stderr + out.stdout
    assert "gave up after" not in out.stderr


def test_a_schedule_shorter_than_every_refresh_is_warned_once(
    tmp_path: Path, sim: StatsSimulator, procs: list[Proc]
) -> None:
    krs = [kr_yaml(f"kr-{m}", m, refresh="1h") for m in METRICS]
    files = {
        "connections.yaml": connections_yaml(sim.url),
        "okrs.yaml": mapping([objective_yaml("obj", krs)]),
    }
    url = f"sqlite:///{tmp_path / 's.db'}"
    p = Proc(tmp_path, write(tmp_path / "hourly", files), url)
    procs.append(p)
    wait_for("three runs", lambda: len(runs(url)) >= 3)
    assert p.stop() == 0
    warned = [e for e in p.events() if e.get("event", "").startswith("schedule is shorter")]
    assert len(warned) == 1  # once per configuration, not every cycle
    assert (warned[0]["schedule"], warned[0]["shortest_refresh"]) == ("1s", "1h")
