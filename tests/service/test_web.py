"""The HTTP side over real sockets: /metrics, /api/status, the probes and access control.

The app runs in uvicorn on 127.0.0.1 (as ``okrsync run`` serves it), over a
SQLite store that two real syncs against the stats simulator filled; /metrics
is read back with prometheus-client's own text parser.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from okrsync import __version__
from okrsync.cli.app import app as cli
from okrsync.config import loader
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.service.health import Heartbeat
from okrsync.service.web import Access, Sources, Warmer, WebServer, make_app
from okrsync.store.database import Store
from okrsync.testing.runtime import FAST
from tests.support import (
    NOW,
    TOKEN,
    connections_yaml,
    kr_yaml,
    load,
    mapping,
    objective_yaml,
    sync_now,
    write,
)

SPEC_NAMES = [  # SPEC §6, the contract
    "okrsync_key_result_value",
    "okrsync_key_result_progress_ratio",
    "okrsync_key_result_expected_progress_ratio",
    "okrsync_key_result_status",
    "okrsync_key_result_last_success_timestamp_seconds",
    "okrsync_objective_progress_ratio",
    "okrsync_sync_duration_seconds",
    "okrsync_sync_last_success_timestamp_seconds",
    "okrsync_connection_requests_total",
    "okrsync_connection_errors_total",
    "okrsync_build_info",
]
LATER = NOW + timedelta(hours=2)


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[loader.Config, Store, str]]:
    krs = [
        kr_yaml("tickets", "support_tickets_month"),
        kr_yaml("steps", "checkout_steps", start=9, target=6),
    ]
    with StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as sim:
        directory = write(
            tmp_path / "mappings",
            {
                "connections.yaml": connections_yaml(sim.url),
                "okrs.yaml": mapping([objective_yaml("grow", krs, team="growth")]),
            },
        )
        config = load(directory)
        url = f"sqlite:///{tmp_path / 'okrsync.db'}"
        with Store.open(url) as st:
            sync_now(config, st, now=NOW, runtime=FAST)
            sim.add_fault("/api/v1/metrics/checkout_steps", Fault.status(401), times=10)
            sync_now(config, st, now=LATER, runtime=FAST)  # steps fails: auth
            yield config, st, url


def serve(sources: Sources) -> WebServer:
    return WebServer(make_app(sources), 0, "127.0.0.1").start()


@pytest.fixture
def base(world: tuple[loader.Config, Store, str]) -> Iterator[str]:
    config, st, _ = world
    server = serve(Sources(lambda: config, st, lambda: {"ok": 1}, now=lambda: LATER))
    try:
        yield f"http://127.0.0.1:{server.port}"
    finally:
        server.stop()


def samples(text: str) -> dict[str, list[Any]]:
    found: dict[str, list[Any]] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            found.setdefault(s.name, []).append(s)
    return found


def test_metrics_carry_every_spec_name_with_the_stores_figures(
    world: tuple[loader.Config, Store, str], base: str
) -> None:
    _, st, _ = world
    response = httpx.get(f"{base}/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    got = samples(response.text)
    assert [name for name in SPEC_NAMES if name not in got] == []

    states = st.states()
    [tickets] = [s for s in got["okrsync_key_result_value"] if s.labels["key_result"] == "tickets"]
    assert tickets.labels == {"key_result": "tickets", "objective": "grow", "team": "growth"}
    assert tickets.value == states["tickets"].value
    [status] = [s for s in got["okrsync_key_result_status"] if s.labels["key_result"] == "steps"]
    assert (status.labels["status"], status.value) == ("error", 1.0)
    [success] = [
        s
        for s in got["okrsync_key_result_last_success_timestamp_seconds"]
        if s.labels["key_result"] == "steps"
    ]
    assert success.value == NOW.timestamp()  # its last good value, not the failed attempt

    runs = st.runs()
    [requests] = got["okrsync_connection_requests_total"]
    assert requests.labels == {"connection": "stats"}
    assert requests.value == sum(r.summary["connections"]["stats"]["calls"] for r in runs)
    [errors] = got["okrsync_connection_errors_total"]
    assert (errors.labels, errors.value) == ({"connection": "stats", "kind": "auth"}, 1.0)
    [build] = got["okrsync_build_info"]
    assert build.labels == {"version": __version__}
    [last] = got["okrsync_sync_last_success_timestamp_seconds"]
    assert last.value == runs[0].finished_at.timestamp()  # partial counts: values were stored


def test_the_counters_only_grow_across_runs(
    world: tuple[loader.Config, Store, str], base: str
) -> None:
    config, st, _ = world
    before = requests_total(base)
    sync_now(config, st, now=LATER + timedelta(hours=2), runtime=FAST)
    assert requests_total(base) == before  # right after the write: the last exposition
    deadline = time.monotonic() + 10
    while requests_total(base) == before:  # rebuilt in the background meanwhile
        assert time.monotonic() < deadline, "the counters never grew"
        time.sleep(0.05)
    assert requests_total(base) > before


def requests_total(base: str) -> float:
    [total] = samples(httpx.get(f"{base}/metrics").text)["okrsync_connection_requests_total"]
    return float(total.value)


def test_a_scrape_long_after_the_last_build_waits_for_a_fresh_one(
    world: tuple[loader.Config, Store, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    from okrsync.service import web

    config, st, _ = world
    monkeypatch.setattr(web, "STALE_SCRAPE", 0.0)  # nothing held is recent enough
    server = serve(Sources(lambda: config, st, lambda: {}, now=lambda: LATER))
    base = f"http://127.0.0.1:{server.port}"
    try:
        before = requests_total(base)
        sync_now(config, st, now=LATER + timedelta(hours=2), runtime=FAST)
        assert requests_total(base) > before  # built for this scrape, not served stale
    finally:
        server.stop()


def test_api_status_is_status_json(world: tuple[loader.Config, Store, str], base: str) -> None:
    config, _, url = world
    served = httpx.get(f"{base}/api/status").json()
    printed = CliRunner().invoke(
        cli,
        ["status", "--json", "--mappings", str(config.directory), "--store", url],
        env={"TEST_STATS_TOKEN": TOKEN},
    )
    expected = json.loads(printed.stdout)
    for shown in (served, expected):  # status --json is as of the real clock
        shown.pop("as_of", None)
    assert {o["id"] for o in served["objectives"]} == {o["id"] for o in expected["objectives"]}
    served_krs = {k["id"]: k["value"] for o in served["objectives"] for k in o["key_results"]}
    printed_krs = {k["id"]: k["value"] for o in expected["objectives"] for k in o["key_results"]}
    assert served_krs == printed_krs


def test_probes_stay_open_and_everything_else_needs_the_token(
    world: tuple[loader.Config, Store, str],
) -> None:
    config, st, _ = world
    token = "dash-token-7c1e9a2f"
    sources = Sources(lambda: config, st, lambda: {}, Heartbeat(60), Access(token=token))
    server = serve(sources)
    base = f"http://127.0.0.1:{server.port}"
    try:
        assert httpx.get(f"{base}/healthz").json()["status"] == "ok"
        assert httpx.get(f"{base}/readyz").status_code == 200
        for path in ("/metrics", "/api/status"):
            refused = httpx.get(f"{base}{path}")
            assert refused.status_code == 401
            assert refused.headers["www-authenticate"] == 'Bearer realm="okrsync"'
            assert token not in refused.text
            wrong = httpx.get(f"{base}{path}", headers={"Authorization": "Bearer nope"})
            assert wrong.status_code == 401
            good = httpx.get(f"{base}{path}", headers={"Authorization": f"Bearer {token}"})
            assert good.status_code == 200
    finally:
        server.stop()


def test_basic_auth_checks_user_and_password(world: tuple[loader.Config, Store, str]) -> None:
    config, st, _ = world
    access = Access(user="ops", password="s3cret-pass-88")
    server = serve(Sources(lambda: config, st, lambda: {}, access=access))
    base = f"http://127.0.0.1:{server.port}"

    def basic(pair: str) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(pair.encode()).decode()}

    try:
        refused = httpx.get(f"{base}/metrics")
        assert refused.headers["www-authenticate"] == 'Basic realm="okrsync"'
        assert httpx.get(f"{base}/metrics", headers=basic("ops:wrong")).status_code == 401
        assert httpx.get(f"{base}/metrics", headers=basic("dev:s3cret-pass-88")).status_code == 401
        assert httpx.get(f"{base}/metrics", headers=basic("ops:s3cret-pass-88")).status_code == 200
        garbage = {"Authorization": "Basic !!!not-base64"}
        assert httpx.get(f"{base}/metrics", headers=garbage).status_code == 401
    finally:
        server.stop()


def test_without_a_valid_configuration_pages_say_so_and_readyz_fails(
    world: tuple[loader.Config, Store, str],
) -> None:
    _, st, _ = world

    def not_ready() -> dict[str, Any]:
        raise RuntimeError("no valid configuration loaded")

    server = serve(Sources(lambda: None, st, not_ready))
    base = f"http://127.0.0.1:{server.port}"
    try:
        answer = httpx.get(f"{base}/metrics")
        assert answer.status_code == 503
        assert "okrsync validate" in answer.json()["error"]
        ready = httpx.get(f"{base}/readyz")
        assert (ready.status_code, ready.json()["ready"]) == (503, False)
    finally:
        server.stop()


def test_a_stalled_loop_fails_healthz(world: tuple[loader.Config, Store, str]) -> None:
    config, st, _ = world
    beat = Heartbeat(stall_after=0.0)
    server = serve(Sources(lambda: config, st, lambda: {}, beat))
    try:
        answer = httpx.get(f"http://127.0.0.1:{server.port}/healthz")
        assert (answer.status_code, answer.json()["status"]) == (503, "stalled")
    finally:
        server.stop()


def test_a_port_in_use_is_an_error_not_a_hang(world: tuple[loader.Config, Store, str]) -> None:
    config, st, _ = world
    first = serve(Sources(lambda: config, st, lambda: {}))
    try:
        with pytest.raises(OSError, match="cannot serve on port"):
            WebServer(
                make_app(Sources(lambda: config, st, lambda: {})), first.port, "127.0.0.1"
            ).start()
    finally:
        first.stop()


def test_metrics_of_a_store_with_no_runs(
    tmp_path: Path, world: tuple[loader.Config, Store, str]
) -> None:
    config, _, _ = world
    with Store.open(f"sqlite:///{tmp_path / 'empty.db'}") as empty:
        server = serve(
            Sources(lambda: replace(config), empty, lambda: {}, now=lambda: datetime.now(UTC))
        )
        try:
            got = samples(httpx.get(f"http://127.0.0.1:{server.port}/metrics").text)
        finally:
            server.stop()
    assert "okrsync_key_result_value" not in got  # nothing measured yet
    statuses = {
        s.labels["key_result"]: s.labels["status"] for s in got["okrsync_key_result_status"]
    }
    assert sorted(statuses) == ["steps", "tickets"]  # a status each, even unmeasured
    assert "okrsync_sync_last_success_timestamp_seconds" not in got


def test_the_tree_is_built_once_per_store_write(world: tuple[loader.Config, Store, str]) -> None:
    config, st, _ = world
    sources = Sources(lambda: config, st, lambda: {}, now=lambda: LATER)
    server = serve(sources)
    base = f"http://127.0.0.1:{server.port}"
    try:
        for path in ("/", "/metrics", "/api/status", "/metrics", "/kr/tickets"):
            assert httpx.get(base + path).status_code == 200
        assert sources.trees.misses == 1  # five requests, one build
        assert sources.scrapes.misses == 1
        sync_now(config, st, now=LATER, runtime=FAST, force=True)  # a new run: a new generation
        httpx.get(f"{base}/api/status")
        assert sources.trees.misses == 2  # pages are never stale
        httpx.get(f"{base}/metrics")  # served the last exposition, and rebuilds it behind
        deadline = time.monotonic() + 10
        while sources.scrapes.misses < 2:
            assert time.monotonic() < deadline, "the exposition was never rebuilt"
            time.sleep(0.02)
        assert sources.trees.misses == 2  # the rebuild reused the tree the page built
    finally:
        server.stop()


def test_a_new_minute_rebuilds_the_tree(world: tuple[loader.Config, Store, str]) -> None:
    config, st, _ = world
    clock = [LATER]
    sources = Sources(lambda: config, st, lambda: {}, now=lambda: clock[0])
    server = serve(sources)
    try:
        httpx.get(f"http://127.0.0.1:{server.port}/")
        clock[0] = LATER + timedelta(seconds=61)
        httpx.get(f"http://127.0.0.1:{server.port}/")
        assert sources.trees.misses == 2
    finally:
        server.stop()


def test_the_warmer_rebuilds_after_a_store_write_before_anyone_asks(
    world: tuple[loader.Config, Store, str],
) -> None:
    config, st, _ = world
    sources = Sources(lambda: config, st, lambda: {}, now=lambda: LATER)
    warmer = Warmer(sources, every=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while sources.scrapes.misses < 1:
            assert time.monotonic() < deadline, "never warmed"
            time.sleep(0.02)
        sync_now(config, st, now=LATER, runtime=FAST, force=True)
        while sources.scrapes.misses < 2:
            assert time.monotonic() < deadline, "a store write was not noticed"
            time.sleep(0.02)
    finally:
        warmer.stop()
    server = serve(sources)
    try:
        httpx.get(f"http://127.0.0.1:{server.port}/metrics")
        assert sources.scrapes.misses == 2  # served what the warmer built
    finally:
        server.stop()
