"""`okrsync run --once` reads the mappings once: the fail-fast check is the run's configuration."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.service.scheduler import Runner
from okrsync.store.database import Store
from okrsync.store.lock import writer_lock
from tests.support import FAST, TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, write

ENV = {"TEST_STATS_TOKEN": TOKEN, "OKRSYNC_LOG_FORMAT": "json"}


@pytest.fixture
def mappings(tmp_path: Path) -> Iterator[Path]:
    with StatsSimulator(token=TOKEN) as sim:
        krs = [
            kr_yaml("tickets", "support_tickets_month"),
            kr_yaml("steps", "checkout_steps", start=9, target=6),
        ]
        files = {
            "connections.yaml": connections_yaml(sim.url),
            "okrs.yaml": mapping([objective_yaml("obj", krs)]),
        }
        yield write(tmp_path / "mappings", files)


def _counting(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every directory loader.load parses from now on."""
    calls: list[Path] = []
    real = loader.load

    def counted(directory: Path, *args: Any, **kwargs: Any) -> loader.Config:
        calls.append(directory)
        return real(directory, *args, **kwargs)

    monkeypatch.setattr(loader, "load", counted)
    return calls


def test_run_once_parses_the_mappings_once(
    tmp_path: Path, mappings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _counting(monkeypatch)
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    args = ["run", "--once", "--health-port", "0", "--mappings", str(mappings), "--store", url]
    result = CliRunner().invoke(app, args, env=ENV)
    assert result.exit_code == 0, (result.stdout, result.stderr, result.exception)
    assert calls == [mappings]  # was two: the fail-fast check, then the cycle's own load
    with Store.open(url) as st:
        assert set(st.states()) == {"tickets", "steps"}
        assert [r.trigger for r in st.runs()] == ["once"]


def test_a_preloaded_configuration_serves_the_first_cycle_only(
    tmp_path: Path, mappings: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = loader.load(mappings, Registry.default(), environ={"TEST_STATS_TOKEN": TOKEN})
    calls = _counting(monkeypatch)
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    monkeypatch.setenv("TEST_STATS_TOKEN", TOKEN)
    with Store.open(url) as st:
        lock = writer_lock(url)
        try:
            runner = Runner(mappings, st, lock, runtime=FAST, loaded=first)
            assert asyncio.run(runner.cycle()) == 0
            assert calls == []
            assert runner.config is first
            # An edit after the first cycle is read by the next one: the preloaded one is spent.
            (mappings / "okrs.yaml").write_text(
                mapping([objective_yaml("obj", [kr_yaml("tickets", "support_tickets_month")])])
            )
            assert asyncio.run(runner.cycle()) == 0
            assert calls == [mappings]
            assert runner.config is not None
            assert set(runner.config.krs) == {"tickets"}
        finally:
            lock.close()
