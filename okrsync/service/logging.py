"""structlog set-up: JSON for machines, console for people, secrets always masked."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal, TextIO

import structlog

from okrsync.sdk.redaction import REDACTOR, Redactor

LogFormat = Literal["json", "console"]


def redact_processor(redactor: Redactor = REDACTOR) -> structlog.types.Processor:
    """A processor that masks every registered secret in every field."""

    def process(
        _logger: Any, _name: str, event_dict: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in event_dict.items():
            if isinstance(value, BaseException):
                value = f"{type(value).__name__}: {value}"
            event_dict[key] = redactor.redact_any(value) if len(redactor) else value
        return event_dict

    return process


class _CurrentStderr:
    """Writes to whatever ``sys.stderr`` is at the time, not at configure time."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()

    def isatty(self) -> bool:
        return sys.stderr.isatty()


def configure(
    fmt: LogFormat | None = None, level: str = "info", stream: TextIO | None = None
) -> None:
    """JSON when asked or when the stream is not a terminal; console otherwise."""
    out: TextIO = stream or _CurrentStderr()  # type: ignore[assignment]
    if fmt is None:
        fmt = "console" if out.isatty() else "json"
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty())
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.format_exc_info,
            redact_processor(),
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(
            logging.getLevelNamesMapping()[level.upper()]
        ),
        logger_factory=structlog.PrintLoggerFactory(file=out),
        cache_logger_on_first_use=False,
    )


__all__ = ["LogFormat", "configure", "redact_processor"]
