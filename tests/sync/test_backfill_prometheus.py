"""``okrsync backfill`` against a real Prometheus whose TSDB holds a month of history.

The history is written with ``promtool tsdb create-blocks-from openmetrics``
(Debian's prometheus package), so a query evaluated at a past instant has an
answer there; okrsync's prometheus connector evaluates at the as-of, so each
step asks for that day. A second backfill adds nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.store.database import Store
from tests.prom_support import REQUIRE_ENV, free_port
from tests.support import mapping

START = datetime(2026, 10, 1, tzinfo=UTC)
HOURS = 24 * 20


def signups(at: datetime) -> float:
    """The metric's value at ``at`` (hourly samples): 5 sign-ups an hour since 1 Oct."""
    return 5.0 * int((at - START).total_seconds() // 3600)


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    binary, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if binary is None or promtool is None:
        if os.environ.get(REQUIRE_ENV) == "1":
            pytest.fail(f"prometheus and promtool are needed ({REQUIRE_ENV}=1)")
        pytest.skip("prometheus/promtool not installed (apt-get install prometheus)")
    work = tmp_path_factory.mktemp("prom-history")
    lines = ["# TYPE okr_signups gauge"]
    for h in range(HOURS + 1):
        at = START + timedelta(hours=h)
        lines.append(f"okr_signups {signups(at):g} {at.timestamp():.0f}")
    (work / "history.om").write_text("\n".join(lines) + "\n# EOF\n")
    made = subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", str(work / "history.om"),
         str(work / "data")], capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    (work / "prometheus.yml").write_text("global:\n  scrape_interval: 1m\n")
    port = free_port()
    log = (work / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={work / 'prometheus.yml'}", f"--storage.tsdb.path={work / 'data'}",
         "--storage.tsdb.retention.time=100y", f"--web.listen-address=127.0.0.1:{port}",
         "--log.level=warn"], stdout=log, stderr=subprocess.STDOUT, cwd=work,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        probe = {"query": "okr_signups", "time": str((START + timedelta(days=3)).timestamp())}
        while True:
            assert process.poll() is None, (work / "prometheus.log").read_text()
            try:
                answer = httpx.get(f"{url}/api/v1/query", params=probe, timeout=2).json()
                if answer["data"]["result"]:
                    break
            except (httpx.TransportError, KeyError, ValueError):
                pass
            assert time.monotonic() < deadline, "the backfilled history never became queryable"
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)
        log.close()


def test_backfill_reads_each_days_value_from_prometheus_once(
    prometheus: str, tmp_path: Path
) -> None:
    directory = tmp_path / "mappings"
    directory.mkdir()
    (directory / "connections.yaml").write_text(
        f"connections:\n  prom:\n    type: prometheus\n    url: {prometheus}\n"
    )
    okrs = (
        "  - id: growth\n    title: Growth\n    owner: o@example.com\n    key_results:\n"
        "      - id: signups\n        title: Sign-ups\n        owner: o@example.com\n"
        "        start: 0\n        target: 5000\n"
        "        source: {connection: prom, promql: okr_signups}\n"
    )
    (directory / "okrs.yaml").write_text(mapping([okrs]))
    url = f"sqlite:///{tmp_path / 's.db'}"
    where = ["--mappings", str(directory), "--store", url]
    runner = CliRunner()
    window = ["--since", "2026-10-02", "--until", "2026-10-15"]
    first = runner.invoke(app, ["backfill", *window, *where])
    assert first.exit_code == 0, first.stdout + first.stderr
    assert "14 step(s), 14 queries (prom 14)" in first.stdout
    assert "stored 14 point(s), 0 failed" in first.stdout
    with Store.open(url) as st:
        points = [m for m in st.history("signups") if m.backfilled]
    assert [(m.measured_at, m.value) for m in points] == [
        (START + timedelta(days=d), signups(START + timedelta(days=d))) for d in range(1, 15)
    ]  # computed here from the samples written, not read back from okrsync
    again = runner.invoke(app, ["backfill", *window, *where])
    assert "0 step(s), 0 queries (none); 14 point(s) already stored" in again.stdout
    with Store.open(url) as st:
        assert sum(1 for m in st.history("signups") if m.backfilled) == 14
