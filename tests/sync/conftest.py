"""Fixtures the sync-stage tests share."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from okrsync.demo.simulators.stats import StatsSimulator
from tests.support import TODAY, TOKEN


@pytest.fixture
def sim() -> Iterator[StatsSimulator]:
    """The stats API, accepting the tests' TOKEN, its data as of the tests' TODAY."""
    with StatsSimulator(token=TOKEN, today=lambda: TODAY) as server:
        yield server
