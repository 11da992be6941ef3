"""Whole syncs through the real jira and simple-salesforce clients into a real store.

Each test asserts what a user sees afterwards: the stored value, status and
error text, and that a failure leaves the last good value in place.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.jira import DEMO_TOKEN, EPIC, EPIC_CHILDREN, EPIC_DONE, JiraSimulator
from okrsync.demo.simulators.salesforce import (
    DEMO_PASSWORD,
    DEMO_SECURITY_TOKEN,
    DEMO_USERNAME,
    SalesforceSimulator,
)
from okrsync.demo.simulators.server import Fault
from okrsync.store.database import Store
from tests.support import FAST, sync_now, write

TODAY = date(2026, 11, 15)
NOW = datetime(2026, 11, 15, 12, 0, tzinfo=UTC)
SF_CALLS = 3  # the batch calls a sync reports; the login is counted by Salesforce, not as a query
ENV = {"JIRA_TOKEN": DEMO_TOKEN, "SF_PASSWORD": DEMO_PASSWORD, "SF_TOKEN": DEMO_SECURITY_TOKEN}


@pytest.fixture
def jira() -> Iterator[JiraSimulator]:
    with JiraSimulator(
        "cloud", email="ops@example.com", token=DEMO_TOKEN, today=lambda: TODAY
    ) as sim:
        yield sim  # type: ignore[misc]


@pytest.fixture
def sf() -> Iterator[SalesforceSimulator]:
    with SalesforceSimulator(today=lambda: TODAY) as sim:
        yield sim  # type: ignore[misc]


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    with Store.open(f"sqlite:///{tmp_path / 's.db'}") as st:
        yield st


def connections(jira: JiraSimulator, sf: SalesforceSimulator) -> str:
    return f"""
connections:
  jira:
    type: jira
    url: {jira.url}
    flavor: cloud
    email: ops@example.com
    token: ${{JIRA_TOKEN}}
  sf:
    type: salesforce
    domain: {sf.domain}
    ca_bundle: {sf.ca_file}
    username: {DEMO_USERNAME}
    password: ${{SF_PASSWORD}}
    security_token: ${{SF_TOKEN}}
"""


def kr(kr_id: str, source: str, *, start: float = 0, target: float = 1000, kind: str = "") -> str:
    head = f"      - id: {kr_id}\n        title: {kr_id}\n        owner: o@example.com\n"
    if kind == "milestone":
        head += "        type: milestone\n"
    else:
        head += f"        start: {start}\n        target: {target}\n"
    body = "".join(f"          {line}\n" for line in source.strip().splitlines())
    return head + "        source:\n" + body


def setup(
    tmp_path: Path, jira: JiraSimulator, sf: SalesforceSimulator, krs: list[str], extra: str = ""
) -> loader.Config:
    text = (
        "cycle: 2026-Q4\nobjectives:\n  - id: obj\n    title: Objective\n    key_results:\n"
        + "".join(krs)
        + extra
    )
    directory = write(
        tmp_path / "m", {"connections.yaml": connections(jira, sf), "okrs.yaml": text}
    )
    return loader.load(directory, Registry.default(), environ=ENV)


def test_every_source_form_stores_its_value(
    tmp_path: Path, jira: JiraSimulator, sf: SalesforceSimulator, store: Store
) -> None:
    krs = [
        kr(
            "tickets",
            "connection: jira\njql: project = SUP AND created >= {cycle.start}\naggregate: count",
        ),
        kr(
            "tickets-approx",
            "connection: jira\njql: project = SUP AND created >= {cycle.start}\naggregate: count\napproximate: true",
        ),
        kr(
            "points",
            'connection: jira\njql: project = PROD AND statusCategory = Done\naggregate: sum\nfield: "Story Points"',
        ),
        kr("launch", "connection: jira\nissue: PROD-200", kind="milestone"),
        kr("beta", "connection: jira\nissue: PROD-201", kind="milestone"),
        kr(
            "won",
            "connection: sf\nsoql: SELECT SUM(Amount) total FROM Opportunity WHERE IsWon = true AND CloseDate >= {cycle.start} AND CloseDate <= {cycle.end}\nvalue: total",
            target=20e6,
        ),
        kr(
            "won-count",
            "connection: sf\nsoql: SELECT COUNT() FROM Opportunity WHERE IsWon = true AND CloseDate >= {cycle.start}\nvalue: totalSize",
        ),
        kr(
            "pipeline",
            "connection: sf\nsoql: SELECT Amount FROM Opportunity WHERE IsClosed = false\naggregate: sum\nfield: Amount",
            target=1e9,
        ),
        kr("report", "connection: sf\nreport: 00OSIM000000000001\nvalue: RowCount"),
    ]
    krs[2] = krs[2].replace(
        "        source:", "        initiatives:\n          - jira: " + EPIC + "\n        source:"
    )
    config = setup(tmp_path, jira, sf, krs)
    result = sync_now(config, store, now=NOW, runtime=FAST)
    assert [r.kr_id for r in result.failed] == []
    states = store.states()
    assert (
        states["tickets"].value == states["tickets-approx"].value
    )  # the simulator's estimate is exact
    assert states["tickets"].value is not None
    assert states["tickets"].value > 0
    assert states["points"].value is not None
    assert states["points"].value > 0
    assert (states["launch"].value, states["beta"].value) == (0.0, 1.0)
    assert states["won"].value is not None
    assert states["won"].value > 1e6
    assert states["won-count"].value is not None
    assert states["report"].value is not None
    assert states["tickets"].query == 'JQL count: project = SUP AND created >= "2026-10-01"'
    assert "CloseDate >= 2026-10-01 AND CloseDate <= 2026-12-31" in (states["won"].query or "")
    [epic] = store.initiatives()["points"]
    assert (epic.issue, epic.done, epic.total) == (EPIC, EPIC_DONE, EPIC_CHILDREN)


def test_identical_queries_once_and_60_distinct_soql_in_3_batches(
    tmp_path: Path, jira: JiraSimulator, sf: SalesforceSimulator, store: Store
) -> None:
    soql = "connection: sf\nsoql: SELECT COUNT() FROM Opportunity WHERE CloseDate >= {day}\nvalue: totalSize"
    days = [date(2026, 1, 1) + timedelta(days=3 * i) for i in range(60)]
    krs = [kr(f"sf-{i}", soql.replace("{day}", d.isoformat())) for i, d in enumerate(days)]
    krs += [
        kr(f"sf-dup-{i}", soql.replace("{day}", d.isoformat())) for i, d in enumerate(days[:10])
    ]
    same_jql = "connection: jira\njql: project = SUP AND created >= {cycle.start}\naggregate: count"
    krs += [kr(f"jira-{i}", same_jql) for i in range(5)]
    config = setup(tmp_path, jira, sf, krs)
    result = sync_now(config, store, now=NOW, runtime=FAST)
    assert result.failed == []
    sf_paths = [r.path for r in sf.requests]
    assert sum(p.endswith("/composite/batch") for p in sf_paths) == 3
    assert sum("/services/Soap/u/" in p for p in sf_paths) == 1
    assert len(sf_paths) == 4
    searches = [r for r in jira.requests if "/search/jql" in r.path]
    assert len(searches) == 1  # five key results, one query
    assert result.summary["connections"]["sf"]["queries"] == 60
    assert result.summary["connections"]["sf"]["calls"] == SF_CALLS
    assert store.state("sf-dup-3").value == store.state("sf-3").value  # type: ignore[union-attr]


def test_errors_are_isolated_and_keep_the_last_good_value(
    tmp_path: Path, jira: JiraSimulator, sf: SalesforceSimulator, store: Store
) -> None:
    krs = [
        kr("good-sf", "connection: sf\nsoql: SELECT COUNT() FROM Opportunity\nvalue: totalSize"),
        kr(
            "bad-soql",
            "connection: sf\nsoql: SELECT COUNT() FROM Opportunity WHERE Nope__c = 1\nvalue: totalSize",
        ),
        kr("bad-jql", "connection: jira\njql: project = SUP AND ORDER\naggregate: count"),
        kr("good-jira", "connection: jira\njql: project = SUP\naggregate: count"),
    ]
    config = setup(tmp_path, jira, sf, krs)
    first = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
    assert (first["good-sf"].status, first["good-jira"].status) == ("ok", "ok")
    assert first["bad-soql"].status == "error"
    assert first["bad-soql"].error_kind == "query"
    assert "INVALID_FIELD" in (first["bad-soql"].error or "")
    assert first["bad-jql"].error_kind == "query"
    assert "Field 'ORDER' does not exist" in (first["bad-jql"].error or "")  # Jira's own words

    good_jira = store.state("good-jira")
    assert good_jira is not None
    jira.add_fault(r"/rest/api/2/search/jql", Fault.status(503), times=20)
    second = {
        r.kr_id: r
        for r in sync_now(config, store, now=NOW + timedelta(hours=2), runtime=FAST).records
    }
    assert second["good-jira"].status == "error"
    assert second["good-jira"].error_kind == "transient"
    assert second["good-sf"].status == "ok"
    after = store.state("good-jira")
    assert after is not None
    assert (after.value, after.measured_at) == (good_jira.value, good_jira.measured_at)


def test_wrong_credentials_name_the_connection_never_the_secret(
    tmp_path: Path, jira: JiraSimulator, sf: SalesforceSimulator, store: Store
) -> None:
    krs = [
        kr("j", "connection: jira\njql: project = SUP\naggregate: count"),
        kr("s", "connection: sf\nsoql: SELECT COUNT() FROM Opportunity\nvalue: totalSize"),
    ]
    text = (
        "cycle: 2026-Q4\nobjectives:\n  - id: obj\n    title: Objective\n    key_results:\n"
        + "".join(krs)
    )
    directory = write(
        tmp_path / "m", {"connections.yaml": connections(jira, sf), "okrs.yaml": text}
    )
    wrong = {
        "JIRA_TOKEN": "wrong-jira-token-123",
        "SF_PASSWORD": "wrong-password-456",
        "SF_TOKEN": "wrongSecTok789",
    }
    config = loader.load(directory, Registry.default(), environ=wrong)
    records = {r.kr_id: r for r in sync_now(config, store, now=NOW, runtime=FAST).records}
    for kr_id, name in (("j", "jira"), ("s", "sf")):
        record = records[kr_id]
        assert record.status == "error"
        assert record.error_kind == "auth"
        assert (record.error or "").startswith(f"connection {name!r}: ")
        for secret in wrong.values():
            assert secret not in (record.error or "")
            assert secret not in (record.raw or "")
