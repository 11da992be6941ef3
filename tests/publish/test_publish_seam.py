"""The publishing seam: a third-party publisher, found by entry point, gets every run's snapshot.

The publisher below is a real plugin written to disk and installed as a
distribution (as a user's package would be); okrsync is driven through the
CLI (`sync`, `run --once`) and the scheduler's cycle against the stats
simulator over real HTTP, into a real SQLite store.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.config import loader
from okrsync.config.registry import PublisherRegistry, Registry
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.errors import ConfigError
from okrsync.service.scheduler import Runner
from okrsync.store.database import Store
from okrsync.store.lock import writer_lock
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, sync_now, write

BOARD_TOKEN = "board-secret-7c1e2a9f44"  # a fake secret the failing board echoes back
PLUGIN = """
import json
from typing import Literal

from okrsync.errors import MeasureError
from okrsync.sdk.publisher import Published, PublisherSettings, PublisherType


class BoardSettings(PublisherSettings):
    type: Literal["board"]
    path: str
    token: str | None = None
    refuse: bool = False


class Board:
    def __init__(self, name, settings):
        self.name, self.settings = name, settings

    async def publish(self, snapshot):
        if self.settings.refuse:
            raise MeasureError(f"the board refused token {self.settings.token}")
        with open(self.settings.path, "a") as out:
            out.write(json.dumps({"outlet": self.name, **snapshot.to_json()}) + "\\n")
        return Published(self.name, sent=len(snapshot.changes))

    async def aclose(self):
        with open(self.settings.path + ".closed", "a") as out:
            out.write(self.name + "\\n")


PUBLISHER = PublisherType("board", "channels", BoardSettings, lambda n, s, r: Board(n, s))
"""


@pytest.fixture
def board_plugin(tmp_path: Path) -> Iterator[str]:
    site = tmp_path / "site"
    site.mkdir()
    (site / "okr_board.py").write_text(PLUGIN)
    dist = site / "okr_board-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: okr-board\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[okrsync.publishers]\nboard = okr_board:PUBLISHER\n")
    sys.path.insert(0, str(site))
    importlib.invalidate_caches()
    try:
        yield "board"
    finally:
        sys.path.remove(str(site))
        sys.modules.pop("okr_board", None)


@pytest.fixture
def sim() -> Iterator[StatsSimulator]:
    with StatsSimulator(token=TOKEN) as server:
        yield server  # type: ignore[misc]


def _mappings(tmp_path: Path, sim: StatsSimulator, outlets: str) -> Path:
    krs = [
        kr_yaml("tickets", "support_tickets_month"),
        kr_yaml("steps", "checkout_steps", start=9, target=6),
    ]
    return write(
        tmp_path / "mappings",
        {
            "connections.yaml": connections_yaml(sim.url) + outlets,
            "okrs.yaml": mapping([objective_yaml("obj", krs)]),
        },
    )


def _board(path: Path, name: str = "board", **extra: object) -> str:
    more = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    return f"  {name}:\n    type: board\n    path: {path}\n{more}"


def _received(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def test_sync_run_once_and_the_scheduler_each_publish_the_stored_run_once(
    tmp_path: Path, sim: StatsSimulator, board_plugin: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "board.jsonl"
    mappings = _mappings(tmp_path, sim, "channels:\n" + _board(out))
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    env = {"TEST_STATS_TOKEN": TOKEN, "OKRSYNC_LOG_FORMAT": "json", "OKRSYNC_STORE_URL": url,
           "OKRSYNC_MAPPINGS": str(mappings), "OKRSYNC_HEALTH_PORT": "0"}  # fmt: skip
    cli = CliRunner()
    done = cli.invoke(app, ["sync"], env=env)
    assert done.exit_code == 0, done.output
    done = cli.invoke(app, ["run", "--once"], env=env)
    assert done.exit_code == 0, done.output
    monkeypatch.setenv("TEST_STATS_TOKEN", TOKEN)  # the scheduler reads the process environment
    with Store.open(url) as store:
        runner = Runner(mappings, store, writer_lock(url))
        assert asyncio.run(runner.cycle()) == 0
        runner.lock.close()
        runs = store.runs()

    got = _received(out)
    assert [(g["run"]["id"], g["run"]["trigger"]) for g in got] == [
        (1, "sync"),
        (2, "once"),
        (3, "schedule"),
    ]
    assert sorted(r.id for r in runs) == [1, 2, 3]  # every run was stored before publishing
    first = got[0]
    [objective] = first["objectives"]
    assert [kr["id"] for kr in objective["key_results"]] == ["tickets", "steps"]
    assert all(kr["value"] is not None and kr["status"] for kr in objective["key_results"])
    # Changes since the previous run: on the first run every value is new.
    assert {c["id"]: c["value_before"] for c in first["changes"]} == {
        "tickets": None,
        "steps": None,
    }
    assert {c["id"]: c["value"] for c in first["changes"]} == {
        kr["id"]: kr["value"] for kr in objective["key_results"]
    }
    prov = first["provenance"]["tickets"]
    assert prov["connection"] == "stats"
    assert prov["run_id"] == 1
    assert prov["query"].startswith("GET /api/v1/metrics/support_tickets_month?from=2026-10-01")
    # Later runs see the values already stored: a change is listed only when something moved.
    for later in got[1:]:
        for change in later["changes"]:
            assert (change["value_before"], change["status_before"]) != (
                change["value"],
                change["status"],
            )
    assert (tmp_path / "board.jsonl.closed").read_text().split() == ["board"] * 3


def test_a_failing_outlet_fails_the_sync_but_loses_nothing_and_leaks_no_secret(
    tmp_path: Path, sim: StatsSimulator, board_plugin: str
) -> None:
    good, bad = tmp_path / "good.jsonl", tmp_path / "bad.jsonl"
    outlets = "channels:\n" + _board(bad, "refusing", token="${BOARD_TOKEN}", refuse="true")
    outlets += _board(good, "healthy")
    mappings = _mappings(tmp_path, sim, outlets)
    config = loader.load(
        mappings,
        Registry.default(),
        environ={"TEST_STATS_TOKEN": TOKEN, "BOARD_TOKEN": BOARD_TOKEN},
    )
    with Store.open(f"sqlite:///{tmp_path / 'okrsync.db'}") as store:
        result = sync_now(config, store)
        assert [r.status for r in result.records] == ["ok", "ok"]
        assert store.state("tickets") is not None
        assert store.state("tickets").value is not None  # type: ignore[union-attr]
    assert result.exit_code == 1
    [failed] = result.unpublished
    assert failed.name == "refusing"
    assert failed.error is not None
    assert "the board refused token ***" in failed.error
    assert BOARD_TOKEN not in failed.error
    assert [g["outlet"] for g in _received(good)] == ["healthy"]  # the other outlet still got it
    assert (tmp_path / "bad.jsonl.closed").exists()  # closed although it failed


def test_no_outlets_means_no_publish_stage(tmp_path: Path, sim: StatsSimulator) -> None:
    config = loader.load(
        _mappings(tmp_path, sim, ""), Registry.default(), environ={"TEST_STATS_TOKEN": TOKEN}
    )
    with Store.open(f"sqlite:///{tmp_path / 'okrsync.db'}") as store:
        result = sync_now(config, store)
    assert result.published == []
    assert result.exit_code == 0


@pytest.mark.parametrize(
    ("outlets", "line", "message"),
    [
        ("destinations:\n  okrs:\n    type: okr-trackr\n", 9,
         "unknown publisher type 'okr-trackr'; known types: "),
        ("destinations:\n  okrs:\n    type: board\n    path: x\n", 9,
         "'board' belongs under channels:"),
        ("channels:\n  okrs:\n    type: board\n    pth: x\n", 10,
         "unknown field 'pth'"),
        ("channels:\n  okrs:\n    path: x\n", 8, "missing required field 'type'"),
    ],
)  # fmt: skip
def test_outlet_problems_are_located(
    tmp_path: Path, sim: StatsSimulator, board_plugin: str, outlets: str, line: int, message: str
) -> None:
    mappings = _mappings(tmp_path, sim, outlets)
    with pytest.raises(ConfigError) as caught:
        loader.load(mappings, Registry.default(), environ={"TEST_STATS_TOKEN": TOKEN})
    [problem] = [p for p in caught.value.problems if message in p.message]
    assert (Path(problem.file).name, problem.line) == ("connections.yaml", line)


def test_a_channel_secret_not_set_is_a_located_warning_not_an_error(
    tmp_path: Path, sim: StatsSimulator, board_plugin: str
) -> None:
    outlets = "channels:\n  okrs:\n    type: board\n    path: x\n    token: ${NO_SUCH_VAR}\n"
    mappings = _mappings(tmp_path, sim, outlets)
    config, problems = loader.check(
        mappings, Registry.default(), environ={"TEST_STATS_TOKEN": TOKEN}
    )
    assert config is not None  # the measuring goes on; the channel waits for its secret
    assert "okrs" not in config.channels
    [problem] = [p for p in problems if "NO_SUCH_VAR" in p.message]
    assert (Path(problem.file).name, problem.line, problem.severity) == (
        "connections.yaml",
        11,
        "warning",
    )


def test_a_registration_that_is_not_a_publisher_is_refused() -> None:
    registry = PublisherRegistry({"http": "connectors.http:CONNECTOR"})
    with pytest.raises(TypeError, match=r"is not an okrsync\.sdk\.publisher\.PublisherType"):
        registry["http"]


def test_without_plugins_the_built_in_destinations_are_known() -> None:
    with pytest.raises(KeyError, match=r"unknown publisher type 'x'; known types: .*notion"):
        PublisherRegistry.default()["x"]
    assert {"notion", "sheets"} <= set(PublisherRegistry.default())
    assert all(
        PublisherRegistry.default()[t].section == "destinations" for t in ("notion", "sheets")
    )
