"""Placeholders in source queries: ``{cycle.start}``, ``{cycle.end}``, ``{as_of}`` only.

They are found at load time (an unknown name is a config error) and filled at
measure time. Connectors choose the literal format of their query language by
passing their own ``values``; the default is ISO 8601 dates and a UTC instant.
Nothing is evaluated: it is plain text substitution of a fixed set of names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from okrsync.sdk.connector import RenderContext, SourceBase

PLACEHOLDERS = ("cycle.start", "cycle.end", "as_of")
# Only identifier-like text in single braces: JSON bodies and {} in JQL never match.
_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_.]*)\}")

M = TypeVar("M", bound=SourceBase)


# A placeholder's name after "{" with no "}" right after it: "{cycle.start AND …".
_UNCLOSED = re.compile(r"\{((?:cycle\.[A-Za-z_]+|as_of))\b(?!\})")


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, Mapping):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list | tuple):
        return [s for v in value for s in _strings(v)]
    return []


def find_placeholders(value: Any) -> set[str]:
    """Every placeholder name used in the strings of a nested structure."""
    return {name for text in _strings(value) for name in _PLACEHOLDER.findall(text)}


def find_unclosed(value: Any) -> set[str]:
    """Placeholders opened and never closed (``{cycle.start``): they would go out as written."""
    return {name for text in _strings(value) for name in _UNCLOSED.findall(text)}


def iso_values(ctx: RenderContext) -> dict[str, str]:
    return {
        "cycle.start": ctx.cycle.start.isoformat(),
        "cycle.end": ctx.cycle.end.isoformat(),
        "as_of": ctx.as_of.strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def fill(value: Any, values: Mapping[str, str]) -> Any:
    """Substitute placeholders in every string of a nested structure."""
    if isinstance(value, str):
        return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), value)
    if isinstance(value, Mapping):
        return {k: fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [fill(v, values) for v in value]
    return value


def render_source(
    source: M,
    ctx: RenderContext,
    values: Callable[[RenderContext], Mapping[str, str]] = iso_values,
) -> M:
    """A copy of ``source`` with placeholders filled; ``connection`` is left alone."""
    data = source.model_dump(mode="python", exclude={"connection"})
    rendered = fill(data, values(ctx))
    return type(source).model_validate({"connection": source.connection, **rendered})


__all__ = [
    "PLACEHOLDERS",
    "fill",
    "find_placeholders",
    "find_unclosed",
    "iso_values",
    "render_source",
]
