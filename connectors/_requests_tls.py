"""okrsync's TLS trust for the clients that speak through ``requests`` (jira, simple-salesforce).

``requests`` only takes a CA *file* as ``verify``, which replaces the trust
store; this adapter hands urllib3 the :func:`okrsync.tls.ssl_context` instead
(system store, ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` files, the connection's
``ca_bundle``), so a ``ca_bundle`` only ever adds trust, as for every connector.
Sessions using it set ``trust_env = False``: a set ``REQUESTS_CA_BUNDLE`` would
otherwise replace the verification per request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from requests.adapters import HTTPAdapter  # noqa: TID251 - the transport of jira and simple-salesforce

from okrsync.tls import ssl_context


class TrustingAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` verifying with okrsync's SSL context; ``timeout`` when a call gives none."""

    def __init__(
        self, ca_bundle: Path | None, *, timeout: float | None = None, **kwargs: Any
    ) -> None:
        self._context = ssl_context(ca_bundle)
        self._timeout = timeout
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs, ssl_context=self._context)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        conn.ca_certs = conn.ca_cert_dir = None  # the context already holds our trust

    def send(
        self, request: Any, stream: Any = False, timeout: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        return super().send(request, stream, timeout or self._timeout, *args, **kwargs)


__all__ = ["TrustingAdapter"]
