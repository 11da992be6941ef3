"""``type: slack`` channel: each digest and alert as Block Kit blocks, via an incoming webhook.

    POST https://hooks.slack.com/services/T…/B…/…      (the URL is the credential)
    {"text": <the plain-text fallback>, "blocks": [
        {"type": "header", "text": {"type": "plain_text", "text": <title>}},
        {"type": "section", "text": {"type": "mrkdwn", "text": <summary>}},
        {"type": "section", "text": {"type": "mrkdwn", "text": "*Section*\\n• 🟢 *item* — detail"}},
        …
        {"type": "context", "elements": [{"type": "mrkdwn", "text": "<dashboard|Open the dashboard>"}]}]}

Slack answers ``ok`` (200) or one word in plain text: 400 ``invalid_payload`` /
``invalid_blocks`` / ``no_text`` are query errors, 403 ``invalid_token`` /
``action_prohibited`` and 404 ``no_service`` auth errors (make a new webhook),
404 ``channel_not_found`` and 410 ``channel_is_archived`` query errors; 429 and
5xx are retried, honouring ``Retry-After``. Block Kit's limits (50 blocks, 3000
characters a section, 150 a header) are kept by splitting: a long section
becomes several section blocks at item boundaries, and a message of more than
50 blocks several messages, "Title (2/3)". Posts are paced to ``rate_limit``
(Slack allows about one message a second per webhook).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from typing import Any, Literal

import httpx
from pydantic import ConfigDict, Field, PositiveFloat, SecretStr, field_validator

from okrsync.errors import AuthError, MeasureError, QueryError, TransientError, excerpt
from okrsync.sdk.connector import Runtime
from okrsync.sdk.http import SecretUrlOptions, make_client, request_json, retry_after
from okrsync.sdk.messages import Item, Message
from okrsync.sdk.publisher import ChannelSettings, PublisherType
from okrsync.sdk.redaction import REDACTOR, Redactor

MAX_BLOCKS = 50  # blocks in one message
SECTION_LIMIT = 3000  # characters of a section block's text
HEADER_LIMIT = 150  # characters of a header block's plain_text
FALLBACK_LIMIT = 3000  # the notification text: ours, kept short; Slack's own cap is far above
STATUS_EMOJI = {
    "done": "✅",
    "on_track": "🟢",
    "at_risk": "🟠",
    "off_track": "🔴",
    "stale": "⚪",
    "not_measured": "⚪",
    "error": "⚠️",
    "held": "⏸️",
    "throttled": "⏳",
}
# Slack's one-word answers: (error kind, what to do).
ANSWERS: dict[str, tuple[type[MeasureError], str]] = {
    "invalid_token": (AuthError, "the webhook was revoked: create a new incoming webhook"),
    "no_service": (
        AuthError,
        "the webhook was removed or disabled, or the URL is wrong: create a new incoming webhook",
    ),
    "action_prohibited": (
        AuthError,
        "the workspace forbids this webhook to post here: ask a Slack admin",
    ),
    "channel_not_found": (
        QueryError,
        "the webhook's channel was deleted: create a new incoming webhook for another channel",
    ),
    "channel_is_archived": (
        QueryError,
        "the webhook's channel is archived: unarchive it or create a new incoming webhook",
    ),
}


class SlackSettings(ChannelSettings):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)

    type: Literal["slack"]
    url: SecretStr = Field(
        description="The incoming webhook's URL (https://hooks.slack.com/services/…): a secret."
    )
    rate_limit: PositiveFloat | None = Field(
        default=1.0, description="Messages per second at most (Slack: about 1 per webhook)."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, url: SecretStr) -> SecretStr:
        """http(s) and a host; the message never repeats the URL, which is the credential."""
        try:
            parsed: httpx.URL | None = httpx.URL(url.get_secret_value().strip())
        except httpx.InvalidURL:
            parsed = None
        if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
            raise ValueError(
                "url must be the incoming webhook's address, "
                "https://hooks.slack.com/services/T…/B…/… (not shown: it is a secret)"
            )
        if parsed.userinfo:
            raise ValueError("url must not carry user:password")
        return SecretStr(str(parsed))


def escape(text: str) -> str:
    """Slack's three control characters as entities, so user text never becomes markup."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def fit(text: str, limit: int) -> str:
    """``text`` in ``limit`` characters, cut with … and never inside an ``&…;`` entity."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp = cut.rfind("&", max(0, len(cut) - 5))
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    return cut + "…"


def item_line(item: Item, limit: int = SECTION_LIMIT) -> str:
    """``• 🟢 <link|text> — detail`` (``*text*`` without a link), cut to ``limit``."""
    emoji = STATUS_EMOJI.get(item.status or "")
    prefix = "• " + (f"{emoji} " if emoji else "")
    name, detail = escape(item.text), escape(item.detail)
    sep = " — " if detail else ""
    if item.link:
        url = escape(item.link).replace("|", "%7C")
        line = f"{prefix}<{url}|{name}>{sep}{detail}"
        if len(line) <= limit:
            return line
    line = f"{prefix}*{name}*{sep}{detail}"
    if len(line) <= limit:
        return line
    # Too long even without its link: share the room, the name first, so the markup stays whole.
    room = limit - len(prefix) - 2 - len(sep)
    name = fit(name, max(room - len(detail), room // 2))
    return f"{prefix}*{name}*{sep}{fit(detail, room - len(name))}"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


def section_blocks(title: str, items: list[Item]) -> list[dict[str, Any]]:
    """One section block, or several split at item boundaries when over 3000 characters."""
    heading = f"*{fit(escape(title.strip()), 300)}*" if title.strip() else ""
    more = f"{heading} (continued)" if heading else ""
    budget = SECTION_LIMIT - len(more) - 1
    blocks: list[dict[str, Any]] = []
    text = heading
    for item in items:
        line = item_line(item, budget)
        if text and len(text) + 1 + len(line) > SECTION_LIMIT:
            blocks.append(_section(text))
            text = more
        text = f"{text}\n{line}" if text else line
    if text:
        blocks.append(_section(text))
    return blocks


def messages(message: Message) -> list[dict[str, Any]]:
    """The payloads to post in order: one, or several of at most 50 blocks each."""
    body: list[dict[str, Any]] = []
    if message.summary.strip():
        body.append(_section(fit(escape(message.summary), SECTION_LIMIT)))
    for part in message.sections:
        body += section_blocks(part.title, part.items)
    footer: list[dict[str, Any]] = []
    if message.link:
        url = escape(message.link).replace("|", "%7C")
        footer.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": f"<{url}|Open the dashboard>"}],
            }
        )
    room = MAX_BLOCKS - 1 - len(footer)
    chunks = [body[i : i + room] for i in range(0, len(body), room)] or [[]]
    title = message.title.strip() or "okrsync"
    out: list[dict[str, Any]] = []
    for n, chunk in enumerate(chunks, 1):
        tail = f" ({n}/{len(chunks)})" if len(chunks) > 1 else ""
        header = fit(title, HEADER_LIMIT - len(tail)) + tail
        fallback = message.text() if n == 1 else header
        blocks = [_header(header), *chunk, *footer]
        out.append({"text": fit(escape(fallback.strip()), FALLBACK_LIMIT), "blocks": blocks})
    return out


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": True}}


class SlackChannel:
    def __init__(
        self,
        name: str,
        settings: SlackSettings,
        runtime: Runtime,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name, self._settings, self._runtime, self._clock = name, settings, runtime, clock
        self._url = settings.url.get_secret_value()
        self._redactor = Redactor()
        path = httpx.URL(self._url).path
        secrets = {self._url, path}
        if "/services/" in path:  # Slack's T…/B…/secret, each of which identifies the webhook
            tail = path.split("/services/", 1)[1].strip("/")
            secrets |= {tail, *tail.split("/")}
        # The global redactor too: retry log lines carry the request path.
        for secret in secrets:
            self._redactor.add(secret)
            REDACTOR.add(secret)
        self._client = make_client(
            SecretUrlOptions.of(settings), headers={"Accept": "text/plain, */*"}, base_url=""
        )
        self._interval = 1.0 / settings.rate_limit if settings.rate_limit else 0.0
        self._last: float | None = None
        self._lock = asyncio.Lock()  # one message's parts go out together, in order
        self._closed = False

    async def send(self, message: Message) -> str:
        payloads = messages(message)
        posted = 0
        async with self._lock:
            for payload in payloads:
                try:
                    await self._post(payload)
                except MeasureError as exc:
                    raise self._scrubbed(exc, posted, len(payloads)) from None
                posted += 1
        return f"posted {posted} message" + ("" if posted == 1 else "s")

    async def _post(self, payload: dict[str, Any]) -> None:
        await self._pace()
        await request_json(
            self._client,
            "POST",
            self._url,
            retry=self._settings.retry,
            sleep=self._pacing_sleep,
            json_body=payload,
            what=f"slack channel {self._name}",
            classify=self._classify,
            expect_json=False,
        )

    async def _pace(self) -> None:
        """At most ``rate_limit`` posts a second: Slack answers 429 to bursts."""
        if self._interval and self._last is not None:
            wait = self._last + self._interval - self._clock()
            if wait > 0:
                await self._runtime.sleep(wait)
        self._last = self._clock()

    async def _pacing_sleep(self, seconds: float) -> None:
        """A retry's wait; the retried post counts from after it."""
        await self._runtime.sleep(seconds)
        self._last = self._clock()

    def _classify(self, response: httpx.Response, label: str) -> MeasureError | None:
        status = response.status_code
        if 200 <= status < 300:
            return None
        word = self._scrub(excerpt(response.text, 120))
        said = f"HTTP {status} {word}" if word else f"HTTP {status}"
        where = f"from Slack (channel {self._name!r})"
        known = ANSWERS.get(word)
        if status in (408, 425, 429) or status >= 500:
            return TransientError(f"{said} {where}", retry_after=retry_after(response))
        if known is not None:
            kind, hint = known
            return kind(f"{said} {where}: {hint}")
        if status in (401, 403, 404):
            return AuthError(f"{said} {where}: check the webhook URL, or create a new one")
        if status < 400:
            return QueryError(f"{said} {where}: redirects are not followed; check the webhook URL")
        return QueryError(f"{said} {where}: Slack refused the message")

    def _scrubbed(self, exc: MeasureError, posted: int, total: int) -> MeasureError:
        """The error with the URL masked (request_json's own messages name the path)."""
        text = self._scrub(str(exc))
        if posted:
            text = f"posted {posted} of {total} messages, then: {text}"
        if isinstance(exc, TransientError):
            out: MeasureError = TransientError(text, retry_after=exc.retry_after)
        else:
            out = type(exc)(text)
        out.calls = exc.calls
        return out

    def _scrub(self, text: str) -> str:
        return self._redactor.redact(REDACTOR.redact(text))

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_channel(name: str, settings: Any, runtime: Runtime) -> SlackChannel:
    return SlackChannel(name, settings, runtime)


PUBLISHER = PublisherType(
    type="slack",
    section="channels",
    settings_model=SlackSettings,
    open=open_channel,
    doc="A Slack channel, through an incoming webhook: digests and alerts as Block Kit messages.",
)

__all__ = [
    "PUBLISHER",
    "SlackChannel",
    "SlackSettings",
    "escape",
    "fit",
    "item_line",
    "messages",
    "section_blocks",
]
