"""Per-connection request and error totals: summed in each run's transaction, on both stores."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from okrsync.domain.records import RunRecord
from okrsync.store.database import Store

T0 = datetime(2026, 11, 15, 12, tzinfo=UTC)


def run(at: datetime, connections: dict[str, object]) -> RunRecord:
    return RunRecord(at, at + timedelta(seconds=1), "ok", summary={"connections": connections})


@pytest.mark.parametrize("store_url", ["sqlite", "postgresql"], indirect=True)
def test_totals_add_up_across_runs_and_by_error_kind(store_url: str) -> None:
    with Store.open(store_url) as st:
        assert st.totals().requests == {}
        st.record_run(run(T0, {"jira": {"calls": 3, "error_kinds": {}}}), [])
        st.record_run(
            run(T0 + timedelta(minutes=5), {
                "jira": {"calls": 2, "error_kinds": {"auth": 1}},
                "ga4": {"calls": 4, "error_kinds": {"quota": 2, "transient": 1}},
            }),
            [],
        )  # fmt: skip
        st.record_run(
            run(T0 + timedelta(minutes=10), {"jira": {"calls": 1, "error_kinds": {"auth": 1}}}), []
        )
        st.record_run(run(T0 + timedelta(minutes=15), {}), [])  # a checkin: no vendor calls
        totals = st.totals()
    assert totals.requests == {"jira": 6, "ga4": 4}
    assert totals.errors == {("jira", "auth"): 2, ("ga4", "quota"): 2, ("ga4", "transient"): 1}


@pytest.mark.parametrize("store_url", ["sqlite"], indirect=True)
def test_the_last_completed_run_skips_failed_ones(store_url: str) -> None:
    with Store.open(store_url) as st:
        assert st.last_completed_run() is None
        st.record_run(RunRecord(T0, T0, "partial"), [])
        st.record_run(RunRecord(T0 + timedelta(hours=1), T0 + timedelta(hours=1), "failed"), [])
        last = st.last_completed_run()
    assert last is not None
    assert (last.status, last.started_at) == ("partial", T0)
