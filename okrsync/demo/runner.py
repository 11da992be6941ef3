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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import okrsync.demo.simulators as simulators_package
from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo import trouble
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


def destination_simulators() -> dict[str, Callable[[list[str]], Simulated]]:
    """Destination type → how the demo starts its simulator, given the items to know.

    Each module of :mod:`okrsync.demo.simulators.destinations` says so itself
    with ``SERVES_DESTINATION`` and ``demo(items)``.
    """
    from okrsync.demo.simulators import destinations

    found: dict[str, Callable[[list[str]], Simulated]] = {}
    for info in pkgutil.iter_modules(destinations.__path__):
        module = importlib.import_module(f"{destinations.__name__}.{info.name}")
        serves, start = getattr(module, "SERVES_DESTINATION", None), getattr(module, "demo", None)
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
    with _simulated(directory) as (config, _):
        yield config


@contextmanager
def _simulated(directory: Path) -> Iterator[tuple[loader.Config, dict[str, Simulated]]]:
    """:func:`simulated`, and the running simulators by connection type."""
    registry = Registry.default()
    plain = loader.load(directory, registry, secrets="skip")
    wanted = {s.type for s in plain.connections.values()}
    with ExitStack() as stack:
        running: dict[str, Simulated] = {}
        available, span = simulators(), _span(plain)
        for type_name in sorted(wanted & available.keys()):
            running[type_name] = sim = available[type_name](span)
            stack.callback(sim.stop)
        tools = destination_simulators()
        pushed: dict[str, Simulated] = {}
        for name, tool in plain.destinations.items():
            if tool.type in tools:
                items = sorted({e.kr.push[name] for e in plain.krs.values() if name in e.kr.push})
                pushed[name] = sim = tools[tool.type](items)
                stack.callback(sim.stop)
        environ = dict(os.environ)
        for sim in [*running.values(), *pushed.values()]:
            environ.update(sim.environ)
        config = loader.load(directory, registry, environ=environ)
        for name, settings in config.connections.items():
            if settings.type in running:
                update = running[settings.type].overrides
                config.connections[name] = type(settings).model_validate(
                    {**settings.model_dump(), **update}
                )
        for name, sim in pushed.items():  # its overrides carry the simulator's secrets too
            outlet = config.destinations.get(name) or plain.destinations[name]
            values = {**outlet.model_dump(exclude_unset=True), **sim.overrides}
            config.destinations[name] = type(outlet).model_validate(values)
            config.unavailable_destinations.pop(name, None)
        yield config, {**running, **{f"destination:{n}": s for n, s in pushed.items()}}


@dataclass(frozen=True, repr=False)
class Demo:
    result: run.SyncResult  # the second sync's, the one with the trouble
    config: loader.Config
    staged: dict[str, str]  # key result → the trouble staged for it
    received: dict[str, list[str]]  # destination → what its simulator accepted, a line each

    @property
    def unexpected(self) -> list[str]:
        """Key results that failed without being meant to: a real fault of the demo."""
        return [r.kr_id for r in self.result.failed if r.kr_id not in self.staged]


async def run_demo(directory: Path, store: Store) -> Demo:
    """Start the simulators, sync every key result, stage some trouble, sync again, stop them."""
    with _simulated(directory) as (config, running):
        await run.sync(config, store, force=True, trigger="demo")
        staged = trouble.stage(config, running, store, datetime.now(UTC))
        result = await run.sync(config, store, force=True, trigger="demo")
        received = {
            name.removeprefix("destination:"): sim.received()
            for name, sim in running.items()
            if name.startswith("destination:") and sim.received is not None
        }
        return Demo(result, config, staged, received)


__all__ = ["Demo", "run_demo", "simulated", "simulators"]
