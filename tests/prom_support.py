"""A real Prometheus server for the connector's tests, scraping a tiny exporter.

:class:`RealPrometheus` serves known metrics in the text exposition format
from a :class:`~okrsync.demo.simulators.server.FakeServer`, starts the
``prometheus`` binary on free 127.0.0.1 ports with a 1 s scrape interval and
basic auth from a ``--web.config.file``, and waits (bounded) until a query
returns the exporter's value. Prometheus needs ~5 s before its first scrape
(its discovery and scrape managers apply targets on a 5 s tick), so one
server serves the whole test module.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx

from okrsync.demo.simulators.server import FakeServer, Response

REQUIRE_ENV = "OKRSYNC_TEST_REQUIRE_PROMETHEUS"
USERNAME = "okrsync"
PASSWORD = "okrsync-test-pw"
# bcrypt of PASSWORD at cost 4 (fast to check), made once with
# crypt.crypt(PASSWORD, crypt.mksalt(crypt.METHOD_BLOWFISH, rounds=16)); the
# tests prove it: every query authenticates with PASSWORD against it.
PASSWORD_HASH = "$2b$04$/p96hekz1/ges714wAsSTueGewXo0xMLmvdfipUC7QRgs1t6c5cTe"
UPTIME = 0.9975
REQUESTS = {"200": 1200, "500": 3}
JOB = "okrsync-test"
READY_WITHIN = 20.0
EXPOSITION = (
    "# HELP okrsync_test_uptime_ratio Share of successful probes.\n"
    "# TYPE okrsync_test_uptime_ratio gauge\n"
    f"okrsync_test_uptime_ratio {UPTIME}\n"
    "# HELP okrsync_test_requests_total Requests served.\n"
    "# TYPE okrsync_test_requests_total counter\n"
    + "".join(f'okrsync_test_requests_total{{code="{c}"}} {n}\n' for c, n in REQUESTS.items())
)


def binary() -> str | None:
    found = shutil.which("prometheus")
    if found is None and os.access("/usr/bin/prometheus", os.X_OK):
        found = "/usr/bin/prometheus"
    return found


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class RealPrometheus:
    """``launch()`` returns at once; ``ready()`` waits for the first sample (bounded).

    Splitting them lets a test module launch the server first and run its
    other tests while Prometheus starts.
    """

    def __init__(self, executable: str, workdir: Path) -> None:
        self.executable = executable
        self.workdir = workdir
        self.exporter = FakeServer()
        self.exporter.route("GET", "/metrics", lambda _r: _exposition())
        self.process: subprocess.Popen[bytes] | None = None
        self.port = 0
        self.started_at = datetime.now(UTC)
        self._ready = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.exporter.port}"

    def launch(self) -> Self:
        self.exporter.start()
        (self.workdir / "prometheus.yml").write_text(
            "global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n"
            f"scrape_configs:\n  - job_name: {JOB}\n"
            f"    static_configs:\n      - targets: ['{self.target}']\n"
        )
        (self.workdir / "web.yml").write_text(
            f"basic_auth_users:\n  {USERNAME}: '{PASSWORD_HASH}'\n"
        )
        self.started_at = datetime.now(UTC)
        self._spawn()
        return self

    def _spawn(self) -> None:
        self.port = free_port()
        with self._log().open("wb") as out:
            self.process = subprocess.Popen(
                [
                    self.executable,
                    f"--config.file={self.workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={self.workdir / 'data'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    f"--web.config.file={self.workdir / 'web.yml'}",
                    "--log.level=warn",
                ],
                stdout=out,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
            )

    def _log(self) -> Path:
        return self.workdir / f"prometheus-{self.port}.log"

    def ready(self) -> Self:
        """Wait until the exporter's value is queryable; raise with the log if it never is."""
        for _ in range(3):  # a probed free port may be taken before Prometheus binds it
            if self._ready or self._wait():
                self._ready = True
                return self
            self._spawn()
        raise RuntimeError(f"prometheus exited at start:\n{self._tail()}")

    def _wait(self) -> bool:
        """True once a sample is in; False if the process died."""
        deadline = time.monotonic() + READY_WITHIN
        with httpx.Client(base_url=self.url, auth=(USERNAME, PASSWORD), timeout=2) as client:
            while time.monotonic() < deadline:
                if self.process is None or self.process.poll() is not None:
                    return False
                # a whole second ago: tests evaluate at whole seconds (render truncates)
                params = {"query": "okrsync_test_uptime_ratio", "time": str(int(time.time()) - 1)}
                try:
                    result = client.get("/api/v1/query", params=params).json()["data"]["result"]
                except (httpx.HTTPError, ValueError, KeyError):
                    result = []
                if result and result[0]["value"][1] == str(UPTIME):
                    return True
                time.sleep(0.1)
        raise RuntimeError(f"prometheus had no sample within {READY_WITHIN:g}s:\n{self._tail()}")

    def _tail(self) -> str:
        return self._log().read_text(errors="replace")[-2000:]

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        self.exporter.stop()

    def __enter__(self) -> Self:
        try:
            return self.launch().ready()
        except BaseException:
            self.stop()
            raise

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def _exposition() -> Response:
    head = {"Content-Type": "text/plain; version=0.0.4; charset=utf-8"}
    return Response(200, EXPOSITION.encode(), head)


__all__ = [
    "JOB",
    "PASSWORD",
    "REQUESTS",
    "REQUIRE_ENV",
    "UPTIME",
    "USERNAME",
    "RealPrometheus",
    "binary",
]
