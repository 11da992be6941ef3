"""``okrsync run``: sync on a schedule, for months, unattended.

Each cycle re-reads the mappings directory; a broken edit is logged problem by
problem and the last valid configuration keeps running (never a crash loop,
never half a config). Each sync runs under the single-writer lock; when
another process holds it the cycle is skipped and says who holds it. A store
that fails — at the lock, mid-run, or its SQLite file moved away — loses that
run whole (one transaction), ``/readyz`` says why, and the next cycle tries
again. A store that cannot be used as it is (too new a schema, not an okrsync
database) is not retried at start. SIGTERM/SIGINT let the run in flight finish, then exit 0; a run
still going after the grace period is abandoned (nothing half-written).
"""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import FrameType
from typing import Any

import structlog
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception,
    stop_after_delay,
    wait_exponential,
)

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.domain.units import format_duration
from okrsync.errors import ConfigError, StoreError
from okrsync.sdk.connector import Runtime
from okrsync.service.timetable import Schedule, jitter, period
from okrsync.store.database import Store, StoreUnusable
from okrsync.store.lock import WriterLock
from okrsync.sync import run

log = structlog.get_logger("okrsync.service.scheduler")

EXIT_OK, EXIT_FAILED, EXIT_CONFIG, EXIT_LOCKED = 0, 1, 2, 3
EXIT_ABANDONED = 4  # the grace period ran out with a run in flight
HEARTBEAT_SECONDS = 5.0


@dataclass
class Runner:
    """One cycle: (re)load the config, take the lock, sync, release."""

    mappings: Path
    store: Store
    lock: WriterLock
    registry: Registry = field(default_factory=Registry.default)
    runtime: Runtime = field(default_factory=Runtime)
    lock_wait: float = 0.0
    trigger: str = "schedule"
    config: loader.Config | None = None
    schedule: Schedule | None = None  # to warn when it is shorter than every refresh
    trouble: str | None = None  # why the last cycle could not use the store
    # The newest edit's problems while an older valid configuration keeps running.
    broken: list[str] = field(default_factory=list)
    # Loaded just before the first cycle (``run --once`` checks the mappings before it
    # opens the store): that cycle uses it instead of parsing every file a second time.
    loaded: loader.Config | None = None

    def load(self) -> loader.Config | None:
        """The newest valid configuration; on errors, the last valid one (logged)."""
        try:
            if self.loaded is not None:
                fresh, self.loaded = self.loaded, None
            else:
                fresh = loader.load(self.mappings, self.registry)
        except ConfigError as exc:
            self.broken = [str(p) for p in exc.problems]
            for problem in exc.problems:
                log.error("configuration problem", problem=str(problem))
            if self.config is not None:
                log.error(
                    "configuration invalid: keeping the last valid one",
                    problems=len(exc.problems),
                    kept=self.config.fingerprint,
                )
            else:
                log.error("configuration invalid and none valid yet: nothing to sync")
            return self.config
        if self.config is None or fresh.fingerprint != self.config.fingerprint:
            log.info(
                "configuration loaded",
                config=fresh.fingerprint,
                objectives=len(fresh.objectives),
                key_results=len(fresh.krs),
                warnings=len(fresh.warnings),
            )
            self._warn_short_schedule(fresh)
        self.config = fresh
        self.broken = []
        return fresh

    def _warn_short_schedule(self, config: loader.Config) -> None:
        """Cycles more often than any key result refreshes mostly find nothing due."""
        refreshes = [e.kr.refresh for e in config.krs.values() if e.source is not None]
        if self.schedule is None or not refreshes:
            return
        shortest = min(refreshes)
        every = period(self.schedule, datetime.now(UTC))
        if every < shortest:
            log.warning(
                "schedule is shorter than the shortest refresh: most cycles find nothing due",
                schedule=self.schedule.text,
                shortest_refresh=format_duration(shortest),
            )

    async def cycle(self, now: datetime | None = None) -> int:
        """One sync as of ``now`` (the cycle's start: refresh windows count from it)."""
        config = self.load()
        if config is None:
            return EXIT_CONFIG
        try:
            result = await run.locked_sync(
                config,
                self.store,
                self.lock,
                wait=self.lock_wait,
                now=now,
                runtime=self.runtime,
                trigger=self.trigger,
            )
        except run.WriterBusy as exc:
            log.warning(
                "another okrsync holds the writer lock: skipping this run", holder=exc.holder
            )
            return EXIT_LOCKED
        except StoreError as exc:
            self.trouble = f"last run failed, nothing was written: {exc}"
            log.error("run failed: the store is unavailable, nothing was written", error=str(exc))
            return EXIT_FAILED
        self.trouble = None
        return result.exit_code


def open_store(url: str, *, upgrade: bool, wait: float) -> Store:
    """Open the store, retrying with backoff for ``wait`` seconds (it may start after us).

    A store that answered but cannot be used (:class:`StoreUnusable`) fails at once.
    """

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome else None
        log.warning(
            "store not reachable yet",
            attempt=state.attempt_number,
            retry_in_s=round(state.upcoming_sleep or 0, 1),
            error=str(error),
        )

    retrying = Retrying(
        retry=retry_if_exception(
            lambda exc: isinstance(exc, StoreError) and not isinstance(exc, StoreUnusable)
        ),
        stop=stop_after_delay(wait),
        wait=wait_exponential(multiplier=0.5, max=10),
        before_sleep=before_sleep,
        reraise=True,
    )
    store: Store = retrying(Store.open, url, upgrade=upgrade)
    return store


class StopFlag:
    """Set by SIGTERM/SIGINT; a watchdog ends the process if the grace period runs out."""

    def __init__(self, grace: float, on_timeout: Callable[[], None] | None = None) -> None:
        self.event = threading.Event()
        self.grace = grace
        self._on_timeout = on_timeout or self._abandon

    def install(self) -> None:
        signal.signal(signal.SIGTERM, self._handle)
        signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum: int, _frame: FrameType | None) -> None:
        if self.event.is_set():
            return
        log.info(
            "stop requested: finishing the run in flight",
            signal=signal.Signals(signum).name,
            grace_s=self.grace,
        )
        self.event.set()
        watchdog = threading.Timer(self.grace, self._on_timeout)
        watchdog.daemon = True
        watchdog.start()

    @staticmethod
    def _abandon() -> None:
        log.error("grace period over: abandoning the run in flight; nothing of it was written")
        os._exit(EXIT_ABANDONED)


async def run_forever(
    runner: Runner,
    schedule: Schedule,
    stop: threading.Event,
    beat: Callable[[], None] = lambda: None,
    clock: Callable[[], datetime] = lambda: datetime.now(UTC),
) -> int:
    """Cycle until ``stop`` is set; returns the exit code (0 after a clean stop)."""
    log.info(
        "scheduler started",
        schedule=schedule.text,
        mappings=str(runner.mappings),
        store=runner.store.url,
    )
    while not stop.is_set():
        started = clock()
        beat()
        await runner.cycle(started)
        beat()
        now = clock()
        due = schedule.next_after(started)
        while due <= now:
            due = schedule.next_after(due)
        delay = (due - now).total_seconds() + jitter(schedule, now)
        log.debug("next run", at=(now + timedelta(seconds=delay)).isoformat())
        await _sleep(delay, stop, beat)
    log.info("scheduler stopped")
    return EXIT_OK


async def _sleep(seconds: float, stop: threading.Event, beat: Callable[[], None]) -> None:
    """Sleep between cycles, woken by ``stop`` (set from a signal handler)."""
    deadline = time.monotonic() + seconds
    while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
        await asyncio.to_thread(stop.wait, min(left, HEARTBEAT_SECONDS))
        beat()


def stall_bound(schedule: Schedule) -> float:
    """How long the loop may go without a beat before liveness fails."""
    return max(600.0, 3 * period(schedule, datetime.now(UTC)).total_seconds())


MAX_SHOWN_PROBLEMS = 10  # in /readyz; the log has every one


def readiness(runner: Runner) -> Callable[[], dict[str, Any]]:
    def check() -> dict[str, Any]:
        if runner.config is None:
            shown = "; ".join(runner.broken[:MAX_SHOWN_PROBLEMS])
            raise RuntimeError(f"no valid configuration loaded{': ' + shown if shown else ''}")
        if runner.trouble is not None:
            raise RuntimeError(runner.trouble)
        last = runner.store.last_run()  # raises StoreError while the store is unreachable
        answer: dict[str, Any] = {
            "config": runner.config.fingerprint,
            "last_run": None
            if last is None
            else {"id": last.id, "finished_at": last.finished_at, "status": last.status},
        }
        if runner.broken:  # still ready: the last valid configuration syncs on
            answer["mappings"] = {
                "broken": True,
                "running": runner.config.fingerprint,
                "problem_count": len(runner.broken),
                "problems": runner.broken[:MAX_SHOWN_PROBLEMS],
            }
        return answer

    return check


__all__ = [
    "EXIT_ABANDONED",
    "EXIT_LOCKED",
    "Runner",
    "StopFlag",
    "open_store",
    "readiness",
    "run_forever",
    "stall_bound",
]
