"""Alembic environment for okrsync's store.

okrsync runs migrations itself (:meth:`okrsync.store.database.Store.open`) and hands
over its open connection in ``config.attributes["connection"]``, inside its own
transaction, so there is no alembic.ini. For writing a new revision by hand,
``sqlalchemy.url`` may be set on the config instead; ``target_metadata`` is the
store's tables so ``--autogenerate`` can draft it.
"""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection

from okrsync.store.database import create_store_engine, metadata, normalise_url


def _run(connection: Connection) -> None:
    context.configure(connection=connection, target_metadata=metadata, compare_type=True)
    with context.begin_transaction():
        context.run_migrations()


def run_migrations_online() -> None:
    connection = context.config.attributes.get("connection")
    if connection is not None:
        _run(connection)
        return
    url = context.config.get_main_option("sqlalchemy.url")
    if not url:
        raise RuntimeError(
            "set sqlalchemy.url, or open the store with okrsync.store.database.Store.open"
        )
    engine = create_store_engine(normalise_url(url))
    try:
        with engine.connect() as conn:
            _run(conn)
    finally:
        engine.dispose()


if context.is_offline_mode():
    raise RuntimeError("okrsync migrations run online only (no --sql)")
run_migrations_online()
