"""The notify stage: each channel's alerts, its digest when its cron slot is due, and retries.

Runs after every sync's store write (and its pushes), like the rest of the
publishing stage. Every message is claimed in the store before it is sent
(:mod:`okrsync.store.notices`): an event or a digest slot goes out once per
channel, also with two processes on one store; a failed send is retried by
later syncs, at most ``MAX_ATTEMPTS`` times. A failing channel fails only its
own messages; the measurement is already stored.

A digest is due at the first sync after its cron slot, if that slot is less
than ``DIGEST_GRACE`` old (after a long outage the missed slot is skipped, not
sent late).
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import cast

import structlog
from croniter import croniter

from okrsync.config.loader import Config
from okrsync.domain.records import KrState
from okrsync.domain.snapshot import ObjectiveView
from okrsync.errors import MeasureError
from okrsync.publish import alerts, current, digest
from okrsync.sdk.connector import Runtime
from okrsync.sdk.messages import Message
from okrsync.sdk.publisher import Channel, ChannelSettings, Published
from okrsync.sdk.redaction import REDACTOR
from okrsync.store.database import Store

log = structlog.get_logger("okrsync.publish.notify")
DIGEST_GRACE = timedelta(hours=24)


def channels(config: Config) -> dict[str, ChannelSettings]:
    """The built-in kind of channel: digests and alerts (plugins take snapshots instead)."""
    return {n: s for n, s in config.channels.items() if isinstance(s, ChannelSettings)}


def digest_slot(settings: ChannelSettings, now: datetime) -> datetime | None:
    """The cron slot a digest is due for now, or None (no digest, or the slot is too old)."""
    if settings.digest is None:
        return None
    slot: datetime = croniter(settings.digest, now).get_prev(datetime)
    return slot if now - slot <= DIGEST_GRACE else None


def digest_for(
    st: Store, name: str, settings: ChannelSettings, views: list[ObjectiveView], now: datetime,
    key: str,
) -> Message:  # fmt: skip
    """The channel's digest as of ``now``, compared with the last one it was sent."""
    last = st.latest_notice(name, "digest")
    previous = last.message.get("data", {}).get("baseline") if last else None
    return digest.build(
        name, views, now, scope=settings.objectives, previous=previous,
        previous_at=last.sent_at if last else None, dashboard=settings.dashboard_url, key=key,
    )  # fmt: skip


class Shared:
    """What every channel of one sync reads, read once: the tree (most of a second at
    10,000 key results) and the key results' states."""

    def __init__(self, config: Config, st: Store, now: datetime) -> None:
        self._config, self._st, self._now = config, st, now
        self._views: list[ObjectiveView] | None = None
        self._states: dict[str, KrState] | None = None

    def views(self) -> list[ObjectiveView]:
        if self._views is None:
            self._views = current.views(self._config, self._st, self._now)
        return self._views

    def states(self) -> dict[str, KrState]:
        if self._states is None:
            self._states = self._st.states()
        return self._states


def due(
    config: Config,
    st: Store,
    name: str,
    settings: ChannelSettings,
    now: datetime,
    shared: Shared | None = None,
) -> list[tuple[int, Message]]:
    """Claim what this channel should be sent now: retries, alert events, the digest."""
    shared = shared or Shared(config, st, now)
    claimed: list[tuple[int, Message]] = []
    for notice in st.retryable_notices(name, now):
        if st.reclaim_notice(notice, now):
            claimed.append((notice.id, Message.from_json(notice.message)))
    slot = digest_slot(settings, now)
    if not settings.alerts and slot is None:
        return claimed
    views = shared.views()
    if settings.alerts:
        watch = alerts.Watch(
            known=st.channel_statuses(name),
            move=lambda moves: st.move_channel_statuses(name, moves, now),
            states=shared.states(),
            recent=lambda kr, n: st.history(kr, limit=n),
        )
        for message in alerts.detect(name, settings, views, watch, now):
            if ident := st.claim_notice(name, message.key, "alert", message.to_json(), now):
                claimed.append((ident, message))
    if slot is not None:
        key = f"digest:{slot:%Y-%m-%dT%H:%MZ}"
        message = digest_for(st, name, settings, views, now, key)
        if ident := st.claim_notice(name, key, "digest", message.to_json(), now):
            claimed.append((ident, message))
    return claimed


async def notify(config: Config, st: Store, now: datetime, runtime: Runtime) -> list[Published]:
    """Every channel's due messages, channels in parallel; one Published per channel."""
    found = channels(config)
    shared = Shared(config, st, now)
    return list(
        await asyncio.gather(
            *(_channel(config, st, n, s, now, runtime, shared) for n, s in found.items())
        )
    )


async def send(
    config: Config, name: str, settings: ChannelSettings, messages: list[Message], runtime: Runtime
) -> list[str | MeasureError]:
    """Open the channel, send each message in order; a receipt or the error, per message."""
    kind = config.publishers.section("channels")[settings.type]
    channel = cast(Channel, kind.open(name, settings, runtime))
    out: list[str | MeasureError] = []
    try:
        for message in messages:
            try:
                out.append(await channel.send(message))
            except MeasureError as exc:
                out.append(exc)
    finally:
        await channel.aclose()
    return out


async def _channel(
    config: Config,
    st: Store,
    name: str,
    settings: ChannelSettings,
    now: datetime,
    runtime: Runtime,
    shared: Shared,
) -> Published:
    try:
        claimed = due(config, st, name, settings, now, shared)
        if not claimed:
            return Published(name)
        results = await send(config, name, settings, [m for _, m in claimed], runtime)
    except Exception as exc:  # a channel bug must not sink the others or the run
        reason = REDACTOR.redact(str(exc) if isinstance(exc, MeasureError) else repr(exc))
        log.warning("channel failed", channel=name, error=reason)
        return Published(name, error=f"{name!r}: {reason}")
    errors = []
    for (ident, message), result in zip(claimed, results, strict=True):
        if isinstance(result, MeasureError):
            reason = REDACTOR.redact(str(result))
            st.finish_notice(ident, now, error=reason)
            errors.append(f"{message.kind} {message.key}: {reason}")
            log.warning("message failed", channel=name, key=message.key, error=reason)
        else:
            st.finish_notice(ident, now, receipt=REDACTOR.redact(result))
            log.info("message sent", channel=name, key=message.key, kind=message.kind)
    sent = len(results) - len(errors)
    return Published(name, sent, f"{name!r}: " + "; ".join(errors) if errors else None)


__all__ = [
    "DIGEST_GRACE",
    "Shared",
    "channels",
    "digest_for",
    "digest_slot",
    "due",
    "notify",
    "send",
]
