"""A webhook receiver on 127.0.0.1 that verifies Standard Webhooks v1 signatures.

It checks exactly as the spec's reference library does
(github.com/standard-webhooks/standard-webhooks @b2fa7b8,
``libraries/python/standardwebhooks/webhooks.py``): the secret's ``whsec_``
prefix stripped and the rest base64-decoded; ``webhook-id``,
``webhook-timestamp`` and ``webhook-signature`` all present; the timestamp
within ``tolerance`` seconds (5 minutes) of its clock, else "Message timestamp
too old" / "too new"; each space-separated ``v1,<base64>`` signature compared
in constant time with HMAC-SHA256 of ``"{id}.{floor(timestamp)}.{body}"``, else
"No matching signature found". A refused delivery is answered 401
``{"error": <the library's message>}``; a verified one is recorded in
:attr:`WebhookReceiver.received` (with ``duplicate`` set when its id was seen
before, as a receiver deduping on ``webhook-id`` would) and answered 200
``{"status": "accepted", "id": …}``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_SECRET = "whsec_" + base64.b64encode(b"okrsync-demo-webhook-key-0123456").decode()
PATH = "/hooks/okr"
TOLERANCE = 300.0  # the reference libraries' five minutes


class VerificationError(Exception):
    """The reference library's ``WebhookVerificationError``."""


@dataclass(frozen=True)
class Delivery:
    """One verified delivery."""

    id: str
    timestamp: int
    payload: Any
    body: bytes
    headers: dict[str, str]
    duplicate: bool  # its webhook-id arrived before


def decode_secret(secret: str) -> bytes:
    """As ``Webhook.__init__``: strip ``whsec_``, base64-decode (padding added)."""
    core = secret[len("whsec_") :] if secret.startswith("whsec_") else secret
    key = base64.b64decode(core + "==")
    if not key:
        raise ValueError("webhook secret may not be empty")
    return key


def verify(
    key: bytes, body: bytes, headers: dict[str, str], now: float, tolerance: float = TOLERANCE
) -> None:
    """``Webhook.verify``; raises :class:`VerificationError` with the library's messages."""
    lower = {k.lower(): v for k, v in headers.items()}
    msg_id = lower.get("webhook-id")
    signature = lower.get("webhook-signature")
    stamp = lower.get("webhook-timestamp")
    if not (msg_id and stamp and signature):
        raise VerificationError("Missing required headers")
    try:
        when = float(stamp)
        if not math.isfinite(when):
            raise ValueError(stamp)
    except ValueError:
        raise VerificationError("Invalid Signature Headers") from None
    if when < now - tolerance:
        raise VerificationError("Message timestamp too old")
    if when > now + tolerance:
        raise VerificationError("Message timestamp too new")
    signed = f"{msg_id}.{math.floor(when)}.".encode() + body
    expected = hmac.new(key, signed, hashlib.sha256).digest()
    for versioned in signature.split(" "):
        version, _, value = versioned.partition(",")
        if version != "v1":
            continue
        try:
            given = base64.b64decode(value)
        except (binascii.Error, ValueError):
            continue
        if hmac.compare_digest(expected, given):
            return
    raise VerificationError("No matching signature found")


class WebhookReceiver(FakeServer):
    """POST ``PATH`` (``sim.url + PATH``), signed with ``DEMO_SECRET`` (or ``secret``)."""

    def __init__(
        self,
        secret: str = DEMO_SECRET,
        *,
        path: str = PATH,
        tolerance: float = TOLERANCE,
        clock: Callable[[], float] = time.time,
        latency: float = 0.0,
    ) -> None:
        super().__init__(latency=latency)
        self.key = decode_secret(secret)
        self.path, self.tolerance, self.clock = path, tolerance, clock
        self.received: list[Delivery] = []
        self.refused: list[str] = []  # the verification errors, in order
        self._seen: set[str] = set()
        self._state = threading.Lock()
        self.route("POST", path, self._deliver)

    @property
    def endpoint(self) -> str:
        return self.url + self.path

    def _deliver(self, request: Request) -> Response:
        try:
            verify(self.key, request.body, request.headers, self.clock(), self.tolerance)
        except VerificationError as exc:
            with self._state:
                self.refused.append(str(exc))
            return Response.json({"error": str(exc)}, 401)
        try:
            data = json.loads(request.body)
        except ValueError:
            return Response.json({"error": "the body is not JSON"}, 400)
        msg_id = request.headers["webhook-id"]
        with self._state:
            duplicate = msg_id in self._seen
            self._seen.add(msg_id)
            self.received.append(
                Delivery(
                    msg_id,
                    math.floor(float(request.headers["webhook-timestamp"])),
                    data,
                    request.body,
                    dict(request.headers),
                    duplicate,
                )
            )
        return Response.json({"status": "accepted", "id": msg_id})


__all__ = [
    "DEMO_SECRET",
    "PATH",
    "TOLERANCE",
    "Delivery",
    "VerificationError",
    "WebhookReceiver",
    "decode_secret",
    "verify",
]
