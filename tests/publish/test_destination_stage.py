"""The push stage through every built-in destination, against that vendor's simulator.

tests/publish/destinations/ drive each destination alone; here each one runs
inside real syncs (stats simulator → SQLite store → push stage → the tool's
simulator over HTTP) and the assertions are on what the tool's simulator
received: once per change, never a held, failing or stale value, a 429
waited out, a 5xx storm retried by the next sync, an auth error shown by
``okrsync status`` in the vendor's words, and an echoed secret kept nowhere.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators._ga4_oauth import new_key
from okrsync.demo.simulators.destinations import (
    asana,
    notion,
    okr_tracker,
    quantive,
    sheets,
    tability,
    webhook,
)
from okrsync.demo.simulators.server import FakeServer, Fault
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.sdk.connector import Runtime
from okrsync.store.database import Store
from okrsync.testing.runtime import FAST, Sleeps
from tests.support import NOW, TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, sync_now

SECRET = "DEST_SECRET"  # the environment variable the destination's secret comes from


@dataclass(frozen=True)
class Case:
    """One destination type: how to start its simulator, configure it and read what it got."""

    type: str
    start: Callable[[], FakeServer]  # a simulator that knows both items
    items: tuple[str, str]  # what the key results `tickets` and `steps` push to
    settings: Callable[[Any], dict[str, str]]  # the non-secret settings, as YAML scalars
    secret_key: str
    good: Callable[[Any], str]
    wrong: Callable[[Any], str]
    words: str  # the vendor's own words for the wrong secret
    path: str  # a regex of every push request's path
    got: Callable[[Any], list[tuple[str, float]]]  # (item, value) in arrival order
    sent: Callable[[Any], str]  # the credential as it travels, for a server to echo


def _okr_tracker() -> FakeServer:
    return okr_tracker.OkrTrackerSimulator(
        key_results={
            "krTickets0000000001": okr_tracker.Item(okr_tracker.DEMO_PARENT, "Tickets"),
            "krSteps000000000002": okr_tracker.Item(okr_tracker.DEMO_PARENT, "Steps"),
        }
    )


def _asana() -> FakeServer:
    sim = asana.AsanaSimulator()
    sim.add_goal("1204567890120001", "Tickets")
    sim.add_goal("1204567890120002", "Steps")
    return sim


def _notion() -> FakeServer:
    sim = notion.NotionSimulator()
    sim.add_page("11111111-2222-4333-8444-555555555501")
    sim.add_page("11111111-2222-4333-8444-555555555502")
    return sim


def _quantive() -> FakeServer:
    sim = quantive.QuantiveSimulator()
    sim.add_metric("5e8c27e3dcdddaa4addbe001")
    sim.add_metric("5e8c27e3dcdddaa4addbe002")
    return sim


def _tability() -> FakeServer:
    sim = tability.TabilitySimulator()
    sim.add_outcome("TicketsOutcome01")
    sim.add_outcome("StepsOutcome0002")
    return sim


CASES = [
    Case(
        "okr-tracker",
        _okr_tracker,
        ("krTickets0000000001", "krSteps000000000002"),
        lambda s: {
            "url": s.url,
            "client_id": okr_tracker.DEMO_CLIENT_ID,
            "api_key": "${OKR_API_KEY}",
        },
        "client_secret",
        lambda s: okr_tracker.DEMO_CLIENT_SECRET,
        lambda s: "okr-client-wrong-secret-9999999999",
        "Invalid client secret provided for API client `okrsync`.",
        r"/keyres/[^/]+/values/.*",
        lambda s: [(r.id, r.value) for r in s.received],
        lambda s: okr_tracker.DEMO_CLIENT_SECRET,
    ),
    Case(
        "asana",
        _asana,
        ("1204567890120001", "1204567890120002"),
        lambda s: {"url": f"{s.url}/api/1.0"},
        "token",
        lambda s: asana.DEMO_TOKEN,
        lambda s: "2/1200000000000001/1209999999999999:wrongwrongwrong000000000",
        "Not Authorized",
        r"/api/1\.0/goals/[0-9]+/setMetricCurrentValue",
        lambda s: [(r.goal_gid, r.current_number_value) for r in s.received],
        lambda s: asana.DEMO_TOKEN,
    ),
    Case(
        "notion",
        _notion,
        ("11111111-2222-4333-8444-555555555501", "11111111-2222-4333-8444-555555555502"),
        lambda s: {"url": s.url},
        "token",
        lambda s: notion.DEMO_TOKEN,
        lambda s: "ntn_wrongwrongwrong0000000000000000000000000000000",
        "API token is invalid.",
        r"/v1/pages/[^/]+",
        lambda s: [(r.page_id, r.properties["Current"]["number"]) for r in s.received],
        lambda s: notion.DEMO_TOKEN,
    ),
    Case(
        "quantive",
        _quantive,
        ("5e8c27e3dcdddaa4addbe001", "5e8c27e3dcdddaa4addbe002"),
        lambda s: {"url": f"{s.url}/results/api/v1", "account_id": quantive.DEMO_ACCOUNT_ID},
        "token",
        lambda s: quantive.DEMO_TOKEN,
        lambda s: "qtv-wrong-wrong-000000000000000000000000000000",
        "invalid or expired token",
        r"/results/api/v1/metrics/[^/]+/checkin",
        lambda s: [(r.metric_id, r.actual) for r in s.received],
        lambda s: quantive.DEMO_TOKEN,
    ),
    Case(
        "sheets",
        sheets.SheetsSimulator,
        ("KRs!C7", "KRs!C8"),
        lambda s: {"url": s.url, "spreadsheet_id": sheets.DEMO_SPREADSHEET_ID},
        "credentials",
        lambda s: json.dumps(s.service_account_info()),
        lambda s: json.dumps(s.service_account_info(private_pem=new_key()[0])),
        "Invalid JWT Signature.",
        r"/v4/spreadsheets/[^/]+/values/[^/]+",
        lambda s: [(r.range, r.values[0][0]) for r in s.received],
        lambda s: s.issued[-1],  # the access token the key was exchanged for
    ),
    Case(
        "tability",
        _tability,
        ("TicketsOutcome01", "StepsOutcome0002"),
        lambda s: {"url": s.url},
        "personal_api_token",
        lambda s: tability.DEMO_TOKEN,
        lambda s: "tbl-wrong-wrong-personal-000000000000000000",
        "Invalid personal API token",
        r"/webhooks/checkins",
        lambda s: [(r.outcome_token, float(r.score)) for r in s.received],
        lambda s: tability.DEMO_TOKEN,
    ),
    Case(
        "webhook",
        webhook.WebhookReceiver,
        ("tickets-board", "steps-board"),
        lambda s: {"url": s.endpoint},
        "secret",
        lambda s: webhook.DEMO_SECRET,
        lambda s: "whsec_" + "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc=",
        "No matching signature found",
        webhook.PATH,
        lambda s: [
            (d.payload["data"]["item"], d.payload["data"]["value"])
            for d in s.received
            if not d.duplicate
        ],
        lambda s: webhook.DEMO_SECRET,
    ),
]


@dataclass
class World:
    case: Case
    stats: StatsSimulator
    tool: Any
    directory: Path
    store: Store
    store_url: str

    def environ(self, secret: str | None = None) -> dict[str, str]:
        given = self.case.good(self.tool) if secret is None else secret
        return {"TEST_STATS_TOKEN": TOKEN, "OKR_API_KEY": okr_tracker.DEMO_API_KEY, SECRET: given}

    def config(self, secret: str | None = None, **kr: Any) -> loader.Config:
        self.write(**kr)
        return loader.load(self.directory, Registry.default(), environ=self.environ(secret))

    def write(self, **kr: Any) -> None:
        case = self.case
        first, second = case.items
        krs = [
            kr_yaml("tickets", "support_tickets_month", push=f'{{tool: "{first}"}}', **kr),
            kr_yaml("steps", "checkout_steps", start=9, target=6, push=f'{{tool: "{second}"}}'),
        ]
        lines = [f"    type: {case.type}", "    rate_limit: 100"]
        lines += [f"    {k}: {v}" for k, v in case.settings(self.tool).items()]
        lines += [f"    {case.secret_key}: ${{{SECRET}}}", "    retry: {attempts: 3}"]
        destinations = "destinations:\n  tool:\n" + "\n".join(lines) + "\n"
        (self.directory / "connections.yaml").write_text(
            connections_yaml(self.stats.url) + destinations
        )
        (self.directory / "okrs.yaml").write_text(mapping([objective_yaml("obj", krs)]))

    def got(self) -> list[tuple[str, float]]:
        return self.case.got(self.tool)

    def cli(self, *args: str, secret: str | None = None) -> tuple[int, str, str]:
        where = ["--mappings", str(self.directory), "--store", self.store_url]
        env = {**self.environ(secret), "OKRSYNC_LOG_FORMAT": "json"}
        result = CliRunner().invoke(app, [*args, *where], env=env)
        if result.exception and not isinstance(result.exception, SystemExit):
            raise result.exception
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture(params=CASES, ids=[c.type for c in CASES])
def world(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[World]:
    case: Case = request.param
    directory = tmp_path / "mappings"
    directory.mkdir()
    url = f"sqlite:///{tmp_path / 'okrsync.db'}"
    with (
        StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as stats,
        case.start() as tool,
        Store.open(url) as store,
    ):
        yield World(case, stats, tool, directory, store, url)  # type: ignore[arg-type]


def measured(result: Any) -> dict[str, float]:
    return {r.kr_id: r.value for r in result.records}


def test_first_push_then_only_changes(world: World) -> None:
    tickets, steps = world.case.items
    config = world.config()
    first = sync_now(config, world.store, now=NOW, runtime=FAST)
    assert first.exit_code == 0, first.unpushed
    values = measured(first)
    assert sorted(world.got()) == sorted([(tickets, values["tickets"]), (steps, values["steps"])])

    again = sync_now(config, world.store, now=NOW + timedelta(hours=2), runtime=FAST)
    assert [r.status for r in again.records] == ["ok", "ok"]  # measured again, same values
    assert again.pushed == []
    assert len(world.got()) == 2

    world.stats.today = lambda: date(2026, 11, 27)  # a week on: tickets moved, steps did not
    moved = measured(sync_now(config, world.store, now=NOW + timedelta(hours=4), runtime=FAST))
    assert moved["tickets"] != values["tickets"]
    assert moved["steps"] == values["steps"]
    assert world.got()[2:] == [(tickets, moved["tickets"])]


def test_held_failing_and_stale_values_never_reach_the_tool(world: World) -> None:
    plain = world.config()
    sync_now(replace(plain, destinations={}), world.store, now=NOW, runtime=FAST)  # not pushed
    held = world.config(max=50)  # tickets (about 86) is held as suspicious now
    world.stats.add_fault("/api/v1/metrics/checkout_steps", Fault.status(401), times=10)
    result = sync_now(held, world.store, now=NOW + timedelta(hours=2), runtime=FAST)
    assert {r.kr_id: r.status for r in result.records} == {"tickets": "held", "steps": "error"}
    assert result.pushed == []
    assert world.got() == []

    # Weeks later (the real clock), nothing was measured since: both values are stale.
    world.write()
    code, out, _ = world.cli("push")
    assert code == 0
    assert "Pushes: nothing due" in out
    assert world.got() == []
    assert world.tool.requests == [] or all(
        "token" in r.path for r in world.tool.requests
    )  # at most a credential exchange, never a value


def test_a_429_with_retry_after_is_waited_out(world: World) -> None:
    config = world.config()
    world.tool.add_fault(
        world.case.path, Fault.status(429, {"message": "slow down"}, {"Retry-After": "7"})
    )
    sleeps = Sleeps()
    result = sync_now(config, world.store, now=NOW, runtime=Runtime(sleep=sleeps))
    assert result.exit_code == 0, result.unpushed
    assert 7 in sleeps.waits
    assert sorted(item for item, _ in world.got()) == sorted(world.case.items)


def test_a_5xx_storm_fails_the_pushes_and_the_next_sync_sends_each_once(world: World) -> None:
    config = world.config()
    world.tool.add_fault(world.case.path, Fault.status(503, {"message": "down"}), times=100)
    result = sync_now(config, world.store, now=NOW, runtime=FAST)
    assert result.exit_code == 1
    assert [r.status for r in result.records] == ["ok", "ok"]  # the measurements are kept
    assert {(p.item, p.error_kind, p.calls) for p in result.unpushed} == {
        (item, "transient", 3) for item in world.case.items
    }
    assert world.got() == []

    world.tool.clear_faults()
    retried = sync_now(config, world.store, now=NOW + timedelta(minutes=10), runtime=FAST)
    assert retried.records == []  # nothing was due to measure; the pushes were
    assert retried.exit_code == 0
    values = measured(result)
    tickets, steps = world.case.items
    assert sorted(world.got()) == sorted([(tickets, values["tickets"]), (steps, values["steps"])])


def test_an_auth_error_shows_in_status_in_the_vendors_words(world: World) -> None:
    wrong = world.case.wrong(world.tool)
    config = world.config(secret=wrong)
    result = sync_now(config, world.store, now=NOW, runtime=FAST)
    assert {p.error_kind for p in result.unpushed} == {"auth"}
    assert world.got() == []

    _, out, _ = world.cli("status", "--json", secret=wrong)
    status = json.loads(out)
    failed = {p["item"]: p["error"] for p in status["pushes"]["failed"]}
    assert sorted(failed) == sorted(world.case.items)
    assert all(world.case.words in error for error in failed.values()), failed
    table = " ".join(world.cli("status", secret=wrong)[1].split())  # the caption wraps
    assert f"push tickets → tool {world.case.items[0]} failed: " in table
    assert world.case.words in table
    assert wrong not in out + table


def test_a_secret_the_tool_echoes_back_is_kept_nowhere(world: World, tmp_path: Path) -> None:
    config = world.config()
    sync_now(config, world.store, now=NOW, runtime=FAST)  # accepted: the credential is in use
    echoed = world.case.sent(world.tool)
    world.tool.add_fault(
        world.case.path, Fault.status(401, {"message": f"token {echoed} is revoked"}), times=10
    )
    world.stats.today = lambda: date(2026, 11, 27)  # tickets moves, so it is pushed again
    result = sync_now(config, world.store, now=NOW + timedelta(hours=2), runtime=FAST)
    [refused] = result.unpushed
    assert refused.error_kind == "auth"
    assert "is revoked" in (refused.error or "")
    _, out, err = world.cli("status", "--json")
    _, table, _ = world.cli("status")
    _, explained, _ = world.cli("explain", "tickets")
    database = (tmp_path / "okrsync.db").read_bytes().decode("latin-1")
    for where in (refused.error or "", out, err, table, explained, database):
        assert echoed not in where
    assert "***" in (refused.error or "")
