"""The mapping cache of read-only commands: never stale, never trusted when broken, no secrets."""

from __future__ import annotations

import hashlib
import os
import pickle
from pathlib import Path
from typing import Any

import pytest

from okrsync.config import cache as cache_module
from okrsync.config import loader
from okrsync.config.cache import MappingCache, default_dir
from okrsync.config.registry import Registry
from okrsync.errors import ConfigError
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, write

CONN = connections_yaml("http://127.0.0.1:9")
OTHER_TOKEN = "tok-9d2e55b1c0a84f3a"  # a second fake secret


def files(target: float = 30) -> dict[str, str]:
    krs = [kr_yaml("tickets", "support_tickets_month", target=target), kr_yaml("steps", "steps")]
    return {
        "connections.yaml": CONN,
        "okrs.yaml": mapping([objective_yaml("obj", krs)]),
        "team/more.yaml": mapping([objective_yaml("solo", [kr_yaml("nps", "nps")])]),
    }


@pytest.fixture
def mappings(tmp_path: Path) -> Path:
    directory = write(tmp_path / "mappings", {})
    (directory / "team").mkdir()
    return write(directory, files())


@pytest.fixture
def cache(tmp_path: Path) -> MappingCache:
    return MappingCache(tmp_path / "cache")


@pytest.fixture
def parses(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Every mapping file parsed from now on: none on a cache hit."""
    seen: list[Path] = []
    real = loader._parse

    def counted(path: Path, *args: Any) -> Any:
        if path.name != "connections.yaml":  # read afresh every time, hit or miss
            seen.append(path)
        return real(path, *args)

    monkeypatch.setattr(loader, "_parse", counted)
    return seen


def load(directory: Path, cache: MappingCache | None, **kwargs: Any) -> loader.Config:
    kwargs.setdefault("secrets", "skip")
    return loader.load(directory, Registry.default(), environ={}, cache=cache, **kwargs)


def summary(config: loader.Config) -> Any:
    """What a command reads of a config, comparable across loads."""
    return (
        [(o.id, o.title, [k.id for k in o.key_results]) for o in config.objectives],
        {k: (e.kr, e.source, e.connection_type, e.file, e.cycle) for k, e in config.krs.items()},
        config.cycles,
        [(p.file, p.field, p.message) for p in config.warnings],
        config.fingerprint,
        sorted(config.connections),
    )


def test_a_hit_is_the_same_config_without_parsing_a_file(
    mappings: Path, cache: MappingCache, parses: list[Path]
) -> None:
    fresh = load(mappings, None)
    parses.clear()
    first = load(mappings, cache)
    assert len(parses) == 2  # a miss: both mapping files parsed, the entry written
    parses.clear()
    again = load(mappings, cache)
    assert parses == []
    assert summary(again) == summary(first) == summary(fresh)
    assert again.warnings  # the objective with one key result: kept from the entry


def test_an_edit_is_seen_even_with_the_same_size_and_mtime(
    mappings: Path, cache: MappingCache, parses: list[Path]
) -> None:
    assert load(mappings, cache).krs["tickets"].kr.target == 30
    path = mappings / "okrs.yaml"
    before = path.stat()
    edited = files(target=40)["okrs.yaml"]
    assert len(edited) == len(path.read_text())
    path.write_text(edited)
    os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns))  # what a mtime check would miss
    assert load(mappings, cache).krs["tickets"].kr.target == 40
    parses.clear()
    assert load(mappings, cache).krs["tickets"].kr.target == 40  # and that is cached now
    assert parses == []


def test_a_new_file_a_removed_file_and_connections_yaml_are_seen(
    mappings: Path, cache: MappingCache
) -> None:
    assert set(load(mappings, cache).krs) == {"tickets", "steps", "nps"}
    write(mappings, {"new.yaml": mapping([objective_yaml("new", [kr_yaml("fresh", "fresh")])])})
    assert set(load(mappings, cache).krs) == {"tickets", "steps", "nps", "fresh"}
    (mappings / "team" / "more.yaml").unlink()
    assert set(load(mappings, cache).krs) == {"tickets", "steps", "fresh"}
    # The connection renamed: the cached sources name one that no longer exists.
    (mappings / "connections.yaml").write_text(CONN.replace("  stats:", "  metrics:"))
    with pytest.raises(ConfigError, match="unknown connection 'stats'"):
        load(mappings, cache)


def test_a_broken_edit_is_an_error_not_the_last_cached_config(
    mappings: Path, cache: MappingCache
) -> None:
    load(mappings, cache)
    (mappings / "okrs.yaml").write_text("cycle: 2026-Q4\nobjectives: [\n")
    with pytest.raises(ConfigError, match="invalid YAML"):
        load(mappings, cache)


def _entry(cache: MappingCache, mappings: Path) -> Path:
    path = cache.path_for(mappings)
    assert path.is_file()
    return path


@pytest.mark.parametrize(
    "damage",
    [
        pytest.param(lambda b: b[: len(b) // 2], id="truncated"),
        pytest.param(lambda b: b[:-40] + bytes(40), id="zeroed-tail"),
        pytest.param(lambda b: b"garbage", id="garbage"),
        pytest.param(lambda b: b"", id="empty"),
        pytest.param(lambda b: b.replace(b"cache 1\n", b"cache 9\n", 1), id="other-format"),
    ],
)
def test_a_corrupted_entry_is_ignored_and_replaced(
    mappings: Path, cache: MappingCache, parses: list[Path], damage: Any
) -> None:
    expected = summary(load(mappings, cache))
    path = _entry(cache, mappings)
    path.write_bytes(damage(path.read_bytes()))
    parses.clear()
    assert summary(load(mappings, cache)) == expected
    assert len(parses) == 2  # checked again …
    parses.clear()
    assert summary(load(mappings, cache)) == expected
    assert parses == []  # … and the entry written anew


def test_a_well_formed_entry_of_the_wrong_content_is_ignored(
    mappings: Path, cache: MappingCache, parses: list[Path]
) -> None:
    expected = summary(load(mappings, cache))
    path = _entry(cache, mappings)
    blob = path.read_bytes()
    head = blob[: len(cache_module.FORMAT) + 65]  # format and key: only the content differs
    payload = pickle.dumps({"not": "an entry"})
    path.write_bytes(head + hashlib.sha256(payload).hexdigest().encode() + b"\n" + payload)
    parses.clear()
    assert summary(load(mappings, cache)) == expected
    assert len(parses) == 2


def test_an_entry_others_can_write_is_not_read(
    mappings: Path, cache: MappingCache, parses: list[Path]
) -> None:
    load(mappings, cache)
    path = _entry(cache, mappings)
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.parent.stat().st_mode & 0o777 == 0o700
    path.chmod(0o666)
    parses.clear()
    load(mappings, cache)
    assert len(parses) == 2


def test_no_secret_is_ever_in_the_cache_and_each_load_resolves_them_afresh(
    mappings: Path, cache: MappingCache, parses: list[Path]
) -> None:
    first = loader.load(mappings, Registry.default(), environ={"TEST_STATS_TOKEN": TOKEN},
                        secrets="per_connection", cache=cache)  # fmt: skip
    assert first.connections["stats"].headers["Authorization"] == f"Bearer {TOKEN}"  # type: ignore[attr-defined]
    for path in cache.root.rglob("*"):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    parses.clear()
    again = loader.load(mappings, Registry.default(), environ={"TEST_STATS_TOKEN": OTHER_TOKEN},
                        secrets="per_connection", cache=cache)  # fmt: skip
    assert parses == []  # a hit: the mapping files are the same …
    # … and the connection's secret is the environment's now, not one remembered.
    assert again.connections["stats"].headers["Authorization"] == f"Bearer {OTHER_TOKEN}"  # type: ignore[attr-defined]
    missing = loader.load(mappings, Registry.default(), environ={}, cache=cache)
    assert missing.unavailable == {"stats": "environment variable TEST_STATS_TOKEN is not set"}


def test_an_unwritable_cache_folder_only_costs_the_cache(mappings: Path, tmp_path: Path) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    assert set(load(mappings, MappingCache(blocked)).krs) == {"tickets", "steps", "nps"}


def test_in_process_connectors_are_never_cached(mappings: Path, cache: MappingCache) -> None:
    registry = Registry.of(Registry.default()["http"])
    loader.load(mappings, registry, environ={}, secrets="skip", cache=cache)
    assert not cache.path_for(mappings).exists()


def test_where_the_cache_lives() -> None:
    assert default_dir({"OKRSYNC_CACHE_DIR": "/srv/cache"}) == Path("/srv/cache")
    assert default_dir({"OKRSYNC_CACHE_DIR": "off"}) is None
    assert default_dir({"OKRSYNC_CACHE_DIR": ""}) is None
    assert default_dir({"XDG_CACHE_HOME": "/x"}) == Path("/x/okrsync")


def test_new_checking_code_is_a_new_key(
    mappings: Path, cache: MappingCache, parses: list[Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    load(mappings, cache)
    real = loader.code_stamp
    monkeypatch.setattr(loader, "code_stamp", lambda modules: [*real(modules), ("edited", 1, 2)])
    parses.clear()
    load(mappings, cache)
    assert len(parses) == 2  # the stamp changed: checked again, never the old result


def test_a_module_edited_or_upgraded_changes_its_stamp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = tmp_path / "okrsync_stamp_probe.py"
    module.write_text("X = 1\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    __import__("okrsync_stamp_probe")
    before = cache_module.code_stamp(["okrsync_stamp_probe", "okrsync.config.loader"])
    stat = module.stat()
    os.utime(module, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert cache_module.code_stamp(["okrsync_stamp_probe", "okrsync.config.loader"]) != before
