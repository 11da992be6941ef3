"""``type: jira``: counts, sums and milestones from Jira Cloud and Data Center.

Sources: ``jql`` + ``aggregate: count`` (``approximate: true`` on Cloud), ``jql`` +
``aggregate: sum|avg|min|max`` + ``field`` (name or id), or ``issue: KEY`` (a
milestone: true once resolved or in a done status). Calls, via ``jira`` 3.10.5,
chosen for the fewest requests (PROTOCOLS.md):

    Cloud count      GET search/jql without fields (ids only, 5000 a page), by nextPageToken
    approximate      POST search/approximate-count (Cloud; on DC the count is exact anyway)
    DC count         GET search?maxResults=1 → total
    aggregates       GET field once per connection; pages carrying only that field
    issue: KEY       GET issue/KEY?fields=status,resolution,resolutiondate,summary
    initiative       the issue, then its children: Cloud ``parent = KEY``, DC
                     ``"Epic Link" = KEY`` for an epic, else ``parent = KEY`` (sub-tasks)

The client's own retries are off (``max_retries=0``); each request runs on the
connection's threads under :func:`okrsync.sdk.retry.call_with_retries`. The client calls
live in :mod:`connectors.jira.calls`; how a failure becomes an AuthError, QueryError,
TransientError or SourceDataError, in :mod:`connectors.jira.errors`. Messages carry
Jira's words, excerpted, never the token.
"""

from __future__ import annotations

import asyncio
import math
import re
import threading
from collections.abc import AsyncIterator, Callable
from datetime import UTC
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from connectors.jira.calls import (
    LOCAL,
    Calls,
    Json,
    approximate_count,
    as_object,
    count_response,
    get_issue,
    is_done,
    issue_line,
    load_fields,
    numeric_field,
    search_page,
)
from connectors.jira.errors import classify
from connectors.jira.settings import ISSUE_KEY, JiraSettings, JiraSource
from okrsync.errors import MeasureError, QueryError, SourceDataError, excerpt
from okrsync.sdk.connector import (
    Connector,
    InitiativeReading,
    Reading,
    RenderContext,
    Runtime,
)
from okrsync.sdk.http import USER_AGENT
from okrsync.sdk.placeholders import render_source
from okrsync.sdk.quota import LiveQuota
from okrsync.sdk.retry import call_with_retries
from okrsync.sdk.threads import ThreadedCalls

if TYPE_CHECKING:
    from jira import JIRA

T = TypeVar("T")
CLOUD_PAGE = 5000  # search/jql's largest page, given when only ids are asked for
DC_PAGE = 1000  # Data Center's default jira.search.views.default.max
MAX_PAGES = 1000  # the loop guard
_QUOTED = re.compile(r"""(["'])(\{(?:cycle\.start|cycle\.end|as_of)\})\1""")


def jql_values(ctx: RenderContext) -> dict[str, str]:
    """Quoted JQL dates; ``{cycle.end}`` is the last minute of the cycle's (inclusive) last day."""
    as_of = ctx.as_of.astimezone(UTC) if ctx.as_of.tzinfo else ctx.as_of
    return {
        "cycle.start": f'"{ctx.cycle.start:%Y-%m-%d}"',
        "cycle.end": f'"{ctx.cycle.end:%Y-%m-%d} 23:59"',
        "as_of": f'"{as_of:%Y-%m-%d %H:%M}"',
    }


def render(source: JiraSource, ctx: RenderContext) -> JiraSource:
    """Fill placeholders; one already quoted (``"{cycle.start}"``) is not quoted twice."""
    if source.jql is not None:
        source = source.model_copy(update={"jql": _QUOTED.sub(r"\2", source.jql)})
    return render_source(source, ctx, jql_values)


def describe(source: JiraSource) -> str:
    """``JQL count: …``, ``JQL sum(Story Points): …`` or ``issue PROD-101``."""
    if source.issue is not None:
        return f"issue {source.issue}"
    if source.aggregate == "count":
        return f"JQL {'approximate ' if source.approximate else ''}count: {source.jql}"
    return f"JQL {source.aggregate}({source.field}): {source.jql}"


class JiraConnection:
    def __init__(self, settings: JiraSettings, runtime: Runtime, client_class: type[JIRA]) -> None:
        self._settings, self._runtime, self._client_class = settings, runtime, client_class
        self._threads = ThreadedCalls(settings.max_concurrency, "jira")
        self._lock = threading.Lock()  # the client is built once, on a pool thread
        self._client: JIRA | None = None
        self._flavor = settings.flavor
        self._fields: list[Json] | None = None
        self._fields_lock = asyncio.Lock()
        self.live = LiveQuota()  # Jira's X-RateLimit-* and a 429's Retry-After, answer by answer

    async def measure(self, source: JiraSource) -> Reading:
        calls = Calls()
        if source.issue is not None:
            fields = "status,resolution,resolutiondate,summary"
            raw = await self._issue(calls, source.issue, fields)
            return Reading(is_done(raw), issue_line(raw), calls.count)
        jql, agg = source.jql or "", source.aggregate or "count"
        if agg == "count":
            value, text = await self._count(calls, jql, source.approximate)
        else:
            value, text = await self._aggregate(calls, jql, agg, source.field or "")
        return Reading(value, text, calls.count)

    async def initiative(self, key: str) -> InitiativeReading:
        """Children done / all children; an issue without children counts itself."""
        if not ISSUE_KEY.fullmatch(key):
            raise QueryError(f"initiative must be an issue key like PROD-101, not {key!r}")
        calls = Calls()
        raw = await self._issue(calls, key, "summary,status,resolution,issuetype")
        fields = raw.get("fields") or {}
        jql = f"parent = {key}"
        if self._flavor == "datacenter" and (fields.get("issuetype") or {}).get("name") == "Epic":
            jql = '"{}" = {}'.format(self._settings.epic_link_field.replace('"', '\\"'), key)
        done = total = 0
        async for issues in self._pages(calls, jql, ["status", "resolution"]):
            total, done = total + len(issues), done + sum(map(is_done, issues))
        if total == 0:
            total, done = 1, int(is_done(raw))
        status = str(((fields.get("status") or {}).get("statusCategory") or {}).get("key", ""))
        text = excerpt(f"{done}/{total} done ({jql}); {issue_line(raw)}")
        title = str(fields.get("summary") or key)
        return InitiativeReading(key, title, done, total, status, text, calls.count)

    async def aclose(self) -> None:
        self._threads.close()
        client, self._client = self._client, None
        if client is not None:
            client.close()  # type: ignore[no-untyped-call]

    async def _count(self, calls: Calls, jql: str, approximate: bool) -> tuple[float, str]:
        if await self._flavor_of(calls) == "datacenter":
            page = await self._call(
                calls, "search", partial(search_page, jql=jql, cursor=0, size=1)
            )
            if not isinstance(total := page.get("total"), int):
                raise SourceDataError("Jira search reply has no total")
            return float(total), f"total {total}"
        if approximate:
            count = await self._call(
                calls, "approximate-count", partial(approximate_count, jql=jql)
            )
            return float(count), f"approximate count {count}"
        count = pages = 0
        async for issues in self._pages(calls, jql, []):
            count, pages = count + len(issues), pages + 1
        return float(count), f"{count} issues in {pages} page(s)"

    async def _aggregate(self, calls: Calls, jql: str, how: str, name: str) -> tuple[float, str]:
        async with self._fields_lock:
            if self._fields is None:
                self._fields = await self._call(calls, "field", load_fields)
        field_id = numeric_field(self._fields, name)
        values: list[float] = []
        matched = 0
        async for issues in self._pages(calls, jql, [field_id]):
            for issue in issues:
                matched += 1
                value = (issue.get("fields") or {}).get(field_id)
                if isinstance(value, bool) or not isinstance(value, int | float | None):
                    shown = excerpt(repr(value), 60)
                    raise SourceDataError(f"{issue.get('key')}: {name} is {shown}, not a number")
                if value is not None:
                    values.append(float(value))
        if how == "sum":
            result = math.fsum(values)
        elif not values:
            raise SourceDataError(f"no issue matched with a value in {name} ({matched} matched)")
        else:
            result = {"min": min, "max": max}.get(how, lambda v: math.fsum(v) / len(v))(values)
        return result, f"{how} {result:g} of {len(values)} values in {matched} issues"

    async def _issue(self, calls: Calls, key: str, fields: str) -> Json:
        return await self._call(calls, f"issue {key}", partial(get_issue, key=key, fields=fields))

    async def _pages(self, calls: Calls, jql: str, fields: list[str]) -> AsyncIterator[list[Json]]:
        """Every page of matches; stops on a repeated token or after MAX_PAGES."""
        cloud = await self._flavor_of(calls) == "cloud"
        cursor: str | int | None = None if cloud else 0
        seen: set[str | int | None] = {cursor}
        for _ in range(MAX_PAGES):
            fetch = partial(search_page, jql=jql, cursor=cursor, size=CLOUD_PAGE, fields=fields)
            fetch = fetch if cloud else partial(fetch, size=DC_PAGE)
            page = await self._call(calls, "search", fetch)
            if not isinstance(issues := page.get("issues"), list):
                raise SourceDataError("Jira search reply has no issues list")
            yield issues
            if cloud:
                cursor = page.get("nextPageToken") or None
            else:
                total, cursor = page.get("total"), int(cursor or 0) + len(issues)
                last = page.get("isLast") is True or (isinstance(total, int) and cursor >= total)
                cursor = None if last or not issues else cursor
            if cursor is None:
                return
            if cursor in seen:
                raise SourceDataError("Jira repeated a page token; stopped paging")
            seen.add(cursor)
        raise SourceDataError(f"more than {MAX_PAGES} pages of results; narrow the JQL")

    async def _flavor_of(self, calls: Calls) -> str:
        if self._flavor is None:
            await self._call(calls, "serverInfo", lambda _client: None)
        return self._flavor or "datacenter"

    async def _call(self, calls: Calls, what: str, fn: Callable[[JIRA], T]) -> T:
        async def attempt() -> T:
            return await self._threads.call(self._run, calls, what, fn)

        sleep = self._runtime.sleep
        return await call_with_retries(attempt, self._settings.retry, sleep, what=f"jira {what}")

    def _run(self, calls: Calls, what: str, fn: Callable[[JIRA], T]) -> T:
        """On a pool thread: one attempt, its requests counted, its failure classified."""
        LOCAL.calls, step = calls, "serverInfo"
        try:
            with self._lock:
                client = self._client = self._client or self._build()
            step = what
            return fn(client)
        except MeasureError:
            raise
        except Exception as exc:
            raise classify(exc, step, self._settings, calls) from None
        finally:
            LOCAL.calls = None

    def _observe(self, response: Any, *args: Any, **kwargs: Any) -> None:
        self.live.headers(response.headers, response.status_code)

    def _build(self) -> JIRA:
        from okrsync.sdk.requests_tls import TrustingAdapter

        s = self._settings
        auth: Json = {"basic_auth": (s.email, s.token)} if s.email else {"token_auth": s.token}
        options = {
            "verify": True,  # the adapter below verifies with okrsync's trust
            "headers": {"User-Agent": USER_AGENT},
        }
        client = self._client_class(
            server=s.url,
            options=options,
            max_retries=0,  # retries are call_with_retries' job
            timeout=s.timeout,
            get_server_info=False,  # asked below when flavor is unknown, so it is counted
            logging=False,
            **auth,
        )
        client._session.hooks["response"].append(count_response)
        client._session.hooks["response"].append(self._observe)
        client._session.trust_env = False  # REQUESTS_CA_BUNDLE would replace the trust per request
        adapter = TrustingAdapter(
            s.ca_bundle, max_bytes=s.max_response_bytes, pool_maxsize=max(10, s.max_concurrency)
        )
        for prefix in ("http://", "https://"):
            client._session.mount(prefix, adapter)
        if self._flavor is None:
            try:
                kind = as_object(client.server_info(), "serverInfo").get("deploymentType")
            except BaseException:
                client.close()  # type: ignore[no-untyped-call]
                raise
            self._flavor = "cloud" if kind == "Cloud" else "datacenter"
        client.deploymentType = "Cloud" if self._flavor == "cloud" else "Server"
        return client


def open_connection(settings: JiraSettings, runtime: Runtime) -> JiraConnection:
    try:
        from jira import JIRA
    except ImportError:
        raise MeasureError("the jira client is not installed: pip install 'jira>=3.10'") from None
    return JiraConnection(settings, runtime, JIRA)


# Jira's status category keys (statusCategory.key) as its UI words them.
STATUS_CATEGORY_WORDS = {"new": "to do", "indeterminate": "in progress", "done": "done"}

CONNECTOR = Connector(
    type="jira",
    settings_model=JiraSettings,
    source_model=JiraSource,
    open=open_connection,
    render=render,
    describe=describe,
    doc="Jira Cloud and Data Center: JQL counts and sums, issue milestones, epic completion.",
    initiatives=True,
    status_words=STATUS_CATEGORY_WORDS,
)

__all__ = ["CONNECTOR", "JiraConnection", "describe", "render"]
