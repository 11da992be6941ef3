"""What a simulator hands ``okrsync demo`` (and ``--simulators``): how to point a connection at it.

Every public simulator module that serves a connection type says so with
``SERVES = "<type>"`` and a ``demo(span)`` function returning a
:class:`Simulated`; :mod:`okrsync.demo.runner` finds them by those two names,
so it keeps no table of types.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from okrsync.demo.simulators.server import FakeServer


@dataclass(frozen=True)
class Span:
    """The first and last day the demo's cycles cover, for simulators that seed data."""

    start: date
    end: date


@dataclass
class Simulated:
    """A running simulator, the secrets it accepts and how to point a connection at it."""

    server: FakeServer | None  # None: a local stand-in such as the demo warehouse file
    environ: dict[str, str] = field(default_factory=dict)  # the secrets the examples name
    overrides: dict[str, Any] = field(default_factory=dict)  # merged into the settings
    cleanup: Callable[[], None] | None = None
    # A destination's simulator: what it accepted, one line each (the demo prints them).
    received: Callable[[], list[str]] | None = None

    @classmethod
    def at(cls, server: FakeServer, environ: dict[str, str], **overrides: Any) -> Simulated:
        """An HTTP simulator: the connection's ``url`` is the server's, plus ``overrides``."""
        return cls(server, environ, {"url": server.url, **overrides})

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.cleanup is not None:
            self.cleanup()


__all__ = ["Simulated", "Span"]
