"""YAML with positions: libyaml parses (fast), and every key and item can say its line:col.

Files are loaded by PyYAML's C loader into plain dicts and lists. Positions
are only needed to report a problem, so they are found on first use: the
node tree is composed once more from the kept text and walked, recording where
each path starts, so a pydantic error ``loc`` maps back to file:line:col.
Keeping them for every file up front cost a 10,000 key-result load a third of
its peak memory. Booleans follow YAML 1.2 (``true``/``false`` only: ``no``,
``on``, ``yes`` stay strings); duplicate keys are errors, not silent
overwrites, and ``<<`` is an ordinary key (no merge keys).

Mapping files come in pull requests and ``okrsync run`` reads them every
cycle, so one hostile file must cost little to refuse: a file is read up to
its size limit only, and aliases are counted as if written out (each anchor's
size memoised, nothing copied), so a 3 KB alias bomb stops at its 100th alias
or 100,000th node instead of expanding to millions; past that many nodes even
a plain file costs seconds to check. Recursive aliases and deep
nesting are refused before Python's recursion limit is near.
"""

from __future__ import annotations

import contextlib
import re
import stat
from collections.abc import Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import yaml

MAX_FILE_BYTES = 1024 * 1024  # a mapping file; the examples are about 2 KB
MAX_ALIASES = 100  # per file
MAX_NODES = 50_000  # per file, aliases expanded; 400 key results are about 8,000
MAX_DEPTH = 100  # nested collections, aliases expanded; the examples nest 6 deep
MAX_NUMBER_LENGTH = 100  # characters of one number: int() of 5,000 digits raises

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
        """Where every key and item starts, as _pack(line, column), 1-based.

        Found from libyaml's events, as the data was: composing the node tree
        instead resolved every scalar's tag in Python again, and ``validate``
        at 100,000 key results (a warning per objective) spent half its time there.
        """
        loader = _Loader(self.text)
        walk = _PositionWalk(loader)
        # parse() refused whatever could raise here; should one slip through, what was
        # found still locates and the rest shows file and field: never a traceback.
        try:
            with contextlib.suppress(yaml.YAMLError, ValueError, RecursionError, _Unlocated):
                loader.get_event()  # StreamStart
                if not loader.check_event(yaml.StreamEndEvent):
                    loader.get_event()  # DocumentStart
                    walk.node(loader.get_event(), ())
        finally:
            loader.dispose()
        return walk.positions

    def forget_positions(self) -> None:
        """Drop the positions once no more problems need them (found again on demand)."""
        self.__dict__.pop("positions", None)  # cached_property keeps them in __dict__


class YamlSyntaxError(Exception):
    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def read_text(path: Path) -> str:
    """The file's text, read within the size limit; a refusal carries 1-based line:col."""
    return _decode(_read(path))


def parse(path: Path, text: str | None = None) -> YamlDocument:
    """Parse one file (or its ``text``, read already) within the limits above.

    Every refusal carries 1-based line:col.
    """
    raw = _read(path) if text is None else None
    text = _decode(raw) if raw is not None else text
    assert text is not None
    loader = _Loader(text)
    try:
        data = _single_document(loader)
    except _Refused as exc:
        mark: Any = exc.problem_mark  # always set: see _refuse
        raise YamlSyntaxError(str(exc.problem), mark.line + 1, mark.column + 1) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        where = (mark.line + 1, mark.column + 1) if mark is not None else (None, None)
        raise YamlSyntaxError(f"invalid YAML: {problem}", *where) from None
    except yaml.reader.ReaderError as exc:  # libyaml counts its position in UTF-8 bytes
        character = f"#x{exc.character:04x}" if isinstance(exc.character, int) else "a character"
        problem = f"invalid YAML: unacceptable character {character}: {exc.reason}"
        encoded = raw if raw is not None else text.encode("utf-8")
        raise YamlSyntaxError(problem, *_byte_position(encoded, exc.position)) from None
    except yaml.YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", None, None) from None
    finally:
        loader.dispose()
    return YamlDocument(path, data, text)


def _read(path: Path) -> bytes:
    """At most MAX_FILE_BYTES + 1 bytes: a huge file or a device costs nothing to refuse."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):  # a FIFO would block, a device never end
            raise YamlSyntaxError("cannot read file: not a regular file", None, None)
        with path.open("rb") as file:
            raw = file.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise YamlSyntaxError(f"cannot read file: {exc.strerror}", None, None) from None
    if len(raw) > MAX_FILE_BYTES:
        problem = (
            f"file is larger than {MAX_FILE_BYTES / 2**20:g} MiB, the limit for a mapping file"
        )
        raise YamlSyntaxError(problem, *_byte_position(raw, MAX_FILE_BYTES))
    return raw


def _decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise YamlSyntaxError("file is UTF-16: save it as UTF-8", 1, 1)
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        problem = f"file is not UTF-8: byte 0x{raw[exc.start]:02x} cannot be decoded"
        raise YamlSyntaxError(problem, *_byte_position(raw, exc.start)) from None


def _byte_position(raw: bytes, offset: int) -> tuple[int, int]:
    """1-based line and column (in characters) of a byte offset."""
    line_start = raw.rfind(b"\n", 0, offset) + 1
    column = len(raw[line_start:offset].decode("utf-8", errors="replace"))
    return raw.count(b"\n", 0, offset) + 1, column + 1


@dataclass
class _Limits:
    """What one file has spent of the limits so far, and what each anchor stands for."""

    anchors: dict[str, Any] = field(default_factory=dict)
    sizes: dict[str, int] = field(default_factory=dict)  # nodes under an anchor, expanded
    heights: dict[str, int] = field(default_factory=dict)  # its depth, expanded
    lines: dict[str, int] = field(default_factory=dict)  # where each anchor is
    unfinished: set[str] = field(default_factory=set)  # anchors whose node is being read
    aliases: int = 0
    nodes: int = 0  # nodes so far, aliases expanded
    deepest: int = 0  # the deepest collection so far, aliases expanded
    plain: dict[str, Any] = field(default_factory=dict)  # plain scalar text → its value


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
    data = _value(loader, loader.get_event(), _Limits(), 1)
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
_STRING_STYLES = frozenset("'\"|>")  # libyaml's plain style is "" (PyYAML's own: None)
_NUMBER_TAGS = ("tag:yaml.org,2002:int", "tag:yaml.org,2002:float")


class _Refused(yaml.MarkedYAMLError):
    """Over a limit, or data no mapping can hold (a recursive alias, a bad date)."""


def _refuse(problem: str, mark: Any) -> _Refused:
    return _Refused(None, None, problem, mark)


_ScalarEvent, _AliasEvent = yaml.ScalarEvent, yaml.AliasEvent
_SequenceStart, _SequenceEnd = yaml.SequenceStartEvent, yaml.SequenceEndEvent
_MappingStart, _MappingEnd = yaml.MappingStartEvent, yaml.MappingEndEvent


def _value(loader: Any, event: Any, limits: _Limits, depth: int) -> Any:
    start: Any = event.start_mark  # libyaml's Mark: typeshed knows only the pure-Python one
    if event.__class__ is _ScalarEvent and event.anchor is None:  # most nodes: the short way
        limits.nodes += 1
        if limits.nodes > MAX_NODES:
            raise _refuse(
                f"more than {MAX_NODES:,} nodes (aliases expanded): split the file", start
            )
        return _scalar(loader, event, start, limits.plain)
    if isinstance(event, yaml.AliasEvent):
        return _alias(str(event.anchor), start, limits, depth)
    anchor = event.anchor
    if anchor is not None:
        if anchor in limits.lines:
            first = limits.lines[anchor]
            raise _refuse(f"duplicate anchor &{anchor} (first at line {first})", start)
        limits.lines[anchor] = start.line + 1
    before = limits.nodes
    limits.nodes += 1
    if limits.nodes > MAX_NODES:
        raise _refuse(f"more than {MAX_NODES:,} nodes (aliases expanded): split the file", start)
    value: Any
    if isinstance(event, yaml.ScalarEvent):
        value = _scalar(loader, event, start, limits.plain)
        if anchor is not None:
            limits.anchors[anchor] = value
            limits.sizes[anchor], limits.heights[anchor] = 1, 0
        return value
    if event.tag not in _COLLECTION_TAGS:
        raise yaml.constructor.ConstructorError(
            None, None, f"tag {event.tag!r} is not allowed here", event.start_mark
        )
    if depth > MAX_DEPTH:
        raise _refuse(f"nested deeper than {MAX_DEPTH} levels", start)
    outer_deepest = limits.deepest
    limits.deepest = max(limits.deepest, depth)
    get = loader.get_event  # the loops below end by reading the SequenceEnd or MappingEnd
    if isinstance(event, yaml.SequenceStartEvent):
        value = []
        if anchor is not None:
            limits.anchors[anchor] = value
            limits.unfinished.add(anchor)
        while (item := get()).__class__ is not _SequenceEnd:
            value.append(_value(loader, item, limits, depth + 1))
    else:  # MappingStartEvent
        value = {}
        if anchor is not None:
            limits.anchors[anchor] = value
            limits.unfinished.add(anchor)
        marks: dict[str, Any] = {}  # where each key is, for a duplicate's message
        while (key_event := get()).__class__ is not _MappingEnd:
            key = str(_value(loader, key_event, limits, depth + 1))
            if key in value:
                problem = f'duplicate key "{key}" (first at line {marks[key].line + 1})'
                raise yaml.constructor.ConstructorError(None, None, problem, key_event.start_mark)
            marks[key] = key_event.start_mark
            value[key] = _value(loader, get(), limits, depth + 1)
    if anchor is not None:
        limits.unfinished.discard(anchor)
        limits.sizes[anchor] = limits.nodes - before
        limits.heights[anchor] = limits.deepest - depth
        limits.deepest = max(outer_deepest, limits.deepest)
    return value


def _alias(anchor: str, mark: Any, limits: _Limits, depth: int) -> Any:
    """The anchored value, counted as if it were written out again (never copied)."""
    if anchor not in limits.anchors:
        raise _refuse(f"found undefined alias {anchor!r}", mark)
    if anchor in limits.unfinished:
        raise _refuse(f"alias *{anchor} is inside its own anchor: recursive data", mark)
    limits.aliases += 1
    if limits.aliases > MAX_ALIASES:
        raise _refuse(f"more than {MAX_ALIASES} aliases in one file", mark)
    size = limits.sizes[anchor]
    limits.nodes += size
    if limits.nodes > MAX_NODES:
        problem = f"alias *{anchor} makes more than {MAX_NODES:,} nodes, expanded"
        raise _refuse(problem, mark)
    height = limits.heights[anchor]
    if height and depth + height > MAX_DEPTH:
        raise _refuse(f"alias *{anchor} nests the data deeper than {MAX_DEPTH} levels", mark)
    limits.deepest = max(limits.deepest, depth + height)
    return limits.anchors[anchor]


def _scalar(loader: Any, event: Any, start: Any, plain: dict[str, Any]) -> Any:
    tag = event.tag
    if tag is None and event.style in _STRING_STYLES:
        return event.value  # quoted or a block: always a string, nothing to resolve
    if tag is None and event.value in plain:
        return plain[event.value]  # the same plain scalar again: ids, units, refreshes …
    if tag is None or tag == "!":
        tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
    if tag in _NUMBER_TAGS and len(event.value) > MAX_NUMBER_LENGTH:
        problem = f"a number of {len(event.value):,} characters; at most {MAX_NUMBER_LENGTH}"
        raise _refuse(problem, start)
    node = yaml.ScalarNode(tag, event.value, start, event.end_mark, event.style)
    construct = loader.yaml_constructors.get(tag) or loader.yaml_constructors[None]
    try:
        value = construct(loader, node)
        if event.tag is None:  # immutable (str, int, float, bool, None, date): safe to share
            plain[event.value] = value
        return value
    except yaml.YAMLError:  # an unknown tag: ConstructorError with its mark
        raise
    except Exception as exc:  # 2026-02-30, 25:00:00; IndexError for !!int "", KeyError …
        kind = tag.rsplit(":", 1)[-1]
        reason = f": {exc}" if isinstance(exc, ValueError) else ""
        raise _refuse(f"invalid {kind} {event.value[:40]!r}{reason}", start) from None


_COLUMN_BITS = 20  # one int per position: a pair of ints cost 6 MB per 100,000 nodes


def _pack(line: int, column: int) -> int:
    return line << _COLUMN_BITS | column


def _unpack(packed: int) -> tuple[int, int]:
    return packed >> _COLUMN_BITS, packed & ((1 << _COLUMN_BITS) - 1)


class _Unlocated(Exception):
    """A key that is itself a collection or an alias: what is found so far still locates."""


class _PositionWalk:
    """Where ``at`` and everything under it start, from the events (the text parsed once already).

    An alias's paths point into its anchor, as they would walking the composed tree.
    """

    def __init__(self, loader: Any) -> None:
        self.loader = loader
        self.positions: dict[Path_, int] = {}
        self.order: list[tuple[Path_, int]] = []  # as recorded: an anchor's slice re-roots
        self.anchors: dict[str, tuple[int, int, int, int]] = {}  # pack, first, last, depth
        self.plain: dict[str, Any] = {}  # plain key text → its value, as parse() has it

    def _record(self, at: Path_, packed: int, *, first: bool = True) -> None:
        if first and at in self.positions:
            return
        self.positions[at] = packed
        self.order.append((at, packed))

    def node(self, event: Any, at: Path_) -> None:
        loader = self.loader
        if isinstance(event, yaml.AliasEvent):
            anchored = self.anchors.get(str(event.anchor))
            if anchored is None:
                return
            packed, first, last, depth = anchored
            self._record(at, packed)
            for path, where in self.order[first:last]:
                self._record((*at, *path[depth:]), where)
            return
        mark: Any = event.start_mark
        packed = _pack(mark.line + 1, mark.column + 1)
        self._record(at, packed)
        first = len(self.order)
        if isinstance(event, yaml.SequenceStartEvent):
            i = 0
            while not loader.check_event(yaml.SequenceEndEvent):
                self.node(loader.get_event(), (*at, i))
                i += 1
            loader.get_event()
        elif isinstance(event, yaml.MappingStartEvent):
            while not loader.check_event(yaml.MappingEndEvent):
                key_event: Any = loader.get_event()
                if not isinstance(key_event, yaml.ScalarEvent):
                    raise _Unlocated
                key = str(_scalar(loader, key_event, key_event.start_mark, self.plain))
                kmark: Any = key_event.start_mark
                self._record((*at, key), _pack(kmark.line + 1, kmark.column + 1), first=False)
                self.node(loader.get_event(), (*at, key))
            loader.get_event()
        if event.anchor is not None:
            self.anchors[str(event.anchor)] = (packed, first, len(self.order), len(at))


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


Located = tuple[int | None, int | None, list[str | int]]


def locate_all(doc: YamlDocument, locs: Sequence[Sequence[str | int]]) -> list[Located]:
    """:func:`locate` for many paths of one document, walking only the parts they name.

    ``validate`` of 100,000 key results locates a warning per objective: recording
    where every one of the files' two million nodes starts took longer than parsing
    them. A path that leaves the document (a missing key, pydantic's type tags) or
    passes an alias is located by :func:`locate`, from every position.
    """
    trie: dict[Any, Any] = {}
    for loc in locs:
        node = trie
        for part in loc:
            node = node.setdefault(part, {})
    found: dict[Path_, int] = {}
    loader = _Loader(doc.text)
    whole = False  # an alias on a wanted path, or a key that is a collection
    try:
        loader.get_event()  # StreamStart
        if not loader.check_event(yaml.StreamEndEvent):
            loader.get_event()  # DocumentStart
            whole = _find(loader, loader.get_event(), (), trie, found)
    except (yaml.YAMLError, ValueError, RecursionError):
        whole = True
    finally:
        loader.dispose()
    located: list[Located] = []
    for loc in locs:
        root = found.get(())
        if whole or root is None:
            located.append(locate(doc, loc))
            continue
        line, column = _unpack(root)
        path: list[str | int] = []
        for part in loc:
            where = found.get((*path, part))
            if where is None:
                break
            path.append(part)
            line, column = _unpack(where)
        located.append((line, column, path) if len(path) == len(loc) else locate(doc, loc))
    return located


def _find(
    loader: Any, event: Any, at: Path_, wanted: dict[Any, Any], found: dict[Path_, int]
) -> bool:
    """Record where ``at`` and the wanted paths under it start; True if that needs every position."""
    if isinstance(event, yaml.AliasEvent):
        return True
    mark: Any = event.start_mark
    found.setdefault(at, _pack(mark.line + 1, mark.column + 1))
    whole = False
    if isinstance(event, yaml.SequenceStartEvent):
        i = 0
        while not loader.check_event(yaml.SequenceEndEvent):
            item, below = loader.get_event(), wanted.get(i)
            if below is None:
                _skip(loader, item)
            else:
                whole = _find(loader, item, (*at, i), below, found) or whole
            i += 1
        loader.get_event()
    elif isinstance(event, yaml.MappingStartEvent):
        plain: dict[str, Any] = {}
        while not loader.check_event(yaml.MappingEndEvent):
            key_event: Any = loader.get_event()
            if not isinstance(key_event, yaml.ScalarEvent):
                return True
            key = str(_scalar(loader, key_event, key_event.start_mark, plain))
            value, below = loader.get_event(), wanted.get(key)
            kmark: Any = key_event.start_mark
            if not below:  # nothing under it is wanted: its key's position is the node's
                if below is not None:
                    found[(*at, key)] = _pack(kmark.line + 1, kmark.column + 1)
                _skip(loader, value)
                continue
            found[(*at, key)] = _pack(kmark.line + 1, kmark.column + 1)
            whole = _find(loader, value, (*at, key), below, found) or whole
        loader.get_event()
    return whole


_STARTS = frozenset({_SequenceStart, _MappingStart})
_ENDS = frozenset({_SequenceEnd, _MappingEnd})


def _skip(loader: Any, event: Any) -> None:
    """Consume the rest of a node whose positions nothing needs."""
    if event.__class__ not in _STARTS:
        return
    get, depth = loader.get_event, 1
    while depth:
        kind = get().__class__
        if kind in _STARTS:
            depth += 1
        elif kind in _ENDS:
            depth -= 1


def dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


__all__ = [
    "YamlDocument",
    "YamlSyntaxError",
    "dotted",
    "locate",
    "locate_all",
    "parse",
    "read_text",
]
