"""Shared fixtures."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from okrsync.store.database import normalise_url

_PG_URL = os.environ.get("OKRSYNC_TEST_PG_URL", "postgresql://postgres@127.0.0.1:5432/test")
_pg_down: list[str] = []  # why PostgreSQL is unusable, once known: skip fast after that
# CI sets this: there a missing PostgreSQL is a failure, not a reason to skip.
_PG_REQUIRED = os.environ.get("OKRSYNC_TEST_REQUIRE_PG") == "1"


def _pg_unavailable(reason: str) -> None:
    if _PG_REQUIRED:
        pytest.fail(f"{reason} (OKRSYNC_TEST_REQUIRE_PG=1)")
    pytest.skip(reason)


@pytest.fixture(
    params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)],
)
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A store URL with nothing in it yet: a fresh SQLite file, or a fresh PostgreSQL schema.

    The PostgreSQL database is shared with other test modules, so each test
    gets its own schema (``search_path`` set through the URL's ``options``)
    and only that schema is dropped afterwards.
    """
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'okrsync.db'}"
        return
    base = normalise_url(_PG_URL)
    shown = base.render_as_string(hide_password=True)
    if _pg_down:
        _pg_unavailable(_pg_down[0])
    schema = f"okrsync_test_{uuid.uuid4().hex[:12]}"
    engine = sa.create_engine(
        base, isolation_level="AUTOCOMMIT", connect_args={"connect_timeout": 3}
    )
    try:
        try:
            with engine.connect() as conn:
                conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
        except sa.exc.OperationalError as exc:
            _pg_down.append(f"PostgreSQL at {shown} (OKRSYNC_TEST_PG_URL) unreachable: {exc.orig}")
            _pg_unavailable(_pg_down[0])
        url = base.update_query_dict({"options": f"-csearch_path={schema}"})
        yield url.render_as_string(hide_password=False)
        with engine.connect() as conn:
            conn.exec_driver_sql("SET lock_timeout = '30s'")
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
    finally:
        engine.dispose()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """The fault suite's figures (tests/faults/tally.py), when any fault test ran."""
    from tests.faults.tally import TALLY

    if TALLY.trials or TALLY.faults:
        terminalreporter.section("fault suite")
        for line in TALLY.lines():
            terminalreporter.write_line(line)
