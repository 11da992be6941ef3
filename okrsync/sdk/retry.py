"""The one retry policy every connector uses (tenacity).

Retried: :class:`~okrsync.errors.TransientError` only (connectors raise it for
timeouts, connection errors, 429 and 5xx). Stops after ``attempts`` tries or
``max_time`` seconds, whichever comes first; waits exponentially with jitter,
or what the server asked for in ``Retry-After`` (capped by ``max_wait``, and
never past ``max_time``). The last error is re-raised unchanged.
"""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import TypeVar

import structlog
from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception_type, stop_after_attempt
from tenacity.stop import stop_base

from okrsync.errors import MeasureError, TransientError

T = TypeVar("T")
log = structlog.get_logger("okrsync.sdk.retry")


class RetryConfig(BaseModel):
    """Per-connection retry budget (``retry:`` in connections.yaml)."""

    model_config = ConfigDict(extra="forbid")

    attempts: PositiveInt = Field(default=4, description="Tries in all, the first included.")
    max_time: PositiveFloat = Field(default=60.0, description="Seconds for all tries together.")
    initial_wait: PositiveFloat = Field(default=0.5, description="First backoff, seconds.")
    max_wait: PositiveFloat = Field(default=30.0, description="Longest single wait, seconds.")


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """``Retry-After`` as seconds: delta-seconds or an HTTP date; None if absent/invalid."""
    if value is None:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    now = time.time() if now is None else now
    return max(0.0, when.timestamp() - now)


class _StopAfterBudget(stop_base):
    """Stop when the next wait would carry us past ``max_time``."""

    def __init__(self, max_time: float) -> None:
        self.max_time = max_time

    def __call__(self, retry_state: RetryCallState) -> bool:
        waited = retry_state.idle_for + (retry_state.upcoming_sleep or 0.0)
        return waited > self.max_time


class _StopWhenToldToWaitLonger(stop_base):
    """The server named a wait longer than ``max_wait``: retrying sooner only spends quota."""

    def __init__(self, max_wait: float) -> None:
        self.max_wait = max_wait

    def __call__(self, retry_state: RetryCallState) -> bool:
        return _too_long(
            retry_state.outcome.exception() if retry_state.outcome else None, self.max_wait
        )


def _too_long(error: BaseException | None, max_wait: float) -> bool:
    return (
        isinstance(error, TransientError)
        and error.retry_after is not None
        and error.retry_after > max_wait
    )


def _wait(config: RetryConfig) -> Callable[[RetryCallState], float]:
    def wait(state: RetryCallState) -> float:
        outcome = state.outcome
        error = outcome.exception() if outcome is not None else None
        if isinstance(error, TransientError) and error.retry_after is not None:
            return float(error.retry_after)  # never above max_wait: the stop saw to that
        backoff: float = config.initial_wait * 2.0 ** (state.attempt_number - 1)
        return min(config.max_wait, backoff) * random.uniform(0.5, 1.0)  # noqa: S311 - jitter

    return wait


async def call_with_retries(
    fn: Callable[[], Awaitable[T]],
    config: RetryConfig,
    sleep: Callable[[float], Awaitable[None]],
    *,
    what: str,
) -> T:
    """Run ``fn`` under the policy; ``what`` names the call in logs (no secrets).

    The first try runs bare: building the tenacity machinery for every call
    cost a benchmark sync ~5 % of its CPU, and most calls succeed at once. A
    failed first try is replayed into tenacity as its attempt 1, so counting,
    waits and logs are exactly the policy's. A ``Retry-After`` longer than
    ``max_wait`` ends the tries at once: coming back sooner than the server
    asked only spends quota on another refusal; the next sync tries again.
    """
    try:
        return await fn()
    except MeasureError as exc:
        if not isinstance(exc, TransientError) or config.attempts <= 1:
            exc.calls = (exc.calls or 0) + 1
            raise
        first: TransientError | None = exc
    tries = 1

    async def replay_then_call() -> T:
        nonlocal first, tries
        if first is not None:
            error, first = first, None
            raise error
        tries += 1
        return await fn()

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        log.warning(
            "retrying",
            call=what,
            attempt=state.attempt_number,
            wait_s=round(state.upcoming_sleep or 0.0, 3),
            error=str(error),
        )

    retrying = AsyncRetrying(
        retry=retry_if_exception_type(TransientError),
        stop=stop_after_attempt(config.attempts)
        | _StopAfterBudget(config.max_time)
        | _StopWhenToldToWaitLonger(config.max_wait),
        wait=_wait(config),
        sleep=sleep,
        before_sleep=before_sleep,
        reraise=True,
    )
    try:
        result: T = await retrying(replay_then_call)
    except MeasureError as exc:
        if isinstance(exc, TransientError) and _too_long(exc, config.max_wait):
            asked = f"{exc.retry_after:g}s"
            exc = TransientError(
                f"{exc} (the server asked to wait {asked}, longer than retry.max_wait "
                f"{config.max_wait:g}s: left for the next sync)",
                retry_after=exc.retry_after,
            )
            exc.calls = tries
            raise exc from None
        exc.calls = tries
        raise
    return result


__all__ = ["RetryConfig", "call_with_retries", "parse_retry_after"]
