"""``type: webhook``: each pushed value as a signed JSON POST to any URL (Standard Webhooks v1).

One request per value::

    POST {url}
    webhook-id: msg_<hash of key result, item, value, measured_at>
    webhook-timestamp: <unix seconds of this attempt>
    webhook-signature: v1,<base64 HMAC-SHA256(key, "{id}.{timestamp}.{body}")>

    {"type":"key_result.value","timestamp":"<measured_at>","data":{"key_result":…}}

Following github.com/standard-webhooks/standard-webhooks @b2fa7b8
(``spec/standard-webhooks.md``, ``libraries/python``): the key is the base64
after ``whsec_`` (24 to 64 random bytes); the signature covers the exact bytes
sent, so it is computed in an :class:`httpx.Auth` flow, on the built request,
at every attempt (a retry carries a fresh timestamp and the same id, which the
receiver uses as its idempotency key). 2xx is success; 410 Gone means the
receiver wants no more (a query error saying to remove it); 429, 502, 503, 504
and other 5xx are retried, honouring ``Retry-After``; redirects are not followed.
"""

from __future__ import annotations

import hashlib
import math
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Literal

import httpx

from okrsync.errors import MeasureError, QueryError, excerpt
from okrsync.sdk.connector import Runtime
from okrsync.sdk.http import request_json
from okrsync.sdk.publisher import DestinationSettings, PublisherType, PushItem
from okrsync.sdk.redaction import REDACTOR
from okrsync.sdk.standard_webhooks import (
    SignedEndpoint,
    Signer,
    classify,
    sign,
    signed_client,
    signing_key,
)

EVENT_TYPE = "key_result.value"


def message_id(item: PushItem) -> str:
    """The same for every attempt of one value of one item, so the receiver can dedupe."""
    when = _iso(item.measured_at)
    key = "\x1f".join((item.kr_id, item.item, repr(float(item.value)), when))
    return "msg_" + hashlib.sha256(key.encode()).hexdigest()[:32]


def payload(item: PushItem) -> dict[str, Any]:
    """The body: ``{type, timestamp, data}`` as the spec recommends."""
    when = _iso(item.measured_at)
    return {
        "type": EVENT_TYPE,
        "timestamp": when,
        "data": {
            "key_result": item.kr_id,
            "item": item.item,
            "value": item.value,
            "unit": item.unit,
            "measured_at": when,
            "progress": _finite(item.progress),
            "start": _finite(item.start),
            "target": _finite(item.target),
            "title": item.title,
            "comment": item.comment,
            "run_id": item.run_id,
        },
    }


def _iso(moment: datetime) -> str:
    aware = moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)
    return aware.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _finite(value: float | None) -> float | None:
    return value if value is not None and math.isfinite(value) else None


class WebhookSettings(SignedEndpoint, DestinationSettings):
    type: Literal["webhook"]


class WebhookDestination:
    dated = False

    def __init__(
        self,
        name: str,
        settings: WebhookSettings,
        runtime: Runtime,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._name, self._settings, self._runtime = name, settings, runtime
        self._closed = False
        self._client, self._redactor = signed_client(
            settings, settings.secret, settings.headers, clock
        )

    async def push(self, item: PushItem) -> str:
        if not math.isfinite(item.value):
            raise QueryError(f"{item.kr_id} has no finite value ({item.value}) to send")
        msg_id = message_id(item)
        _, raw = await request_json(
            self._client,
            "POST",
            self._settings.url,  # absolute: a base_url would gain a trailing slash
            retry=self._settings.retry,
            sleep=self._runtime.sleep,
            json_body=payload(item),
            headers={"webhook-id": msg_id},
            what="webhook push",
            classify=self._classify,
            expect_json=False,
        )
        answer = self._scrub(excerpt(raw, 160))
        return f"{msg_id} accepted" + (f": {answer}" if answer else "")

    def _classify(self, response: httpx.Response, label: str) -> MeasureError | None:
        stop = "remove it from destinations, or point url at its new address"
        return classify(response, label, self._scrub, "delivery", stop)

    def _scrub(self, text: str) -> str:
        return self._redactor.redact(REDACTOR.redact(text))

    async def aclose(self) -> None:
        if not self._closed:
            self._closed = True
            await self._client.aclose()


def open_destination(name: str, settings: Any, runtime: Runtime) -> WebhookDestination:
    return WebhookDestination(name, settings, runtime)


PUBLISHER = PublisherType(
    type="webhook",
    section="destinations",
    settings_model=WebhookSettings,
    open=open_destination,
    doc="Any URL: a JSON POST per value, signed the Standard Webhooks way.",
)

__all__ = [
    "EVENT_TYPE",
    "PUBLISHER",
    "Signer",
    "WebhookDestination",
    "WebhookSettings",
    "message_id",
    "payload",
    "sign",
    "signing_key",
]
