"""Values people record: held values reviewed (`hold list/accept/reject`), manual check-ins."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, write

ENV = {"TEST_STATS_TOKEN": TOKEN, "OKRSYNC_LOG_FORMAT": "json", "OKRSYNC_USER": "ana"}
NPS = """- id: nps
  title: Raise NPS from 20 to 40
  owner: o@example.com
  start: 20
  target: 40
  max: 100
  source: {manual: true}
"""
BOARD = """- id: board
  title: Board approves the 2027 plan
  owner: o@example.com
  type: milestone
  source: {manual: true}
"""


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def sim() -> Iterator[StatsSimulator]:
    with StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def where(tmp_path: Path, sim: StatsSimulator) -> list[str]:
    """--mappings and --store of an objective with one held, one measured, two manual KRs."""
    krs = [
        kr_yaml("tickets", "support_tickets_month", max=50),  # ~86 today: held
        kr_yaml("steps", "checkout_steps", start=9, target=6),
        NPS,
        BOARD,
    ]
    files = {
        "connections.yaml": connections_yaml(sim.url),
        "okrs.yaml": mapping([objective_yaml("obj", krs)]),
    }
    directory = write(tmp_path / "mappings", files)
    return ["--mappings", str(directory), "--store", f"sqlite:///{tmp_path / 's.db'}"]


def state(where: list[str], kr: str) -> object:
    with Store.open(where[3]) as st:
        return st.state(kr)


def test_a_held_value_is_listed_with_its_reason_and_accepted_with_who_and_why(
    where: list[str],
) -> None:
    assert run("sync", *where)[0] == 0
    code, out, _ = run("hold", "list", *where)
    assert code == 0
    assert "tickets: held 86 at " in out
    assert "good value —; held for review: 86 is above max 50" in out
    rows = json.loads(run("hold", "list", "--json", *where)[1])["held"]
    assert [(r["key_result"], r["held_value"], r["value"]) for r in rows] == [("tickets", 86, None)]
    _, status, _ = run("status", *where)
    assert "↳ tickets: held 86: 86 is above max 50" in status

    code, out, err = run("hold", "accept", "tickets", "--why", "the backlog is real", *where)
    assert code == 0, err
    assert "tickets = 86 (held value accepted by ana: the backlog is real)" in out
    kr = state(where, "tickets")
    assert (kr.value, kr.held_value, kr.last_status) == (86, None, "ok")  # type: ignore[attr-defined]
    history = json.loads(run("history", "tickets", "--json", *where)[1])["history"]
    assert [h["status"] for h in history] == ["held", "ok"]
    with Store.open(where[3]) as st:
        last = st.runs(limit=1)[0]
    assert (last.trigger, last.summary["by"], last.summary["why"]) == (
        "hold accept", "ana", "the backlog is real",
    )  # fmt: skip
    assert last.summary["reason"] == "held for review: 86 is above max 50"

    code, _, err = run("hold", "accept", "tickets", *where)  # nothing left to accept
    assert code == 1
    assert "tickets holds no value for review" in err
    assert run("hold", "list", *where)[1].strip() == "nothing held for review"


def test_a_rejected_held_value_is_dropped_and_the_good_value_stays(where: list[str]) -> None:
    run("sync", *where)
    code, out, _ = run("hold", "reject", "tickets", "--by", "bo", "-m", "import bug", *where)
    assert code == 0
    assert out.strip() == "tickets: dropped held 86; the good value stays —"
    kr = state(where, "tickets")
    assert (kr.value, kr.held_value, kr.held_reason) == (None, None, None)  # type: ignore[attr-defined]
    with Store.open(where[3]) as st:
        last = st.runs(limit=1)[0]
    assert (last.trigger, last.summary["by"], last.summary["value"]) == ("hold reject", "bo", 86)
    assert run("hold", "reject", "nope", *where)[0] == 1  # unknown key result


def test_manual_key_results_are_never_queried_and_take_check_ins(where: list[str]) -> None:
    code, out, _ = run("validate", where[1])
    assert code == 0
    assert "no source" not in out
    _, plan, _ = run("plan", *where)
    assert "2 key result(s) due" in plan
    assert "2 not measured now: manual: recorded with okrsync checkin" in plan

    code, out, err = run("checkin", "nps", "32", "-m", "Q4 survey, n=412", *where)
    assert code == 0, err
    assert "nps = 32 (checked in by ana: Q4 survey, n=412)" in out
    assert run("checkin", "board", "yes", *where)[0] == 0
    said = run("explain", "nps", *where)[1]
    assert "source      manual: values are checked in (okrsync checkin nps VALUE)" in said
    assert "query" not in said
    info = json.loads(run("explain", "nps", "--json", *where)[1])
    assert info["value"] == 32
    assert info["last_attempt"]["raw"] == "checked in by ana: Q4 survey, n=412"
    status = json.loads(run("status", "--json", *where)[1])
    krs = {kr["id"]: kr for obj in status["objectives"] for kr in obj["key_results"]}
    assert (krs["nps"]["progress"], krs["board"]["status"]) == (0.6, "done")

    sync_code, _, _ = run("sync", *where)  # a sync leaves check-ins alone
    assert sync_code == 0
    assert state(where, "nps").value == 32  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("kr", "value", "message"),
    [
        ("nps", "lots", "'lots' is not a number"),
        ("nps", "140", "140 is above max 100: check the value"),
        ("board", "maybe", "board is a milestone: check in yes or no"),
        ("steps", "7", "steps is measured from connection 'stats'; checkin is for key results"),
    ],
)
def test_a_check_in_that_cannot_be_right_is_refused(
    where: list[str], kr: str, value: str, message: str
) -> None:
    code, _, err = run("checkin", kr, value, *where)
    assert code == 1
    assert message in err
    assert state(where, kr) is None
