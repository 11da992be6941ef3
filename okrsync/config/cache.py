"""A cache of the checked mapping files, for the commands that only read (status, explain …).

Loading 100,000 key results parses and checks about 25 MB of YAML, about
10 s, and ``okrsync status`` paid it on every call. The cache holds what the
mapping files checked into, keyed by everything the check reads: the text of
every mapping file and of ``connections.yaml``, the directory, the installed
connector types and the code that checks them (version, and each module's
size and mtime). Any edit changes the key, and a key that does not match is
a miss: the files are checked again and the entry replaced. One file per
mappings directory, so the cache never grows with edits.

It never holds a secret: ``connections.yaml`` is not cached, only hashed
(its secrets are ``${…}`` references in the text, resolved by every load
afresh). What is cached are the objectives, key results, their sources and
cycles, and the mapping files' warnings, which mapping files cannot put a
secret in. Entries are pickles, so one is only read from a file this user
owns that no one else can write, in a folder made ``0700``; a file that is
corrupt, truncated, of another format or unreadable is a miss, never an error.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import os
import pickle
import stat
import sys
import tempfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import structlog

log = structlog.get_logger("okrsync.config.cache")

FORMAT = b"okrsync-mappings-cache 1\n"
ENV = "OKRSYNC_CACHE_DIR"  # a folder; "off" (or empty) turns the cache off
_OFF = frozenset({"", "off", "0", "false", "no"})


def default_dir(environ: dict[str, str] | None = None) -> Path | None:
    """``$OKRSYNC_CACHE_DIR``, else ``$XDG_CACHE_HOME/okrsync``, else ``~/.cache/okrsync``."""
    env = os.environ if environ is None else environ
    if ENV in env:
        given = env[ENV].strip()
        return None if given.lower() in _OFF else Path(given)
    base = env.get("XDG_CACHE_HOME")
    if not base:
        try:
            base = str(Path.home() / ".cache")
        except (RuntimeError, KeyError):  # no HOME and no passwd entry (a container's uid)
            return None
    return Path(base) / "okrsync"


class MappingCache:
    """One entry per mappings directory under ``root``: its key, a checksum, a pickle."""

    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def default(cls) -> MappingCache | None:
        root = default_dir()
        return None if root is None else cls(root)

    def path_for(self, mappings: Path) -> Path:
        name = hashlib.sha256(str(mappings.resolve()).encode()).hexdigest()[:32]
        return self.root / "mappings" / f"{name}.pickle"

    def get(self, mappings: Path, key: str) -> Any | None:
        """The payload stored for ``mappings`` under ``key``; None for anything else."""
        path = self.path_for(mappings)
        try:
            with path.open("rb") as file:
                st = os.fstat(file.fileno())
                if st.st_uid != os.getuid() or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH):
                    log.warning("mapping cache ignored: not this user's own file", path=str(path))
                    return None
                blob = file.read()
        except OSError:
            return None
        head = len(FORMAT)
        stored_key, checksum = blob[head : head + 64], blob[head + 65 : head + 129]
        payload = memoryview(blob)[head + 130 :]
        if not blob.startswith(FORMAT) or stored_key != key.encode():
            return None  # another format, or the files changed since
        if hashlib.sha256(payload).hexdigest().encode() != checksum:
            log.warning("mapping cache ignored: corrupt", path=str(path))
            return None
        paused = gc.isenabled()
        gc.disable()  # ~300,000 new objects: the collector's passes doubled the time
        try:
            return pickle.loads(payload)  # noqa: S301 - our own file, checked above
        except Exception as exc:  # a stale class, a bad pickle: a miss
            log.warning("mapping cache ignored: unreadable", path=str(path), error=repr(exc))
            return None
        finally:
            if paused:
                gc.enable()

    def put(self, mappings: Path, key: str, payload: Any) -> None:
        """Store ``payload`` for ``mappings`` (atomically); a cache that cannot be written is skipped."""
        path = self.path_for(mappings)
        try:
            data = pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL)
            checksum = hashlib.sha256(data).hexdigest()
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            fd, temp = tempfile.mkstemp(dir=path.parent, prefix=".", suffix=".tmp")
            try:
                with os.fdopen(fd, "wb") as file:
                    file.write(b"".join([FORMAT, key.encode(), b"\n", checksum.encode(), b"\n"]))
                    file.write(data)
                os.replace(temp, path)
            except BaseException:
                with contextlib.suppress(OSError):
                    os.unlink(temp)
                raise
        except (OSError, pickle.PicklingError, TypeError, AttributeError) as exc:
            log.debug("mapping cache not written", path=str(path), error=repr(exc))


def code_stamp(modules: Iterable[str]) -> list[tuple[str, int, int]]:
    """(module, size, mtime) of each imported module's file: an upgrade or an edit is a new key."""
    stamped = []
    for name in sorted(set(modules)):
        module = sys.modules.get(name)
        file = getattr(module, "__file__", None)
        try:
            st = os.stat(file) if file else None
        except OSError:
            st = None
        stamped.append((name, st.st_size if st else -1, st.st_mtime_ns if st else -1))
    return stamped


__all__ = ["ENV", "MappingCache", "code_stamp", "default_dir"]
