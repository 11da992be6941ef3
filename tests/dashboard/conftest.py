"""The example company synced by ``okrsync demo`` into SQLite, served on 127.0.0.1.

One site for the whole session: the pages only read, so the tests share it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from pydantic import BaseModel, SecretStr

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.runner import run_demo
from okrsync.service.web import MappingsWatch, Sources, WebServer, make_app
from okrsync.store.database import Store

EXAMPLE = Path(__file__).parents[2] / "mappings"


@dataclass(frozen=True)
class Site:
    url: str
    config: loader.Config
    store: Store
    secrets: list[str]  # every secret value the demo's connections and destinations hold


def secret_values(model: Any) -> list[str]:
    found: list[str] = []
    if isinstance(model, SecretStr):
        found.append(model.get_secret_value())
    elif isinstance(model, BaseModel):
        for name in type(model).model_fields:
            found += secret_values(getattr(model, name))
    elif isinstance(model, dict):
        for value in model.values():
            found += secret_values(value)
    elif isinstance(model, list | tuple):
        for value in model:
            found += secret_values(value)
    return found


@pytest.fixture(scope="session")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Site]:
    where = tmp_path_factory.mktemp("dashboard")
    with Store.open(f"sqlite:///{where / 'okrsync.db'}") as st:
        shown = asyncio.run(run_demo(EXAMPLE, st))
        simulated = shown.config
        secrets = [
            s
            for settings in [*simulated.connections.values(), *simulated.destinations.values()]
            for s in secret_values(settings)
            if len(s) >= 6
        ]
        watch = MappingsWatch(EXAMPLE, lambda d: loader.load(d, Registry.default(), secrets="skip"))
        config = watch()
        assert config is not None
        server = WebServer(make_app(Sources(watch, st, lambda: {})), 0, "127.0.0.1").start()
        try:
            yield Site(f"http://127.0.0.1:{server.port}", config, st, secrets)
        finally:
            server.stop()
