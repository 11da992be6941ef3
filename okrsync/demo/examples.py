"""The example company that ships with okrsync: ``demo`` anywhere, ``init`` to start your own.

In a checkout ``okrsync/demo/example`` is a link to the top-level
``mappings/``; a wheel holds a copy of its files.
"""

from __future__ import annotations

import shutil
from importlib.resources import files
from pathlib import Path


def example_dir() -> Path:
    """The shipped example mappings (connections.yaml and the mapping files)."""
    return Path(str(files("okrsync.demo") / "example"))


def write_starter(target: Path) -> list[Path]:
    """Copy the example mappings into ``target``; refuses (FileExistsError) to overwrite a file."""
    source = example_dir()
    names = sorted(p.name for p in source.iterdir() if p.suffix in (".yaml", ".yml"))
    clashes = [target / name for name in names if (target / name).exists()]
    if clashes:
        raise FileExistsError(", ".join(str(p) for p in clashes))
    target.mkdir(parents=True, exist_ok=True)
    return [Path(shutil.copyfile(source / name, target / name)) for name in names]


__all__ = ["example_dir", "write_starter"]
