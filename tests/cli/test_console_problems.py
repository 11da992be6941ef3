"""`validate` prints its problems at once, exactly as one print per problem did."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from rich.text import Text

from okrsync.cli.console import problems
from okrsync.errors import Problem

FOUND = [
    Problem("m/a.yaml", 3, 5, "objectives[0].key_results", "objective 'a' has 9 key results",
            "warning"),
    Problem("m/b.yaml", None, None, "", "invalid YAML: [brackets] and\ttabs stay as written"),
    Problem("m/c.yaml", 12, 1, "objectives[2].id", "duplicate id 'x'; first defined at m/a.yaml:1"),
]  # fmt: skip


def _console(terminal: bool) -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, highlight=False, soft_wrap=False, width=40, markup=False,
                      force_terminal=terminal, color_system="standard" if terminal else None)  # fmt: skip
    return console, out


@pytest.mark.parametrize("terminal", [False, True], ids=["piped", "terminal"])
def test_the_same_text_and_colours_as_one_print_each(terminal: bool) -> None:
    expected, want = _console(terminal)
    for p in FOUND:  # what problems() did before
        expected.print(Text(str(p), style="red" if p.severity == "error" else "yellow"),
                       soft_wrap=True)  # fmt: skip
    console, got = _console(terminal)
    problems(console, FOUND)
    assert got.getvalue() == want.getvalue()
    assert got.getvalue().count("\n") == len(FOUND)  # long lines are not wrapped at 40


def test_nothing_found_prints_nothing() -> None:
    console, out = _console(False)
    problems(console, [])
    assert out.getvalue() == ""
