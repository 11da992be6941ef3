"""The asana destination over real HTTP against the Asana simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pydantic
import pytest

from okrsync.demo.simulators.destinations.asana import (
    DEMO_GOAL_GID,
    DEMO_TOKEN,
    RATE_LIMITED,
    AsanaSimulator,
    GoalMetric,
)
from okrsync.demo.simulators.server import Fault
from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.destinations.asana import (
    DEFAULT_URL,
    OPT_FIELDS,
    PUBLISHER,
    AsanaDestination,
    AsanaSettings,
    check_goal_gid,
)
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import PushItem
from okrsync.testing.runtime import FAST, Sleeps

MEASURED = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
COMMENT = "okrsync: crm (salesforce) `SELECT COUNT() FROM Opportunity` = 42 at 2026-11-15 12:00 UTC"
SET_VALUE = rf"/api/1\.0/goals/{DEMO_GOAL_GID}/setMetricCurrentValue"


@pytest.fixture
def sim() -> Iterator[AsanaSimulator]:
    with AsanaSimulator() as server:
        yield server


def settings(sim: AsanaSimulator, **extra: Any) -> AsanaSettings:
    raw = {"type": "asana", "token": DEMO_TOKEN, "url": f"{sim.url}/api/1.0"}
    return AsanaSettings.model_validate({**raw, **extra})


def item(goal: str = DEMO_GOAL_GID, value: float = 42.0) -> PushItem:
    return PushItem(kr_id="pipeline", item=goal, value=value, measured_at=MEASURED, comment=COMMENT)


def push_all(config: AsanaSettings, items: list[PushItem], runtime: Runtime = FAST) -> list[str]:
    async def go() -> list[str]:
        dest = PUBLISHER.open("goals", config, runtime)
        try:
            return [await dest.push(i) for i in items]
        finally:
            await dest.aclose()

    return asyncio.run(go())


def push_error(config: AsanaSettings, one: PushItem, runtime: Runtime = FAST) -> MeasureError:
    with pytest.raises(MeasureError) as caught:
        push_all(config, [one], runtime)
    return caught.value


def posts(sim: AsanaSimulator) -> list[str]:
    return [r.path for r in sim.requests if r.method == "POST"]


def test_a_push_sets_the_goals_metric_and_sends_no_comment(sim: AsanaSimulator) -> None:
    [receipt] = push_all(settings(sim), [item(f" {DEMO_GOAL_GID} ")])
    assert (
        receipt
        == f"goal {DEMO_GOAL_GID} (Grow qualified pipeline to 120 opportunities): metric = 42"
    )
    [got] = sim.received
    assert got.goal_gid == DEMO_GOAL_GID
    assert got.current_number_value == 42
    assert got.keys == ("current_number_value",)  # the endpoint takes no text: provenance not sent
    assert got.opt_fields == OPT_FIELDS
    [post] = [r for r in sim.requests if r.method == "POST"]
    assert post.path == f"/api/1.0/goals/{DEMO_GOAL_GID}/setMetricCurrentValue"
    assert post.headers["authorization"] == f"Bearer {DEMO_TOKEN}"
    assert post.json() == {"data": {"current_number_value": 42}}
    assert COMMENT not in post.body.decode()
    assert sim.current(DEMO_GOAL_GID) == 42
    assert AsanaDestination.dated is False


def test_the_receipt_quotes_asanas_display_value(sim: AsanaSimulator) -> None:
    share = "1209000000000001"
    sim.add_goal(share, "Win 40% of deals", GoalMetric(unit="percentage", precision=1))
    [receipt] = push_all(settings(sim), [item(share, 0.375)])
    assert receipt == f"goal {share} (Win 40% of deals): metric = 37.5%"
    assert sim.received[0].current_number_value == 0.375


def test_a_wrong_token_is_an_auth_error_in_asanas_words_without_the_token(
    sim: AsanaSimulator,
) -> None:
    wrong = "2/1200000000000001/1208888888888888:not-the-right-one-000000"
    error = push_error(settings(sim, token=wrong), item())
    assert isinstance(error, AuthError)
    assert "HTTP 401: Asana refused the token of destination 'goals'" in str(error)
    assert "Not Authorized" in str(error)
    assert wrong not in str(error)
    assert error.calls == 1
    assert sim.received == []


def test_an_unknown_goal_is_a_query_error_naming_it(sim: AsanaSimulator) -> None:
    error = push_error(settings(sim), item("1111111111111111"))
    assert isinstance(error, QueryError)
    assert "no Asana goal 1111111111111111 for this token" in str(error)
    assert "goal: Unknown object: 1111111111111111" in str(error)
    assert error.calls == 1
    hidden = "2222222222222222"
    sim.add_goal(hidden, visible=False)
    error = push_error(settings(sim), item(hidden))
    assert isinstance(error, QueryError)
    assert f"no Asana goal {hidden}" in str(error)
    assert sim.received == []


def test_a_goal_without_a_metric_says_to_add_one(sim: AsanaSimulator) -> None:
    bare = "3333333333333333"
    sim.add_goal(bare)
    sim.goals[bare].metric = None
    error = push_error(settings(sim), item(bare))
    assert isinstance(error, QueryError)
    assert "HTTP 400" in str(error)
    assert "add a metric to the goal in Asana" in str(error)
    assert error.calls == 1  # not retried
    assert sim.received == []


def test_a_free_workspace_is_told_goals_need_a_paid_plan(sim: AsanaSimulator) -> None:
    free = "4444444444444444"
    sim.add_goal(free, paid=False)
    error = push_error(settings(sim), item(free))
    assert isinstance(error, AuthError)
    assert "HTTP 402: goals need a paid Asana plan" in str(error)


def test_a_goal_the_user_may_not_edit_is_an_auth_error_with_asanas_message(
    sim: AsanaSimulator,
) -> None:
    locked = "5555555555555555"
    sim.add_goal(locked, editable=False)
    error = push_error(settings(sim), item(locked))
    assert isinstance(error, AuthError)
    assert f"may not update goal {locked}" in str(error)
    assert "You do not have permission to edit this goal." in str(error)


@pytest.mark.parametrize("bad", ["goal-12", "12 34", "https://app.asana.com/0/goal/x", ""])
def test_an_item_that_is_not_a_gid_is_refused_before_sending(sim: AsanaSimulator, bad: str) -> None:
    with pytest.raises(ValueError, match="is not an Asana goal gid"):
        check_goal_gid(bad)
    error = push_error(settings(sim), item(bad))
    assert isinstance(error, QueryError)
    assert posts(sim) == []


def test_the_simulator_checks_the_body_as_asana_does(sim: AsanaSimulator) -> None:
    answer = httpx.post(
        f"{sim.url}/api/1.0/goals/{DEMO_GOAL_GID}/setMetricCurrentValue",
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        json={"current_number_value": 1},
    )
    assert answer.status_code == 400
    assert answer.json()["errors"][0]["message"] == "data: Missing input"
    assert sim.received == []


def test_rate_limited_waits_as_retry_after_says() -> None:
    now = [30.0]  # half-way through the first minute
    sleeps = Sleeps()

    async def sleep(seconds: float) -> None:
        await sleeps(seconds)
        now[0] += seconds

    with AsanaSimulator(per_minute=1, clock=lambda: now[0]) as sim:
        receipts = push_all(settings(sim), [item(value=1), item(value=2)], Runtime(sleep))
        assert len(receipts) == 2
        assert sleeps.waits == [30.0]  # Retry-After: the rest of the minute
        assert len(posts(sim)) == 3
        assert [r.current_number_value for r in sim.received] == [1, 2]
        [limited] = [r for r in sim.requests if r.method == "POST"][1:2]
        assert limited.path.endswith("setMetricCurrentValue")


def test_the_429_is_asanas_documented_answer(sim: AsanaSimulator) -> None:
    sim.per_minute = 0
    answer = httpx.post(
        f"{sim.url}/api/1.0/goals/{DEMO_GOAL_GID}/setMetricCurrentValue",
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        json={"data": {"current_number_value": 1}},
    )
    assert answer.status_code == 429
    assert int(answer.headers["Retry-After"]) >= 1
    assert answer.json()["errors"][0]["message"] == RATE_LIMITED


def test_a_5xx_storm_is_a_transient_error_quoting_the_phrase(sim: AsanaSimulator) -> None:
    body = {"errors": [{"message": "Server Error", "phrase": "6 sad squid snuggle softly"}]}
    sim.add_fault(SET_VALUE, Fault.status(500, body), times=10)
    error = push_error(settings(sim, retry={"attempts": 3}), item())
    assert isinstance(error, TransientError)
    assert "HTTP 500 from Asana updating goal" in str(error)
    assert "Server Error (phrase: 6 sad squid snuggle softly)" in str(error)
    assert len(posts(sim)) == 3
    assert error.calls == 3


def test_an_error_body_echoing_the_token_does_not_leak_it(sim: AsanaSimulator) -> None:
    body = {"errors": [{"message": f"Invalid token {DEMO_TOKEN}"}]}
    sim.add_fault(SET_VALUE, Fault.status(400, body))
    error = push_error(settings(sim), item())
    assert isinstance(error, QueryError)
    assert DEMO_TOKEN not in str(error)
    assert "Invalid token ***" in str(error)
    sim.add_fault(SET_VALUE, Fault.status(503, f"<html>{DEMO_TOKEN}</html>".encode()), times=4)
    error = push_error(settings(sim), item())
    assert isinstance(error, TransientError)
    assert DEMO_TOKEN not in str(error)


def test_aclose_twice_is_harmless(sim: AsanaSimulator) -> None:
    async def go() -> None:
        dest = PUBLISHER.open("goals", settings(sim), FAST)
        await dest.push(item())
        await dest.aclose()
        await dest.aclose()

    asyncio.run(go())
    assert len(sim.received) == 1


def test_settings(sim: AsanaSimulator) -> None:
    config = AsanaSettings.model_validate({"type": "asana", "token": DEMO_TOKEN})
    assert (config.url, config.rate_limit) == (DEFAULT_URL, 2.5)
    assert DEMO_TOKEN not in repr(config)
    with pytest.raises(pydantic.ValidationError) as caught:
        settings(sim, url="app.asana.com")
    assert DEMO_TOKEN not in str(caught.value)
    assert PUBLISHER.type == "asana"
    assert PUBLISHER.section == "destinations"
