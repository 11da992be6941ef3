"""``type: webhook`` channel: each digest and alert as a signed JSON POST (Standard Webhooks v1).

    POST {url}
    webhook-id: msg_<hash of channel and message key>   (the same on every attempt)
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

    {"type": "okrsync.digest" | "okrsync.alert", "timestamp": "…Z", "data": <the message>}

``data`` is the message as JSON: kind, key, title, summary, sections of items
(text, detail, status, link), the dashboard link, and its facts (``data``). 2xx
is success; 410 Gone is a query error (remove the channel); 408/425/429/5xx
are retried honouring ``Retry-After``; 401/403 say to check the secret.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from okrsync.errors import MeasureError, excerpt
from okrsync.sdk.connector import Runtime
from okrsync.sdk.http import request_json
from okrsync.sdk.messages import Message
from okrsync.sdk.publisher import ChannelSettings, PublisherType
from okrsync.sdk.redaction import REDACTOR
from okrsync.sdk.standard_webhooks import (
    SignedEndpoint,
    classify,
    signed_client,
)

EVENT_TYPES = {"digest": "okrsync.digest", "alert": "okrsync.alert"}


class WebhookChannelSettings(SignedEndpoint, ChannelSettings):
    type: Literal["webhook"]


def message_id(channel: str, message: Message) -> str:
    """The same for every attempt of one message to one channel: the receiver's dedupe key."""
    return "msg_" + hashlib.sha256(f"{channel}\x1f{message.key}".encode()).hexdigest()[:32]


def payload(message: Message, now: datetime) -> dict[str, Any]:
    stamp = now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"type": EVENT_TYPES[message.kind], "timestamp": stamp, "data": message.to_json()}


class WebhookChannel:
    def __init__(
        self,
        name: str,
        settings: WebhookChannelSettings,
        runtime: Runtime,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._name, self._settings, self._runtime, self._clock = name, settings, runtime, clock
        self._client, self._redactor = signed_client(
            settings, settings.secret, settings.headers, clock
        )
        self._closed = False

    async def send(self, message: Message) -> str:
        msg_id = message_id(self._name, message)
        now = datetime.fromtimestamp(self._clock(), UTC)
        _, raw = await request_json(
            self._client,
            "POST",
            self._settings.url,
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body=payload(message, now),
            headers={"webhook-id": msg_id},
            what=f"webhook channel {self._name}",
            classify=self._classify,
            expect_json=False,
        )
        answer = self._scrub(excerpt(raw, 160))
        return f"{msg_id} accepted" + (f": {answer}" if answer else "")

    def _classify(self, response: httpx.Response, label: str) -> MeasureError | None:
        stop = f"remove channel {self._name!r}, or point url at its new address"
        return classify(response, label, self._scrub, "message", stop)

    def _scrub(self, text: str) -> str:
        return self._redactor.redact(REDACTOR.redact(text))

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_channel(name: str, settings: Any, runtime: Runtime) -> WebhookChannel:
    return WebhookChannel(name, settings, runtime)


PUBLISHER = PublisherType(
    type="webhook",
    section="channels",
    settings_model=WebhookChannelSettings,
    open=open_channel,
    doc="Any URL: each digest and alert as JSON, signed the Standard Webhooks way.",
)

__all__ = ["PUBLISHER", "WebhookChannel", "WebhookChannelSettings", "message_id", "payload"]
