"""The demo's trouble, staged on purpose between its two syncs, so people see what it looks like.

After the first sync (everything measured) and before the second:

- GA4 answers ``403 PERMISSION_DENIED``, as Google does when the service
  account lost access to the property: ``time-on-site`` is an ``error`` with
  Google's message, and keeps its last good value;
- the warehouse gets a duplicated import (every subscription loaded twice):
  ``annual-revenue`` doubles in an hour, past its ``max_change: 25%``, and is
  held for review while the good value stays;
- the manual ``customer-nps`` was last checked in four weeks ago: ``stale``,
  with the command that fixes it.

Each piece is staged only when the example company's key result is there,
so ``okrsync demo --mappings DIR`` of other mappings stays clean.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta

from okrsync.config.loader import Config
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.simulated import Simulated
from okrsync.store.database import Store
from okrsync.sync import by_hand

FAILING, HELD, STALE = "time-on-site", "annual-revenue", "customer-nps"
CHECKIN_AGE = timedelta(days=28)
GA4_DENIED = {
    "error": {
        "code": 403,
        "message": "User does not have sufficient permissions for this property. To learn more "
        "about Property ID, see "
        "https://developers.google.com/analytics/devguides/reporting/data/v1/property-id.",
        "status": "PERMISSION_DENIED",
    }
}


def stage(
    config: Config, running: Mapping[str, Simulated], store: Store, now: datetime
) -> dict[str, str]:
    """Stage the trouble; returns key result → what was staged (only those staged)."""
    staged: dict[str, str] = {}
    if _uses(config, FAILING, "ga4") and (ga4 := running.get("ga4")) and ga4.server:
        ga4.server.add_fault(r".*:runReport", Fault.status(403, GA4_DENIED), times=1_000)
        staged[FAILING] = "error: GA4 access taken away (403 PERMISSION_DENIED)"
    if _uses(config, HELD, "sql") and (warehouse := running.get("sql")):
        _duplicate_import(str(warehouse.overrides["url"]))
        staged[HELD] = "held: a duplicated warehouse import doubled the revenue"
    entry = config.krs.get(STALE)
    if entry is not None and entry.manual:
        when = now - CHECKIN_AGE
        by_hand.checkin(store, entry, 38.0, by="demo", comment="Q3 survey, n=380", now=when)
        staged[STALE] = "stale: the last check-in is four weeks old"
    return staged


def _uses(config: Config, kr_id: str, connection_type: str) -> bool:
    entry = config.krs.get(kr_id)
    return entry is not None and entry.connection_type == connection_type


def _duplicate_import(url: str) -> None:
    """Load every subscription a second time, as a re-run import job would."""
    path = url.removeprefix("sqlite:///")
    with sqlite3.connect(path) as db:
        db.execute(
            "INSERT INTO subscriptions (customer, plan, arr, currency, started_on, ended_on) "
            "SELECT customer, plan, arr, currency, started_on, ended_on FROM subscriptions"
        )


__all__ = ["CHECKIN_AGE", "FAILING", "HELD", "STALE", "stage"]
