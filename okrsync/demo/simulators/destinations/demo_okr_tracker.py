"""``okrsync demo``'s OKR tool: an okr-tracker simulator that knows the example's items.

The example company pushes its values into okr-tracker (``destinations: okrs``
in mappings/connections.yaml); the demo starts this simulator with every
item the mappings name, logs in with its published demo credentials, and
prints what it accepted.
"""

from __future__ import annotations

from dataclasses import replace

from okrsync.demo.simulators.destinations.okr_tracker import (
    DEMO_API_KEY,
    DEMO_CLIENT_ID,
    DEMO_CLIENT_SECRET,
    DEMO_PARENT,
    Item,
    OkrTrackerSimulator,
    Received,
    js_number,
)
from okrsync.demo.simulators.simulated import Simulated

SERVES_DESTINATION = "okr-tracker"
KPI = "kpi:"


def demo(items: list[str]) -> Simulated:
    """A running simulator owning ``items`` (``kpi:<id>`` for KPIs), with the demo's API client."""
    krs = {i: Item(DEMO_PARENT, i) for i in items if not i.startswith(KPI)}
    kpis = {i.removeprefix(KPI): Item(DEMO_PARENT, i) for i in items if i.startswith(KPI)}
    sim = OkrTrackerSimulator(key_results=krs, kpis=kpis).start()
    login = {"api_key": DEMO_API_KEY, "client_id": DEMO_CLIENT_ID,
             "client_secret": DEMO_CLIENT_SECRET, "team_secret": None}  # fmt: skip
    return replace(
        Simulated.at(sim, {}, **login), received=lambda: [_line(r) for r in sim.received]
    )


def _line(r: Received) -> str:
    return (
        f"{r.route} {r.kind}/{r.id} {r.date}: {js_number(r.value)}  ({r.comment or 'no comment'})"
    )


__all__ = ["SERVES_DESTINATION", "demo"]
