"""Every form a secret travels in, so the redactor masks it however it comes back.

A server that echoes a request, or a client library that puts the request in
its error message, hands back the secret as it was *sent*, not as it was
written: inside a Basic-auth header as base64 of ``user:secret``, inside a JSON
body with ``"`` and ``\\`` escaped, in a query string percent-encoded, in a SOAP
envelope XML-escaped. :func:`literal_forms` lists the escaped spellings;
:func:`base64_cores` finds the secret inside *any* base64 text whatever
comes before it (the user of ``user:secret``, a JSON document): base64 turns
each 3 bytes into 4 characters, so for each of the three byte offsets at which
the secret can start, the characters made only of its own bits are the same in
every encoding (GitHub's secret scanning finds base64 tokens the same way).
The redactor masks each core with the few characters around it that mix in
neighbouring bits.
"""

from __future__ import annotations

import base64
import html
import json
from urllib.parse import quote, quote_plus

MIN_CORE = 8  # base64 characters; a shorter core would mask ordinary base64 text
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
_ALPHABETS = {
    "standard": (base64.b64encode, _LETTERS + "+/"),
    "urlsafe": (base64.urlsafe_b64encode, _LETTERS + "-_"),
}


def literal_forms(value: str) -> set[str]:
    """``value`` as written and as JSON, URLs and XML escape it."""
    as_json = json.dumps(value)[1:-1]
    return {
        value,
        as_json,
        as_json.replace("/", "\\/"),  # JSON encoders that escape the solidus (PHP, some Java)
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote(value),
        quote_plus(value, safe=""),
        html.escape(value, quote=False),  # XML text (SOAP bodies)
        html.escape(value),  # XML attributes
    }


def base64_cores(value: str) -> set[tuple[str, str]]:
    """(alphabet, core) for each alphabet and byte offset: in any base64 text holding ``value``."""
    data = value.encode()
    cores: set[tuple[str, str]] = set()
    for encode, alphabet in _ALPHABETS.values():
        for offset in range(3):
            encoded = encode(b"\0" * offset + data).decode("ascii")
            first = -(-8 * offset // 6)  # the first character of the secret's bits only
            end = 8 * (offset + len(data)) // 6  # past the last such character
            core = encoded[first:end]
            if len(core) >= MIN_CORE:
                cores.add((alphabet, core))
    return cores


__all__ = ["MIN_CORE", "base64_cores", "literal_forms"]
