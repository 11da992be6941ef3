"""okrsync.yamlpos: plain data on the fast path, positions found only when asked."""

from __future__ import annotations

import time
from datetime import date
from pathlib import Path

import pytest

from okrsync.config.yaml_positions import (
    MAX_ALIASES,
    MAX_DEPTH,
    MAX_FILE_BYTES,
    MAX_NODES,
    YamlSyntaxError,
    dotted,
    locate,
    parse,
)

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


def test_a_repeated_scalar_keeps_its_type_quoted_or_plain(tmp_path: Path) -> None:
    """Plain scalars are resolved once per text and reused; quoted ones are always strings."""
    text = (
        "a: [1, '1', 1, \"1\", true, 'true', true, 2026-10-01, \"2026-10-01\", 2026-10-01]\n"
        "b: |\n  1\n"
    )
    data = parse(write(tmp_path, text)).data
    values = data["a"]
    assert values == [1, "1", 1, "1", True, "true", True, date(2026, 10, 1), "2026-10-01",
                      date(2026, 10, 1)]  # fmt: skip
    assert data["b"] == "1\n"
    assert [type(v) for v in values[:4]] == [int, str, int, str]


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


@pytest.mark.parametrize(
    ("raw", "line", "column", "message"),
    [
        (b"a: 1\nb: [\xc3\xa9, \xff]\n", 2, 8, "file is not UTF-8: byte 0xff cannot be decoded"),
        ("cycle: 2026-Q4\n".encode("utf-16"), 1, 1, "file is UTF-16: save it as UTF-8"),
        (b"a: 1\nb: x\x00\n", 2, 5, "unacceptable character #x0000"),
        (b"a: \xc3\xa9\x07\n", 1, 5, "unacceptable character #x0007"),
    ],
)
def test_bytes_that_are_not_yaml_text_are_located(
    tmp_path: Path, raw: bytes, line: int, column: int, message: str
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_bytes(raw)
    with pytest.raises(YamlSyntaxError, match=message) as info:
        parse(path)
    assert (info.value.line, info.value.column) == (line, column)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(YamlSyntaxError, match="cannot read file: No such file"):
        parse(tmp_path / "missing.yaml")
    with pytest.raises(YamlSyntaxError, match="cannot read file: not a regular file"):
        parse(Path("/dev/zero"))


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
        # found by the fault suite: PyYAML's constructors raised IndexError, AttributeError
        ('a: !!int ""\n', "invalid int ''"),
        ("a: !!timestamp x\n", "invalid timestamp 'x'"),
        ("a: !!bool x\n", "invalid bool 'x'"),
    ],
)
def test_refused_documents(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(YamlSyntaxError, match=message):
        parse(write(tmp_path, text))


def test_empty_file_is_none(tmp_path: Path) -> None:
    assert parse(write(tmp_path, "# nothing\n")).data is None


def _bomb(levels: int = 9) -> str:
    """Each level lists the one above nine times: 9**9 strings from a 3 KB text."""
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    for i in range(1, levels + 1):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join(lines) + "\n"


def _alias_ladder() -> str:
    """Each anchor 30 deep holding the one before: 31 deep as written, 118 by l3 expanded."""
    lines = ["l0: &l0 " + "[" * 30 + "]" * 30]
    lines += [f"l{i}: &l{i} " + "[" * 29 + f"*l{i - 1}" + "]" * 29 for i in range(1, 10)]
    return "\n".join(lines) + "\n"


# Issue #16 points 3 and 7: every one ran for minutes, ran out of memory or raised
# (OverflowError, RecursionError, ValueError, ComposerError) before the limits.
HOSTILE = [
    pytest.param(_bomb(), 5, 35, "alias *a3 makes more than 50,000 nodes", id="alias-bomb"),
    pytest.param(
        "a: &a 1\nb: [" + ", ".join(["*a"] * 101) + "]\n",
        2,
        405,
        "more than 100 aliases in one file",
        id="too-many-aliases",
    ),
    pytest.param("a: &a [*a]\n", 1, 8, "alias *a is inside its own anchor", id="recursive"),
    pytest.param(
        "a: &a {b: [1, {c: *a}]}\n", 1, 19, "alias *a is inside its own anchor", id="recursive-deep"
    ),
    pytest.param(
        "a: &x 1\nb: &x 2\n", 2, 4, "duplicate anchor &x (first at line 1)", id="dup-anchor"
    ),
    pytest.param(
        "a: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n",
        1,
        400,
        "nested deeper than 100 levels",
        id="deep-flow",
    ),
    pytest.param(
        "a:\n  " + "- " * 2_000 + "1\n", 2, 201, "nested deeper than 100 levels", id="deep-block"
    ),
    pytest.param(
        _alias_ladder(), 4, 38, "alias *l2 nests the data deeper than 100", id="deep-alias"
    ),
    pytest.param(
        "target: " + "9" * 5_000 + "\n", 1, 9, "a number of 5,000 characters", id="huge-int"
    ),
    pytest.param(
        "target: 1." + "0" * 100 + "\n", 1, 9, "a number of 102 characters", id="long-float"
    ),
    pytest.param(
        "cycle: 2026-02-30\n",
        1,
        8,
        "invalid timestamp '2026-02-30': day is out of range",
        id="feb-30",
    ),
    pytest.param(
        "cycle: {start: 2026-02-01, end: 2026-02-30}\n",
        1,
        33,
        "day is out of range",
        id="feb-30-end",
    ),
    pytest.param("start: 2026-10-01T25:00:00\n", 1, 8, "hour must be in 0..23", id="hour-25"),
]


@pytest.mark.parametrize(("text", "line", "column", "message"), HOSTILE)
def test_hostile_documents_are_refused_quickly_at_their_place(
    tmp_path: Path, text: str, line: int, column: int, message: str
) -> None:
    began = time.monotonic()
    with pytest.raises(YamlSyntaxError) as info:
        parse(write(tmp_path, text))
    assert time.monotonic() - began < 2
    assert message in str(info.value)
    assert (info.value.line, info.value.column) == (line, column)


def test_aliases_within_the_limits_still_share_one_value(tmp_path: Path) -> None:
    text = "a: &a [1, 2]\nb: [" + ", ".join(["*a"] * MAX_ALIASES) + "]\n"
    doc = parse(write(tmp_path, text))
    assert len(doc.data["b"]) == MAX_ALIASES
    assert all(item is doc.data["a"] for item in doc.data["b"])
    deepest = MAX_DEPTH - 1  # the top-level mapping is the first level
    assert parse(write(tmp_path, "a: " + "[" * deepest + "]" * deepest + "\n")).data


def test_a_plain_file_of_too_many_nodes_is_refused_where_it_crosses(tmp_path: Path) -> None:
    items = MAX_NODES - 3  # the top mapping, its key and the list come first
    assert parse(write(tmp_path, "a: [" + "1, " * items + "]\n")).data
    with pytest.raises(YamlSyntaxError, match="more than 50,000 nodes") as info:
        parse(write(tmp_path, "a: [" + "1, " * (items + 1) + "]\n"))
    assert (info.value.line, info.value.column) == (1, len("a: [") + 1 + 3 * items)


def test_a_file_over_the_size_limit_is_refused_at_the_line_it_crosses(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    line = "# " + "x" * 1021 + "\n"  # 1 KiB a line
    path.write_text(line * 1024, encoding="utf-8")  # exactly the limit: accepted
    assert parse(path).data is None
    path.write_text(line * 1024 + "a: 1\n", encoding="utf-8")
    with pytest.raises(YamlSyntaxError, match="larger than 1 MiB") as info:
        parse(path)
    assert (info.value.line, info.value.column) == (1025, 1)
    assert MAX_FILE_BYTES == 1024 * 1024
