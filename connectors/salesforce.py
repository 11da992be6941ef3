"""``type: salesforce``: SOQL aggregates, record sums and report totals (simple-salesforce).

Logins: exactly one flow per connection — username + password + security_token (SOAP),
consumer_key + consumer_secret (client credentials), username + consumer_key +
privatekey_file (JWT bearer) or instance_url + session_id (an existing session). We log
in with ``SalesforceLogin`` and hand the session to ``Salesforce(session_id=…)``, so an
expired session costs exactly one new login, shared by every call in flight.

Quota: distinct ``soql`` + ``value`` queries go through the Composite Batch API, up to
25 per round trip (:meth:`SalesforceConnection.measure_batch`); ``aggregate`` sources
page through ``nextRecordsUrl``; reports run synchronously. Each Reading's ``raw`` ends
with ``api-usage=USED/MAX`` from ``Sforce-Limit-Info``.

Failures (simple-salesforce retries nothing; every retry is :func:`call_with_retries`):

    ===================================================  =================================
    what happened                                        MeasureError
    ===================================================  =================================
    SalesforceMalformedRequest 400 (MALFORMED_QUERY,     QueryError "CODE: message"
    INVALID_FIELD, INVALID_TYPE, …), 404, 300
    SalesforceExpiredSession 401 INVALID_SESSION_ID      log in again once, retry; then
                                                         AuthError (session_id: at once)
    SalesforceRefusedRequest 403 REQUEST_LIMIT_EXCEEDED  TransientError (the org's quota)
    SalesforceRefusedRequest 403, other codes            AuthError (no permission)
    SalesforceGeneralError 429, 5xx                      TransientError, Retry-After kept
    SalesforceGeneralError, other status                 QueryError
    SalesforceAuthenticationFailed (login refused)       AuthError naming user/consumer key
    login answered 429/5xx without a fault               TransientError
    requests Timeout, ConnectionError (reset, TLS)       TransientError
    body not JSON, no such alias/label, null, >1 row     SourceDataError
    a Composite Batch subresult                          the same table, for its source only
    ===================================================  =================================

Messages never carry a password, token, secret or session id.
"""

from __future__ import annotations

import asyncio
import json
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar
from urllib.parse import urlencode

from pydantic import Field, SecretStr, field_validator, model_validator

from okrsync.blocking import ThreadedCalls
from okrsync.connector import (
    ConnectionSettings,
    Connector,
    Reading,
    RenderContext,
    Runtime,
    SourceBase,
)
from okrsync.errors import (
    AuthError,
    MeasureError,
    QueryError,
    SourceDataError,
    TransientError,
    excerpt,
)
from okrsync.render import render_source
from okrsync.retry import call_with_retries, parse_retry_after
from okrsync.tls import ssl_context

if TYPE_CHECKING:
    import requests  # noqa: TID251 - simple-salesforce's transport
    from simple_salesforce.api import Salesforce

T = TypeVar("T")
BATCH_SIZE = 25  # the Composite Batch API's limit
MAX_PAGES = 500  # 1M records at 2000 a page: beyond that, SUM() in SOQL is the answer
_FLOWS: dict[str, frozenset[str]] = {
    "password": frozenset({"username", "password", "security_token"}),
    "client credentials": frozenset({"consumer_key", "consumer_secret"}),
    "JWT bearer": frozenset({"username", "consumer_key", "privatekey_file"}),
    "session": frozenset({"instance_url", "session_id"}),
}
_AUTH_FIELDS = frozenset().union(*_FLOWS.values())
_ACCEPTED = (
    "username + password + security_token, consumer_key + consumer_secret (client "
    "credentials), username + consumer_key + privatekey_file (JWT bearer), or "
    "instance_url + session_id (an existing session)"
)
_REPORT_ID = re.compile(r"00O[0-9A-Za-z]{12}(?:[0-9A-Za-z]{3})?")
_NAME = re.compile(r"[A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*")


class SalesforceSettings(ConnectionSettings):
    type: Literal["salesforce"]
    domain: str = Field(default="login", description="login | test | <mydomain>.my")
    username: str | None = None
    password: SecretStr | None = None
    security_token: SecretStr | None = None
    consumer_key: str | None = None
    consumer_secret: SecretStr | None = None
    privatekey_file: Path | None = Field(default=None, description="PEM key for JWT bearer.")
    instance_url: str | None = Field(default=None, description="With session_id.")
    session_id: SecretStr | None = None
    api_version: str = Field(default="62.0", pattern=r"^\d+\.\d$")

    @field_validator("domain")
    @classmethod
    def _domain(cls, domain: str) -> str:
        if "://" in domain or domain.endswith(".salesforce.com") or not domain:
            raise ValueError(
                "domain is login, test or <mydomain>.my (simple-salesforce adds "
                f"https:// and .salesforce.com), not {domain!r}"
            )
        return domain

    @model_validator(mode="after")
    def _one_flow(self) -> SalesforceSettings:
        if self.url is not None:
            raise ValueError("salesforce connections take domain (or instance_url), not url")
        given = {name for name in _AUTH_FIELDS if getattr(self, name) is not None}
        if self.flow_of(given) is None:
            shown = ", ".join(sorted(given)) or "none"
            raise ValueError(f"give exactly one login: {_ACCEPTED}; got {shown}")
        if given == _FLOWS["client credentials"] and self.domain in ("login", "test"):
            raise ValueError("client credentials need your My Domain: domain: <mydomain>.my")
        if self.instance_url is not None and not self.instance_url.startswith("https://"):
            raise ValueError("instance_url must start with https://")
        return self

    @staticmethod
    def flow_of(given: set[str]) -> str | None:
        return next((name for name, need in _FLOWS.items() if given == need), None)

    @property
    def flow(self) -> str:
        given = {name for name in _AUTH_FIELDS if getattr(self, name) is not None}
        return self.flow_of(given) or "?"

    @property
    def who(self) -> str:
        """Who logs in, for messages: never a secret."""
        if self.username:
            return f"user {self.username}"
        if self.consumer_key:
            return f"consumer key {self.consumer_key}"
        return f"the session for {self.instance_url}"


class SalesforceSource(SourceBase):
    soql: str | None = Field(default=None, description="A SELECT; placeholders become literals.")
    value: str | None = Field(
        default=None,
        description="Alias or field of the one row (totalSize for COUNT()), or "
        "the report aggregate's key or label (s!Amount, Sum of Amount, RowCount).",
    )
    aggregate: Literal["sum", "count"] | None = Field(
        default=None, description="Sum or count `field` over every record the soql returns."
    )
    field: str | None = None
    include_deleted: bool = Field(default=False, description="queryAll: deleted records too.")
    report: str | None = Field(default=None, description="A report id (00O…); needs value.")

    @model_validator(mode="after")
    def _one_form(self) -> SalesforceSource:
        forms = (
            "soql + value (an alias or field; totalSize for COUNT()), soql + aggregate: "
            "sum|count + field, or report + value"
        )
        if self.report is not None:
            if self.soql or self.aggregate or self.field or self.include_deleted:
                raise ValueError(f"report takes only value; give one of: {forms}")
            if not _REPORT_ID.fullmatch(self.report):
                raise ValueError(
                    f"report must be a report id like 00O5g00000AbCdE, not {self.report!r}"
                )
        elif self.soql is None:
            raise ValueError(f"give one of: {forms}")
        elif not self.soql.lstrip().upper().startswith("SELECT"):
            raise ValueError("soql must be a SELECT query")
        elif self.aggregate is not None:
            if self.value is not None:
                raise ValueError("aggregate sums or counts field over the records: drop value")
            if self.aggregate == "sum" and self.field is None:
                raise ValueError("aggregate: sum needs field (the one to add up)")
        elif self.field is not None:
            raise ValueError("field goes with aggregate: sum|count; with value, drop field")
        if self.aggregate is None and not self.value:
            raise ValueError(f"value is required; give one of: {forms}")
        if self.field is not None and not _NAME.fullmatch(self.field):
            raise ValueError(f"field must be a field name like Amount, not {self.field!r}")
        return self


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


class _Expired(Exception):
    """INVALID_SESSION_ID: log in again (internal; never leaves the connection)."""


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
        self._http = _http_session(settings, self._local)
        self._threads = ThreadedCalls(settings.max_concurrency, "salesforce")
        self._lock = threading.Lock()
        self._client: Salesforce | None = None
        self._generation = 0
        self._refused: AuthError | None = None  # a refused login is not tried again
        self.logins = 0
        self.last_api_usage: tuple[int, int] | None = None  # (used, max) for the org today

    # -- public -------------------------------------------------------------------

    async def measure(self, source: SalesforceSource) -> Reading:
        tally = _Tally()
        if source.report is not None:
            path = f"analytics/reports/{source.report}"
            data = await self._rest("report", lambda sf: sf.restful(path), tally)
            value, shown = _report_value(data, source.value or "")
        elif source.aggregate is None or (source.aggregate == "count" and source.field is None):
            soql, deleted = source.soql or "", source.include_deleted
            data = await self._rest("query", lambda sf: sf.query(soql, deleted), tally)
            value, shown = _query_value(data, source.value or "totalSize", soql)
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
        self._http.close()

    # -- queries ------------------------------------------------------------------

    async def _records(self, source: SalesforceSource, tally: _Tally) -> tuple[float, str]:
        soql, field = source.soql or "", source.field or "Id"
        page = await self._rest("query", lambda sf: sf.query(soql, source.include_deleted), tally)
        total, count, pages, seen = 0.0, 0, 1, set()
        while True:
            for record in _records_of(page):
                found = _lookup(record, field)
                if found is None:
                    continue
                count += 1
                if source.aggregate == "sum":
                    total += float(_number(found, field))
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
                raise _SomeTransient(
                    f"{len(retry)} of the batch failed for now: {results[retry[0]]}"
                )

        try:
            await call_with_retries(
                attempt,
                self._settings.retry,
                self._runtime.sleep,
                what="salesforce composite/batch",
            )
        except _SomeTransient:
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
        subs = data.get("results") if isinstance(data, dict) else None
        if not isinstance(subs, list) or len(subs) != len(batch):
            raise SourceDataError(
                f"composite/batch gave no result per request: {excerpt(json.dumps(data), 200)}"
            )
        if any(
            _first_error(s.get("result"))[0] == "INVALID_SESSION_ID"
            for s in subs
            if isinstance(s, dict)
        ):
            raise _Expired
        return subs

    def _subresult(self, source: SalesforceSource, sub: Any) -> Reading | MeasureError:
        status = sub.get("statusCode") if isinstance(sub, dict) else None
        result = sub.get("result") if isinstance(sub, dict) else None
        if status == 200:
            try:
                value, shown = _query_value(result, source.value or "", source.soql or "")
            except MeasureError as exc:
                return exc
            return Reading(value, self._raw(shown), calls=0)
        code, message = _first_error(result)
        return _error_for(status if isinstance(status, int) else 500, code, message, None)

    def _raw(self, shown: str) -> str:
        usage = self.last_api_usage
        suffix = f" | api-usage={usage[0]}/{usage[1]}" if usage else ""
        return excerpt(shown, 260) + suffix

    # -- calls, logins and errors (worker threads) ---------------------------------

    async def _rest(self, what: str, op: Callable[[Salesforce], T], tally: _Tally) -> T:
        async def attempt() -> T:
            return await self._threads.call(self._run, op, tally)

        return await call_with_retries(
            attempt, self._settings.retry, self._runtime.sleep, what=f"salesforce {what}"
        )

    def _run(self, op: Callable[[Salesforce], T], tally: _Tally) -> T:
        client, generation = self._connect(None)
        try:
            return self._attempt(client, op, tally)
        except _Expired:
            if self._settings.flow == "session":
                raise AuthError(
                    f"Salesforce rejected {self._settings.who} (INVALID_SESSION_ID): session "
                    "ids expire; use a login flow instead"
                ) from None
        client, _ = self._connect(generation)  # one new login, shared by concurrent calls
        try:
            return self._attempt(client, op, tally)
        except _Expired:
            raise AuthError(
                f"Salesforce rejected the session (INVALID_SESSION_ID) right after logging in "
                f"again as {self._settings.who}"
            ) from None

    def _attempt(self, client: Salesforce, op: Callable[[Salesforce], T], tally: _Tally) -> T:
        import requests  # noqa: TID251 - simple-salesforce's transport
        from simple_salesforce.exceptions import SalesforceError

        self._local.retry_after = None
        tally.calls += 1
        try:
            return op(client)
        except (SalesforceError, requests.RequestException) as exc:
            raise self._classify(exc) from None
        finally:
            usage = client.api_usage.get("api-usage")
            if usage is not None:
                self.last_api_usage = (usage.used, usage.total)

    def _connect(self, stale: int | None) -> tuple[Salesforce, int]:
        with self._lock:
            if self._refused is not None:  # every retry would count toward a user lockout
                raise self._refused
            if self._client is None or stale == self._generation:
                try:
                    self._client = self._login()
                except AuthError as exc:
                    self._refused = exc
                    raise
                self._generation += 1
            return self._client, self._generation

    def _login(self) -> Salesforce:
        import requests  # noqa: TID251 - simple-salesforce's transport
        from simple_salesforce.api import Salesforce
        from simple_salesforce.exceptions import SalesforceAuthenticationFailed
        from simple_salesforce.login import SalesforceLogin

        s = self._settings
        common: dict[str, Any] = {"session": self._http, "version": s.api_version}
        if s.flow == "session":
            return Salesforce(
                instance_url=s.instance_url, session_id=_plain(s.session_id), **common
            )
        self._local.retry_after = None
        # the settings' names are SalesforceLogin's: username, password, consumer_key, …
        login: dict[str, Any] = {name: _plain(getattr(s, name)) for name in _FLOWS[s.flow]}
        try:
            session_id, instance = SalesforceLogin(
                session=self._http, domain=s.domain, sf_version=s.api_version, **login
            )
        except SalesforceAuthenticationFailed as exc:
            raise self._login_error(exc) from None
        except requests.RequestException as exc:
            raise self._classify(exc) from None
        except Exception as exc:  # JWT: the key file unreadable, or not a key PyJWT can use
            if s.flow != "JWT bearer":
                raise
            if isinstance(exc, OSError):
                raise AuthError(f"privatekey_file {s.privatekey_file}: {exc.strerror}") from None
            raise AuthError(
                f"privatekey_file {s.privatekey_file} is not a usable PEM RSA private key "
                f"({type(exc).__name__})"
            ) from None
        self.logins += 1
        return Salesforce(session_id=session_id, instance=instance, **common)

    def _login_error(self, exc: Any) -> MeasureError:
        code, message = exc.code, self._scrub(excerpt(str(exc.auth_message), 200))
        if isinstance(code, int) and (code == 429 or code >= 500):
            retry_after = parse_retry_after(getattr(self._local, "retry_after", None))
            return TransientError(
                f"Salesforce login for {self._settings.who}: HTTP {code}", retry_after
            )
        flow = self._settings.flow
        return AuthError(
            f"Salesforce login failed for {self._settings.who} ({flow}): {code}: {message}"
        )

    def _classify(self, exc: Exception) -> MeasureError | _Expired:
        import requests  # noqa: TID251 - simple-salesforce's transport
        from simple_salesforce.exceptions import SalesforceError, SalesforceExpiredSession

        if isinstance(exc, SalesforceExpiredSession):
            return _Expired()
        retry_after = parse_retry_after(getattr(self._local, "retry_after", None))
        if isinstance(exc, SalesforceError):
            code, message = _first_error(exc.content)
            return _error_for(exc.status, code, self._scrub(message), retry_after)
        if isinstance(exc, requests.exceptions.JSONDecodeError):
            return SourceDataError("Salesforce answered with a body that is not JSON")
        if isinstance(exc, requests.Timeout):
            return TransientError(f"Salesforce timed out after {self._settings.timeout:g}s")
        if isinstance(exc, requests.exceptions.SSLError):
            return TransientError(
                f"TLS to Salesforce failed (certificate not trusted? set ca_bundle): "
                f"{excerpt(str(exc), 160)}"
            )
        return TransientError(
            f"Salesforce unreachable: {type(exc).__name__}: {excerpt(str(exc), 160)}"
        )

    def _scrub(self, text: str) -> str:
        s = self._settings
        for secret in (s.password, s.security_token, s.consumer_secret, s.session_id):
            value = _plain(secret)
            if value and len(value) >= 4:
                text = text.replace(value, "***")
        return text


class _SomeTransient(TransientError):
    """Some sources of a batch failed for now; their own errors are already recorded."""


def _plain(value: SecretStr | Path | str | None) -> str | None:
    if isinstance(value, SecretStr):
        return value.get_secret_value()
    return None if value is None else str(value)


def _http_session(settings: SalesforceSettings, local: threading.local) -> requests.Session:
    """A session that trusts what every okrsync connection trusts, ignores the CA env override.

    ``trust_env = False``: a set ``REQUESTS_CA_BUNDLE`` would otherwise replace our
    verification per request. Trust comes from :func:`okrsync.tls.ssl_context` (system
    store, ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` files, ``ca_bundle``); the adapter adds
    the connection's timeout, which simple-salesforce never passes.
    """
    import requests  # noqa: TID251 - simple-salesforce's transport
    from requests.adapters import HTTPAdapter  # noqa: TID251 - same

    context, default = ssl_context(settings.ca_bundle), settings.timeout

    class Adapter(HTTPAdapter):
        def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
            super().init_poolmanager(*args, **kwargs, ssl_context=context)

        def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
            super().cert_verify(conn, url, verify, cert)
            conn.ca_certs = conn.ca_cert_dir = None  # the context already holds our trust

        def send(
            self, request: Any, stream: Any = False, timeout: Any = None, *args: Any, **kwargs: Any
        ) -> Any:
            return super().send(request, stream, timeout or default, *args, **kwargs)

    session = requests.Session()
    session.trust_env = False
    adapter = Adapter(pool_maxsize=max(10, settings.max_concurrency))
    session.mount("https://", adapter)
    session.mount("http://", adapter)

    def remember(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        local.retry_after = response.headers.get("Retry-After")

    session.hooks["response"].append(remember)
    return session


def _more(url: str) -> Callable[[Salesforce], Any]:
    return lambda sf: sf.query_more(url, identifier_is_url=True)


def _records_of(page: Any) -> list[Any]:
    records = page.get("records") if isinstance(page, dict) else None
    if not isinstance(records, list):
        raise SourceDataError("the query answer has no records list")
    return records


def _lookup(row: Any, path: str) -> Any:
    """``path`` (``total``, ``Account.Name``) in a record, ignoring case as SOQL does."""
    node = row
    for part in path.split("."):
        key = (
            next((k for k in node if k.lower() == part.lower()), None)
            if isinstance(node, dict)
            else None
        )
        if key is None:
            keys = ", ".join(k for k in row if k != "attributes") if isinstance(row, dict) else ""
            raise SourceDataError(f"no {path!r} in the row; available: {keys or 'nothing'}")
        node = node[key]
    return node


def _number(found: Any, name: str) -> float | bool:
    if isinstance(found, bool):
        return found
    if isinstance(found, int | float):
        return float(found)
    if isinstance(found, str):
        try:
            return float(found)
        except ValueError:
            pass
    raise SourceDataError(f"{name!r} is {excerpt(json.dumps(found), 80)}, not a number")


def _sum_like(soql: str, key: str) -> bool:
    """Is ``key`` a SUM/COUNT column (``total`` or unaliased ``exprN``) of ``soql``?"""
    m = re.match(r"\s*SELECT\s+(.*?)\s+FROM\s", soql, re.I | re.S)
    items = re.split(r",(?![^(]*\))", m.group(1)) if m else []
    unnamed = 0
    for item in items:
        agg = re.fullmatch(r"\s*(\w+)\s*\([^)]*\)\s*(\w+)?\s*", item)
        if agg is None:
            continue
        alias = agg.group(2) or f"expr{unnamed}"
        unnamed += agg.group(2) is None
        if alias.lower() == key.lower():
            return agg.group(1).upper() in ("SUM", "COUNT", "COUNT_DISTINCT")
    return False


def _query_value(data: Any, key: str, soql: str) -> tuple[float | bool, str]:
    """COUNT() → totalSize; otherwise ``key`` of the single (aggregate) row."""
    if not isinstance(data, dict):
        raise SourceDataError("the query answer is not a JSON object")
    if key == "totalSize":
        total = data.get("totalSize")
        if not isinstance(total, int):
            raise SourceDataError("the query answer has no totalSize")
        return float(total), json.dumps({"totalSize": total, "done": data.get("done")})
    records = _records_of(data)
    if len(records) != 1:
        raise SourceDataError(
            f"the query returned {len(records)} rows; {key!r} needs exactly one "
            "(an aggregate without GROUP BY; totalSize for SELECT COUNT())"
        )
    row = {k: v for k, v in records[0].items() if k != "attributes"}
    shown = json.dumps({"totalSize": data.get("totalSize"), "records": [row]})
    found = _lookup(row, key)
    if found is None:
        if _sum_like(soql, key):  # SUM over no rows is null
            return 0.0, shown
        raise SourceDataError(f"{key!r} is null")
    return _number(found, key), shown


def _report_value(data: Any, wanted: str) -> tuple[float, str]:
    """The grand total (``factMap["T!T"]``) of the aggregate named by key or label."""
    try:
        keys = [str(k) for k in data["reportMetadata"]["aggregates"]]
        cells = list(data["factMap"]["T!T"]["aggregates"])
    except (KeyError, TypeError):
        raise SourceDataError("the report answer has no grand total (factMap T!T)") from None
    info = (data.get("reportExtendedMetadata") or {}).get("aggregateColumnInfo") or {}
    labels = {k: str((info.get(k) or {}).get("label", k)) for k in keys}
    index = next(
        (
            i
            for i, k in enumerate(keys)
            if wanted in (k, labels[k]) or wanted.lower() == labels[k].lower()
        ),
        None,
    )
    if index is None or index >= len(cells) or not isinstance(cells[index], dict):
        shown = ", ".join(f"{k} ({labels[k]})" for k in keys)
        raise SourceDataError(f"the report has no aggregate {wanted!r}; available: {shown}")
    value = cells[index].get("value")
    totals = {k: c.get("value") for k, c in zip(keys, cells, strict=False) if isinstance(c, dict)}
    shown = json.dumps({"factMap": {"T!T": totals}})
    if value is None:
        raise SourceDataError(f"the report's {keys[index]} total is null")
    return float(_number(value, keys[index])), shown


def _first_error(content: Any) -> tuple[str | None, str]:
    """(errorCode, message) of a Salesforce error body ``[{"message", "errorCode"}]``."""
    first = content[0] if isinstance(content, list) and content else content
    if isinstance(first, dict):
        return first.get("errorCode"), str(first.get("message", ""))
    text = first.decode(errors="replace") if isinstance(first, bytes) else str(first or "")
    return None, excerpt(text, 200)


def _error_for(
    status: int, code: str | None, message: str, retry_after: float | None
) -> MeasureError:
    text = excerpt(f"{code}: {message}" if code else f"HTTP {status}: {message}", 300)
    if code == "REQUEST_LIMIT_EXCEEDED":
        return TransientError(f"the org's API request limit is used up ({text})", retry_after)
    if status == 429 or status >= 500:
        return TransientError(text, retry_after)
    if status in (401, 403):
        return AuthError(text)
    return QueryError(text)


def open_connection(settings: SalesforceSettings, runtime: Runtime) -> SalesforceConnection:
    try:
        return SalesforceConnection(settings, runtime)
    except ValueError as exc:  # an unreadable ca_bundle
        error = MeasureError(str(exc))
        error.kind = "config"
        raise error from None


CONNECTOR = Connector(
    type="salesforce",
    settings_model=SalesforceSettings,
    source_model=SalesforceSource,
    open=open_connection,
    render=render,
    describe=describe,
    doc="Salesforce: SOQL aggregates (batched 25 a call), record sums and report totals.",
)

__all__ = [
    "CONNECTOR",
    "SalesforceConnection",
    "SalesforceSettings",
    "SalesforceSource",
    "describe",
    "render",
    "soql_literals",
]
