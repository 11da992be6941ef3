"""Run one simulator (stats, jira or salesforce) in a process of its own, for the benchmark.

Prints one JSON line with its address and credentials, serves until its
standard input closes, then prints one JSON line with the requests it
received and the CPU it spent. A process per simulator keeps their CPU out of
okrsync's figures and lets them answer in parallel, as separate vendors would.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
from collections import Counter

from okrsync.demo.simulators.jira import DEMO_TOKEN, JiraSimulator
from okrsync.demo.simulators.salesforce import (
    DEMO_PASSWORD,
    DEMO_SECURITY_TOKEN,
    DEMO_USERNAME,
    SalesforceSimulator,
)
from okrsync.demo.simulators.stats import StatsSimulator

STATS_TOKEN = "bench-token"  # noqa: S105 - a simulator's token


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("name", choices=["stats", "jira", "salesforce"])
    parser.add_argument("--cpu", type=int, help="pin this process to one CPU")
    args = parser.parse_args()
    if args.cpu is not None:
        os.sched_setaffinity(0, {args.cpu})
    sim: StatsSimulator | JiraSimulator | SalesforceSimulator
    if args.name == "stats":
        sim = StatsSimulator(token=STATS_TOKEN, latency=args.latency).start()
        info = {"url": sim.url, "token": STATS_TOKEN}
    elif args.name == "jira":
        sim = JiraSimulator("cloud", email=None, token=DEMO_TOKEN, latency=args.latency).start()
        info = {"url": sim.url, "token": DEMO_TOKEN}
    else:
        sim = SalesforceSimulator(latency=args.latency, daily_limit=10_000_000).start()
        info = {
            "domain": sim.domain, "ca_file": str(sim.ca_file), "username": DEMO_USERNAME,
            "password": DEMO_PASSWORD, "security_token": DEMO_SECURITY_TOKEN,
        }  # fmt: skip
    print(json.dumps(info), flush=True)
    sys.stdin.read()  # until the benchmark closes our stdin
    paths = Counter(
        r.path.rsplit("/", 1)[0] if args.name == "stats" else r.path for r in sim.requests
    )
    sim.stop()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    counts = {
        "paths": dict(paths),
        "total": sum(paths.values()),
        "cpu_s": usage.ru_utime + usage.ru_stime,
    }
    print(json.dumps(counts), flush=True)


if __name__ == "__main__":
    main()
