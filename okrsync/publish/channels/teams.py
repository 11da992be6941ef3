"""``type: teams``: each digest and alert as an Adaptive Card, posted to a Teams Workflows webhook.

    POST {url}      (the trigger of a "When a Teams webhook request is received" workflow)
    Content-Type: application/json

    {"type": "message",
     "attachments": [{"contentType": "application/vnd.microsoft.card.adaptive",
                      "contentUrl": null,
                      "content": {"$schema": "http://adaptivecards.io/schemas/adaptive-card.json",
                                  "type": "AdaptiveCard", "version": "1.4",
                                  "body": [TextBlock …], "actions": [Action.OpenUrl]}}]}

The card: the title (a Large, Bolder TextBlock), the summary, and per section a
Bolder heading with a separator and one TextBlock per item (``🟢 **text** — detail``,
the name a Markdown link when the item has one); "Open the dashboard"
(``Action.OpenUrl``) when the message has a link. Text is the message's, escaped for
the TextBlock's Markdown subset, so a title never becomes markup. A message whose
body would pass :data:`BUDGET` is split at item boundaries into several cards, sent
in order, titled "Title (2/3)"; posts are paced to ``rate_limit`` a second (Teams
throttles above four).

The URL is the credential: its ``sig`` parameter signs the trigger (anyone holding
it can post), so it is a secret and is masked, with the ``sig`` alone, in every
error and log line. Workflows answers 202 with an empty body *before* the flow runs:
a card the flow cannot post fails later, in the workflow's run history, not here.

    ==================  ======================================================
    2xx (202)           posted; receipt "posted 1 card"
    401, 403            AuthError: the sig was refused; copy the URL again
    404                 QueryError: the workflow was deleted or turned off
    400, 413, other 4xx QueryError with Power Automate's message
    408, 425, 429, 5xx  TransientError, Retry-After honoured
    ==================  ======================================================

Error bodies are read as Power Automate's ``{"error": {"code", "message"}}``, or as
text. Verified in Microsoft's docs: the envelope, Adaptive Cards only, the ~28 KB
message limit and the throttling above four requests a second, the TextBlock
Markdown subset (bold, italic, lists, links). Seen only in issues and third-party
code (**unverified**): the URL's shape, 202 before the run, the 401/404 codes.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import Any, Literal

import httpx
from pydantic import ConfigDict, Field, PositiveFloat, SecretStr, field_validator

from okrsync.errors import AuthError, MeasureError, QueryError, TransientError, excerpt
from okrsync.sdk.connector import Runtime
from okrsync.sdk.http import SecretUrlOptions, body_json, make_client, request_json, retry_after
from okrsync.sdk.messages import Item, Message, Section
from okrsync.sdk.publisher import ChannelSettings, PublisherType
from okrsync.sdk.redaction import REDACTOR, Redactor

SCHEMA = "http://adaptivecards.io/schemas/adaptive-card.json"
CARD_VERSION = "1.4"  # the version of the Workflows webhook examples
CONTENT_TYPE = "application/vnd.microsoft.card.adaptive"
LIMIT = 28 * 1024  # Teams: a posted message holds about 28 KB
BUDGET = LIMIT - 1024  # bytes per request: a kilobyte of room, since Teams' 28 KB is approximate
DASHBOARD = "Open the dashboard"
MARKS = {
    "on_track": "🟢", "done": "✅", "at_risk": "🟠", "off_track": "🔴",
    "stale": "⚪", "not_measured": "⚪", "error": "⚠️", "held": "⏸️", "throttled": "⏳",
}  # fmt: skip
# Characters kept of each part (after folding to one line), so any one item fits a card.
TITLE_CHARS, SUMMARY_CHARS, NAME_CHARS, DETAIL_CHARS, URL_CHARS = 250, 3000, 500, 2000, 2000
_SPECIALS = re.compile(r"([\\`*_\[\]<>~])")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_LIST = re.compile(r"^(\d+)([.)])(?=\s|$)")
_SUFFIX_ROOM = " (999/999)"  # the title's "(2/3)" is counted in before the split is known


def check_workflow_url(url: str) -> str:
    """The ``sig`` of a workflow trigger URL; ValueError, never quoting the URL, if unusable."""
    try:
        parsed: httpx.URL | None = httpx.URL(url.strip())
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or parsed.scheme not in ("http", "https") or not parsed.host:
        raise ValueError(
            "url must be the workflow's http(s) address with a host (not shown here: it holds "
            "the workflow's sig)"
        )
    if parsed.userinfo:
        raise ValueError("url must not hold a user name or password")
    host = parsed.host.lower()
    if host.endswith(".webhook.office.com") or (
        host == "outlook.office.com" and parsed.path.startswith("/webhook")
    ):
        raise ValueError(
            "Office 365 connector webhooks are retired: in Teams, create a workflow from the "
            'template "Post to a channel when a webhook request is received" and use its URL'
        )
    sig = str(parsed.params.get("sig", ""))
    if not sig:
        raise ValueError(
            "url has no sig parameter: in the workflow's trigger set 'Who can trigger the "
            "flow?' to Anyone, then copy the HTTP POST URL again, whole"
        )
    return sig


class TeamsSettings(ChannelSettings):
    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)  # never echo the url

    type: Literal["teams"]
    url: SecretStr = Field(
        description="The workflow's HTTP POST URL, sig included (it is the credential): "
        "${TEAMS_WORKFLOW_URL}."
    )
    rate_limit: PositiveFloat | None = Field(
        default=2.0, description="Posts per second (Teams throttles above 4)."
    )

    @field_validator("url")
    @classmethod
    def _url(cls, url: SecretStr) -> SecretStr:
        check_workflow_url(url.get_secret_value())
        return url


# -- the card ------------------------------------------------------------------


def escape(text: str, limit: int) -> str:
    """``text`` on one line, cut to ``limit`` characters, its Markdown specials escaped.

    A TextBlock reads a CommonMark subset (bold, italic, lists, links): a newline
    could start a list, so lines are folded; a leading ``-``, ``+``, ``#`` or ``1.``
    would make one line a list or heading, so it is escaped too.
    """
    text = " ".join(_CONTROL.sub(" ", text).split())
    if len(text) > limit:
        text = text[: limit - 1] + "…"
    text = _SPECIALS.sub(r"\\\1", text)
    if text[:1] in ("-", "+", "#"):
        text = "\\" + text
    return _LIST.sub(r"\1\\\2", text)


def safe_url(url: str | None) -> str | None:
    """An absolute http(s) address fit for a Markdown link and ``Action.OpenUrl``; else None.

    A relative or other-scheme URL would make Teams refuse the card, so it is left out.
    """
    if not url or len(url) > URL_CHARS:
        return None
    try:
        parsed = httpx.URL(url.strip())
    except httpx.InvalidURL:
        return None
    if parsed.scheme not in ("http", "https") or not parsed.host:
        return None
    text = str(parsed)
    for ch, code in ((" ", "%20"), ("(", "%28"), (")", "%29"), ("<", "%3C"), (">", "%3E")):
        text = text.replace(ch, code)
    return text


def item_text(item: Item) -> str:
    """``🟢 **name** — detail``; the name a link when the item has one."""
    mark = MARKS.get(item.status or "")
    prefix = f"{mark} " if mark else (f"({escape(item.status, 40)}) " if item.status else "")
    name = escape(item.text, NAME_CHARS)
    url = safe_url(item.link)
    head = f"[{name}]({url})" if url and name else (f"**{name}**" if name else "")
    detail = escape(item.detail, DETAIL_CHARS)
    joined = f"{head} — {detail}" if head and detail else head or detail
    return prefix + joined


def _title(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "size": "Large", "weight": "Bolder", "wrap": True}


def _heading(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "weight": "Bolder", "separator": True, "wrap": True}


def _text(text: str) -> dict[str, Any]:
    return {"type": "TextBlock", "text": text, "wrap": True}


def envelope(body: list[dict[str, Any]], link: str | None) -> dict[str, Any]:
    """The message Workflows receives: one attachment, the Adaptive Card."""
    card: dict[str, Any] = {"$schema": SCHEMA, "type": "AdaptiveCard", "version": CARD_VERSION}
    card["body"] = body
    if link:
        card["actions"] = [{"type": "Action.OpenUrl", "title": DASHBOARD, "url": link}]
    attachment = {"contentType": CONTENT_TYPE, "contentUrl": None, "content": card}
    return {"type": "message", "attachments": [attachment]}


def encoded(data: Any) -> bytes:
    """The bytes sent: httpx's own JSON encoding (compact, UTF-8)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


def continued(section: Section) -> str:
    """The heading of a section carried over to the next card."""
    return escape(section.title, TITLE_CHARS - 12) + " (continued)"


def cards(message: Message, budget: int = BUDGET) -> list[dict[str, Any]]:
    """The envelopes to POST, in order: one, or the message split at item boundaries.

    Sizes add up exactly: the compact JSON of a list is its elements and a comma
    between each, so each element costs its own bytes and one more. The summary is on
    the first card; a section carried over is headed "Section (continued)".
    """
    title = escape(message.title, TITLE_CHARS) or "okrsync"  # a TextBlock needs a text
    link = safe_url(message.link)
    base = len(encoded(envelope([_title(title + _SUFFIX_ROOM)], link)))
    parts: list[list[dict[str, Any]]] = []
    current: list[dict[str, Any]] = []
    used = base

    def add(element: dict[str, Any]) -> None:
        nonlocal used
        current.append(element)
        used += len(encoded(element)) + 1

    def cost(*elements: dict[str, Any]) -> int:
        return sum(len(encoded(e)) + 1 for e in elements)

    def flush() -> None:
        nonlocal current, used
        parts.append(current)
        current, used = [], base

    if message.summary.strip():
        add(_text(escape(message.summary, SUMMARY_CHARS)))
    for section in message.sections:
        blocks = [_text(line) for line in map(item_text, section.items) if line]
        name = escape(section.title, TITLE_CHARS)
        heads = [_heading(name)] if name else []
        if current and used + cost(*heads, *blocks[:1]) > budget:
            flush()  # a heading never ends a card without its first item
        for head in heads:
            add(head)
        for block in blocks:
            if used + cost(block) > budget:
                flush()
                if name:
                    add(_heading(continued(section)))
            add(block)
    if current or not parts:
        flush()
    count = len(parts)
    out = []
    for number, body in enumerate(parts, 1):
        text = title if count == 1 else f"{title} ({number}/{count})"
        out.append(envelope([_title(text), *body], link))
    return out


# -- the channel -----------------------------------------------------------------


class TeamsChannel:
    def __init__(
        self,
        name: str,
        settings: TeamsSettings,
        runtime: Runtime,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._name, self._settings, self._runtime, self._clock = name, settings, runtime, clock
        self._url = settings.url.get_secret_value().strip()
        sig = check_workflow_url(self._url)
        self._redactor = Redactor()
        for secret in (self._url, sig):
            self._redactor.add(secret)
            REDACTOR.add(secret)  # so a log line anywhere masks it too
        self._client = make_client(
            SecretUrlOptions.of(settings), headers={"Accept": "application/json, */*"}
        )
        self._interval = 1.0 / settings.rate_limit if settings.rate_limit else 0.0
        self._next = 0.0  # when the next post may go (clock time)
        self._closed = False

    async def send(self, message: Message) -> str:
        envelopes = cards(message)
        count = len(envelopes)
        for number, body in enumerate(envelopes, 1):
            await self._pace()
            try:
                await request_json(
                    self._client,
                    "POST",
                    self._url,
                    retry=self._settings.retry,
                    sleep=self._runtime.sleep,
                    json_body=body,
                    what=f"teams channel {self._name}",
                    classify=self._classify,
                    expect_json=False,
                )
            except MeasureError as exc:
                said = self._scrub(str(exc))
                if count > 1:
                    said = f"card {number} of {count} ({number - 1} posted before it): {said}"
                exc.args = (said,)
                raise
        return f"posted {count} card{'' if count == 1 else 's'}"

    async def _pace(self) -> None:
        """Wait for this post's turn: ``rate_limit`` posts a second, split cards included."""
        if not self._interval:
            return
        now = self._clock()
        start = max(now, self._next)
        self._next = start + self._interval
        if start > now:
            await self._runtime.sleep(start - now)

    def _classify(self, response: httpx.Response, label: str) -> MeasureError | None:
        status = response.status_code
        if 200 <= status < 300:
            return None
        code, said = self._said(response)
        where = f"HTTP {status}{' ' + code if code else ''} from the workflow of Teams channel {self._name!r}"
        tail = f": {said}" if said else ""
        if status in (401, 403):
            return AuthError(
                f"{where}: the workflow URL's sig was refused: copy the URL again from the "
                f"workflow's trigger (Who can trigger the flow: Anyone){tail}"
            )
        if status == 404:
            return QueryError(
                f"{where}: the workflow was deleted or turned off: turn it on in Teams → "
                f"Workflows, or create it again and set url to its new URL{tail}"
            )
        if status == 413:
            return QueryError(f"{where}: the card is larger than Teams accepts (~28 KB){tail}")
        if status in (408, 425, 429) or status >= 500:
            return TransientError(f"{where}{tail}", retry_after=retry_after(response))
        if status < 400:
            return QueryError(f"{where}: redirects are not followed{tail}")
        return QueryError(f"{where}: the card was refused{tail}")

    def _said(self, response: httpx.Response) -> tuple[str, str]:
        """(code, message) of Power Automate's error body; or ("", a body excerpt)."""
        body = body_json(response)
        error = body.get("error") if isinstance(body, dict) else None
        if isinstance(error, dict):
            code, message = error.get("code"), error.get("message")
            code = self._scrub(excerpt(code, 60)) if isinstance(code, str) else ""
            message = message if isinstance(message, str) else ""
            return code, excerpt(self._scrub(message), 240)
        return "", excerpt(self._scrub(response.text), 240)

    def _scrub(self, text: str) -> str:
        return self._redactor.redact(REDACTOR.redact(text))

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_channel(name: str, settings: Any, runtime: Runtime) -> TeamsChannel:
    return TeamsChannel(name, settings, runtime)


PUBLISHER = PublisherType(
    type="teams",
    section="channels",
    settings_model=TeamsSettings,
    open=open_channel,
    doc="Microsoft Teams: digests and alerts as Adaptive Cards, through a Workflows webhook.",
)

__all__ = [
    "BUDGET",
    "LIMIT",
    "PUBLISHER",
    "TeamsChannel",
    "TeamsSettings",
    "cards",
    "check_workflow_url",
    "envelope",
    "escape",
    "item_text",
    "safe_url",
]
