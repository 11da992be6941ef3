"""okrsync.yamlpos: plain data on the fast path, positions found only when asked."""

from __future__ import annotations

from pathlib import Path

import pytest

from okrsync.yamlpos import YamlSyntaxError, dotted, locate, parse

TEXT = """\
cycle: 2026-Q4
objectives:
  - id: grow
    flags: [yes, no, on, true, FALSE]
    key_results:
      - id: kr-1
        target: 10
        <<: {a: 1}
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "f.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_data_follows_yaml_1_2_and_keeps_merge_key_literal(tmp_path: Path) -> None:
    doc = parse(write(tmp_path, TEXT))
    (obj,) = doc.data["objectives"]
    assert obj["flags"] == ["yes", "no", "on", True, False]
    assert obj["key_results"][0] == {"id": "kr-1", "target": 10, "<<": {"a": 1}}
    assert doc.data["cycle"] == "2026-Q4"


def test_positions_are_found_on_first_use(tmp_path: Path) -> None:
    doc = parse(write(tmp_path, TEXT))
    assert "positions" not in doc.__dict__  # nothing spent until a problem needs a place
    line, column, found = locate(doc, ["objectives", 0, "key_results", 0, "target"])
    assert (line, column, found) == (7, 9, ["objectives", 0, "key_results", 0, "target"])
    assert "positions" in doc.__dict__
    # A missing key points at the deepest part that exists.
    assert locate(doc, ["objectives", 0, "nope"])[:2] == (3, 5)
    assert dotted(["objectives", 0, "id"]) == "objectives[0].id"


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("a: 1\nb:\n  c: 1\n  c: 2\n", 4, 3, 'duplicate key "c" (first at line 3)'),
        ("- {x: 1, x: 2}\n", 1, 10, 'duplicate key "x" (first at line 1)'),
        ("a: [1, 2\n", 2, 1, "expected ',' or ']'"),
    ],
)
def test_errors_carry_line_and_column(
    tmp_path: Path, text: str, line: int, column: int, message: str
) -> None:
    with pytest.raises(YamlSyntaxError) as info:
        parse(write(tmp_path, text))
    assert (info.value.line, info.value.column) == (line, column)
    assert message in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(b"\xff\xfe not utf-8")
    with pytest.raises(YamlSyntaxError, match="cannot read file"):
        parse(path)


def test_anchors_and_aliases(tmp_path: Path) -> None:
    doc = parse(write(tmp_path, "base: &b {n: 1}\nlist: [&x 2, *x]\ncopy: *b\n"))
    assert doc.data == {"base": {"n": 1}, "list": [2, 2], "copy": {"n": 1}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("a: *nope\n", "found undefined alias"),
        ("a: 1\n---\nb: 2\n", "expected a single document"),
        ("a: !!python/object:os.system {}\n", "is not allowed here"),
        ("a: !custom 1\n", "could not determine a constructor"),
    ],
)
def test_refused_documents(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(YamlSyntaxError, match=message):
        parse(write(tmp_path, text))


def test_empty_file_is_none(tmp_path: Path) -> None:
    assert parse(write(tmp_path, "# nothing\n")).data is None
