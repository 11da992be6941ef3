"""The webhook destination over real HTTP against a receiver verifying Standard Webhooks."""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pydantic
import pytest

from okrsync.demo.simulators.destinations.webhook import (
    DEMO_SECRET,
    WebhookReceiver,
    decode_secret,
)
from okrsync.demo.simulators.server import Fault
from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.destinations.webhook import (
    PUBLISHER,
    WebhookDestination,
    WebhookSettings,
    message_id,
    sign,
    signing_key,
)
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import PushItem
from okrsync.testing.runtime import FAST, Sleeps

MEASURED = datetime(2026, 11, 15, 12, 0, 4, tzinfo=UTC)
OTHER_SECRET = "whsec_" + base64.b64encode(b"another-receiver-key-987654321!").decode()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


def settings(receiver: WebhookReceiver, **extra: Any) -> WebhookSettings:
    data: dict[str, Any] = {"type": "webhook", "url": receiver.endpoint, "secret": DEMO_SECRET}
    return WebhookSettings.model_validate({**data, **extra})


def item(value: float = 42.0, **extra: Any) -> PushItem:
    fields: dict[str, Any] = {
        "kr_id": "signups",
        "item": "board-7",
        "value": value,
        "measured_at": MEASURED,
        "comment": "okrsync: jira (jira) = 42 at 2026-11-15 12:00 UTC, run 7",
        "title": "Grow signups",
        "unit": "users",
        "start": 0.0,
        "target": 100.0,
        "progress": value / 100,
        "run_id": 7,
    }
    fields.update(extra)
    return PushItem(**fields)


def push(
    config: WebhookSettings, *items: PushItem, runtime: Runtime = FAST
) -> list[str | MeasureError]:
    async def go() -> list[str | MeasureError]:
        dest = PUBLISHER.open("hook", config, runtime)
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


def test_a_push_arrives_signed_with_the_whole_value(receiver: WebhookReceiver) -> None:
    config = settings(receiver, headers={"X-Team": "growth"})
    [receipt] = push(config, item())
    [delivery] = receiver.received
    assert receiver.refused == []
    assert delivery.payload == {
        "type": "key_result.value",
        "timestamp": "2026-11-15T12:00:04Z",
        "data": {
            "key_result": "signups",
            "item": "board-7",
            "value": 42.0,
            "unit": "users",
            "measured_at": "2026-11-15T12:00:04Z",
            "progress": 0.42,
            "start": 0.0,
            "target": 100.0,
            "title": "Grow signups",
            "comment": "okrsync: jira (jira) = 42 at 2026-11-15 12:00 UTC, run 7",
            "run_id": 7,
        },
    }
    assert delivery.id == message_id(item())
    assert delivery.id.startswith("msg_")
    assert "." not in delivery.id
    assert abs(delivery.timestamp - time.time()) < 30
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["x-team"] == "growth"
    expected = sign(decode_secret(DEMO_SECRET), delivery.id, str(delivery.timestamp), delivery.body)
    assert delivery.headers["webhook-signature"] == expected
    assert receipt == f'{delivery.id} accepted: {{"status": "accepted", "id": "{delivery.id}"}}'


def test_the_signature_matches_the_reference_librarys_vector() -> None:
    # libraries/python/tests/test_webhooks.py::test_sign_function of the spec's repository
    key = signing_key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
    signature = sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", "1614265330", b'{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_the_id_is_stable_per_value_and_a_retry_keeps_it(receiver: WebhookReceiver) -> None:
    receiver.add_fault(receiver.path, Fault.status(503, b"busy", {"Retry-After": "2"}))
    sleeps = Sleeps()
    results = push(settings(receiver), item(), item(), item(43.0), runtime=Runtime(sleep=sleeps))
    assert all(isinstance(r, str) for r in results)
    assert sleeps.waits == [2.0]
    ids = [r.headers["webhook-id"] for r in receiver.requests]
    assert ids[0] == ids[1] == ids[2] != ids[3]  # the retry, the re-send, then a new value
    assert [d.duplicate for d in receiver.received] == [False, True, False]


def test_each_attempt_is_signed_with_its_own_timestamp() -> None:
    ticks = iter([1_800_000_000.0, 1_800_000_009.7])
    with WebhookReceiver(clock=lambda: 1_800_000_005.0) as receiver:
        receiver.add_fault(receiver.path, Fault.status(429, b"slow down", {"Retry-After": "9"}))

        async def go() -> str:
            dest = WebhookDestination("hook", settings(receiver), FAST, clock=lambda: next(ticks))
            try:
                return await dest.push(item())
            finally:
                await dest.aclose()

        asyncio.run(go())
        first, second = receiver.requests
    assert first.headers["webhook-timestamp"] == "1800000000"
    assert second.headers["webhook-timestamp"] == "1800000009"
    assert first.headers["webhook-signature"] != second.headers["webhook-signature"]
    assert first.body == second.body
    assert [d.timestamp for d in receiver.received] == [1_800_000_009]


@pytest.mark.parametrize(
    ("offset", "said"),
    [(600.0, "Message timestamp too old"), (-600.0, "Message timestamp too new")],
)
def test_a_timestamp_outside_the_tolerance_is_refused(offset: float, said: str) -> None:
    with WebhookReceiver(clock=lambda: time.time() + offset) as receiver:
        [error] = push(settings(receiver), item())
    assert isinstance(error, AuthError)
    assert said in str(error)
    assert receiver.refused == [said]
    assert receiver.received == []


def test_a_tampered_body_is_refused_by_the_receiver(receiver: WebhookReceiver) -> None:
    key = decode_secret(DEMO_SECRET)
    stamp = str(int(time.time()))
    body = b'{"type":"key_result.value","data":{"value":42}}'
    headers = {"webhook-id": "msg_abc", "webhook-timestamp": stamp}
    good = sign(key, "msg_abc", stamp, body)
    ok = httpx.post(receiver.endpoint, content=body, headers={**headers, "webhook-signature": good})
    tampered = httpx.post(
        receiver.endpoint,
        content=body.replace(b"42", b"99"),
        headers={**headers, "webhook-signature": good},
    )
    rotated = httpx.post(  # several signatures: one matching is enough (secret rotation)
        receiver.endpoint,
        content=body,
        headers={**headers, "webhook-signature": f"v1,AAAA v1a,xyz {good}"},
    )
    bare = httpx.post(receiver.endpoint, content=body, headers=headers)
    assert ok.status_code == 200
    assert (tampered.status_code, tampered.json()) == (
        401,
        {"error": "No matching signature found"},
    )
    assert rotated.status_code == 200
    assert (bare.status_code, bare.json()) == (401, {"error": "Missing required headers"})
    assert [d.payload["data"]["value"] for d in receiver.received] == [42, 42]


def test_a_wrong_secret_is_an_auth_error_with_the_receivers_words(
    receiver: WebhookReceiver,
) -> None:
    [error] = push(settings(receiver, secret=OTHER_SECRET), item())
    assert isinstance(error, AuthError)
    assert "No matching signature found" in str(error)
    assert OTHER_SECRET not in str(error)
    assert len(receiver.requests) == 1


def test_410_gone_says_to_remove_the_destination(receiver: WebhookReceiver) -> None:
    receiver.add_fault(receiver.path, Fault.status(410, b"endpoint disabled"))
    [error] = push(settings(receiver), item())
    assert isinstance(error, QueryError)
    assert "the receiver asked to stop" in str(error)
    assert "remove it" in str(error)
    assert len(receiver.requests) == 1


def test_an_unknown_path_is_a_query_error(receiver: WebhookReceiver) -> None:
    [error] = push(settings(receiver, url=receiver.url + "/nope"), item())
    assert isinstance(error, QueryError)
    assert "HTTP 404 from POST /nope" in str(error)


def test_a_5xx_storm_is_transient_after_the_retry_budget(receiver: WebhookReceiver) -> None:
    receiver.add_fault(receiver.path, Fault.status(502, b"bad gateway"), times=10)
    config = settings(receiver)
    [error] = push(config, item())
    assert isinstance(error, TransientError)
    assert "HTTP 502" in str(error)
    assert len(receiver.requests) == config.retry.attempts


def test_a_body_echoing_the_secret_does_not_leak_it(receiver: WebhookReceiver) -> None:
    core = DEMO_SECRET.removeprefix("whsec_")
    receiver.add_fault(receiver.path, Fault.status(400, f"bad: {DEMO_SECRET}".encode()))
    receiver.add_fault(receiver.path, Fault.status(401, {"error": f"expected key {core}"}))
    [bad, auth] = push(settings(receiver), item(), item())
    assert isinstance(bad, QueryError)
    assert isinstance(auth, AuthError)
    for error in (bad, auth):
        assert core not in str(error)
        assert "***" in str(error)


def test_aclose_twice_is_harmless(receiver: WebhookReceiver) -> None:
    async def go() -> None:
        dest = PUBLISHER.open("hook", settings(receiver), FAST)
        assert dest.dated is False
        await dest.aclose()
        await dest.aclose()

    asyncio.run(go())


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        ({"secret": "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}, "must start with whsec_"),
        ({"secret": "whsec_not*base64!"}, "not standard base64"),
        ({"secret": "whsec_" + base64.b64encode(b"short").decode()}, "5 bytes"),
        ({"headers": {"Webhook-Signature": "x"}}, "set by okrsync itself"),
        ({"headers": {"bad name": "x"}}, "not a valid HTTP header name"),
        ({"url": "ftp://example.com/hook"}, "url must start with http"),
    ],
)
def test_settings_are_checked(extra: dict[str, Any], says: str) -> None:
    data = {"type": "webhook", "url": "https://hooks.example.com/okr", "secret": DEMO_SECRET}
    with pytest.raises(pydantic.ValidationError) as caught:
        WebhookSettings.model_validate({**data, **extra})
    message = str(caught.value.errors(include_input=False))
    assert says in message
    secret = extra.get("secret")
    if secret:
        assert secret.removeprefix("whsec_") not in message


def test_a_query_string_in_the_url_is_kept(receiver: WebhookReceiver) -> None:
    [receipt] = push(settings(receiver, url=receiver.endpoint + "?token=abc"), item())
    assert isinstance(receipt, str)
    assert receiver.requests[0].path == "/hooks/okr"
    assert receiver.requests[0].query == {"token": "abc"}


def test_measured_at_is_sent_in_utc(receiver: WebhookReceiver) -> None:
    oslo = datetime(2026, 11, 15, 14, 0, 4, tzinfo=timezone(timedelta(hours=1)))
    push(settings(receiver), item(measured_at=oslo))
    payload = json.loads(receiver.received[0].body)
    assert payload["timestamp"] == payload["data"]["measured_at"] == "2026-11-15T13:00:04Z"
