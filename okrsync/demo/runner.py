"""``okrsync demo`` and ``--simulators``: the example mappings against built-in simulators.

Each connection whose type has a simulator is pointed at it (settings
overrides such as ``url``, ``domain``, ``ca_bundle``), and the secrets the
example ``connections.yaml`` names get the simulators' published demo values,
so the demo needs no credentials and no network. Which simulator serves which
type is each simulator module's own word (:mod:`okrsync.demo.simulators.simulated`).
"""

from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime
from pathlib import Path

import okrsync.demo.simulators as simulators_package
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.simulated import Simulated, Span
from okrsync.store.database import Store
from okrsync.sync import run


def simulators() -> dict[str, Callable[[Span], Simulated]]:
    """Connection type → how the demo starts its simulator: each module says (``SERVES``, ``demo``)."""
    found: dict[str, Callable[[Span], Simulated]] = {}
    for info in pkgutil.iter_modules(simulators_package.__path__):
        if info.name.startswith("_"):
            continue
        module = importlib.import_module(f"{simulators_package.__name__}.{info.name}")
        serves, start = getattr(module, "SERVES", None), getattr(module, "demo", None)
        if isinstance(serves, str) and callable(start):
            found[serves] = start
    return found


def _span(config: loader.Config) -> Span:
    cycles = config.cycles.values()
    today = datetime.now(UTC).date()
    return Span(
        start=min((c.start for c in cycles), default=today),
        end=max((c.end for c in cycles), default=today),
    )


@contextmanager
def simulated(directory: Path) -> Iterator[loader.Config]:
    """The checked config with every simulated connection pointed at a running simulator."""
    registry = Registry.default()
    plain = loader.load(directory, registry, secrets="skip")
    wanted = {s.type for s in plain.connections.values()}
    with ExitStack() as stack:
        running: dict[str, Simulated] = {}
        available, span = simulators(), _span(plain)
        for type_name in sorted(wanted & available.keys()):
            running[type_name] = sim = available[type_name](span)
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


__all__ = ["run_demo", "simulated", "simulators"]
