"""YAML with positions: parse with ruamel.yaml and map a validation ``loc`` to line:col.

Kept apart from the loader so the walk from a pydantic error location to a
place in the file is one small, tested function.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML
from ruamel.yaml.comments import CommentedMap, CommentedSeq
from ruamel.yaml.error import MarkedYAMLError, YAMLError


@dataclass(frozen=True)
class YamlDocument:
    path: Path
    data: Any  # CommentedMap/CommentedSeq/scalars, positions attached


class YamlSyntaxError(Exception):
    def __init__(self, message: str, line: int | None, column: int | None) -> None:
        super().__init__(message)
        self.line = line
        self.column = column


def parse(path: Path) -> YamlDocument:
    """Parse one file; syntax errors (and duplicate keys) carry 1-based line:col."""
    yaml = YAML(typ="rt")
    yaml.allow_duplicate_keys = False
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise YamlSyntaxError(f"cannot read file: {exc}", None, None) from None
    try:
        data = yaml.load(text)
    except MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        problem = " ".join(p for p in (exc.context, exc.problem) if p)
        problem = problem.split("\n")[0]
        if mark is None:
            raise YamlSyntaxError(f"invalid YAML: {problem}", None, None) from None
        raise YamlSyntaxError(f"invalid YAML: {problem}", mark.line + 1, mark.column + 1) from None
    except YAMLError as exc:
        raise YamlSyntaxError(f"invalid YAML: {exc}", None, None) from None
    return YamlDocument(path, data)


def plain(node: Any) -> Any:
    """Ruamel containers → plain dicts/lists (pydantic and JSON want those)."""
    if isinstance(node, dict):
        return {str(k): plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
    return node


def locate(root: Any, loc: Sequence[str | int]) -> tuple[int | None, int | None, list[str | int]]:
    """Walk ``loc`` as far as the document goes; return 1-based line, column and the found path.

    A missing key points at its parent mapping; an unknown key at the key itself.
    """
    node = root
    line = col = None
    if isinstance(node, CommentedMap | CommentedSeq):
        line, col = node.lc.line + 1, node.lc.col + 1
    found: list[str | int] = []
    for part in loc:
        if isinstance(node, CommentedMap) and isinstance(part, str) and part in node:
            key_line, key_col = node.lc.key(part)
            line, col = key_line + 1, key_col + 1
            node = node[part]
        elif isinstance(node, CommentedSeq) and isinstance(part, int) and 0 <= part < len(node):
            item_line, item_col = node.lc.item(part)
            line, col = item_line + 1, item_col + 1
            node = node[part]
        else:
            continue  # pydantic adds type tags (e.g. "float") to union locations
        found.append(part)
    return line, col, found


def dotted(path: Sequence[str | int]) -> str:
    out = ""
    for part in path:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


__all__ = ["YamlDocument", "YamlSyntaxError", "dotted", "locate", "parse", "plain"]
