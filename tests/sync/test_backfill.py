"""``okrsync backfill``: the past measured from sources that can answer as of a date, once.

The answering source is a real SQLite warehouse through the sql connector
(its SUM depends on :as_of); the stats API's query has no as-of, so it is
listed and never faked. A second backfill stores nothing.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping

DEALS = [
    (datetime(2026, 10, 1, 6, tzinfo=UTC) + timedelta(days=d), 10.0 * (d % 3)) for d in range(60)
]


def expected(as_of: datetime) -> float:
    return float(sum(a for t, a in DEALS if t <= as_of))


@pytest.fixture
def where(tmp_path: Path) -> Iterator[list[str]]:
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE deals (closed_at TEXT, amount REAL)")
        conn.executemany(
            "INSERT INTO deals VALUES (?, ?)",
            [(t.strftime("%Y-%m-%d %H:%M:%S.%f"), a) for t, a in DEALS],
        )
    closed = (
        "      - id: closed\n        title: Closed-won\n        owner: o@example.com\n"
        "        start: 0\n        target: 1000\n        source:\n          connection: warehouse\n"
        "          sql: SELECT COALESCE(SUM(amount), 0) FROM deals WHERE closed_at <= {as_of}\n"
    )
    tickets = "".join(
        "      " + line + "\n" for line in kr_yaml("tickets", "support_tickets_month").splitlines()
    )
    okrs = f"  - id: sales\n    title: Sales\n    owner: o@example.com\n    key_results:\n{closed}{tickets}"
    directory = tmp_path / "mappings"
    directory.mkdir()
    with StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as sim:
        extra = f"  warehouse:\n    type: sql\n    url: sqlite:///{db}\n"
        (directory / "connections.yaml").write_text(connections_yaml(sim.url) + extra)
        (directory / "okrs.yaml").write_text(mapping([okrs]))
        yield ["--mappings", str(directory), "--store", f"sqlite:///{tmp_path / 's.db'}"]


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env={"TEST_STATS_TOKEN": TOKEN, "COLUMNS": "200"})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def test_backfill_fills_the_past_once_and_lists_what_cannot_answer(where: list[str]) -> None:
    assert run("sync", *where)[0] == 0  # today's values first
    store = where[3]
    with Store.open(store) as st:
        today = st.state("closed")
    window = ["--since", "2026-10-01", "--until", "2026-10-10"]

    code, out, err = run("backfill", *window, "--dry-run", *where)
    assert code == 0
    assert (
        "Backfill 2026-10-01 to 2026-10-10 every 1d: 10 step(s), 10 queries (warehouse 10)" in out
    )
    assert "tickets: not backfilled: its http query does not depend on the as-of date" in err
    with Store.open(store) as st:
        assert st.described_at(["closed"], datetime(2026, 9, 1, tzinfo=UTC)) == set()  # dry

    code, out, err = run("backfill", *window, *where)
    assert code == 0, err
    assert "stored 10 point(s), 0 failed" in out
    with Store.open(store) as st:
        points = [m for m in st.history("closed") if m.backfilled]
        assert [m.measured_at for m in points] == [
            datetime(2026, 10, d, tzinfo=UTC) for d in range(1, 11)
        ]
        assert [m.value for m in points] == [expected(m.measured_at) for m in points]
        assert len({m.value for m in points}) > 3  # the as-of really changed the answers
        assert st.state("closed") == today  # today's value and status are untouched
        assert all(not m.backfilled for m in st.history("tickets"))

    code, out, _ = run("backfill", *window, *where)
    assert "0 step(s), 0 queries (none); 10 point(s) already stored" in out
    with Store.open(store) as st:
        assert len([m for m in st.history("closed") if m.backfilled]) == 10

    history = json.loads(run("history", "closed", "--json", *where)[1])["history"]
    assert sum(1 for p in history if p["backfilled"]) == 10


def test_weekly_steps_and_one_key_result(where: list[str]) -> None:
    code, out, _ = run("backfill", "--since", "2026-10-01", "--until", "2026-10-29", "--step", "1w",
                       "--kr", "closed", *where)  # fmt: skip
    assert code == 0
    assert "every 1w: 5 step(s), 5 queries" in out
    code, _, err = run("backfill", "--since", "2026-10-01", "--step", "2d", *where)
    assert code == 2
    assert "use 1d or 1w" in err


def test_a_graded_cycle_is_never_backfilled(where: list[str]) -> None:
    from okrsync.config import loader
    from okrsync.config.registry import Registry
    from okrsync.sync import backfill

    config = loader.load(Path(where[1]), Registry.default(), environ={"TEST_STATS_TOKEN": TOKEN})
    since = datetime(2026, 10, 1, tzinfo=UTC)
    now = datetime(2026, 12, 7, tzinfo=UTC)
    plan = backfill.make(config, since, now, timedelta(days=1), now=now, frozen={"2026-Q4"})
    assert plan.steps == []
    assert plan.cannot["closed"] == "cycle 2026-Q4 is graded: its values are frozen"
    open_plan = backfill.make(config, since, now, timedelta(days=1), now=now)
    assert (
        len(open_plan.steps) == 31 + 30 + 7
    )  # 1 Oct to 7 Dec, both in: only the frozen set differs


def test_a_failed_step_is_tried_again_by_the_next_backfill(
    where: list[str], tmp_path: Path
) -> None:
    db = tmp_path / "warehouse.db"
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE deals RENAME TO deals_away")  # the query fails: no such table
    window = ["--since", "2026-10-01", "--until", "2026-10-03", "--kr", "closed"]
    code, out, _ = run("backfill", *window, *where)
    assert code == 1
    assert "stored 0 point(s), 3 failed" in out
    with sqlite3.connect(db) as conn:
        conn.execute("ALTER TABLE deals_away RENAME TO deals")
    code, out, _ = run("backfill", *window, *where)
    assert code == 0
    assert "3 step(s), 3 queries (warehouse 3); 0 point(s) already stored" in out
    assert "stored 3 point(s), 0 failed" in out


def test_a_backfill_spends_the_quota_and_leaves_the_rest_for_the_next(
    where: list[str], tmp_path: Path
) -> None:
    """Ten days of points against a budget of 4 an hour: 4 now, the others wait, not fail."""
    connections = Path(where[1]) / "connections.yaml"
    connections.write_text(connections.read_text() + "    quota: {per_hour: 4}\n")
    window = ["--since", "2026-10-01", "--until", "2026-10-10", "--kr", "closed"]
    code, out, err = run("backfill", *window, *where)
    assert code == 0, err
    assert "stored 4 point(s), 0 failed" in out
    assert "1 key result(s) have points waiting for quota" in err
    assert "4 requests an hour (quota.per_hour)" in err
    code, out, err = run("backfill", *window, *where)  # the same hour: nothing more to spend
    assert code == 0
    assert "4 point(s) already stored" in out
    assert "stored 0 point(s), 0 failed" in out
    with Store.open(where[3]) as store:
        points = store.history("closed", limit=100)
    assert len(points) == 4
