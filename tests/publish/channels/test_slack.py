"""The slack channel over real HTTP against the incoming-webhook simulator."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import httpx
import pydantic
import pytest
import structlog

from okrsync.demo.simulators.channels.slack import DEMO_PATH, Received, SlackWebhookSimulator
from okrsync.demo.simulators.server import Fault
from okrsync.errors import AuthError, MeasureError, QueryError, TransientError
from okrsync.publish.channels.slack import (
    PUBLISHER,
    SECTION_LIMIT,
    SlackChannel,
    SlackSettings,
    item_line,
)
from okrsync.sdk.connector import Runtime
from okrsync.sdk.messages import Item, Message, Section
from okrsync.service.logging import redact_processor
from okrsync.testing.runtime import FAST, Sleeps

SECRET = DEMO_PATH.rsplit("/", 1)[-1]
DASHBOARD = "https://okrs.example.com"


@pytest.fixture
def sim() -> Iterator[SlackWebhookSimulator]:
    with SlackWebhookSimulator() as server:
        yield server


def settings(url: str, **extra: Any) -> SlackSettings:
    return SlackSettings.model_validate({"type": "slack", "url": url, **extra})


def digest(**extra: Any) -> Message:
    fields: dict[str, Any] = {
        "kind": "digest",
        "key": "digest:product:2026-W46",
        "title": "Weekly OKR check-in: product",
        "summary": "2 objectives, 3 key results: 1 on track, 1 at risk, 1 done.",
        "sections": [
            Section(
                "Objectives",
                [
                    Item(
                        "Delight new users", "58% · on track", "on_track", f"{DASHBOARD}/#o-delight"
                    )
                ],
            ),
            Section(
                "Key results",
                [
                    Item("Checkout in 6 steps", "67% (+5 pts)", "at_risk"),
                    Item("Ship onboarding v2", "done", "done", f"{DASHBOARD}/#kr-onb"),
                ],
            ),
        ],
        "link": DASHBOARD,
    }
    fields.update(extra)
    return Message(**fields)


def send(config: SlackSettings, *messages: Message, runtime: Runtime = FAST) -> list[str]:
    async def go() -> list[str]:
        channel = PUBLISHER.open("product", config, runtime)
        try:
            return [await channel.send(m) for m in messages]
        finally:
            await channel.aclose()

    return asyncio.run(go())


def send_error(config: SlackSettings, message: Message, runtime: Runtime = FAST) -> MeasureError:
    with pytest.raises(MeasureError) as caught:
        send(config, message, runtime=runtime)
    return caught.value


def texts(got: Received) -> list[str]:
    """Every text of every block: what the limits apply to."""
    out = []
    for block in got.blocks:
        if "text" in block:
            out.append(block["text"]["text"])
        out += [e["text"] for e in block.get("elements", [])]
    return out


def test_a_digest_arrives_as_blocks_with_a_fallback(sim: SlackWebhookSimulator) -> None:
    assert send(settings(sim.endpoint), digest()) == ["posted 1 message"]
    [got] = sim.received
    assert got.blocks == [
        {
            "type": "header",
            "text": {"type": "plain_text", "text": "Weekly OKR check-in: product", "emoji": True},
        },
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": digest().summary},
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": f"*Objectives*\n• 🟢 <{DASHBOARD}/#o-delight|Delight new users> — 58% · on track",
            },
        },
        {
            "type": "section",
            "text": {
                "type": "mrkdwn",
                "text": "*Key results*\n• 🟠 *Checkout in 6 steps* — 67% (+5 pts)\n"
                f"• ✅ <{DASHBOARD}/#kr-onb|Ship onboarding v2> — done",
            },
        },
        {
            "type": "context",
            "elements": [{"type": "mrkdwn", "text": f"<{DASHBOARD}|Open the dashboard>"}],
        },
    ]
    assert got.text == digest().text().strip()
    [request] = sim.requests
    assert request.headers["content-type"] == "application/json"
    assert request.json() == {"text": got.text, "blocks": got.blocks}


def test_user_text_is_escaped_for_mrkdwn(sim: SlackWebhookSimulator) -> None:
    message = Message(
        "alert",
        "alert:1",
        "Q4 <script>alert(1)</script> & co",
        "Status of <b>Growth</b> & Retention changed",
        [
            Section(
                "R&D <team>",
                [
                    Item(
                        "<script>x</script> & <@U123>",
                        "a > b",
                        "off_track",
                        "https://x.test/?a=1&b=2",
                    )
                ],
            )
        ],
    )
    send(settings(sim.endpoint), message)
    [got] = sim.received
    header, summary, section = got.blocks
    assert header["text"] == {
        "type": "plain_text",  # shown as is: plain_text is not parsed
        "text": "Q4 <script>alert(1)</script> & co",
        "emoji": True,
    }
    assert summary["text"]["text"] == "Status of &lt;b&gt;Growth&lt;/b&gt; &amp; Retention changed"
    assert section["text"]["text"] == (
        "*R&amp;D &lt;team&gt;*\n"
        "• 🔴 <https://x.test/?a=1&amp;b=2|&lt;script&gt;x&lt;/script&gt; &amp; &lt;@U123&gt;>"
        " — a &gt; b"
    )
    assert got.text is not None
    assert got.text.startswith("Q4 &lt;script&gt;alert(1)&lt;/script&gt; &amp; co")
    assert "<script>" not in got.text
    assert "<@U123>" not in got.text  # no mention ever pings from a title


def test_a_message_of_120_items_is_split_within_slacks_limits(
    sim: SlackWebhookSimulator,
) -> None:
    detail = "progress noted " * 70  # ~1000 characters: 3 items overflow one section
    sections = [
        Section(f"Objective {s}", [Item(f"KR {s}.{i}", detail, "on_track") for i in range(3)])
        for s in range(40)
    ]
    sections[0] = Section(
        "Objective 0", [Item("KR 0.0", "y" * 3500, "held"), *sections[0].items[1:]]
    )
    message = digest(sections=sections)
    [receipt] = send(settings(sim.endpoint), message)
    assert sim.refusals == []
    assert [r.path for r in sim.requests] == [DEMO_PATH] * len(sim.received)
    n = len(sim.received)
    assert n >= 2
    assert receipt == f"posted {n} messages"
    seen: list[str] = []
    for k, got in enumerate(sim.received, 1):
        assert len(got.blocks) <= 50
        assert got.blocks[0]["text"]["text"] == f"Weekly OKR check-in: product ({k}/{n})"
        assert got.blocks[-1]["type"] == "context"  # the dashboard link on every part
        assert all(len(t) <= SECTION_LIMIT for t in texts(got))
        for text in texts(got)[1:]:
            seen += [line.split("*")[1] for line in text.splitlines() if line.startswith("• ")]
    assert seen == [f"KR {s}.{i}" for s in range(40) for i in range(3)]  # all, in order
    first = sim.received[0]
    assert first.blocks[1]["text"]["text"] == message.summary
    assert "(continued)" in first.blocks[3]["text"]["text"]
    cut = first.blocks[2]["text"]["text"].splitlines()[1]
    assert cut.startswith("• ⏸️ *KR 0.0* — yyy")
    assert cut.endswith("y…")
    assert sim.received[1].text == "Weekly OKR check-in: product (2/" + f"{n})"


def test_a_long_title_is_cut_in_the_header_keeping_the_part_number() -> None:
    from okrsync.publish.channels.slack import messages

    many = [Section(f"S{i}", [Item("x")]) for i in range(60)]
    parts = messages(digest(title="T" * 400, sections=many))
    assert len(parts) == 2
    header = parts[1]["blocks"][0]["text"]["text"]
    assert len(header) == 150
    assert header.endswith("T… (2/2)")
    assert len(item_line(Item("a & b " * 800, "c" * 4000), 3000)) <= 3000


def test_invalid_blocks_is_a_query_error_in_slacks_word(sim: SlackWebhookSimulator) -> None:
    sim.add_fault(DEMO_PATH, Fault.status(400, b"invalid_blocks"))
    error = send_error(settings(sim.endpoint), digest())
    assert isinstance(error, QueryError)
    assert "HTTP 400 invalid_blocks" in str(error)
    assert error.calls == 1
    assert sim.received == []


def test_no_service_says_so_and_never_shows_the_url(sim: SlackWebhookSimulator) -> None:
    wrong = f"{sim.url}/services/T0KRSYNC01/B0KRSYNC01/wrongsecret000000000000"
    error = send_error(settings(wrong), digest())
    assert isinstance(error, AuthError)
    assert "HTTP 404 no_service" in str(error)
    assert "create a new incoming webhook" in str(error)
    for secret in (wrong, "wrongsecret000000000000", "/services/", "B0KRSYNC01"):
        assert secret not in str(error)
    assert sim.received == []


@pytest.mark.parametrize(
    ("status", "word", "kind", "hint"),
    [
        (403, "invalid_token", AuthError, "create a new incoming webhook"),
        (403, "action_prohibited", AuthError, "ask a Slack admin"),
        (404, "channel_not_found", QueryError, "channel was deleted"),
        (410, "channel_is_archived", QueryError, "unarchive it"),
        (400, "no_text", QueryError, "Slack refused the message"),
    ],
)
def test_slacks_refusals_are_classified_with_a_hint(
    sim: SlackWebhookSimulator, status: int, word: str, kind: type[MeasureError], hint: str
) -> None:
    sim.add_fault(DEMO_PATH, Fault.status(status, word.encode()))
    error = send_error(settings(sim.endpoint), digest())
    assert type(error) is kind
    assert f"HTTP {status} {word}" in str(error)
    assert hint in str(error)
    assert error.calls == 1


def test_the_archived_channel_of_the_simulator_is_gone(sim: SlackWebhookSimulator) -> None:
    sim.archived = True
    error = send_error(settings(sim.endpoint), digest())
    assert isinstance(error, QueryError)
    assert "HTTP 410 channel_is_archived" in str(error)


def test_429_waits_as_retry_after_says(sim: SlackWebhookSimulator) -> None:
    sim.add_fault(DEMO_PATH, Fault.status(429, b"rate_limited", {"Retry-After": "7"}))
    sleeps = Sleeps()
    assert send(settings(sim.endpoint), digest(), runtime=Runtime(sleep=sleeps)) == [
        "posted 1 message"
    ]
    assert sleeps.waits == [7.0]
    assert len(sim.requests) == 2
    assert len(sim.received) == 1


def test_posts_are_paced_so_slacks_rate_limit_is_never_hit() -> None:
    now = [1000.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with SlackWebhookSimulator(rate_limit=1.0, clock=lambda: now[0]) as sim:

        async def go() -> list[str]:
            channel = SlackChannel(
                "product", settings(sim.endpoint), Runtime(sleep), clock=lambda: now[0]
            )
            try:
                return [await channel.send(digest()) for _ in range(3)]
            finally:
                await channel.aclose()

        assert asyncio.run(go()) == ["posted 1 message"] * 3
        assert waits == [1.0, 1.0]
        assert len(sim.requests) == 3  # no 429 at all
        assert len(sim.received) == 3


def test_unpaced_posts_meet_the_simulators_429_and_wait() -> None:
    now = [1000.0]
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        now[0] += seconds

    with SlackWebhookSimulator(rate_limit=0.5, clock=lambda: now[0]) as sim:
        config = settings(sim.endpoint, rate_limit=None)
        assert send(config, digest(), digest(), runtime=Runtime(sleep)) == ["posted 1 message"] * 2
        assert waits == [2.0]
        assert len(sim.requests) == 3  # the second message met a 429 once
        assert len(sim.received) == 2


def test_a_failure_after_some_parts_says_how_many_were_posted() -> None:
    many = [Section(f"S{i}", [Item("x")]) for i in range(60)]
    with SlackWebhookSimulator(rate_limit=0.001, clock=lambda: 0.0) as sim:
        config = settings(sim.endpoint, rate_limit=None, retry={"attempts": 1})
        error = send_error(config, digest(sections=many))
    assert isinstance(error, TransientError)
    assert "posted 1 of 2 messages, then: HTTP 429 rate_limited" in str(error)
    assert error.retry_after == 1000.0
    assert len(sim.received) == 1


def test_a_5xx_storm_is_a_transient_error_after_the_retries(sim: SlackWebhookSimulator) -> None:
    sim.add_fault(DEMO_PATH, Fault.status(503, f"down {DEMO_PATH}".encode()), times=10)
    with structlog.testing.capture_logs() as logs:
        error = send_error(settings(sim.endpoint, retry={"attempts": 3}), digest())
    assert isinstance(error, TransientError)
    assert "HTTP 503" in str(error)
    assert error.calls == 3
    assert len(sim.requests) == 3
    assert SECRET not in str(error)
    retries = [e for e in logs if e["event"] == "retrying"]
    assert len(retries) == 2
    masked = redact_processor()(None, "warning", dict(retries[0]))
    assert SECRET not in str(masked)  # the log line, as the service's processor writes it


def test_a_timeout_names_no_path(sim: SlackWebhookSimulator) -> None:
    sim.add_fault(DEMO_PATH, Fault.hang(2), times=2)
    with structlog.testing.capture_logs() as logs:
        error = send_error(settings(sim.endpoint, timeout=0.2, retry={"attempts": 2}), digest())
    assert isinstance(error, TransientError)
    assert "timed out" in str(error)
    assert SECRET not in str(error)
    assert "B0KRSYNC01" not in str(error)
    [retry] = [e for e in logs if e["event"] == "retrying"]
    assert "timed out" in retry["error"]  # httpx's label names the path: the global redactor
    assert SECRET not in str(redact_processor()(None, "warning", dict(retry)))


# -- the simulator's own checks, so the limits above are proven ---------------------------


def post(sim: SlackWebhookSimulator, body: Any, path: str = DEMO_PATH) -> httpx.Response:
    if isinstance(body, bytes):
        return httpx.post(sim.url + path, content=body)
    return httpx.post(sim.url + path, json=body)


def section(text: str, kind: str = "mrkdwn") -> dict[str, Any]:
    return {"type": "section", "text": {"type": kind, "text": text}}


def test_the_simulator_takes_50_blocks_and_refuses_51(sim: SlackWebhookSimulator) -> None:
    answer = post(sim, {"text": "t", "blocks": [section("x")] * 50})
    assert (answer.status_code, answer.text) == (200, "ok")
    assert answer.headers["content-type"].startswith("text/plain")
    answer = post(sim, {"text": "t", "blocks": [section("x")] * 51})
    assert (answer.status_code, answer.text) == (400, "invalid_blocks")
    assert sim.refusals == ["51 blocks, more than 50"]
    assert len(sim.received) == 1


def test_the_simulator_takes_3000_characters_a_section_and_refuses_3001(
    sim: SlackWebhookSimulator,
) -> None:
    assert post(sim, {"blocks": [section("a" * 3000)]}).status_code == 200
    answer = post(sim, {"blocks": [section("a" * 3001)]})
    assert (answer.status_code, answer.text) == (400, "invalid_blocks")
    assert "3001 characters" in sim.refusals[0]


@pytest.mark.parametrize(
    "block",
    [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 151}},
        {"type": "header", "text": {"type": "mrkdwn", "text": "*h*"}},
        {"type": "section", "text": {"type": "markdown", "text": "x"}},
        {"type": "section", "text": {"type": "mrkdwn", "text": ""}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11},
        {"type": "divider", "block_id": "b" * 256},
        {"type": "table", "rows": []},
        {"type": "section", "text": {"type": "mrkdwn", "text": "x"}, "color": "red"},
    ],
)
def test_the_simulator_refuses_blocks_beyond_block_kit(
    sim: SlackWebhookSimulator, block: dict[str, Any]
) -> None:
    answer = post(sim, {"text": "t", "blocks": [block]})
    assert (answer.status_code, answer.text) == (400, "invalid_blocks")
    assert sim.received == []


def test_the_simulator_takes_the_limits_themselves(sim: SlackWebhookSimulator) -> None:
    blocks = [
        {"type": "header", "text": {"type": "plain_text", "text": "h" * 150, "emoji": True}},
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 10},
        {"type": "divider", "block_id": "b" * 255},
    ]
    assert post(sim, {"text": "t", "blocks": blocks}).status_code == 200


def test_the_simulator_answers_slacks_words(sim: SlackWebhookSimulator) -> None:
    assert (post(sim, b"text=hi").status_code, post(sim, b"text=hi").text) == (
        400,
        "invalid_payload",
    )
    assert post(sim, {"blocks": []}).text == "no_text"
    assert post(sim, {"text": "hi", "blocks": "nope"}).text == "invalid_blocks_format"
    wrong = post(sim, {"text": "hi"}, "/services/T0/B0/nope")
    assert (wrong.status_code, wrong.text) == (404, "no_service")
    assert post(sim, {"text": "hi"}).text == "ok"
    assert sim.received == [Received("hi", [], sim.received[0].time)]


def test_settings(sim: SlackWebhookSimulator) -> None:
    config = settings(sim.endpoint)
    assert config.rate_limit == 1.0
    assert SECRET not in repr(config)
    for bad in (f"ftp://hooks.slack.com{DEMO_PATH}", f"hooks.slack.com{DEMO_PATH}", "https://"):
        with pytest.raises(pydantic.ValidationError) as caught:
            settings(bad)
        assert SECRET not in str(caught.value)
        assert "hooks.slack.com/services/T…" in str(caught.value)
    with pytest.raises(pydantic.ValidationError):
        settings(sim.endpoint, channel="#okrs")  # extra fields are refused
    assert PUBLISHER.type == "slack"
    assert PUBLISHER.section == "channels"
    assert PUBLISHER.settings_model is SlackSettings


def test_aclose_twice_is_harmless(sim: SlackWebhookSimulator) -> None:
    async def go() -> None:
        channel = PUBLISHER.open("product", settings(sim.endpoint), FAST)
        await channel.send(digest())
        await channel.aclose()
        await channel.aclose()

    asyncio.run(go())
    assert len(sim.received) == 1
