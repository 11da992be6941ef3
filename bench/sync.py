"""Sync benchmark: a generated organisation of 10,000 key results over simulators.

    python bench/sync.py [--krs 10000] [--latency 0.05] [--concurrency 16] [--repeat 3]

The simulators (Jira Cloud, Salesforce, a JSON stats API) run in a process of
their own with ``--latency`` added to every answer. Key results are split
evenly over the three; 30 % of them share their query with another key result.
Printed: wall time of the sync, the lower bound (requests the simulators
received x latency / concurrency, per connection, the largest), their ratio,
requests sent vs distinct queries, vendor calls per connection, CPU seconds
per key result, peak RSS; then a sample synced the way a hand-written cron
script would (sequential, one request per key result, through the same
clients), extrapolated to the whole organisation, and the speed-up.
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
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TYPES = ("jira", "salesforce", "http")


def day_pairs() -> list[tuple[date, date]]:
    """Distinct (from, to) ranges inside 2026, for distinct queries."""
    first = date(2026, 1, 1)
    return [
        (first + timedelta(days=a), first + timedelta(days=a + span))
        for span in range(7, 300)
        for a in range(0, 365 - span)
    ]


def source(kind: str, a: date, b: date) -> list[str]:
    if kind == "jira":
        return [
            "connection: jira",
            f'jql: project = SUP AND created >= "{a}" AND created <= "{b}"',
            "aggregate: count",
        ]
    if kind == "salesforce":
        soql = f"SELECT COUNT() FROM Opportunity WHERE CloseDate >= {a} AND CloseDate <= {b}"
        return ["connection: salesforce", f"soql: {soql}", "value: totalSize"]
    return [
        "connection: stats",
        f"path: /api/v1/metrics/annual_revenue?from={a}&to={b}",
        "value: $.data.value",
    ]


def generate(
    directory: Path,
    krs: int,
    per_objective: int,
    shared: float,
    sims: dict[str, Any],
    concurrency: int,
) -> dict[str, int]:
    """Write connections.yaml and mapping files; return distinct queries per connection type."""
    directory.mkdir(parents=True, exist_ok=True)
    sf = sims["salesforce"]
    (directory / "connections.yaml").write_text(
        f"""connections:
  jira: {{type: jira, url: "{sims["jira"]["url"]}", flavor: cloud, email: bench@example.com,
         token: "${{BENCH_JIRA_TOKEN}}", max_concurrency: {concurrency}, timeout: 60}}
  salesforce: {{type: salesforce, domain: "{sf["domain"]}", ca_bundle: "{sf["ca_file"]}",
               username: "{sf["username"]}", password: "${{BENCH_SF_PASSWORD}}",
               security_token: "${{BENCH_SF_TOKEN}}", max_concurrency: {concurrency}, timeout: 60}}
  stats: {{type: http, url: "{sims["stats"]["url"]}", max_concurrency: {concurrency}, timeout: 60,
          headers: {{Authorization: "Bearer ${{BENCH_STATS_TOKEN}}"}}}}
"""
    )
    pairs = day_pairs()
    per_type = {t: sum(1 for i in range(krs) if TYPES[i % len(TYPES)] == t) for t in TYPES}
    distinct = {t: max(1, round(n * (1 - shared))) for t, n in per_type.items()}
    seen = dict.fromkeys(TYPES, 0)
    files: dict[int, list[str]] = {}
    for i in range(krs):
        obj = i // per_objective
        lines = files.setdefault(obj // 100, ["cycle: 2026", "objectives:"])
        if i % per_objective == 0:
            lines += [
                f"  - id: obj-{obj}",
                f"    title: Objective {obj}",
                "    owner: o@example.com",
                "    key_results:",
            ]
        kind = TYPES[i % len(TYPES)]
        q = seen[kind] % distinct[kind]
        seen[kind] += 1
        a, b = pairs[q * 7 % len(pairs)] if kind != "jira" else pairs[q]
        lines += [f"      - id: kr-{i}", f"        title: Key result {i}", "        owner: o@example.com",
                  "        start: 0", "        target: 1000000000", "        source:"]  # fmt: skip
        lines += [f"          {line}" for line in source(kind, a, b)]
    for number, lines in files.items():
        (directory / f"team-{number:03d}.yaml").write_text("\n".join(lines) + "\n")
    return distinct


def generate_elsewhere(
    directory: Path, args: argparse.Namespace, sims: dict[str, Any]
) -> dict[str, int]:
    """Generate in a child process: its memory must not count in okrsync's peak RSS."""
    spec = {
        "directory": str(directory), "krs": args.krs, "per_objective": args.per_objective,
        "shared": args.shared, "sims": sims, "concurrency": args.concurrency,
    }  # fmt: skip
    out = subprocess.run(
        [sys.executable, __file__, "--generate", json.dumps(spec)],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    return dict(json.loads(out.stdout))


def naive(sims: dict[str, Any], directory: Path, sample: int) -> float:
    """Seconds per key result, the cron-script way: one request after another through the clients."""
    import httpx
    import jira
    import requests  # noqa: TID251 - the session simple-salesforce needs, as a cron script would pass
    from simple_salesforce import Salesforce

    from okrsync.config.loader import load
    from okrsync.config.registry import Registry

    config = load(directory, Registry.default(), environ=bench_env(sims))
    chosen = list(config.krs.values())[:sample]
    sf_session = requests.Session()
    sf_session.trust_env = False
    sf_session.verify = sims["salesforce"]["ca_file"]
    started = time.perf_counter()
    client = jira.JIRA(server=sims["jira"]["url"], basic_auth=("bench@example.com", sims["jira"]["token"]),
                       max_retries=0)  # fmt: skip
    sf = Salesforce(username=sims["salesforce"]["username"], password=sims["salesforce"]["password"],
                    security_token=sims["salesforce"]["security_token"], domain=sims["salesforce"]["domain"],
                    session=sf_session)  # fmt: skip
    http = httpx.Client(
        base_url=sims["stats"]["url"], headers={"Authorization": f"Bearer {sims['stats']['token']}"}
    )
    for entry in chosen:
        s: Any = entry.source
        if entry.connection_type == "jira":
            len(client.enhanced_search_issues(s.jql, maxResults=5000, fields="id"))
        elif entry.connection_type == "salesforce":
            sf.query(s.soql)["totalSize"]
        else:
            http.get(s.path).json()
    elapsed = time.perf_counter() - started
    http.close()
    client.close()
    sf_session.close()
    return elapsed / len(chosen)


def bench_env(sims: dict[str, Any]) -> dict[str, str]:
    return {
        "BENCH_JIRA_TOKEN": sims["jira"]["token"],
        "BENCH_SF_PASSWORD": sims["salesforce"]["password"],
        "BENCH_SF_TOKEN": sims["salesforce"]["security_token"],
        "BENCH_STATS_TOKEN": sims["stats"]["token"],
    }


SIMS = ("stats", "jira", "salesforce")
Procs = dict[str, subprocess.Popen[str]]


def start_sims(latency: float, cpu: int | None = None) -> tuple[Procs, dict[str, Any]]:
    """One process per simulator; returns the processes and what each printed."""
    procs: Procs = {}
    pin = [] if cpu is None else ["--cpu", str(cpu)]
    for name in SIMS:
        procs[name] = subprocess.Popen(
            [sys.executable, str(ROOT / "bench" / "simserve.py"), "--latency", str(latency), *pin, name],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
        )  # fmt: skip
    info = {}
    for name, proc in procs.items():
        assert proc.stdout is not None
        info[name] = json.loads(proc.stdout.readline())
    return procs, info


def stop_sims(procs: Procs) -> dict[str, Any]:
    """Requests and CPU seconds per simulator."""
    counts = {}
    for name, proc in procs.items():
        out, _ = proc.communicate(timeout=60)
        counts[name] = json.loads(out.strip().splitlines()[-1])
    return counts


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    if len(sys.argv) == 3 and sys.argv[1] == "--generate":
        spec = json.loads(sys.argv[2])
        distinct = generate(
            Path(spec["directory"]), spec["krs"], spec["per_objective"], spec["shared"],
            spec["sims"], spec["concurrency"],
        )  # fmt: skip
        print(json.dumps(distinct))
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--krs", type=int, default=10_000)
    parser.add_argument("--per-objective", type=int, default=10)
    parser.add_argument("--shared", type=float, default=0.3)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument(
        "--naive-sample", type=int, default=300, help="key results synced the naive way"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="syncs of the organisation; medians quoted"
    )
    parser.add_argument(
        "--json", action="store_true", help="print the figures as one JSON line too"
    )
    parser.add_argument(
        "--no-pin", action="store_true", help="let the simulators share okrsync's CPUs"
    )
    args = parser.parse_args()
    # The simulators stand in for remote vendors: on a machine with 2+ CPUs they
    # get the last CPU and okrsync the others, so the load generator's CPU does
    # not slow the system under test.
    cpus = sorted(os.sched_getaffinity(0))
    sim_cpu_id = cpus[-1] if len(cpus) > 1 and not args.no_pin else None

    os.environ.setdefault("OKRSYNC_LOG_LEVEL", "warning")
    from okrsync.config.loader import load
    from okrsync.config.registry import Registry
    from okrsync.service.logging import configure
    from okrsync.store.database import Store
    from okrsync.sync import run

    configure("json", "warning")
    proc, sims = start_sims(args.latency, sim_cpu_id)
    if sim_cpu_id is not None:
        os.sched_setaffinity(0, set(cpus[:-1]))
    with tempfile.TemporaryDirectory(prefix="okrsync-bench-") as tmp:
        directory = Path(tmp) / "mappings"
        distinct = generate_elsewhere(directory, args, sims)
        cpu0, t0 = cpu(), time.perf_counter()
        config = load(directory, Registry.default(), environ=bench_env(sims))
        load_s, load_cpu = time.perf_counter() - t0, cpu() - cpu0
        walls, cpu_runs = [], []
        rss_first = 0.0
        for attempt in range(args.repeat):  # a fresh store each time: every sync measures all
            result = None  # as in a service: the previous run's records are gone
            with Store.open(f"sqlite:///{Path(tmp) / f'bench-{attempt}.db'}") as store:
                cpu1, t1 = cpu(), time.perf_counter()
                result = asyncio.run(
                    run.sync(config, store, now=datetime(2026, 11, 15, tzinfo=UTC), force=True)
                )
                walls.append(time.perf_counter() - t1)
                cpu_runs.append(cpu() - cpu1)
            rss_first = rss_first or resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        assert result is not None
        wall, sync_cpu = statistics.median(walls), statistics.median(cpu_runs)
        rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        received = stop_sims(proc)

        proc, sims2 = start_sims(args.latency, sim_cpu_id)
        naive_dir = Path(tmp) / "naive"
        generate_elsewhere(naive_dir, args, sims2)
        per_kr = naive(sims2, naive_dir, args.naive_sample)
        stop_sims(proc)

    requests_by = {name: received[name]["total"] // args.repeat for name in SIMS}
    sim_cpu = round(sum(received[name]["cpu_s"] for name in SIMS), 2)
    bounds = {name: n * args.latency / args.concurrency for name, n in requests_by.items()}
    bound = max(bounds.values())
    naive_total = per_kr * args.krs
    failed = len(result.failed)
    figures = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "pinned": f"okrsync on CPUs {cpus[:-1]}, simulators on CPU {sim_cpu_id}"
        if sim_cpu_id is not None
        else "no",
        "key_results": args.krs,
        "failed": failed,
        "distinct_queries": result.summary["queries"],
        "distinct_by_type": distinct,
        "requests_received": requests_by,
        "vendor_calls_reported": {k: v["calls"] for k, v in result.summary["connections"].items()},
        "load_s": round(load_s, 2),
        "load_cpu_s": round(load_cpu, 2),
        "sync_wall_s": round(wall, 2),
        "sync_wall_runs_s": [round(w, 2) for w in walls],
        "lower_bound_s": round(bound, 2),
        "ratio": round(wall / bound, 3),
        "sync_cpu_s": round(sync_cpu, 2),
        "cpu_ms_per_kr": round(sync_cpu / args.krs * 1000, 3),
        "cpu_ms_per_kr_with_load": round((sync_cpu + load_cpu) / args.krs * 1000, 3),
        "peak_rss_mb": round(rss_mb, 1),
        "peak_rss_after_first_sync_mb": round(rss_first, 1),
        "simulators_cpu_s": sim_cpu,
        "naive_s_per_kr": round(per_kr, 4),
        "naive_sample": args.naive_sample,
        "naive_total_s_extrapolated": round(naive_total, 1),
        "speedup": round(naive_total / wall, 1),
    }
    print(f"okrsync sync benchmark, {figures['date']}, {figures['machine']}")
    print(f"  CPU pinning            {figures['pinned']}")
    print(
        f"  key results            {args.krs} ({failed} failed), {args.latency * 1000:.0f} ms latency, {args.concurrency} concurrent per connection"
    )
    print(f"  distinct queries       {result.summary['queries']} {distinct}")
    print(f"  requests received      {requests_by} per sync (login included)")
    print(f"  vendor calls reported  {figures['vendor_calls_reported']}")
    print(f"  load mappings          {load_s:.2f} s wall, {load_cpu:.2f} s CPU")
    print(
        f"  sync wall time         {wall:.2f} s  (median of {args.repeat}: "
        + ", ".join(f"{w:.2f}" for w in walls)
        + ")"
    )
    print(
        f"  lower bound            {bound:.2f} s  (per connection: "
        + ", ".join(f"{k} {v:.2f}" for k, v in bounds.items())
        + ")"
    )
    print(f"  ratio                  {wall / bound:.3f}  (target ≤ 1.2)")
    print(
        f"  CPU per key result     {sync_cpu / args.krs * 1000:.3f} ms  (target ≤ 1 ms; {((sync_cpu + load_cpu) / args.krs * 1000):.3f} ms with loading)"
    )
    print(
        f"  peak RSS               {rss_mb:.1f} MB after {args.repeat} syncs, {rss_first:.1f} MB after the first  (target ≤ 150 MB)"
    )
    print(f"  simulators' CPU        {sim_cpu:.2f} s in their own processes (not counted above)")
    print(
        f"  cron-script way        {per_kr * 1000:.1f} ms per key result over {args.naive_sample}, ≈ {naive_total:.0f} s for {args.krs}"
    )
    print(f"  speed-up               {naive_total / wall:.1f}×")
    if args.json:
        print(json.dumps(figures))
    if failed:
        print(f"  FAILED key results: {[r.error for r in result.failed[:3]]}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
