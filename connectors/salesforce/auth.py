"""Logins of :mod:`connectors.salesforce.connector`: the four flows, the session, the HTTP under them.

Exactly one flow per connection — username + password + security_token (SOAP),
consumer_key + consumer_secret (client credentials), username + consumer_key +
privatekey_file (JWT bearer) or instance_url + session_id (an existing session). We log
in with ``SalesforceLogin`` and hand the session to ``Salesforce(session_id=…)``, so an
expired session costs exactly one new login, shared by every call in flight
(:class:`Session`).
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from connectors.salesforce.errors import Expired, classify, login_error, plain
from connectors.salesforce.settings import FLOWS, SalesforceSettings
from okrsync.errors import AuthError, SourceDataError

if TYPE_CHECKING:
    import requests  # noqa: TID251 - simple-salesforce's transport
    from simple_salesforce.api import Salesforce


T = TypeVar("T")


class Session:
    """The connection's one client, logged in on first use and shared by its threads."""

    def __init__(self, settings: SalesforceSettings, local: threading.local) -> None:
        self._settings, self._local = settings, local
        self.http = http_session(settings, local)
        self._lock = threading.Lock()
        self._client: Salesforce | None = None
        self._generation = 0
        self._refused: AuthError | None = None  # a refused login is not tried again
        self.logins = 0

    def run(self, attempt: Callable[[Salesforce], T]) -> T:
        """``attempt(client)``; once more after one new login if it raised Expired."""
        client, generation = self._connect(None)
        try:
            return attempt(client)
        except Expired:
            if self._settings.flow == "session":
                raise AuthError(
                    f"Salesforce rejected {self._settings.who} (INVALID_SESSION_ID): session "
                    "ids expire; use a login flow instead"
                ) from None
        client, _ = self._connect(generation)  # one new login, shared by concurrent calls
        try:
            return attempt(client)
        except Expired:
            raise AuthError(
                f"Salesforce rejected the session (INVALID_SESSION_ID) right after logging in "
                f"again as {self._settings.who}"
            ) from None

    def close(self) -> None:
        self.http.close()

    def _connect(self, stale: int | None) -> tuple[Salesforce, int]:
        with self._lock:
            if self._refused is not None:  # every retry would count toward a user lockout
                raise self._refused
            if self._client is None or stale == self._generation:
                try:
                    self._client = login(self._settings, self.http, self._local)
                except AuthError as exc:
                    self._refused = exc
                    raise
                if self._settings.flow != "session":
                    self.logins += 1
                self._generation += 1
            return self._client, self._generation


def login(
    settings: SalesforceSettings, http: requests.Session, local: threading.local
) -> Salesforce:
    """A client for the settings' flow; ``local.retry_after`` is the last response's header.

    The session flow logs nothing in: it wraps the given session id.
    """
    from xml.parsers.expat import ExpatError

    import requests  # noqa: TID251 - simple-salesforce's transport
    from simple_salesforce.api import Salesforce
    from simple_salesforce.exceptions import SalesforceAuthenticationFailed
    from simple_salesforce.login import SalesforceLogin

    s = settings
    common: dict[str, Any] = {"session": http, "version": s.api_version}
    if s.flow == "session":
        return Salesforce(instance_url=s.instance_url, session_id=plain(s.session_id), **common)
    local.retry_after = None
    # the settings' names are SalesforceLogin's: username, password, consumer_key, …
    given: dict[str, Any] = {name: plain(getattr(s, name)) for name in FLOWS[s.flow]}
    try:
        session_id, instance = SalesforceLogin(
            session=http, domain=s.domain, sf_version=s.api_version, **given
        )
    except SalesforceAuthenticationFailed as exc:
        raise login_error(exc, s, getattr(local, "retry_after", None)) from None
    except (requests.RequestException, RecursionError) as exc:
        raise classify(exc, s, getattr(local, "retry_after", None)) from None
    except ExpatError:  # the SOAP flow parses a 200's body as XML
        raise SourceDataError(
            f"Salesforce login for {s.who} was answered with a body that is not XML"
        ) from None
    except Exception as exc:  # JWT: the key file unreadable, or not a key PyJWT can use
        if s.flow != "JWT bearer":
            raise
        if isinstance(exc, OSError):
            raise AuthError(f"privatekey_file {s.privatekey_file}: {exc.strerror}") from None
        raise AuthError(
            f"privatekey_file {s.privatekey_file} is not a usable PEM RSA private key "
            f"({type(exc).__name__})"
        ) from None
    return Salesforce(session_id=session_id, instance=instance, **common)


def http_session(settings: SalesforceSettings, local: threading.local) -> requests.Session:
    """A session that trusts what every okrsync connection trusts, ignores the CA env override.

    ``trust_env = False``: a set ``REQUESTS_CA_BUNDLE`` would otherwise replace our
    verification per request. Trust comes from :func:`okrsync.sdk.tls.ssl_context` (system
    store, ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` files, ``ca_bundle``); the adapter adds
    the connection's timeout, which simple-salesforce never passes. A response hook keeps
    each thread's last ``Retry-After`` in ``local.retry_after``.
    """
    import requests  # noqa: TID251 - simple-salesforce's transport

    from okrsync.sdk.requests_tls import TrustingAdapter

    session = requests.Session()
    session.trust_env = False
    adapter = TrustingAdapter(
        settings.ca_bundle,
        timeout=settings.timeout,
        max_bytes=settings.max_response_bytes,
        pool_maxsize=max(10, settings.max_concurrency),
    )
    session.mount("https://", adapter)
    session.mount("http://", adapter)

    def remember(response: requests.Response, *args: Any, **kwargs: Any) -> None:
        local.retry_after = response.headers.get("Retry-After")

    session.hooks["response"].append(remember)
    return session
