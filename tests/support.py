"""Plain helpers shared by tests: write a mappings directory, load it, read a store."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import textwrap
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.domain.cycle import Cycle
from okrsync.sdk.connector import Connector, Reading, RenderContext
from okrsync.store.database import Store
from okrsync.sync import run
from okrsync.testing.harness import Harness
from okrsync.testing.runtime import FAST as FAST  # re-exported: the kit third parties use too
from okrsync.testing.runtime import Sleeps
from okrsync.testing.runtime import no_sleep as no_sleep

TOKEN = "tok-3f9a1c77e0b24d5e"  # a fake secret, long enough to redact
TODAY = date(2026, 11, 15)
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
EXAMPLES = Path(__file__).resolve().parent.parent / "mappings"


def example_secret_names() -> list[str]:
    """Every ``${NAME}`` the example connections.yaml reads from the environment."""
    import yaml

    from okrsync.config.secrets import PATTERN

    def strings(node: object) -> list[str]:  # values only: the comments show ${ENV_VAR} too
        if isinstance(node, dict):
            return [s for value in node.values() for s in strings(value)]
        if isinstance(node, list):
            return [s for value in node for s in strings(value)]
        return [node] if isinstance(node, str) else []

    data = yaml.safe_load((EXAMPLES / "connections.yaml").read_text())
    names = {name for text in strings(data) for name in PATTERN.findall(text)}
    return sorted(name for name in names if not name.startswith("file:"))


def example_environ() -> dict[str, str]:
    """A value for every secret the example connections.yaml names, each one its connector takes."""
    from okrsync.demo.simulators.ga4 import Ga4Simulator

    environ = dict.fromkeys(example_secret_names(), TOKEN)
    environ["WAREHOUSE_URL"] = "postgresql://okrsync:s3cret@warehouse.internal/finance"
    with Ga4Simulator() as ga4:  # a key file that passes the connector's checks
        environ["GA4_CREDENTIALS"] = ga4.service_account_json()
    return environ


def connections_yaml(url: str, **extra: object) -> str:
    lines = [
        "connections:",
        "  stats:",
        "    type: http",
        f"    url: {url}",
        "    headers:",
        "      Authorization: Bearer ${TEST_STATS_TOKEN}",
    ]
    lines += [f"    {k}: {v}" for k, v in extra.items()]
    return "\n".join(lines) + "\n"


def kr_yaml(
    kr_id: str, metric: str, *, start: float = 120, target: float = 30, **extra: object
) -> str:
    more = "".join(f"\n  {k}: {v}" for k, v in extra.items())
    return (
        f"- id: {kr_id}\n  title: KR {kr_id}\n  owner: o@example.com\n"
        f"  start: {start}\n  target: {target}{more}\n"
        f"  source:\n    connection: stats\n"
        f"    path: /api/v1/metrics/{metric}?from={{cycle.start}}&to={{cycle.end}}\n"
        f"    value: $.data.value\n"
    )


def objective_yaml(obj_id: str, krs: list[str], **extra: object) -> str:
    more = "".join(f"    {k}: {v}\n" for k, v in extra.items())
    body = "".join(textwrap.indent(k, "      ") for k in krs)
    return (
        f"  - id: {obj_id}\n    title: Objective {obj_id}\n    owner: o@example.com\n{more}"
        f"    key_results:\n{body}"
    )


def write(directory: Path, files: dict[str, str]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (directory / name).write_text(text, encoding="utf-8")
    return directory


def mapping(objectives: list[str], cycle: str = "2026-Q4") -> str:
    if not objectives:
        return f"version: 1\ncycle: {cycle}\nobjectives: []\n"
    return f"version: 1\ncycle: {cycle}\nobjectives:\n" + "".join(objectives)


def load(directory: Path, token: str = TOKEN) -> loader.Config:
    return loader.load(directory, Registry.default(), environ={"TEST_STATS_TOKEN": token})


def measure_once(
    connector: Connector, settings: Any, query: Any, sleeps: Sleeps | None = None
) -> Reading:
    """Open a real connection, measure one rendered source, close it (retries recorded)."""
    harness = Harness(connector, RenderContext(Cycle.model_validate("2026-Q4"), NOW))
    return harness.use(settings, lambda c: c.measure(query), sleeps)


def sync_now(config: loader.Config, store: Store, **kwargs: Any) -> run.SyncResult:
    """One :func:`okrsync.sync.run.sync` from test code that has no event loop of its own."""
    return asyncio.run(run.sync(config, store, **kwargs))


def okrsync_env(mappings: Path, store_url: str, **settings: str) -> dict[str, str]:
    """The environment of an ``okrsync`` subprocess: none of ours leaks in, the test's go in.

    ``settings`` are OKRSYNC_* names without the prefix (``schedule="1s"``).
    """
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")},
        "TEST_STATS_TOKEN": TOKEN,
        "OKRSYNC_MAPPINGS": str(mappings),
        "OKRSYNC_STORE_URL": store_url,
        "OKRSYNC_LOG_FORMAT": "json",
        "OKRSYNC_SCHEDULE": "1s",
        **{f"OKRSYNC_{k.upper()}": v for k, v in settings.items()},
    }


def spawn_okrsync(args: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """``python -m okrsync ARGS``, stdout and stderr into ``log``."""
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "okrsync", *args], env=env, stdout=out, stderr=subprocess.STDOUT
        )


def log_events(log: Path) -> list[dict[str, Any]]:
    """The JSON log lines a process wrote, in order."""
    return [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
