"""The okr-tracker destination over real HTTP against the OKR Tracker simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import httpx
import pydantic
import pytest

from okrsync.demo.simulators.destinations.okr_tracker import (
    DEMO_API_KEY,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_KEY_RESULT,
    DEMO_KPI,
    DEMO_PARENT,
    DEMO_TEAM_SECRET,
    Item,
    OkrTrackerSimulator,
    Owner,
    Received,
)
from okrsync.demo.simulators.server import Fault
from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.destinations.okr_tracker import PUBLISHER, OkrTrackerSettings, utc_day
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import PushItem
from okrsync.testing.runtime import FAST, Sleeps

NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
COMMENT = "okrsync: jira (jira) `project = <OKR>` = 42 at 2026-11-15 12:00 UTC, run 7"
STORED = "okrsync: jira (jira) &#96;project = &lt;OKR&gt;&#96; = 42 at 2026-11-15 12:00 UTC, run 7"
VALUES = rf"/keyres/{DEMO_KEY_RESULT}/values/.*"


@pytest.fixture
def sim() -> Iterator[OkrTrackerSimulator]:
    with OkrTrackerSimulator(now=lambda: NOW) as server:
        yield server


def settings(sim: OkrTrackerSimulator, **extra: Any) -> OkrTrackerSettings:
    data: dict[str, Any] = {
        "type": "okr-tracker",
        "url": sim.url,
        "api_key": DEMO_API_KEY,
        "client_id": DEMO_CLIENT_ID,
        "client_secret": DEMO_CLIENT_SECRET,
    }
    data.update(extra)
    return OkrTrackerSettings.model_validate({k: v for k, v in data.items() if v is not None})


def item(value: float = 42.0, **extra: Any) -> PushItem:
    fields: dict[str, Any] = {
        "kr_id": "signups",
        "item": DEMO_KEY_RESULT,
        "value": value,
        "measured_at": NOW,
        "comment": COMMENT,
        "title": "Grow signups",
        "start": 0.0,
        "target": 100.0,
        "run_id": 7,
    }
    fields.update(extra)
    return PushItem(**fields)


def push(
    config: OkrTrackerSettings, *items: PushItem, runtime: Runtime = FAST
) -> list[str | MeasureError]:
    """Open, push each item in turn, close; errors are returned in place of receipts."""

    async def go() -> list[str | MeasureError]:
        dest = PUBLISHER.open("okr", config, runtime)
        out: list[str | MeasureError] = []
        try:
            for one in items:
                try:
                    out.append(await dest.push(one))
                except MeasureError as exc:
                    out.append(exc)
        finally:
            await dest.aclose()
        return out

    return asyncio.run(go())


def test_a_push_sets_the_days_value_with_its_provenance(sim: OkrTrackerSimulator) -> None:
    [receipt] = push(settings(sim), item())
    assert receipt == f"Updated key result {DEMO_KEY_RESULT} with value 42"
    assert sim.received == [
        Received(
            "keyres", DEMO_KEY_RESULT, 42.0, date(2026, 11, 15), STORED, "values", "client:okrsync"
        )
    ]
    [request] = sim.requests
    assert request.method == "PUT"
    assert request.path == f"/keyres/{DEMO_KEY_RESULT}/values/2026-11-15"
    assert request.json() == {"value": 42, "comment": COMMENT}  # raw: the tool escapes it
    assert request.headers["content-type"] == "application/json"
    assert request.headers["x-api-key"] == DEMO_API_KEY
    assert request.headers["okr-client-id"] == DEMO_CLIENT_ID
    assert request.headers["okr-client-secret"] == DEMO_CLIENT_SECRET
    assert "okr-team-secret" not in request.headers
    [entry] = sim.entries("keyres", DEMO_KEY_RESULT)
    assert entry.timestamp == datetime(2026, 11, 15, 12, tzinfo=UTC)


def test_one_value_per_utc_day_and_the_day_is_utcs(sim: OkrTrackerSimulator) -> None:
    oslo = timezone(timedelta(hours=1))
    late_oslo = datetime(2026, 11, 15, 0, 30, tzinfo=oslo)  # 14 November, 23:30 UTC
    results = push(
        settings(sim),
        item(40.0, measured_at=datetime(2026, 11, 15, 8, tzinfo=UTC)),
        item(42.5, measured_at=datetime(2026, 11, 15, 11, 59, tzinfo=UTC)),
        item(39.0, measured_at=late_oslo),
    )
    assert not [r for r in results if isinstance(r, MeasureError)]
    assert utc_day(late_oslo) == "2026-11-14"
    entries = sim.entries("keyres", DEMO_KEY_RESULT)
    assert [(e.timestamp.date(), e.value) for e in entries] == [
        (date(2026, 11, 14), 39.0),
        (date(2026, 11, 15), 42.5),
    ]
    assert [r.date for r in sim.received] == [date(2026, 11, 15)] * 2 + [date(2026, 11, 14)]


def test_a_kpi_item_goes_to_the_kpi_route_with_the_team_secret(sim: OkrTrackerSimulator) -> None:
    config = settings(sim, client_id=None, client_secret=None, team_secret=DEMO_TEAM_SECRET)
    [receipt] = push(config, item(17.0, item=f"kpi:{DEMO_KPI}", comment="plain"))
    assert receipt == 'Updated progression on 2026-11-15 with: {"value":17,"comment":"plain"}'
    assert sim.received == [
        Received("kpi", DEMO_KPI, 17.0, date(2026, 11, 15), "plain", "values", "team")
    ]
    assert sim.requests[0].path == f"/kpi/{DEMO_KPI}/values/2026-11-15"
    assert sim.requests[0].headers["okr-team-secret"] == DEMO_TEAM_SECRET


def test_a_negative_value_is_refused_before_sending(sim: OkrTrackerSimulator) -> None:
    [error] = push(settings(sim), item(-3.0))
    assert isinstance(error, QueryError)
    assert "negative" in str(error)
    assert "signups is -3" in str(error)
    assert sim.requests == []


@pytest.mark.parametrize(
    ("extra", "owner", "said"),
    [
        (
            {"client_secret": "okr-client-old-secret-99999"},
            None,
            "Invalid client secret provided for API client `okrsync`",
        ),
        (
            {"client_id": "someone-else"},
            None,
            "No API client `someone-else` exists for 'Dataspeilet'",
        ),
        (
            {"client_id": None, "client_secret": None, "team_secret": "okr-team-wrong-777777"},
            None,
            "Wrong `okr-team-secret`",
        ),
        (
            {"client_id": None, "client_secret": None, "team_secret": "okr-team-any-888888"},
            Owner(DEMO_PARENT, {}, None),
            "'Dataspeilet' is not set up for API usage",
        ),
    ],
)
def test_refused_credentials_are_auth_errors_in_the_tools_words(
    extra: dict[str, Any], owner: Owner | None, said: str
) -> None:
    owners = {DEMO_PARENT: owner} if owner is not None else None
    with OkrTrackerSimulator(now=lambda: NOW, owners=owners) as sim:
        config = settings(sim, **extra)
        [error] = push(config, item())
    assert isinstance(error, AuthError)
    assert said in str(error)
    given = (extra.get("client_secret"), extra.get("team_secret"))
    for secret in (DEMO_API_KEY, DEMO_CLIENT_SECRET, DEMO_TEAM_SECRET, *given):
        assert secret is None or secret not in str(error)
    assert sim.received == []
    assert len(sim.requests) == 1  # not retried


def test_the_gateways_refusals_are_auth_errors(sim: OkrTrackerSimulator) -> None:
    [wrong] = push(settings(sim, api_key="not-the-gateway-key-5555"), item())
    assert isinstance(wrong, AuthError)
    assert "the API gateway refused api_key" in str(wrong)
    assert "INVALID_ARGUMENT:API key not valid" in str(wrong)
    assert "not-the-gateway-key-5555" not in str(wrong)


def test_an_unknown_id_is_a_query_error_naming_it(sim: OkrTrackerSimulator) -> None:
    [kr, kpi] = push(settings(sim), item(item="noSuchKeyResult"), item(item="kpi:noSuchKpi"))
    assert isinstance(kr, QueryError)
    assert "no key result 'noSuchKeyResult'" in str(kr)
    assert "Could not find key result with ID: noSuchKeyResult" in str(kr)
    assert isinstance(kpi, QueryError)
    assert "Could not find KPI with ID: noSuchKpi" in str(kpi)


def test_a_future_day_is_refused_with_the_tools_field_message(sim: OkrTrackerSimulator) -> None:
    [error] = push(settings(sim), item(measured_at=NOW + timedelta(days=1)))
    assert isinstance(error, QueryError)
    assert "Invalid request data: date: Future dates not allowed" in str(error)
    assert "2026-11-16" in str(error)


def test_a_url_with_a_path_the_gateway_does_not_serve_says_so(sim: OkrTrackerSimulator) -> None:
    [error] = push(settings(sim, url=sim.url + "/api"), item())
    assert isinstance(error, QueryError)
    assert "the API gateway does not serve" in str(error)
    assert "The current request is not defined by this API." in str(error)


def test_an_item_that_is_not_an_id_is_refused(sim: OkrTrackerSimulator) -> None:
    [slash, empty] = push(settings(sim), item(item="a/b"), item(item="kpi:"))
    assert isinstance(slash, QueryError)
    assert isinstance(empty, QueryError)
    assert sim.requests == []


def test_a_429_with_retry_after_is_waited_out(sim: OkrTrackerSimulator) -> None:
    sim.add_fault(
        VALUES,
        Fault.status(429, b"Too many requests, please try again later.", {"Retry-After": "7"}),
    )
    sleeps = Sleeps()
    [receipt] = push(settings(sim), item(), runtime=Runtime(sleep=sleeps))
    assert receipt == f"Updated key result {DEMO_KEY_RESULT} with value 42"
    assert sleeps.waits == [7.0]
    assert len(sim.requests) == 2
    assert len(sim.received) == 1


def test_the_tools_own_rate_limit_asks_for_longer_than_a_sync_waits() -> None:
    with OkrTrackerSimulator(now=lambda: NOW, limit=1, window=300) as sim:
        sleeps = Sleeps()
        [ok, limited] = push(settings(sim), item(), item(43.0), runtime=Runtime(sleep=sleeps))
    assert isinstance(ok, str)
    assert isinstance(limited, TransientError)
    assert "Too many requests, please try again later." in str(limited)
    assert limited.retry_after is not None
    assert 290 <= limited.retry_after <= 300
    assert sleeps.waits == []  # 300 s is past max_wait: not retried in this sync
    assert len(sim.requests) == 2


def test_a_5xx_storm_is_transient_after_the_retry_budget(sim: OkrTrackerSimulator) -> None:
    sim.add_fault(
        VALUES,
        Fault.status(500, {"message": "Could not update key result progression value"}),
        times=10,
    )
    config = settings(sim)
    [error] = push(config, item())
    assert isinstance(error, TransientError)
    assert "Could not update key result progression value" in str(error)
    assert len(sim.requests) == config.retry.attempts


def test_a_body_echoing_the_secrets_does_not_leak_them(sim: OkrTrackerSimulator) -> None:
    echo = f"Wrong client secret {DEMO_CLIENT_SECRET} for key {DEMO_API_KEY}"
    sim.add_fault(VALUES, Fault.status(401, {"message": echo}))
    sim.add_fault(VALUES, Fault.status(418, f"teapot {DEMO_CLIENT_SECRET}".encode()))
    [auth, other] = push(settings(sim), item(), item())
    assert isinstance(auth, AuthError)
    assert isinstance(other, QueryError)
    for error in (auth, other):
        assert DEMO_CLIENT_SECRET not in str(error)
        assert DEMO_API_KEY not in str(error)
        assert "***" in str(error)


def test_aclose_twice_is_harmless(sim: OkrTrackerSimulator) -> None:
    async def go() -> None:
        dest = PUBLISHER.open("okr", settings(sim), FAST)
        await dest.aclose()
        await dest.aclose()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"client_id": None, "client_secret": None}, "set client_id + client_secret"),
        ({"team_secret": "also-a-team-secret"}, "not both"),
        ({"client_secret": None}, "go together"),
        ({"url": "ftp://example.com"}, "url must start with http"),
        ({"api_key": "  "}, "is empty"),
        ({"route": "both"}, "'values' or 'progress'"),
    ],
)
def test_settings_need_exactly_one_credential_pair(extra: dict[str, Any], says: str) -> None:
    data: dict[str, Any] = {
        "type": "okr-tracker",
        "url": "https://okr.example.gateway.dev",
        "api_key": "k-123456",
        "client_id": "c",
        "client_secret": "s-123456",
        **extra,
    }
    with pytest.raises(pydantic.ValidationError) as caught:
        OkrTrackerSettings.model_validate({k: v for k, v in data.items() if v is not None})
    assert says in str(caught.value)


def test_defaults_follow_the_tools_limit() -> None:
    config = OkrTrackerSettings.model_validate(
        {"type": "okr-tracker", "url": "https://gw.example", "api_key": "k", "team_secret": "t"}
    )
    assert config.rate_limit == 3.0
    assert PUBLISHER.open("okr", config, FAST).dated is True


# -- the simulator itself, by hand -----------------------------------------------


def test_simulator_validation_errors_have_the_tools_shape(sim: OkrTrackerSimulator) -> None:
    with httpx.Client(base_url=sim.url, headers={"x-api-key": DEMO_API_KEY}) as client:
        bare = client.put(f"/keyres/{DEMO_KEY_RESULT}/values/2026-11-15", json={"value": -1})
        text = client.put(
            f"/keyres/{DEMO_KEY_RESULT}/values/2026-13-01",
            content=b'{"value": 1}',  # no Content-Type: express.json leaves the body empty
            headers={"okr-team-secret": DEMO_TEAM_SECRET},
        )
        no_key = httpx.put(f"{sim.url}/keyres/{DEMO_KEY_RESULT}/values/2026-11-15", json={})
    assert bare.status_code == 400
    assert bare.json() == {
        "message": "Invalid request data",
        "errors": {
            "_alternative_grouped": {
                "type": "alternative_grouped",
                "msg": "A pair of `okr-client-id`/`okr-client-secret` headers or an "
                "`okr-team-secret` header is required",
                "nestedErrors": [
                    [
                        {
                            "type": "field",
                            "msg": "The `okr-team-secret` header is required",
                            "path": "okr-team-secret",
                            "location": "headers",
                        }
                    ],
                    [
                        {
                            "type": "field",
                            "msg": "The `okr-client-id` header is required",
                            "path": "okr-client-id",
                            "location": "headers",
                        },
                        {
                            "type": "field",
                            "msg": "The `okr-client-secret` header is required",
                            "path": "okr-client-secret",
                            "location": "headers",
                        },
                    ],
                ],
            },
            "value": {
                "type": "field",
                "value": -1,
                "msg": "Invalid value",
                "path": "value",
                "location": "body",
            },
        },
    }
    assert text.status_code == 400
    assert {k: v["msg"] for k, v in text.json()["errors"].items()} == {
        "date": "Invalid value",
        "value": "Required field",
    }
    assert no_key.status_code == 401
    assert no_key.json()["message"].startswith("UNAUTHENTICATED:Method doesn't allow")
    assert sim.received == []


def test_simulator_progress_route_and_read_back(sim: OkrTrackerSimulator) -> None:
    auth = {"x-api-key": DEMO_API_KEY, "okr-team-secret": DEMO_TEAM_SECRET}
    with httpx.Client(base_url=sim.url, headers=auth) as client:
        put = client.put(f"/keyres/{DEMO_KEY_RESULT}/values/2026-11-14", json={"value": "55"})
        posted = client.post(f"/keyres/{DEMO_KEY_RESULT}", json={"progress": 30, "comment": " a "})
        first = client.get(f"/keyres/{DEMO_KEY_RESULT}").json()
        today = client.put(f"/keyres/{DEMO_KEY_RESULT}/values/2026-11-15", json={"value": 60})
        second = client.get(f"/keyres/{DEMO_KEY_RESULT}").json()
        missing = client.post("/keyres/nope", json={"progress": 1})
    assert put.json() == {"message": f"Updated key result {DEMO_KEY_RESULT} with value 55"}
    assert posted.text == f"Updated key result ({DEMO_KEY_RESULT}) with progress: 30"
    assert (first["currentValue"], first["progression"]) == (30.0, 0.3)  # the newest entry
    assert first["lastUpdated"]["value"] == 30.0
    assert first["lastUpdated"]["comment"] == "a"  # trimmed
    assert today.status_code == 200
    assert second["currentValue"] == 60.0
    assert second["lastUpdated"] is None  # the PUT replaced the day's POSTed entry
    assert [e.value for e in sim.entries("keyres", DEMO_KEY_RESULT)] == [55.0, 60.0]
    assert (missing.status_code, missing.text) == (404, "Could not find KPI with ID: nope")
    assert [r.route for r in sim.received] == ["values", "progress", "values"]
    assert json.loads(put.request.content) == {"value": "55"}  # a numeric string is a number


def test_simulator_knows_other_items() -> None:
    items = {"krA": Item("Team A", start=10, target=20)}
    owners = {"Team A": Owner("Team A", {"ci": "cs-123456"})}
    with OkrTrackerSimulator(now=lambda: NOW, key_results=items, owners=owners) as sim:
        [ok] = push(
            settings(sim, client_id="ci", client_secret="cs-123456"), item(15.0, item="krA")
        )
    assert ok == "Updated key result krA with value 15"
    assert sim.received[0].credential == "client:ci"


def test_route_progress_registers_todays_value_as_progress() -> None:
    now = datetime.now(UTC)
    with OkrTrackerSimulator(now=lambda: now) as live:
        kr, kpi = push(
            settings(live, route="progress"),
            item(measured_at=now),
            item(7.5, item=f"kpi:{DEMO_KPI}", measured_at=now),
        )
        assert kr == f"Updated key result ({DEMO_KEY_RESULT}) with progress: 42"
        assert kpi.startswith(f"Updated progression on {now.date()} with: ")  # type: ignore[union-attr]
        assert [(r.kind, r.route, r.value) for r in live.received] == [
            ("keyres", "progress", 42.0), ("kpi", "progress", 7.5),
        ]  # fmt: skip
        first = live.requests[0]
        assert (first.method, first.path) == ("POST", f"/keyres/{DEMO_KEY_RESULT}")
        assert first.json() == {"progress": 42, "comment": COMMENT}
        [entry] = live.entries("keyres", DEMO_KEY_RESULT)
        assert (entry.created_by, entry.archived, entry.timestamp) == ("API", False, now)


def test_route_progress_still_files_an_earlier_days_value_under_that_day() -> None:
    now = datetime.now(UTC)
    yesterday = now - timedelta(days=1)
    with OkrTrackerSimulator(now=lambda: now) as live:
        [receipt] = push(settings(live, route="progress"), item(measured_at=yesterday))
        assert receipt == f"Updated key result {DEMO_KEY_RESULT} with value 42"
        [request] = live.requests
        assert (request.method, request.path) == (
            "PUT", f"/keyres/{DEMO_KEY_RESULT}/values/{yesterday.date()}",
        )  # fmt: skip


def test_route_progress_to_an_unknown_key_result_is_the_tools_404_text() -> None:
    now = datetime.now(UTC)
    with OkrTrackerSimulator(now=lambda: now) as live:
        [error] = push(settings(live, route="progress"), item(item="krNoSuchOne", measured_at=now))
        assert isinstance(error, QueryError)
        assert "Could not find KPI with ID: krNoSuchOne" in str(error)  # (sic) the tool's words
        assert live.received == []
