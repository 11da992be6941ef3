"""Digests and alerts through real syncs: once per cron slot and per event, also across processes.

The channel is the built-in ``webhook`` one, posting to a receiver on 127.0.0.1
that verifies every Standard Webhooks signature; values come from the stats
simulator; the store is SQLite, and PostgreSQL where the test says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.destinations.webhook import DEMO_SECRET, WebhookReceiver
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.publish import notify
from okrsync.publish.wording import WORDS
from okrsync.store.database import Store
from okrsync.testing.runtime import FAST
from tests.support import NOW, TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, sync_now

DAILY = "0 9 * * *"  # NOW is 12:00 UTC: today's 09:00 slot is due


@pytest.fixture
def stats() -> Iterator[StatsSimulator]:
    with StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def config_for(
    tmp_path: Path,
    stats: StatsSimulator,
    hook: WebhookReceiver,
    *,
    digest: str | None = DAILY,
    alerts: str = "[]",
    scope: str | None = None,
    **kr: Any,
) -> loader.Config:
    krs = [
        kr_yaml("tickets", "support_tickets_month", **kr),
        kr_yaml("steps", "checkout_steps", start=9, target=6),
    ]
    other = [kr_yaml("revenue", "checkout_steps", start=0, target=100)]
    channel = [
        "channels:", "  team:", "    type: webhook", f"    url: {hook.endpoint}",
        "    secret: ${HOOK_SECRET}", f"    alerts: {alerts}", "    retry: {attempts: 2}",
        "    dashboard_url: https://okrs.example.com",
    ]  # fmt: skip
    if digest:
        channel.append(f'    digest: "{digest}"')
    if scope:
        channel.append(f"    objectives: {scope}")
    directory = tmp_path / "mappings"
    directory.mkdir(exist_ok=True)
    (directory / "connections.yaml").write_text(
        connections_yaml(stats.url) + "\n".join(channel) + "\n"
    )
    objectives = [
        objective_yaml("support", krs, team="support"),
        objective_yaml("sales", other, team="sales"),
    ]
    (directory / "okrs.yaml").write_text(mapping(objectives))
    environ = {"TEST_STATS_TOKEN": TOKEN, "HOOK_SECRET": DEMO_SECRET}
    return loader.load(directory, Registry.default(), environ=environ)


def payloads(hook: WebhookReceiver, kind: str) -> list[dict[str, Any]]:
    return [d.payload["data"] for d in hook.received if d.payload["type"] == f"okrsync.{kind}"]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 'okrsync.db'}") as st:
        yield st


def test_a_digest_goes_out_once_per_slot_and_compares_with_the_last_one(
    tmp_path: Path, stats: StatsSimulator, hook: WebhookReceiver, store: Store
) -> None:
    config = config_for(tmp_path, stats, hook)
    first = sync_now(config, store, now=NOW, runtime=FAST)
    assert first.exit_code == 0, first.unpublished
    [digest] = payloads(hook, "digest")
    assert digest["key"] == "digest:2026-11-15T09:00Z"
    assert digest["title"] == "Weekly check-in, team: 15 Nov 2026"
    titles = [s["title"] for s in digest["sections"]]
    assert titles[0] == "Objectives"
    objectives = {i["text"]: i for i in digest["sections"][0]["items"]}
    assert set(objectives) == {"Objective support", "Objective sales"}
    assert objectives["Objective support"]["link"] == "https://okrs.example.com/#o-support"
    assert "since" not in objectives["Objective support"]["detail"]  # no digest before this one

    sync_now(config, store, now=NOW + timedelta(hours=2), runtime=FAST)  # the same slot
    sync_now(config, store, now=NOW + timedelta(hours=5), runtime=FAST)
    assert len(payloads(hook, "digest")) == 1

    stats.today = lambda: date(2026, 11, 27)  # tickets moves by the next day's digest
    sync_now(config, store, now=NOW + timedelta(days=1), runtime=FAST)
    first_digest, second = payloads(hook, "digest")
    assert second["key"] == "digest:2026-11-16T09:00Z"
    detail = {i["text"]: i["detail"] for i in second["sections"][0]["items"]}
    assert " since 15 Nov)" in detail["Objective support"]
    assert second["data"]["previous_at"] is not None
    support = first_digest["data"]["baseline"]["objectives"]["support"]
    now_support = second["data"]["baseline"]["objectives"]["support"]
    expected = round((now_support - support) * 100)
    assert expected != 0  # tickets moved
    assert f"({expected:+d} pts since 15 Nov)" in detail["Objective support"]


def test_a_digest_speaks_only_of_its_channels_objectives(
    tmp_path: Path, stats: StatsSimulator, hook: WebhookReceiver, store: Store
) -> None:
    config = config_for(tmp_path, stats, hook, scope="{team: sales}")
    sync_now(config, store, now=NOW, runtime=FAST)
    [digest] = payloads(hook, "digest")
    names = [i["text"] for s in digest["sections"] for i in s["items"]]
    assert "Objective sales" in names
    assert "Objective support" not in names
    assert digest["summary"].startswith("1 key results in 1 objectives")


def test_an_old_slot_is_skipped_not_sent_late(
    tmp_path: Path, stats: StatsSimulator, hook: WebhookReceiver, store: Store
) -> None:
    config = config_for(tmp_path, stats, hook, digest="0 9 * * MON")  # NOW is a Sunday
    sync_now(config, store, now=NOW, runtime=FAST)
    assert payloads(hook, "digest") == []
    sync_now(config, store, now=datetime(2026, 11, 16, 9, 30, tzinfo=NOW.tzinfo), runtime=FAST)
    assert [d["key"] for d in payloads(hook, "digest")] == ["digest:2026-11-16T09:00Z"]


def test_a_status_change_alerts_once_and_the_first_sight_is_silent(
    tmp_path: Path, stats: StatsSimulator, hook: WebhookReceiver, store: Store
) -> None:
    config = config_for(tmp_path, stats, hook, digest=None, alerts="[status_change]")
    sync_now(config, store, now=NOW, runtime=FAST)
    assert payloads(hook, "alert") == []  # the channel learns the statuses, says nothing
    stats.add_fault("/api/v1/metrics/checkout_steps", Fault.status(401), times=100)
    sync_now(config, store, now=NOW + timedelta(hours=2), runtime=FAST)
    alerts = {a["data"]["key_result"]: a for a in payloads(hook, "alert")}
    assert sorted(alerts) == ["revenue", "steps"]  # both read checkout_steps; tickets is fine
    steps = alerts["steps"]
    assert steps["data"]["event"] == "status_change"
    assert steps["data"]["to"] == "error"
    assert steps["title"] == f"KR steps: {WORDS[steps['data']['from']]} → error"
    assert any("HTTP 401" in i["detail"] for s in steps["sections"] for i in s["items"])
    for hours in (4, 6):  # still failing: no new event
        sync_now(config, store, now=NOW + timedelta(hours=hours), runtime=FAST)
    assert len(payloads(hook, "alert")) == 2


def test_a_source_failing_three_runs_in_a_row_alerts_once(
    tmp_path: Path, stats: StatsSimulator, hook: WebhookReceiver, store: Store
) -> None:
    config = config_for(tmp_path, stats, hook, digest=None, alerts="[failing]")
    sync_now(config, store, now=NOW, runtime=FAST)
    stats.add_fault("/api/v1/metrics/checkout_steps", Fault.status(503), times=1000)
    for hours in (2, 4):
        sync_now(config, store, now=NOW + timedelta(hours=hours), runtime=FAST)
    assert payloads(hook, "alert") == []  # two failures are not yet three
    sync_now(config, store, now=NOW + timedelta(hours=6), runtime=FAST)
    [alert] = payloads(hook, "alert")
    assert alert["data"]["event"] == "failing"
    assert sorted(alert["data"]["key_results"]) == ["revenue", "steps"]  # one source, one alert
    sync_now(config, store, now=NOW + timedelta(hours=8), runtime=FAST)
    assert len(payloads(hook, "alert")) == 1


def test_a_held_value_alerts_once(
    tmp_path: Path, stats: StatsSimulator, hook: WebhookReceiver, store: Store
) -> None:
    plain = config_for(tmp_path, stats, hook, digest=None, alerts="[held]")
    sync_now(plain, store, now=NOW, runtime=FAST)
    held = config_for(tmp_path, stats, hook, digest=None, alerts="[held]", max=50)
    sync_now(held, store, now=NOW + timedelta(hours=2), runtime=FAST)
    sync_now(held, store, now=NOW + timedelta(hours=4), runtime=FAST)
    [alert] = payloads(hook, "alert")
    assert alert["data"]["event"] == "held"
    assert alert["data"]["key_result"] == "tickets"
    assert "okrsync hold accept tickets" in alert["summary"]


def test_a_failing_receiver_fails_the_message_not_the_run_and_it_is_sent_later(
    tmp_path: Path, stats: StatsSimulator, hook: WebhookReceiver, store: Store
) -> None:
    config = config_for(tmp_path, stats, hook)
    hook.add_fault(hook.path, Fault.status(503, b"down"), times=2)  # both attempts
    result = sync_now(config, store, now=NOW, runtime=FAST)
    assert result.exit_code == 1
    assert [r.status for r in result.records] == ["ok", "ok", "ok"]
    [failed] = result.unpublished
    assert "HTTP 503" in (failed.error or "")
    assert payloads(hook, "digest") == []
    [notice] = store.notices("team")
    assert (notice.status, notice.attempts) == ("failed", 1)
    retried = sync_now(config, store, now=NOW + timedelta(minutes=10), runtime=FAST)
    assert retried.exit_code == 0
    assert [d["key"] for d in payloads(hook, "digest")] == ["digest:2026-11-15T09:00Z"]
    assert [n.status for n in store.notices("team")] == ["sent"]


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_two_processes_on_one_store_send_one_digest(
    tmp_path: Path, stats: StatsSimulator, hook: WebhookReceiver, store_url: str
) -> None:
    config = config_for(tmp_path, stats, hook, alerts="[status_change]")
    with Store.open(store_url) as first, Store.open(store_url) as second:
        sync_now(config, first, now=NOW - timedelta(days=3), runtime=FAST)  # before the slot
        hook.received.clear()

        async def both() -> list[Any]:
            return list(
                await asyncio.gather(
                    notify.notify(config, first, NOW, FAST),
                    notify.notify(config, second, NOW, FAST),
                )
            )

        for _ in range(3):
            asyncio.run(both())
        assert [d["key"] for d in payloads(hook, "digest")] == ["digest:2026-11-15T09:00Z"]
        assert len({d.id for d in hook.received}) == len(hook.received)  # no delivery twice


def test_a_channel_without_its_secret_waits_and_the_sync_goes_on(
    tmp_path: Path, stats: StatsSimulator, hook: WebhookReceiver, store: Store
) -> None:
    config_for(tmp_path, stats, hook)  # writes the files
    unset, problems = loader.check(
        tmp_path / "mappings", Registry.default(), environ={"TEST_STATS_TOKEN": TOKEN}
    )
    assert unset is not None
    [warning] = [p for p in problems if "HOOK_SECRET" in p.message]
    assert warning.severity == "warning"
    assert "its digests and alerts wait until it is set" in warning.message
    result = sync_now(unset, store, now=NOW, runtime=FAST)
    assert result.exit_code == 0
    assert all(r.status == "ok" for r in result.records)
    assert hook.received == []
