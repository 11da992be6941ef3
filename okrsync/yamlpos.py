"""YAML with positions: libyaml parses (fast), and every key and item keeps its line:col.

PyYAML's C parser builds plain dicts and lists; only when a file has a problem
to report is it composed again with marks, one walk recording where each path
starts, so a pydantic error ``loc`` maps back to file:line:col. (Keeping the
positions of every file cost the 10,000-key-result benchmark 40 MB.) Booleans follow YAML 1.2 (``true``/``false``
only: ``no``, ``on``, ``yes`` stay strings), and duplicate keys are errors,
not silent overwrites.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

Path_ = tuple[str | int, ...]
_BOOL = "tag:yaml.org,2002:bool"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader on libyaml where available, with YAML 1.2 booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag != _BOOL]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class YamlDocument:
    path: Path
    data: Any  # plain dicts, lists and scalars
    text: str = field(repr=False, default="")

    @cached_property
    def positions(self) -> dict[Path_, tuple[int, int]]:
        """Where each key and item starts (1-based), composed again on first use."""
        loader = _Loader(self.text)
        try:
            root = loader.get_single_node()
            positions: dict[Path_, tuple[int, int]] = {}
            if root is not None:
                _walk(root, (), positions)
            return positions
        finally:
            loader.dispose()


class YamlSyntaxError(Exception):
    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def parse(path: Path) -> YamlDocument:
    """Parse one file; syntax errors and duplicate keys carry 1-based line:col."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlSyntaxError(f"cannot read file: {exc}", None, None) from None
    loader = _Loader(text)
    try:
        root = loader.get_single_node()
        data = None if root is None else _build(loader, root)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        where = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise YamlSyntaxError(f"invalid YAML: {problem}", *where) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", None, None) from None
    finally:
        loader.dispose()
    return YamlDocument(path, data, text)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(loader: Any, node: yaml.Node) -> Any:
    """Plain data from the node tree; a duplicate key is an error, not an overwrite."""
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        first: dict[str, int] = {}
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node))
            if key in out:
                line, column = _mark(key_node)
                raise YamlSyntaxError(
                    f'invalid YAML: duplicate key "{key}" (first at line {first[key]})',
                    line,
                    column,
                )
            first[key] = key_node.start_mark.line + 1
            out[key] = _build(loader, value_node)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item) for item in node.value]
    return loader.construct_object(node)


def _walk(node: yaml.Node, at: Path_, positions: dict[Path_, tuple[int, int]]) -> None:
    positions.setdefault(at, _mark(node))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else "?"
            positions.setdefault((*at, key), _mark(key_node))
            _walk(value_node, (*at, key), positions)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(item, (*at, i), positions)


def locate(
    doc: YamlDocument, loc: Sequence[str | int]
) -> tuple[int | None, int | None, list[str | int]]:
    """Walk ``loc`` as far as the document goes; return 1-based line, column and the found path.

    A missing key points at its parent mapping; an unknown key at the key itself.
    """
    line, column = doc.positions.get((), (None, None))
    found: list[str | int] = []
    for part in loc:
        where = doc.positions.get((*found, part))
        if where is None:
            continue  # pydantic adds type tags (e.g. "float") to union locations
        found.append(part)
        line, column = where
    return line, column, found


def dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


__all__ = ["YamlDocument", "YamlSyntaxError", "dotted", "locate", "parse"]
