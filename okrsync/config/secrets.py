"""Secrets: expanded from the environment or mounted files, then redacted everywhere.

``connections.yaml`` names secrets as ``${ENV_VAR}`` or ``${file:/run/secrets/x}``;
nothing else is expanded. Every expanded value is registered with a
:class:`~okrsync.sdk.redaction.Redactor`, which the log processor and the
store writer use, so a secret that leaks into an exception message or a
response excerpt is masked anyway.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from okrsync.sdk.redaction import REDACTOR, Redactor

PATTERN = re.compile(r"\$\{([^}]*)\}")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
MAX_SECRET_FILE_BYTES = 64 * 1024  # a key file is a few KB; more is a wrong path


class SecretError(ValueError):
    """A secret reference that cannot be resolved; the message never holds a value."""


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
    "MAX_SECRET_FILE_BYTES",
    "SecretError",
    "expand",
    "resolve",
]
