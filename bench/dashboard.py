"""Dashboard benchmark: the server's time for its pages and /metrics at 10,000 key results.

    python bench/dashboard.py [--krs 10000] [--runs 3] [--repeat 5]

The organisation and its store are bench/status.py's (``--runs`` runs of one
measurement per key result). ``okrsync serve`` runs as a real process. Each
route is timed ``--repeat`` times cold (a run is written to the store first,
so the server must rebuild the tree, as after every sync) and ``--repeat``
times warm (the same minute and store: the built tree is reused). Printed per
route: the medians from request to last byte on 127.0.0.1 (the server's time,
as nothing else is between), the body size, and the server's peak RSS. For
/metrics, "cold" is a scrape right after a write, which the server answers
with the exposition it built before while it rebuilds; how long until a
scrape shows the write is printed too. Targets: the tree page < 1 s,
/metrics < 0.5 s.
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

TARGETS = {"/": 1.0, "/metrics": 0.5}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Peak resident memory of a running process (VmHWM), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def write_a_run(url: str) -> None:
    """A run with nothing measured (as a sync that found nothing due): a new store generation."""
    from okrsync.domain.records import RunRecord
    from okrsync.store.database import Store

    with Store.open(url, upgrade=False) as store:
        at = datetime.now(UTC)
        store.record_run(RunRecord(at, at, "ok", "bench"), [])


def timed(client: httpx.Client, route: str) -> float:
    began = time.perf_counter()
    response = client.get(route)
    response.raise_for_status()
    return time.perf_counter() - began


def freshness_lag(client: httpx.Client, url: str) -> float:
    """Seconds from a store write until a scrape shows it (the server rebuilds behind)."""
    before = client.get("/metrics").content
    write_a_run(url)
    began = time.perf_counter()
    while client.get("/metrics").content == before:
        time.sleep(0.01)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--krs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    import status as bench_status
    import sync as bench_sync

    print(f"okrsync dashboard benchmark, {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs"
          f" (median of {args.repeat} each)")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="okrsync-bench-dashboard-") as tmp:
        directory = Path(tmp) / "mappings"
        directory.mkdir()
        bench_sync.generate(directory, args.krs, 10, 0.3, bench_status.FAKE_SIMS, 16)
        url = f"sqlite:///{Path(tmp) / 'dashboard.db'}"
        krs = bench_status.fill(url, directory, args.runs)
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
        env["OKRSYNC_LOG_LEVEL"] = "warning"
        cmd = [sys.executable, "-m", "okrsync", "serve", "--mappings", str(directory),
               "--store", url, "--port", str(port)]  # fmt: skip
        server = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            deadline = time.monotonic() + 120
            while True:
                try:
                    if httpx.get(f"{base}/healthz", timeout=5).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                if server.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit(f"serve did not start: {server.stderr.read().decode()[:500]}")  # type: ignore[union-attr]
                time.sleep(0.2)
            some_kr = "kr-42"
            print(
                f"  {krs} key results, {args.runs} runs of history, SQLite; okrsync serve on :{port}"
            )
            with httpx.Client(base_url=base, timeout=60) as client:
                for route in [
                    "/",
                    "/?status=off_track",
                    f"/kr/{some_kr}",
                    "/metrics",
                    "/api/status",
                ]:
                    client.get(route).raise_for_status()
                    cold, warm = [], []
                    for _ in range(args.repeat):
                        write_a_run(url)  # what every sync does: the tree must be rebuilt
                        cold.append(timed(client, route))
                    for _ in range(args.repeat):
                        warm.append(timed(client, route))
                    if route == "/metrics":
                        lags = [freshness_lag(client, url) for _ in range(args.repeat)]
                        print(f"  {'':<20} a write shows in /metrics after {statistics.median(lags):.3f} s"
                              " (median; the previous exposition is served meanwhile)")  # fmt: skip
                    size = len(client.get(route).content) / 1024
                    target = TARGETS.get(route)
                    verdict = ""
                    if target is not None:
                        met = statistics.median(cold) < target
                        verdict = f"  target < {target:g} s cold: {'met' if met else 'MISSED'}"
                    print(f"  {route:<20} cold {statistics.median(cold):6.3f} s, "
                          f"warm {statistics.median(warm):6.3f} s, {size:6.0f} KiB{verdict}")  # fmt: skip
            print(f"  server peak RSS {rss_mb(server.pid):.0f} MB")
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
