"""Read-only commands reuse the checked mapping files; an edit is seen at once; `off` turns it off."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.config import loader
from okrsync.store.database import Store
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, write


@pytest.fixture
def world(tmp_path: Path) -> tuple[Path, str]:
    krs = [kr_yaml("tickets", "support_tickets_month"), kr_yaml("steps", "steps", start=9)]
    files = {
        "connections.yaml": connections_yaml("http://127.0.0.1:9"),
        "okrs.yaml": mapping([objective_yaml("obj", krs)]),
    }
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    Store.open(url).close()  # an empty store: status reads it read-only
    return write(tmp_path / "mappings", files), url


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    seen: list[Path] = []
    real = loader._parse

    def counted(path: Path, *args: Any) -> Any:
        if path.name != "connections.yaml":
            seen.append(path)
        return real(path, *args)

    monkeypatch.setattr(loader, "_parse", counted)
    return seen


def invoke(*args: str, cache: str) -> tuple[int, str]:
    env = {"TEST_STATS_TOKEN": TOKEN, "OKRSYNC_LOG_FORMAT": "json", "OKRSYNC_CACHE_DIR": cache}
    result = CliRunner().invoke(app, list(args), env=env)
    return result.exit_code, result.stdout


def test_status_parses_the_mappings_only_when_they_change(
    world: tuple[Path, str], tmp_path: Path, parses: list[Path]
) -> None:
    mappings, url = world
    cache = str(tmp_path / "cache")
    status = ("status", "--json", "--mappings", str(mappings), "--store", url)
    code, first = invoke(*status, cache=cache)
    assert code == 0, first
    assert len(parses) == 1
    code, again = invoke(*status, cache=cache)
    assert (code, len(parses)) == (0, 1)  # the cache's
    assert json.loads(again)["objectives"] == json.loads(first)["objectives"]
    (mappings / "okrs.yaml").write_text(
        mapping([objective_yaml("obj", [kr_yaml("tickets", "support_tickets_month")])])
    )
    code, edited = invoke(*status, cache=cache)
    assert (code, len(parses)) == (0, 2)
    krs = [kr["id"] for kr in json.loads(edited)["objectives"][0]["key_results"]]
    assert krs == ["tickets"]


def test_off_and_the_commands_that_measure_never_use_it(
    world: tuple[Path, str], tmp_path: Path, parses: list[Path]
) -> None:
    mappings, url = world
    status = ("status", "--json", "--mappings", str(mappings), "--store", url)
    for _ in range(2):
        assert invoke(*status, cache="off")[0] == 0
    assert len(parses) == 2
    assert not (tmp_path / "off").exists()
    cache = str(tmp_path / "cache")
    assert invoke(*status, cache=cache)[0] == 0  # an entry exists now …
    parses.clear()
    assert invoke("validate", str(mappings), cache=cache)[0] == 0
    assert invoke("plan", "--mappings", str(mappings), "--store", url, cache=cache)[0] == 1
    assert len(parses) == 2  # … and validate and plan check every file anyway
