"""The quantive destination over real HTTP against the Quantive simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pydantic
import pytest

from okrsync.demo.simulators.destinations.quantive import (
    DEMO_ACCOUNT_ID,
    DEMO_METRIC_ID,
    DEMO_TOKEN,
    QuantiveSimulator,
)
from okrsync.demo.simulators.server import Fault
from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.destinations.quantive import (
    DEFAULT_URL,
    PUBLISHER,
    QuantiveDestination,
    QuantiveSettings,
    check_metric_id,
)
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import PushItem
from okrsync.testing.runtime import FAST, Sleeps

MEASURED = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
COMMENT = "okrsync: crm (salesforce) `SELECT COUNT() FROM Opportunity` = 42 at 2026-11-15 12:00 UTC"
CHECKIN = rf"/results/api/v1/metrics/{DEMO_METRIC_ID}/checkin"


@pytest.fixture
def sim() -> Iterator[QuantiveSimulator]:
    with QuantiveSimulator() as server:
        yield server


def settings(sim: QuantiveSimulator, **extra: Any) -> QuantiveSettings:
    raw = {
        "type": "quantive",
        "token": DEMO_TOKEN,
        "account_id": DEMO_ACCOUNT_ID,
        "url": f"{sim.url}/results/api/v1",
    }
    return QuantiveSettings.model_validate({**raw, **extra})


def item(
    metric: str = DEMO_METRIC_ID,
    value: float = 42.0,
    comment: str = COMMENT,
    measured_at: datetime = MEASURED,
) -> PushItem:
    return PushItem(
        kr_id="pipeline", item=metric, value=value, measured_at=measured_at, comment=comment
    )


def push_all(config: QuantiveSettings, items: list[PushItem], runtime: Runtime = FAST) -> list[str]:
    async def go() -> list[str]:
        dest = PUBLISHER.open("okrs", config, runtime)
        try:
            return [await dest.push(i) for i in items]
        finally:
            await dest.aclose()

    return asyncio.run(go())


def push_error(config: QuantiveSettings, one: PushItem, runtime: Runtime = FAST) -> MeasureError:
    with pytest.raises(MeasureError) as caught:
        push_all(config, [one], runtime)
    return caught.value


def posts(sim: QuantiveSimulator) -> list[str]:
    return [r.path for r in sim.requests if r.method == "POST"]


def test_a_push_is_a_dated_check_in_with_the_provenance(sim: QuantiveSimulator) -> None:
    [receipt] = push_all(settings(sim), [item(DEMO_METRIC_ID.upper())])  # case does not matter
    assert receipt == (
        f"metric {DEMO_METRIC_ID} (Grow qualified pipeline to 120 opportunities): "
        "actual = 42 checked in for 2026-11-15T12:00:00Z"
    )
    [got] = sim.received
    assert got.metric_id == DEMO_METRIC_ID
    assert got.actual == 42
    assert got.check_in_date == "2026-11-15T12:00:00Z"
    assert got.comment == COMMENT
    assert got.account_id == DEMO_ACCOUNT_ID
    assert got.keys == ("actual", "checkInDate", "comment")  # no confidence: Quantive keeps its own
    [post] = [r for r in sim.requests if r.method == "POST"]
    assert post.path == CHECKIN
    assert post.headers["authorization"] == f"Bearer {DEMO_TOKEN}"
    assert post.headers["gtmhub-accountid"] == DEMO_ACCOUNT_ID
    assert post.json() == {
        "actual": 42,
        "checkInDate": "2026-11-15T12:00:00Z",
        "comment": COMMENT,
    }
    assert sim.actual(DEMO_METRIC_ID) == 42


def test_history_checks_in_each_value_on_its_own_date_in_utc(sim: QuantiveSimulator) -> None:
    assert QuantiveDestination.dated is True
    plus2 = timezone(timedelta(hours=2))
    values = [
        item(value=10.5, measured_at=datetime(2026, 10, 5, 9, 30, tzinfo=plus2)),
        item(value=17, measured_at=datetime(2026, 10, 12, 9, 0)),  # noqa: DTZ001 - naive: taken as UTC
    ]
    push_all(settings(sim), values)
    assert [(r.actual, r.check_in_date) for r in sim.received] == [
        (10.5, "2026-10-05T07:30:00Z"),
        (17, "2026-10-12T09:00:00Z"),
    ]


def test_the_legacy_gtmhub_base_works_too(sim: QuantiveSimulator) -> None:
    push_all(settings(sim, url=f"{sim.url}/api/v1/"), [item()])
    assert posts(sim) == [f"/api/v1/metrics/{DEMO_METRIC_ID}/checkin"]
    assert len(sim.received) == 1


def test_a_wrong_token_is_an_auth_error_in_quantives_words_without_the_token(
    sim: QuantiveSimulator,
) -> None:
    wrong = "qtv-not-the-right-token-000000000000000000"
    error = push_error(settings(sim, token=wrong), item())
    assert isinstance(error, AuthError)
    assert "HTTP 401: Quantive refused the token of destination 'okrs'" in str(error)
    assert "invalid or expired token" in str(error)
    assert wrong not in str(error)
    assert error.calls == 1
    assert sim.received == []


def test_another_accounts_id_is_an_auth_error(sim: QuantiveSimulator) -> None:
    error = push_error(settings(sim, account_id="5be26318e5274a0007f17f61"), item())
    assert isinstance(error, AuthError)
    assert "HTTP 403" in str(error)
    assert "account_id must be the token's account" in str(error)


def test_an_unknown_metric_is_a_query_error_naming_it(sim: QuantiveSimulator) -> None:
    unknown = "ffffffffffffffffffffffff"
    error = push_error(settings(sim), item(unknown))
    assert isinstance(error, QueryError)
    assert f"no Quantive metric {unknown} in account {DEMO_ACCOUNT_ID}" in str(error)
    assert f"metric with id {unknown} not found" in str(error)
    assert error.calls == 1
    assert sim.received == []


def test_a_metric_the_user_may_not_edit_is_an_auth_error(sim: QuantiveSimulator) -> None:
    locked = "0123456789abcdef01234567"
    sim.add_metric(locked, editable=False)
    error = push_error(settings(sim), item(locked))
    assert isinstance(error, AuthError)
    assert f"forbids checking in metric {locked}" in str(error)
    assert "you do not have permission" in str(error)


@pytest.mark.parametrize("bad", ["5e8c27e3", "not-a-metric", f"{DEMO_METRIC_ID}00", ""])
def test_an_item_that_is_not_an_object_id_is_refused_before_sending(
    sim: QuantiveSimulator, bad: str
) -> None:
    with pytest.raises(ValueError, match="is not a Quantive metric id"):
        check_metric_id(bad)
    error = push_error(settings(sim), item(bad))
    assert isinstance(error, QueryError)
    assert "is not a Quantive metric id" in str(error)
    assert posts(sim) == []


def test_rate_limited_waits_as_retry_after_says() -> None:
    now = [100.0]
    sleeps = Sleeps()

    async def sleep(seconds: float) -> None:
        await sleeps(seconds)
        now[0] += seconds

    with QuantiveSimulator(rate_limit=0.5, burst=1, clock=lambda: now[0]) as sim:
        receipts = push_all(settings(sim), [item(value=1), item(value=2)], Runtime(sleep))
        assert len(receipts) == 2
        assert sleeps.waits == [2.0]  # one request per 2 s: Retry-After 2
        assert len(posts(sim)) == 3
        assert [r.actual for r in sim.received] == [1, 2]


def test_a_5xx_storm_is_a_transient_error_after_the_retry_budget(sim: QuantiveSimulator) -> None:
    body = {"statusCode": 503, "error": "Service Unavailable", "message": "try again later"}
    sim.add_fault(CHECKIN, Fault.status(503, body), times=10)
    error = push_error(settings(sim, retry={"attempts": 3}), item())
    assert isinstance(error, TransientError)
    assert "HTTP 503 from Quantive checking in metric" in str(error)
    assert "try again later" in str(error)
    assert len(posts(sim)) == 3
    assert error.calls == 3
    assert sim.received == []


def test_an_error_body_echoing_the_token_does_not_leak_it(sim: QuantiveSimulator) -> None:
    body = {"statusCode": 400, "error": "Bad Request", "message": f"bad token {DEMO_TOKEN}"}
    sim.add_fault(CHECKIN, Fault.status(400, body))
    error = push_error(settings(sim), item())
    assert isinstance(error, QueryError)
    assert DEMO_TOKEN not in str(error)
    assert "bad token ***" in str(error)
    sim.add_fault(CHECKIN, Fault.status(502, f"<html>{DEMO_TOKEN}</html>".encode()), times=4)
    error = push_error(settings(sim), item())
    assert isinstance(error, TransientError)
    assert DEMO_TOKEN not in str(error)


def test_an_answer_that_is_not_json_still_counts_as_checked_in(sim: QuantiveSimulator) -> None:
    sim.add_fault(CHECKIN, Fault.malformed(b"OK"))
    [receipt] = push_all(settings(sim), [item()])
    assert receipt == f"metric {DEMO_METRIC_ID}: actual = 42 checked in for 2026-11-15T12:00:00Z"


def test_aclose_twice_is_harmless(sim: QuantiveSimulator) -> None:
    async def go() -> None:
        dest = PUBLISHER.open("okrs", settings(sim), FAST)
        await dest.push(item())
        await dest.aclose()
        await dest.aclose()

    asyncio.run(go())
    assert len(sim.received) == 1


def test_settings(sim: QuantiveSimulator) -> None:
    config = QuantiveSettings.model_validate(
        {"type": "quantive", "token": DEMO_TOKEN, "account_id": DEMO_ACCOUNT_ID}
    )
    assert (config.url, config.rate_limit) == (DEFAULT_URL, 2.0)
    assert DEMO_TOKEN not in repr(config)
    with pytest.raises(
        pydantic.ValidationError, match="account_id must be the Quantive account id"
    ):
        settings(sim, account_id="acme")
    with pytest.raises(pydantic.ValidationError) as caught:
        settings(sim, url="ftp://quantive")
    assert DEMO_TOKEN not in str(caught.value)
    assert PUBLISHER.type == "quantive"
    assert PUBLISHER.section == "destinations"
