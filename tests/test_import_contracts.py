"""The house's seams: the import contracts of pyproject.toml hold, fail when broken, and no cycle.

``make lint`` runs ``lint-imports`` on the tree; these tests prove that the
contracts can fail (a copy of the tree with one forbidden import is refused,
naming that import) and that no two modules import each other, directly or
through others, TYPE_CHECKING imports included.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterable, Mapping
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _copy_tree(dest: Path) -> Path:
    for package in ("okrsync", "connectors"):
        shutil.copytree(
            ROOT / package, dest / package, ignore=shutil.ignore_patterns("__pycache__")
        )
    shutil.copy(ROOT / "pyproject.toml", dest / "pyproject.toml")
    return dest


def _lint_imports(tree: Path) -> subprocess.CompletedProcess[str]:
    """``lint-imports`` on ``tree``, whose packages shadow the installed ones."""
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=tree,
        env={"PYTHONPATH": str(tree), "PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=120,
    )


def _add_import(module: Path, statement: str) -> None:
    module.write_text(module.read_text() + f"\n{statement}  # noqa\n")


def test_the_contracts_hold_on_a_copy_of_the_tree(tmp_path: Path) -> None:
    result = _lint_imports(_copy_tree(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout
    assert "No import cycle between sibling modules or packages KEPT" in result.stdout


@pytest.mark.parametrize(
    ("module", "statement", "contract", "shown"),
    [
        (
            "connectors/http.py",
            "import okrsync.sync.run",
            "Connectors import only okrsync.sdk and okrsync.errors",
            "connectors.http -> okrsync.sync.run",
        ),
        (
            "connectors/jira/calls.py",
            "import okrsync.config.loader",
            "Connectors import only okrsync.sdk and okrsync.errors",
            "connectors.jira.calls -> okrsync.config.loader",
        ),
        (
            "okrsync/store/tables.py",
            "import okrsync.sync.plan",
            "The store imports neither the sync stages nor connectors",
            "okrsync.store.tables -> okrsync.sync.plan",
        ),
        (
            "okrsync/domain/progress.py",
            "import okrsync.errors",
            "The domain imports no other part of okrsync",
            "okrsync.domain.progress -> okrsync.errors",
        ),
        (
            "okrsync/demo/simulators/stats.py",
            "import okrsync.sdk.http",
            "Simulators import nothing of ours but each other",
            "okrsync.demo.simulators.stats -> okrsync.sdk.http",
        ),
        (
            "okrsync/config/registry.py",
            "import connectors.jira",
            "The core never imports a connector (built-ins are named by string)",
            "okrsync.config.registry -> connectors.jira",
        ),
        (
            "okrsync/sdk/http.py",
            "import okrsync.publish.stage",
            "The stages are layers: each imports only those below it",
            "okrsync.sdk.http -> okrsync.publish.stage",
        ),
        (
            "okrsync/cli/app.py",
            "import okrsync.testing.runtime",
            "Only tests import the test kit (okrsync.testing needs pytest)",
            "okrsync.cli.app -> okrsync.testing.runtime",
        ),
        (
            "connectors/ga4/answers.py",
            "import connectors.ga4.connector",
            "No import cycle between sibling modules or packages",
            "connectors.ga4",
        ),
    ],
    ids=[
        "connector→sync",
        "connector→config",
        "store→sync",
        "domain→errors",
        "simulator→sdk",
        "core→connector",
        "sdk→publish",
        "cli→testing",
        "cycle",
    ],
)
def test_a_forbidden_import_breaks_its_contract(
    tmp_path: Path, module: str, statement: str, contract: str, shown: str
) -> None:
    tree = _copy_tree(tmp_path)
    _add_import(tree / module, statement)
    result = _lint_imports(tree)
    assert result.returncode != 0, result.stdout
    assert f"{contract} BROKEN" in result.stdout
    assert shown in result.stdout


def cycles(edges: Mapping[str, Iterable[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in edges.get(node, ()):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(edges):
        if node not in index:
            visit(node)
    return found


def module_edges(*packages: str) -> dict[str, set[str]]:
    """Module → the modules of ours it imports, TYPE_CHECKING imports included."""
    graph = grimp.build_graph(*packages, exclude_type_checking_imports=False, cache_dir=None)
    return {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}


def test_no_module_takes_part_in_an_import_cycle() -> None:
    edges = module_edges("okrsync", "connectors")
    assert len(edges) > 100  # the whole tree was read
    assert cycles(edges) == []


def test_the_cycle_check_sees_a_type_checking_cycle(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = tmp_path / "cyclic"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "settings.py").write_text(
        "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from cyclic.connector import X\n"
    )
    (package / "connector.py").write_text("from cyclic.settings import *\nX = 1\n")
    (package / "leaf.py").write_text("import cyclic.settings\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert cycles(module_edges("cyclic")) == [["cyclic.connector", "cyclic.settings"]]
