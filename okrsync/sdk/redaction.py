"""Masking secrets in text: the one redactor the logs, the store and every error pass through.

It lives in the sdk because connectors need it too (the sql connector masks a
password inside a database URL); :mod:`okrsync.config.secrets` registers every
value it expands with :data:`REDACTOR`.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from typing import Any

from okrsync.sdk.secret_forms import base64_cores, literal_forms

MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary text


class Redactor:
    """Masks every registered secret value in text, in every form it is sent in (thread-safe).

    The forms (:mod:`okrsync.sdk.secret_forms`): as written, JSON-, URL- and
    XML-escaped, and inside any base64 text (a Basic-auth header of ``user:secret``).
    """

    def __init__(self) -> None:
        self._values: set[str] = set()
        self._literals: set[str] = set()
        self._cores: dict[str, str] = {}  # base64 core -> its alphabet's characters
        self._lock = threading.Lock()
        self._pattern: re.Pattern[str] | None = None

    def add(self, value: str) -> None:
        value = value.strip()
        if len(value) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if value in self._values:
                return
            self._values.add(value)
            self._literals |= {f for f in literal_forms(value) if len(f) >= MIN_SECRET_LENGTH}
            self._cores.update((core, alphabet) for alphabet, core in base64_cores(value))
            longest_first = sorted(self._literals | self._cores.keys(), key=len, reverse=True)
            self._pattern = re.compile("|".join(re.escape(v) for v in longest_first))

    def masks(self, text: str) -> bool:
        """True when ``text`` holds a registered secret in some form."""
        pattern = self._pattern
        return pattern is not None and pattern.search(text) is not None

    def redact(self, text: str) -> str:
        pattern = self._pattern
        if pattern is None:
            return text
        out: list[str] = []
        last = 0
        for match in pattern.finditer(text):
            start, end = match.span()
            if start < last:
                continue  # inside a base64 run already masked
            if (alphabet := self._cores.get(match.group())) is not None:
                start, end = _base64_run(text, start, end, alphabet, floor=last)
            out += (text[last:start], MASK)
            last = end
        out.append(text[last:])
        return "".join(out)

    def redact_any(self, value: Any) -> Any:
        """Redact strings inside nested dicts, lists and tuples."""
        if isinstance(value, str):
            return self.redact(value)
        if isinstance(value, Mapping):
            return {k: self.redact_any(v) for k, v in value.items()}
        if isinstance(value, list | tuple):
            return type(value)(self.redact_any(v) for v in value)
        return value

    def __len__(self) -> int:
        return len(self._values)


def _base64_run(text: str, start: int, end: int, alphabet: str, floor: int) -> tuple[int, int]:
    """A core's span grown by the characters that mix in its neighbours' bits, and padding."""
    for _ in range(2):
        if start > floor and text[start - 1] in alphabet:
            start -= 1
    for _ in range(2):
        if end < len(text) and text[end] in alphabet:
            end += 1
    while end < len(text) and text[end] == "=":
        end += 1
    return start, end


REDACTOR = Redactor()
"""The process-wide redactor: the structlog processor reads it."""


__all__ = ["MASK", "MIN_SECRET_LENGTH", "REDACTOR", "Redactor"]
