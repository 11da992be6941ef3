"""Scale benchmark: the sync, validate and status from 1,000 to 100,000 key results.

    python bench/scale.py [--sizes 1000,10000,50000,100000] [--latency 0.05]
                          [--concurrency 16] [--repeat 1] [--cli-repeat 3] [--json]

The organisation and the simulators are bench/sync.py's (imported, not
copied): per size, fresh simulators in processes of their own, the
organisation generated in a child process, then **the sync in a fresh child
process**, so its peak RSS (``ru_maxrss``) is that size's alone. The child
loads the mappings (CPU seconds), syncs ``--repeat`` times into fresh SQLite
stores (median wall and CPU quoted), then adds two earlier runs of one value
per key result to the first store, as bench/status.py does, so the forecasts
have points. Then ``okrsync validate`` and ``okrsync status --json`` on that
store run as real processes (``--cli-repeat`` times, median). One row per
size; the targets are printed beside the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

import sync as bench_sync  # noqa: E402 - bench/sync.py, found through the path above

NOW = datetime(2026, 11, 15, tzinfo=UTC)
TARGETS = {"ratio": 1.2, "cpu_ms_per_kr": 0.5, "rss_mb_at_100k": 400.0, "validate_s_at_100k": 10.0,
           "status_s": 2.0}  # fmt: skip
HISTORY_RUNS = 2  # earlier runs added after the sync: three points per key result


def child(spec: dict[str, Any]) -> dict[str, Any]:
    """In a fresh process: load, sync ``repeat`` times, add history; the figures."""
    os.environ.setdefault("OKRSYNC_LOG_LEVEL", "warning")
    from okrsync.config.loader import load
    from okrsync.config.registry import Registry
    from okrsync.service.logging import configure
    from okrsync.store.database import Store
    from okrsync.sync import run

    configure("json", "warning")
    directory, stores = Path(spec["directory"]), Path(spec["stores"])
    cpu0 = bench_sync.cpu()
    config = load(directory, Registry.default(), environ=bench_sync.bench_env(spec["sims"]))
    load_cpu = bench_sync.cpu() - cpu0
    walls, cpus, failed, rss_first = [], [], 0, 0.0
    for attempt in range(spec["repeat"]):
        with Store.open(f"sqlite:///{stores / f'sync-{attempt}.db'}") as store:
            cpu1, t1 = bench_sync.cpu(), time.perf_counter()
            result = asyncio.run(run.sync(config, store, now=NOW, force=True))
            walls.append(time.perf_counter() - t1)
            cpus.append(bench_sync.cpu() - cpu1)
        failed = max(failed, len(result.failed))
        del result
        rss_first = rss_first or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    add_history(f"sqlite:///{stores / 'sync-0.db'}", list(config.krs))
    return {"load_cpu_s": load_cpu, "walls": walls, "cpus": cpus, "failed": failed,
            "rss_first_mb": rss_first, "rss_mb": rss}  # fmt: skip


def add_history(url: str, kr_ids: list[str]) -> None:
    """Two earlier runs of one value per key result; the states the sync wrote stay."""
    from okrsync.domain.records import MeasurementRecord, RunRecord
    from okrsync.store.database import Store

    with Store.open(url) as store:
        for n in range(HISTORY_RUNS):
            at = NOW - timedelta(days=7 * (HISTORY_RUNS - n))
            records = [
                MeasurementRecord(
                    kr, at, "ok", float(1000 * n + i), connection="stats", as_of=at, backfilled=True
                )
                for i, kr in enumerate(kr_ids)
            ]
            store.record_backfill(
                RunRecord(at, at + timedelta(seconds=9), "ok", "backfill"), records
            )


def cli(args: list[str], env: dict[str, str], out: Path) -> tuple[float, float, int, float]:
    """Wall seconds, peak RSS (MB), exit code and CPU seconds of one ``okrsync …`` process.

    Its standard output goes to ``out``. CPU seconds tell what wall time would be on an
    idle machine when something else shares it.
    """
    script = Path(sys.executable).with_name("okrsync")
    command = [str(script)] if script.exists() else [sys.executable, "-m", "okrsync"]
    with out.open("wb") as sink:
        began = time.perf_counter()
        proc = subprocess.Popen([*command, *args], env=env, stdout=sink, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)  # this child's own rusage, not all children's
        wall = time.perf_counter() - began
    proc.returncode = os.waitstatus_to_exitcode(status)
    assert proc.stderr is not None
    errors = proc.stderr.read().decode(errors="replace")
    if proc.returncode not in (0,):
        print(f"  okrsync {args[0]} exited {proc.returncode}: {errors[-500:]}", file=sys.stderr)
    return wall, usage.ru_maxrss / 1024, proc.returncode, usage.ru_utime + usage.ru_stime


def cli_env(extra: dict[str, str]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
    env["OKRSYNC_LOG_LEVEL"] = "warning"
    return env | extra


def measure(size: int, args: argparse.Namespace, sim_cpu: int | None) -> dict[str, Any]:
    procs, sims = bench_sync.start_sims(args.latency, sim_cpu)
    try:
        with tempfile.TemporaryDirectory(prefix="okrsync-bench-scale-") as tmp:
            directory = Path(tmp) / "mappings"
            knobs = argparse.Namespace(krs=size, per_objective=10, shared=0.3,
                                       concurrency=args.concurrency)  # fmt: skip
            bench_sync.generate_elsewhere(directory, knobs, sims)
            spec = {"directory": str(directory), "stores": tmp, "sims": sims, "repeat": args.repeat}
            began = time.perf_counter()
            out = subprocess.run(
                [sys.executable, __file__, "--child", json.dumps(spec)],
                capture_output=True, text=True, check=False,
            )  # fmt: skip
            if out.returncode:
                sys.exit(f"sync child failed at {size}:\n{out.stderr[-3000:]}")
            synced = json.loads(out.stdout.strip().splitlines()[-1])
            synced["child_s"] = time.perf_counter() - began
            # A mapping cache of this size's own: the first status checks every file (cold,
            # as after each edit of the mappings), the others reuse it (warm).
            env = cli_env(bench_sync.bench_env(sims) | {"OKRSYNC_CACHE_DIR": f"{tmp}/cache"})
            sink = Path(tmp) / "out"
            url = f"sqlite:///{Path(tmp) / 'sync-0.db'}"
            validate = [
                cli(["validate", str(directory)], env, sink) for _ in range(args.cli_repeat)
            ]
            status_args = ["status", "--json", "--store", url, "--mappings", str(directory)]
            cold = cli(status_args, env, sink)
            status = [cli(status_args, env, sink) for _ in range(args.cli_repeat)]
            with sink.open("rb") as shown:
                assert shown.read(20).startswith(b"{"), "status --json printed no JSON"
    finally:
        received = bench_sync.stop_sims(procs)
    requests = {name: received[name]["total"] // args.repeat for name in bench_sync.SIMS}
    bounds = {name: n * args.latency / args.concurrency for name, n in requests.items()}
    bound = max(bounds.values())
    wall, sync_cpu = statistics.median(synced["walls"]), statistics.median(synced["cpus"])
    return {
        "key_results": size,
        "failed": synced["failed"],
        "load_cpu_s": round(synced["load_cpu_s"], 2),
        "sync_wall_s": round(wall, 2),
        "sync_wall_runs_s": [round(w, 2) for w in synced["walls"]],
        "requests_received": requests,
        "lower_bound_s": round(bound, 2),
        "ratio": round(wall / bound, 3),
        "sync_cpu_s": round(sync_cpu, 2),
        "cpu_ms_per_kr": round(sync_cpu / size * 1000, 3),
        "peak_rss_mb": round(synced["rss_first_mb"], 1),
        "peak_rss_after_all_mb": round(synced["rss_mb"], 1),
        "validate_s": round(statistics.median(w for w, *_ in validate), 2),
        "validate_runs_s": [round(w, 2) for w, *_ in validate],
        "validate_cpu_s": round(statistics.median(c for *_, c in validate), 2),
        "validate_rss_mb": round(max(r for _, r, *_ in validate), 1),
        "validate_ok": all(code == 0 for _, _, code, _ in validate),
        "status_cold_s": round(cold[0], 2),
        "status_cold_rss_mb": round(cold[1], 1),
        "status_cold_cpu_s": round(cold[3], 2),
        "status_cpu_s": round(statistics.median(c for *_, c in status), 2),
        "status_s": round(statistics.median(w for w, *_ in status), 2),
        "status_runs_s": [round(w, 2) for w, *_ in status],
        "status_rss_mb": round(max(r for _, r, *_ in status), 1),
        "status_ok": all(code == 0 for _, _, code, _ in [cold, *status]),
    }


def verdicts(row: dict[str, Any]) -> dict[str, bool | None]:
    """Met (True), missed (False) or no target at this size (None), per figure."""
    at_100k = row["key_results"] >= 100_000
    return {
        "ratio": row["ratio"] <= TARGETS["ratio"],
        "cpu": row["cpu_ms_per_kr"] <= TARGETS["cpu_ms_per_kr"],
        "rss": row["peak_rss_mb"] <= TARGETS["rss_mb_at_100k"] if at_100k else None,
        "validate": (row["validate_s"] < TARGETS["validate_s_at_100k"] and row["validate_ok"])
        if at_100k
        else None,
        "status_cold": row["status_cold_s"] < TARGETS["status_s"] and row["status_ok"],
        "status": row["status_s"] < TARGETS["status_s"] and row["status_ok"],
    }


def mark(ok: bool | None) -> str:
    return "" if ok is None else (" ✓" if ok else " ✗")


HEADER = (
    f"{'KRs':>7} {'load CPU':>9} {'sync wall':>10} {'bound':>7} {'ratio':>7} "
    f"{'CPU/KR':>9} {'peak RSS':>10} {'validate':>10} {'status cold':>11} {'warm':>8}"
)


def row_text(row: dict[str, Any]) -> str:
    v = verdicts(row)
    return (
        f"{row['key_results']:>7,} {row['load_cpu_s']:>7.2f} s {row['sync_wall_s']:>8.2f} s "
        f"{row['lower_bound_s']:>5.2f} s {row['ratio']:>5.2f}{mark(v['ratio']):2} "
        f"{row['cpu_ms_per_kr']:>5.3f} ms{mark(v['cpu']):2}"
        f"{row['peak_rss_mb']:>6.0f} MB{mark(v['rss']):2}"
        f"{row['validate_s']:>6.2f} s{mark(v['validate']):2}"
        f"{row['status_cold_s']:>8.2f} s{mark(v['status_cold']):2}"
        f"{row['status_s']:>5.2f} s{mark(v['status']):2}"
        + ("" if not row["failed"] else f"  ({row['failed']} FAILED)")
    )


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--child":
        print(json.dumps(child(json.loads(sys.argv[2]))))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", default="1000,10000,50000,100000", help="key results, commas")
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16, help="per connection, all sizes")
    parser.add_argument("--repeat", type=int, default=1, help="syncs per size; median quoted")
    parser.add_argument("--cli-repeat", type=int, default=3, help="validate/status runs; median")
    parser.add_argument("--json", action="store_true", help="a JSON line per size too")
    parser.add_argument("--no-pin", action="store_true", help="let the simulators share CPUs")
    args = parser.parse_args()
    sizes = [int(s.replace("_", "")) for s in args.sizes.split(",") if s.strip()]
    cpus = sorted(os.sched_getaffinity(0))
    sim_cpu = cpus[-1] if len(cpus) > 1 and not args.no_pin else None
    pinned = f"okrsync on CPUs {cpus[:-1]}, simulators on CPU {sim_cpu}" if sim_cpu is not None else "no"  # fmt: skip
    print(f"okrsync scale benchmark, {datetime.now(UTC):%Y-%m-%d}, {platform.machine()}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}; pinning: {pinned}")  # fmt: skip
    print(f"  {args.latency * 1000:g} ms latency, {args.concurrency} concurrent per connection; "
          f"sync: median of {args.repeat}, validate and warm status: median of {args.cli_repeat}")  # fmt: skip
    print("  status cold: the first after the mappings changed (checks every file); "
          "warm: with the mapping cache")  # fmt: skip
    print(f"  targets: ratio ≤ {TARGETS['ratio']}, CPU ≤ {TARGETS['cpu_ms_per_kr']} ms per KR, "
          f"status < {TARGETS['status_s']:g} s at every size; at 100,000: peak RSS ≤ "
          f"{TARGETS['rss_mb_at_100k']:g} MB, validate < {TARGETS['validate_s_at_100k']:g} s")  # fmt: skip
    print(HEADER, flush=True)
    rows = []
    for size in sizes:
        parent_cpus = set(os.sched_getaffinity(0))
        if sim_cpu is not None:  # the simulators start on every CPU and pin themselves
            os.sched_setaffinity(0, set(cpus[:-1]))  # what this starts runs beside them
        try:
            row = measure(size, args, sim_cpu)
        finally:
            os.sched_setaffinity(0, parent_cpus)
        rows.append(row)
        print(row_text(row), flush=True)
        if args.json:
            print(json.dumps({"date": f"{datetime.now(UTC):%Y-%m-%d}", **row,
                              "met": verdicts(row)}), flush=True)  # fmt: skip
    missed = [(r["key_results"], k) for r in rows for k, ok in verdicts(r).items() if ok is False]
    print(
        "  all targets met"
        if not missed
        else "  missed: " + ", ".join(f"{k} at {n:,}" for n, k in missed)
    )
    if any(r["failed"] or not (r["validate_ok"] and r["status_ok"]) for r in rows):
        sys.exit(1)


if __name__ == "__main__":
    main()
