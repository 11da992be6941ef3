"""Secrets: expanded from the environment or mounted files, then redacted everywhere.

``connections.yaml`` names secrets as ``${ENV_VAR}`` or ``${file:/run/secrets/x}``;
nothing else is expanded. Every expanded value is registered with a
:class:`Redactor`, which the log processor and the store writer use, so a secret
that leaks into an exception message or a response excerpt is masked anyway.
"""

from __future__ import annotations

import os
import re
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from okrsync.sdk.secret_forms import base64_cores, literal_forms

PATTERN = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MASK = "***"
MIN_SECRET_LENGTH = 4  # shorter values would mask ordinary text
MAX_SECRET_FILE_BYTES = 64 * 1024  # a key file is a few KB; more is a wrong path


class SecretError(ValueError):
    """A secret reference that cannot be resolved; the message never holds a value."""


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


def resolve(reference: str, environ: Mapping[str, str] | None = None) -> str:
    """The value of one ``${…}`` reference (without the braces).

    An empty or blank value is an error whichever way it comes: ``Bearer `` sent
    with nothing after it fails later and further from the cause.
    """
    environ = os.environ if environ is None else environ
    if reference.startswith("file:"):
        return _read_secret_file(reference[5:])
    if not _ENV_NAME.match(reference):
        raise SecretError(
            f"${{{reference}}} is not a secret reference: write ${{ENV_VAR}} or ${{file:/path}}"
        )
    if reference not in environ or environ[reference] == "":
        raise SecretError(f"environment variable {reference} is not set")
    if not environ[reference].strip():
        raise SecretError(f"environment variable {reference} holds only whitespace")
    return environ[reference]


def _read_secret_file(name: str) -> str:
    """The file's text, stripped; at most MAX_SECRET_FILE_BYTES are read (``/dev/zero`` too)."""
    if not name.strip():
        raise SecretError("${file:} names no file: write ${file:/run/secrets/name}")
    path = Path(name)
    try:
        with path.open("rb") as file:
            raw = file.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as exc:
        raise SecretError(f"secret file {path} cannot be read: {exc.strerror}") from None
    except ValueError:  # a NUL byte in the path
        raise SecretError(f"secret file {name!r} cannot be read: invalid path") from None
    if len(raw) > MAX_SECRET_FILE_BYTES:
        limit = MAX_SECRET_FILE_BYTES // 1024
        raise SecretError(f"secret file {path} is larger than {limit} KiB, the limit")
    try:
        text = raw.decode("utf-8").strip()
    except UnicodeDecodeError:  # the message would quote a byte of the secret
        raise SecretError(f"secret file {path} is not UTF-8 text") from None
    if not text:
        raise SecretError(f"secret file {path} is empty")
    return text


def expand(
    value: Any, redactor: Redactor = REDACTOR, environ: Mapping[str, str] | None = None
) -> Any:
    """Expand references in every string of a nested structure, registering the values."""
    if isinstance(value, str):

        def substitute(match: re.Match[str]) -> str:
            secret = resolve(match.group(1), environ)
            redactor.add(secret)
            return secret

        return PATTERN.sub(substitute, value)
    if isinstance(value, Mapping):
        return {k: expand(v, redactor, environ) for k, v in value.items()}
    if isinstance(value, list):
        return [expand(v, redactor, environ) for v in value]
    return value


__all__ = [
    "MASK",
    "MAX_SECRET_FILE_BYTES",
    "REDACTOR",
    "Redactor",
    "SecretError",
    "expand",
    "resolve",
]
