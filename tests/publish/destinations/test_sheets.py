"""The sheets destination over real HTTP against the Google Sheets simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from okrsync.demo.simulators._ga4_oauth import new_key
from okrsync.demo.simulators.destinations.sheets import (
    DEMO_CLIENT_EMAIL,
    DEMO_SPREADSHEET_ID,
    SheetsSimulator,
)
from okrsync.demo.simulators.server import Fault
from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.destinations.sheets import (
    PUBLISHER,
    SheetsDestination,
    SheetsSettings,
    check_cell,
)
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import PushItem
from okrsync.testing.runtime import FAST, Sleeps

MEASURED = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
COMMENT = "okrsync: crm (salesforce) `SELECT COUNT() FROM Opportunity` = 42 at 2026-11-15 12:00 UTC"
UPDATE = rf"/v4/spreadsheets/{DEMO_SPREADSHEET_ID}/values/[^/]+"


@pytest.fixture
def sim() -> Iterator[SheetsSimulator]:
    with SheetsSimulator() as server:
        yield server


def settings(sim: SheetsSimulator, **extra: Any) -> SheetsSettings:
    raw: dict[str, Any] = {
        "type": "sheets",
        "credentials": sim.service_account_json(),
        "spreadsheet_id": DEMO_SPREADSHEET_ID,
        "url": sim.url,
    }
    return SheetsSettings.model_validate({**raw, **extra})


def item(cell: str = "KRs!C7", value: float = 42.0, kr_id: str = "pipeline") -> PushItem:
    return PushItem(kr_id=kr_id, item=cell, value=value, measured_at=MEASURED, comment=COMMENT)


def push_all(config: SheetsSettings, items: list[PushItem], runtime: Runtime = FAST) -> list[str]:
    async def go() -> list[str]:
        dest = PUBLISHER.open("sheet", config, runtime)
        try:
            return [await dest.push(i) for i in items]
        finally:
            await dest.aclose()

    return asyncio.run(go())


def push_error(config: SheetsSettings, one: PushItem, runtime: Runtime = FAST) -> MeasureError:
    with pytest.raises(MeasureError) as caught:
        push_all(config, [one], runtime)
    return caught.value


def writes(sim: SheetsSimulator) -> list[str]:
    return [r.path for r in sim.requests if r.path.startswith("/v4/")]


def test_a_push_writes_the_number_into_its_cell_raw(sim: SheetsSimulator) -> None:
    [receipt] = push_all(settings(sim), [item()])
    assert receipt == "KRs!C7 = 42"
    [got] = sim.received
    assert (got.kind, got.range, got.values) == ("update", "KRs!C7", [[42]])
    assert (got.email, got.value_input_option) == (DEMO_CLIENT_EMAIL, "RAW")
    assert sim.cell(DEMO_SPREADSHEET_ID, "KRs!C7") == 42
    [put] = [r for r in sim.requests if r.method == "PUT"]
    assert put.path == f"/v4/spreadsheets/{DEMO_SPREADSHEET_ID}/values/KRs%21C7"  # URL-encoded
    assert put.json() == {"range": "KRs!C7", "majorDimension": "ROWS", "values": [[42]]}
    assert put.query == {"valueInputOption": "RAW"}


def test_a_quoted_tab_and_a_fraction(sim: SheetsSimulator) -> None:
    sim.add_spreadsheet("1AnotherSheet0000000000", ("Q4 OKRs",), editors=(DEMO_CLIENT_EMAIL,))
    config = settings(
        sim,
        spreadsheet_id="https://docs.google.com/spreadsheets/d/1AnotherSheet0000000000/edit#gid=0",
    )
    [receipt] = push_all(config, [item("'Q4 OKRs'!b2", 0.25)])
    assert receipt == "'Q4 OKRs'!B2 = 0.25"
    assert sim.cell("1AnotherSheet0000000000", "'Q4 OKRs'!B2") == 0.25


def test_history_sheet_appends_one_row_per_push_after_the_last(sim: SheetsSimulator) -> None:
    config = settings(sim, history_sheet="History")
    receipts = push_all(config, [item(value=40), item(value=42)])
    assert receipts[1] == "KRs!C7 = 42; history row History!A2:D2"
    assert sim.rows(DEMO_SPREADSHEET_ID, "History") == [
        ["pipeline", "2026-11-15T12:00:00+00:00", 40, COMMENT],
        ["pipeline", "2026-11-15T12:00:00+00:00", 42, COMMENT],
    ]
    appends = [r for r in sim.requests if r.method == "POST" and r.path.endswith(":append")]
    assert len(appends) == 2
    assert appends[0].query == {"valueInputOption": "RAW", "insertDataOption": "INSERT_ROWS"}
    assert [r.kind for r in sim.received] == ["update", "append", "update", "append"]


def test_one_token_serves_every_push_and_a_rejected_one_is_renewed(sim: SheetsSimulator) -> None:
    config = settings(sim)

    async def go() -> None:
        dest = PUBLISHER.open("sheet", config, FAST)
        try:
            for n in range(3):
                await dest.push(item(f"KRs!C{n + 1}", n))
            sim.expire_tokens()
            await dest.push(item("KRs!C9", 9))
        finally:
            await dest.aclose()

    asyncio.run(go())
    assert sum(r.path == "/token" for r in sim.requests) == 2
    assert sim.cell(DEMO_SPREADSHEET_ID, "KRs!C9") == 9
    grant = next(r for r in sim.requests if r.path == "/token").body.decode()
    assert "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Ajwt-bearer" in grant


def test_a_key_google_does_not_know_is_an_auth_error_in_googles_words(
    sim: SheetsSimulator,
) -> None:
    private, _ = new_key()  # never registered with the simulator
    config = settings(sim, credentials=sim.service_account_json(private_pem=private))
    error = push_error(config, item())
    assert isinstance(error, AuthError)
    assert "Invalid JWT Signature." in str(error)
    assert DEMO_CLIENT_EMAIL in str(error)
    assert "PRIVATE KEY" not in str(error)
    assert sim.received == []


def test_a_spreadsheet_not_shared_with_the_account_says_share_it(sim: SheetsSimulator) -> None:
    sim.spreadsheets[DEMO_SPREADSHEET_ID].editors.clear()
    error = push_error(settings(sim), item())
    assert isinstance(error, AuthError)
    assert f"share the spreadsheet with {DEMO_CLIENT_EMAIL} as Editor" in str(error)
    assert "The caller does not have permission" in str(error)
    assert error.calls == 1  # not retried
    sim.share(DEMO_SPREADSHEET_ID, DEMO_CLIENT_EMAIL)
    assert push_all(settings(sim), [item()]) == ["KRs!C7 = 42"]


def test_an_unknown_tab_or_spreadsheet_is_a_query_error_naming_it(sim: SheetsSimulator) -> None:
    error = push_error(settings(sim), item("Nope!C7"))
    assert isinstance(error, QueryError)
    assert "Unable to parse range: Nope!C7" in str(error)
    error = push_error(settings(sim, spreadsheet_id="1NoSuchSpreadsheet000"), item())
    assert isinstance(error, QueryError)
    assert "no spreadsheet 1NoSuchSpreadsheet000" in str(error)
    assert "Requested entity was not found." in str(error)
    assert sim.received == []


@pytest.mark.parametrize("bad", ["C0", "KRs!7C", "KRs!C7:D8", "My Sheet!B2", "KRs!AAAA1", ""])
def test_an_item_that_is_not_one_a1_cell_is_refused_before_sending(
    sim: SheetsSimulator, bad: str
) -> None:
    with pytest.raises(ValueError, match="not one cell in A1 notation"):
        check_cell(bad)
    error = push_error(settings(sim), item(bad))
    assert isinstance(error, QueryError)
    assert "A1 notation" in str(error)
    assert writes(sim) == []


def test_the_per_minute_write_quota_is_waited_out_as_retry_after_says() -> None:
    now = [1000.0]  # 40 s into a minute window: 20 s until it refills
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with SheetsSimulator(
        writes_per_minute_per_user=1, send_retry_after=True, clock=lambda: now[0]
    ) as sim:
        receipts = push_all(settings(sim), [item("KRs!C1", 1), item("KRs!C2", 2)], Runtime(sleep))
        assert receipts == ["KRs!C1 = 1", "KRs!C2 = 2"]
        assert waits == [20.0]
        assert len(writes(sim)) == 3  # the refused one included
        assert sim.cell(DEMO_SPREADSHEET_ID, "KRs!C2") == 2


def test_a_429_without_retry_after_backs_off_then_succeeds(sim: SheetsSimulator) -> None:
    body = {"error": {"code": 429, "message": "Quota exceeded", "status": "RESOURCE_EXHAUSTED"}}
    sim.add_fault(UPDATE, Fault.status(429, body), times=2)
    sleeps = Sleeps()
    assert push_all(settings(sim), [item()], Runtime(sleep=sleeps)) == ["KRs!C7 = 42"]
    assert len(sleeps.waits) == 2
    assert all(w > 0 for w in sleeps.waits)


def test_a_5xx_storm_is_a_transient_error_after_the_retry_budget(sim: SheetsSimulator) -> None:
    body = {
        "error": {
            "code": 503,
            "message": "The service is currently unavailable.",
            "status": "UNAVAILABLE",
        }
    }
    sim.add_fault(UPDATE, Fault.status(503, body), times=10)
    config = settings(sim, retry={"attempts": 3})
    error = push_error(config, item())
    assert isinstance(error, TransientError)
    assert "HTTP 503 UNAVAILABLE" in str(error)
    assert "The service is currently unavailable." in str(error)
    assert len(writes(sim)) == 3
    assert error.calls == 3


def test_an_error_body_echoing_the_access_token_does_not_leak_it(sim: SheetsSimulator) -> None:
    config = settings(sim)
    captured: list[MeasureError] = []

    async def go() -> None:
        dest = PUBLISHER.open("sheet", config, FAST)
        try:
            await dest.push(item())
            token = sim.issued[-1]
            body = {
                "error": {
                    "code": 400,
                    "message": f"bad request with {token}",
                    "status": "INVALID_ARGUMENT",
                }
            }
            sim.add_fault(UPDATE, Fault.status(400, body))
            try:
                await dest.push(item())
            except MeasureError as exc:
                captured.append(exc)
        finally:
            await dest.aclose()

    asyncio.run(go())
    [error] = captured
    assert isinstance(error, QueryError)
    assert sim.issued[-1] not in str(error)
    assert "bad request with ***" in str(error)


def test_a_failed_history_row_says_the_cell_was_written(sim: SheetsSimulator) -> None:
    config = settings(sim, history_sheet="Missing tab")
    error = push_error(config, item())
    assert isinstance(error, QueryError)
    assert str(error).startswith("KRs!C7 was written, but its history row was not:")
    assert "Unable to parse range: 'Missing tab'!A1" in str(error)
    assert sim.cell(DEMO_SPREADSHEET_ID, "KRs!C7") == 42


def test_aclose_twice_is_harmless(sim: SheetsSimulator) -> None:
    async def go() -> None:
        dest = PUBLISHER.open("sheet", settings(sim), FAST)
        await dest.push(item())
        await dest.aclose()
        await dest.aclose()

    asyncio.run(go())
    assert len(sim.received) == 1


def test_settings_refuse_a_bad_key_or_id_without_echoing_them(sim: SheetsSimulator) -> None:
    secret = json.dumps({"type": "authorized_user", "refresh_token": "1//sekrit-refresh-token"})
    with pytest.raises(pydantic.ValidationError) as caught:
        settings(sim, credentials=secret)
    assert "expected 'service_account'" in str(caught.value)
    assert "sekrit" not in str(caught.value)
    with pytest.raises(pydantic.ValidationError, match="is not a spreadsheet id"):
        settings(sim, spreadsheet_id="short")
    config = settings(sim)
    assert config.rate_limit == 1.0
    assert "PRIVATE KEY" not in repr(config)
    assert PUBLISHER.section == "destinations"
    assert SheetsDestination.dated is False
