"""YAML with positions: libyaml parses (fast), and every key and item keeps its line:col.

PyYAML's C parser composes the node tree with marks; one walk turns it into
plain dicts and lists and records where each path starts, so a pydantic error
``loc`` maps back to file:line:col. Booleans follow YAML 1.2 (``true``/``false``
only: ``no``, ``on``, ``yes`` stay strings), and duplicate keys are errors,
not silent overwrites.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
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


@dataclass(frozen=True)
class YamlDocument:
    path: Path
    data: Any  # plain dicts, lists and scalars
    positions: dict[Path_, int] = field(default_factory=dict)  # _pack(line, column), 1-based


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
        positions: dict[Path_, int] = {}
        data = None if root is None else _build(loader, root, (), positions)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        where = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise YamlSyntaxError(f"invalid YAML: {problem}", *where) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", None, None) from None
    finally:
        loader.dispose()
    return YamlDocument(path, data, positions)


_COLUMN_BITS = 20  # one int per position: a pair of ints cost 6 MB per 100,000 nodes


def _pack(line: int, column: int) -> int:
    return line << _COLUMN_BITS | column


def _unpack(packed: int) -> tuple[int, int]:
    return packed >> _COLUMN_BITS, packed & ((1 << _COLUMN_BITS) - 1)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _build(loader: Any, node: yaml.Node, at: Path_, positions: dict[Path_, int]) -> Any:
    positions.setdefault(at, _pack(*_mark(node)))
    if isinstance(node, yaml.MappingNode):
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node))
            if key in out:
                line, column = _mark(key_node)
                first = _unpack(positions[(*at, key)])[0]
                raise YamlSyntaxError(
                    f'invalid YAML: duplicate key "{key}" (first at line {first})', line, column
                )
            positions[(*at, key)] = _pack(*_mark(key_node))
            out[key] = _build(loader, value_node, (*at, key), positions)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*at, i), positions) for i, item in enumerate(node.value)]
    return loader.construct_object(node)


def locate(
    doc: YamlDocument, loc: Sequence[str | int]
) -> tuple[int | None, int | None, list[str | int]]:
    """Walk ``loc`` as far as the document goes; return 1-based line, column and the found path.

    A missing key points at its parent mapping; an unknown key at the key itself.
    """
    root = doc.positions.get(())
    line, column = (None, None) if root is None else _unpack(root)
    found: list[str | int] = []
    for part in loc:
        where = doc.positions.get((*found, part))
        if where is None:
            continue  # pydantic adds type tags (e.g. "float") to union locations
        found.append(part)
        line, column = _unpack(where)
    return line, column, found


def dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


__all__ = ["YamlDocument", "YamlSyntaxError", "dotted", "locate", "parse"]
