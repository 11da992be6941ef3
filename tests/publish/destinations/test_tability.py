"""The tability destination over real HTTP against the Tability Check-ins API simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from okrsync.demo.simulators.destinations.tability import (
    DEMO_OUTCOME_TOKEN,
    DEMO_TOKEN,
    TabilitySimulator,
)
from okrsync.demo.simulators.server import Fault
from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.destinations.tability import (
    DEFAULT_URL,
    PUBLISHER,
    TabilityDestination,
    TabilitySettings,
    check_remote_token,
    score_text,
)
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import PushItem
from okrsync.testing.runtime import FAST, Sleeps

MEASURED = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
COMMENT = "okrsync: crm (salesforce) `SELECT COUNT() FROM Opportunity` = 42 at 2026-11-15 12:00 UTC"
CHECKINS = r"/webhooks/checkins"
SHOWN = DEMO_OUTCOME_TOKEN[:4] + "…"


@pytest.fixture
def sim() -> Iterator[TabilitySimulator]:
    with TabilitySimulator() as server:
        yield server


def settings(sim: TabilitySimulator, **extra: Any) -> TabilitySettings:
    raw = {"type": "tability", "personal_api_token": DEMO_TOKEN, "url": sim.url}
    return TabilitySettings.model_validate({**raw, **extra})


def item(outcome: str = DEMO_OUTCOME_TOKEN, value: float = 42.0) -> PushItem:
    return PushItem(
        kr_id="pipeline", item=outcome, value=value, measured_at=MEASURED, comment=COMMENT
    )


def push_all(config: TabilitySettings, items: list[PushItem], runtime: Runtime = FAST) -> list[str]:
    async def go() -> list[str]:
        dest = PUBLISHER.open("okrs", config, runtime)
        try:
            return [await dest.push(i) for i in items]
        finally:
            await dest.aclose()

    return asyncio.run(go())


def push_error(config: TabilitySettings, one: PushItem, runtime: Runtime = FAST) -> MeasureError:
    with pytest.raises(MeasureError) as caught:
        push_all(config, [one], runtime)
    return caught.value


def posts(sim: TabilitySimulator) -> list[str]:
    return [r.path for r in sim.requests if r.method == "POST"]


def test_a_push_is_a_check_in_with_a_string_score_and_the_provenance(
    sim: TabilitySimulator,
) -> None:
    [receipt] = push_all(settings(sim), [item()])
    assert receipt.startswith(f"outcome {SHOWN}: score 42 (confidence yellow, check-in ")
    assert DEMO_OUTCOME_TOKEN not in receipt
    [got] = sim.received
    assert got.outcome_token == DEMO_OUTCOME_TOKEN
    assert got.score == "42"
    assert got.body == COMMENT
    assert got.confidence is None  # not sent: Tability derives it
    assert got.stored_confidence == "yellow"  # 35 % of the way where 50 % was projected
    assert got.keys == ("personal_api_token", "score", "body")
    [post] = [r for r in sim.requests if r.method == "POST"]
    assert post.path == "/webhooks/checkins"
    assert post.query == {"remote_checkins_token": DEMO_OUTCOME_TOKEN}
    assert post.json() == {"personal_api_token": DEMO_TOKEN, "score": "42", "body": COMMENT}
    assert sim.score(DEMO_OUTCOME_TOKEN) == 42
    assert TabilityDestination.dated is False


def test_the_remote_check_ins_url_is_an_item_too(sim: TabilitySimulator) -> None:
    address = (
        f"https://api.tability.app/webhooks/checkins?remote_checkins_token={DEMO_OUTCOME_TOKEN}"
    )
    push_all(settings(sim), [item(address, 0.375)])
    [got] = sim.received
    assert (got.outcome_token, got.score) == (DEMO_OUTCOME_TOKEN, "0.375")


@pytest.mark.parametrize(
    ("value", "text"), [(25000.0, "25000"), (0.375, "0.375"), (1e-05, "0.00001"), (-3.5, "-3.5")]
)
def test_scores_are_plain_decimals(value: float, text: str) -> None:
    assert score_text(value) == text


def test_a_wrong_personal_token_is_an_auth_error_without_the_token(
    sim: TabilitySimulator,
) -> None:
    wrong = "tbl-not-the-right-token-00000000000000"
    error = push_error(settings(sim, personal_api_token=wrong), item())
    assert isinstance(error, AuthError)
    assert "HTTP 401: Tability refused the personal API token of destination 'okrs'" in str(error)
    assert "Invalid personal API token" in str(error)
    assert wrong not in str(error)
    assert error.calls == 1
    assert sim.received == []


def test_an_unknown_or_disabled_outcome_is_a_query_error_showing_4_characters(
    sim: TabilitySimulator,
) -> None:
    unknown = "Zz9unknownOutcomeToken"
    error = push_error(settings(sim), item(unknown))
    assert isinstance(error, QueryError)
    assert "no Tability outcome with remote check-ins token Zz9u…" in str(error)
    assert "Outcome not found" in str(error)
    assert unknown not in str(error)
    assert error.calls == 1
    off = "Off0ffRemoteCheckins"
    sim.add_outcome(off, remote_enabled=False)
    error = push_error(settings(sim), item(off))
    assert isinstance(error, QueryError)
    assert "Check-ins API is off" in str(error)
    assert off not in str(error)
    assert sim.received == []


def test_a_workspace_without_the_feature_is_an_auth_error(sim: TabilitySimulator) -> None:
    basic = "BasicPlanOutcome01"
    sim.add_outcome(basic, plan_allows=False)
    error = push_error(settings(sim), item(basic))
    assert isinstance(error, AuthError)
    assert "needs Tability Plus or Premium" in str(error)
    assert basic not in str(error)


@pytest.mark.parametrize(
    "bad",
    ["short", "has spaces in it", "https://api.tability.app/webhooks/checkins", ""],
)
def test_an_item_that_is_not_a_token_is_refused_before_sending(
    sim: TabilitySimulator, bad: str
) -> None:
    with pytest.raises(ValueError, match=r"remote check-ins|remote_checkins_token"):
        check_remote_token(bad)
    error = push_error(settings(sim), item(bad))
    assert isinstance(error, QueryError)
    assert posts(sim) == []


def test_rate_limited_waits_as_retry_after_says() -> None:
    now = [100.0]
    sleeps = Sleeps()

    async def sleep(seconds: float) -> None:
        await sleeps(seconds)
        now[0] += seconds

    with TabilitySimulator(rate_limit=0.25, clock=lambda: now[0]) as sim:
        receipts = push_all(settings(sim), [item(value=1), item(value=2)], Runtime(sleep))
        assert len(receipts) == 2
        assert sleeps.waits == [4.0]  # one request per 4 s: Retry-After 4
        assert len(posts(sim)) == 3
        assert [r.score for r in sim.received] == ["1", "2"]


def test_a_5xx_storm_is_a_transient_error_after_the_retry_budget(sim: TabilitySimulator) -> None:
    sim.add_fault(CHECKINS, Fault.status(503, {"error": "Service unavailable"}), times=10)
    error = push_error(settings(sim, retry={"attempts": 3}), item())
    assert isinstance(error, TransientError)
    assert f"HTTP 503 from Tability checking in outcome {SHOWN}" in str(error)
    assert "Service unavailable" in str(error)
    assert len(posts(sim)) == 3
    assert error.calls == 3
    assert sim.received == []


def test_an_error_body_echoing_the_tokens_leaks_neither(sim: TabilitySimulator) -> None:
    echo = {"error": f"bad request: {DEMO_TOKEN} for {DEMO_OUTCOME_TOKEN}"}
    sim.add_fault(CHECKINS, Fault.status(422, echo))
    error = push_error(settings(sim), item())
    assert isinstance(error, QueryError)
    assert DEMO_TOKEN not in str(error)
    assert DEMO_OUTCOME_TOKEN not in str(error)
    assert f"bad request: *** for {SHOWN}" in str(error)
    page = f"<html>{DEMO_TOKEN} {DEMO_OUTCOME_TOKEN}</html>".encode()
    sim.add_fault(CHECKINS, Fault.status(502, page), times=4)
    error = push_error(settings(sim), item())
    assert isinstance(error, TransientError)
    assert DEMO_TOKEN not in str(error)
    assert DEMO_OUTCOME_TOKEN not in str(error)


def test_an_answer_that_is_not_json_still_counts_as_checked_in(sim: TabilitySimulator) -> None:
    sim.add_fault(CHECKINS, Fault.malformed(b"OK"))
    assert push_all(settings(sim), [item()]) == [f"outcome {SHOWN}: score 42"]


def test_aclose_twice_is_harmless(sim: TabilitySimulator) -> None:
    async def go() -> None:
        dest = PUBLISHER.open("okrs", settings(sim), FAST)
        await dest.push(item())
        await dest.aclose()
        await dest.aclose()

    asyncio.run(go())
    assert len(sim.received) == 1


def test_settings(sim: TabilitySimulator) -> None:
    config = TabilitySettings.model_validate({"type": "tability", "personal_api_token": DEMO_TOKEN})
    assert (config.url, config.rate_limit) == (DEFAULT_URL, 1.0)
    assert DEMO_TOKEN not in repr(config)
    with pytest.raises(pydantic.ValidationError) as caught:
        settings(sim, url="api.tability.app")
    assert DEMO_TOKEN not in str(caught.value)
    assert PUBLISHER.type == "tability"
    assert PUBLISHER.section == "destinations"
