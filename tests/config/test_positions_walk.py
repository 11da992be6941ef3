"""Positions found from libyaml's events are the ones the composed node tree gave."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from okrsync.config import yaml_positions
from okrsync.config.yaml_positions import locate, locate_all, parse
from tests.support import EXAMPLES

DOCUMENTS = {
    "nested": "cycle: 2026-Q4\nobjectives:\n  - id: a\n    key_results:\n      - id: k\n"
    "        source: {connection: stats, path: /x}\n      - id: j\n        tags: [1, 2, [3]]\n",
    "flow": "{a: [1, {b: 2, c: [x, y]}], d: {e: f}}\n",
    "anchors": "base: &b {connection: stats, path: /x}\nlist: &l [1, 2]\n"
    "krs:\n  - source: *b\n  - tags: *l\n  - *b\n  - &s solo\n  - *s\n",
    "keys": "1: one\ntrue: yes\nnull: nothing\n'quoted': q\n2026-01-01: d\n",
    "scalars-only": "just text\n",
    "empty-values": "a:\nb: []\nc: {}\n",
    "block": "a: |\n  line one\n  line two\nb: >\n  folded\nc: end\n",
}


def composed(text: str) -> dict[tuple[Any, ...], int]:
    """The positions as okrsync found them before: walking PyYAML's composed node tree."""
    loader = yaml_positions._Loader(text)
    positions: dict[tuple[Any, ...], int] = {}

    def walk(node: yaml.Node, at: tuple[Any, ...]) -> None:
        positions.setdefault(at, yaml_positions._pack(node.start_mark.line + 1,
                                                      node.start_mark.column + 1))  # fmt: skip
        if isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                key = str(loader.construct_object(key_node))
                mark = key_node.start_mark
                positions[(*at, key)] = yaml_positions._pack(mark.line + 1, mark.column + 1)
                walk(value_node, (*at, key))
        elif isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*at, i))

    try:
        root = loader.get_single_node()
        if root is not None:
            walk(root, ())
    finally:
        loader.dispose()
    return positions


def _doc(tmp_path: Path, text: str) -> yaml_positions.YamlDocument:
    path = tmp_path / "doc.yaml"
    path.write_text(text)
    return parse(path)


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_the_event_walk_finds_what_the_node_tree_did(tmp_path: Path, name: str) -> None:
    doc = _doc(tmp_path, DOCUMENTS[name])
    assert doc.positions == composed(DOCUMENTS[name])


def test_the_examples_and_a_generated_organisation_too(tmp_path: Path) -> None:
    files = sorted(EXAMPLES.rglob("*.yaml"))
    assert len(files) > 3
    for path in files:
        assert parse(path).positions == composed(path.read_text()), path


@pytest.mark.parametrize("name", sorted(DOCUMENTS))
def test_locate_all_agrees_with_locate_on_every_path_and_some_that_miss(
    tmp_path: Path, name: str
) -> None:
    doc = _doc(tmp_path, DOCUMENTS[name])
    paths: list[list[Any]] = [list(p) for p in composed(DOCUMENTS[name])]
    missing = [[*p, "nope"] for p in paths] + [["float", *p] for p in paths[:3]]
    tagged = [[*p[:1], "int", *p[1:]] for p in paths if len(p) > 1]  # pydantic's union tags
    locs = [*paths, *missing, *tagged, []]
    assert locate_all(doc, locs) == [locate(doc, loc) for loc in locs]
    doc.forget_positions()
    # Located one at a time, each gives the same as all together.
    assert [locate_all(doc, [loc])[0] for loc in locs] == [locate(doc, loc) for loc in locs]


def test_locate_all_walks_only_what_it_is_asked_for(tmp_path: Path) -> None:
    text = "objectives:\n" + "".join(
        f"  - id: o{i}\n    key_results:\n      - id: k{i}\n        title: t\n" for i in range(50)
    )
    doc = _doc(tmp_path, text)
    wanted = [["objectives", 7, "key_results"], ["objectives", 49, "id"]]
    assert locate_all(doc, wanted) == [(31, 5, wanted[0]), (198, 5, wanted[1])]
    assert "positions" not in doc.__dict__  # every position was never needed
