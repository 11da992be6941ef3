"""The one seam between the core and every source system.

A connector is a plain :class:`Connector` record: the pydantic model of its
connection settings, the pydantic model of its ``source:`` blocks (so each
connector owns its query language), and ``open()``, which returns an object
with ``measure()``. The engine renders placeholders, deduplicates identical
(connection, source) pairs, limits concurrency, and never imports a connector
module by name (see :mod:`okrsync.config.registry`).

A connector imports nothing of okrsync but :mod:`okrsync.errors` (the
error kinds) and the sdk: this module, :mod:`~okrsync.sdk.placeholders`
(``{cycle.start}`` …), :mod:`~okrsync.sdk.date_ranges` (analytics windows),
:mod:`~okrsync.sdk.http` (the httpx client with bounded answers),
:mod:`~okrsync.sdk.retry` (the one retry policy), :mod:`~okrsync.sdk.tls` and
:mod:`~okrsync.sdk.requests_tls` (``ca_bundle`` for httpx and requests),
:mod:`~okrsync.sdk.threads` (blocking clients off the loop) and
:mod:`~okrsync.sdk.redaction` (masking secrets). ``make lint`` enforces it
(``[tool.importlinter]`` in pyproject.toml).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator

from okrsync.domain.cycle import Cycle
from okrsync.domain.frozen_model import Frozen
from okrsync.errors import MeasureError
from okrsync.sdk.quota import ONE_REQUEST, Cost, QuotaSettings, Window
from okrsync.sdk.retry import RetryConfig

SettingsModel = type["ConnectionSettings"]
SourceModel = type["SourceBase"]


class ConnectionSettings(BaseModel):
    """Options every connection takes; connectors subclass it with their own."""

    model_config = ConfigDict(extra="forbid")

    type: str
    url: str | None = Field(default=None, description="The service's base address.")
    timeout: PositiveFloat = Field(default=30.0, description="Seconds per request.")
    max_concurrency: PositiveInt = Field(default=4, description="Requests in flight at once.")
    rate_limit: PositiveFloat | None = Field(default=None, description="Requests per second.")
    ca_bundle: Path | None = Field(default=None, description="PEM file of extra CAs to trust.")
    retry: RetryConfig = Field(default_factory=RetryConfig)
    quota: QuotaSettings = Field(
        default_factory=QuotaSettings, description="This connection's part of the vendor's quota."
    )

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle_exists(cls, path: Path | None) -> Path | None:
        """Checked with the configuration, so `validate` says it, not every later query."""
        if path is not None and not path.is_file():
            raise ValueError(f"ca_bundle {path}: no such file")
        return path


class SourceBase(Frozen):
    """A ``source:`` block; connectors subclass it with their query fields."""

    connection: str = Field(description="Name of a connection in connections.yaml.")


@dataclass(frozen=True)
class RenderContext:
    """What placeholders are filled from."""

    cycle: Cycle
    as_of: datetime


@dataclass(frozen=True)
class Reading:
    """One answer from a source, with enough provenance to explain it."""

    value: float | bool
    raw: str = ""  # an excerpt of what the source said, never a whole body
    calls: int = 1  # vendor API calls spent on it


Sleep = Callable[[float], Awaitable[None]]


@dataclass(frozen=True)
class Runtime:
    """What the engine lends a connection: injectable so retries run in ms in tests."""

    sleep: Sleep = asyncio.sleep


class Connection(Protocol):
    """An open connection: turns a rendered source into a :class:`Reading`.

    ``measure`` raises :class:`okrsync.errors.MeasureError` subclasses only.
    """

    async def measure(self, source: Any) -> Reading: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class InitiativeReading:
    """The work behind a key result: an issue or epic and how much of it is done."""

    key: str
    title: str
    done: int  # resolved children (an issue without children: 1 when resolved)
    total: int  # all children (an issue without children: 1)
    status: str = ""  # the vendor's own status of it; Connector.status_words says it in words
    raw: str = ""
    calls: int = 1


class BatchConnection(Connection, Protocol):
    """Optional: a connection that answers many queries in one vendor call.

    The engine hands it up to ``batch_size`` distinct sources at once and
    expects one result per source, in order: a Reading or the MeasureError for
    that source alone. Calls spent are reported on the batch's first Reading.
    """

    batch_size: int

    async def measure_batch(self, sources: Sequence[Any]) -> list[Reading | MeasureError]: ...


class InitiativeConnection(Connection, Protocol):
    """Optional: a connection that can report an initiative's completion (an epic, a project).

    Its connector says so with ``initiatives=True``, so mapping files can name
    initiatives on it before anything is measured.
    """

    async def initiative(self, key: str) -> InitiativeReading: ...


def _describe(source: SourceBase) -> str:
    return source.model_dump_json(exclude={"connection"}, exclude_none=True)


def _url(settings: Any) -> str:
    return str(getattr(settings, "url", None) or "")


def _no_quota(settings: Any) -> tuple[Window, ...]:
    return ()


def _one_request(source: Any) -> Cost:
    return ONE_REQUEST


@dataclass(frozen=True)
class Connector:
    """A source system okrsync can measure from."""

    type: str
    settings_model: SettingsModel
    source_model: SourceModel
    open: Callable[[Any, Runtime], Connection]
    render: Callable[[Any, RenderContext], Any] | None = None  # None: ISO dates
    describe: Callable[[Any], str] = _describe  # the query as a person reads it
    doc: str = ""
    # Hooks that keep vendor knowledge out of the core:
    address: Callable[[Any], str] = _url  # where a connection points, as `explain` shows it
    initiatives: bool = False  # its connections answer ``initiative(key)``
    # An initiative's status as the vendor spells it → the word people read
    # (Jira: "indeterminate" → "in progress"); a status not listed shows as it is.
    status_words: Mapping[str, str] = field(default_factory=dict)
    # The vendor's documented limits for a connection (SPEC §8), lowered by its
    # ``quota:`` settings; and what one query spends of them (default: one
    # request; Amplitude: query cost; GA4: tokens). The connection's ``live`` (a LiveQuota), when
    # it has one, holds what the vendor says of them as answers come back.
    quota: Callable[[Any], tuple[Window, ...]] = _no_quota
    cost: Callable[[Any], Cost] = _one_request


__all__ = [
    "BatchConnection",
    "Connection",
    "ConnectionSettings",
    "Connector",
    "InitiativeConnection",
    "InitiativeReading",
    "Reading",
    "RenderContext",
    "Runtime",
    "Sleep",
    "SourceBase",
]
