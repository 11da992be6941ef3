"""The TLS trust every connection uses.

We hand httpx an explicit :class:`ssl.SSLContext` (so its own env handling is
bypassed) that trusts the system store, the bundles named by ``SSL_CERT_FILE``
and ``REQUESTS_CA_BUNDLE`` (corporate proxies put their CA there), and the
connection's ``ca_bundle`` for a private CA. Trust is only ever added, never
replaced, so setting ``ca_bundle`` cannot break public endpoints.
"""

from __future__ import annotations

import os
import ssl
from functools import lru_cache
from pathlib import Path

ENV_BUNDLES = ("SSL_CERT_FILE", "REQUESTS_CA_BUNDLE")


def ssl_context(ca_bundle: Path | None = None) -> ssl.SSLContext:
    """A verifying client context; ValueError names a missing or unreadable bundle.

    Contexts are shared: loading the system store takes ~0.1 s and a MB or
    two each, and a context is safe to use from many connections. The key
    holds each bundle's mtime, so a rotated bundle is read again.
    """
    if ca_bundle is not None and not ca_bundle.is_file():
        raise ValueError(f"ca_bundle {ca_bundle}: no such file")
    bundles = [os.environ.get(var) for var in ENV_BUNDLES]
    key = tuple((b, _mtime(b)) for b in [*bundles, str(ca_bundle) if ca_bundle else None])
    return _cached_context(key)


def _mtime(path: str | None) -> float | None:
    try:
        return os.stat(path).st_mtime if path else None
    except OSError:
        return None


@lru_cache(maxsize=32)
def _cached_context(key: tuple[tuple[str | None, float | None], ...]) -> ssl.SSLContext:
    *env, (bundle, _) = key
    return _build(Path(bundle) if bundle else None, [value for value, _ in env])


def _build(ca_bundle: Path | None, env: list[str | None]) -> ssl.SSLContext:
    context = ssl.create_default_context()
    default = ssl.get_default_verify_paths().cafile  # already loaded, often = SSL_CERT_FILE
    loaded = {Path(default).resolve()} if default else set()
    for var, value in zip(ENV_BUNDLES, env, strict=True):
        if value and Path(value).is_file():
            _load(context, Path(value), f"{var}={value}", loaded)
    if ca_bundle is not None:
        if not ca_bundle.is_file():
            raise ValueError(f"ca_bundle {ca_bundle}: no such file")
        _load(context, ca_bundle, f"ca_bundle {ca_bundle}", loaded)
    return context


def _load(context: ssl.SSLContext, path: Path, label: str, loaded: set[Path]) -> None:
    resolved = path.resolve()
    if resolved in loaded:  # the env vars usually name the same system bundle
        return
    try:
        context.load_verify_locations(cafile=str(path))
    except (ssl.SSLError, OSError) as exc:
        raise ValueError(f"{label}: not a readable PEM certificate bundle ({exc})") from None
    loaded.add(resolved)


__all__ = ["ssl_context"]
