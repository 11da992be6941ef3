"""FakeServer (routes, log, faults, lifecycle) and the demo stats simulator."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import date

import httpx
import pytest

from okrsync.demo.simulators import FakeServer, Fault, Request, Response, StatsSimulator
from okrsync.demo.simulators.stats import METRICS, UPTIME, metric_value

TODAY = date(2026, 11, 15)
AUTH = {"Authorization": "Bearer demo-token"}
Q4 = {"from": "2026-10-01", "to": "2026-12-31"}


@pytest.fixture
def stats() -> Iterator[StatsSimulator]:
    with StatsSimulator(today=lambda: TODAY) as sim:
        yield sim


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        srv.route("GET", "/ok", lambda _r: Response.json({"ok": True}))
        srv.route("POST", r"/echo/(?P<name>\w+)", lambda r: Response.json([r.params, r.json()]))
        yield srv


def client(srv: FakeServer, timeout: float = 5.0) -> httpx.Client:
    return httpx.Client(base_url=srv.url, timeout=timeout, trust_env=False)


# -- stats simulator ---------------------------------------------------------


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer nope"}, {"Authorization": "demo-token"}]
)
def test_stats_needs_token(stats: StatsSimulator, headers: dict[str, str]) -> None:
    with client(stats) as c:
        r = c.get("/api/v1/metrics/annual_revenue", params=Q4, headers=headers)
    assert r.status_code == 401
    assert r.json() == {"error": "invalid or missing API token"}


def test_metric_shape_and_determinism(stats: StatsSimulator) -> None:
    with client(stats) as c, StatsSimulator(today=lambda: TODAY) as again, client(again) as c2:
        first = c.get("/api/v1/metrics/annual_revenue", params=Q4, headers=AUTH).json()
        second = c2.get("/api/v1/metrics/annual_revenue", params=Q4, headers=AUTH).json()
    assert first == second
    assert first["metric"] == "annual_revenue"
    assert (first["from"], first["to"]) == ("2026-10-01", "2026-12-31")
    expected = 12e6 + 12e6 * 0.95 * 45 / 92
    assert abs(first["data"]["value"] - expected) <= 12e6 * 0.004 + 0.01


@pytest.mark.parametrize("name", [*METRICS, UPTIME])
def test_every_metric_is_served(stats: StatsSimulator, name: str) -> None:
    with client(stats) as c:
        body = c.get(f"/api/v1/metrics/{name}", params=Q4, headers=AUTH).json()
    assert body["data"]["value"] == metric_value(name, date(2026, 10, 1), date(2026, 12, 31), TODAY)


def test_values_move_toward_target_over_the_cycle() -> None:
    start, end = date(2026, 10, 1), date(2026, 12, 31)
    revenue = [metric_value("annual_revenue", start, end, date(2026, m, 1)) for m in (10, 11, 12)]
    assert revenue == sorted(revenue)
    assert metric_value("annual_revenue", start, end, date(2027, 3, 1)) > 23e6  # pace 0.95
    assert metric_value("mau_key_accounts", start, end, date(2027, 3, 1)) < 302_000  # off track
    steps = [metric_value("checkout_steps", start, end, date(2026, 10, d)) for d in range(1, 31)]
    assert all(s == int(s) and s <= 9 for s in steps)
    assert metric_value("checkout_steps", start, end, end) == 6
    days = [date(2026, 11, d) for d in range(1, 29)]
    uptimes = {metric_value(UPTIME, start, end, d) for d in days}
    assert len(uptimes) > 1  # drifts daily
    assert all(99.7 <= u < 99.8 for u in uptimes)


def test_milestones(stats: StatsSimulator) -> None:
    with client(stats) as c:
        launch = c.get("/api/v1/milestones/launch-2.0", headers=AUTH).json()
        beta = c.get("/api/v1/milestones/beta-program", headers=AUTH).json()
        missing = c.get("/api/v1/milestones/nope", headers=AUTH)
    assert (launch["milestone"], launch["done"]) == ("launch-2.0", False)
    assert beta["done"] is True
    assert beta["title"]
    assert missing.status_code == 404


def test_unknown_metric_is_404(stats: StatsSimulator) -> None:
    with client(stats) as c:
        r = c.get("/api/v1/metrics/x", params=Q4, headers=AUTH)
    assert r.status_code == 404
    assert r.json() == {"error": "unknown metric 'x'"}


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"from": "2026-10-01"},
        {"from": "yesterday", "to": "2026-12-31"},
        {"from": "2026-02-30", "to": "2026-12-31"},
        {"from": "20261001", "to": "2026-12-31"},
        {"from": "2026-12-31", "to": "2026-10-01"},
    ],
)
def test_bad_dates_are_400(stats: StatsSimulator, params: dict[str, str]) -> None:
    with client(stats) as c:
        r = c.get("/api/v1/metrics/annual_revenue", params=params, headers=AUTH)
    assert r.status_code == 400
    assert "error" in r.json()


# -- FakeServer --------------------------------------------------------------


def test_routes_params_and_request_log(server: FakeServer) -> None:
    with client(server) as c:
        assert c.post("/echo/abc?x=1&y=", json={"n": 1}).json() == [{"name": "abc"}, {"n": 1}]
        assert c.get("/nowhere").status_code == 404
    post, miss = server.requests
    assert (post.method, post.path, post.query) == ("POST", "/echo/abc", {"x": "1", "y": ""})
    assert post.json() == {"n": 1}
    assert post.headers["content-type"] == "application/json"
    assert (miss.method, miss.path) == ("GET", "/nowhere")
    assert post.time <= miss.time
    server.clear_requests()
    assert server.requests == []


def test_handler_bug_is_500(server: FakeServer) -> None:
    def broken(_r: Request) -> Response:
        raise RuntimeError("boom")

    server.route("GET", "/broken", broken)
    with client(server) as c:
        r = c.get("/broken")
    assert r.status_code == 500
    assert "boom" in r.json()["error"]


def test_status_fault_then_normal(server: FakeServer) -> None:
    server.add_fault("/ok", Fault.status(429, headers={"Retry-After": "3"}), times=2)
    server.add_fault("/other", Fault.status(500))
    with client(server) as c:
        codes = [c.get("/ok") for _ in range(3)]
    assert [r.status_code for r in codes] == [429, 429, 200]
    assert codes[0].headers["Retry-After"] == "3"
    assert codes[0].json() == {"error": "injected HTTP 429"}


def test_status_fault_raw_body(server: FakeServer) -> None:
    server.add_fault("/ok", Fault.status(502, body=b"Bad Gateway"))
    with client(server) as c:
        r = c.get("/ok")
    assert (r.status_code, r.content) == (502, b"Bad Gateway")


def test_latency_fault_and_global_latency(server: FakeServer) -> None:
    server.add_fault("/ok", Fault.delay(0.15))
    with client(server) as c:
        began = time.monotonic()
        assert c.get("/ok").status_code == 200
        assert time.monotonic() - began >= 0.15
        server.latency = 0.1
        began = time.monotonic()
        assert c.get("/ok").status_code == 200
        assert time.monotonic() - began >= 0.1


def test_reset_fault(server: FakeServer) -> None:
    server.add_fault("/o.", Fault.reset())
    with client(server) as c:
        with pytest.raises(httpx.TransportError):
            c.get("/ok")
        assert c.get("/ok").status_code == 200


def test_hang_fault_times_out_and_stop_is_prompt() -> None:
    srv = FakeServer().start()
    srv.route("GET", "/ok", lambda _r: Response.json(1))
    srv.add_fault("/ok", Fault.hang(20))
    with client(srv, timeout=0.2) as c, pytest.raises(httpx.ReadTimeout):
        c.get("/ok")
    began = time.monotonic()
    srv.stop()
    assert time.monotonic() - began < 1.0


def test_malformed_fault(server: FakeServer) -> None:
    server.add_fault("/ok", Fault.malformed())
    with client(server) as c:
        r = c.get("/ok")
    assert r.status_code == 200
    with pytest.raises(ValueError, match="Expecting value"):
        r.json()


def test_truncated_fault_sends_half_the_promised_body(server: FakeServer) -> None:
    server.route("GET", "/big", lambda _r: Response.json({"pad": "x" * 1000}))
    server.add_fault("/big", Fault.truncated())
    with client(server) as c:
        with pytest.raises(
            httpx.RemoteProtocolError, match="without sending complete message body"
        ):
            c.get("/big")
        assert c.get("/big").json() == {"pad": "x" * 1000}


def test_clear_faults(server: FakeServer) -> None:
    server.add_fault(".*", Fault.status(503), times=5)
    server.clear_faults()
    with client(server) as c:
        assert c.get("/ok").status_code == 200


def test_stop_with_open_keepalive_connection_leaks_nothing() -> None:
    before = threading.active_count()
    srv = FakeServer().start()
    srv.route("GET", "/ok", lambda _r: Response.json(1))
    with client(srv) as c:
        assert c.get("/ok").status_code == 200  # the connection stays open, idle
        began = time.monotonic()
        srv.stop()
        assert time.monotonic() - began < 1.0
    srv.stop()  # idempotent
    assert threading.active_count() == before
    with pytest.raises(RuntimeError):
        _ = srv.url
