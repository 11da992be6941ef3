"""Vendor quotas as connectors declare and observe them (SPEC §8).

A connector names its vendor's documented limits as :class:`Window` s (60
requests an hour, 200,000 tokens a day), says what one query costs in them
(``Connector.cost``), and reports what the vendor says of its own figures as
answers come back: :class:`LiveQuota` holds those observations (Salesforce's
``Sforce-Limit-Info``, ``X-RateLimit-*`` headers, GA4's ``propertyQuota``, a
429's ``Retry-After``). The scheduler (:mod:`okrsync.sync.budget`) spends the
budget; nothing here decides anything.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from okrsync.sdk.retry import parse_retry_after

Unit = Literal["requests", "tokens", "cost"]
Cost = Mapping[str, float]  # unit → how much of it one query spends
ONE_REQUEST: Cost = {"requests": 1.0}

MINUTE, HOUR, DAY = 60.0, 3600.0, 86400.0
LIVE_MARGIN = 0.02  # of a vendor's own limit, never spent: requests in flight, other callers
_LENGTHS = {"per_second": 1.0, "per_minute": MINUTE, "per_hour": HOUR, "per_day": DAY}


@dataclass(frozen=True)
class Window:
    """At most ``limit`` units in any ``seconds``; ``source`` says where the figure comes from."""

    limit: float
    seconds: float
    unit: Unit = "requests"
    source: str = ""

    def describe(self) -> str:
        """``60 requests an hour``, ``200,000 tokens a day``, ``10 requests a second``."""
        return f"{self.limit:,.0f} {self.unit} {span(self.seconds)}"


def span(seconds: float) -> str:
    named = {1.0: "a second", MINUTE: "a minute", HOUR: "an hour", DAY: "a day"}
    if seconds in named:
        return named[seconds]
    return f"per {seconds:g} s"


class QuotaSettings(BaseModel):
    """``quota:`` in connections.yaml: this connection's part of the vendor's allowance.

    ``per_*`` replace the built-in window of that length (the org's real
    allowance, or a lower one), in that window's unit (GA4's are tokens);
    ``share`` takes a fraction of every window, so a team spends only its part
    of an org-wide allowance. Connections naming the same ``pool`` spend one
    budget (two connections to one Salesforce org).
    """

    model_config = ConfigDict(extra="forbid")

    enabled: bool = Field(default=True, description="false: no budget, only rate_limit applies.")
    share: float = Field(default=1.0, gt=0, le=1, description="Fraction of the allowance to use.")
    pool: str | None = Field(default=None, description="Budget shared with same-pool connections.")
    per_second: PositiveFloat | None = Field(default=None, description="Units a second.")
    per_minute: PositiveFloat | None = Field(default=None, description="Units a minute.")
    per_hour: PositiveFloat | None = Field(default=None, description="Units an hour.")
    per_day: PositiveFloat | None = Field(default=None, description="Units a day.")

    def windows(self, defaults: tuple[Window, ...]) -> tuple[Window, ...]:
        """The defaults with ``per_*`` replacing same-length ones, each scaled by ``share``."""
        out = {(w.seconds, w.unit): w for w in defaults}
        for name, seconds in _LENGTHS.items():
            limit = getattr(self, name)
            if limit is None:
                continue
            unit: Unit = next((w.unit for w in defaults if w.seconds == seconds), "requests")
            out[(seconds, unit)] = Window(limit, seconds, unit, f"quota.{name}")
        windows = sorted(out.values(), key=lambda w: (w.seconds, w.unit))
        if self.share == 1.0:
            return tuple(windows)
        return tuple(  # never below one: a share of 1 an hour is still 1 an hour
            Window(
                max(1.0, w.limit * self.share), w.seconds, w.unit,
                f"{w.source}, share {self.share:g}",
            )
            for w in windows
        )  # fmt: skip


def quota_of(settings: Any) -> QuotaSettings:
    """A connection's ``quota:``, also where the loader only constructed its settings (a secret
    not set, ``secrets="skip"``): there it is still the file's plain mapping."""
    given = getattr(settings, "quota", None)
    if isinstance(given, QuotaSettings):
        return given
    if isinstance(given, Mapping):
        return QuotaSettings.model_validate(dict(given))
    return QuotaSettings()


@dataclass(frozen=True)
class Observation:
    """What the vendor said of one of its windows: ``remaining`` of ``limit`` at ``at``."""

    seconds: float  # the window's length; 0 when the vendor names only its reset
    limit: float
    remaining: float
    unit: Unit = "requests"
    at: float = 0.0  # epoch seconds
    reset_at: float | None = None  # the window refills then (fixed windows)
    source: str = ""  # the header or field, as people read it

    @property
    def margin(self) -> float:
        """Never spent of the vendor's last figure: requests in flight, other callers."""
        return max(1.0, math.ceil(self.limit * LIVE_MARGIN))

    def available(self, now: float) -> float:
        """What is left now: after its reset all of it, else recovering at the window's rate."""
        if self.reset_at is not None:
            return self.limit if now >= self.reset_at else self.remaining
        if self.seconds <= 0:  # no window and no reset said: good for a minute, not for ever
            return self.remaining if now - self.at < MINUTE else self.limit
        recovered = max(0.0, now - self.at) * self.limit / self.seconds
        return min(self.limit, self.remaining + recovered)


@dataclass(frozen=True)
class Spent:
    """A pool's budget state: units used per (seconds, unit) window by every process, the
    vendor's last figures, and a wait it asked for (until, why)."""

    used: Mapping[tuple[float, str], float] = field(default_factory=dict)
    live: Sequence[Observation] = ()
    blocked: tuple[float, str] | None = None
    pace: Mapping[str, float] = field(default_factory=dict)  # unit → its pacing's time (paced)


Pacing = Mapping[str, tuple[float, float]]  # unit → (units a second, credit's span in seconds)


def credit(tat: float, now: float, rate: float, span: float) -> float:
    """Units a pacing allows now: what ``rate`` earned since ``tat``, at most ``span``'s worth.

    ``tat`` is the pacing's time: every unit taken moves it 1/rate on (GCRA's
    theoretical arrival time). Earned credit, not a window: at a 15-minute
    schedule a 22-minute pace still spends its 15 minutes' worth every run.
    """
    return rate * (now - max(tat, now - span))


def paced(tat: float, now: float, rate: float, span: float, taken: float) -> float:
    """The pacing's time after taking ``taken`` units now."""
    return max(tat, now - span) + taken / rate


def advanced(
    tats: Mapping[str, float], now: float, taken: Mapping[str, float], pacing: Pacing
) -> dict[str, float]:
    """Each paced unit's time after a reservation took ``taken`` (what the ledgers keep)."""
    return {
        unit: paced(tats.get(unit, 0.0), now, rate, span, taken.get(unit, 0.0))
        for unit, (rate, span) in pacing.items()
    }


class LiveQuota:
    """A connection's latest observations of its vendor's limits; thread-safe.

    Connectors ``observe`` as answers arrive (from an httpx event, a requests
    hook, a response body); the engine reads ``room`` before each request and
    stores the observations after the run, so the next run and other
    processes start from what the vendor last said.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[float, str], Observation] = {}
        self._since: dict[tuple[float, str], float] = {}  # units sent after each observation
        self._blocked: tuple[float, str] | None = None

    def observe(self, *observations: Observation) -> None:
        with self._lock:
            for o in observations:
                self._seen[(o.seconds, o.unit)] = o
                self._since[(o.seconds, o.unit)] = 0.0

    def sent(self, cost: Mapping[str, float]) -> None:
        """The engine is sending ``cost``: what the last figures said is left shrinks by it."""
        with self._lock:
            for key in self._since:
                self._since[key] += cost.get(key[1], 0.0)

    def block(self, until: float, why: str) -> None:
        """The vendor said to wait (a 429's ``Retry-After``): nothing is sent before ``until``."""
        with self._lock:
            if self._blocked is None or until > self._blocked[0]:
                self._blocked = (until, why)

    def observations(self) -> list[Observation]:
        """The last figures, each less what was sent after it (answers to it may be in flight)."""
        with self._lock:
            return [
                replace(o, remaining=max(0.0, o.remaining - self._since.get(key, 0.0)))
                for key, o in self._seen.items()
            ]

    def blocked(self, now: float | None = None) -> tuple[float, str] | None:
        with self._lock:
            block = self._blocked
        now = time.time() if now is None else now
        return block if block is not None and block[0] > now else None

    def headers(self, headers: Mapping[str, str], status: int, now: float | None = None) -> None:
        """Take what standard rate-limit headers say (any vendor), and a 429's Retry-After."""
        now = time.time() if now is None else now
        self.observe(*rate_limit_headers(headers, now))
        if status == 429:
            wait = parse_retry_after(headers.get("Retry-After"), now)
            if wait is not None:
                self.block(now + wait, f"HTTP 429 with Retry-After: {wait:g}")


_POLICY = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*;\s*w=(\d+(?:\.\d+)?)")


def rate_limit_headers(headers: Mapping[str, str], now: float) -> list[Observation]:
    """``X-RateLimit-*`` (Jira Cloud and Data Center, GitHub-style) or IETF ``RateLimit-*``.

    ``Limit`` and ``Remaining`` are required; the window is
    ``X-RateLimit-Interval-Seconds`` (Jira Data Center) or ``RateLimit-Policy``'s
    ``w=``; ``Reset`` is an epoch time, an ISO 8601 instant (Jira Cloud) or,
    when small, seconds from now.
    """
    for prefix in ("X-RateLimit-", "RateLimit-"):
        limit = _number(headers.get(prefix + "Limit"))
        remaining = _number(headers.get(prefix + "Remaining"))
        if limit is None or remaining is None or limit <= 0:
            continue
        seconds = _number(headers.get(prefix + "Interval-Seconds")) or 0.0
        policy = _POLICY.match(headers.get("RateLimit-Policy", ""))
        if not seconds and policy:
            seconds = float(policy.group(2))
        reset = _reset(headers.get(prefix + "Reset"), now)
        shown = f"{prefix}Remaining: {remaining:g} of {prefix}Limit: {limit:g}"
        return [Observation(seconds, limit, max(0.0, remaining), "requests", now, reset, shown)]
    return []


def api_usage(used: int, total: int, now: float) -> Observation | None:
    """Salesforce's ``Sforce-Limit-Info: api-usage=USED/MAX``, as simple-salesforce parses
    it into ``api_usage``: the org's calls in its rolling 24 hours, every team's together."""
    if total <= 0:
        return None
    shown = f"Sforce-Limit-Info: api-usage={used}/{total}"
    return Observation(DAY, total, max(0, total - used), "requests", now, None, shown)


_GA4_WINDOWS = {
    "tokensPerDay": DAY,
    "tokensPerHour": HOUR,
    "tokensPerProjectPerHour": HOUR,
}


def ga4_property_quota(
    quota: Any, now: float, limits: Mapping[str, float]
) -> tuple[list[Observation], float]:
    """GA4's ``propertyQuota`` (``returnPropertyQuota: true``): its token windows, and the
    tokens this request consumed (``consumed`` is this request's, ``remaining`` what is left).

    GA4 says no window's size; ``limits`` are the documented ones by field name, raised
    when more is left than they allow (an Analytics 360 property has ten times as many).
    """
    if not isinstance(quota, dict):
        return [], 0.0
    observations: list[Observation] = []
    consumed = 0.0
    for name, seconds in _GA4_WINDOWS.items():
        status = quota.get(name)
        if not isinstance(status, dict):
            continue
        used = _number(str(status.get("consumed", 0))) or 0.0
        left = _number(str(status.get("remaining", "")))
        if left is None:
            continue
        consumed = max(consumed, used)
        shown = f"GA4 propertyQuota.{name}: {left:,.0f} tokens remaining"
        limit = max(limits.get(name, 0.0), left + used)
        observations.append(Observation(seconds, limit, left, "tokens", now, None, shown))
    # tokensPerHour (the property's, every project) and tokensPerProjectPerHour share a
    # length: okrsync's hour window is its project's bucket, so that one is kept.
    kept: dict[float, Observation] = {}
    for o in observations:
        if o.seconds not in kept or "PerProject" in o.source:
            kept[o.seconds] = o
    return list(kept.values()), consumed


def _number(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        number = float(value.strip())
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _reset(value: str | None, now: float) -> float | None:
    if value is None or not value.strip():
        return None
    number = _number(value)
    if number is not None:
        return now + number if number < 10**8 else number  # seconds from now, or epoch
    try:
        when = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return when.timestamp() if when.tzinfo is not None else None


__all__ = [
    "DAY",
    "HOUR",
    "MINUTE",
    "ONE_REQUEST",
    "Cost",
    "LiveQuota",
    "Observation",
    "Pacing",
    "QuotaSettings",
    "Spent",
    "Unit",
    "Window",
    "advanced",
    "api_usage",
    "credit",
    "ga4_property_quota",
    "paced",
    "quota_of",
    "rate_limit_headers",
]
