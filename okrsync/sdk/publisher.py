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
from typing import Any, Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, PositiveFloat

from okrsync.domain.snapshot import Snapshot
from okrsync.sdk.connector import Runtime

Section = Literal["destinations", "channels"]


class PublisherSettings(BaseModel):
    """Options every destination and channel takes; publishers subclass it with their own."""

    model_config = ConfigDict(extra="forbid")

    type: str
    timeout: PositiveFloat = Field(default=30.0, description="Seconds per request.")


@dataclass(frozen=True)
class Published:
    """What one publisher did with one snapshot; ``error`` set when it failed."""

    name: str
    sent: int = 0  # items the outlet accepted (values pushed, messages posted)
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


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
    open: Callable[[str, Any, Runtime], Publisher]  # (configured name, settings, runtime)
    doc: str = ""


__all__ = ["Published", "Publisher", "PublisherSettings", "PublisherType", "Section"]
