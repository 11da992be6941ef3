"""The sql connection's settings and a key result's sql source (and its rendered form)."""

from __future__ import annotations

from typing import Literal, Self

import sqlalchemy as sa
from pydantic import Field, PositiveFloat, field_validator, model_validator

from connectors.sql.text import parse
from connectors.sql.urls import TLS_ARGS, driver_hint, to_url
from okrsync.sdk.connector import ConnectionSettings, SourceBase


class SqlSettings(ConnectionSettings):
    type: Literal["sql"]
    url: str = Field(
        description="SQLAlchemy URL, e.g. postgresql://okrsync@db.example.com/warehouse; "
        "with a password, write it as a secret: url: ${WAREHOUSE_URL}."
    )
    statement_timeout: PositiveFloat = Field(default=30.0, description="Seconds a query may run.")

    @field_validator("url")
    @classmethod
    def _sqlalchemy_url(cls, url: str) -> str:
        """The value is never echoed: a URL may hold a password."""
        try:
            parsed = to_url(url)
        except (sa.exc.ArgumentError, ValueError):
            raise ValueError(
                "url is not a SQLAlchemy URL like postgresql://user@host/database "
                "(the value is not shown: it may hold a password)"
            ) from None
        try:
            dialect = parsed.get_dialect()
        except sa.exc.NoSuchModuleError:
            backend = parsed.get_backend_name()
            raise ValueError(
                f"no SQLAlchemy dialect {parsed.drivername!r} is installed: {driver_hint(backend)}"
            ) from None
        if dialect.is_async:
            raise ValueError(
                f"{parsed.drivername!r} is an asyncio driver; name a blocking one "
                f"(e.g. {parsed.get_backend_name()}://…, which okrsync maps to its default driver)"
            )
        return url

    @model_validator(mode="after")
    def _tls(self) -> Self:
        backend = to_url(self.url).get_backend_name()
        if self.ca_bundle is not None and backend not in TLS_ARGS:
            raise ValueError(
                f"ca_bundle applies to postgresql and mysql/mariadb; for {backend} give the "
                "driver's TLS options in the url's query string"
            )
        return self


class SqlSource(SourceBase):
    sql: str = Field(
        description="One read-only SELECT returning one row with one column; "
        "{cycle.start}, {cycle.end} and {as_of} become bound parameters."
    )

    @field_validator("sql")
    @classmethod
    def _checked(cls, sql: str) -> str:
        parse(sql)
        return sql


class SqlQuery(SqlSource):
    """A rendered source: the values of the binds its statement uses, as ISO text."""

    params: dict[str, str] = Field(default_factory=dict)


__all__ = ["SqlQuery", "SqlSettings", "SqlSource"]
