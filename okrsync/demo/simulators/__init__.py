"""Fake source systems on 127.0.0.1, so tests and the demo use real HTTP.

:mod:`~okrsync.demo.simulators.server` is the reusable base (routes, request log,
fault injection, optional TLS); each simulator module subclasses it.
"""

from __future__ import annotations

from okrsync.demo.simulators.server import FakeServer, Fault, Request, Response
from okrsync.demo.simulators.stats import StatsSimulator

__all__ = ["FakeServer", "Fault", "Request", "Response", "StatsSimulator"]
