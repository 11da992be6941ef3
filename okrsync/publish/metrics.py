"""``/metrics``: the store's OKR tree in Prometheus text format, with the official client.

Read at scrape time from the store, never from the process's memory, so
``okrsync serve`` beside a ``run`` container (or two ``run`` replicas) gives the
same figures. Names are SPEC §6's contract; labels stay few: ``key_result``,
``objective``, ``team``, and ``connection``/``kind`` for the vendor counters.

Series: 5 per measured key result (value, progress, expected, status,
last success; a key result never measured has only expected and status; a
throttled one adds the refresh its quota allows), 1 per objective with
progress, 1 per connection plus 1 per (connection, error kind) seen, 3 per
quota window a vendor reported (remaining, limit, when), and 3 (sync
duration, last success, build info).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import datetime

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from okrsync import __version__
from okrsync.config.loader import Config
from okrsync.domain.snapshot import ObjectiveView
from okrsync.publish import current
from okrsync.store.database import Store

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
KR_LABELS = ["key_result", "objective", "team"]


def render(config: Config, st: Store, now: datetime) -> bytes:
    """The whole exposition, read from ``st`` as of ``now``."""
    return exposition(current.views(config, st, now), st)


def exposition(views: Iterable[ObjectiveView], st: Store) -> bytes:
    """The exposition of already built views, and of the runs and totals in ``st``."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Families([*tree_families(views), *run_families(st)]))
    return generate_latest(registry)


def tree_families(views: Iterable[ObjectiveView]) -> Iterator[Metric]:
    value = GaugeMetricFamily(
        "okrsync_key_result_value",
        "The key result's last good value, in its unit.",
        labels=KR_LABELS,
    )
    progress = GaugeMetricFamily(
        "okrsync_key_result_progress_ratio",
        "Progress from start to target, 0 to 1 (clamped).",
        labels=KR_LABELS,
    )
    expected = GaugeMetricFamily(
        "okrsync_key_result_expected_progress_ratio",
        "Where progress should be today on a straight line through the cycle.",
        labels=KR_LABELS,
    )
    status = GaugeMetricFamily(
        "okrsync_key_result_status",
        "1 for the key result's current status (the status label).",
        labels=[*KR_LABELS, "status"],
    )
    success = GaugeMetricFamily(
        "okrsync_key_result_last_success_timestamp_seconds",
        "When the key result's last good value was measured (Unix time).",
        labels=KR_LABELS,
    )
    allowed = GaugeMetricFamily(
        "okrsync_key_result_refresh_allowed_seconds",
        "A throttled key result's refresh as its vendor's quota allows it (SPEC §8).",
        labels=KR_LABELS,
    )
    objective = GaugeMetricFamily(
        "okrsync_objective_progress_ratio",
        "The objective's rolled-up progress, 0 to 1.",
        labels=["objective", "team"],
    )
    for view in views:
        team = view.team or ""
        if view.progress is not None:
            objective.add_metric([view.id, team], view.progress)
        for kr in view.key_results:
            labels = [kr.id, view.id, team]
            if kr.value is not None:
                value.add_metric(labels, kr.value)
            if kr.progress is not None:
                progress.add_metric(labels, kr.progress)
            expected.add_metric(labels, kr.expected)
            status.add_metric([*labels, kr.status], 1.0)
            if kr.measured_at is not None:
                success.add_metric(labels, kr.measured_at.timestamp())
            if kr.can_refresh is not None:
                allowed.add_metric(labels, kr.can_refresh)
    yield from (value, progress, expected, status, success, allowed, objective)


def run_families(st: Store) -> Iterator[Metric]:
    duration = GaugeMetricFamily(
        "okrsync_sync_duration_seconds", "How long the newest stored sync took."
    )
    last = st.last_run()
    if last is not None and isinstance(last.summary.get("duration_s"), int | float):
        duration.add_metric([], float(last.summary["duration_s"]))
    success = GaugeMetricFamily(
        "okrsync_sync_last_success_timestamp_seconds",
        "When the newest sync that was not failed finished (Unix time; partial counts).",
    )
    completed = st.last_completed_run()
    if completed is not None:
        success.add_metric([], completed.finished_at.timestamp())
    totals = st.totals()
    requests = CounterMetricFamily(
        "okrsync_connection_requests",
        "Requests sent to the connection's vendor, retries included.",
        labels=["connection"],
    )
    for name, n in sorted(totals.requests.items()):
        requests.add_metric([name], n)
    errors = CounterMetricFamily(
        "okrsync_connection_errors",
        "Failed queries of the connection, by error kind.",
        labels=["connection", "kind"],
    )
    for (name, kind), n in sorted(totals.errors.items()):
        errors.add_metric([name, kind], n)
    build = GaugeMetricFamily("okrsync_build_info", "okrsync's version.", labels=["version"])
    build.add_metric([__version__], 1.0)
    yield from (duration, success, requests, errors, *quota_families(st), build)


def quota_families(st: Store) -> Iterator[Metric]:
    """What each vendor last said of its limits: remaining and limit per pool and window."""
    labels = ["pool", "window_seconds", "unit"]
    remaining = GaugeMetricFamily(
        "okrsync_quota_remaining",
        "What the vendor last said is left of a quota window (Sforce-Limit-Info, X-RateLimit-*).",
        labels=labels,
    )
    limit = GaugeMetricFamily(
        "okrsync_quota_limit", "The vendor's own limit of a quota window.", labels=labels
    )
    observed = GaugeMetricFamily(
        "okrsync_quota_observed_timestamp_seconds",
        "When the vendor said it (Unix time).",
        labels=labels,
    )
    for pool, seen in sorted(st.quota_live().items()):
        for o in sorted(seen, key=lambda o: (o.seconds, o.unit)):
            at = [pool, f"{o.seconds:g}", o.unit]
            remaining.add_metric(at, o.remaining)
            limit.add_metric(at, o.limit)
            observed.add_metric(at, o.at)
    yield from (remaining, limit, observed)


class _Families(Collector):
    def __init__(self, found: list[Metric]) -> None:
        self._found = found

    def collect(self) -> Iterable[Metric]:
        return self._found


__all__ = [
    "CONTENT_TYPE",
    "exposition",
    "quota_families",
    "render",
    "run_families",
    "tree_families",
]
