"""The notion destination over real HTTP against the Notion simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pydantic
import pytest

from okrsync.demo.simulators.destinations.notion import DEMO_PAGE_ID, DEMO_TOKEN, NotionSimulator
from okrsync.demo.simulators.server import Fault
from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.destinations.notion import (
    NOTION_VERSION,
    PUBLISHER,
    NotionDestination,
    NotionSettings,
    check_page_id,
)
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import PushItem
from okrsync.testing.runtime import FAST, Sleeps

MEASURED = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
COMMENT = "okrsync: crm (salesforce) `SELECT COUNT() FROM Opportunity` = 42 at 2026-11-15 12:00 UTC"
BARE = DEMO_PAGE_ID.replace("-", "")
PAGE = rf"/v1/pages/{DEMO_PAGE_ID}"


@pytest.fixture
def sim() -> Iterator[NotionSimulator]:
    with NotionSimulator() as server:
        yield server


def settings(sim: NotionSimulator, **extra: Any) -> NotionSettings:
    raw = {"type": "notion", "token": DEMO_TOKEN, "url": sim.url}
    return NotionSettings.model_validate({**raw, **extra})


def item(page: str = DEMO_PAGE_ID, value: float = 42.0, comment: str = COMMENT) -> PushItem:
    return PushItem(kr_id="pipeline", item=page, value=value, measured_at=MEASURED, comment=comment)


def push_all(config: NotionSettings, items: list[PushItem], runtime: Runtime = FAST) -> list[str]:
    async def go() -> list[str]:
        dest = PUBLISHER.open("okrs", config, runtime)
        try:
            return [await dest.push(i) for i in items]
        finally:
            await dest.aclose()

    return asyncio.run(go())


def push_error(config: NotionSettings, one: PushItem, runtime: Runtime = FAST) -> MeasureError:
    with pytest.raises(MeasureError) as caught:
        push_all(config, [one], runtime)
    return caught.value


def patches(sim: NotionSimulator) -> list[str]:
    return [r.path for r in sim.requests if r.method == "PATCH"]


def test_a_push_sets_the_number_the_date_and_the_provenance(sim: NotionSimulator) -> None:
    config = settings(sim, date_property="Measured", comment_property="Provenance")
    [receipt] = push_all(config, [item(BARE)])  # an id without dashes works
    assert receipt.startswith(f"page {DEMO_PAGE_ID}: Current = 42 (last edited 20")
    [got] = sim.received
    assert got.page_id == DEMO_PAGE_ID
    assert got.version == NOTION_VERSION
    assert got.properties == {
        "Current": {"number": 42},
        "Measured": {"date": {"start": "2026-11-15T12:00:00+00:00"}},
        "Provenance": {"rich_text": [{"type": "text", "text": {"content": COMMENT}}]},
    }
    assert sim.value(DEMO_PAGE_ID, "Current") == 42
    assert sim.value(DEMO_PAGE_ID, "Measured") == "2026-11-15T12:00:00+00:00"
    assert sim.value(DEMO_PAGE_ID, "Provenance") == COMMENT
    [patch] = [r for r in sim.requests if r.method == "PATCH"]
    assert patch.path == f"/v1/pages/{DEMO_PAGE_ID}"
    assert patch.headers["authorization"] == f"Bearer {DEMO_TOKEN}"
    assert patch.headers["notion-version"] == "2022-06-28"


def test_only_the_value_property_by_default_and_a_page_address_is_an_id(
    sim: NotionSimulator,
) -> None:
    sim.add_page("0123456789abcdef0123456789ABCDEF", {"Name": "title", "Progress now": "number"})
    config = settings(sim, value_property="Progress now")
    address = "https://www.notion.so/acme/Grow-pipeline-0123456789abcdef0123456789abcdef?pvs=4"
    push_all(config, [item(address, 0.375)])
    [got] = sim.received
    assert got.page_id == "01234567-89ab-cdef-0123-456789abcdef"
    assert got.properties == {"Progress now": {"number": 0.375}}


def test_a_long_provenance_is_cut_to_notions_2000_characters(sim: NotionSimulator) -> None:
    config = settings(sim, comment_property="Provenance")
    push_all(config, [item(comment="x" * 2500)])
    assert sim.value(DEMO_PAGE_ID, "Provenance") == "x" * 2000


def test_a_wrong_token_is_an_auth_error_in_notions_words_without_the_token(
    sim: NotionSimulator,
) -> None:
    wrong = "ntn_not-the-right-secret-00000000000000000000"
    error = push_error(settings(sim, token=wrong), item())
    assert isinstance(error, AuthError)
    assert "HTTP 401 unauthorized" in str(error)
    assert "API token is invalid." in str(error)
    assert wrong not in str(error)
    assert error.calls == 1
    assert sim.received == []


def test_the_simulator_requires_the_version_header(sim: NotionSimulator) -> None:
    answer = httpx.patch(
        f"{sim.url}/v1/pages/{DEMO_PAGE_ID}",
        headers={"Authorization": f"Bearer {DEMO_TOKEN}"},
        json={"properties": {"Current": {"number": 1}}},
    )
    assert answer.status_code == 400
    assert answer.json()["code"] == "missing_version"
    assert answer.json()["object"] == "error"
    assert sim.received == []


def test_an_unknown_or_unshared_page_is_a_query_error_naming_it(sim: NotionSimulator) -> None:
    unknown = "ffffffff-ffff-4fff-8fff-ffffffffffff"
    error = push_error(settings(sim), item(unknown))
    assert isinstance(error, QueryError)
    assert f"no Notion page {unknown}" in str(error)
    assert f"Could not find page with ID: {unknown}." in str(error)
    hidden = "eeeeeeee-eeee-4eee-8eee-eeeeeeeeeeee"
    sim.add_page(hidden, shared=False)
    error = push_error(settings(sim), item(hidden))
    assert isinstance(error, QueryError)
    assert "not shared with the integration" in str(error)
    assert sim.received == []


@pytest.mark.parametrize("bad", ["1a2b3c4d", "not-a-page", f"{BARE}00", ""])
def test_an_item_that_is_not_a_page_id_is_refused_before_sending(
    sim: NotionSimulator, bad: str
) -> None:
    with pytest.raises(ValueError, match="is not a Notion page id"):
        check_page_id(bad)
    error = push_error(settings(sim), item(bad))
    assert isinstance(error, QueryError)
    assert "is not a Notion page id" in str(error)
    assert patches(sim) == []


def test_an_integration_without_update_capability_is_told_to_share(
    sim: NotionSimulator,
) -> None:
    sim.can_update = False
    error = push_error(settings(sim), item())
    assert isinstance(error, AuthError)
    assert "HTTP 403 restricted_resource" in str(error)
    assert "share the page" in str(error)


def test_a_property_of_the_wrong_type_or_missing_is_notions_validation_error(
    sim: NotionSimulator,
) -> None:
    texty = "abababab-abab-4bab-8bab-abababababab"
    sim.add_page(texty, {"Name": "title", "Current": "rich_text"})
    error = push_error(settings(sim), item(texty))
    assert isinstance(error, QueryError)
    assert "HTTP 400 validation_error" in str(error)
    assert "Current is expected to be rich_text." in str(error)  # Notion names the property's type
    assert "value_property 'Current' must be a Number property" in str(error)
    error = push_error(settings(sim, date_property="Measured on"), item())
    assert isinstance(error, QueryError)
    assert "Measured on is not a property that exists." in str(error)
    assert error.calls == 1  # not retried
    assert sim.received == []


def test_rate_limited_waits_as_retry_after_says() -> None:
    now = [100.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with NotionSimulator(rate_limit=0.5, burst=1, clock=lambda: now[0]) as sim:
        receipts = push_all(settings(sim), [item(value=1), item(value=2)], Runtime(sleep))
        assert len(receipts) == 2
        assert waits == [2.0]  # one request per 2 s: Retry-After 2
        assert len(patches(sim)) == 3
        assert sim.value(DEMO_PAGE_ID, "Current") == 2


def test_a_conflict_is_retried(sim: NotionSimulator) -> None:
    body = {
        "object": "error",
        "status": 409,
        "code": "conflict_error",
        "message": "Conflict occurred while saving. Please try again.",
    }
    sim.add_fault(PAGE, Fault.status(409, body))
    sleeps = Sleeps()
    push_all(settings(sim), [item()], Runtime(sleep=sleeps))
    assert len(sleeps.waits) == 1
    assert len(patches(sim)) == 2
    assert sim.value(DEMO_PAGE_ID, "Current") == 42


def test_a_5xx_storm_is_a_transient_error_after_the_retry_budget(sim: NotionSimulator) -> None:
    body = {
        "object": "error",
        "status": 503,
        "code": "service_unavailable",
        "message": "Notion is unavailable, please try again later.",
    }
    sim.add_fault(PAGE, Fault.status(503, body), times=10)
    error = push_error(settings(sim, retry={"attempts": 3}), item())
    assert isinstance(error, TransientError)
    assert "HTTP 503 service_unavailable" in str(error)
    assert len(patches(sim)) == 3
    assert error.calls == 3


def test_an_error_body_echoing_the_token_does_not_leak_it(sim: NotionSimulator) -> None:
    body = {
        "object": "error",
        "status": 400,
        "code": "validation_error",
        "message": f"Invalid request with token {DEMO_TOKEN}",
    }
    sim.add_fault(PAGE, Fault.status(400, body))
    error = push_error(settings(sim), item())
    assert isinstance(error, QueryError)
    assert DEMO_TOKEN not in str(error)
    assert "Invalid request with token ***" in str(error)
    sim.add_fault(
        PAGE, Fault.status(502, f"<html>bad gateway {DEMO_TOKEN}</html>".encode()), times=4
    )
    error = push_error(settings(sim), item())
    assert isinstance(error, TransientError)
    assert DEMO_TOKEN not in str(error)


def test_aclose_twice_is_harmless(sim: NotionSimulator) -> None:
    async def go() -> None:
        dest = PUBLISHER.open("okrs", settings(sim), FAST)
        await dest.push(item())
        await dest.aclose()
        await dest.aclose()

    asyncio.run(go())
    assert len(sim.received) == 1


def test_settings(sim: NotionSimulator) -> None:
    config = settings(sim)
    assert (config.rate_limit, config.value_property) == (3.0, "Current")
    assert DEMO_TOKEN not in repr(config)
    with pytest.raises(pydantic.ValidationError, match="must name different properties"):
        settings(sim, date_property="Current")
    with pytest.raises(pydantic.ValidationError) as caught:
        settings(sim, url="ftp://notion")
    assert DEMO_TOKEN not in str(caught.value)
    assert PUBLISHER.type == "notion"
    assert PUBLISHER.section == "destinations"
    assert NotionDestination.dated is False
