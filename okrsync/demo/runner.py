"""``okrsync demo`` and ``--simulators``: the example mappings against built-in simulators.

Each connection whose type has a simulator is pointed at it (settings
overrides such as ``url``, ``domain``, ``ca_bundle``), and the secrets the
example ``connections.yaml`` names get the simulators' published demo values,
so the demo needs no credentials and no network.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.server import FakeServer
from okrsync.store.database import Store
from okrsync.sync import run


@dataclass
class Simulated:
    """A running simulator, the secrets it accepts and how to point a connection at it."""

    server: FakeServer | None  # None: a local stand-in such as the demo warehouse file
    environ: dict[str, str] = field(default_factory=dict)
    overrides: dict[str, Any] = field(default_factory=dict)
    cleanup: Callable[[], None] | None = None

    def stop(self) -> None:
        if self.server is not None:
            self.server.stop()
        if self.cleanup is not None:
            self.cleanup()


def _stats(_: loader.Config) -> Simulated:
    from okrsync.demo.simulators.stats import StatsSimulator

    token = "demo-token"  # noqa: S105 - published, accepted only by the simulator
    server = StatsSimulator(token=token).start()
    return Simulated(server, {"STATS_TOKEN": token}, {"url": server.url})


def _jira(_: loader.Config) -> Simulated:
    from okrsync.demo.simulators.jira import DEMO_TOKEN, start_demo

    server = start_demo(email=None)
    return Simulated(server, {"JIRA_API_TOKEN": DEMO_TOKEN}, {"url": server.url})


def _salesforce(_: loader.Config) -> Simulated:
    from okrsync.demo.simulators.salesforce import start_demo

    server, demo = start_demo()
    return Simulated(server, dict(demo.environ), dict(demo.overrides))


def _ga4(_: loader.Config) -> Simulated:
    from okrsync.demo.simulators.ga4 import start_demo

    server, demo = start_demo()
    return Simulated(server, dict(demo.environ), dict(demo.overrides))


def _prometheus(_: loader.Config) -> Simulated:
    from okrsync.demo.simulators.prometheus import DEMO_ENVIRON, DEMO_USERNAME, start_demo

    server = start_demo()
    return Simulated(server, dict(DEMO_ENVIRON), {"url": server.url, "username": DEMO_USERNAME})


def _posthog(_: loader.Config) -> Simulated:
    from okrsync.demo.simulators.posthog import DEMO_API_KEY, DEMO_PROJECT_ID, start_demo

    server = start_demo()
    overrides = {"url": server.url, "project_id": DEMO_PROJECT_ID}
    return Simulated(server, {"POSTHOG_API_KEY": DEMO_API_KEY}, overrides)


def _plausible(_: loader.Config) -> Simulated:
    from okrsync.demo.simulators.plausible import DEMO_API_KEY, DEMO_SITE_ID, start_demo

    server = start_demo()
    overrides = {"url": server.url, "site_id": DEMO_SITE_ID}
    return Simulated(server, {"PLAUSIBLE_API_KEY": DEMO_API_KEY}, overrides)


def _warehouse(config: loader.Config) -> Simulated:
    """A SQLite warehouse seeded for the mappings' cycles, in a directory removed after."""
    from okrsync.demo.simulators.warehouse import seed, url_for

    folder = Path(tempfile.mkdtemp(prefix="okrsync-demo-warehouse-"))
    cycles = config.cycles.values()
    today = datetime.now(UTC).date()
    start = min((c.start for c in cycles), default=today)
    end = max((c.end for c in cycles), default=today)
    url = url_for(seed(folder / "warehouse.db", start=start, end=end))
    cleanup = lambda: shutil.rmtree(folder, ignore_errors=True)  # noqa: E731
    return Simulated(None, {"WAREHOUSE_URL": url}, {"url": url}, cleanup)


SIMULATED: dict[str, Callable[[loader.Config], Simulated]] = {
    "ga4": _ga4,
    "http": _stats,
    "jira": _jira,
    "plausible": _plausible,
    "posthog": _posthog,
    "prometheus": _prometheus,
    "salesforce": _salesforce,
    "sql": _warehouse,
}


@contextmanager
def simulated(directory: Path) -> Iterator[loader.Config]:
    """The checked config with every simulated connection pointed at a running simulator."""
    registry = Registry.default()
    plain = loader.load(directory, registry, secrets=False)
    wanted = {s.type for s in plain.connections.values()}
    with ExitStack() as stack:
        running: dict[str, Simulated] = {}
        for type_name in sorted(wanted & SIMULATED.keys()):
            running[type_name] = sim = SIMULATED[type_name](plain)
            stack.callback(sim.stop)
        environ = dict(os.environ)
        for sim in running.values():
            environ.update(sim.environ)
        config = loader.load(directory, registry, environ=environ)
        for name, settings in config.connections.items():
            if settings.type in running:
                update = running[settings.type].overrides
                config.connections[name] = type(settings).model_validate(
                    {**settings.model_dump(), **update}
                )
        yield config


async def run_demo(directory: Path, store: Store) -> tuple[run.SyncResult, loader.Config]:
    """Start the simulators, sync every key result once, stop them."""
    with simulated(directory) as config:
        return await run.sync(config, store, force=True, trigger="demo"), config


__all__ = ["SIMULATED", "Simulated", "run_demo", "simulated"]
