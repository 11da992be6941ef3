"""A process killed (-9) after the run is stored and before it pushes: the next sync pushes once.

Real processes: `okrsync sync` with a destination plugin installed as a
distribution (entry point ``okrsync.publishers``) that stops before sending,
and with the built-in okr-tracker destination whose simulator leaves the
pushes unanswered; the stats simulator and the tool on 127.0.0.1, one SQLite
store.
"""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
from datetime import date
from pathlib import Path

import pytest

from okrsync.demo.simulators.destinations import okr_tracker as okr
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from tests.publish.test_push import TOOL_TOKEN, Receiver
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, okrsync_env

PLUGIN = """
import os, time
from typing import Literal

from pydantic import SecretStr

from okrsync.sdk.http import make_client, request_json
from okrsync.sdk.publisher import DestinationSettings, PublisherType


class Settings(DestinationSettings):
    type: Literal["recorder"]
    url: str
    token: SecretStr


class Recorder:
    dated = False

    def __init__(self, settings, runtime):
        self.settings, self.runtime = settings, runtime
        auth = {"Authorization": f"Bearer {settings.token.get_secret_value()}"}
        self.client = make_client(settings, headers=auth)

    async def push(self, item):
        marker = os.environ.get("RECORDER_HANG_MARKER")
        if marker:  # the run is stored; stop here, before anything is sent, until killed
            open(marker, "w").write("pushing")
            time.sleep(60)
        body = {"value": item.value, "comment": item.comment}
        _, raw = await request_json(self.client, "PUT", f"/items/{item.item}",
                                    retry=self.settings.retry, sleep=self.runtime.sleep,
                                    json_body=body, what="recorder push")
        return raw

    async def aclose(self):
        await self.client.aclose()


PUBLISHER = PublisherType("recorder", "destinations", Settings, lambda n, s, r: Recorder(s, r))
"""


@pytest.fixture
def site(tmp_path: Path) -> Path:
    where = tmp_path / "site"
    where.mkdir()
    (where / "okr_recorder.py").write_text(PLUGIN)
    dist = where / "okr_recorder-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: okr-recorder\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text(
        "[okrsync.publishers]\nrecorder = okr_recorder:PUBLISHER\n"
    )
    importlib.invalidate_caches()
    return where


def test_a_kill_between_the_store_write_and_the_push_leaves_it_pending_and_sent_once(
    tmp_path: Path, site: Path
) -> None:
    with (
        StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as sim,
        Receiver() as tool,
    ):
        krs = [
            kr_yaml("tickets", "support_tickets_month", push="{tool: T-1}"),
            kr_yaml("steps", "checkout_steps", start=9, target=6, push="{tool: T-2}"),
        ]
        destinations = f"destinations:\n  tool:\n    type: recorder\n    url: {tool.url}\n"
        destinations += "    token: ${TOOL_TOKEN}\n"
        mappings = tmp_path / "mappings"
        mappings.mkdir()
        (mappings / "connections.yaml").write_text(connections_yaml(sim.url) + destinations)
        (mappings / "okrs.yaml").write_text(mapping([objective_yaml("obj", krs)]))
        url = f"sqlite:///{tmp_path / 'okrsync.db'}"
        env = okrsync_env(mappings, url, log_format="json")
        env["TOOL_TOKEN"] = TOOL_TOKEN
        env["PYTHONPATH"] = os.pathsep.join([str(site), env.get("PYTHONPATH", "")])
        marker = tmp_path / "pushing"
        cmd = [sys.executable, "-m", "okrsync", "sync"]

        hung = subprocess.Popen(
            cmd, env={**env, "RECORDER_HANG_MARKER": str(marker)},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + 60
            while not marker.exists():
                assert hung.poll() is None, hung.communicate()
                assert time.monotonic() < deadline, "the push never started"
                time.sleep(0.05)
            with Store.open(url) as st:
                assert len(st.runs()) == 1  # the run was stored before the push began
                assert st.accepted() == {}
        finally:
            hung.send_signal(signal.SIGKILL)
            hung.communicate(timeout=30)
        assert hung.returncode == -signal.SIGKILL
        assert tool.received == []

        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert sorted(g.item for g in tool.received) == ["T-1", "T-2"]  # each exactly once
        again = subprocess.run([*cmd, "--all"], env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        assert len(tool.received) == 2  # the same values: nothing pushed again
        with Store.open(url) as st:
            accepted = {item: a.value for (_, item), a in st.accepted().items()}
        assert accepted == {g.item: g.value for g in tool.received}


def test_killed_mid_push_into_okr_tracker_the_next_sync_sends_each_value_once(
    tmp_path: Path,
) -> None:
    """A built-in destination: the tool holds the first pushes unanswered and the process dies."""
    items = {
        "krTickets0000000001": okr.Item(okr.DEMO_PARENT),
        "krSteps000000000002": okr.Item(okr.DEMO_PARENT),
    }
    with (
        StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as sim,
        okr.OkrTrackerSimulator(key_results=items) as tool,
    ):
        krs = [
            kr_yaml("tickets", "support_tickets_month", push='{okrs: "krTickets0000000001"}'),
            kr_yaml(
                "steps", "checkout_steps", start=9, target=6, push='{okrs: "krSteps000000000002"}'
            ),
        ]
        destinations = (
            f"destinations:\n  okrs:\n    type: okr-tracker\n    url: {tool.url}\n"
            "    api_key: ${OKR_API_KEY}\n    client_id: okrsync\n"
            "    client_secret: ${OKR_CLIENT_SECRET}\n"
        )
        mappings = tmp_path / "mappings"
        mappings.mkdir()
        (mappings / "connections.yaml").write_text(connections_yaml(sim.url) + destinations)
        (mappings / "okrs.yaml").write_text(mapping([objective_yaml("obj", krs)]))
        url = f"sqlite:///{tmp_path / 'okrsync.db'}"
        env = okrsync_env(mappings, url, log_format="json")
        env |= {"OKR_API_KEY": okr.DEMO_API_KEY, "OKR_CLIENT_SECRET": okr.DEMO_CLIENT_SECRET}
        cmd = [sys.executable, "-m", "okrsync", "sync"]
        tool.add_fault(r"/keyres/.*", Fault.hang(30), times=2)  # both pushes go unanswered

        hung = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 60
            while len(tool.requests) < 2:
                assert hung.poll() is None, hung.communicate()
                assert time.monotonic() < deadline, "the pushes never started"
                time.sleep(0.05)
        finally:
            hung.send_signal(signal.SIGKILL)
            hung.communicate(timeout=30)
        assert hung.returncode == -signal.SIGKILL
        assert tool.received == []
        with Store.open(url) as st:
            assert len(st.runs()) == 1  # stored
            assert st.accepted() == {}  # nothing accepted

        done = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        assert sorted(r.id for r in tool.received) == sorted(items)  # each exactly once
        again = subprocess.run([*cmd, "--all"], env=env, capture_output=True, text=True, timeout=60)
        assert again.returncode == 0, again.stderr
        assert len(tool.received) == 2
