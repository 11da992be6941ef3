"""kill -9 at random points of a real `okrsync sync`, on SQLite and PostgreSQL.

Each trial starts `okrsync sync --all` against the stats simulator and SIGKILLs
it after a seeded random delay: at start-up, while measuring, or while it
writes its run. Afterwards every run in the store is whole or absent (its
summary's count of measurements matches its measurement rows), no run an
earlier check saw has lost anything, and the next sync finishes with exit 0.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from okrsync.demo.simulators.stats import METRICS, StatsSimulator
from okrsync.store.database import normalise_url
from tests.faults.runs import lost, whole_runs
from tests.faults.tally import TALLY, trials
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, write

PER_METRIC = 6  # key results per simulator metric: a run writes a few dozen measurements
KRS = len(METRICS) * PER_METRIC
SEED = 1616


@pytest.fixture
def sim() -> Iterator[StatsSimulator]:
    with StatsSimulator(token=TOKEN, latency=0.02) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def mappings(tmp_path: Path, sim: StatsSimulator) -> Path:
    krs = [kr_yaml(f"kr-{i}-{m.replace('_', '-')}", m) for m in METRICS for i in range(PER_METRIC)]
    files = {
        "connections.yaml": connections_yaml(sim.url),
        "okrs.yaml": mapping([objective_yaml("obj", krs)]),
    }
    return write(tmp_path / "mappings", files)


def start_sync(mappings: Path, store_url: str, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")},
        "TEST_STATS_TOKEN": TOKEN,
        "OKRSYNC_LOG_FORMAT": "json",
        "OKRSYNC_LOCK_WAIT": "30",  # a killed holder's lock must come free, not time out
    }
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "okrsync", "sync", "--all",
             "--mappings", str(mappings), "--store", store_url],
            env=env, stdout=out, stderr=subprocess.STDOUT,
        )  # fmt: skip


def finish_sync(mappings: Path, store_url: str, log: Path) -> float:
    """One sync left alone: it must exit 0; returns how long it took."""
    started = time.monotonic()
    proc = start_sync(mappings, store_url, log)
    code = proc.wait(timeout=60)
    assert code == 0, log.read_text()[-3000:]
    return time.monotonic() - started


def test_kill_9_at_random_points_of_a_sync(store_url: str, mappings: Path, tmp_path: Path) -> None:
    backend = normalise_url(store_url).get_backend_name()
    rng = random.Random(f"{SEED}-{backend}")  # noqa: S311 - seeded delays, not secrets
    log = tmp_path / "sync.log"
    count = trials(20, 100) // 2  # per backend: half the trials each
    # The first trial kills a sync that is still creating the store; later ones
    # spread over a whole sync's duration, measured once beforehand.
    span = 0.0
    seen: dict[int, int] = {}
    killed_mid = committed_then_killed = 0
    for trial in range(count):
        if trial == 1:
            span = finish_sync(mappings, store_url, log) * 1.1
            seen = whole_runs(store_url)
        # Half the kills anywhere; half in the sync's last third, where it
        # measures and writes (the first part is mostly Python starting up).
        low = 0.0 if trial % 2 or not span else span * 0.65
        delay = rng.uniform(low, span or 1.5)
        proc = start_sync(mappings, store_url, log)
        time.sleep(delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            TALLY.fault("kill-9")
            killed_mid += 1
        proc.wait(timeout=30)
        TALLY.trial()
        now = whole_runs(store_url)
        missing = lost(seen, now)
        if missing:
            TALLY.loss(missing)
        assert missing == 0, f"trial {trial} (kill after {delay:.2f}s) lost {missing} values"
        assert all(n == KRS for n in now.values())  # --all: every run measured every KR
        committed_then_killed += len(now) - len(seen) if proc.returncode < 0 else 0
        seen = now
    print(f"{backend}: {count} trials, sync {span / 1.1:.2f}s, {killed_mid} killed mid-sync, "
          f"{committed_then_killed} of them after their commit")  # fmt: skip
    assert killed_mid >= count // 2, "most kills landed after the sync had ended"
    finish_sync(mappings, store_url, log)  # the next sync carries on
    after = whole_runs(store_url)
    assert lost(seen, after) == 0
    assert len(after) == len(seen) + 1
