"""Derived key results: an expression over ordinary sources, parsed by a grammar, never run as code.

Inputs are planned, deduplicated and batched like any source (a ratio whose
inputs other key results read too costs no extra request: counted at the
stats simulator); divide-by-zero and a failing input are errors naming the
input; hostile expressions are validation errors.
"""

from __future__ import annotations

import json
import sqlite3
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import StatsSimulator, metric_value
from okrsync.domain import expression
from okrsync.errors import ConfigError
from okrsync.store.database import Store
from okrsync.testing.runtime import FAST
from tests.support import NOW, TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, sync_now

TICKETS = "/api/v1/metrics/support_tickets_month?from={cycle.start}&to={cycle.end}"
STEPS = "/api/v1/metrics/checkout_steps?from={cycle.start}&to={cycle.end}"


def derived_kr(kr_id: str, text: str, inputs: dict[str, str], **extra: object) -> str:
    lines = [f"- id: {kr_id}", f"  title: KR {kr_id}", "  owner: o@example.com",
             "  start: 0", "  target: 100"]  # fmt: skip
    lines += [f"  {k}: {v}" for k, v in extra.items()]
    lines += ["  source:", f'    expression: "{text}"', "    inputs:"]
    lines += [f"      {name}: {source}" for name, source in inputs.items()]
    return "\n".join(lines) + "\n"


def http(path: str) -> str:
    return f'{{connection: stats, path: "{path}", value: $.data.value}}'


def load(tmp_path: Path, url: str, krs: list[str]) -> loader.Config:
    directory = tmp_path / "mappings"
    directory.mkdir(exist_ok=True)
    db = tmp_path / "w.db"
    sqlite3.connect(db).close()  # an empty warehouse: the inputs SELECT constants
    extra = f"  warehouse:\n    type: sql\n    url: sqlite:///{db}\n"
    (directory / "connections.yaml").write_text(connections_yaml(url) + extra)
    (directory / "okrs.yaml").write_text(mapping([objective_yaml("obj", krs)]))
    return loader.load(directory, Registry.default(), environ={"TEST_STATS_TOKEN": TOKEN})


@pytest.fixture
def sim() -> StatsSimulator:
    with StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as server:
        yield server  # type: ignore[misc]


def test_a_ratio_shares_its_inputs_queries_with_the_other_key_results(
    tmp_path: Path, sim: StatsSimulator
) -> None:
    krs = [
        kr_yaml("tickets", "support_tickets_month"),
        kr_yaml("steps", "checkout_steps", start=9, target=6),
        derived_kr(
            "per-step", "tickets / steps * 100", {"tickets": http(TICKETS), "steps": http(STEPS)}
        ),
    ]
    config = load(tmp_path, sim.url, krs)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        result = sync_now(config, st, now=NOW, runtime=FAST)
    assert result.exit_code == 0
    values = {r.kr_id: r.value for r in result.records}
    cycle_start, cycle_end = date(2026, 10, 1), date(2026, 12, 31)
    tickets = metric_value("support_tickets_month", cycle_start, cycle_end, date(2026, 11, 20))
    steps = metric_value("checkout_steps", cycle_start, cycle_end, date(2026, 11, 20))
    assert values["per-step"] == pytest.approx(tickets / steps * 100)  # computed here, not copied
    assert len(sim.requests) == 2  # three key results, two distinct queries, no extra request
    [derived] = [r for r in result.records if r.kr_id == "per-step"]
    assert derived.connection == "derived"
    assert derived.query is not None
    assert derived.query.startswith(
        "tickets / steps * 100 where tickets = GET /api/v1/metrics/support"
    )
    assert derived.raw == f"tickets = {tickets:g}; steps = {steps:g}"


def test_a_failing_input_is_an_error_naming_it(tmp_path: Path, sim: StatsSimulator) -> None:
    krs = [derived_kr("ratio", "tickets / steps", {"tickets": http(TICKETS), "steps": http(STEPS)})]
    config = load(tmp_path, sim.url, krs)
    sim.add_fault("/api/v1/metrics/checkout_steps", Fault.status(401), times=10)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        [record] = sync_now(config, st, now=NOW, runtime=FAST).records
    assert (record.status, record.error_kind) == ("error", "auth")
    assert (record.error or "").startswith("input 'steps' failed: ")


def test_dividing_by_zero_is_an_error_naming_the_divisor(
    tmp_path: Path, sim: StatsSimulator
) -> None:
    krs = [derived_kr("ratio", "paid / max(trials, 0)", {
        "paid": "{connection: warehouse, sql: SELECT 5}",
        "trials": "{connection: warehouse, sql: SELECT 0}",
    })]  # fmt: skip
    config = load(tmp_path, sim.url, krs)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        [record] = sync_now(config, st, now=NOW, runtime=FAST).records
    assert record.status == "error"
    assert record.error == "paid / max(trials, 0): dividing by zero: max(trials, 0) is 0"


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("__import__('os')", 'column 12: "\'" is not allowed here'),
        ("__import__(paid)", "column 1: __import__() is not a function here; only min() and max()"),
        ("paid.real", "'.' is not allowed here"),
        ("paid ** 99999999", "'**' is not allowed here (no exponents)"),
        ("paid ^ 2", "'^' is not allowed here (no exponents)"),
        ("paid / unknown", "expression reads 'unknown', which is not an input"),
        ("paid +", "the expression ends early"),
        ("(" * 40 + "paid" + ")" * 40, "nests deeper than"),
        ("paid " + "+ paid " * 200, "characters; at most 500"),
        ("max", "max needs its arguments"),
    ],
)
def test_a_hostile_or_broken_expression_is_a_validation_error(
    tmp_path: Path, sim: StatsSimulator, text: str, says: str
) -> None:
    inputs = {"paid": "{connection: warehouse, sql: SELECT 5}"}
    with pytest.raises(ConfigError) as caught:
        load(tmp_path, sim.url, [derived_kr("bad", text, inputs)])
    assert says in str(caught.value)


def test_an_unused_input_is_an_error(tmp_path: Path, sim: StatsSimulator) -> None:
    inputs = {
        "paid": "{connection: warehouse, sql: SELECT 5}",
        "extra": "{connection: warehouse, sql: SELECT 1}",
    }
    with pytest.raises(ConfigError, match="input 'extra' is not used by the expression"):
        load(tmp_path, sim.url, [derived_kr("bad", "paid * 2", inputs)])


@pytest.mark.parametrize(
    ("text", "values", "expected"),
    [
        ("a / b * 100", {"a": 3, "b": 4}, 75.0),
        ("-a + b", {"a": 1, "b": 5}, 4.0),
        ("min(a, b, 3) - max(a, 2)", {"a": 1, "b": 2}, -1.0),
        ("(a + b) * 2 / 4", {"a": 1, "b": 3}, 2.0),
        ("a - b - 1", {"a": 10, "b": 3}, 6.0),
        ("a / b / 2", {"a": 8, "b": 2}, 2.0),
    ],
)
def test_the_grammar_follows_arithmetic(
    text: str, values: dict[str, float], expected: float
) -> None:
    assert expression.evaluate(expression.parse(text), values) == expected


def test_explain_shows_each_inputs_provenance(tmp_path: Path, sim: StatsSimulator) -> None:
    krs = [derived_kr("ratio", "tickets / steps", {"tickets": http(TICKETS), "steps": http(STEPS)})]
    load(tmp_path, sim.url, krs)
    where = ["--mappings", str(tmp_path / "mappings"), "--store", f"sqlite:///{tmp_path / 's.db'}"]
    env = {"TEST_STATS_TOKEN": TOKEN, "COLUMNS": "200"}
    runner = CliRunner()
    assert runner.invoke(app, ["sync", *where], env=env).exit_code == 0
    out = runner.invoke(app, ["explain", "ratio", *where], env=env).stdout
    assert "source      derived: tickets / steps" in out
    assert "tickets   stats (http)" in out
    assert "where tickets = GET /api/v1/metrics/support_tickets_month" in out
    info = json.loads(runner.invoke(app, ["explain", "ratio", "--json", *where], env=env).stdout)
    assert set(info["derived"]["inputs"]) == {"tickets", "steps"}
    assert info["last_attempt"]["raw"].startswith("tickets = ")
