"""Push benchmark: 10,000 changed key results into one destination, against its rate limit.

    python bench/push.py [--krs 10000] [--rate 1000] [--concurrency 16] [--latency 0.01]

The destination is ``notion`` and its simulator runs in a process of its own
(as the vendor would be remote), answering each PATCH ``--latency`` late.
The store holds one good value per key result that no item has accepted
yet, so every one is due. Printed: the push stage's wall time against its
lower bound, ``max(N / rate, N * latency / concurrency)`` (the destination's
own pace, or what its concurrency allows), the ratio (target ≤ 1.2), pushes
a second, okrsync's CPU per push and what the simulator received.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

TOKEN = "ntn_bench_token_4f2a9c1e7b"  # noqa: S105 - the simulator's token
SERVE = """
import json, sys
from okrsync.demo.simulators.destinations.notion import NotionSimulator
count, token, latency = int(sys.argv[1]), sys.argv[2], float(sys.argv[3])
sim = NotionSimulator(token=token, latency=latency).start()
for i in range(count):
    sim.add_page(f"{i:032x}")
print(json.dumps({"url": sim.url}), flush=True)
sys.stdin.read()
print(json.dumps({"received": len(sim.received)}), flush=True)
sim.stop()
"""


def write_mappings(directory: Path, krs: int, url: str, rate: float, concurrency: int) -> None:
    """``krs`` manual key results, each pushed to its own Notion page."""
    connections = (
        "version: 1\nconnections: {}\ndestinations:\n  notion:\n    type: notion\n"
        f"    url: {url}\n    token: ${{BENCH_NOTION_TOKEN}}\n    rate_limit: {rate}\n"
        f"    max_concurrency: {concurrency}\n"
    )
    (directory / "connections.yaml").write_text(connections)
    per_file = 1000
    for start in range(0, krs, per_file):
        objectives = []
        for o in range(start, min(start + per_file, krs), 5):
            lines = [f"  - id: obj-{o}\n    title: Objective {o}\n    owner: o@example.com\n"
                     "    key_results:\n"]  # fmt: skip
            for k in range(o, min(o + 5, krs)):
                lines.append(
                    f"      - id: kr-{k}\n        title: KR {k}\n        owner: o@example.com\n"
                    "        start: 0\n        target: 100\n        source: {manual: true}\n"
                    f'        push: {{notion: "{k:032x}"}}\n'
                )
            objectives.append("".join(lines))
        text = "version: 1\ncycle: 2026\nobjectives:\n" + "".join(objectives)
        (directory / f"okrs-{start // per_file:02d}.yaml").write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--krs", type=int, default=10_000)
    parser.add_argument("--rate", type=float, default=1000.0, help="the destination's rate_limit")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.01, help="seconds per answer")
    args = parser.parse_args()

    from okrsync.config.loader import load
    from okrsync.config.registry import Registry
    from okrsync.domain.records import MeasurementRecord, RunRecord
    from okrsync.publish.push import pending, push
    from okrsync.sdk.connector import Runtime
    from okrsync.service.logging import configure
    from okrsync.store.database import Store

    configure("json", "warning")

    print(f"okrsync push benchmark, {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs")
    cmd = [sys.executable, "-c", SERVE, str(args.krs), TOKEN, str(args.latency)]
    sim = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    assert sim.stdout is not None
    assert sim.stdin is not None
    url = json.loads(sim.stdout.readline())["url"]
    try:
        with tempfile.TemporaryDirectory(prefix="okrsync-bench-push-") as tmp:
            directory = Path(tmp) / "mappings"
            directory.mkdir()
            write_mappings(directory, args.krs, url, args.rate, args.concurrency)
            config = load(directory, Registry.default(), environ={"BENCH_NOTION_TOKEN": TOKEN})
            now = datetime.now(UTC)
            with Store.open(f"sqlite:///{Path(tmp) / 'push.db'}") as store:
                values = [
                    MeasurementRecord(kr_id, now, "ok", float(i % 100), connection="manual")
                    for i, kr_id in enumerate(config.krs)
                ]
                store.record_run(RunRecord(now, now, "ok", "checkin"), values)
                due = pending(config, store.states(), store.accepted(), now)
                cpu0, wall0 = time.process_time(), time.perf_counter()
                done = asyncio.run(push(config, due, Runtime(), store.record_pushes))
                wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
                accepted = len(store.accepted())
        sim.stdin.close()
        received = json.loads(sim.stdout.readline())["received"]
    finally:
        sim.wait(timeout=30)
    failed = sum(p.outcome == "error" for p in done)
    bound = max(len(due) / args.rate, len(due) * args.latency / args.concurrency)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"  {len(due):,} pushes due, {len(done) - failed:,} accepted, {failed} failed; "
          f"the simulator received {received:,}, the store holds {accepted:,} accepted items")  # fmt: skip
    print(f"  rate_limit {args.rate:g}/s, max_concurrency {args.concurrency}, "
          f"{args.latency * 1000:g} ms an answer")  # fmt: skip
    print(f"  wall {wall:.2f} s against a lower bound of {bound:.2f} s: ratio {wall / bound:.3f} "
          f"(target ≤ 1.2); {len(done) / wall:,.0f} pushes/s")  # fmt: skip
    print(f"  CPU {cpu * 1000 / max(1, len(done)):.3f} ms per push, peak RSS {rss:.0f} MB")


if __name__ == "__main__":
    main()
