"""okrsync's TLS trust for the clients that speak through ``requests`` (jira, simple-salesforce).

``requests`` only takes a CA *file* as ``verify``, which replaces the trust
store; this adapter hands urllib3 the :func:`okrsync.sdk.tls.ssl_context` instead
(system store, ``SSL_CERT_FILE``/``REQUESTS_CA_BUNDLE`` files, the connection's
``ca_bundle``), so a ``ca_bundle`` only ever adds trust, as for every connector.
Sessions using it set ``trust_env = False``: a set ``REQUESTS_CA_BUNDLE`` would
otherwise replace the verification per request.

The adapter also reads each answer body itself, at most ``max_bytes`` (decoded)
of it, as :mod:`okrsync.sdk.http` does for httpx: both clients would otherwise
read any body whole before okrsync sees a byte of it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from requests.adapters import HTTPAdapter  # noqa: TID251 - the transport of jira and simple-salesforce

from okrsync.sdk.http import MAX_RESPONSE_BYTES, BoundedBody
from okrsync.sdk.tls import ssl_context

CHUNK = 64 * 1024


class TrustingAdapter(HTTPAdapter):
    """An ``HTTPAdapter`` verifying with okrsync's SSL context; ``timeout`` when a call gives none."""

    def __init__(
        self,
        ca_bundle: Path | None,
        *,
        timeout: float | None = None,
        max_bytes: int = MAX_RESPONSE_BYTES,
        **kwargs: Any,
    ) -> None:
        self._context = ssl_context(ca_bundle)
        self._timeout = timeout
        self._max_bytes = max_bytes
        super().__init__(**kwargs)

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        super().init_poolmanager(*args, **kwargs, ssl_context=self._context)

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        super().cert_verify(conn, url, verify, cert)
        conn.ca_certs = conn.ca_cert_dir = None  # the context already holds our trust

    def send(
        self, request: Any, stream: Any = False, timeout: Any = None, *args: Any, **kwargs: Any
    ) -> Any:
        response = super().send(request, stream, timeout or self._timeout, *args, **kwargs)
        if not stream:
            _read_bounded(response, self._max_bytes)
        return response


def _read_bounded(response: Any, limit: int) -> None:
    """Read the body now, at most ``limit`` bytes; a larger success is a SourceDataError.

    ``iter_content`` maps urllib3's failures (a truncated body, a read timeout)
    to the ``requests`` exceptions the connectors classify. The error of an
    error status is cut instead: only its message is read.
    """
    ok = 200 <= response.status_code < 300
    label = f"{response.request.method} {response.request.path_url.split('?')[0]}"
    try:
        body = BoundedBody(label, limit, ok, response.headers)
        for chunk in response.iter_content(CHUNK):
            if not body.take(chunk):
                break
    except BaseException:
        response.close()
        raise
    response._content = bytes(body.data)  # what requests' own ``content`` would have stored


__all__ = ["TrustingAdapter"]
