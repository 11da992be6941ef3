"""Malformed mapping files (issue #16): a seeded corpus mutated from ``mappings/``, and hypothesis.

Every input goes through ``loader.check`` (what ``okrsync validate`` and, every
cycle, ``okrsync run`` call) in a copy of the example directory with one file
replaced. For each: nothing but the loader's own problems comes out (no
exception), every error names its file and a line, and the check takes under
2 s. Memory is measured for the worst inputs in a child process, as each
one's peak resident set (VmHWM, reset before it) over the RSS it started from:
that counts libyaml's and pydantic-core's native allocations, which
tracemalloc cannot see. A 64 MB control allocation shows the method measures.
A few inputs also go through the real ``okrsync validate`` in a subprocess.
"""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.errors import Problem
from tests.faults.tally import TALLY, long_form, trials
from tests.support import EXAMPLES, example_environ

CHECK_SECONDS = 2.0
PEAK_MB = 200
MAPPING_FILES = sorted(p.name for p in EXAMPLES.glob("*.yaml") if p.name != "connections.yaml")
ALL_FILES = [*MAPPING_FILES, "connections.yaml"]


@pytest.fixture(scope="module")
def environ() -> dict[str, str]:
    """Every secret the example connections.yaml names."""
    return example_environ()


@dataclass
class Checked:
    label: str
    seconds: float
    problems: list[Problem]


class Bench:
    """A copy of the examples; each input replaces one file, is checked, then put back."""

    def __init__(self, directory: Path, environ: dict[str, str]) -> None:
        shutil.copytree(EXAMPLES, directory)
        self.directory = directory
        self.environ = environ
        self.registry = Registry.default()
        self.originals = {name: (directory / name).read_bytes() for name in ALL_FILES}
        self.slowest = Checked("", 0.0, [])
        self.count = 0

    def check(self, label: str, name: str, content: bytes) -> Checked:
        path = self.directory / name
        path.write_bytes(content)
        try:
            began = time.perf_counter()
            try:
                _, problems = loader.check(self.directory, self.registry, environ=self.environ)
            except Exception as exc:  # the point of the suite: nothing escapes
                pytest.fail(f"{label}: {type(exc).__name__} escaped loader.check: {exc!r:.300}")
            seconds = time.perf_counter() - began
        finally:
            path.write_bytes(self.originals[name])
        TALLY.trial()
        TALLY.fault("malformed-mapping")
        self.count += 1
        checked = Checked(label, seconds, problems)
        if seconds > self.slowest.seconds:
            self.slowest = checked
        assert_well_reported(checked)
        return checked


def assert_well_reported(checked: Checked) -> None:
    assert checked.seconds < CHECK_SECONDS, (checked.label, checked.seconds)
    for problem in checked.problems:
        text = str(problem)
        where = (checked.label, text[:300])
        assert "\n" not in text, where  # one line each
        assert "Traceback" not in text, where
        if problem.severity == "error":
            assert problem.line is not None, where
            assert problem.column is not None, where
            assert Path(problem.file).parent.name == "mappings", where


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, environ: dict[str, str]) -> Iterator[Bench]:
    bench = Bench(tmp_path_factory.mktemp("faults") / "mappings", environ)
    yield bench
    print(  # read with -s; the report quotes these figures
        f"\nmalformed mappings: {bench.count} inputs checked; slowest "
        f"{bench.slowest.label!r} in {bench.slowest.seconds * 1000:.0f} ms"
    )


# ---------------------------------------------------------------------------------------
# The corpus: mutations of the example files, drawn from one seeded generator.

Mutation = Callable[[random.Random, str], str | bytes]

DEEP = ["{a: " * 10_000 + "1" + "}" * 10_000, "[" * 5_000 + "]" * 5_000, "[" * 99 + "]" * 99]
BOMB = "\n".join(
    ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    + [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
)
HUGE_NUMBERS = ["9" * 5_000, "9" * 101, "9" * 99, "1e999", "-1e999", ".nan", ".inf", "-.inf",
                "0x" + "f" * 200, "1_000_000", "0o777", "-0", "1" + "0" * 400 + ".5",
                "99999999999999999999d", "123456789012345678901234567890"]  # fmt: skip
WRONG_VALUES = ["[1, 2]", "{a: 1}", "true", "false", "null", "~", '""', "''", "3.5", "-1", "0",
                "2026-11-15", "2026-11-15T10:00:00Z", "!!binary aGVsbG8=", "yes", "[]", "{}",
                "'" + "x" * 5_000 + "'", "- a\n- b", "|\n  block\n  text"]  # fmt: skip
BAD_DATES = ["2026-02-30", "2026-13-01", "2026-00-10", "2026-10-01T25:00:00", "2026-10-01T10:61:00",
             "0000-01-01", "9999-12-31", "2026-Q5", "2026-Q0", "2026-H3", "26-Q4", "Q4-2026",
             "{start: 2026-02-01, end: 2026-02-30}", "{start: 2026-12-01, end: 2026-01-01}",
             "{start: 2026-01-01}", "{end: 2026-01-01}", "{start: x, end: y}", "2026-10-01T25:00:00"]  # fmt: skip
BAD_DURATIONS = ["99999999999999999999d", "0s", "-5m", "1e400s", "15", "m", "1y", "1.5.5h", "nan",
                 "inf", "1e300", "-1", "0", "2:37", "99:99", "1000000000d", "999999999d", "P1D"]  # fmt: skip
BAD_PLACEHOLDERS = ["{cycle.finish}", "{", "}", "{{", "{as_of", "{}", "{0}", "${NOPE}", "{cycle.start",
                    "{cycle}", "{__class__}", "{as_of!r}", "{as_of:%Y}", "{cycle.start.year}"]  # fmt: skip
BAD_SECRETS = ["${}", "${file:}", "${file:/dev/zero}", "${file:/nonexistent/secret}", "${ NOT VALID}",
               "${NOT_SET_ANYWHERE}", "${file:/etc}", "${file:/dev/null}", "${{", "${STATS_TOKEN",
               "${file:/proc/self/status}"]  # fmt: skip
UNICODE = ["é", "日本語", "🙂", "\u200b", "\u202e", "\u0301", "\ufeff", "\u2028", "\u0085",
           "\U0001f600" * 100, "\x7f", "\x1b[31m", "\t"]  # fmt: skip
TAGS = ["!!python/object:os.system", "!!python/name:os.system", "!!set", "!!omap", "!custom",
        "!!str", "!!int", "!!float", "!!timestamp", "!!binary", "!!map", "!!seq", "!"]  # fmt: skip
REQUIRED = ("id:", "title:", "cycle:", "connection:", "type:", "objectives:", "key_results:")
KEYS = ("id", "title", "start", "target", "unit", "refresh", "cycle", "owner", "source",
        "type", "weight", "min", "max", "max_change", "parent", "level", "kind", "stale_after")  # fmt: skip


def _lines(text: str) -> list[str]:
    return text.splitlines(keepends=True) or [""]


def _pick_line(rng: random.Random, text: str, needle: str = "") -> tuple[list[str], int]:
    lines = _lines(text)
    matching = [i for i, line in enumerate(lines) if needle in line] or list(range(len(lines)))
    return lines, rng.choice(matching)


def _replace_value(rng: random.Random, text: str, values: list[str], key: str = "") -> str:
    """Give one ``key: value`` line (of ``key`` when it has one) a new value."""
    lines = _lines(text)
    pattern = re.compile(rf"^(\s*(?:- )?{re.escape(key) if key else '[a-z_]+'}:)( .*)?$")
    found = [i for i, line in enumerate(lines) if pattern.match(line.rstrip("\n"))]
    if not found:
        return text + f"{key or 'x'}: {rng.choice(values)}\n"
    i = rng.choice(found)
    match = pattern.match(lines[i].rstrip("\n"))
    assert match is not None
    lines[i] = f"{match[1]} {rng.choice(values)}\n"
    return "".join(lines)


def delete_line(rng: random.Random, text: str) -> str:
    lines, i = _pick_line(rng, text)
    del lines[i]
    return "".join(lines)


def duplicate_key(rng: random.Random, text: str) -> str:
    lines, i = _pick_line(rng, text, ":")
    lines.insert(i + 1, lines[i])
    return "".join(lines)


def swap_indentation(rng: random.Random, text: str) -> str:
    lines, i = _pick_line(rng, text)
    body = lines[i].lstrip(" ")
    lines[i] = rng.choice(["", " ", "   ", "\t", " " * rng.randrange(0, 16)]) + body
    return "".join(lines)


def swap_lines(rng: random.Random, text: str) -> str:
    lines = _lines(text)
    if len(lines) > 1:
        i = rng.randrange(len(lines) - 1)
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    return "".join(lines)


def wrong_type(rng: random.Random, text: str) -> str:
    return _replace_value(rng, text, WRONG_VALUES, rng.choice([*KEYS, ""]))


def truncate(rng: random.Random, text: str) -> str:
    return text[: rng.randrange(len(text) + 1)]


def random_bytes(rng: random.Random, text: str) -> bytes:
    raw = text.encode()
    at = rng.randrange(len(raw) + 1)
    noise = bytes(rng.randrange(256) for _ in range(rng.randrange(1, 9)))
    return raw[:at] + rng.choice([noise, b"\x00", b"\xff", b"\xc3", b"\x07", b"\r"]) + raw[at:]


def huge_number(rng: random.Random, text: str) -> str:
    key = rng.choice(["start", "target", "weight", "min", "max", "max_change", "refresh", ""])
    return _replace_value(rng, text, HUGE_NUMBERS, key)


def unicode(rng: random.Random, text: str) -> str:
    at = rng.randrange(len(text) + 1)
    return text[:at] + rng.choice(UNICODE) + text[at:]


def deep_nesting(rng: random.Random, text: str) -> str:
    if rng.random() < 0.3:
        return text + "deep:\n  " + "- " * rng.choice([101, 2_000]) + "1\n"
    return _replace_value(rng, text, DEEP, rng.choice(["cycle", "source", "title", ""]))


def alias_trick(rng: random.Random, text: str) -> str:
    tricks = [
        lambda: BOMB + "\n" + text.replace("objectives:", "objectives: *a9\nignored:", 1),
        lambda: "a: &a [*a]\n" + text,
        lambda: "a: &a {b: [1, {c: *a}]}\n" + text,
        lambda: "x: *nowhere\n" + text,
        lambda: "a: &x 1\nb: &x 2\n" + text,
        lambda: "base: &b {unit: USD}\n" + text.replace("unit:", "<<: *b\n        unit:", 1),
        lambda: "k: &k cycle\n" + text.replace("cycle:", "*k :", 1),
        lambda: "a: &a 1\nb: [" + ", ".join(["*a"] * 150) + "]\n" + text,
        lambda: text.replace("key_results:", "key_results: &krs", 1) + "more: *krs\n",
        lambda: "deep: &d " + "[" * 60 + "]" * 60 + "\nd2: " + "[" * 50 + "*d" + "]" * 50 + "\n" + text,
    ]  # fmt: skip
    return str(rng.choice(tricks)())


def unknown_field(rng: random.Random, text: str) -> str:
    lines, i = _pick_line(rng, text, ":")
    indent = len(lines[i]) - len(lines[i].lstrip(" ").lstrip("- "))
    name = rng.choice(["targett", "titel", "foo", "sourcee", "cycles", "__init__", "", "'x y'"])
    lines.insert(i + 1, " " * indent + f"{name}: 1\n")
    return "".join(lines)


def missing_required(rng: random.Random, text: str) -> str:
    lines, i = _pick_line(rng, text, rng.choice(REQUIRED))
    del lines[i]
    return "".join(lines)


def bad_date(rng: random.Random, text: str) -> str:
    if rng.random() < 0.5:
        return _replace_value(rng, text, BAD_DATES, "cycle")
    return _replace_value(rng, text, BAD_DURATIONS, rng.choice(["refresh", "stale_after"]))


def bad_placeholder(rng: random.Random, text: str) -> str:
    lines, i = _pick_line(rng, text, "{" if "{" in text else ":")
    line = lines[i].rstrip("\n")
    lines[i] = line + rng.choice(BAD_PLACEHOLDERS) + "\n"
    return "".join(lines)


def bad_secret(rng: random.Random, text: str) -> str:
    lines, i = _pick_line(rng, text, "${")
    lines[i] = re.sub(r"\$\{[^}]*\}", lambda _: rng.choice(BAD_SECRETS), lines[i], count=1)
    return "".join(lines)


def tag(rng: random.Random, text: str) -> str:
    lines, i = _pick_line(rng, text, ": ")
    head, _, value = lines[i].partition(": ")
    lines[i] = f"{head}: {rng.choice(TAGS)} {value}"
    return "".join(lines)


def documents(rng: random.Random, text: str) -> str:
    return rng.choice(
        [text + "---\ncycle: 2026\n", "%YAML 1.1\n---\n" + text, text + "...\n", "---\n" + text,
         "%TAG ! tag:x,2000:\n---\n" + text, text + "\n---\n", "? [a, b]\n: c\n" + text]
    )  # fmt: skip


def encoding(rng: random.Random, text: str) -> bytes:
    return rng.choice(
        [text.encode("utf-16"), text.encode("utf-32"), text.encode("utf-16-le"),
         "\ufeff".encode() + text.encode(), text.replace("e", "é").encode("latin-1", errors="replace"),
         text.encode("utf-8").replace(b"\n", b"\r\n"), text.encode().replace(b"\n", b"\r")]
    )  # fmt: skip


def oversize(rng: random.Random, text: str) -> str:
    filler = "# " + "x" * 1_000 + "\n"
    return text + filler * rng.choice([1_024, 1_100])  # just over 1 MiB either way


def empty(rng: random.Random, text: str) -> str:
    return rng.choice(["", "\n", "# only\n", "~\n", "null\n", "---\n", "...\n", " ", "[]\n",
                       "0\n", "'x'\n", "- 1\n", "{}\n"])  # fmt: skip


MUTATIONS: dict[str, tuple[Mutation, float]] = {  # name → (mutation, weight)
    "delete-line": (delete_line, 3), "duplicate-key": (duplicate_key, 2),
    "indentation": (swap_indentation, 3), "swap-lines": (swap_lines, 2),
    "wrong-type": (wrong_type, 3), "truncate": (truncate, 2), "random-bytes": (random_bytes, 2),
    "huge-number": (huge_number, 2), "unicode": (unicode, 2), "deep-nesting": (deep_nesting, 1),
    "alias": (alias_trick, 2), "unknown-field": (unknown_field, 2),
    "missing-field": (missing_required, 2), "date-duration": (bad_date, 3),
    "placeholder": (bad_placeholder, 2), "secret": (bad_secret, 2), "tag": (tag, 1),
    "documents": (documents, 1), "encoding": (encoding, 1), "oversize": (oversize, 0.1),
    "empty": (empty, 0.5),
}  # fmt: skip


def corpus(size: int, seed: int = 16) -> Iterator[tuple[str, str, bytes]]:
    """``size`` (label, file name, content) inputs, the same ones on every run."""
    rng = random.Random(seed)  # noqa: S311 - reproducible mutations, not secrets
    texts = {name: (EXAMPLES / name).read_text(encoding="utf-8") for name in ALL_FILES}
    names, weights = list(MUTATIONS), [w for _, w in MUTATIONS.values()]
    for number in range(size):
        name = rng.choice(ALL_FILES) if rng.random() < 0.2 else rng.choice(MAPPING_FILES)
        content: str | bytes = texts[name]
        chosen = rng.choices(names, weights, k=rng.choice([1, 1, 1, 2, 3]))
        if "secret" in chosen:
            name, content = "connections.yaml", texts["connections.yaml"]
        for mutation in chosen:
            if isinstance(content, bytes):  # bytes only come last: decode back to mutate on
                content = content.decode("utf-8", errors="replace")
            content = MUTATIONS[mutation][0](rng, content)
        raw = (
            content.encode("utf-8", errors="surrogatepass") if isinstance(content, str) else content
        )
        yield f"#{number} {name} {'+'.join(chosen)}", name, raw


def test_the_corpus_is_deterministic_and_broad() -> None:
    size = trials(400, 3_000)
    first, again = list(corpus(size)), list(corpus(size))
    assert first == again
    assert len({content for _, _, content in first}) > size * 0.8  # mostly distinct files
    kinds = {kind for label, _, _ in first for kind in label.split()[-1].split("+")}
    assert kinds == set(MUTATIONS)
    assert {name for _, name, _ in first} == set(ALL_FILES)


def test_the_malformed_mapping_corpus_is_reported_cleanly(bench: Bench) -> None:
    size = trials(400, 3_000)
    broken = 0
    for label, name, content in corpus(size):
        checked = bench.check(label, name, content)
        broken += any(p.severity == "error" for p in checked.problems)
    assert bench.count >= size
    assert broken > size * 0.7  # most mutations do break a file, and each is said so


# ---------------------------------------------------------------------------------------
# The issue's own one-line mutations: each was a traceback, an unlocated error or a hang.

ISSUE_CASES: dict[str, tuple[str, Callable[[str], str | bytes], str]] = {
    "refresh-overflow": ("product.yaml", lambda t: t.replace("refresh: 30m", "refresh: 99999999999999999999d", 1), "duration too long"),
    "deep-flow": ("product.yaml", lambda t: t.replace("cycle: 2026-Q4", "cycle: " + DEEP[0], 1), "nested deeper than 100"),
    "deep-block": ("product.yaml", lambda t: t + "x:\n  " + "- " * 2_000 + "1\n", "nested deeper than 100"),
    "5000-digits": ("product.yaml", lambda t: t.replace("target: 30 ", "target: " + "9" * 5_000 + " ", 1), "a number of 5,000 characters"),
    "feb-30": ("product.yaml", lambda t: t.replace("cycle: 2026-Q4", "cycle: 2026-02-30", 1), "day is out of range"),
    "feb-30-range": ("product.yaml", lambda t: t.replace("cycle: 2026-Q4", "cycle: {start: 2026-02-01, end: 2026-02-30}", 1), "day is out of range"),
    "hour-25": ("product.yaml", lambda t: t.replace("cycle: 2026-Q4", "cycle: {start: 2026-10-01T25:00:00, end: 2026-12-31}", 1), "hour must be in 0..23"),
    "recursive-alias": ("product.yaml", lambda t: "a: &a [*a]\n" + t, "inside its own anchor"),
    "duplicate-anchor": ("product.yaml", lambda t: t.replace("start: 120", "start: &x 120", 1).replace("unit: tickets", "unit: &x tickets", 1), "duplicate anchor &x"),
    "alias-bomb": ("company.yaml", lambda t: BOMB + "\n" + t.replace("objectives:", "objectives: *a9\nx:", 1), "makes more than 50,000 nodes"),
    "empty": ("sales.yaml", lambda t: "", "file is empty"),
    "comment-only": ("sales.yaml", lambda t: "# nothing here\n", "file is empty"),
    "tilde": ("sales.yaml", lambda t: "~\n", "the top level is null"),
    "nul": ("sales.yaml", lambda t: t.replace("\n", "\x00\n", 3), "unacceptable character #x0000"),
    "not-utf8": ("sales.yaml", lambda t: t.encode().replace(b"a", b"\xe1", 1), "not UTF-8"),
    "utf16": ("sales.yaml", lambda t: t.encode("utf-16"), "UTF-16"),
    "oversize": ("sales.yaml", lambda t: t + ("#" * 1_023 + "\n") * 1_025, "larger than 1 MiB"),
}  # fmt: skip


@pytest.mark.parametrize("case", list(ISSUE_CASES))
def test_the_issues_mutations_are_located_errors(bench: Bench, case: str) -> None:
    name, mutate, message = ISSUE_CASES[case]
    content = mutate((EXAMPLES / name).read_text(encoding="utf-8"))
    raw = content.encode() if isinstance(content, str) else content
    checked = bench.check(case, name, raw)
    mine = [p for p in checked.problems if p.severity == "error" and p.file.endswith(name)]
    assert [p.message for p in mine if message in p.message], checked.problems


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "is empty"), (b" \n\t", "is empty"), (b"tok-\xff\xfe", "not UTF-8 text"),
     (None, "larger than 64 KiB")],  # None: /dev/zero
    ids=["empty", "blank", "not-utf8", "dev-zero"],
)  # fmt: skip
def test_secret_files_that_hold_nothing_usable_are_located_errors(
    bench: Bench, tmp_path: Path, content: bytes | None, message: str
) -> None:
    secret = Path("/dev/zero")
    if content is not None:
        secret = tmp_path / "ga4.json"
        secret.write_bytes(content)
    text = (EXAMPLES / "connections.yaml").read_text(encoding="utf-8")
    text = text.replace("${GA4_CREDENTIALS}", "${file:" + str(secret) + "}", 1)
    checked = bench.check(f"secret {message}", "connections.yaml", text.encode())
    # A secret that cannot be used fails only its connection: located, as a warning.
    [problem] = [p for p in checked.problems if "secret file" in p.message]
    assert f"secret file {secret} " in problem.message
    assert message in problem.message
    assert problem.message.endswith(": its key results fail until it is set")
    assert (problem.field, problem.severity) == ("connections.ga4.credentials", "warning")


# ---------------------------------------------------------------------------------------
# Hypothesis: YAML-ish text, and structured mutations of the example data.

TOKENS = ["cycle:", "objectives:", "key_results:", "version: 1", "- ", "id: ", "title: ", "start: ",
          "target: ", "refresh: ", "source:", "connection: stats", "{", "}", "[", "]", ", ", ": ",
          "&a ", "*a", "&b ", "*b", "\n", "  ", "    ", "!!int ", "!!str ", "2026-Q4", "2026-02-30",
          "'", '"', "# c", "---", "? ", "|", ">", "9" * 120, "~", "\t", "${X}", "{cycle.start}",
          "<<: ", "%YAML 1.2\n", "\\", "\x00", "é", "🙂", "1e999", ".nan", "15m"]  # fmt: skip

yamlish = st.lists(
    st.one_of(st.sampled_from(TOKENS), st.text(max_size=6)), min_size=0, max_size=80
).map("".join)

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(), st.integers(min_value=10**90, max_value=10**120),
    st.floats(), st.text(max_size=30), st.dates(), st.datetimes(),
    st.sampled_from([*BAD_DATES, *BAD_DURATIONS, *BAD_PLACEHOLDERS, *BAD_SECRETS, "2:37", "20%"]),
)  # fmt: skip
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.sampled_from(KEYS), inner, max_size=4)
    ),
    max_leaves=12,
)


def _paths(data: Any, at: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield at
    if isinstance(data, dict):
        for key, value in data.items():
            yield from _paths(value, (*at, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _paths(value, (*at, index))


def _mutated(data: Any, path: tuple[Any, ...], action: str, value: Any) -> Any:
    if not path:
        return value if action == "replace" else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    last = path[-1]
    if action == "delete":
        del parent[last]
    elif action == "add" and isinstance(parent, dict):
        parent[f"{last}x"] = value
    else:
        parent[last] = value
    return data


@st.composite
def structured(draw: st.DrawFn) -> tuple[str, bytes]:
    name = draw(st.sampled_from(ALL_FILES))
    data = yaml.safe_load((EXAMPLES / name).read_text(encoding="utf-8"))
    for _ in range(draw(st.integers(1, 3))):
        paths = list(_paths(data))
        path = draw(st.sampled_from(paths))
        action = draw(st.sampled_from(["replace", "replace", "delete", "add"]))
        if action == "delete" and not path:
            continue
        data = _mutated(data, path, action, draw(values))
    flow = draw(st.sampled_from([False, None]))
    text = yaml.safe_dump(data, default_flow_style=flow, allow_unicode=draw(st.booleans()))
    return name, text.encode("utf-8", errors="surrogatepass")


def _settings() -> settings:
    return settings(
        max_examples=trials(150, 2_000),
        deadline=None,  # each check is timed against CHECK_SECONDS instead
        derandomize=not long_form(),  # the short form is the same on every run
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


@given(name=st.sampled_from(MAPPING_FILES), text=yamlish)
@example(name="company.yaml", text="!!int ")  # IndexError from PyYAML's int constructor
@example(name="company.yaml", text="cycle: !!timestamp 2026-Q4")  # AttributeError
@example(name="company.yaml", text="cycle: !!bool x")  # KeyError
@_settings()
def test_yamlish_text_is_reported_cleanly(bench: Bench, name: str, text: str) -> None:
    bench.check(f"yamlish {text[:60]!r}", name, text.encode("utf-8", errors="surrogatepass"))


@given(case=structured())
@_settings()
def test_structured_mutations_are_reported_cleanly(bench: Bench, case: tuple[str, bytes]) -> None:
    name, content = case
    bench.check(f"structured {content[:60]!r}", name, content)


@given(
    name=st.sampled_from(MAPPING_FILES),
    at=st.floats(0, 1),
    noise=st.binary(min_size=1, max_size=16),
)
@_settings()
def test_inserted_bytes_are_reported_cleanly(
    bench: Bench, name: str, at: float, noise: bytes
) -> None:
    raw = (EXAMPLES / name).read_bytes()
    cut = int(len(raw) * at)
    bench.check(f"bytes {noise!r} at {cut}", name, raw[:cut] + noise + raw[cut:])


# ---------------------------------------------------------------------------------------
# Memory of the worst inputs, and the real command.

_AT_LIMIT_ANCHOR = "bad: &bad [" + ", ".join(["1"] * 490) + "]\ncycle: 2026-Q4\nobjectives:\n"
WORST: dict[str, tuple[str, Callable[[str], str | bytes], str]] = {
    **{case: ISSUE_CASES[case] for case in ("alias-bomb", "deep-flow", "deep-block",
                                            "5000-digits", "oversize", "recursive-alias")},
    # The worst the limits let through: just under 50,000 nodes, each one an error.
    "at-limit-literal": ("sales.yaml", lambda t: "cycle: 2026-Q4\nobjectives: [" + "1, " * 49_900 + "]\n", "more error(s) from here on"),
    "at-limit-aliases": ("sales.yaml", lambda t: _AT_LIMIT_ANCHOR + "".join(f"  - {{id: o{i}, title: t, key_results: *bad}}\n" for i in range(98)), "more error(s) from here on"),
    "over-node-limit": ("sales.yaml", lambda t: "cycle: 2026-Q4\nobjectives: [" + "1, " * 300_000 + "]\n", "more than 50,000 nodes"),
}  # fmt: skip

_CHILD = textwrap.dedent(
    """
    import json, re, sys, time
    from pathlib import Path
    from okrsync.config import loader
    from okrsync.config.registry import Registry

    def status_mb(key):
        with open("/proc/self/status") as status:
            return int(re.search(key + r":\\s+(\\d+) kB", status.read())[1]) / 1024

    def reset_peak():  # Linux: writing 5 sets VmHWM (the peak RSS) back to the current RSS
        with open("/proc/self/clear_refs", "w") as refs:
            refs.write("5")
        return status_mb("VmRSS")

    spec = json.loads(sys.argv[1])
    registry, env, out = Registry.default(), spec["environ"], {}
    loader.check(Path(spec["pristine"]), registry, environ=env)  # imports and caches warm
    base = reset_peak()
    control = bytearray(64 * 1024 * 1024)
    for i in range(0, len(control), 4096):  # touched, so resident
        control[i] = 1
    del control
    out["control"] = status_mb("VmHWM") - base
    for name, directory in spec["cases"].items():
        base = reset_peak()
        began = time.perf_counter()
        _, problems = loader.check(Path(directory), registry, environ=env)
        out[name] = {"seconds": time.perf_counter() - began,
                     "growth_mb": status_mb("VmHWM") - base,
                     "errors": [str(p) for p in problems if p.severity == "error"]}
    print(json.dumps(out))
    """
)


@pytest.mark.skipif(not Path("/proc/self/clear_refs").exists(), reason="needs Linux /proc")
def test_the_worst_inputs_stay_under_the_memory_bound(
    tmp_path: Path, environ: dict[str, str]
) -> None:
    """Each case's peak RSS over the RSS it started from, in one warmed-up child.

    The peak (VmHWM) is reset before each case, so a case is not hidden under an
    earlier, higher peak (import time's, say) as with ``ru_maxrss``; a 64 MB
    control allocation shows the method sees what it should.
    """
    cases = {}
    for case, (name, mutate, _) in WORST.items():
        directory = tmp_path / case
        shutil.copytree(EXAMPLES, directory)
        content = mutate((EXAMPLES / name).read_text(encoding="utf-8"))
        (directory / name).write_bytes(content.encode() if isinstance(content, str) else content)
        cases[case] = str(directory)
    spec = {"pristine": str(EXAMPLES), "environ": environ, "cases": cases}
    out = subprocess.run(
        [sys.executable, "-c", _CHILD, json.dumps(spec)],
        capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    figures = json.loads(out.stdout)
    control = figures.pop("control")
    assert 60 < control < 80, control  # the method sees a 64 MB allocation
    for case, got in figures.items():
        TALLY.trial()
        TALLY.fault("malformed-mapping")
        assert got["seconds"] < CHECK_SECONDS, (case, got)
        assert got["growth_mb"] < PEAK_MB, (case, got)
        assert any(WORST[case][2] in e for e in got["errors"]), (case, got["errors"][-3:])
    worst = max(figures.items(), key=lambda item: item[1]["growth_mb"])
    print(f"\npeak-RSS growth (control {control:.1f} MB): worst {worst[0]} "
          f"{worst[1]['growth_mb']:.1f} MB; "
          + ", ".join(f"{c} {g['growth_mb']:.1f} MB {g['seconds'] * 1000:.0f} ms"
                      for c, g in figures.items()))  # fmt: skip


LOCATED = re.compile(r"^(?P<file>\S+?):(?P<line>\d+):(?P<col>\d+): error: ")
CLI_CASES = ["alias-bomb", "deep-flow", "5000-digits", "feb-30", "empty", "not-utf8"]


@pytest.mark.parametrize("case", CLI_CASES)
def test_okrsync_validate_says_where_and_exits_1(
    tmp_path: Path, environ: dict[str, str], case: str
) -> None:
    name, mutate, message = ISSUE_CASES[case]
    directory = tmp_path / "mappings"
    shutil.copytree(EXAMPLES, directory)
    content = mutate((EXAMPLES / name).read_text(encoding="utf-8"))
    (directory / name).write_bytes(content.encode() if isinstance(content, str) else content)
    env = {**os.environ, **environ, "COLUMNS": "200"}
    began = time.monotonic()
    result = subprocess.run(
        [sys.executable, "-m", "okrsync", "validate", str(directory)],
        capture_output=True, text=True, env=env, timeout=60,
    )  # fmt: skip
    TALLY.trial()
    TALLY.fault("malformed-mapping")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "Traceback" not in output
    assert time.monotonic() - began < 20  # interpreter start included; the check is < 2 s
    errors = [line for line in result.stdout.splitlines() if ": error: " in line]
    assert errors, output
    for line in errors:
        assert LOCATED.match(line), line
    assert any(message in line and f"{name}:" in line for line in errors), output
