"""The teams channel over real HTTP against the Teams Workflows webhook simulator."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest

from okrsync.config.registry import CHANNEL_BUILTINS
from okrsync.demo.simulators.channels.teams import (
    DEMO_SIG,
    DEMO_WORKFLOW_ID,
    LIMIT,
    TeamsWorkflowSimulator,
    workflow_url,
)
from okrsync.demo.simulators.server import Fault
from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.channels.teams import (
    PUBLISHER,
    SCHEMA,
    TeamsChannel,
    TeamsSettings,
    cards,
    escape,
)
from okrsync.sdk.connector import Runtime
from okrsync.sdk.messages import Item, Message, Section
from okrsync.sdk.redaction import REDACTOR
from okrsync.testing.runtime import FAST, Sleeps

PATH = rf"/workflows/{DEMO_WORKFLOW_ID}/triggers/manual/paths/invoke"
DASHBOARD = "https://okr.example.com"


@pytest.fixture
def sim() -> Iterator[TeamsWorkflowSimulator]:
    with TeamsWorkflowSimulator() as server:
        yield server


def settings(url: str, **extra: Any) -> TeamsSettings:
    return TeamsSettings.model_validate({"type": "teams", "url": url, **extra})


def digest() -> Message:
    return Message(
        kind="digest",
        key="digest:2026-11-16T09:00Z",
        title="Weekly check-in, growth: 16 Nov 2026",
        summary="4 key results in 2 objectives: 2 on track, 1 at risk, 1 error.",
        sections=[
            Section(
                "Objectives",
                [
                    Item(
                        "Grow the funnel",
                        "62% (+4 pts) · on track",
                        "on_track",
                        f"{DASHBOARD}/#o-g",
                    )
                ],
            ),
            Section(
                "At risk or off track",
                [
                    Item(
                        "Reduce checkout to 6 steps",
                        "at risk · 40%",
                        "at_risk",
                        f"{DASHBOARD}/kr/c",
                    ),
                    Item("Signups", "error: HTTP 503", "error"),
                ],
            ),
        ],
        link=f"{DASHBOARD}/",
    )


def send_all(config: TeamsSettings, messages: list[Message], runtime: Runtime = FAST) -> list[str]:
    async def go() -> list[str]:
        channel = PUBLISHER.open("growth", config, runtime)
        try:
            return [await channel.send(m) for m in messages]
        finally:
            await channel.aclose()

    return asyncio.run(go())


def send_error(config: TeamsSettings, message: Message, runtime: Runtime = FAST) -> MeasureError:
    with pytest.raises(MeasureError) as caught:
        send_all(config, [message], runtime)
    return caught.value


def texts(card: dict[str, Any]) -> list[str]:
    return [e["text"] for e in card["body"]]


def test_a_digest_arrives_as_one_valid_card(sim: TeamsWorkflowSimulator) -> None:
    assert send_all(settings(sim.endpoint), [digest()]) == ["posted 1 card"]
    assert sim.failed_runs == []
    [run] = sim.received
    assert run.workflow_id == DEMO_WORKFLOW_ID
    assert run.payload["type"] == "message"
    [attachment] = run.payload["attachments"]
    assert attachment["contentType"] == "application/vnd.microsoft.card.adaptive"
    assert attachment["contentUrl"] is None
    card = attachment["content"]
    assert (card["$schema"], card["type"], card["version"]) == (SCHEMA, "AdaptiveCard", "1.4")
    title, summary, objectives, grow, attention, checkout, signups = card["body"]
    assert title == {
        "type": "TextBlock",
        "text": "Weekly check-in, growth: 16 Nov 2026",
        "size": "Large",
        "weight": "Bolder",
        "wrap": True,
    }
    assert summary == {"type": "TextBlock", "text": digest().summary, "wrap": True}
    assert objectives == {
        "type": "TextBlock",
        "text": "Objectives",
        "weight": "Bolder",
        "separator": True,
        "wrap": True,
    }
    assert attention["text"] == "At risk or off track"
    assert grow["text"] == f"🟢 [Grow the funnel]({DASHBOARD}/#o-g) — 62% (+4 pts) · on track"
    assert checkout["text"] == f"🟠 [Reduce checkout to 6 steps]({DASHBOARD}/kr/c) — at risk · 40%"
    assert signups["text"] == "⚠️ **Signups** — error: HTTP 503"
    assert all(e["wrap"] is True for e in card["body"])
    assert card["actions"] == [
        {"type": "Action.OpenUrl", "title": "Open the dashboard", "url": f"{DASHBOARD}/"}
    ]
    [request] = sim.requests
    assert request.headers["content-type"] == "application/json"
    assert request.query["sig"] == DEMO_SIG


def test_hostile_text_is_escaped_so_it_never_becomes_markup(sim: TeamsWorkflowSimulator) -> None:
    hostile = Message(
        kind="alert",
        key="status:x",
        title="**Pwned** [click](https://evil.example) `code` <b>_x_</b>",
        summary="- not a list\n# nor a heading\n\nnor a paragraph ~~struck~~",
        sections=[
            Section(
                "1. Numbered?",
                [
                    Item("a]b(c)", "50% \\ done", "odd", "javascript:alert(1)"),
                    Item("+ plus", "", "on_track", f"{DASHBOARD}/kr/a b(c)"),
                ],
            )
        ],
        link="/relative/dashboard",
    )
    send_all(settings(sim.endpoint), [hostile])
    assert sim.failed_runs == []
    [card] = sim.cards
    assert texts(card) == [
        r"\*\*Pwned\*\* \[click\](https://evil.example) \`code\` \<b\>\_x\_\</b\>",
        r"\- not a list # nor a heading nor a paragraph \~\~struck\~\~",
        r"1\. Numbered?",
        r"(odd) **a\]b(c)** — 50% \\ done",  # no link: a javascript: URL is left out
        rf"🟢 [\+ plus]({DASHBOARD}/kr/a%20b%28c%29)",
    ]
    assert "actions" not in card  # a relative dashboard link would make Teams refuse the card
    assert escape("2) second", 100) == r"2\) second"
    assert escape("x" * 20, 10) == "x" * 9 + "…"


def test_empty_parts_never_make_an_empty_text_block(sim: TeamsWorkflowSimulator) -> None:
    bare = Message("alert", "k", " ", "", [Section("", [Item("", ""), Item("Only", "")])])
    send_all(settings(sim.endpoint), [bare])
    assert sim.failed_runs == []
    [card] = sim.cards
    assert texts(card) == ["okrsync", "**Only**"]


def test_a_huge_message_is_split_into_cards_under_28_kb_paced_to_the_rate_limit(
    sim: TeamsWorkflowSimulator,
) -> None:
    items = [Item(f"Key result {n:03d}", "d" * 180 + f" #{n}", "on_track") for n in range(400)]
    huge = Message(
        kind="digest",
        key="digest:big",
        title="Big digest",
        summary="Everything.",
        sections=[Section("First", items[:150]), Section("Second", items[150:])],
        link=DASHBOARD,
    )
    now = [1000.0]
    sleeps = Sleeps()

    async def sleep(seconds: float) -> None:
        await sleeps(seconds)
        now[0] += seconds

    async def go() -> str:
        channel = TeamsChannel("growth", settings(sim.endpoint), Runtime(sleep), lambda: now[0])
        try:
            return await channel.send(huge)
        finally:
            await channel.aclose()

    receipt = asyncio.run(go())
    count = len(sim.requests)
    assert count >= 3
    assert receipt == f"posted {count} cards"
    assert sim.failed_runs == []
    assert len(sim.received) == count
    assert all(len(r.body) <= LIMIT for r in sim.requests)
    got = sim.cards
    assert [texts(c)[0] for c in got] == [f"Big digest ({n}/{count})" for n in range(1, count + 1)]
    assert texts(got[0])[1] == "Everything."
    assert all("Everything." not in texts(c) for c in got[1:])  # the summary once
    lines = [t for c in got for t in texts(c) if t.startswith("🟢")]
    assert lines == [f"🟢 **Key result {n:03d}** — {'d' * 180} #{n}" for n in range(400)]
    headings = [t for c in got for t in texts(c)[1:] if not t.startswith("🟢")][1:]
    assert headings[:2] == ["First", "First (continued)"]
    assert headings.count("Second") == 1
    assert set(headings) == {"First", "First (continued)", "Second", "Second (continued)"}
    assert all(c["actions"][0]["url"] == DASHBOARD for c in got)
    assert sleeps.waits == [0.5] * (count - 1)  # rate_limit 2.0: one post every half second


def test_a_wrong_sig_is_an_auth_error_naming_neither_the_url_nor_the_sig(
    sim: TeamsWorkflowSimulator,
) -> None:
    wrong = "WrongSignature0000000000000000000000000000"
    url = sim.workflow_url(sig=wrong)
    error = send_error(settings(url), digest())
    assert isinstance(error, AuthError)
    assert "HTTP 401 DirectApiInvalidAuthorizationSignature" in str(error)
    assert "the workflow URL's sig was refused: copy the URL again" in str(error)
    for secret in (url, wrong, DEMO_SIG):
        assert secret not in str(error)
    assert error.calls == 1
    assert sim.received == []


def test_an_error_body_echoing_the_url_and_sig_is_masked(sim: TeamsWorkflowSimulator) -> None:
    body = {
        "error": {"code": "InvalidTemplate", "message": f"bad call {sim.endpoint} sig={DEMO_SIG}"}
    }
    sim.add_fault(PATH, Fault.status(400, body))
    error = send_error(settings(sim.endpoint), digest())
    assert isinstance(error, QueryError)
    assert "HTTP 400 InvalidTemplate" in str(error)
    assert "bad call ***" in str(error)
    assert sim.endpoint not in str(error)
    assert DEMO_SIG not in str(error)
    assert REDACTOR.masks(DEMO_SIG)  # log lines mask it too


def test_no_sig_is_refused_by_the_simulator_and_by_the_settings(
    sim: TeamsWorkflowSimulator,
) -> None:
    bare = workflow_url(sim.url, sig=None)
    answer = httpx.post(bare, json={"type": "message", "attachments": []})
    assert answer.status_code == 401
    assert answer.json()["error"]["code"] == "DirectApiAuthorizationRequired"
    with pytest.raises(pydantic.ValidationError, match="has no sig parameter") as caught:
        settings(bare)
    assert bare not in str(caught.value)


def test_an_unknown_or_deleted_workflow_is_a_query_error(sim: TeamsWorkflowSimulator) -> None:
    url = workflow_url(sim.url, "ffffffffffffffffffffffffffffffff")
    error = send_error(settings(url), digest())
    assert isinstance(error, QueryError)
    assert "HTTP 404 WorkflowNotFound" in str(error)
    assert "the workflow was deleted or turned off" in str(error)
    assert error.calls == 1


def test_a_413_is_a_query_error_with_the_services_message(sim: TeamsWorkflowSimulator) -> None:
    body = {"error": {"code": "RequestEntityTooLarge", "message": "The request is too large."}}
    sim.add_fault(PATH, Fault.status(413, body))
    error = send_error(settings(sim.endpoint), digest())
    assert isinstance(error, QueryError)
    assert "larger than Teams accepts" in str(error)
    assert "The request is too large." in str(error)


def test_rate_limited_waits_as_retry_after_says() -> None:
    now = [100.0]
    sleeps = Sleeps()

    async def sleep(seconds: float) -> None:
        await sleeps(seconds)
        now[0] += seconds

    with TeamsWorkflowSimulator(rate_limit=0.5, burst=1, clock=lambda: now[0]) as sim:
        config = settings(sim.endpoint, rate_limit=None)  # no pacing: the service throttles
        receipts = send_all(config, [digest(), digest()], Runtime(sleep))
        assert receipts == ["posted 1 card", "posted 1 card"]
        assert sleeps.waits == [2.0]  # one request per 2 s: Retry-After 2
        assert len(sim.requests) == 3
        assert len(sim.received) == 2


def test_a_5xx_storm_is_a_transient_error_after_the_retry_budget(
    sim: TeamsWorkflowSimulator,
) -> None:
    body = {"error": {"code": "ServiceUnavailable", "message": "Try again later."}}
    sim.add_fault(PATH, Fault.status(503, body), times=10)
    sleeps = Sleeps()
    error = send_error(settings(sim.endpoint, retry={"attempts": 3}), digest(), Runtime(sleeps))
    assert isinstance(error, TransientError)
    assert "HTTP 503 ServiceUnavailable" in str(error)
    assert "Try again later." in str(error)
    assert len(sim.requests) == 3
    assert len(sleeps.waits) == 2
    assert error.calls == 3
    assert sim.received == []


def test_a_failing_later_card_says_how_many_were_posted() -> None:
    items = [Item(f"Item {n}", "d" * 200) for n in range(200)]
    big = Message("digest", "k", "Big", "", [Section("All", items)])
    count = len(cards(big))
    with TeamsWorkflowSimulator(rate_limit=0.001, burst=1) as sim:  # the 2nd card: 429, long
        error = send_error(settings(sim.endpoint, retry={"attempts": 1}), big)
        assert isinstance(error, TransientError)
        assert f"card 2 of {count} (1 posted before it): HTTP 429 TooManyRequests" in str(error)
        assert error.retry_after == 1000
        assert len(sim.received) == 1


ENVELOPE = {
    "type": "message",
    "attachments": [
        {
            "contentType": "application/vnd.microsoft.card.adaptive",
            "contentUrl": None,
            "content": {
                "type": "AdaptiveCard",
                "version": "1.4",
                "body": [{"type": "TextBlock", "text": "hi"}],
            },
        }
    ],
}


def _broken(path: str, value: Any) -> dict[str, Any]:
    data = json.loads(json.dumps(ENVELOPE))
    target = data
    keys = path.split(".")
    for key in keys[:-1]:
        target = target[int(key)] if key.isdigit() else target[key]
    target[keys[-1]] = value
    return data


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (_broken("attachments", None), "is of type 'Null'. The result must be a valid array."),
        (_broken("attachments", []), "'attachments' is empty"),
        (_broken("attachments", {"a": 1}), "is of type 'Object'"),
        (_broken("type", "card"), "'type' must be 'message'"),
        (_broken("attachments.0.contentType", "application/json"), "contentType must be"),
        (_broken("attachments.0.content.type", "MessageCard"), "must be 'AdaptiveCard'"),
        (_broken("attachments.0.content.version", None), "version is required"),
        (
            _broken("attachments.0.content.body", [{"type": "Header"}]),
            'unknown element type "Header"',
        ),
        (
            _broken("attachments.0.content.body", [{"type": "TextBlock"}]),
            "a TextBlock needs a text",
        ),
        (
            _broken("attachments.0.content.actions", [{"type": "Action.OpenUrl", "url": "/x"}]),
            "Action.OpenUrl needs an absolute url",
        ),
    ],
)
def test_the_simulator_answers_202_but_records_an_invalid_envelope_as_a_failed_run(
    sim: TeamsWorkflowSimulator, payload: dict[str, Any], reason: str
) -> None:
    answer = httpx.post(sim.endpoint, json=payload)
    assert answer.status_code == 202
    assert answer.content == b""
    [run] = sim.failed_runs
    assert run.error is not None
    assert reason in run.error
    assert run.cards == []
    assert sim.received == []
    good = httpx.post(sim.endpoint, json=ENVELOPE)
    assert good.status_code == 202
    assert [r.cards for r in sim.received] == [[ENVELOPE["attachments"][0]["content"]]]


def test_the_simulator_refuses_non_json_and_bodies_over_28_kb(sim: TeamsWorkflowSimulator) -> None:
    answer = httpx.post(
        sim.endpoint, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert answer.status_code == 400
    assert answer.json()["error"]["code"] == "InvalidRequestContent"
    big = _broken("attachments.0.content.body", [{"type": "TextBlock", "text": "x" * LIMIT}])
    answer = httpx.post(sim.endpoint, json=big)
    assert answer.status_code == 413
    assert answer.json()["error"]["code"] == "RequestEntityTooLarge"
    assert sim.received == sim.failed_runs == []


def test_settings(sim: TeamsWorkflowSimulator) -> None:
    config = settings(sim.endpoint)
    assert config.rate_limit == 2.0
    assert DEMO_SIG not in repr(config)
    assert sim.endpoint not in repr(config)
    for bad, says in [
        (f"ftp://127.0.0.1/workflows/x?sig={DEMO_SIG}", "address with a host"),
        (f"https://u:p@127.0.0.1/workflows/x?sig={DEMO_SIG}", "user name or password"),
        (
            f"https://acme.webhook.office.com/webhookb2/x?sig={DEMO_SIG}",
            "connector webhooks are retired",
        ),
    ]:
        with pytest.raises(pydantic.ValidationError, match=says) as caught:
            settings(bad)
        assert DEMO_SIG not in str(caught.value)
    with pytest.raises(pydantic.ValidationError, match="Extra inputs"):
        settings(sim.endpoint, channel="general")
    assert PUBLISHER.type == "teams"
    assert PUBLISHER.section == "channels"
    assert CHANNEL_BUILTINS["teams"] == "okrsync.publish.channels.teams:PUBLISHER"


def test_aclose_twice_is_harmless(sim: TeamsWorkflowSimulator) -> None:
    async def go() -> None:
        channel = PUBLISHER.open("growth", settings(sim.endpoint), FAST)
        await channel.send(digest())
        await channel.aclose()
        await channel.aclose()

    asyncio.run(go())
    assert len(sim.received) == 1
