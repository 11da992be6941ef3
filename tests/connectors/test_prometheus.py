"""The prometheus connector against a real Prometheus and against the simulator.

The real server (the ``prometheus`` binary, e.g. Debian's package) proves
the wire format: answers, parse errors, NaN, the ``time`` parameter, form
POSTs and basic auth. Retries, 429 and timeouts are driven through the
simulator's faults. Without the binary the real-server tests skip, unless
``OKRSYNC_TEST_REQUIRE_PROMETHEUS=1`` (CI) turns that into a failure.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest

from connectors.prometheus.connector import (
    CONNECTOR,
    PrometheusQuery,
    PrometheusSettings,
    PrometheusSource,
    describe,
    render,
)
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.prometheus import (
    DEMO_PASSWORD,
    DEMO_USERNAME,
    LATENCY_MS_QUERY,
    LATENCY_QUERY,
    PROBES_QUERY,
    TIME_QUERY,
    UPTIME_QUERY,
    PrometheusSimulator,
    go_float,
    p95_latency_seconds,
)
from okrsync.demo.simulators.server import FakeServer, Fault, Response
from okrsync.demo.simulators.stats import UPTIME, metric_value
from okrsync.domain.cycle import Cycle
from okrsync.errors import (
    AuthError,
    ConfigError,
    MeasureError,
    QueryError,
    SourceDataError,
    TransientError,
)
from okrsync.sdk.connector import Reading, RenderContext
from okrsync.store.database import Store
from tests import prom_support
from tests.prom_support import PASSWORD, REQUESTS, USERNAME, RealPrometheus
from tests.support import FAST, Sleeps, measure_once, sync_now, write

CYCLE = Cycle.model_validate("2026-Q4")
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
TODAY = NOW.date()
STAMP = "2026-11-15T12:00:00Z"


def measure(
    url: str, promql: str, *, at: datetime = NOW, sleeps: Sleeps | None = None, **settings: Any
) -> Reading:
    config = PrometheusSettings.model_validate({"type": "prometheus", "url": url, **settings})
    query = render(PrometheusSource(connection="prom", promql=promql), RenderContext(CYCLE, at))

    return measure_once(CONNECTOR, config, query, sleeps)


def fails(url: str, promql: str, **kwargs: Any) -> MeasureError:
    with pytest.raises(MeasureError) as info:
        measure(url, promql, **kwargs)
    return info.value


# -- the simulator: requests, answers, faults ---------------------------------


@pytest.fixture
def sim() -> Iterator[PrometheusSimulator]:
    with PrometheusSimulator(today=lambda: TODAY) as server:
        yield server


def demo(sim: PrometheusSimulator, promql: str, **kwargs: Any) -> Reading:
    return measure(sim.url, promql, username=DEMO_USERNAME, password=DEMO_PASSWORD, **kwargs)


def demo_fails(sim: PrometheusSimulator, promql: str, **kwargs: Any) -> MeasureError:
    with pytest.raises(MeasureError) as info:
        demo(sim, promql, **kwargs)
    return info.value


def test_renders_and_describes_promql_its_own_way() -> None:
    assert (CONNECTOR.render, CONNECTOR.describe) == (render, describe)


def test_simulated_expressions_and_the_request_sent(sim: PrometheusSimulator) -> None:
    uptime = demo(sim, UPTIME_QUERY)
    latency = demo(sim, " ".join(LATENCY_QUERY.replace("(", "( ").split()))  # spacing is free
    assert uptime.value == metric_value(UPTIME, TODAY - timedelta(days=30), TODAY, TODAY)
    assert latency.value == p95_latency_seconds(TODAY)
    assert demo(sim, TIME_QUERY).value == NOW.timestamp()
    assert demo(sim, LATENCY_MS_QUERY).value == p95_latency_seconds(TODAY) * 1000
    first = sim.requests[0]
    assert (first.method, first.path) == ("GET", "/api/v1/query")
    assert first.query == {"query": UPTIME_QUERY, "time": STAMP}
    assert first.headers["authorization"].startswith("Basic ")
    assert first.headers["user-agent"].startswith("okrsync/")
    assert uptime.raw.startswith('{"status": "success", "data": {"resultType": "vector"')


def test_time_moves_the_simulated_values(sim: PrometheusSimulator) -> None:
    later = NOW + timedelta(days=40)
    assert demo(sim, LATENCY_QUERY, at=later).value == p95_latency_seconds(later.date())
    assert p95_latency_seconds(later.date()) < p95_latency_seconds(TODAY)
    assert sim.requests[0].query["time"] == "2026-12-25T12:00:00Z"


def test_long_query_is_a_form_post(sim: PrometheusSimulator) -> None:
    padded = UPTIME_QUERY.replace(" * ", " " * 2100 + "* ")
    assert demo(sim, padded).value == demo(sim, UPTIME_QUERY).value
    posted, got = sim.requests
    assert (posted.method, got.method) == ("POST", "GET")
    assert posted.headers["content-type"] == "application/x-www-form-urlencoded"
    assert posted.query == {}
    assert dict(httpx.QueryParams(posted.body.decode())) == {"query": padded, "time": STAMP}


def test_query_timeout_is_sent_as_seconds(sim: PrometheusSimulator) -> None:
    demo(sim, UPTIME_QUERY, query_timeout=12.5, timeout=20)
    assert sim.requests[0].query["timeout"] == "12.5"


def test_path_prefix_is_kept() -> None:
    with FakeServer() as srv:
        srv.route("GET", "/prom/api/v1/query", lambda _r: answer("scalar", [1, "4"]))
        assert measure(srv.url + "/prom", "x").value == 4.0


def test_bearer_token_for_a_proxy() -> None:
    with PrometheusSimulator(username=None, token="proxy-token-77af") as sim:
        assert measure(sim.url, UPTIME_QUERY, token="proxy-token-77af").value > 99
        assert sim.requests[0].headers["authorization"] == "Bearer proxy-token-77af"
        error = fails(sim.url, UPTIME_QUERY, token="wrong-token-x1")
    assert isinstance(error, AuthError)
    assert "the bearer token" in str(error)
    assert "wrong-token-x1" not in str(error)


def test_custom_headers_are_sent(sim: PrometheusSimulator) -> None:
    demo(sim, UPTIME_QUERY, headers={"X-Scope-OrgID": "tenant-1"})
    assert sim.requests[0].headers["x-scope-orgid"] == "tenant-1"


def test_wrong_password_is_auth_error_not_retried(sim: PrometheusSimulator) -> None:
    error = fails(sim.url, UPTIME_QUERY, username=DEMO_USERNAME, password="bad-password-42")
    assert isinstance(error, AuthError)
    assert str(error) == (
        "HTTP 401: Prometheus rejected basic auth for user 'okrsync' "
        "(GET /api/v1/query): Unauthorized"
    )
    assert len(sim.requests) == 1


def test_unknown_expression_is_query_error(sim: PrometheusSimulator) -> None:
    error = demo_fails(sim, "rate(okrsync_unknown_total[5m])")
    assert isinstance(error, QueryError)
    assert str(error).startswith('Prometheus bad_data: invalid parameter "query": ')
    assert "does not know this expression" in str(error)
    assert len(sim.requests) == 1


def test_multiple_simulated_series(sim: PrometheusSimulator) -> None:
    error = demo_fails(sim, PROBES_QUERY)
    assert isinstance(error, SourceDataError)
    assert 'probe_success{instance="https://api.example.com",job="api"}' in str(error)


def test_429_waits_retry_after(sim: PrometheusSimulator) -> None:
    sim.add_fault("/api/v1/query", Fault.status(429, headers={"Retry-After": "7"}))
    sleeps = Sleeps()
    reading = demo(sim, UPTIME_QUERY, sleeps=sleeps)
    assert (reading.calls, sleeps.waits, len(sim.requests)) == (2, [7.0], 2)


PROM_TIMEOUT = {
    "status": "error",
    "errorType": "timeout",
    "error": "query timed out in expression evaluation",
}


def test_evaluation_timeout_is_not_retried(sim: PrometheusSimulator) -> None:
    sim.add_fault("/api/v1/query", Fault.status(503, PROM_TIMEOUT), times=10)
    sleeps = Sleeps()
    error = demo_fails(sim, UPTIME_QUERY, sleeps=sleeps, retry={"attempts": 3})
    assert isinstance(error, QueryError)
    assert str(error) == (
        "Prometheus timeout: query timed out in expression evaluation "
        "(HTTP 503 from GET /api/v1/query); simplify the query or raise query_timeout"
    )
    assert (len(sim.requests), sleeps.waits) == (1, [])


def test_a_full_query_queue_is_retried(sim: PrometheusSimulator) -> None:
    queued = {**PROM_TIMEOUT, "error": "query timed out in query queue"}
    sim.add_fault("/api/v1/query", Fault.status(503, queued), times=10)
    sleeps = Sleeps()
    error = demo_fails(sim, UPTIME_QUERY, sleeps=sleeps, retry={"attempts": 3})
    assert isinstance(error, TransientError)
    assert "query timed out in query queue" in str(error)
    assert (len(sim.requests), len(sleeps.waits)) == (3, 2)


@pytest.mark.parametrize(
    ("status", "error_type", "kind"),
    [
        (400, "bad_data", QueryError),
        (422, "execution", QueryError),
        (404, "not_found", QueryError),
        (499, "canceled", TransientError),
        (500, "internal", TransientError),
        (503, "unavailable", TransientError),
    ],
)
def test_error_types(
    sim: PrometheusSimulator, status: int, error_type: str, kind: type[MeasureError]
) -> None:
    body = {"status": "error", "errorType": error_type, "error": f"said {error_type}"}
    sim.add_fault("/api/v1/query", Fault.status(status, body), times=2)
    error = demo_fails(sim, UPTIME_QUERY, retry={"attempts": 2})
    assert type(error) is kind
    assert str(error).startswith(f"Prometheus {error_type}: said {error_type} (HTTP {status}")
    assert len(sim.requests) == (2 if kind is TransientError else 1)


def test_proxy_502_page_uses_the_shared_table(sim: PrometheusSimulator) -> None:
    sim.add_fault("/api/v1/query", Fault.status(502, b"<html>Bad Gateway</html>"), times=2)
    error = demo_fails(sim, UPTIME_QUERY, retry={"attempts": 2})
    assert isinstance(error, TransientError)
    assert str(error) == "HTTP 502 from GET /api/v1/query: <html>Bad Gateway</html>"


def test_reset_then_success(sim: PrometheusSimulator) -> None:
    sim.add_fault("/api/v1/query", Fault.reset())
    assert demo(sim, UPTIME_QUERY).calls == 2


def test_hang_is_a_timeout(sim: PrometheusSimulator) -> None:
    sim.add_fault("/api/v1/query", Fault.hang(5), times=2)
    error = demo_fails(sim, UPTIME_QUERY, timeout=0.2, retry={"attempts": 2})
    assert isinstance(error, TransientError)
    assert str(error) == "GET /api/v1/query timed out after 0.2s"


# -- answers of every shape (canned, so they run without the binary) -----------


def answer(kind: str, result: Any, **extra: Any) -> Response:
    return Response.json(
        {"status": "success", "data": {"resultType": kind, "result": result}, **extra}
    )


def series(value: str, **labels: str) -> dict[str, Any]:
    return {"metric": labels, "value": [1795000000, value]}


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (answer("vector", []), f"no data: the query matched no series at {STAMP}"),
        (answer("vector", [series("NaN", job="a")]), '{job="a"} gave NaN, not a finite number'),
        (answer("scalar", [1, "+Inf"]), "scalar gave +Inf"),
        (answer("vector", [series("-Inf")]), "{} gave -Inf"),
        (answer("vector", [series("abc")]), '{} gave "abc", not a number'),
        (
            answer("vector", [series(str(i), __name__="up", i=str(i)) for i in range(5)]),
            'returned 5 series, expected one: up{i="0"}, up{i="1"}, up{i="2"}, …;',
        ),
        (
            answer("vector", [{"metric": {"__name__": "h"}, "histogram": [1, {}]}]),
            "h{} is a native histogram",
        ),
        (answer("matrix", [{"metric": {}, "values": [[1, "1"]]}]), "range vector (matrix)"),
        (answer("string", [1, "x"]), 'returned a string, not a number: "x"'),
        (answer("vector", [{"metric": {}, "value": [1, 2]}]), "{}: malformed sample [1, 2]"),
        (Response.json({"status": "error"}), 'not a Prometheus query answer: {"status": "error"}'),
        (Response(200, b"<html>login</html>"), "response is not JSON: <html>login</html>"),
    ],
)
def test_unusable_answers(body: Response, message: str) -> None:
    with FakeServer() as srv:
        srv.route("GET", "/api/v1/query", lambda _r: body)
        error = fails(srv.url, "x")
    assert isinstance(error, SourceDataError)
    assert message in str(error)


def test_warnings_are_kept_in_raw() -> None:
    labels = {f"label{i}": "v" * 30 for i in range(12)}  # a body longer than an excerpt
    warning = "remote read: partial response from store-eu"
    body = answer("vector", [series("1", **labels)], warnings=[warning])
    assert len(body.body) > 400
    with FakeServer() as srv:
        srv.route("GET", "/api/v1/query", lambda _r: body)
        reading = measure(srv.url, "x")
    assert reading.value == 1.0
    assert len(reading.raw) <= 300
    assert reading.raw.startswith(json.dumps({"warnings": [warning]})[:-1])


# -- the simulator conforms to Prometheus -------------------------------------


def raw_get(sim: PrometheusSimulator, **params: str) -> httpx.Response:
    auth = (DEMO_USERNAME, DEMO_PASSWORD)
    return httpx.get(sim.url + "/api/v1/query", params=params, auth=auth)


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({}, 'invalid parameter "query": 1:1: parse error: no expression found in input'),
        ({"query": "  "}, "no expression found in input"),
        ({"query": "up", "time": "yesterday"}, 'cannot parse "yesterday" to a valid timestamp'),
        ({"query": "up", "time": "2026-11-15"}, "to a valid timestamp"),
        ({"query": "up", "timeout": "1x"}, 'cannot parse "1x" to a valid duration'),
        ({"query": "sum("}, "does not know this expression"),
    ],
)
def test_simulator_rejects_what_prometheus_rejects(
    sim: PrometheusSimulator, params: dict[str, str], error: str
) -> None:
    response = raw_get(sim, **params)
    assert response.status_code == 400
    body = response.json()
    assert (body["status"], body["errorType"]) == ("error", "bad_data")
    assert error in body["error"]


def test_simulator_answer_shape(sim: PrometheusSimulator) -> None:
    response = raw_get(sim, query=UPTIME_QUERY, time="1795000000.5", timeout="2m")
    assert response.headers["content-type"] == "application/json"
    [sample] = response.json()["data"]["result"]
    assert sample["metric"] == {"instance": "https://www.example.com", "job": "website"}
    assert sample["value"][0] == 1795000000.5
    assert isinstance(sample["value"][1], str)
    nano = raw_get(sim, query=TIME_QUERY, time="2026-11-15T12:00:00.123456789+01:00").json()
    at = datetime(2026, 11, 15, 11, 0, tzinfo=UTC).timestamp()
    assert nano["data"] == {"resultType": "scalar", "result": [at + 0.123, f"{at:.0f}.123456"]}


def test_simulator_http_conformance(sim: PrometheusSimulator) -> None:
    anonymous = httpx.get(sim.url + "/api/v1/query", params={"query": "up"})
    assert (anonymous.status_code, anonymous.text) == (401, "Unauthorized\n")
    assert anonymous.headers["www-authenticate"] == "Basic"
    auth = (DEMO_USERNAME, DEMO_PASSWORD)
    put = httpx.put(sim.url + "/api/v1/query", auth=auth)
    assert (put.status_code, put.headers["allow"]) == (405, "GET, OPTIONS, POST")
    as_json = httpx.post(sim.url + "/api/v1/query", json={"query": UPTIME_QUERY}, auth=auth)
    assert as_json.status_code == 400  # Prometheus reads form bodies only
    form = httpx.post(sim.url + "/api/v1/query?query=nope", data={"query": TIME_QUERY}, auth=auth)
    assert form.json()["data"]["resultType"] == "scalar"  # the body wins over the URL


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (99.75, "99.75"),
        (1.0, "1"),
        (100.0, "100"),
        (1e-05, "0.00001"),
        (1e16, "10000000000000000"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
    ],
)
def test_go_float(value: float, text: str) -> None:
    assert go_float(value) == text


# -- models, render, describe ---------------------------------------------------


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({}, "url"),
        ({"url": "prometheus:9090"}, "must start with http:// or https://"),
        ({"url": "https://u:p@prom.example.com"}, "not in the url"),
        ({"url": "https://p.example.com", "username": "a"}, "needs both username and password"),
        ({"url": "https://p.example.com", "password": "b"}, "needs both username and password"),
        (
            {"url": "https://p.example.com", "username": "a", "password": "b", "token": "t"},
            "either token (Bearer) or username + password (Basic), not both",
        ),
        (
            {"url": "https://p.example.com", "token": "t", "headers": {"authorization": "x"}},
            "Authorization header and token/username clash",
        ),
        (
            {"url": "https://p.example.com", "query_timeout": 30},
            "query_timeout (30s) must be shorter than timeout (30s)",
        ),
        ({"url": "https://p.example.com", "bearer": "t"}, "Extra inputs"),
    ],
)
def test_settings_validation(settings: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        PrometheusSettings.model_validate({"type": "prometheus", **settings})
    assert message in str(info.value)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"promql": "increase(x[90d] @ {cycle.end})"}, "{cycle.start}/{cycle.end} cannot be used"),
        ({"promql": "x and {as_of}"}, "{as_of} is not written in PromQL"),
        ({"promql": ""}, "at least 1 character"),
        ({"promql": "  \n"}, "promql is empty"),
        ({"promql": "up", "time": STAMP}, "Extra inputs"),
        ({}, "promql"),
    ],
)
def test_source_validation(source: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        PrometheusSource.model_validate({"connection": "prom", **source})
    assert message in str(info.value)


def test_label_matchers_are_not_placeholders() -> None:
    promql = 'sum by (code) (rate(http_requests_total{job="api",code=~"5.."}[5m]))'
    assert PrometheusSource(connection="p", promql=promql).promql == promql


def test_render_pins_the_instant_and_deduplicates() -> None:
    source = PrometheusSource(connection="p", promql="up")
    a = render(source, RenderContext(CYCLE, NOW.replace(microsecond=417)))
    b = render(source, RenderContext(CYCLE, NOW.replace(tzinfo=None)))  # naive: UTC
    c = render(source, RenderContext(CYCLE, NOW.astimezone(timezone(timedelta(hours=1)))))
    assert isinstance(a, PrometheusQuery)
    assert a.time == NOW
    assert a.model_dump_json() == b.model_dump_json() == c.model_dump_json()
    assert describe(a) == f"PromQL at {STAMP}: up"
    multi = PrometheusSource(connection="p", promql="sum(\n  up\n)")
    assert describe(render(multi, RenderContext(CYCLE, NOW))) == f"PromQL at {STAMP}: sum( up )"
    assert describe(source) == "PromQL at now: up"


# -- whole syncs into a real store -----------------------------------------------


def kr(kr_id: str, promql: str, *, maintain: bool = False) -> str:
    goal = (
        "type: maintain\n        target: 99.5" if maintain else "start: 0.45\n        target: 0.25"
    )
    return (
        f"      - id: {kr_id}\n        title: {kr_id}\n        owner: o@example.com\n"
        f"        {goal}\n        source:\n          connection: prom\n"
        f"          promql: {json.dumps(promql)}\n"
    )


def setup(tmp_path: Path, url: str, krs: list[str], **secrets: str) -> loader.Config:
    connections = (
        f"connections:\n  prom:\n    type: prometheus\n    url: {url}\n"
        f"    username: {secrets.pop('username', DEMO_USERNAME)}\n"
        "    password: ${PROM_PASSWORD}\n"
    )
    okrs = "cycle: 2026-Q4\nobjectives:\n  - id: obj\n    title: Objective\n    key_results:\n"
    directory = write(
        tmp_path / "m", {"connections.yaml": connections, "okrs.yaml": okrs + "".join(krs)}
    )
    return loader.load(
        directory, Registry.default(), environ={"PROM_PASSWORD": secrets["password"]}
    )


def test_sync_stores_values_and_keeps_the_last_good_one(
    sim: PrometheusSimulator, tmp_path: Path
) -> None:
    krs = [
        kr("uptime", UPTIME_QUERY, maintain=True),
        kr("uptime-again", UPTIME_QUERY.replace(" ", ""), maintain=True),
        kr("latency", LATENCY_QUERY),
        kr("unknown", "rate(nope_total[5m])"),
        kr("probes", PROBES_QUERY, maintain=True),
    ]
    config = setup(tmp_path, sim.url, krs, password=DEMO_PASSWORD)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        first = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
        assert (first["uptime"].status, first["latency"].status) == ("ok", "ok")
        assert first["uptime"].value == metric_value(
            UPTIME, TODAY - timedelta(days=30), TODAY, TODAY
        )
        assert first["latency"].value == p95_latency_seconds(TODAY)
        assert first["uptime-again"].value == first["uptime"].value
        assert first["uptime"].query == f"PromQL at {STAMP}: {UPTIME_QUERY}"
        assert first["unknown"].error_kind == "query"
        assert "does not know this expression" in (first["unknown"].error or "")
        assert first["probes"].error_kind == "source_data"
        assert (first["probes"].error or "").startswith(
            "connection 'prom': the query returned 2 series"
        )
        assert len(sim.requests) == 5  # the two spellings of the uptime query differ as text

        sim.add_fault("/api/v1/query", Fault.status(503, PROM_TIMEOUT), times=50)
        later = NOW + timedelta(hours=2)
        second = {r.kr_id: r for r in sync_now(config, store, now=later, runtime=FAST).records}
        state = store.state("uptime")
    assert second["uptime"].status == "error"
    assert second["uptime"].error_kind == "query"  # not retried: it would time out again
    assert "query timed out in expression evaluation" in (second["uptime"].error or "")
    assert state is not None
    assert (state.value, state.measured_at) == (first["uptime"].value, NOW)


def test_identical_queries_are_asked_once(sim: PrometheusSimulator, tmp_path: Path) -> None:
    krs = [kr(f"u{i}", UPTIME_QUERY, maintain=True) for i in range(4)]
    config = setup(tmp_path, sim.url, krs, password=DEMO_PASSWORD)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        result = sync_now(config, store, now=NOW, runtime=FAST)
    assert result.failed == []
    assert len(sim.requests) == 1


def test_wrong_password_in_a_sync_never_shows_the_secret(
    sim: PrometheusSimulator, tmp_path: Path
) -> None:
    secret = "not-the-demo-password-8812"
    config = setup(tmp_path, sim.url, [kr("uptime", UPTIME_QUERY, maintain=True)], password=secret)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        [record] = sync_now(config, store, now=NOW, runtime=FAST).records
    assert (record.status, record.error_kind) == ("error", "auth")
    assert (record.error or "").startswith("connection 'prom': HTTP 401: Prometheus rejected")
    assert secret not in (record.error or "") + (record.raw or "")


def test_cycle_placeholder_is_a_config_error_with_its_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        setup(
            tmp_path,
            "http://127.0.0.1:9",
            [kr("x", "increase(x[1d] @ {cycle.start})")],
            password="p",
        )
    [problem] = info.value.problems
    assert problem.file.endswith("okrs.yaml")
    assert problem.line is not None
    assert "write the window as a range in the query" in problem.message


# -- the real server (last: it warms up meanwhile) -----------------------------------------------------------


@pytest.fixture(scope="module", autouse=True)
def launched(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RealPrometheus | None]:
    """Started with the module and left to warm up while the simulator tests run first."""
    executable = prom_support.binary()
    if executable is None:
        yield None
        return
    server = RealPrometheus(executable, tmp_path_factory.mktemp("prometheus"))
    try:
        yield server.launch()
    finally:
        server.stop()


@pytest.fixture(scope="module")
def prom(launched: RealPrometheus | None) -> RealPrometheus:
    if launched is None:
        why = "no prometheus binary on PATH or at /usr/bin/prometheus (apt-get install prometheus)"
        if os.environ.get(prom_support.REQUIRE_ENV) == "1":
            pytest.fail(f"{why}, and {prom_support.REQUIRE_ENV}=1 requires it")
        pytest.skip(why)
    return launched.ready()


def real(prom: RealPrometheus, promql: str, **kwargs: Any) -> Reading:
    kwargs.setdefault("at", datetime.now(UTC))
    return measure(prom.url, promql, username=USERNAME, password=PASSWORD, **kwargs)


def real_fails(prom: RealPrometheus, promql: str, **kwargs: Any) -> MeasureError:
    with pytest.raises(MeasureError) as info:
        real(prom, promql, **kwargs)
    return info.value


@pytest.mark.parametrize(
    ("promql", "expected"),
    [
        ("okrsync_test_uptime_ratio", prom_support.UPTIME),
        ("okrsync_test_uptime_ratio * 100", prom_support.UPTIME * 100),
        ("sum(okrsync_test_requests_total)", sum(REQUESTS.values())),
        ('okrsync_test_requests_total{code="500"}', REQUESTS["500"]),
        ("scalar(okrsync_test_uptime_ratio)", prom_support.UPTIME),  # resultType scalar
        (f'count(up{{job="{prom_support.JOB}"}} == 1)', 1),
    ],
)
def test_real_server_answers(prom: RealPrometheus, promql: str, expected: float) -> None:
    reading = real(prom, promql)
    assert reading.value == pytest.approx(expected)
    assert reading.calls == 1
    assert reading.raw.startswith('{"status":"success"')


def test_real_two_series_are_listed(prom: RealPrometheus) -> None:
    error = real_fails(prom, "okrsync_test_requests_total")
    assert isinstance(error, SourceDataError)
    assert str(error).startswith("the query returned 2 series, expected one: ")
    labels = f'instance="{prom.target}",job="{prom_support.JOB}"'
    assert f'okrsync_test_requests_total{{code="200",{labels}}}' in str(error)
    assert f'okrsync_test_requests_total{{code="500",{labels}}}' in str(error)


def test_real_empty_result_is_no_data(prom: RealPrometheus) -> None:
    at = datetime.now(UTC).replace(microsecond=0)
    error = real_fails(prom, "okrsync_test_no_such_metric", at=at)
    assert isinstance(error, SourceDataError)
    assert str(error) == (
        f"no data: the query matched no series at {at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


def test_real_time_parameter_evaluates_the_past(prom: RealPrometheus) -> None:
    before = prom.started_at - timedelta(hours=1)  # before the exporter was ever scraped
    error = real_fails(prom, "okrsync_test_uptime_ratio", at=before)
    assert isinstance(error, SourceDataError)
    assert "no data" in str(error)
    assert real(prom, "okrsync_test_uptime_ratio").value == prom_support.UPTIME
    at = datetime.now(UTC)
    assert real(prom, TIME_QUERY, at=at).value == int(at.timestamp())  # evaluated at `time`


def test_real_parse_error_is_query_error_with_prometheus_text(prom: RealPrometheus) -> None:
    error = real_fails(prom, "sum(okrsync_test_uptime_ratio")
    assert isinstance(error, QueryError)
    assert str(error).startswith('Prometheus bad_data: invalid parameter "query": ')
    assert "parse error" in str(error)
    assert str(error).endswith("(HTTP 400 from GET /api/v1/query)")


def test_real_execution_error_is_query_error(prom: RealPrometheus) -> None:
    error = real_fails(prom, "okrsync_test_requests_total + on() okrsync_test_requests_total")
    assert isinstance(error, QueryError)
    assert str(error).startswith("Prometheus execution: ")
    assert "many-to-many matching not allowed" in str(error)
    assert "HTTP 422" in str(error)


@pytest.mark.parametrize(
    ("promql", "message"),
    [
        ("0/0", "scalar gave NaN, not a finite number"),
        ("vector(1)/0", "{} gave +Inf, not a finite number"),
        ("-vector(1)/0", "gave -Inf"),
        ("okrsync_test_uptime_ratio[5s]", "range vector (matrix)"),
        ('"hello"', 'returned a string, not a number: "hello"'),
    ],
)
def test_real_unusable_answers(prom: RealPrometheus, promql: str, message: str) -> None:
    error = real_fails(prom, promql)
    assert isinstance(error, SourceDataError)
    assert message in str(error)


def test_real_long_query_is_posted_as_a_form(prom: RealPrometheus) -> None:
    promql = "okrsync_test_uptime_ratio" + " + 0" * 600  # > 2000 characters
    assert real(prom, promql).value == prom_support.UPTIME


def test_real_query_timeout_is_accepted(prom: RealPrometheus) -> None:
    reading = real(prom, "okrsync_test_uptime_ratio", query_timeout=5, timeout=10)
    assert reading.value == prom_support.UPTIME


@pytest.mark.parametrize(
    ("credentials", "named"),
    [
        ({"username": USERNAME, "password": "wrong-password-931"}, "basic auth for user 'okrsync'"),
        ({}, "no credentials sent"),
        ({"token": "wrong-token-5531"}, "the bearer token"),
    ],
)
def test_real_basic_auth_is_enforced(
    prom: RealPrometheus, credentials: dict[str, str], named: str
) -> None:
    error = fails(prom.url, "okrsync_test_uptime_ratio", at=datetime.now(UTC), **credentials)
    assert isinstance(error, AuthError)
    assert str(error).startswith("HTTP 401: Prometheus rejected ")
    assert named in str(error)
    assert "Unauthorized" in str(error)
    assert "wrong-" not in str(error)


def test_real_sync_stores_the_value(prom: RealPrometheus, tmp_path: Path) -> None:
    now = datetime.now(UTC)
    krs = [kr("real-uptime", "okrsync_test_uptime_ratio * 100", maintain=True)]
    config = setup(tmp_path, prom.url, krs, password=PASSWORD, username=USERNAME)
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        result = sync_now(config, store, now=now, runtime=FAST)
        state = store.state("real-uptime")
    assert result.failed == []
    assert state is not None
    assert state.value == pytest.approx(99.75)
    assert state.query == f"PromQL at {now.strftime('%Y-%m-%dT%H:%M:%SZ')}: " + (
        "okrsync_test_uptime_ratio * 100"
    )
