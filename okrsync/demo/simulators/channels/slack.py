"""A Slack incoming webhook on 127.0.0.1: ``POST /services/{T…}/{B…}/{secret}``.

It knows one webhook (``path``, by default the published ``DEMO_PATH``) and
answers as Slack does, in plain text: ``ok`` (200) for a message it accepts;
404 ``no_service`` for any other path; 410 ``channel_is_archived`` once
``archived`` is set; 400 ``invalid_payload`` for a body that is not a JSON
object, ``no_text`` for one with neither ``text`` nor ``blocks``,
``invalid_blocks_format`` when ``blocks`` is not a list of objects and
``invalid_blocks`` when a block breaks Block Kit's documented limits: at most 50
blocks; the types section, header, context and divider with only their own
fields; a section's text (mrkdwn or plain_text) 1-3000 characters and at most 10
``fields`` of 2000; a header's plain_text 1-150; a context's 1-10 text or image
elements; a ``block_id`` of at most 255. ``invalid_blocks`` responses say which
rule broke in ``refusals`` (Slack itself says only the word). With
``rate_limit`` (messages per second, a bucket of ``burst``) an excess message
is 429 with ``Retry-After`` in whole seconds.

``received`` lists every accepted message (text, blocks), in order.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_PATH = "/services/T0KRSYNC01/B0KRSYNC01/okrsyncdemo0000000000000"  # published: only here
MAX_BLOCKS = 50
SECTION_TEXT_LIMIT = 3000
FIELD_LIMIT, MAX_FIELDS = 2000, 10
HEADER_LIMIT = 150
MAX_CONTEXT_ELEMENTS = 10
BLOCK_ID_LIMIT = 255
_TEXT_TYPES = ("mrkdwn", "plain_text")
_KEYS = {
    "section": {"type", "block_id", "text", "fields", "accessory", "expand"},
    "header": {"type", "block_id", "text"},
    "context": {"type", "block_id", "elements"},
    "divider": {"type", "block_id"},
}


@dataclass(frozen=True)
class Received:
    """One accepted message, as posted."""

    text: str | None
    blocks: list[dict[str, Any]]
    time: float = field(default_factory=time.monotonic)


class Refused(Exception):
    """A block broke a rule: Slack's word, and the rule for ``refusals``."""

    def __init__(self, word: str, why: str) -> None:
        super().__init__(why)
        self.word = word


def _text(status: int, word: str, headers: Mapping[str, str] | None = None) -> Response:
    head = {"Content-Type": "text/plain; charset=utf-8", **(headers or {})}
    return Response(status, word.encode(), head)


class SlackWebhookSimulator(FakeServer):
    """One incoming webhook at ``path``; ``endpoint`` is its full URL."""

    def __init__(
        self,
        *,
        path: str = DEMO_PATH,
        rate_limit: float | None = None,
        burst: int = 1,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(latency=latency)
        self.path, self.rate_limit, self.burst, self.clock = path, rate_limit, burst, clock
        self.archived = False
        self.received: list[Received] = []
        self.refusals: list[str] = []  # why each invalid_blocks was answered
        self._tokens = float(burst)
        self._refilled = clock()
        self._state = threading.Lock()
        self.route("POST", r"/.*", self._post)

    @property
    def endpoint(self) -> str:
        return self.url + self.path

    def _post(self, request: Request) -> Response:
        if not hmac.compare_digest(request.path.encode(), self.path.encode()):
            return _text(404, "no_service")
        if self.archived:
            return _text(410, "channel_is_archived")
        throttled = self._throttle()
        if throttled is not None:
            return throttled
        try:
            data = json.loads(request.body)
        except ValueError:
            return _text(400, "invalid_payload")
        if not isinstance(data, dict):
            return _text(400, "invalid_payload")
        text, blocks = data.get("text"), data.get("blocks")
        if text is not None and not isinstance(text, str):
            return _text(400, "invalid_payload")
        if not text and not blocks:
            return _text(400, "no_text")
        try:
            checked = check_blocks(blocks if blocks is not None else [])
        except Refused as exc:
            with self._state:
                self.refusals.append(str(exc))
            return _text(400, exc.word)
        with self._state:
            self.received.append(Received(text, checked))
        return _text(200, "ok")

    def _throttle(self) -> Response | None:
        if self.rate_limit is None:
            return None
        with self._state:
            now = self.clock()
            self._tokens = min(self.burst, self._tokens + (now - self._refilled) * self.rate_limit)
            self._refilled = now
            if self._tokens >= 1:
                self._tokens -= 1
                return None
            wait = max(1, math.ceil((1 - self._tokens) / self.rate_limit))
        return _text(429, "rate_limited", {"Retry-After": str(wait)})


def check_blocks(blocks: Any) -> list[dict[str, Any]]:
    """``blocks`` as Block Kit takes them in a message, or :class:`Refused`."""
    if not isinstance(blocks, list) or not all(isinstance(b, dict) for b in blocks):
        raise Refused("invalid_blocks_format", "blocks must be a list of objects")
    if len(blocks) > MAX_BLOCKS:
        raise Refused("invalid_blocks", f"{len(blocks)} blocks, more than {MAX_BLOCKS}")
    for i, block in enumerate(blocks):
        _check_block(f"blocks[{i}]", block)
    return blocks


def _check_block(where: str, block: dict[str, Any]) -> None:
    kind = block.get("type")
    if kind not in _KEYS:
        raise Refused("invalid_blocks", f"{where}: unknown block type {kind!r}")
    extra = set(block) - _KEYS[kind]
    if extra:
        raise Refused("invalid_blocks", f"{where}: {kind} takes no {sorted(extra)}")
    block_id = block.get("block_id")
    if block_id is not None and (not isinstance(block_id, str) or len(block_id) > BLOCK_ID_LIMIT):
        raise Refused("invalid_blocks", f"{where}.block_id: a string of at most {BLOCK_ID_LIMIT}")
    if kind == "header":
        _check_text(f"{where}.text", block.get("text"), HEADER_LIMIT, ("plain_text",))
    elif kind == "section":
        fields = block.get("fields")
        if "text" in block or fields is None:
            _check_text(f"{where}.text", block.get("text"), SECTION_TEXT_LIMIT, _TEXT_TYPES)
        if fields is not None:
            if not isinstance(fields, list) or not 1 <= len(fields) <= MAX_FIELDS:
                raise Refused("invalid_blocks", f"{where}.fields: 1 to {MAX_FIELDS} text objects")
            for j, one in enumerate(fields):
                _check_text(f"{where}.fields[{j}]", one, FIELD_LIMIT, _TEXT_TYPES)
    elif kind == "context":
        elements = block.get("elements")
        if not isinstance(elements, list) or not 1 <= len(elements) <= MAX_CONTEXT_ELEMENTS:
            raise Refused(
                "invalid_blocks", f"{where}.elements: 1 to {MAX_CONTEXT_ELEMENTS} elements"
            )
        for j, element in enumerate(elements):
            if isinstance(element, dict) and element.get("type") == "image":
                if not (isinstance(element.get("image_url"), str) and "alt_text" in element):
                    raise Refused("invalid_blocks", f"{where}.elements[{j}]: image_url, alt_text")
            else:
                _check_text(f"{where}.elements[{j}]", element, SECTION_TEXT_LIMIT, _TEXT_TYPES)


def _check_text(where: str, obj: Any, limit: int, types: tuple[str, ...]) -> None:
    """A text object: ``{"type": mrkdwn|plain_text, "text": 1..limit chars}``."""
    if not isinstance(obj, dict) or obj.get("type") not in types:
        raise Refused("invalid_blocks", f"{where}: a text object of type {' or '.join(types)}")
    allowed = {"type", "text", "emoji" if obj["type"] == "plain_text" else "verbatim"}
    if set(obj) - allowed:
        raise Refused("invalid_blocks", f"{where}: takes no {sorted(set(obj) - allowed)}")
    text = obj.get("text")
    if not isinstance(text, str) or not 1 <= len(text) <= limit:
        size = len(text) if isinstance(text, str) else "no"
        raise Refused("invalid_blocks", f"{where}.text: {size} characters, not 1 to {limit}")


__all__ = [
    "BLOCK_ID_LIMIT",
    "DEMO_PATH",
    "HEADER_LIMIT",
    "MAX_BLOCKS",
    "MAX_CONTEXT_ELEMENTS",
    "SECTION_TEXT_LIMIT",
    "Received",
    "Refused",
    "SlackWebhookSimulator",
    "check_blocks",
]
