"""Blocking client libraries (jira, simple-salesforce use requests) without serialising the engine.

Each connection gets its own thread pool sized to its ``max_concurrency``:
asyncio's shared default executor has only ``cpu_count + 4`` threads, which
would cap every blocking connection together at a handful of requests.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
T = TypeVar("T")


class ThreadedCalls:
    """Run blocking calls on a connection's own threads; ``close()`` joins them."""

    def __init__(self, max_workers: int, name: str) -> None:
        self._pool = ThreadPoolExecutor(
            max_workers=max_workers, thread_name_prefix=f"okrsync-{name}"
        )

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._pool, functools.partial(fn, *args, **kwargs))

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


__all__ = ["ThreadedCalls"]
