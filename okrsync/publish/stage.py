"""The publish stage: after a run is stored, every configured channel gets its snapshot.

(Destinations, the OKR tools, get pushes instead: :mod:`okrsync.publish.push`.)

It runs once per sync, in ``sync``, ``run`` and ``run --once`` alike (never a
separate cron). Outlets are independent: one failing, slow or broken never
stops another, and nothing here can undo the measurement, which is already
committed. Failures come back as :class:`Published` with a redacted reason.
"""

from __future__ import annotations

import asyncio

import structlog

from okrsync.config.loader import Config
from okrsync.domain.snapshot import Snapshot
from okrsync.errors import MeasureError
from okrsync.sdk.connector import Runtime
from okrsync.sdk.publisher import ChannelSettings, Published, Publisher, PublisherSettings
from okrsync.sdk.redaction import REDACTOR

log = structlog.get_logger("okrsync.publish.stage")


def configured(config: Config) -> dict[str, PublisherSettings]:
    """Every plugin channel by name: they take the snapshot.

    (Destinations take pushes, :mod:`okrsync.publish.push`; the built-in
    channels take digests and alerts, :mod:`okrsync.publish.notify`.)
    """
    return {n: s for n, s in config.channels.items() if not isinstance(s, ChannelSettings)}


async def publish(config: Config, snapshot: Snapshot, runtime: Runtime) -> list[Published]:
    """Hand ``snapshot`` to every configured channel at once; one result per channel, in order."""
    outlets = configured(config)
    return list(
        await asyncio.gather(
            *(_one(config, name, settings, snapshot, runtime) for name, settings in outlets.items())
        )
    )


async def _one(
    config: Config, name: str, settings: PublisherSettings, snapshot: Snapshot, runtime: Runtime
) -> Published:
    try:
        kind = config.publishers.section("channels")[settings.type]
        publisher: Publisher = kind.open(name, settings, runtime)
        try:
            result = await publisher.publish(snapshot)
        finally:
            await publisher.aclose()
    except Exception as exc:  # a publisher bug must not sink the others or the run
        if not isinstance(exc, MeasureError):
            log.error("publisher raised an unexpected error", outlet=name, exc_info=exc)
        reason = REDACTOR.redact(
            f"{type(exc).__name__}: {exc}" if not isinstance(exc, MeasureError) else str(exc)
        )
        log.warning("publish failed", outlet=name, error=reason)
        return Published(name, error=f"{name!r}: {reason}")
    if result.error is not None:
        result = Published(name, result.sent, REDACTOR.redact(result.error))
        log.warning("publish failed", outlet=name, error=result.error)
    else:
        log.info("published", outlet=name, sent=result.sent)
    return result


__all__ = ["configured", "publish"]
