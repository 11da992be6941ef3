"""The http connector and shared HTTP client over real HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import ssl
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pydantic
import pytest
import trustme

from connectors.http import CONNECTOR, HttpSettings, HttpSource, describe
from okrsync.demo.simulators import FakeServer, Fault, Request, Response, StatsSimulator
from okrsync.demo.simulators.stats import metric_value
from okrsync.errors import AuthError, MeasureError, QueryError, SourceDataError, TransientError
from okrsync.sdk.connector import Reading
from okrsync.sdk.http import error_class
from okrsync.sdk.tls import ssl_context
from tests.support import Sleeps, measure_once


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as srv:
        yield srv


def serve(srv: FakeServer, body: Any, status: int = 200) -> None:
    """Answer GET and POST /doc with ``body`` (bytes as-is, else JSON)."""
    raw = body if isinstance(body, bytes) else json.dumps(body).encode()
    for method in ("GET", "POST"):
        srv.route(method, "/doc", lambda _r: Response(status, raw))


def measure(
    url: str, source: dict[str, Any], sleeps: Sleeps | None = None, **settings: Any
) -> Reading:
    config = HttpSettings.model_validate({"type": "http", "url": url, **settings})
    query = HttpSource.model_validate({"connection": "api", **source})

    return measure_once(CONNECTOR, config, query, sleeps)


def fails(url: str, source: dict[str, Any], **settings: Any) -> MeasureError:
    with pytest.raises(MeasureError) as info:
        measure(url, source, **settings)
    return info.value


@pytest.mark.parametrize(
    ("body", "path", "expected"),
    [
        ({"data": {"total": 42}}, "$.data.total", 42.0),
        ({"v": 2.5}, "$.v", 2.5),
        ({"v": " 17.5 "}, "$.v", 17.5),
        ({"v": True}, "$.v", True),
        ({"v": False}, "$.v", False),
        ({"a": {"b": [{"c": 1}, {"c": 3}]}}, "$.a.b[1].c", 3.0),
        ({"items": [{"k": "x", "n": 7}, {"k": "y", "n": 8}]}, "$.items[?(@.k=='y')].n", 8.0),
    ],
)
def test_reads_one_value(server: FakeServer, body: Any, path: str, expected: Any) -> None:
    serve(server, body)
    reading = measure(server.url, {"path": "/doc", "value": path})
    assert reading.value == expected
    assert type(reading.value) is type(expected)
    assert reading.calls == 1
    assert reading.raw == json.dumps(body)


def test_post_sends_json_body(server: FakeServer) -> None:
    server.route("POST", "/q", lambda r: Response.json({"n": r.json()["n"] * 2}))
    body = {"n": 21, "filters": ["a"]}
    reading = measure(server.url, {"path": "/q", "method": "POST", "body": body, "value": "$.n"})
    assert reading.value == 42.0
    (sent,) = server.requests
    assert (sent.method, json.loads(sent.body)) == ("POST", body)
    assert sent.headers["content-type"] == "application/json"


def test_path_joins_base_url_and_keeps_query(server: FakeServer) -> None:
    server.route("GET", "/base/api/x", lambda r: Response.json({"q": float(r.query["n"])}))
    reading = measure(server.url + "/base", {"path": "/api/x?n=5", "value": "$.q"})
    assert reading.value == 5.0


def test_against_stats_simulator_with_auth_header() -> None:
    today = date(2026, 11, 15)
    with StatsSimulator(token="t0ken", today=lambda: today) as sim:
        path = "/api/v1/metrics/annual_revenue?from=2026-10-01&to=2026-12-31"
        headers = {"Authorization": "Bearer t0ken"}
        reading = measure(sim.url, {"path": path, "value": "$.data.value"}, headers=headers)
        milestone = measure(
            sim.url, {"path": "/api/v1/milestones/beta-program", "value": "$.done"}, headers=headers
        )
        sent = sim.requests[0].headers
    assert reading.value == metric_value(
        "annual_revenue", date(2026, 10, 1), date(2026, 12, 31), today
    )
    assert milestone.value is True
    assert sent["authorization"] == "Bearer t0ken"
    assert sent["user-agent"].startswith("okrsync/")


def test_wrong_token_is_auth_error() -> None:
    with StatsSimulator() as sim:
        error = fails(
            sim.url,
            {"path": "/api/v1/milestones/launch-2.0", "value": "$.done"},
            headers={"Authorization": "Bearer wrong-secret"},
        )
        assert len(sim.requests) == 1  # not retried
    assert isinstance(error, AuthError)
    assert str(error).startswith("HTTP 401: credentials rejected")
    assert "invalid or missing API token" in str(error)
    assert "wrong-secret" not in str(error)


TABLE = [
    (401, AuthError),
    (403, AuthError),
    (400, QueryError),
    (404, QueryError),
    (405, QueryError),
    (422, QueryError),
    (418, QueryError),
    (302, QueryError),
    (408, TransientError),
    (425, TransientError),
    (429, TransientError),
    (500, TransientError),
    (502, TransientError),
    (503, TransientError),
    (504, TransientError),
]


@pytest.mark.parametrize(("status", "kind"), TABLE)
def test_status_table(server: FakeServer, status: int, kind: type[MeasureError]) -> None:
    assert error_class(status) is kind
    serve(server, {"error": "nope"}, status=status)
    error = fails(
        server.url,
        {"path": "/doc?api_key=QUERYSECRET", "value": "$.x"},
        headers={"X-Api-Key": "HEADERSECRET"},
        retry={"attempts": 2},
    )
    assert type(error) is kind
    assert f"HTTP {status}" in str(error)
    assert "nope" in str(error)  # the body excerpt
    assert "/doc" in str(error)
    assert "SECRET" not in str(error)
    assert len(server.requests) == (2 if kind is TransientError else 1)


def test_success_status_needs_no_error() -> None:
    assert error_class(200) is None
    assert error_class(204) is None


@pytest.mark.parametrize(
    ("body", "path", "message"),
    [
        (b"<html>oops</html>", "$.v", "response is not JSON: <html>oops</html>"),
        (b"", "$.v", "response is not JSON"),
        ({"a": 1}, "$.v", "JSONPath $.v matched nothing"),
        ({"xs": [1, 2, 3]}, "$.xs[*]", "JSONPath $.xs[*] matched 3 values"),
        ({"v": "n/a"}, "$.v", 'gave "n/a", not a number'),
        (b'{"v": NaN}', "$.v", "gave NaN, not a finite number"),
        ({"v": "inf"}, "$.v", "not a finite number"),
        ({"v": None}, "$.v", "gave null, not a number"),
        ({"v": {"x": 1}}, "$.v", "not a number"),
        ({"v": [1]}, "$.v", "not a number"),
        ({"v": int("9" * 400)}, "$.v", "not a number"),
    ],
)
def test_unusable_answers(server: FakeServer, body: Any, path: str, message: str) -> None:
    serve(server, body)
    error = fails(server.url, {"path": "/doc", "value": path})
    assert isinstance(error, SourceDataError)
    assert message in str(error)
    assert len(server.requests) == 1


def test_error_excerpt_is_short(server: FakeServer) -> None:
    serve(server, b"x" * 5000, status=400)
    error = fails(server.url, {"path": "/doc", "value": "$.v"})
    assert len(str(error)) < 400


def test_retry_after_is_honoured(server: FakeServer) -> None:
    serve(server, {"v": 1})
    server.add_fault("/doc", Fault.status(429, headers={"Retry-After": "7"}))
    sleeps = Sleeps()
    reading = measure(server.url, {"path": "/doc", "value": "$.v"}, sleeps)
    assert reading.value == 1.0
    assert reading.calls == 2
    assert sleeps.waits == [7.0]
    assert len(server.requests) == 2


def test_503_storm_exhausts_attempts(server: FakeServer) -> None:
    serve(server, {"v": 1})
    server.add_fault("/doc", Fault.status(503), times=10)
    sleeps = Sleeps()
    error = fails(
        server.url, {"path": "/doc", "value": "$.v"}, sleeps=sleeps, retry={"attempts": 3}
    )
    assert isinstance(error, TransientError)
    assert len(server.requests) == 3
    assert len(sleeps.waits) == 2


def test_connection_reset_then_success(server: FakeServer) -> None:
    serve(server, {"v": 5})
    server.add_fault("/doc", Fault.reset())
    reading = measure(server.url, {"path": "/doc", "value": "$.v"})
    assert (reading.value, reading.calls) == (5.0, 2)


def test_reset_every_time_is_transient(server: FakeServer) -> None:
    server.add_fault("/doc", Fault.reset(), times=2)
    error = fails(server.url, {"path": "/doc", "value": "$.v"}, retry={"attempts": 2})
    assert isinstance(error, TransientError)
    assert "Connection reset" in str(error) or "disconnected" in str(error)


def test_timeout_is_transient(server: FakeServer) -> None:
    server.add_fault("/doc", Fault.hang(5), times=2)
    error = fails(server.url, {"path": "/doc", "value": "$.v"}, timeout=0.2, retry={"attempts": 2})
    assert isinstance(error, TransientError)
    assert str(error) == "GET /doc timed out after 0.2s"
    assert len(server.requests) == 2


def test_connection_refused_is_transient() -> None:
    with FakeServer() as srv:
        url = srv.url
    error = fails(url, {"path": "/doc", "value": "$.v"}, retry={"attempts": 1})
    assert isinstance(error, TransientError)
    assert "ConnectError" in str(error)


# -- TLS ---------------------------------------------------------------------


@pytest.fixture
def tls_server(tmp_path: Path) -> Iterator[tuple[FakeServer, Path]]:
    ca = trustme.CA()
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(context)
    ca_file = tmp_path / "ca.pem"
    ca.cert_pem.write_to_path(str(ca_file))
    with FakeServer(tls=context) as srv:
        serve(srv, {"v": 3})
        yield srv, ca_file


def test_ca_bundle_trusts_private_ca(tls_server: tuple[FakeServer, Path]) -> None:
    srv, ca_file = tls_server
    assert srv.url.startswith("https://")
    reading = measure(srv.url, {"path": "/doc", "value": "$.v"}, ca_bundle=str(ca_file))
    assert reading.value == 3.0


def test_untrusted_certificate_says_so(
    tls_server: tuple[FakeServer, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    srv, _ = tls_server
    monkeypatch.delenv("SSL_CERT_FILE", raising=False)
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    error = fails(srv.url, {"path": "/doc", "value": "$.v"}, retry={"attempts": 1})
    assert isinstance(error, TransientError)
    assert "TLS certificate not trusted" in str(error)
    assert "ca_bundle" in str(error)


@pytest.mark.parametrize("var", ["SSL_CERT_FILE", "REQUESTS_CA_BUNDLE"])
def test_env_bundles_are_trusted(
    tls_server: tuple[FakeServer, Path], monkeypatch: pytest.MonkeyPatch, var: str
) -> None:
    srv, ca_file = tls_server
    monkeypatch.setenv(var, str(ca_file))
    assert measure(srv.url, {"path": "/doc", "value": "$.v"}).value == 3.0


def test_missing_env_bundle_is_ignored(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(tmp_path / "gone.pem"))
    assert isinstance(ssl_context(None), ssl.SSLContext)


def test_bad_ca_bundle_is_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="no such file"):
        ssl_context(tmp_path / "missing.pem")
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="not a readable PEM"):
        ssl_context(junk)


# -- models ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"path": "/x", "value": "$.a["}, "invalid JSONPath"),
        ({"path": "/x", "value": ""}, "invalid JSONPath"),
        ({"path": "https://elsewhere.example/x", "value": "$.a"}, "not a full URL"),
        ({"path": "//elsewhere.example/x", "value": "$.a"}, "not a full URL"),
        ({"path": "/x", "value": "$.a", "method": "PUT"}, "method"),
        ({"path": "/x", "value": "$.a", "extra": 1}, "extra"),
    ],
)
def test_source_validation(source: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        HttpSource.model_validate({"connection": "api", **source})


@pytest.mark.parametrize(
    "settings",
    [
        {"type": "http"},
        {"type": "http", "url": "ftp://example.com"},
        {"type": "http", "url": "example.com/api"},
        {"type": "jira", "url": "https://example.com"},
    ],
)
def test_settings_validation(settings: dict[str, Any]) -> None:
    with pytest.raises(pydantic.ValidationError):
        HttpSettings.model_validate(settings)


def test_describe() -> None:
    get = HttpSource(connection="a", path="/api/x?from=2026-10-01", value="$.data.total")
    assert describe(get) == "GET /api/x?from=2026-10-01 → $.data.total"
    post = HttpSource(connection="a", path="/q", value="$.n", method="POST", body={"k": 1})
    assert describe(post) == 'POST /q {"k": 1} → $.n'


def test_request_log_sees_retries(server: FakeServer) -> None:
    seen: list[Request] = []

    def handler(request: Request) -> Response:
        seen.append(request)
        return Response.json({"v": len(seen)})

    server.route("GET", "/doc", handler)
    server.add_fault("/doc", Fault.status(502))
    reading = measure(server.url, {"path": "/doc", "value": "$.v"})
    assert (reading.value, reading.calls, len(server.requests), len(seen)) == (1.0, 2, 2, 1)


def test_a_retry_after_longer_than_max_wait_is_left_for_the_next_sync(server: FakeServer) -> None:
    serve(server, {"v": 1})
    server.add_fault("/doc", Fault.status(429, headers={"Retry-After": "120"}))
    sleeps = Sleeps()
    error = fails(server.url, {"path": "/doc", "value": "$.v"}, sleeps=sleeps)
    assert isinstance(error, TransientError)
    assert "asked to wait 120s, longer than retry.max_wait 30s: left for the next sync" in str(
        error
    )
    assert (sleeps.waits, len(server.requests)) == ([], 1)  # not back before it was told


def test_credentials_in_a_url_are_refused_without_echoing_them() -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        HttpSettings.model_validate({"type": "http", "url": "ftp://bob:hunter22@host/x"})
    # As the loader reports it: messages only, never the input (include_input=False).
    messages = " ".join(e["msg"] for e in info.value.errors(include_input=False))
    assert "not in the url" in messages
    assert "hunter22" not in messages


# -- answers that must not hang, bloat or crash a sync (#16) -------------------


def test_json_nested_100000_deep_is_a_data_error(server: FakeServer) -> None:
    serve(server, b"[" * 100_000 + b"]" * 100_000)
    error = fails(server.url, {"path": "/doc", "value": "$.v"})
    assert isinstance(error, SourceDataError)
    assert str(error).startswith("response is nested too deeply to read: [[[")
    assert len(server.requests) == 1  # not retried


def test_a_redirect_to_an_unusable_location_is_a_query_error(server: FakeServer) -> None:
    location = f"http:%2F%2F127.0.0.1:{server.port}%2Fok"
    server.route("GET", "/doc", lambda _r: Response(302, b"", {"Location": location}))
    error = fails(server.url, {"path": "/doc", "value": "$.v"})
    assert isinstance(error, QueryError)
    assert str(error).startswith("GET /doc answered a redirect to an unusable address")
    assert "set url to the final address" in str(error)


def test_an_answer_over_the_default_limit_is_refused_unread_and_not_retried(
    server: FakeServer,
) -> None:
    serve(server, b'{"v": 1, "pad": "' + b"x" * (10 * 1024 * 1024) + b'"}')
    error = fails(server.url, {"path": "/doc", "value": "$.v"})
    assert isinstance(error, SourceDataError)
    assert str(error) == (
        "GET /doc: the answer is larger than 10,485,760 bytes (max_response_bytes); "
        "not read further"
    )
    assert len(server.requests) == 1


def test_max_response_bytes_bounds_the_decoded_body(server: FakeServer) -> None:
    """A gzip bomb: 20 kB on the wire, 20 MB decoded; the read stops at the limit."""
    import gzip

    bomb = gzip.compress(b'{"v": 1, "pad": "' + b"0" * 20_000_000 + b'"}')
    assert len(bomb) < 100_000
    headers = {"Content-Encoding": "gzip", "Content-Type": "application/json"}
    server.route("GET", "/doc", lambda _r: Response(200, bomb, headers))
    error = fails(server.url, {"path": "/doc", "value": "$.v"}, max_response_bytes=1_000_000)
    assert isinstance(error, SourceDataError)
    assert "larger than 1,000,000 bytes" in str(error)
    small = Response.json({"v": 3, "pad": "x" * 900})  # under a small limit: read as usual
    server.route("GET", "/small", lambda _r: small)
    reading = measure(server.url, {"path": "/small", "value": "$.v"}, max_response_bytes=1000)
    assert reading.value == 3


def test_an_error_body_over_the_limit_is_cut_not_refused(server: FakeServer) -> None:
    serve(server, b"x" * 5000, status=503)
    error = fails(server.url, {"path": "/doc", "value": "$.v"}, max_response_bytes=100)
    assert isinstance(error, TransientError)
    assert str(error) == "HTTP 503 from GET /doc: " + "x" * 100


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ('$.items[?(@.a =~ "(a+)+$")].v', r"regular-expression filters \(=~\) are not supported"),
        ('$.items[?(@.k == "x" && @.a =~ "a")].v', "regular-expression filters"),
        ("$.a.`sub(/(a+)+$/, b)`", "sub"),
        ("$..*..*..*", r"at most one recursive descent \(\.\.\)"),
        ("$..a..b", "at most one recursive descent"),
    ],
)
def test_jsonpaths_of_unbounded_cost_are_refused(value: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        HttpSource.model_validate({"connection": "api", "path": "/x", "value": value})


def test_one_recursive_descent_and_plain_filters_still_work(server: FakeServer) -> None:
    serve(server, {"items": [{"k": "x", "n": 7}, {"k": "y", "n": 8}], "deep": {"a": {"total": 4}}})
    assert measure(server.url, {"path": "/doc", "value": "$..total"}).value == 4.0
    assert measure(server.url, {"path": "/doc", "value": "$.items[?(@.n > 7)].n"}).value == 8.0


def test_a_slow_jsonpath_is_given_up_after_the_timeout_without_blocking(
    server: FakeServer,
) -> None:
    """``$..n`` over 150,000 objects takes seconds in jsonpath-ng; the loop waits 0.3 s."""
    import time

    serve(server, {"rows": [{"n": i} for i in range(150_000)]})
    started = time.perf_counter()
    error = fails(server.url, {"path": "/doc", "value": "$..n"}, timeout=0.3)
    elapsed = time.perf_counter() - started
    assert isinstance(error, SourceDataError)
    assert str(error) == "JSONPath $..n took longer than 0.3s (the connection's timeout); given up"
    assert elapsed < 1.5
