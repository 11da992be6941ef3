"""``okrsync history KR``: a sparkline of the good values, and --csv / --json exports."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.cli.console import SPARKS, sparkline
from okrsync.domain.records import MeasurementRecord, RunRecord
from okrsync.store.database import Store
from tests.support import mapping

T0 = datetime(2026, 11, 1, 12, tzinfo=UTC)
VALUES = [10.0, 30.0, 20.0, 50.0]


@pytest.mark.parametrize(
    ("values", "line"),
    [
        ([1, 2, 3, 4, 5, 6, 7, 8], "▁▂▃▄▅▆▇█"),
        ([0, 10], "▁█"),
        ([5, 5, 5], "▄▄▄"),
        ([0, 5, 10], "▁▅█"),
        ([], ""),
    ],
)
def test_sparkline_maps_the_lowest_to_the_first_and_the_highest_to_the_last(
    values: list[float], line: str
) -> None:
    assert sparkline(values) == line
    assert len(SPARKS) == 8


@pytest.fixture
def where(tmp_path: Path) -> list[str]:
    directory = tmp_path / "mappings"
    directory.mkdir()
    (directory / "connections.yaml").write_text("version: 1\nconnections: {}\n")
    okrs = (
        "  - id: o\n    title: O\n    owner: a@example.com\n    key_results:\n"
        "      - id: nps\n        title: NPS\n        owner: a@example.com\n"
        "        start: 0\n        target: 100\n        source: {manual: true}\n"
    )
    (directory / "okrs.yaml").write_text(mapping([okrs]))
    url = f"sqlite:///{tmp_path / 's.db'}"
    with Store.open(url) as st:
        for n, value in enumerate(VALUES):
            at = T0 + timedelta(days=7 * n)
            record = MeasurementRecord("nps", at, "ok", value, as_of=at - timedelta(days=1),
                                       backfilled=n == 0)  # fmt: skip
            st.record_run(RunRecord(at, at, "ok", "checkin"), [record])
        at = T0 + timedelta(days=30)
        st.record_run(RunRecord(at, at, "partial", "sync"),
                      [MeasurementRecord("nps", at, "error", error="boom")])  # fmt: skip
    return ["--mappings", str(directory), "--store", url]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "160"})
    return result.exit_code, result.stdout, result.stderr


def test_the_table_has_a_sparkline_of_the_good_values(where: list[str]) -> None:
    code, out, _ = run("history", "nps", *where)
    assert code == 0
    assert f"{sparkline(VALUES)}  4 good values, 10 to 50" in out
    # By hand: 10, 30, 20, 50 over 10..50 are 0, 3.5, 1.75, 7 of 7 steps: ▁ ▅ ▃ █.
    assert sparkline(VALUES) == "▁▅▃█"
    assert "backfilled" in out
    assert "boom" in out


def test_csv_and_json_carry_the_same_points(where: list[str]) -> None:
    code, out, _ = run("history", "nps", "--csv", *where)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["value"] for r in rows] == ["10.0", "30.0", "20.0", "50.0", ""]
    assert [r["backfilled"] for r in rows] == ["True", "False", "False", "False", "False"]
    code, out, _ = run("history", "nps", "--json", *where)
    points = json.loads(out)["history"]
    assert [p["as_of"] for p in points] == [r["as_of"] for r in rows]
    assert points[0]["as_of"] == (T0 - timedelta(days=1)).isoformat()
    assert points[0]["measured_at"] == T0.isoformat()
    code, _, err = run("history", "nps", "--csv", "--json", *where)
    assert code == 2
    assert "choose one of --json and --csv" in err
