"""The push stage: good values into a destination once per change, failures kept and retried.

The destination here is a small plugin written as a third party would write
one (httpx through okrsync.sdk.http), pushing over real HTTP to a receiver
on 127.0.0.1; the values come from the stats simulator, the store is SQLite.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import date, timedelta
from pathlib import Path
from typing import Any, Literal

import pytest
from pydantic import SecretStr

from okrsync.config import loader
from okrsync.config.registry import PublisherRegistry, Registry
from okrsync.demo.simulators.server import FakeServer, Fault, Request, Response
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.publish.push import pending
from okrsync.sdk.connector import Runtime
from okrsync.sdk.http import make_client, request_json
from okrsync.sdk.publisher import DestinationSettings, PublisherType, PushItem
from okrsync.store.database import Store
from okrsync.testing.runtime import FAST, Sleeps
from tests.support import NOW, TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, sync_now

TOOL_TOKEN = "tool-token-5d8e1b2c9a7f"  # a fake secret the receiver echoes back on a 401


class RecorderSettings(DestinationSettings):
    type: Literal["recorder"]
    url: str
    token: SecretStr


class Recorder:
    dated = False

    def __init__(self, settings: RecorderSettings, runtime: Runtime) -> None:
        self.settings, self.runtime = settings, runtime
        auth = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
        self.client = make_client(settings, headers=auth)

    async def push(self, item: PushItem) -> str:
        body = {"value": item.value, "comment": item.comment, "at": item.measured_at.isoformat()}
        _, raw = await request_json(
            self.client, "PUT", f"/items/{item.item}", retry=self.settings.retry,
            sleep=self.runtime.sleep, json_body=body, what="recorder push",
        )  # fmt: skip
        return raw

    async def aclose(self) -> None:
        await self.client.aclose()


RECORDER = PublisherType(
    "recorder", "destinations", RecorderSettings, lambda _n, s, r: Recorder(s, r)
)


@dataclass(frozen=True)
class Got:
    item: str
    value: float
    comment: str


class Receiver(FakeServer):
    """An OKR tool that stores one value per item and echoes the token when it refuses it."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[Got] = []
        self.route("PUT", r"/items/(?P<item>[^/]+)", self._put)

    def authorize(self, request: Request) -> Response | None:
        given = request.headers.get("authorization", "")
        if given != f"Bearer {TOOL_TOKEN}":
            return Response.json({"error": f"bad token in {given!r}"}, 401)
        return None

    def _put(self, request: Request) -> Response:
        body = request.json()
        self.received.append(Got(request.params["item"], body["value"], body["comment"]))
        return Response.json({"ok": True, "item": request.params["item"]})


@pytest.fixture
def sim() -> Iterator[StatsSimulator]:
    with StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def tool() -> Iterator[Receiver]:
    with Receiver() as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'okrsync.db'}") as st:
        yield st


def config_for(
    tmp_path: Path,
    sim: StatsSimulator,
    tool: Receiver,
    *,
    token: str = "${TOOL_TOKEN}",
    **kr: Any,
) -> loader.Config:
    krs = [
        kr_yaml("tickets", "support_tickets_month", push="{tool: T-1}", **kr),
        kr_yaml("steps", "checkout_steps", start=9, target=6, push="{tool: T-2}"),
        kr_yaml("quiet", "checkout_steps", start=9, target=6),  # pushed nowhere
    ]
    destinations = f"destinations:\n  tool:\n    type: recorder\n    url: {tool.url}\n"
    destinations += f"    token: {token}\n    retry: {{attempts: 3}}\n"
    directory = tmp_path / "mappings"
    directory.mkdir(exist_ok=True)
    (directory / "connections.yaml").write_text(connections_yaml(sim.url) + destinations)
    (directory / "okrs.yaml").write_text(mapping([objective_yaml("obj", krs)]))
    return loader.load(
        directory,
        Registry.default(),
        publishers=PublisherRegistry.of(RECORDER),
        environ={"TEST_STATS_TOKEN": TOKEN, "TOOL_TOKEN": TOOL_TOKEN},
    )


def test_each_good_value_is_pushed_once_and_again_only_when_it_changes(
    tmp_path: Path, sim: StatsSimulator, tool: Receiver, store: Store
) -> None:
    config = config_for(tmp_path, sim, tool)
    first = sync_now(config, store, now=NOW, runtime=FAST)
    assert first.exit_code == 0
    values = {r.kr_id: r.value for r in first.records}
    assert sorted((g.item, g.value) for g in tool.received) == [
        ("T-1", values["tickets"]), ("T-2", values["steps"]),
    ]  # fmt: skip
    tickets = next(g for g in tool.received if g.item == "T-1")
    assert tickets.comment.startswith("okrsync: stats (http) `GET /api/v1/metrics/support_tickets")
    assert f"= {values['tickets']:g} at 2026-11-15 12:00 UTC, run {first.run_id}" in tickets.comment
    assert {(p.destination, p.item, p.outcome) for p in first.pushed} == {
        ("tool", "T-1", "ok"), ("tool", "T-2", "ok"),
    }  # fmt: skip

    again = sync_now(config, store, now=NOW + timedelta(hours=2), runtime=FAST)  # same values
    assert again.pushed == []
    assert len(tool.received) == 2

    sim.today = lambda: date(2026, 11, 27)  # a week on: tickets moved, steps did not
    moved = sync_now(config, store, now=NOW + timedelta(hours=4), runtime=FAST)
    changed = {r.kr_id: r.value for r in moved.records}
    assert changed["tickets"] != values["tickets"]
    assert changed["steps"] == values["steps"]
    assert [(g.item, g.value) for g in tool.received[2:]] == [("T-1", changed["tickets"])]
    accepted = store.accepted()
    assert accepted[("tool", "T-1")].value == changed["tickets"]
    assert accepted[("tool", "T-2")].value == values["steps"]


def test_held_failing_and_stale_values_are_never_pushed(
    tmp_path: Path, sim: StatsSimulator, tool: Receiver, store: Store
) -> None:
    plain = config_for(tmp_path, sim, tool)
    sync_now(replace(plain, destinations={}), store, now=NOW, runtime=FAST)  # good, not pushed
    config = config_for(tmp_path, sim, tool, max=50)  # tickets (~86) is held now
    sim.add_fault("/api/v1/metrics/checkout_steps", Fault.status(401), times=10)  # steps fails
    result = sync_now(config, store, now=NOW + timedelta(hours=2), runtime=FAST)
    statuses = {r.kr_id: r.status for r in result.records}
    assert (statuses["tickets"], statuses["steps"]) == ("held", "error")
    assert all(s.value is not None for s in store.states().values())  # good values, unpushed
    assert tool.received == []
    assert result.pushed == []

    sim.clear_faults()  # the source answers again, and without max nothing is held
    sync_now(plain, store, now=NOW + timedelta(hours=4), runtime=FAST)
    assert len(tool.received) == 2
    states = store.states()
    # A day later nothing was measured since: stale, so nothing would be pushed for it.
    moved = {k: replace(s, value=(s.value or 0) + 1) for k, s in states.items()}
    later = NOW + timedelta(hours=4 + 24)
    assert pending(plain, moved, store.accepted(), later) == []
    assert len(pending(plain, moved, store.accepted(), NOW + timedelta(hours=5))) == 2


def test_a_429_with_retry_after_is_waited_out(
    tmp_path: Path, sim: StatsSimulator, tool: Receiver, store: Store
) -> None:
    config = config_for(tmp_path, sim, tool)
    tool.add_fault("/items/T-1", Fault.status(429, {"error": "slow down"}, {"Retry-After": "7"}))
    sleeps = Sleeps()
    result = sync_now(config, store, now=NOW, runtime=Runtime(sleep=sleeps))
    assert result.exit_code == 0
    assert 7 in sleeps.waits
    assert sorted(g.item for g in tool.received) == ["T-1", "T-2"]


def test_a_5xx_storm_fails_the_push_not_the_run_and_the_next_sync_sends_it_once(
    tmp_path: Path, sim: StatsSimulator, tool: Receiver, store: Store
) -> None:
    config = config_for(tmp_path, sim, tool)
    tool.add_fault("/items/T-1", Fault.status(503), times=3)
    result = sync_now(config, store, now=NOW, runtime=FAST)
    assert result.exit_code == 1  # a push failed
    assert all(r.status == "ok" for r in result.records)  # the measurements are stored
    assert store.state("tickets").value is not None  # type: ignore[union-attr]
    [failed] = result.unpushed
    assert (failed.item, failed.error_kind, failed.calls) == ("T-1", "transient", 3)
    assert "HTTP 503" in (failed.error or "")
    assert [g.item for g in tool.received] == ["T-2"]
    assert ("tool", "T-1") not in store.accepted()

    retried = sync_now(config, store, now=NOW + timedelta(minutes=10), runtime=FAST)  # not due
    assert retried.records == []
    assert [p.item for p in retried.pushed] == ["T-1"]
    assert sorted(g.item for g in tool.received) == ["T-1", "T-2"]  # T-1 once, T-2 once
    assert retried.exit_code == 0


def test_an_auth_error_keeps_the_vendors_words_and_no_secret(
    tmp_path: Path, sim: StatsSimulator, tool: Receiver, store: Store
) -> None:
    config = config_for(tmp_path, sim, tool, token="${WRONG_TOKEN}")
    config = loader.load(
        config.directory,
        Registry.default(),
        publishers=PublisherRegistry.of(RECORDER),
        environ={"TEST_STATS_TOKEN": TOKEN, "WRONG_TOKEN": "wrong-" + TOOL_TOKEN},
    )
    result = sync_now(config, store, now=NOW, runtime=FAST)
    assert {p.error_kind for p in result.unpushed} == {"auth"}
    shown = json.dumps([p.error for p in result.unpushed]) + json.dumps(
        [p.error for p in store.last_pushes().values()]
    )
    assert "bad token in" in shown  # the receiver's own words
    assert "wrong-" + TOOL_TOKEN not in shown
    assert "***" in shown
    assert len(tool.requests) == 2  # an auth error is not retried


def test_a_destination_without_its_secret_fails_its_pushes_only(
    tmp_path: Path, sim: StatsSimulator, tool: Receiver, store: Store
) -> None:
    config = config_for(tmp_path, sim, tool)
    unset, problems = loader.check(
        config.directory,
        Registry.default(),
        publishers=PublisherRegistry.of(RECORDER),
        environ={"TEST_STATS_TOKEN": TOKEN},
    )
    assert unset is not None
    assert [p.severity for p in problems if "TOOL_TOKEN" in p.message] == ["warning"]
    result = sync_now(unset, store, now=NOW, runtime=FAST)
    assert all(r.status == "ok" for r in result.records)
    assert {(p.outcome, p.calls) for p in result.pushed} == {("error", 0)}
    assert all("not configured" in (p.error or "") for p in result.pushed)
    assert tool.requests == []


def test_pending_pushes_are_computed_from_the_store_not_queued(
    tmp_path: Path, sim: StatsSimulator, tool: Receiver, store: Store
) -> None:
    """What a killed process leaves behind: a stored run, no accepted push, so it is due."""
    config = config_for(tmp_path, sim, tool)
    no_destinations = replace(config, destinations={})
    sync_now(no_destinations, store, now=NOW, runtime=FAST)  # stored, never pushed
    due = pending(config, store.states(), store.accepted(), NOW)
    assert sorted((p.destination, p.item.item, p.old) for p in due) == [
        ("tool", "T-1", None), ("tool", "T-2", None),
    ]  # fmt: skip
    asyncio.run(_push_all(config, store))
    assert sorted(g.item for g in tool.received) == ["T-1", "T-2"]
    assert pending(config, store.states(), store.accepted(), NOW) == []


async def _push_all(config: loader.Config, store: Store) -> None:
    from okrsync.publish.push import push

    due = pending(config, store.states(), store.accepted(), NOW)
    await push(config, due, FAST, store.record_pushes)
