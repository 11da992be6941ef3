"""``okrsync demo``: the example mappings synced against built-in simulators.

Each connection whose type has a simulator is pointed at it, and the secrets
the example ``connections.yaml`` names are supplied with the simulators'
throw-away values, so the demo needs no credentials and no network.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from okrsync import engine, loader
from okrsync.registry import Registry
from okrsync.simulators.server import FakeServer
from okrsync.simulators.stats import StatsSimulator
from okrsync.store import Store


@dataclass(frozen=True)
class DemoSource:
    """A simulator for one connection type and the secrets it expects."""

    start: Callable[[], FakeServer]
    environ: dict[str, str]


DEMO_TOKEN = "demo-token"  # noqa: S105 - published, accepted only by the simulator

SIMULATED: dict[str, DemoSource] = {
    "http": DemoSource(
        lambda: StatsSimulator(token=DEMO_TOKEN).start(), {"STATS_TOKEN": DEMO_TOKEN}
    ),
}


@contextmanager
def simulated(directory: Path) -> Iterator[loader.Config]:
    """The checked config with every simulated connection pointed at a running simulator."""
    environ = dict(os.environ)
    for demo in SIMULATED.values():
        environ.update(demo.environ)
    config = loader.load(directory, Registry.default(), environ=environ)
    with ExitStack() as stack:
        servers: dict[str, FakeServer] = {}
        for name, settings in config.connections.items():
            if settings.type not in SIMULATED:
                continue
            if settings.type not in servers:
                servers[settings.type] = stack.enter_context(SIMULATED[settings.type].start())
            config.connections[name] = settings.model_copy(
                update={"url": servers[settings.type].url}
            )
        yield config


def run_demo(directory: Path, store: Store) -> tuple[engine.SyncResult, loader.Config]:
    """Start the simulators, sync every key result once, stop them."""
    with simulated(directory) as config:
        return engine.sync(config, store, force=True, trigger="demo"), config


__all__ = ["SIMULATED", "run_demo", "simulated"]
