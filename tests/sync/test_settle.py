"""``settle: DURATION``: the source is measured as of ``now - settle``, and that as-of is shown.

The source is a real SQLite warehouse whose answer depends on the as-of
(deals closed up to that instant), read through the sql connector.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pydantic
import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.domain.model import KeyResult
from okrsync.publish import push as push_stage
from okrsync.store.database import Store
from okrsync.testing.runtime import FAST
from tests.support import NOW, mapping, sync_now

DEALS = [  # closed_at, amount: one a day at 06:00 from 1 Nov, 10 each
    ((datetime(2026, 11, 1, 6, tzinfo=UTC) + timedelta(days=d)), 10) for d in range(20)
]


def write_world(tmp_path: Path, settle: str | None) -> loader.Config:
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE IF NOT EXISTS deals (closed_at TEXT, amount REAL)")
        conn.execute("DELETE FROM deals")
        # SQLite keeps datetimes as text; this is the form SQLAlchemy binds :as_of in.
        rows = [(t.strftime("%Y-%m-%d %H:%M:%S.%f"), a) for t, a in DEALS]
        conn.executemany("INSERT INTO deals VALUES (?, ?)", rows)
    extra = f"\n        settle: {settle}" if settle else ""
    okrs = (
        "  - id: sales\n    title: Sales\n    owner: o@example.com\n    key_results:\n"
        "      - id: closed\n        title: Closed-won\n        owner: o@example.com\n"
        f"        start: 0\n        target: 500{extra}\n"
        "        source:\n          connection: warehouse\n"
        "          sql: SELECT SUM(amount) FROM deals WHERE closed_at <= {as_of}\n"
    )
    directory = tmp_path / "mappings"
    directory.mkdir(exist_ok=True)
    (directory / "connections.yaml").write_text(
        f"connections:\n  warehouse:\n    type: sql\n    url: sqlite:///{db}\n"
    )
    (directory / "okrs.yaml").write_text(mapping([okrs]))
    return loader.load(directory, Registry.default(), environ={})


def expected(as_of: datetime) -> float:
    return float(sum(a for t, a in DEALS if t <= as_of))


def test_a_settled_key_result_is_measured_as_of_now_minus_settle(tmp_path: Path) -> None:
    config = write_world(tmp_path, "2d")
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        [record] = sync_now(config, st, now=NOW, runtime=FAST).records
        settled = NOW - timedelta(days=2)
        assert record.value == expected(settled)
        assert record.value != expected(NOW)  # the as-of really changes the answer
        assert (record.measured_at, record.as_of) == (NOW, settled)
        state = st.state("closed")
        assert state is not None
        assert state.as_of == settled
        [point] = st.history("closed")
        assert point.as_of == settled
        item = push_stage.push_item(config.krs["closed"], state, "X-1")
        assert item.measured_at == settled  # a dated tool files it under the day it describes
        assert "(as of 2026-11-13 12:00 UTC)" in item.comment


def test_without_settle_the_value_is_as_of_now(tmp_path: Path) -> None:
    config = write_world(tmp_path, None)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        [record] = sync_now(config, st, now=NOW, runtime=FAST).records
    assert record.value == expected(NOW)
    assert record.as_of is None


def test_status_explain_and_history_show_the_as_of(tmp_path: Path) -> None:
    write_world(tmp_path, "1d")
    where = ["--mappings", str(tmp_path / "mappings"), "--store", f"sqlite:///{tmp_path / 's.db'}"]
    runner = CliRunner()
    assert runner.invoke(app, ["sync", *where]).exit_code == 0
    status = json.loads(runner.invoke(app, ["status", "--json", *where]).stdout)
    [kr] = status["objectives"][0]["key_results"]
    measured, as_of = (datetime.fromisoformat(kr[k]) for k in ("measured_at", "as_of"))
    assert measured - as_of == timedelta(days=1)
    table = runner.invoke(app, ["status", *where], env={"COLUMNS": "200"}).stdout
    assert "as of 1d before" in table
    explained = runner.invoke(app, ["explain", "closed", *where]).stdout
    assert "as of" in explained
    assert "settle 1d" in explained
    history = json.loads(runner.invoke(app, ["history", "closed", "--json", *where]).stdout)
    [point] = history["history"]
    assert point["as_of"] == kr["as_of"]
    assert point["backfilled"] is False


@pytest.mark.parametrize("bad", ["0s", "-1d"])
def test_settle_must_be_positive(bad: str) -> None:
    with pytest.raises(
        pydantic.ValidationError, match=r"duration must be positive|invalid duration"
    ):
        KeyResult.model_validate(
            {
                "id": "k",
                "title": "K",
                "owner": "o@example.com",
                "start": 0,
                "target": 1,
                "settle": bad,
            }
        )
