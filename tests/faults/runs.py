"""What the fault tests check in a store after the damage: every run whole, nothing lost."""

from __future__ import annotations

import sqlalchemy as sa

from okrsync.store.database import NoStoreYet, Store, normalise_url


def whole_runs(url: str) -> dict[int, int]:
    """Run id → measurements, asserting each stored run is whole; {} before any store."""
    try:
        store = Store.open(url, read_only=True)
    except NoStoreYet:  # killed before it created the store (creation is one transaction)
        return {}
    with store:
        stored = {r.id: r.summary["measured"] for r in store.runs(limit=100_000)}
    engine = sa.create_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            rows = conn.execute(
                sa.text("SELECT run_id, count(*) FROM measurements GROUP BY run_id")
            )
            counted: dict[int, int] = {int(k): int(v) for k, v in rows.all()}
    finally:
        engine.dispose()
    half = {i: (n, counted.get(i, 0)) for i, n in stored.items() if counted.get(i, 0) != n}
    assert not half, f"half-written runs (summary, rows): {half}"
    assert set(counted) <= set(stored), "measurements of a run that is not stored"
    return {i: n for i, n in stored.items() if i is not None}


def lost(before: dict[int, int], after: dict[int, int]) -> int:
    """Measurements of runs committed earlier that are no longer there."""
    return sum(n - after.get(i, 0) for i, n in before.items() if after.get(i, 0) < n)
