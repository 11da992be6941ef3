"""Drive one connector the way the engine does: validated settings, rendered sources, a real connection.

Connector tests (ours, the contract suite's, a third party's) all need the
same four moves; written once here so a test file holds only its vendor's
settings and checks.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest

from okrsync.errors import MeasureError
from okrsync.sdk.connector import Connection, Connector, Reading, RenderContext, Runtime
from okrsync.sdk.placeholders import render_source
from okrsync.testing.runtime import Sleeps

T = TypeVar("T")


@dataclass(frozen=True)
class Harness:
    """One connector, the cycle its placeholders are filled from, the connection name sources use."""

    connector: Connector
    context: RenderContext
    connection: str = "test"

    def settings(self, data: Mapping[str, Any], **extra: Any) -> Any:
        return self.connector.settings_model.model_validate({**data, **extra})

    def source(self, **fields: Any) -> Any:
        """A validated ``source:`` block, placeholders still in it."""
        return self.connector.source_model.model_validate({"connection": self.connection, **fields})

    def rendered(self, fields: Mapping[str, Any]) -> Any:
        """The block as the engine hands it to ``measure``: placeholders filled."""
        block = self.source(**fields)
        render = self.connector.render
        return render(block, self.context) if render else render_source(block, self.context)

    def use(
        self, settings: Any, fn: Callable[[Connection], Awaitable[T]], sleeps: Sleeps | None = None
    ) -> T:
        """Open a real connection (sleeps recorded, not slept), run ``fn`` on it, close it."""

        async def run() -> T:
            connection = self.connector.open(settings, Runtime(sleep=sleeps or Sleeps()))
            try:
                return await fn(connection)
            finally:
                await connection.aclose()

        return asyncio.run(run())

    def measure(
        self, settings: Any, fields: Mapping[str, Any], sleeps: Sleeps | None = None
    ) -> Reading:
        query = self.rendered(fields)
        return self.use(settings, lambda c: c.measure(query), sleeps)

    def fails(
        self, settings: Any, fields: Mapping[str, Any], sleeps: Sleeps | None = None
    ) -> MeasureError:
        with pytest.raises(MeasureError) as info:
            self.measure(settings, fields, sleeps)
        return info.value

    def measure_all(
        self,
        settings: Any,
        many: Sequence[Mapping[str, Any]],
        sleeps: Sleeps | None = None,
        *,
        concurrent: bool = False,
    ) -> list[Reading | MeasureError]:
        """Each source's reading or error, through one connection (one TLS set-up for all)."""
        queries = [self.rendered(fields) for fields in many]

        async def one(connection: Connection, query: Any) -> Reading | MeasureError:
            try:
                return await connection.measure(query)
            except MeasureError as exc:
                return exc

        async def each(connection: Connection) -> list[Reading | MeasureError]:
            if concurrent:
                return list(await asyncio.gather(*(one(connection, q) for q in queries)))
            return [await one(connection, q) for q in queries]

        return self.use(settings, each, sleeps)


__all__ = ["Harness"]
