"""Status benchmark: `okrsync status --json` over a store of 10,000 key results.

    python bench/status.py [--krs 10000] [--runs 3] [--repeat 3] [--pg URL]

The organisation is bench/sync.py's; the store gets ``--runs`` runs of one
measurement per key result (so each has a history for its forecast), written
directly. Then ``okrsync status --json`` runs as a real process ``--repeat``
times; printed: its wall time (median) and peak RSS, per store (SQLite, and
PostgreSQL when ``--pg`` names one; a schema of its own is made and dropped).
Target: under 2 s on both.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

NOW = datetime(2026, 11, 15, tzinfo=UTC)
FAKE_SIMS = {
    "jira": {"url": "https://jira.invalid"},
    "salesforce": {"domain": "login", "ca_file": "/nonexistent.pem", "username": "b@example.com"},
    "stats": {"url": "https://stats.invalid"},
}


def fill(url: str, directory: Path, runs: int) -> int:
    """Write ``runs`` runs, each measuring every key result; the number of key results."""
    from okrsync.config.loader import load
    from okrsync.config.registry import Registry
    from okrsync.domain.records import MeasurementRecord, RunRecord
    from okrsync.store.database import Store

    config = load(directory, Registry.default(), secrets="skip")
    with Store.open(url) as store:
        for n in range(runs):
            at = NOW - timedelta(days=7 * (runs - n))
            records = [
                MeasurementRecord(kr_id, at, "ok", float(1000 * n + i), connection="stats")
                for i, kr_id in enumerate(config.krs)
            ]
            store.record_run(RunRecord(at, at + timedelta(seconds=9), "ok", "sync"), records)
    return len(config.krs)


def status_once(url: str, directory: Path) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one `okrsync status --json` process."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
    env["OKRSYNC_LOG_LEVEL"] = "warning"
    began = time.perf_counter()
    cmd = [sys.executable, "-c", STATUS_CHILD, url, str(directory)]
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True)
    wall = time.perf_counter() - began
    return wall, float(out.stdout.strip().splitlines()[-1])


# The child runs the CLI in-process, then prints its own peak RSS (RUSAGE_CHILDREN would
# report the largest of all children so far, not this one's).
STATUS_CHILD = """
import contextlib, io, resource, sys
from okrsync.cli.app import main
out = io.StringIO()
with contextlib.redirect_stdout(out), contextlib.suppress(SystemExit):
    main(["status", "--json", "--store", sys.argv[1], "--mappings", sys.argv[2]])
assert '"objectives"' in out.getvalue(), out.getvalue()[:300]
print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)
"""


def measure(label: str, url: str, directory: Path, args: argparse.Namespace) -> None:
    krs = fill(url, directory, args.runs)
    walls, rss = [], []
    for _ in range(args.repeat):
        wall, peak = status_once(url, directory)
        walls.append(wall)
        rss.append(peak)
    shown = ", ".join(f"{w:.2f}" for w in walls)
    print(f"  {label:<10} {krs} key results, {args.runs} runs of history")
    print(f"  {'':<10} status wall {statistics.median(walls):.2f} s (median of {args.repeat}: {shown}),"
          f" peak RSS {max(rss):.0f} MB  (target < 2 s)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--krs", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pg", help="a PostgreSQL URL to measure too (a schema is made there)")
    args = parser.parse_args()

    import sync as bench_sync

    print(f"okrsync status benchmark, {datetime.now(UTC):%Y-%m-%d}, {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="okrsync-bench-status-") as tmp:
        directory = Path(tmp) / "mappings"
        directory.mkdir()
        bench_sync.generate(directory, args.krs, 10, 0.3, FAKE_SIMS, 16)
        measure("SQLite", f"sqlite:///{Path(tmp) / 'status.db'}", directory, args)
        if args.pg:
            import sqlalchemy as sa

            from okrsync.store.database import normalise_url

            base = normalise_url(args.pg)
            schema = f"bench_{uuid.uuid4().hex[:8]}"
            engine = sa.create_engine(base, isolation_level="AUTOCOMMIT")
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
            try:
                url = base.update_query_dict({"options": f"-csearch_path={schema}"})
                measure("PostgreSQL", url.render_as_string(hide_password=False), directory, args)
            finally:
                with engine.connect() as conn:
                    conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')


if __name__ == "__main__":
    main()
