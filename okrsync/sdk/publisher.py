"""The seam a publisher plugs into: OKR tools, chat channels, webhooks.

A publisher receives the :class:`~okrsync.domain.snapshot.Snapshot` of a run
after it was stored, and sends what its outlet needs. Like a connector it is
plain data — a :class:`PublisherType` with a settings model and ``open`` —
found by type: built-ins in ``okrsync.config.registry.PUBLISHER_BUILTINS``,
third parties through the ``okrsync.publishers`` entry-point group
(``type = "package.module:PUBLISHER"``). It is configured by name under
``destinations:`` or ``channels:`` in ``connections.yaml``, with ``${ENV}`` /
``${file:…}`` secrets as connections are. A publisher may import what a
connector may (:mod:`okrsync.sdk`, :mod:`okrsync.errors`) and
:mod:`okrsync.domain.snapshot`.

A failing publisher never undoes or blocks a measurement: the run is already
stored when it is called; its failure is reported, and retried next sync.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat, PositiveInt, field_validator

from okrsync.domain.snapshot import Snapshot
from okrsync.sdk.connector import Runtime
from okrsync.sdk.messages import Message
from okrsync.sdk.retry import RetryConfig

Section = Literal["destinations", "channels"]


class PublisherSettings(BaseModel):
    """Options every destination and channel takes; publishers subclass it with their own."""

    model_config = ConfigDict(extra="forbid")

    type: str
    timeout: PositiveFloat = Field(default=30.0, description="Seconds per request.")


AlertKind = Literal["status_change", "failing", "held"]


class ObjectiveScope(BaseModel):
    """Which objectives a channel speaks of: the dashboard's filters (all when empty)."""

    model_config = ConfigDict(extra="forbid")

    team: str | None = None
    level: Literal["company", "team", "personal"] | None = None
    owner: str | None = None
    ids: list[str] = Field(default_factory=list, description="Objective ids, with what is below.")


class ChannelSettings(PublisherSettings):
    """What every built-in chat, mail or webhook channel takes beside its own settings."""

    digest: str | None = Field(
        default=None, description='Cron (UTC) of the weekly check-in digest, e.g. "0 9 * * MON".'
    )
    alerts: list[AlertKind] = Field(default_factory=list, description="Events posted at once.")
    objectives: ObjectiveScope = Field(default_factory=ObjectiveScope)
    dashboard_url: str | None = Field(
        default=None, description="The dashboard's address, for links in messages."
    )
    max_concurrency: PositiveInt = Field(default=1, description="Messages in flight at once.")
    ca_bundle: Path | None = Field(default=None, description="PEM file of extra CAs to trust.")
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"ca_bundle {path}: no such file")
        return path

    @field_validator("digest")
    @classmethod
    def _digest(cls, text: str | None) -> str | None:
        if text is None:
            return None
        from croniter import croniter

        if not croniter.is_valid(text.strip()) or len(text.split()) != 5:
            raise ValueError(f"digest {text!r} is not a five-field cron expression (UTC)")
        return text.strip()

    @field_validator("alerts")
    @classmethod
    def _alerts(cls, kinds: list[AlertKind]) -> list[AlertKind]:
        return list(dict.fromkeys(kinds))


class DestinationSettings(PublisherSettings):
    """What every OKR tool destination takes: a connection's HTTP options, by the same names."""

    url: str | None = Field(default=None, description="The tool's address without its API path.")
    max_concurrency: PositiveInt = Field(default=4, description="Pushes in flight at once.")
    rate_limit: PositiveFloat | None = Field(
        default=None, description="Requests per second (each type has its vendor's default)."
    )
    ca_bundle: Path | None = Field(default=None, description="PEM file of extra CAs to trust.")
    retry: RetryConfig = Field(default_factory=RetryConfig)

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle_exists(cls, path: Path | None) -> Path | None:
        if path is not None and not path.is_file():
            raise ValueError(f"ca_bundle {path}: no such file")
        return path


@dataclass(frozen=True)
class PushItem:
    """One good value of one key result, for one item of one destination.

    ``comment`` is the provenance people read in the tool: okrsync, the
    source, the rendered query, the value and when it was measured.
    """

    kr_id: str
    item: str  # the tool's own id of the key result: ``push: {DESTINATION: ITEM}``
    value: float
    measured_at: datetime  # as of when the value holds (a dated value's date)
    comment: str
    title: str = ""
    unit: str | None = None
    start: float | None = None
    target: float | None = None
    progress: float | None = None  # (value - start) / (target - start), not clamped
    run_id: int | None = None


class Destination(Protocol):
    """An open OKR tool: the push stage hands it one item at a time and records the outcome.

    ``dated`` says the tool keeps a value per date (``okrsync push --history``
    sends the stored history). ``push`` returns a short receipt (the tool's
    own words or id, for ``explain``) and raises :class:`okrsync.errors.MeasureError`
    kinds on failure, as connectors do; the stage retries nothing itself.
    """

    dated: bool

    async def push(self, item: PushItem) -> str: ...

    async def aclose(self) -> None: ...


@dataclass(frozen=True)
class Published:
    """What one publisher did with one snapshot; ``error`` set when it failed."""

    name: str
    sent: int = 0  # items the outlet accepted (values pushed, messages posted)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


class Channel(Protocol):
    """An open built-in channel: posts one digest or alert, returns a short receipt.

    Raises :class:`okrsync.errors.MeasureError` kinds on failure; the stage
    records each message once (the store's claim), so ``send`` never dedupes.
    """

    async def send(self, message: Message) -> str: ...

    async def aclose(self) -> None: ...


class Publisher(Protocol):
    """An open outlet: one per configured name, for one sync."""

    async def publish(self, snapshot: Snapshot) -> Published:
        """Send what changed; raise :class:`okrsync.errors.MeasureError` kinds on failure."""
        ...

    async def aclose(self) -> None: ...


SettingsModel = type[PublisherSettings]


@dataclass(frozen=True)
class PublisherType:
    """A kind of outlet okrsync can publish to."""

    type: str
    section: Section  # where it is configured: an OKR tool or a chat/webhook channel
    settings_model: SettingsModel
    # (configured name, settings, runtime): a Publisher for channels, a Destination for
    # destinations (the section says which).
    open: Callable[[str, Any, Runtime], Any]
    doc: str = ""


__all__ = [
    "AlertKind",
    "Channel",
    "ChannelSettings",
    "Destination",
    "DestinationSettings",
    "ObjectiveScope",
    "Published",
    "Publisher",
    "PublisherSettings",
    "PublisherType",
    "PushItem",
    "Section",
]
