"""YAML with positions: libyaml parses (fast), and every key and item can say its line:col.

Files are loaded by PyYAML's C loader into plain dicts and lists. Positions
are only needed to report a problem, so they are found on first use: the
node tree is composed once more from the kept text and walked, recording where
each path starts, so a pydantic error ``loc`` maps back to file:line:col.
Keeping them for every file up front cost a 10,000 key-result load a third of
its peak memory. Booleans follow YAML 1.2 (``true``/``false`` only: ``no``,
``on``, ``yes`` stay strings); duplicate keys are errors, not silent
overwrites, and ``<<`` is an ordinary key (no merge keys).
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
_MERGE = "tag:yaml.org,2002:merge"


class _Loader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # type: ignore[misc]
    """SafeLoader on libyaml where available, with YAML 1.2 booleans."""


_Loader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _MERGE)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_Loader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass(frozen=True)
class YamlDocument:
    path: Path
    data: Any  # plain dicts, lists and scalars
    text: str = field(default="", repr=False)  # what ``data`` was parsed from

    @cached_property
    def positions(self) -> dict[Path_, int]:
        """Where every key and item starts, as _pack(line, column), 1-based."""
        loader = _Loader(self.text)
        try:
            root = loader.get_single_node()
            positions: dict[Path_, int] = {}
            if root is not None:
                _walk(loader, root, (), positions)
            return positions
        finally:
            loader.dispose()

    def forget_positions(self) -> None:
        """Drop the positions once no more problems need them (found again on demand)."""
        self.__dict__.pop("positions", None)  # cached_property keeps them in __dict__


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
        data = _single_document(loader)
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


def _single_document(loader: Any) -> Any:
    """Plain data straight from libyaml's events: no node tree, no constructor cache.

    PyYAML's own loader composes every node with two marks and caches every
    constructed object by node; for a big mapping file that was most of the
    load's peak memory.
    """
    loader.get_event()  # StreamStart
    if loader.check_event(yaml.StreamEndEvent):
        return None
    document: Any = loader.get_event()
    data = _value(loader, loader.get_event(), {})
    loader.get_event()  # DocumentEnd
    if not loader.check_event(yaml.StreamEndEvent):
        extra: Any = loader.get_event()
        raise yaml.composer.ComposerError(
            "expected a single document in the stream",
            document.start_mark,
            "but found another document",
            extra.start_mark,
        )
    return data


_COLLECTION_TAGS = (None, "!", "tag:yaml.org,2002:map", "tag:yaml.org,2002:seq")


def _value(loader: Any, event: Any, anchors: dict[str, Any]) -> Any:
    start: Any = event.start_mark  # libyaml's Mark: typeshed knows only the pure-Python one
    if isinstance(event, yaml.AliasEvent):
        if event.anchor not in anchors:
            raise yaml.composer.ComposerError(
                None, None, f"found undefined alias {event.anchor!r}", start
            )
        return anchors[event.anchor]
    if isinstance(event, yaml.ScalarEvent):
        tag = event.tag
        if tag is None or tag == "!":
            tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
        end: Any = event.end_mark
        node = yaml.ScalarNode(tag, event.value, start, end, event.style)
        construct = loader.yaml_constructors.get(tag) or loader.yaml_constructors[None]
        value = construct(loader, node)  # an unknown tag raises ConstructorError with its mark
    elif event.tag not in _COLLECTION_TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"tag {event.tag!r} is not allowed here", event.start_mark
        )
    elif isinstance(event, yaml.SequenceStartEvent):
        value = []
        if event.anchor is not None:
            anchors[event.anchor] = value
        while not loader.check_event(yaml.SequenceEndEvent):
            value.append(_value(loader, loader.get_event(), anchors))
        loader.get_event()
        return value
    else:  # MappingStartEvent
        value = {}
        if event.anchor is not None:
            anchors[event.anchor] = value
        lines: dict[str, int] = {}
        while not loader.check_event(yaml.MappingEndEvent):
            key_event = loader.get_event()
            key = str(_value(loader, key_event, anchors))
            if key in value:
                problem = f'duplicate key "{key}" (first at line {lines[key]})'
                raise yaml.constructor.ConstructorError(None, None, problem, key_event.start_mark)
            lines[key] = key_event.start_mark.line + 1
            value[key] = _value(loader, loader.get_event(), anchors)
        loader.get_event()
        return value
    if event.anchor is not None:
        anchors[event.anchor] = value
    return value


_COLUMN_BITS = 20  # one int per position: a pair of ints cost 6 MB per 100,000 nodes


def _pack(line: int, column: int) -> int:
    return line << _COLUMN_BITS | column


def _unpack(packed: int) -> tuple[int, int]:
    return packed >> _COLUMN_BITS, packed & ((1 << _COLUMN_BITS) - 1)


def _mark(node: yaml.Node) -> tuple[int, int]:
    return node.start_mark.line + 1, node.start_mark.column + 1


def _walk(loader: Any, node: yaml.Node, at: Path_, positions: dict[Path_, int]) -> None:
    """Record where ``at`` and everything under it start (the text parsed once already)."""
    positions.setdefault(at, _pack(*_mark(node)))
    if isinstance(node, yaml.MappingNode):
        for key_node, value_node in node.value:
            key = str(loader.construct_object(key_node))
            positions[(*at, key)] = _pack(*_mark(key_node))
            _walk(loader, value_node, (*at, key), positions)
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            _walk(loader, item, (*at, i), positions)


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
