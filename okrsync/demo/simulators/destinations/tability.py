"""Tability's Check-ins API on 127.0.0.1: ``POST /webhooks/checkins?remote_checkins_token=…``.

As guides.tability.app ("Using the Check-ins API") shows it: the outcome is named by its
remote check-ins token in the query, the user by ``personal_api_token`` in the JSON
body, with ``score`` (a number written as a string, as in the guide's ``"25000"``),
``body`` (the comment) and an optional ``confidence`` (``green``, ``yellow``,
``red``). Without one, the confidence is derived as the guide says: green when the
progress is above 70 % of the projected growth, yellow from 50 %, red below
(``Outcome.expected`` is the projection's share of the way, here a fixed number).

Checked in this order: the query token present (400), the JSON body (400), the personal
API token (401), the rate limit (429 with ``Retry-After`` in whole seconds, when
``rate_limit`` is set), the outcome (404 when the token is unknown or its Check-ins API
is off), the workspace's plan (403: the feature is on Plus and Premium), the fields
(422: ``score`` missing or not a number, ``confidence`` not one of the three, ``body``
not text). Success answers 200 with the check-in, shaped as the v2 API lists
check-ins (``{id, outcome_id, checkin_date, score, confidence, body, is_remote, …}``).

**Assumed** (Tability documents neither): the answer, the statuses and the error body
``{"error": …}``.

``received`` lists every accepted check-in; :meth:`TabilitySimulator.score` reads an
outcome's latest score back.
"""

from __future__ import annotations

import hmac
import json
import math
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from okrsync.demo.simulators.server import FakeServer, Request, Response

DEMO_TOKEN = "tbl-okrsync-demo-personal-0000000000000000"  # noqa: S105 - published, accepted only here
DEMO_OUTCOME_TOKEN = "Rc7kQ2mXoKrSyNcD"  # noqa: S105 - published, accepted only here
CONFIDENCES = ("green", "yellow", "red")


@dataclass
class Outcome:
    """An outcome with its remote check-ins token; ``expected``: the projected progress now."""

    token: str
    title: str
    start: float = 0.0
    target: float = 100.0
    expected: float = 0.5
    score: float | None = None
    remote_enabled: bool = True
    plan_allows: bool = True  # the workspace is on Tability Plus or Premium
    id: str = field(default_factory=lambda: str(uuid.uuid4()))

    def derived_confidence(self, score: float) -> str:
        span = self.target - self.start
        progress = (score - self.start) / span if span else 1.0
        ratio = progress / self.expected if self.expected > 0 else 1.0
        return "green" if ratio > 0.7 else "yellow" if ratio >= 0.5 else "red"


@dataclass(frozen=True)
class Received:
    """One accepted check-in, as sent."""

    outcome_token: str
    score: str  # as sent: Tability's example sends a string
    body: str | None
    confidence: str | None  # as sent; None: derived
    stored_confidence: str
    keys: tuple[str, ...]
    time: float = field(default_factory=time.monotonic)


def _error(status: int, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return Response.json({"error": message}, status, headers)


class TabilitySimulator(FakeServer):
    """One user (``personal_api_token``) and the outcomes of their workspace."""

    def __init__(
        self,
        *,
        personal_api_token: str = DEMO_TOKEN,
        rate_limit: float | None = None,
        burst: int = 1,
        latency: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__(latency=latency)
        self.personal_api_token = personal_api_token
        self.rate_limit, self.burst, self.clock = rate_limit, burst, clock
        self.outcomes: dict[str, Outcome] = {}
        self.received: list[Received] = []
        self._tokens = float(burst)
        self._refilled = clock()
        self._state = threading.Lock()
        self.add_outcome(DEMO_OUTCOME_TOKEN, "Reach 120 qualified opportunities", target=120)
        self.route("POST", r"/webhooks/checkins", self._checkin)

    def add_outcome(self, token: str, title: str = "An outcome", **kw: Any) -> Outcome:
        outcome = Outcome(token, title, **kw)
        self.outcomes[token] = outcome
        return outcome

    def score(self, token: str) -> float | None:
        return self.outcomes[token].score

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
        return _error(429, "Too many requests, please retry later.", {"Retry-After": str(wait)})

    # -- POST /webhooks/checkins ---------------------------------------------

    def _checkin(self, request: Request) -> Response:
        token = request.query.get("remote_checkins_token")
        if not token:
            return _error(400, "Missing remote_checkins_token")
        try:
            data = json.loads(request.body or b"null")
        except ValueError:
            return _error(400, "Invalid JSON payload")
        if not isinstance(data, dict):
            return _error(400, "Invalid JSON payload")
        given = data.get("personal_api_token")
        if not isinstance(given, str) or not hmac.compare_digest(
            given.encode(), self.personal_api_token.encode()
        ):
            return _error(401, "Invalid personal API token")
        limited = self._throttle()
        if limited is not None:
            return limited
        outcome = self.outcomes.get(token)
        if outcome is None or not outcome.remote_enabled:
            return _error(404, "Outcome not found or remote check-ins are disabled")
        if not outcome.plan_allows:
            return _error(403, "The Check-ins API is available on Tability Plus and Premium")
        raw = data.get("score")
        score = _number(raw)
        if score is None:
            return _error(422, f"score must be a number, got {json.dumps(raw)[:40]}")
        confidence = data.get("confidence")
        if confidence is not None and confidence not in CONFIDENCES:
            return _error(422, "confidence must be one of green, yellow, red")
        text = data.get("body")
        if text is not None and not isinstance(text, str):
            return _error(422, "body must be a string")
        stored = confidence or outcome.derived_confidence(score)
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
        with self._state:
            outcome.score = score
            self.received.append(Received(token, str(raw), text, confidence, stored, tuple(data)))
        return Response.json(
            {
                "id": str(uuid.uuid4()),
                "outcome_id": outcome.id,
                "checkin_date": now[:10] + "T00:00:00.000Z",
                "score": score,
                "confidence": stored,
                "body": text or "",
                "is_remote": True,
                "created_at": now,
                "updated_at": now,
            }
        )


def _number(raw: Any) -> float | None:
    if isinstance(raw, bool) or not isinstance(raw, str | int | float):
        return None
    try:
        number = float(raw)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


__all__ = [
    "CONFIDENCES",
    "DEMO_OUTCOME_TOKEN",
    "DEMO_TOKEN",
    "Outcome",
    "Received",
    "TabilitySimulator",
]
