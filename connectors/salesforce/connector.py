"""``type: salesforce``: SOQL aggregates, record sums and report totals (simple-salesforce).

Logins (:mod:`connectors.salesforce.auth`): exactly one flow per connection, the
session shared by every call in flight, so an expired one costs exactly one new login.

Quota: distinct ``soql`` + ``value`` queries go through the Composite Batch API, up to
25 per round trip (:meth:`SalesforceConnection.measure_batch`); ``aggregate`` sources
page through ``nextRecordsUrl``; reports run synchronously. Each Reading's ``raw`` ends
with ``api-usage=USED/MAX`` from ``Sforce-Limit-Info``.

Failures are classified in :mod:`connectors.salesforce.errors` (its table), numbers read
out of answers in :mod:`connectors.salesforce.answers`. simple-salesforce retries
nothing; every retry is :func:`~okrsync.sdk.retry.call_with_retries`. Messages never carry a
password, token, secret or session id.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import urlencode

from connectors.salesforce.answers import (
    batch_results,
    lookup,
    number,
    query_value,
    records_of,
    report_value,
    subresult_value,
)
from connectors.salesforce.auth import Session
from connectors.salesforce.errors import SomeTransient, classify
from connectors.salesforce.settings import SalesforceSettings, SalesforceSource
from okrsync.errors import MeasureError, SourceDataError, TransientError, excerpt
from okrsync.sdk.connector import (
    Connector,
    Reading,
    RenderContext,
    Runtime,
)
from okrsync.sdk.placeholders import render_source
from okrsync.sdk.quota import DAY, LiveQuota, Window, api_usage
from okrsync.sdk.retry import call_with_retries
from okrsync.sdk.threads import ThreadedCalls

if TYPE_CHECKING:
    from simple_salesforce.api import Salesforce

T = TypeVar("T")
BATCH_SIZE = 25  # the Composite Batch API's limit
MAX_PAGES = 500  # 1M records at 2000 a page: beyond that, SUM() in SOQL is the answer


def soql_literals(ctx: RenderContext) -> dict[str, str]:
    """SOQL date literals are unquoted: ``2026-10-01``; the instant ``2026-11-26T10:49:00Z``."""
    return {
        "cycle.start": ctx.cycle.start.isoformat(),
        "cycle.end": ctx.cycle.end.isoformat(),
        "as_of": ctx.as_of.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def render(source: SalesforceSource, ctx: RenderContext) -> SalesforceSource:
    return render_source(source, ctx, soql_literals)


def describe(source: SalesforceSource) -> str:
    """``SOQL: SELECT … → total``, ``SOQL (queryAll): … → sum(Amount)``, ``report 00O… → s!Amount``."""
    if source.report is not None:
        return f"report {source.report} → {source.value}"
    api = "SOQL (queryAll)" if source.include_deleted else "SOQL"
    what = f"{source.aggregate}({source.field or 'records'})" if source.aggregate else source.value
    return f"{api}: {' '.join((source.soql or '').split())} → {what}"


@dataclass
class _Tally:
    calls: int = 0


class SalesforceConnection:
    """One lazily logged-in client per connection; blocking calls on its own threads."""

    batch_size = BATCH_SIZE

    def __init__(self, settings: SalesforceSettings, runtime: Runtime) -> None:
        self._settings = settings
        self._runtime = runtime
        self._local = threading.local()  # Retry-After of this thread's last response
        self._session = Session(settings, self._local)
        self._threads = ThreadedCalls(settings.max_concurrency, "salesforce")
        self.last_api_usage: tuple[int, int] | None = None  # (used, max) for the org today
        self.live = LiveQuota()  # the org's daily allowance as Sforce-Limit-Info says it

    @property
    def logins(self) -> int:
        """Logins so far; a ``session_id`` connection never logs in."""
        return self._session.logins

    # -- public -------------------------------------------------------------------

    async def measure(self, source: SalesforceSource) -> Reading:
        tally = _Tally()
        if source.report is not None:
            path = f"analytics/reports/{source.report}"
            data = await self._rest("report", lambda sf: sf.restful(path), tally)
            value, shown = report_value(data, source.value or "")
        elif source.aggregate is None or (source.aggregate == "count" and source.field is None):
            soql, deleted = source.soql or "", source.include_deleted
            data = await self._rest("query", lambda sf: sf.query(soql, deleted), tally)
            value, shown = query_value(data, source.value or "totalSize", soql)
        else:
            value, shown = await self._records(source, tally)
        return Reading(value, self._raw(shown), calls=tally.calls)

    async def measure_batch(
        self, sources: Sequence[SalesforceSource]
    ) -> list[Reading | MeasureError]:
        """``soql`` + ``value`` sources through Composite Batch; the rest one by one."""
        results: list[Reading | MeasureError | None] = [None] * len(sources)
        batched = [i for i, s in enumerate(sources) if s.soql and s.aggregate is None]

        async def single(i: int) -> None:
            try:
                results[i] = await self.measure(sources[i])
            except MeasureError as exc:
                results[i] = exc

        chunks = [batched[k : k + BATCH_SIZE] for k in range(0, len(batched), BATCH_SIZE)]
        await asyncio.gather(
            *(single(i) for i in range(len(sources)) if i not in batched),
            *(self._batch(chunk, sources, results) for chunk in chunks),
        )
        return [r if r is not None else MeasureError("no result") for r in results]

    async def aclose(self) -> None:
        self._threads.close()
        self._session.close()

    # -- queries ------------------------------------------------------------------

    async def _records(self, source: SalesforceSource, tally: _Tally) -> tuple[float, str]:
        soql, field = source.soql or "", source.field or "Id"
        page = await self._rest("query", lambda sf: sf.query(soql, source.include_deleted), tally)
        total, count, pages, seen = 0.0, 0, 1, set()
        while True:
            for record in records_of(page):
                found = lookup(record, field)
                if found is None:
                    continue
                count += 1
                if source.aggregate == "sum":
                    total += float(number(found, field))
            if page.get("done", True):
                break
            url = page.get("nextRecordsUrl")
            if not isinstance(url, str) or url in seen or pages >= MAX_PAGES:
                raise SourceDataError(
                    f"paging stopped after {pages} pages (repeated or missing nextRecordsUrl, "
                    f"or over {MAX_PAGES} pages: use SELECT SUM(...) with value instead)"
                )
            seen.add(url)
            page = await self._rest("query_more", _more(url), tally)
            pages += 1
        value = total if source.aggregate == "sum" else float(count)
        shown = {f"{source.aggregate}({field})": value, "records": count, "pages": pages}
        return value, json.dumps(shown)

    async def _batch(
        self,
        indices: list[int],
        sources: Sequence[SalesforceSource],
        results: list[Reading | MeasureError | None],
    ) -> None:
        tally, pending = _Tally(), list(indices)

        async def attempt() -> None:
            batch = [sources[i] for i in pending]
            subs = await self._threads.call(
                self._run, lambda sf: self._post_batch(sf, batch), tally
            )
            retry: list[int] = []
            for i, sub in zip(list(pending), subs, strict=True):
                outcome = self._subresult(sources[i], sub)
                results[i] = outcome
                if isinstance(outcome, TransientError):
                    retry.append(i)
            pending[:] = retry
            if retry:  # only those go again, after the policy's wait
                raise SomeTransient(
                    f"{len(retry)} of the batch failed for now: {results[retry[0]]}"
                )

        try:
            await call_with_retries(
                attempt,
                self._settings.retry,
                self._runtime.sleep,
                what="salesforce composite/batch",
            )
        except SomeTransient:
            pass  # each has its own error already
        except MeasureError as exc:  # the batch request itself failed
            for i in pending:
                results[i] = exc
        first = next((i for i in indices if isinstance(results[i], Reading)), None)
        if first is not None:
            reading = results[first]
            assert isinstance(reading, Reading)
            results[first] = replace(reading, calls=tally.calls)

    def _post_batch(self, sf: Salesforce, batch: list[SalesforceSource]) -> list[Any]:
        paths = [
            f"v{self._settings.api_version}/{'queryAll' if s.include_deleted else 'query'}/?"
            + urlencode({"q": s.soql})
            for s in batch
        ]
        body = {"batchRequests": [{"method": "GET", "url": p} for p in paths], "haltOnError": False}
        data = sf.restful("composite/batch", method="POST", json=body)
        return batch_results(data, len(batch))

    def _subresult(self, source: SalesforceSource, sub: Any) -> Reading | MeasureError:
        found = subresult_value(sub, source.value or "", source.soql or "")
        if isinstance(found, MeasureError):
            return found
        return Reading(found[0], self._raw(found[1]), calls=0)

    def _raw(self, shown: str) -> str:
        usage = self.last_api_usage
        suffix = f" | api-usage={usage[0]}/{usage[1]}" if usage else ""
        return excerpt(shown, 260) + suffix

    # -- calls (worker threads) ---------------------------------------------------

    async def _rest(self, what: str, op: Callable[[Salesforce], T], tally: _Tally) -> T:
        async def attempt() -> T:
            return await self._threads.call(self._run, op, tally)

        return await call_with_retries(
            attempt, self._settings.retry, self._runtime.sleep, what=f"salesforce {what}"
        )

    def _run(self, op: Callable[[Salesforce], T], tally: _Tally) -> T:
        return self._session.run(lambda client: self._attempt(client, op, tally))

    def _attempt(self, client: Salesforce, op: Callable[[Salesforce], T], tally: _Tally) -> T:
        import requests  # noqa: TID251 - simple-salesforce's transport
        from simple_salesforce.exceptions import SalesforceError

        self._local.retry_after = None
        tally.calls += 1
        try:
            return op(client)
        except (SalesforceError, requests.RequestException, RecursionError) as exc:
            raise classify(exc, self._settings, getattr(self._local, "retry_after", None)) from None
        finally:
            usage = client.api_usage.get("api-usage")
            if usage is not None:
                self.last_api_usage = (usage.used, usage.total)
                if (seen := api_usage(usage.used, usage.total, time.time())) is not None:
                    self.live.observe(seen)


def _more(url: str) -> Callable[[Salesforce], Any]:
    return lambda sf: sf.query_more(url, identifier_is_url=True)


# The smallest edition's daily allowance (Developer Edition, 15,000 calls in a rolling
# 24 hours; Enterprise: 100,000 + 1,000 a licence): the first answer's Sforce-Limit-Info
# gives the org's own, which replaces it.
QUOTA = (Window(15_000, DAY, "requests", "Salesforce's daily API allowance"),)


def quota(settings: SalesforceSettings) -> tuple[Window, ...]:
    return QUOTA


def open_connection(settings: SalesforceSettings, runtime: Runtime) -> SalesforceConnection:
    try:
        return SalesforceConnection(settings, runtime)
    except ValueError as exc:  # an unreadable ca_bundle
        error = MeasureError(str(exc))
        error.kind = "config"
        raise error from None


def address(settings: SalesforceSettings) -> str:
    """The org a connection reads: its instance, else the login host it authenticates at."""
    return settings.instance_url or f"https://{settings.domain}.salesforce.com"


CONNECTOR = Connector(
    type="salesforce",
    settings_model=SalesforceSettings,
    source_model=SalesforceSource,
    open=open_connection,
    render=render,
    describe=describe,
    doc="Salesforce: SOQL aggregates (batched 25 a call), record sums and report totals.",
    address=address,
    quota=quota,  # one request a query: a Composite Batch saves round trips, not allowance
)

__all__ = [
    "CONNECTOR",
    "SalesforceConnection",
    "describe",
    "render",
    "soql_literals",
]
