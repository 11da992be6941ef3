"""The ga4 connector over real HTTP against the GA4 simulator, and the simulator itself."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import jwt
import pydantic
import pytest

from connectors.ga4.connector import CONNECTOR, SCOPE, Ga4Settings, Ga4Source, describe
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.ga4 import (
    DEMO_CLIENT_EMAIL,
    DEMO_KEY_ID,
    DEMO_PROPERTY,
    Ga4Simulator,
    demo_key,
    new_key,
    start_demo,
)
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import metric_value
from okrsync.domain.cycle import Cycle
from okrsync.errors import (
    AuthError,
    MeasureError,
    QueryError,
    QuotaError,
    SourceDataError,
    TransientError,
)
from okrsync.sdk.connector import Reading, RenderContext, Runtime
from okrsync.sdk.date_ranges import render_window, span
from okrsync.sdk.google_auth import AUDIENCE, GRANT_TYPE
from okrsync.sdk.redaction import MASK
from okrsync.store.database import Store
from okrsync.testing.harness import Harness
from tests.support import FAST, Sleeps, sync_now, write

TODAY = date(2026, 11, 15)
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
CTX = RenderContext(Cycle(start=date(2026, 10, 1), end=date(2026, 12, 31)), NOW)
HARNESS = Harness(CONNECTOR, CTX, "ga")
REPORT = rf"/v1beta/properties/{DEMO_PROPERTY}:runReport"
PURCHASE = {"filter": {"fieldName": "eventName", "stringFilter": {"value": "purchase"}}}


@pytest.fixture(scope="module")
def shared() -> Iterator[Ga4Simulator]:
    with Ga4Simulator(today=lambda: TODAY) as server:
        yield server


@pytest.fixture
def sim(shared: Ga4Simulator) -> Ga4Simulator:
    """One simulator for the module (one key file, loaded once), fresh for each test."""
    shared.reset()
    return shared


def settings(sim: Ga4Simulator, **extra: Any) -> Ga4Settings:
    base = {"type": "ga4", "url": sim.url, "credentials": sim.service_account_json()}
    return Ga4Settings.model_validate({**base, "property": DEMO_PROPERTY, **extra})


def source(**fields: Any) -> Ga4Source:
    return render_window(Ga4Source.model_validate({"connection": "ga", **fields}), CTX)


def measure(
    sim: Ga4Simulator, *queries: Ga4Source, sleeps: Sleeps | None = None, **extra: Any
) -> list[Reading]:
    """The readings of ``queries`` in order through one connection; the first error raises."""

    async def each(connection: Any) -> list[Reading]:
        return [await connection.measure(q) for q in queries]

    return HARNESS.use(settings(sim, **extra), each, sleeps)


def fails(sim: Ga4Simulator, query: Ga4Source, **extra: Any) -> MeasureError:
    with pytest.raises(MeasureError) as info:
        measure(sim, query, **extra)
    return info.value


def reports(sim: Ga4Simulator) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith(":runReport")]


def token_calls(sim: Ga4Simulator) -> int:
    return sum(r.path == "/token" for r in sim.requests)


def google_error(code: int, status: str, message: str) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "status": status}}


def one_row(value: str) -> dict[str, Any]:
    return {"rows": [{"metricValues": [{"value": value}]}], "rowCount": 1}


def test_windows_render_and_google_is_the_default_address() -> None:
    assert CONNECTOR.render is render_window
    assert Ga4Settings.model_fields["url"].default == "https://analyticsdata.googleapis.com"


# -- success ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "stats", "start", "end"),
    [
        ({"metric": "activeUsers"}, "mau_key_accounts", date(2026, 10, 1), TODAY),
        (
            {"metric": "averageSessionDuration", "date_range": "last_28_days"},
            "avg_session_duration_seconds",
            date(2026, 10, 18),
            date(2026, 11, 14),
        ),
        (
            {"metric": "screenPageViews", "date_range": "full_cycle"},
            "website_pageviews",
            date(2026, 10, 1),
            date(2026, 12, 31),
        ),
        (
            {"metric": "activeUsers", "date_range": {"start": "{cycle.start}", "end": "{as_of}"}},
            "mau_key_accounts",
            date(2026, 10, 1),
            TODAY,
        ),
        (
            {"metric": "activeUsers", "date_range": {"start": "2026-11-01", "end": "2026-11-07"}},
            "mau_key_accounts",
            date(2026, 11, 1),
            date(2026, 11, 7),
        ),
    ],
)
def test_each_window_reads_the_demo_numbers(
    sim: Ga4Simulator, fields: dict[str, Any], stats: str, start: date, end: date
) -> None:
    (reading,) = measure(sim, source(**fields))
    assert reading.value == metric_value(stats, start, end, TODAY)
    assert reading.calls == 1
    (sent,) = reports(sim)
    assert sent.json() == {
        "dateRanges": [{"startDate": start.isoformat(), "endDate": end.isoformat()}],
        "metrics": [{"name": fields["metric"]}],
        "returnPropertyQuota": True,
    }
    assert sent.headers["authorization"].startswith("Bearer ya29.sim-")
    assert sent.headers["user-agent"].startswith("okrsync/")


def test_dimension_filter_is_sent_verbatim_and_narrows(sim: Ga4Simulator) -> None:
    both = {
        "andGroup": {
            "expressions": [
                PURCHASE,
                {
                    "filter": {
                        "fieldName": "country",
                        "stringFilter": {"matchType": "EXACT", "value": "France"},
                    }
                },
            ]
        }
    }
    everything, purchases, french = measure(
        sim,
        source(metric="eventCount"),
        source(metric="eventCount", dimension_filter=PURCHASE),
        source(metric="eventCount", dimension_filter=both),
    )
    assert 0 < french.value < purchases.value < everything.value
    assert [r.json().get("dimensionFilter") for r in reports(sim)] == [None, PURCHASE, both]


def test_source_property_wins_and_properties_prefix_is_accepted() -> None:
    with Ga4Simulator(today=lambda: TODAY, properties=("1111", "2222")) as sim:
        (reading,) = measure(
            sim, source(metric="sessions", property="properties/2222"), property="1111"
        )
        assert [r.path for r in reports(sim)] == ["/v1beta/properties/2222:runReport"]
    assert reading.value > 0


def test_raw_shows_the_row_and_the_days_tokens_left(sim: Ga4Simulator) -> None:
    first, second = measure(sim, source(metric="activeUsers"), source(metric="sessions"))
    assert '"rows":[{"metricValues":[{"value":"' in first.raw
    assert '"tokensPerDay":{"consumed":2,"remaining":199998}' in first.raw
    assert '"remaining":199996' in second.raw
    assert "metadata" not in first.raw  # only what explains the number


# -- answers that hold no usable number --------------------------------------------


NO_ROWS: list[dict[str, Any]] = [
    {
        "metric": "eventCount",
        "dimension_filter": {
            "filter": {"fieldName": "eventName", "stringFilter": {"value": "never_logged"}}
        },
    },
    {"metric": "activeUsers", "date_range": {"start": "2026-12-01", "end": "2026-12-31"}},
]


@pytest.mark.parametrize("fields", NO_ROWS)
def test_no_rows_is_no_data_by_default(sim: Ga4Simulator, fields: dict[str, Any]) -> None:
    error = fails(sim, source(**fields))
    assert isinstance(error, SourceDataError)
    start, end = span(source(**fields).date_range)
    assert str(error).startswith(
        f"no data: GA4 returned no rows for {fields['metric']} over {start}…{end} ("
    )
    assert "empty_is_zero: true" in str(error)
    assert len(reports(sim)) == 1  # not retried


@pytest.mark.parametrize("fields", NO_ROWS)
def test_no_rows_reads_zero_with_empty_is_zero(sim: Ga4Simulator, fields: dict[str, Any]) -> None:
    (reading,) = measure(sim, source(**fields, empty_is_zero=True))
    assert reading.value == 0.0
    assert '"rows"' not in reading.raw


def test_empty_is_zero_leaves_real_rows_alone(sim: Ga4Simulator) -> None:
    plain, opted = measure(
        sim, source(metric="activeUsers"), source(metric="activeUsers", empty_is_zero=True)
    )
    assert opted.value == plain.value > 0


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {"rows": [{"metricValues": [{"value": "1"}]}, {"metricValues": [{"value": "2"}]}]},
            "returned 2 rows",
        ),
        (one_row("NaN"), "'NaN', not a finite number"),
        (one_row("Infinity"), "not a finite number"),
        (one_row("n/a"), "'n/a', not a number"),
        ({"rows": [{"metricValues": []}]}, "row has no value for activeUsers"),
        ({"rows": {"x": 1}}, "rows is not a list"),
        ([1, 2], "other than a JSON object"),
    ],
)
def test_unusable_answers_are_source_data_errors(
    sim: Ga4Simulator, body: Any, message: str
) -> None:
    sim.add_fault(REPORT, Fault.status(200, body))
    error = fails(sim, source(metric="activeUsers"))
    assert isinstance(error, SourceDataError)
    assert message in str(error)
    assert len(reports(sim)) == 1


# -- errors GA4 reports ------------------------------------------------------------


def test_wrong_metric_is_a_query_error_in_googles_words(sim: Ga4Simulator) -> None:
    error = fails(sim, source(metric="activeUserz"))
    assert isinstance(error, QueryError)
    assert str(error).startswith(
        f"HTTP 400 INVALID_ARGUMENT: GA4 rejected the report for property {DEMO_PROPERTY}"
    )
    assert "Field activeUserz is not a valid metric." in str(error)
    assert len(reports(sim)) == 1  # not retried


def test_wrong_filter_dimension_is_a_query_error(sim: Ga4Simulator) -> None:
    bad = {"filter": {"fieldName": "eventNam", "stringFilter": {"value": "purchase"}}}
    error = fails(sim, source(metric="eventCount", dimension_filter=bad))
    assert isinstance(error, QueryError)
    assert "Field eventNam is not a valid dimension." in str(error)


def test_no_access_to_the_property_names_it_and_the_account(sim: Ga4Simulator) -> None:
    error = fails(sim, source(metric="activeUsers", property="987654321"))
    assert isinstance(error, AuthError)
    assert "HTTP 403 PERMISSION_DENIED" in str(error)
    assert "property 987654321" in str(error)
    assert DEMO_CLIENT_EMAIL in str(error)
    assert "User does not have sufficient permissions for this property." in str(error)
    assert len(reports(sim)) == 1


def test_api_not_enabled_says_so(sim: Ga4Simulator) -> None:
    said = "Google Analytics Data API has not been used in project 123456 before or it is disabled."
    sim.add_fault(REPORT, Fault.status(403, google_error(403, "PERMISSION_DENIED", said)))
    error = fails(sim, source(metric="activeUsers"))
    assert isinstance(error, AuthError)
    assert f"enable the Google Analytics Data API in {DEMO_CLIENT_EMAIL}'s project: {said}" in str(
        error
    )


def test_no_property_anywhere_is_a_query_error(sim: Ga4Simulator) -> None:
    config = settings(sim).model_copy(update={"property": None})
    with pytest.raises(
        QueryError, match="no GA4 property: set property on the source or on the connection"
    ):
        HARNESS.measure(config, {"metric": "activeUsers"})
    assert sim.requests == []


@pytest.mark.parametrize(
    ("kind", "words"), [("day", "tokens per day"), ("hour", "tokens per hour")]
)
def test_spent_quota_is_not_retried(sim: Ga4Simulator, kind: str, words: str) -> None:
    sim.spend_quota(kind)
    error = fails(sim, source(metric="activeUsers"))
    assert isinstance(error, QuotaError)
    assert str(error).startswith(
        f"HTTP 429 RESOURCE_EXHAUSTED: GA4 property {DEMO_PROPERTY} has spent its quota"
    )
    assert f"Exhausted property {words}." in str(error)
    assert len(reports(sim)) == 1


def test_project_hourly_quota_is_a_quota_error_too(sim: Ga4Simulator) -> None:
    body = google_error(
        429, "RESOURCE_EXHAUSTED", "Exhausted property tokens for a project per hour."
    )
    sim.add_fault(REPORT, Fault.status(429, body))
    assert isinstance(fails(sim, source(metric="activeUsers")), QuotaError)


def test_other_429s_back_off_honouring_retry_after(sim: Ga4Simulator) -> None:
    busy = google_error(429, "RESOURCE_EXHAUSTED", "Exhausted concurrent requests quota.")
    sim.add_fault(REPORT, Fault.status(429, busy, headers={"Retry-After": "7"}))
    sim.add_fault(REPORT, Fault.status(429, busy))
    sleeps = Sleeps()
    (reading,) = measure(sim, source(metric="activeUsers"), sleeps=sleeps)
    assert reading.value > 0
    assert reading.calls == 3
    assert sleeps.waits[0] == 7.0
    assert len(sleeps.waits) == 2
    assert 0 < sleeps.waits[1] <= 1.0  # backoff with jitter: 0.5 * 2 * [0.5, 1]


def test_5xx_storm_exhausts_attempts(sim: Ga4Simulator) -> None:
    sim.add_fault(
        REPORT,
        Fault.status(
            503, google_error(503, "UNAVAILABLE", "The service is currently unavailable.")
        ),
        times=10,
    )
    sleeps = Sleeps()
    with pytest.raises(
        TransientError,
        match=r"HTTP 503 UNAVAILABLE from runReport .*The service is currently unavailable",
    ):
        measure(sim, source(metric="activeUsers"), sleeps=sleeps, retry={"attempts": 3})
    assert len(reports(sim)) == 3
    assert len(sleeps.waits) == 2


def test_timeout_is_transient(sim: Ga4Simulator) -> None:
    sim.add_fault(REPORT, Fault.hang(5), times=2)
    error = fails(sim, source(metric="activeUsers"), timeout=0.2, retry={"attempts": 2})
    assert isinstance(error, TransientError)
    assert str(error) == f"POST /v1beta/properties/{DEMO_PROPERTY}:runReport timed out after 0.2s"


# -- tokens -------------------------------------------------------------------------


def test_one_token_serves_many_measures(sim: Ga4Simulator) -> None:
    measure(sim, source(metric="activeUsers"), source(metric="sessions"), source(metric="newUsers"))
    assert token_calls(sim) == 1
    (call,) = [r for r in sim.requests if r.path == "/token"]
    form = dict(httpx.QueryParams(call.body.decode()))
    assert form["grant_type"] == GRANT_TYPE
    header = jwt.get_unverified_header(form["assertion"])
    claims = jwt.decode(form["assertion"], demo_key()[1], algorithms=["RS256"], audience=AUDIENCE)
    assert (header["alg"], header["kid"]) == ("RS256", DEMO_KEY_ID)
    assert (claims["iss"], claims["scope"], claims["exp"] - claims["iat"]) == (
        DEMO_CLIENT_EMAIL,
        SCOPE,
        3600,
    )
    assert abs(claims["iat"] - time.time()) < 60
    assert "authorization" not in call.headers  # no Bearer to the token endpoint


def test_expired_token_is_renewed_once_transparently(sim: Ga4Simulator) -> None:
    config = settings(sim)

    async def run() -> list[Reading]:
        connection = CONNECTOR.open(config, Runtime(sleep=Sleeps()))
        try:
            first = await connection.measure(source(metric="activeUsers"))
            sim.expire_tokens()
            second = await connection.measure(source(metric="activeUsers"))
            return [first, second]
        finally:
            await connection.aclose()

    first, second = asyncio.run(run())
    assert first.value == second.value
    assert (first.calls, second.calls) == (1, 2)  # the refused call counts
    assert [r.path for r in sim.requests] == ["/token", REPORT, REPORT, "/token", REPORT]
    tokens = [r.headers["authorization"] for r in reports(sim)]
    assert tokens[0] == tokens[1] != tokens[2]
    assert all("authorization" not in r.headers for r in sim.requests if r.path == "/token")


def test_short_lived_tokens_are_fetched_again_before_they_expire() -> None:
    with Ga4Simulator(today=lambda: TODAY, token_lifetime=120) as sim:
        measure(sim, source(metric="activeUsers"), source(metric="sessions"))
        assert token_calls(sim) == 2  # 120 s is inside the refresh margin
        assert len(reports(sim)) == 2  # renewed ahead of time: no 401 round trips


def test_401_after_a_new_token_is_an_auth_error(sim: Ga4Simulator) -> None:
    body = google_error(401, "UNAUTHENTICATED", "Request had invalid authentication credentials.")
    sim.add_fault(REPORT, Fault.status(401, body), times=2)
    error = fails(sim, source(metric="activeUsers"))
    assert type(error) is AuthError
    assert "HTTP 401 UNAUTHENTICATED from runReport as " + DEMO_CLIENT_EMAIL in str(error)
    assert str(error).endswith("(right after a new access token)")
    assert (token_calls(sim), len(reports(sim))) == (2, 2)


def test_concurrent_measures_share_one_token_call(sim: Ga4Simulator) -> None:
    config = settings(sim, max_concurrency=10)

    async def run() -> list[Reading]:
        connection = CONNECTOR.open(config, Runtime(sleep=Sleeps()))
        try:
            names = ["activeUsers", "sessions", "newUsers", "eventCount", "totalUsers"] * 2
            return await asyncio.gather(*(connection.measure(source(metric=n)) for n in names))
        finally:
            await connection.aclose()

    sim.add_fault("/token", Fault.delay(0.1))  # every measure arrives while the token is on its way
    readings = asyncio.run(run())
    assert len(readings) == 10
    assert token_calls(sim) == 1
    sim.clear_requests()
    sim.expire_tokens()
    asyncio.run(run())
    assert token_calls(sim) == 1  # ten 401s, one renewal


@pytest.mark.parametrize(
    ("who", "message"),
    [
        (
            "unknown@okrsync-demo.iam.gserviceaccount.com",
            "invalid_grant: Invalid grant: account not found",
        ),
        (DEMO_CLIENT_EMAIL, "invalid_grant: Invalid JWT Signature."),
    ],
)
def test_refused_key_is_an_auth_error_tried_once(sim: Ga4Simulator, who: str, message: str) -> None:
    pem = new_key()[0]
    key_file = sim.service_account_json(email=who, private_pem=pem)
    with pytest.raises(AuthError) as info:
        measure(sim, source(metric="activeUsers"), source(metric="sessions"), credentials=key_file)
    text = str(info.value)
    assert text == f"Google refused service account {who} (HTTP 400 from POST /token): {message}"
    assert token_calls(sim) == 1  # not retried, and not again for the second source
    assert reports(sim) == []
    assert "PRIVATE KEY" not in text
    assert pem.splitlines()[1] not in text


def test_token_endpoint_outage_is_retried(sim: Ga4Simulator) -> None:
    sim.add_fault("/token", Fault.status(503, b"<html>unavailable</html>"))
    (reading,) = measure(sim, source(metric="activeUsers"))
    assert reading.value > 0
    assert token_calls(sim) == 2


# -- configuration --------------------------------------------------------------------


def key_text(**changes: Any) -> str:
    info: dict[str, Any] = {
        "type": "service_account",
        "private_key_id": DEMO_KEY_ID,
        "private_key": demo_key()[0],
        "client_email": DEMO_CLIENT_EMAIL,
        "token_uri": "https://oauth2.googleapis.com/token",
    }
    info.update(changes)
    return json.dumps({k: v for k, v in info.items() if v is not None})


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ("not json at all", "credentials is not JSON (line 1 column 1)"),
        ("[1, 2]", "credentials is JSON but not an object"),
        (
            key_text(type="authorized_user"),
            "credentials type is 'authorized_user', expected 'service_account'",
        ),
        (key_text(type=None), "credentials type is missing"),
        (key_text(client_email=None, token_uri=""), "credentials lacks client_email, token_uri"),
        (
            key_text(private_key="-----BEGIN PRIVATE KEY-----\nQUJD\n-----END PRIVATE KEY-----\n"),
            "private_key is not a PEM private key",
        ),
        (key_text(token_uri="oauth2.googleapis.com/token"), "token_uri must be an http(s) URL"),
        (key_text(token_uri="httpx://oauth2.googleapis.com/token"), "token_uri must be an http"),
        (key_text(token_uri="https:///token"), "token_uri must be an http(s) URL with a host"),
        (key_text(token_uri="https://[::1/token"), "token_uri must be an http(s) URL with a host"),
    ],
)
def test_settings_validation_never_echoes_the_key(credentials: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Ga4Settings.model_validate({"type": "ga4", "credentials": credentials})
    assert message in str(info.value)
    assert "BEGIN PRIVATE KEY" not in str(info.value)
    assert demo_key()[0].splitlines()[1] not in str(info.value)
    assert "not json at all" not in str(info.value)


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"metric": "active users"}, "is not a GA4 API name"),
        ({"metric": "activeUsers", "property": "G-ABC123"}, "is not a GA4 property id"),
        ({"metric": "activeUsers", "date_range": "last_week"}, "date_range 'last_week'"),
        (
            {"metric": "activeUsers", "dimension_filter": {"fieldName": "eventName"}},
            "exactly one of andGroup, orGroup, notExpression, filter",
        ),
        (
            {
                "metric": "activeUsers",
                "dimension_filter": {"filter": {"field_name": "eventName", "stringFilter": {}}},
            },
            "filter needs 'fieldName'",
        ),
        (
            {"metric": "activeUsers", "dimension_filter": {"andGroup": {"expressions": []}}},
            "needs a non-empty 'expressions' list",
        ),
        (
            {
                "metric": "activeUsers",
                "dimension_filter": {"notExpression": {"filter": {"fieldName": "x"}}},
            },
            "dimension_filter.notExpression.filter needs",
        ),
        ({"metric": "activeUsers", "extra": 1}, "extra"),
    ],
)
def test_source_validation(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(pydantic.ValidationError, match=message):
        Ga4Source.model_validate({"connection": "ga", **fields})


def test_settings_property_and_extra_keys_are_checked() -> None:
    with pytest.raises(pydantic.ValidationError, match="'G-ABC123' is not a GA4 property id"):
        Ga4Settings.model_validate(
            {"type": "ga4", "credentials": key_text(), "property": "G-ABC123"}
        )
    with pytest.raises(pydantic.ValidationError, match="Extra inputs are not permitted"):
        Ga4Settings.model_validate({"type": "ga4", "credentials": key_text(), "key_file": "x"})
    config = Ga4Settings.model_validate({"type": "ga4", "credentials": key_text(), "property": 7})
    assert (config.property, config.url) == ("7", "https://analyticsdata.googleapis.com")


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("analyticsdata.googleapis.com", "url must start with http:// or https:// and name a host"),
        ("ftp://analyticsdata.googleapis.com", "url must start with http:// or https://"),
        ("https://", "and name a host"),
        ("https://me:hunter2@analyticsdata.googleapis.com", "not in the url"),
    ],
)
def test_settings_url_is_checked(url: str, message: str) -> None:
    with pytest.raises(pydantic.ValidationError) as info:
        Ga4Settings.model_validate({"type": "ga4", "credentials": key_text(), "url": url})
    assert message in str(info.value)
    assert "hunter2" not in str(info.value)


def test_property_is_normalised() -> None:
    assert (
        Ga4Source.model_validate({"connection": "g", "metric": "m", "property": 312345678}).property
        == "312345678"
    )
    assert Ga4Source(connection="g", metric="m", property="properties/42").property == "42"


def test_describe_shows_dates_and_filter() -> None:
    assert (
        describe(source(metric="activeUsers", property="42"))
        == "GA4 properties/42 activeUsers 2026-10-01..2026-11-15"
    )
    text = describe(
        source(metric="eventCount", dimension_filter=PURCHASE, date_range="last_7_days")
    )
    assert text.startswith(
        'GA4 the connection\'s property eventCount 2026-11-08..2026-11-14 where {"filter"'
    )


# -- the simulator is as strict as GA4 ---------------------------------------------------


_HTTP: list[httpx.Client] = []


@pytest.fixture(scope="module", autouse=True)
def _http() -> Iterator[None]:
    """One plain client for the conformance tests (each new client loads the CA store)."""
    with httpx.Client() as client:
        _HTTP.append(client)
        yield
        _HTTP.clear()


def post(sim: Ga4Simulator, path: str, token: str | None = None, **kwargs: Any) -> httpx.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return _HTTP[0].post(sim.url + path, headers=headers, **kwargs)


def grant(sim: Ga4Simulator, **claims: Any) -> httpx.Response:
    now = int(time.time())
    body = {
        "iss": DEMO_CLIENT_EMAIL,
        "scope": SCOPE,
        "aud": AUDIENCE,
        "iat": now,
        "exp": now + 3600,
    }
    body.update(claims)
    signed = jwt.encode(
        {k: v for k, v in body.items() if v is not None}, demo_key()[0], algorithm="RS256"
    )
    return post(sim, "/token", data={"grant_type": GRANT_TYPE, "assertion": signed})


@pytest.mark.parametrize(
    ("claims", "error", "description"),
    [
        (
            {"aud": "https://example.com/token"},
            "invalid_grant",
            "Invalid JWT: Failed audience check.",
        ),
        (
            {"exp": int(time.time()) + 7200},
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token (60 minutes)",
        ),
        (
            {"iat": int(time.time()) - 7200, "exp": int(time.time()) - 3600},
            "invalid_grant",
            "Invalid JWT: Token must be a short-lived token",
        ),
        ({"scope": None}, "invalid_scope", "Invalid OAuth scope or ID token audience provided."),
    ],
)
def test_simulator_token_endpoint_refuses_bad_assertions(
    sim: Ga4Simulator, claims: dict[str, Any], error: str, description: str
) -> None:
    answer = grant(sim, **claims)
    assert answer.status_code == 400
    assert answer.json()["error"] == error
    assert answer.json()["error_description"].startswith(description)


def test_simulator_token_endpoint_grants_and_checks_grant_type(sim: Ga4Simulator) -> None:
    answer = grant(sim)
    assert answer.status_code == 200
    assert answer.json()["token_type"] == "Bearer"
    assert answer.json()["expires_in"] == 3599
    wrong = post(sim, "/token", data={"grant_type": "client_credentials"})
    assert wrong.json() == {
        "error": "unsupported_grant_type",
        "error_description": "Invalid grant_type: client_credentials",
    }
    garbage = post(sim, "/token", data={"grant_type": GRANT_TYPE, "assertion": "x.y.z"})
    assert garbage.json()["error_description"] == "Invalid JWT Signature."


def test_simulator_report_shape(sim: Ga4Simulator) -> None:
    token = grant(sim).json()["access_token"]
    body = {
        "dateRanges": [{"startDate": "30daysAgo", "endDate": "yesterday"}],
        "metrics": [{"name": "activeUsers"}, {"name": "bounceRate"}],
    }
    answer = post(sim, REPORT, token, json=body).json()
    assert answer["kind"] == "analyticsData#runReport"
    assert answer["metricHeaders"] == [
        {"name": "activeUsers", "type": "TYPE_INTEGER"},
        {"name": "bounceRate", "type": "TYPE_FLOAT"},
    ]
    assert "dimensionHeaders" not in answer  # proto3 JSON leaves out empty lists
    assert answer["rowCount"] == 1
    values = [v["value"] for v in answer["rows"][0]["metricValues"]]
    assert values[0] == str(
        round(
            metric_value(
                "mau_key_accounts", TODAY - timedelta(days=30), TODAY - timedelta(days=1), TODAY
            )
        )
    )
    assert 0 < float(values[1]) < 1
    assert answer["metadata"] == {"currencyCode": "USD", "timeZone": "America/Los_Angeles"}
    assert "propertyQuota" not in answer


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (
            {
                "metrics": [{"name": "activeUsers"}],
                "dateRanges": [{"startDate": "2026-10-01", "endDate": "2026-10-31"}],
                "metricz": 1,
            },
            'Unknown name "metricz": Cannot find field.',
        ),
        (
            {
                "metrics": [{"name": "activeUsers"}],
                "dateRanges": [{"startDate": "2026-10-1", "endDate": "2026-10-31"}],
            },
            "Invalid startDate: 2026-10-1. startDate must be YYYY-MM-DD, NdaysAgo, yesterday, or today.",
        ),
        (
            {
                "metrics": [{"name": "activeUsers"}],
                "dateRanges": [{"startDate": "2026-10-31", "endDate": "2026-10-01"}],
            },
            "endDate cannot be before startDate",
        ),
        ({"metrics": [{"name": "activeUsers"}]}, "at least one date range"),
        ({"dateRanges": [{"startDate": "today", "endDate": "today"}]}, "At least one metric"),
        (
            {
                "metrics": [{"name": "activeUsers"}],
                "dateRanges": [{"startDate": "today", "endDate": "today"}],
                "dimensions": [{"name": "date"}],
            },
            "does not support dimensions",
        ),
        (
            {
                "metrics": [{"name": "activeUsers"}],
                "dateRanges": [{"startDate": "today", "endDate": "today"}],
                "dimensionFilter": {
                    "filter": {"fieldName": "eventName", "inListFilter": {"values": ["a"]}}
                },
            },
            "supports only stringFilter",
        ),
        (
            {
                "metrics": [{"name": "activeUsers"}],
                "dateRanges": [{"startDate": "today", "endDate": "today"}],
                "dimensionFilter": {
                    "filter": {
                        "fieldName": "eventName",
                        "stringFilter": {"matchType": "CONTAINS", "value": "a"},
                    }
                },
            },
            "stringFilter EXACT",
        ),
    ],
)
def test_simulator_rejects_what_it_does_not_model_with_googles_shape(
    sim: Ga4Simulator, body: dict[str, Any], message: str
) -> None:
    token = grant(sim).json()["access_token"]
    answer = post(sim, REPORT, token, json=body)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert (error["code"], error["status"]) == (400, "INVALID_ARGUMENT")
    assert message in error["message"]


def test_simulator_auth_checks(sim: Ga4Simulator) -> None:
    body = {
        "metrics": [{"name": "activeUsers"}],
        "dateRanges": [{"startDate": "today", "endDate": "today"}],
    }
    missing = post(sim, REPORT, json=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["message"].startswith(
        "Request is missing required authentication credential."
    )
    forged = post(sim, REPORT, "ya29.forged", json=body)
    assert forged.json()["error"]["status"] == "UNAUTHENTICATED"
    assert 'error="invalid_token"' in forged.headers["www-authenticate"]
    other = grant(sim, scope="https://www.googleapis.com/auth/drive").json()["access_token"]
    scoped = post(sim, REPORT, other, json=body)
    assert (scoped.status_code, scoped.json()["error"]["message"]) == (
        403,
        "Request had insufficient authentication scopes.",
    )
    bad_id = post(
        sim, "/v1beta/properties/abc:runReport", grant(sim).json()["access_token"], json=body
    )
    assert bad_id.json()["error"]["message"].startswith("Invalid property ID: abc.")


def test_demo_hands_out_a_working_key_file() -> None:
    sim, demo = start_demo(today=lambda: TODAY)
    try:
        config = Ga4Settings.model_validate({"type": "ga4", **demo.overrides})
        reading = HARNESS.measure(config, {"metric": "activeUsers"})
        assert json.loads(demo.environ["GA4_CREDENTIALS"])["token_uri"] == f"{sim.url}/token"
    finally:
        sim.stop()
    assert reading.value == metric_value("mau_key_accounts", date(2026, 10, 1), TODAY, TODAY)


# -- a whole sync into a real store -----------------------------------------------------


def kr(kr_id: str, body: str) -> str:
    lines = "".join(f"          {line}\n" for line in body.strip().splitlines())
    return (
        f"      - id: {kr_id}\n        title: {kr_id}\n        owner: o@example.com\n"
        f"        start: 0\n        target: 1000000\n        source:\n          connection: ga\n{lines}"
    )


def test_sync_stores_values_errors_and_keeps_the_last_good_value(
    tmp_path: Path, sim: Ga4Simulator
) -> None:
    key_file = sim.write_service_account(tmp_path / "ga4.json")
    connections = (
        f"connections:\n  ga:\n    type: ga4\n    url: {sim.url}\n"
        f"    credentials: ${{file:{key_file}}}\n    property: {DEMO_PROPERTY}\n"
    )
    krs = [
        kr("users", "metric: activeUsers"),
        kr("users-again", "metric: activeUsers\ndate_range: cycle"),  # the same query: one call
        kr(
            "purchases",
            "metric: eventCount\ndimension_filter: {filter: {fieldName: eventName, stringFilter: {value: purchase}}}",
        ),
        kr("typo", "metric: activeUserz\ndate_range: last_28_days"),
    ]
    okrs = (
        "cycle: 2026-Q4\nobjectives:\n  - id: obj\n    title: Objective\n    key_results:\n"
        + "".join(krs)
    )
    directory = write(tmp_path / "m", {"connections.yaml": connections, "okrs.yaml": okrs})
    config = loader.load(directory, Registry.default(), environ={})
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as store:
        first = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
        assert first["users"].value == metric_value(
            "mau_key_accounts", date(2026, 10, 1), TODAY, TODAY
        )
        assert first["users-again"].value == first["users"].value
        assert first["purchases"].status == "ok"
        assert first["typo"].status == "error"
        assert first["typo"].error_kind == "query"
        assert first["typo"].error == (
            "connection 'ga': HTTP 400 INVALID_ARGUMENT: GA4 rejected the report for property "
            f"{DEMO_PROPERTY}: Field activeUserz is not a valid metric. For a list of valid "
            "dimensions and metrics, see https://developers.google.com/analytics/devguides/reporting/data/v1/api-schema"
        )
        assert len(reports(sim)) == 3
        users = store.state("users")
        assert users is not None
        assert users.query == f"GA4 the connection's property activeUsers 2026-10-01..{TODAY}"

        sim.spend_quota("day")
        later = NOW + timedelta(hours=2)
        second = {r.kr_id: r for r in sync_now(config, store, now=later, runtime=FAST).records}
        assert second["users"].status == "error"
        assert second["users"].error_kind == "quota"
        assert "Exhausted property tokens per day" in (second["users"].error or "")
        after = store.state("users")
        assert after is not None
        assert (after.value, after.measured_at) == (users.value, users.measured_at)
        assert after.last_error_kind == "quota"

    key = json.loads(key_file.read_text())["private_key"]
    tokens = {r.headers["authorization"].removeprefix("Bearer ") for r in reports(sim)}
    for record in [*first.values(), *second.values()]:
        for text in (record.error or "", record.raw or ""):
            assert key.splitlines()[1] not in text
            assert not any(token in text for token in tokens)
            assert MASK not in text  # nothing needed redacting: the connector never leaked it
