"""The salesforce connector: real simple-salesforce against the simulator, over real TLS."""

from __future__ import annotations

import asyncio
import json
import ssl
import subprocess
import sys
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pydantic
import pytest
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from connectors.salesforce.connector import (
    CONNECTOR,
    SalesforceConnection,
    SalesforceSettings,
    SalesforceSource,
    describe,
)
from okrsync.demo.simulators import Fault
from okrsync.demo.simulators.salesforce import (
    DEMO_CONSUMER_KEY,
    DEMO_CONSUMER_SECRET,
    DEMO_PASSWORD,
    DEMO_SECURITY_TOKEN,
    DEMO_USERNAME,
    REPORT_ID,
    SalesforceSimulator,
    SoqlError,
    start_demo,
)
from okrsync.domain.cycle import Cycle
from okrsync.errors import (
    AuthError,
    MeasureError,
    QueryError,
    QuotaError,
    SourceDataError,
    TransientError,
)
from okrsync.sdk.connector import Reading, RenderContext
from okrsync.testing.harness import Harness
from tests.support import EXAMPLES, NOW, Sleeps

T = TypeVar("T")
TODAY = date(2026, 11, 15)
HARNESS = Harness(CONNECTOR, RenderContext(Cycle.model_validate("2026-Q4"), NOW), "sf")
PASSWORD_LOGIN = {
    "username": DEMO_USERNAME,
    "password": DEMO_PASSWORD,
    "security_token": DEMO_SECURITY_TOKEN,
}
JWT_KEY = "3MVG9jwt.test.app"
WON_Q4 = "IsWon = true AND CloseDate >= 2026-10-01 AND CloseDate <= 2026-12-31"


@pytest.fixture(scope="module")
def rsa_pem() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


@pytest.fixture(scope="module")
def org(rsa_pem: tuple[bytes, bytes]) -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(today=lambda: TODAY) as simulator:
        simulator.add_app(JWT_KEY, public_key=rsa_pem[1])
        yield simulator


@pytest.fixture
def sim(org: SalesforceSimulator) -> SalesforceSimulator:
    org.clear_faults()
    org.clear_requests()
    org.api_used, org.daily_limit, org.page_size = 0, 15_000, 2000
    return org


def settings(sim: SalesforceSimulator, **options: Any) -> SalesforceSettings:
    login = {} if set(options) & {"consumer_key", "session_id", "username"} else PASSWORD_LOGIN
    return SalesforceSettings.model_validate(
        {"type": "salesforce", "domain": sim.domain, "ca_bundle": str(sim.ca_file)}
        | login
        | options
    )


def src(**fields: Any) -> SalesforceSource:
    return SalesforceSource.model_validate({"connection": "sf", **fields})


def use(
    config: SalesforceSettings,
    fn: Callable[[SalesforceConnection], Awaitable[T]],
    sleeps: Sleeps | None = None,
) -> T:
    return HARNESS.use(config, fn, sleeps)  # type: ignore[arg-type]


def measure(
    sim: SalesforceSimulator, source: SalesforceSource, sleeps: Sleeps | None = None, **options: Any
) -> Reading:
    return use(settings(sim, **options), lambda c: c.measure(source), sleeps)


def fails(sim: SalesforceSimulator, source: SalesforceSource, **options: Any) -> MeasureError:
    with pytest.raises(MeasureError) as info:
        measure(sim, source, **options)
    return info.value


def opps(sim: SalesforceSimulator, *, deleted: bool = False) -> list[dict[str, Any]]:
    return sim.records("Opportunity", include_deleted=deleted)


def won_q4(sim: SalesforceSimulator) -> list[dict[str, Any]]:
    q4 = (date(2026, 10, 1), date(2026, 12, 31))
    return [o for o in opps(sim) if o["IsWon"] and q4[0] <= o["CloseDate"] <= q4[1]]


def paths(sim: SalesforceSimulator) -> list[str]:
    return [f"{r.method} {r.path}" for r in sim.requests]


# -- logins ------------------------------------------------------------------------


@pytest.mark.parametrize("flow", ["password", "client credentials", "JWT bearer", "session"])
def test_each_login_flow(
    sim: SalesforceSimulator, flow: str, tmp_path: Path, rsa_pem: tuple[bytes, bytes]
) -> None:
    key_file = tmp_path / "jwt.key"
    key_file.write_bytes(rsa_pem[0])
    options: dict[str, Any] = {
        "password": PASSWORD_LOGIN,
        "client credentials": {
            "consumer_key": DEMO_CONSUMER_KEY,
            "consumer_secret": DEMO_CONSUMER_SECRET,
        },
        "JWT bearer": {
            "username": DEMO_USERNAME,
            "consumer_key": JWT_KEY,
            "privatekey_file": str(key_file),
        },
        "session": {"instance_url": sim.url, "session_id": sim.new_session()},
    }[flow]
    assert settings(sim, **options).flow == flow
    reading = measure(
        sim, src(soql="SELECT COUNT() FROM Opportunity", value="totalSize"), **options
    )
    assert reading.value == float(len(opps(sim)))
    logins = [r for r in sim.requests if "/services/data/" not in r.path]
    if flow == "session":
        assert logins == []
        return
    (login,) = logins
    assert login.path.startswith("/login.salesforce.com/services/")
    if flow == "password":
        assert login.path == "/login.salesforce.com/services/Soap/u/62.0"
        assert login.headers["soapaction"] == "login"
    else:
        grant = dict(httpx.QueryParams(login.body.decode()))["grant_type"]
        assert grant.endswith("client_credentials" if flow != "JWT bearer" else "jwt-bearer")
    assert paths(sim)[-1] == "GET /services/data/v62.0/query/"


def test_wrong_password_is_auth_error_without_secrets(sim: SalesforceSimulator) -> None:
    count = src(soql="SELECT COUNT() FROM Account", value="totalSize")

    async def run(connection: SalesforceConnection) -> list[Reading | MeasureError]:
        return await connection.measure_batch([count, src(report=REPORT_ID, value="RowCount")])

    error, again = use(settings(sim, password="hunter2-wrong"), run)
    assert again is error  # one refused login, not one per query (lockouts count them)
    assert isinstance(error, AuthError)
    assert f"user {DEMO_USERNAME}" in str(error)
    assert "INVALID_LOGIN" in str(error)
    assert "hunter2-wrong" not in str(error)
    assert DEMO_SECURITY_TOKEN not in str(error)
    assert len(sim.requests) == 1  # not retried


def test_wrong_client_secret_names_the_consumer_key(sim: SalesforceSimulator) -> None:
    error = fails(
        sim,
        src(soql="SELECT COUNT() FROM Account", value="totalSize"),
        consumer_key=DEMO_CONSUMER_KEY,
        consumer_secret="not-the-secret-42",
    )
    assert isinstance(error, AuthError)
    assert DEMO_CONSUMER_KEY in str(error)
    assert "invalid_client" in str(error)
    assert "not-the-secret-42" not in str(error)


def test_jwt_key_that_is_not_a_key(sim: SalesforceSimulator, tmp_path: Path) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a key")
    options = {"username": DEMO_USERNAME, "consumer_key": JWT_KEY, "privatekey_file": str(junk)}
    error = fails(sim, src(soql="SELECT COUNT() FROM Account", value="totalSize"), **options)
    assert isinstance(error, AuthError)
    assert "privatekey_file" in str(error)
    assert sim.requests == []


def test_expired_session_logs_in_once_more(sim: SalesforceSimulator) -> None:
    count = src(soql="SELECT COUNT() FROM Account", value="totalSize")

    async def run(connection: SalesforceConnection) -> list[Reading]:
        first = await connection.measure(count)
        sim.expire_sessions()
        rest = await asyncio.gather(*(connection.measure(count) for _ in range(6)))
        assert connection.logins == 2  # one new login, shared by six calls in flight
        return [first, *rest]

    readings = use(settings(sim, max_concurrency=3), run)
    assert {r.value for r in readings} == {60.0}
    assert sum(p.endswith("/Soap/u/62.0") for p in paths(sim)) == 2
    queries = sum(r.path.endswith("/query/") for r in sim.requests)
    assert 7 + 1 <= queries <= 7 + 3  # 1 to 3 calls in flight met the expired session


def test_expired_direct_session_is_auth_error(sim: SalesforceSimulator) -> None:
    sid = sim.new_session()
    sim.expire_sessions()
    error = fails(
        sim,
        src(soql="SELECT COUNT() FROM Account", value="totalSize"),
        instance_url=sim.url,
        session_id=sid,
    )
    assert isinstance(error, AuthError)
    assert "INVALID_SESSION_ID" in str(error)
    assert sid not in str(error)
    assert len(sim.requests) == 1


def test_untrusted_certificate_says_set_ca_bundle(sim: SalesforceSimulator) -> None:
    error = fails(
        sim,
        src(soql="SELECT COUNT() FROM Account", value="totalSize"),
        ca_bundle=None,
        retry={"attempts": 1},
    )
    assert isinstance(error, TransientError)
    assert "ca_bundle" in str(error)


# -- source forms ----------------------------------------------------------------------


def test_count_is_total_size(sim: SalesforceSimulator) -> None:
    reading = measure(
        sim, src(soql=f"SELECT COUNT() FROM Opportunity WHERE {WON_Q4}", value="totalSize")
    )
    assert reading.value == float(len(won_q4(sim)))
    assert reading.raw.startswith('{"totalSize": ')
    assert reading.calls == 1


def test_sum_alias_and_unaliased_exprs(sim: SalesforceSimulator) -> None:
    expected = sum(o["Amount"] or 0 for o in won_q4(sim))
    total = measure(
        sim, src(soql=f"SELECT SUM(Amount) total FROM Opportunity WHERE {WON_Q4}", value="total")
    )
    assert total.value == expected > 1_000_000
    soql = f"SELECT COUNT(Id), SUM(Amount) FROM Opportunity WHERE {WON_Q4}"
    assert measure(sim, src(soql=soql, value="expr1")).value == expected
    assert measure(sim, src(soql=soql, value="expr0")).value == float(len(won_q4(sim)))


def test_sum_of_nothing_is_zero_but_other_nulls_fail(sim: SalesforceSimulator) -> None:
    nothing = "FROM Opportunity WHERE CloseDate > 2030-01-01"
    assert measure(sim, src(soql=f"SELECT SUM(Amount) total {nothing}", value="total")).value == 0.0
    assert measure(sim, src(soql=f"SELECT SUM(Amount) {nothing}", value="expr0")).value == 0.0
    error = fails(sim, src(soql=f"SELECT MAX(Amount) biggest {nothing}", value="biggest"))
    assert isinstance(error, SourceDataError)
    assert "'biggest' is null" in str(error)


def test_missing_alias_names_available_keys(sim: SalesforceSimulator) -> None:
    error = fails(
        sim, src(soql="SELECT SUM(Amount) total, COUNT(Id) n FROM Opportunity", value="sum")
    )
    assert isinstance(error, SourceDataError)
    assert "no 'sum' in the row; available: total, n" in str(error)


def test_many_rows_are_not_a_value(sim: SalesforceSimulator) -> None:
    error = fails(sim, src(soql="SELECT Amount FROM Opportunity", value="Amount"))
    assert isinstance(error, SourceDataError)
    assert "rows" in str(error)


def test_record_aggregates_page_through_next_records_url(sim: SalesforceSimulator) -> None:
    sim.page_size = 200
    won = [o for o in opps(sim) if o["IsWon"]]
    soql = "SELECT Id, Amount FROM Opportunity WHERE IsWon = true"
    total = measure(sim, src(soql=soql, aggregate="sum", field="Amount"))
    pages = -(-len(won) // 200)
    assert pages >= 3
    assert total.value == sum(o["Amount"] or 0 for o in won)
    assert total.calls == pages
    more = [r.path for r in sim.requests if "/query/01g" in r.path]
    assert len(more) == pages - 1
    sim.clear_requests()
    counted = measure(sim, src(soql=soql, aggregate="count", field="Amount"))
    assert counted.value == sum(o["Amount"] is not None for o in won)
    assert counted.calls == pages
    records = measure(sim, src(soql=soql, aggregate="count"))  # no field: totalSize, one call
    assert (records.value, records.calls) == (float(len(won)), 1)


def test_include_deleted_uses_query_all(sim: SalesforceSimulator) -> None:
    soql = "SELECT Id, Amount FROM Opportunity"
    live = measure(sim, src(soql=soql, aggregate="count", field="Id"))
    everything = measure(sim, src(soql=soql, aggregate="count", field="Id", include_deleted=True))
    assert live.value == len(opps(sim)) < everything.value == len(opps(sim, deleted=True))
    assert paths(sim)[-1] == "GET /services/data/v62.0/queryAll/"


@pytest.mark.parametrize(
    ("value", "index"),
    [("s!Amount", 0), ("Sum of Amount", 0), ("RowCount", 1), ("record count", 1)],
)
def test_report_grand_total_by_key_or_label(
    sim: SalesforceSimulator, value: str, index: int
) -> None:
    won = [o for o in opps(sim) if o["IsWon"]]
    expected = [sum(o["Amount"] or 0 for o in won), float(len(won))][index]
    reading = measure(sim, src(report=REPORT_ID, value=value))
    assert reading.value == expected
    assert reading.raw.startswith('{"factMap": {"T!T": {"s!Amount": ')
    assert paths(sim)[-1] == f"GET /services/data/v62.0/analytics/reports/{REPORT_ID}"


def test_report_errors(sim: SalesforceSimulator) -> None:
    error = fails(sim, src(report=REPORT_ID, value="Average Amount"))
    assert isinstance(error, SourceDataError)
    assert "available: s!Amount (Sum of Amount), RowCount (Record Count)" in str(error)
    missing = fails(sim, src(report="00OSIM000000000099", value="RowCount"))
    assert isinstance(missing, QueryError)
    assert "NOT_FOUND" in str(missing)


# -- placeholders, errors ----------------------------------------------------------------


def test_placeholders_become_soql_literals(sim: SalesforceSimulator) -> None:
    ctx = RenderContext(
        cycle=Cycle.model_validate("2026-Q4"), as_of=datetime(2026, 11, 26, 10, 49, tzinfo=UTC)
    )
    source = src(
        soql="SELECT COUNT() FROM Opportunity WHERE IsWon = true AND CloseDate >= {cycle.start}"
        " AND CloseDate <= {cycle.end} AND CreatedDate <= {as_of}",
        value="totalSize",
    )
    assert CONNECTOR.render is not None
    rendered = CONNECTOR.render(source, ctx)
    assert rendered.soql == (
        "SELECT COUNT() FROM Opportunity WHERE IsWon = true AND CloseDate >= 2026-10-01"
        " AND CloseDate <= 2026-12-31 AND CreatedDate <= 2026-11-26T10:49:00Z"
    )
    assert measure(sim, rendered).value == float(len(won_q4(sim)))


@pytest.mark.parametrize(
    ("soql", "code"),
    [
        (
            "SELECT COUNT() FROM Opportunity WHERE CloseDate >= '2026-10-01'",
            "INVALID_QUERY_FILTER_OPERATOR",
        ),
        ("SELECT COUNT() FROM Opportunity WHERE IsWon = 'true'", "INVALID_QUERY_FILTER_OPERATOR"),
        ("SELECT SUM(Amount) total FROM Opportunity WHERE Nope__c = 1", "INVALID_FIELD"),
        ("SELECT COUNT() FROM Opportunities", "INVALID_TYPE"),
        ("SELECT COUNT() FORM Opportunity", "MALFORMED_QUERY"),
        (
            "SELECT COUNT() FROM Opportunity WHERE IsWon = true OR IsClosed = true",
            "MALFORMED_QUERY",
        ),
        ("SELECT SUM(Amount) total, Name FROM Opportunity", "MALFORMED_QUERY"),
        ("SELECT COUNT() FROM Opportunity WHERE CloseDate = THIS_QUARTER", "MALFORMED_QUERY"),
    ],
)
def test_rejected_soql_is_query_error(sim: SalesforceSimulator, soql: str, code: str) -> None:
    with pytest.raises(SoqlError) as info:
        sim.run_query(soql)
    assert info.value.code == code
    error = fails(sim, src(soql=soql, value="total"))
    assert isinstance(error, QueryError)
    assert str(error).startswith(f"{code}: ")
    assert len(sim.requests) == 2  # login + the query, not retried


@pytest.mark.parametrize("status", [503, 429])
def test_retry_after_is_honoured(sim: SalesforceSimulator, status: int) -> None:
    sim.add_fault(
        r".*/query/",
        Fault.status(
            status, [{"errorCode": "SERVER_UNAVAILABLE", "message": "busy"}], {"Retry-After": "3"}
        ),
    )
    sleeps = Sleeps()
    reading = measure(sim, src(soql="SELECT COUNT() FROM Account", value="totalSize"), sleeps)
    assert (reading.value, reading.calls) == (60.0, 2)
    assert sleeps.waits == [3.0]


def test_login_outage_is_retried(sim: SalesforceSimulator) -> None:
    sim.add_fault(r".*/Soap/u/62\.0", Fault.status(503, b"Service Unavailable"))
    sleeps = Sleeps()
    reading = measure(sim, src(soql="SELECT COUNT() FROM Account", value="totalSize"), sleeps)
    assert reading.value == 60.0
    assert len(sleeps.waits) == 1
    assert sum(p.endswith("/Soap/u/62.0") for p in paths(sim)) == 2


def test_a_spent_daily_allowance_is_not_retried(sim: SalesforceSimulator) -> None:
    sim.daily_limit = 1
    sleeps = Sleeps()

    async def run(connection: SalesforceConnection) -> MeasureError:
        await connection.measure(src(soql="SELECT COUNT() FROM Account", value="totalSize"))
        with pytest.raises(MeasureError) as info:
            await connection.measure(src(soql="SELECT COUNT() FROM Opportunity", value="totalSize"))
        return info.value

    error = use(settings(sim, retry={"attempts": 3}), run, sleeps)
    assert isinstance(error, QuotaError)
    assert error.kind == "quota"
    assert "daily API request allowance is used up" in str(error)
    assert "REQUEST_LIMIT_EXCEEDED" in str(error)
    assert sleeps.waits == []  # retrying would only spend calls the org no longer has


def test_a_concurrency_limit_is_retried(sim: SalesforceSimulator) -> None:
    body = [
        {
            "message": "ConcurrentPerOrgLongTxn Limit exceeded.",
            "errorCode": "REQUEST_LIMIT_EXCEEDED",
        }
    ]
    sim.add_fault(r"/services/data/v62\.0/query/?", Fault.status(403, body))
    sleeps = Sleeps()
    reading = measure(sim, src(soql="SELECT COUNT() FROM Account", value="totalSize"), sleeps)
    assert reading.value == 60.0
    assert len(sleeps.waits) == 1


def test_api_usage_is_recorded(sim: SalesforceSimulator) -> None:
    async def run(connection: SalesforceConnection) -> tuple[Reading, Reading]:
        first = await connection.measure(src(soql="SELECT COUNT() FROM Account", value="totalSize"))
        second = await connection.measure(src(report=REPORT_ID, value="RowCount"))
        assert connection.last_api_usage == (2, 15_000)
        return first, second

    first, second = use(settings(sim), run)
    assert first.raw.endswith(" | api-usage=1/15000")
    assert second.raw.endswith(" | api-usage=2/15000")
    assert sim.api_used == 2


# -- Composite Batch --------------------------------------------------------------------


def test_sixty_queries_cost_three_batch_calls_and_one_login(sim: SalesforceSimulator) -> None:
    sources = [
        src(soql=f"SELECT COUNT() FROM Opportunity WHERE Amount >= {k * 5000}", value="totalSize")
        for k in range(60)
    ]

    async def run(connection: SalesforceConnection) -> list[Reading | MeasureError]:
        size = connection.batch_size
        chunks = [sources[k : k + size] for k in range(0, len(sources), size)]
        return [r for chunk in chunks for r in await connection.measure_batch(chunk)]

    results = use(settings(sim), run)
    assert paths(sim) == [
        "POST /login.salesforce.com/services/Soap/u/62.0",
        *["POST /services/data/v62.0/composite/batch"] * 3,
    ]
    amounts = [o["Amount"] for o in opps(sim) if o["Amount"] is not None]  # null never matches
    expected = [sum(1 for a in amounts if a >= k * 5000) for k in range(60)]
    assert [r.value for r in results if isinstance(r, Reading)] == expected
    assert [r.calls for r in results if isinstance(r, Reading)] == ([1] + [0] * 24) * 2 + [1] + [
        0
    ] * 9
    assert sim.api_used == 60  # each subrequest is an API call
    assert results[-1].raw.endswith(" | api-usage=60/15000")  # type: ignore[union-attr]
    batch = json.loads(sim.requests[1].body)
    assert batch["haltOnError"] is False
    assert batch["batchRequests"][1] == {
        "method": "GET",
        "url": "v62.0/query/?q=SELECT+COUNT%28%29+FROM+Opportunity+WHERE+Amount+%3E%3D+5000",
    }


def test_errors_stay_with_their_source_inside_a_batch(sim: SalesforceSimulator) -> None:
    good = [
        src(soql=f"SELECT COUNT() FROM Account WHERE AnnualRevenue > {k}", value="totalSize")
        for k in range(3)
    ]
    bad = [
        src(soql="SELECT COUNT() FROM Account WHERE", value="totalSize"),
        src(soql="SELECT SUM(Revenue__c) r FROM Account", value="r"),
        src(soql="SELECT SUM(AnnualRevenue) r FROM Account", value="missing"),
    ]
    results = use(
        settings(sim),
        lambda c: c.measure_batch([good[0], bad[0], good[1], bad[1], good[2], bad[2]]),
    )
    assert [type(r).__name__ for r in results] == [
        "Reading",
        "QueryError",
        "Reading",
        "QueryError",
        "Reading",
        "SourceDataError",
    ]
    assert str(results[1]).startswith("MALFORMED_QUERY: ")
    assert str(results[3]).startswith("INVALID_FIELD: No such column 'Revenue__c'")
    assert "available: r" in str(results[5])
    assert sum("composite/batch" in p for p in paths(sim)) == 1


def test_batch_mixes_in_sources_it_cannot_batch(sim: SalesforceSimulator) -> None:
    sources = [
        src(report=REPORT_ID, value="RowCount"),
        src(soql="SELECT COUNT() FROM Account", value="totalSize"),
        src(soql="SELECT Amount FROM Opportunity", aggregate="count", field="Amount"),
    ]
    results = use(settings(sim), lambda c: c.measure_batch(sources))
    assert [r.value for r in results if isinstance(r, Reading)] == [
        float(sum(o["IsWon"] for o in opps(sim))),
        60.0,
        float(sum(o["Amount"] is not None for o in opps(sim))),
    ]
    assert sum("composite/batch" in p for p in paths(sim)) == 1


def test_batch_retries_only_what_failed_for_now(sim: SalesforceSimulator) -> None:
    sim.add_fault(r".*/composite/batch", Fault.status(503, [{"errorCode": "X", "message": "down"}]))
    sleeps = Sleeps()
    sources = [src(soql="SELECT COUNT() FROM Account", value="totalSize")]
    results = use(settings(sim), lambda c: c.measure_batch(sources), sleeps)
    assert isinstance(results[0], Reading)
    assert (results[0].value, results[0].calls, len(sleeps.waits)) == (60.0, 2, 1)


def test_batch_re_logs_in_on_expired_session(sim: SalesforceSimulator) -> None:
    sources = [src(soql="SELECT COUNT() FROM Account", value="totalSize")] * 2

    async def run(connection: SalesforceConnection) -> list[Reading | MeasureError]:
        await connection.measure_batch(sources)
        sim.expire_sessions()
        return await connection.measure_batch(sources)

    results = use(settings(sim), run)
    assert [r.value for r in results if isinstance(r, Reading)] == [60.0, 60.0]
    assert sum(p.endswith("/Soap/u/62.0") for p in paths(sim)) == 2


def test_simulator_refuses_batches_over_25(sim: SalesforceSimulator) -> None:
    sub = {"method": "GET", "url": "v62.0/query/?q=SELECT+COUNT()+FROM+Account"}
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    with httpx.Client(verify=context, trust_env=False) as client:
        answer = client.post(
            f"{sim.url}/services/data/v62.0/composite/batch",
            json={"batchRequests": [sub] * 26},
            headers={"Authorization": f"Bearer {sim.new_session()}"},
        )
    assert answer.status_code == 400
    assert answer.json()[0]["errorCode"] == "LIMIT_EXCEEDED"
    assert answer.headers["Sforce-Limit-Info"].startswith("api-usage=")


# -- models, describe, demo -------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({}, "give exactly one login"),
        ({"username": "u", "password": "p"}, "got password, username"),
        ({**PASSWORD_LOGIN, "consumer_key": "k"}, "give exactly one login"),
        ({"consumer_key": "k", "consumer_secret": "s", "domain": "login"}, "My Domain"),
        ({"instance_url": "http://x.example", "session_id": "s"}, "https://"),
        ({**PASSWORD_LOGIN, "domain": "https://acme.my.salesforce.com"}, "domain is login"),
        ({**PASSWORD_LOGIN, "url": "https://x.example"}, "not url"),
        ({**PASSWORD_LOGIN, "api_version": "v62.0"}, "api_version"),
    ],
)
def test_settings_validation(options: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        SalesforceSettings.model_validate({"type": "salesforce", **options})


def test_secrets_stay_secret_in_settings() -> None:
    config = SalesforceSettings.model_validate({"type": "salesforce", **PASSWORD_LOGIN})
    assert DEMO_PASSWORD not in repr(config)
    assert DEMO_SECURITY_TOKEN not in str(config.model_dump())


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ({"soql": "SELECT COUNT() FROM Account"}, "value is required"),
        ({"value": "x"}, "give one of"),
        ({"soql": "DELETE FROM Account", "value": "x"}, "SELECT"),
        ({"soql": "SELECT Amount FROM Opportunity", "aggregate": "sum"}, "needs field"),
        (
            {
                "soql": "SELECT Amount FROM Opportunity",
                "aggregate": "sum",
                "field": "Amount",
                "value": "x",
            },
            "drop value",
        ),
        (
            {"soql": "SELECT SUM(Amount) t FROM Opportunity", "value": "t", "field": "Amount"},
            "drop field",
        ),
        (
            {"soql": "SELECT Id FROM Opportunity", "aggregate": "avg", "field": "Amount"},
            "aggregate",
        ),
        (
            {"report": "00O5g00000AbCdE", "soql": "SELECT Id FROM X", "value": "x"},
            "report takes only value",
        ),
        ({"report": "../../sobjects", "value": "RowCount"}, "report id"),
        ({"report": REPORT_ID}, "value is required"),
    ],
)
def test_source_validation(source: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        src(**source)


def test_describe() -> None:
    soql = "SELECT SUM(Amount) total\n  FROM Opportunity WHERE IsWon = true"
    assert describe(src(soql=soql, value="total")) == (
        "SOQL: SELECT SUM(Amount) total FROM Opportunity WHERE IsWon = true → total"
    )
    records = src(
        soql="SELECT Amount FROM Opportunity", aggregate="sum", field="Amount", include_deleted=True
    )
    assert describe(records) == "SOQL (queryAll): SELECT Amount FROM Opportunity → sum(Amount)"
    assert describe(src(report=REPORT_ID, value="s!Amount")) == f"report {REPORT_ID} → s!Amount"


def test_start_demo_logs_in_with_client_credentials_as_the_example_does() -> None:
    sim, demo = start_demo(today=lambda: TODAY)
    try:
        assert demo.environ == {
            "SF_CONSUMER_KEY": DEMO_CONSUMER_KEY,
            "SF_CONSUMER_SECRET": DEMO_CONSUMER_SECRET,
        }
        example = yaml.safe_load((EXAMPLES / "connections.yaml").read_text())
        assert example["connections"]["salesforce"]["consumer_secret"] == "${SF_CONSUMER_SECRET}"
        config = SalesforceSettings.model_validate(
            {
                "type": "salesforce",
                "domain": "example.my",
                "consumer_key": demo.environ["SF_CONSUMER_KEY"],
                "consumer_secret": demo.environ["SF_CONSUMER_SECRET"],
            }
        ).model_copy(update=demo.overrides)
        reading = use(
            config, lambda c: c.measure(src(soql="SELECT COUNT() FROM Account", value="totalSize"))
        )
        assert reading.value == 60.0
        ca_dir = sim.ca_file.parent
    finally:
        sim.stop()
    assert not ca_dir.exists()


def test_env_ca_bundle_is_honoured_despite_trust_env_off(
    sim: SalesforceSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(sim.ca_file))
    reading = measure(
        sim, src(soql="SELECT COUNT() FROM Account", value="totalSize"), ca_bundle=None
    )
    assert reading.value == 60.0


def test_timeout_is_transient(sim: SalesforceSimulator) -> None:
    sim.add_fault(r".*/query/", Fault.hang(2))
    error = fails(
        sim,
        src(soql="SELECT COUNT() FROM Account", value="totalSize"),
        timeout=0.3,
        retry={"attempts": 1},
    )
    assert isinstance(error, TransientError)
    assert str(error) == "Salesforce timed out after 0.3s"


def test_module_imports_no_client_library() -> None:
    code = "import sys, connectors.salesforce.connector; print('simple_salesforce' in sys.modules, 'requests' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_simulator_password_grant(sim: SalesforceSimulator) -> None:
    form = {
        "grant_type": "password",
        "client_id": DEMO_CONSUMER_KEY,
        "client_secret": DEMO_CONSUMER_SECRET,
        "username": DEMO_USERNAME,
        "password": DEMO_PASSWORD + DEMO_SECURITY_TOKEN,
    }
    context = ssl.create_default_context(cafile=str(sim.ca_file))
    with httpx.Client(base_url=sim.url, verify=context, trust_env=False) as client:
        good = client.post("/login.salesforce.com/services/oauth2/token", data=form)
        bad = client.post("/services/oauth2/token", data=form | {"password": "nope"})
    assert good.status_code == 200
    assert good.json()["instance_url"] == sim.url
    assert good.json()["token_type"] == "Bearer"
    assert (bad.status_code, bad.json()["error"]) == (400, "invalid_grant")


# -- answers that must not crash or bloat a sync (#16) --------------------------

COUNT = "SELECT COUNT() FROM Account"


def test_a_soap_login_answered_with_non_xml_is_a_data_error(sim: SalesforceSimulator) -> None:
    sim.add_fault(r".*/Soap/u/62\.0", Fault.malformed(b"<html><body>Sign in</body>"))
    error = fails(sim, src(soql=COUNT, value="totalSize"))
    assert isinstance(error, SourceDataError)
    assert str(error) == (
        f"Salesforce login for user {DEMO_USERNAME} was answered with a body that is not XML"
    )


def test_json_nested_100000_deep_is_a_data_error(sim: SalesforceSimulator) -> None:
    sim.add_fault(r".*/query/?", Fault.status(200, b"[" * 100_000 + b"]" * 100_000))
    error = fails(sim, src(soql=COUNT, value="totalSize"))
    assert isinstance(error, SourceDataError)
    assert str(error) == "Salesforce answered with JSON nested too deeply to read"


def test_an_answer_over_max_response_bytes_is_refused_and_not_retried(
    sim: SalesforceSimulator,
) -> None:
    sim.add_fault(r".*/query/?", Fault.status(200, b'{"pad": "' + b"x" * 20_000 + b'"}'))
    error = fails(sim, src(soql=COUNT, value="totalSize"), max_response_bytes=10_000)
    assert isinstance(error, SourceDataError)
    assert "the answer is larger than 10,000 bytes (max_response_bytes)" in str(error)
    assert sum(p.endswith("/query") or p.endswith("/query/") for p in paths(sim)) == 1


def test_a_soap_login_answered_with_xml_but_no_session_is_a_data_error(
    sim: SalesforceSimulator,
) -> None:
    """A well-formed page that is no login answer is not a refusal of the credentials."""
    sim.add_fault(r".*/Soap/u/62\.0", Fault.malformed(b"<html><body>502 Bad Gateway</body></html>"))
    error = fails(sim, src(soql=COUNT, value="totalSize"))
    assert isinstance(error, SourceDataError)
    assert str(error) == (
        f"Salesforce login for user {DEMO_USERNAME} was answered without a session id "
        "(not a SOAP login response)"
    )
