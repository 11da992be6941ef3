"""Two `okrsync run` containers on one store post each digest slot once (real processes).

A channel with a digest every minute and status alerts; both processes sync
every second through the writer lock and race for every slot's claim. The
receiver verifies each signature and counts deliveries by their key.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

from okrsync.demo.simulators.destinations.webhook import DEMO_SECRET, WebhookReceiver
from okrsync.demo.simulators.stats import StatsSimulator
from tests.service.test_scheduler import Proc, wait_for
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, write


@pytest.fixture
def hook() -> Iterator[WebhookReceiver]:
    with WebhookReceiver() as server:
        yield server


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_two_runs_post_each_minutes_digest_once(
    tmp_path: Path, hook: WebhookReceiver, store_url: str
) -> None:
    with StatsSimulator(token=TOKEN) as sim:
        channel = (
            f"channels:\n  ops:\n    type: webhook\n    url: {hook.endpoint}\n"
            '    secret: ${HOOK_SECRET}\n    digest: "* * * * *"\n    alerts: [status_change]\n'
        )
        krs = [kr_yaml("tickets", "support_tickets_month", refresh="1s")]
        mappings = write(tmp_path / "mappings", {
            "connections.yaml": connections_yaml(sim.url) + channel,
            "okrs.yaml": mapping([objective_yaml("obj", krs)]),
        })  # fmt: skip
        runs = [Proc(tmp_path, mappings, store_url, HOOK_SECRET=DEMO_SECRET) for _ in range(2)]
        try:
            wait_for("a digest", lambda: hook.received, timeout=30)
            time.sleep(4)  # both keep syncing: more chances to post a slot twice
            assert all(p.proc.poll() is None for p in runs)
        finally:
            for p in runs:
                p.stop()
        keys = Counter(d.payload["data"]["key"] for d in hook.received)
        assert keys, "nothing was posted"
        assert all(k.startswith("digest:") for k in keys)
        assert max(keys.values()) == 1, keys  # each slot once, whichever process won it
        assert hook.refused == []
        synced = sum(1 for p in runs for e in p.events() if e.get("event") == "sync finished")
        assert synced >= 4  # both really ran cycles
