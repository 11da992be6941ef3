"""Load the mappings directory into one checked :class:`Config`, or say every problem.

Two passes: each file against the pydantic models (file:line:col for every
error), then across files: unique ids, parents that exist and form no loop,
connections that exist, each ``source`` against its connector's own model,
placeholders from the fixed set. Lint findings are warnings, never errors.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ValidationError

from okrsync.config.cache import MappingCache, code_stamp
from okrsync.config.registry import P, PublisherRegistry, Registry, UnknownType
from okrsync.config.secrets import SecretError, expand
from okrsync.config.yaml_positions import (
    YamlDocument,
    YamlSyntaxError,
    dotted,
    locate,
    locate_all,
    parse,
    read_text,
)
from okrsync.domain import expression
from okrsync.domain.cycle import Cycle
from okrsync.domain.model import ConnectionsFile, Initiative, KeyResult, MappingFile, Objective
from okrsync.errors import ConfigError, Problem
from okrsync.sdk.connector import ConnectionSettings, SourceBase
from okrsync.sdk.placeholders import PLACEHOLDERS, find_placeholders, find_unclosed
from okrsync.sdk.publisher import PublisherSettings
from okrsync.sdk.redaction import REDACTOR, Redactor

CONNECTIONS_FILE = "connections.yaml"
MIN_KRS, MAX_KRS = 2, 5
MANUAL_REFRESH = timedelta(days=7)  # a manual key result's default: the weekly check-in
MAX_SHOWN = 100  # errors listed from one model's validation; the rest are counted
S = TypeVar("S", bound=BaseModel)


@dataclass(frozen=True)
class KrEntry:
    """A key result with what it needs to be measured."""

    kr: KeyResult
    objective: Objective
    cycle: Cycle
    source: SourceBase | None
    connection_type: str | None
    file: str
    initiatives: tuple[tuple[str, str], ...] = ()  # (connection, issue key), resolved
    manual: bool = False  # ``source: {manual: true}``: checked in by hand, never queried
    derived: Derived | None = None  # ``source: {expression, inputs}``: computed from inputs


@dataclass(frozen=True)
class DerivedInput:
    """One input of a derived key result: an ordinary source, planned like any other."""

    source: SourceBase
    connection_type: str


@dataclass(frozen=True)
class Derived:
    """``source: {expression: "paid / trials * 100", inputs: {paid: …, trials: …}}``."""

    text: str
    tree: expression.Expr
    inputs: dict[str, DerivedInput]


@dataclass
class Config:
    """A checked configuration: what the engine, status and explain read."""

    directory: Path
    objectives: list[Objective]
    krs: dict[str, KrEntry]
    connections: dict[str, ConnectionSettings]
    registry: Registry
    cycles: dict[str, Cycle]  # objective id → cycle
    warnings: list[Problem] = field(default_factory=list)
    fingerprint: str = ""
    destinations: dict[str, PublisherSettings] = field(default_factory=dict)  # OKR tools
    channels: dict[str, PublisherSettings] = field(default_factory=dict)  # chat, webhooks
    publishers: PublisherRegistry = field(default_factory=lambda: PublisherRegistry({}))
    # Connections whose secrets are not set → why: their key results fail, the rest sync.
    unavailable: dict[str, str] = field(default_factory=dict)
    unavailable_destinations: dict[str, str] = field(default_factory=dict)  # the same, pushes


@dataclass(frozen=True)
class _Pending:
    """A problem whose line:col is not looked up yet."""

    doc: YamlDocument
    loc: tuple[str | int, ...]
    message: str
    file: str
    severity: Literal["error", "warning"]
    keep_field: bool


class _Collector:
    """Problems found so far; their file:line:col are looked up when first read.

    Lookups run one file at a time and that file's positions are dropped after,
    so a load with a thousand warnings never holds every file's positions at once.
    """

    def __init__(self, redactor: Redactor) -> None:
        self._found: list[Problem | _Pending] = []  # in the order found
        self.redactor = redactor

    def count(self) -> int:
        """Problems found so far (to tell whether a check added any)."""
        return len(self._found)

    def add(
        self,
        doc: YamlDocument | None,
        loc: Sequence[str | int],
        message: str,
        *,
        file: str = "",
        severity: str = "error",
        keep_field: bool = False,
    ) -> None:
        level = _severity(severity)
        if doc is None:
            self.located(Problem(file, None, None, dotted(loc), message, level))
        else:
            self._found.append(_Pending(doc, tuple(loc), message, file, level, keep_field))

    def located(self, problem: Problem) -> None:
        message = self.redactor.redact(problem.message)
        self._found.append(replace(problem, message=message))

    @property
    def problems(self) -> list[Problem]:
        return self.collected()

    def collected(self, *, locate_warnings: bool = True) -> list[Problem]:
        """Every problem in order; warnings keep only file and field unless ``locate_warnings``.

        ``load`` (sync, run) never shows warnings: it skips the lookup, which for
        an organisation with a warning per objective was a second parse of every file.
        """
        self._resolve(lambda item: item.severity == "error" or locate_warnings)
        if not locate_warnings:
            for index, item in enumerate(self._found):
                if isinstance(item, _Pending):
                    field = dotted(item.loc)
                    message = self.redactor.redact(item.message)
                    file = item.file or str(item.doc.path)
                    self._found[index] = Problem(file, None, None, field, message, item.severity)
        return [item for item in self._found if isinstance(item, Problem)]

    def _resolve(self, wanted: Callable[[_Pending], bool]) -> None:
        """Locate the wanted pending problems, one file at a time, then drop its positions."""
        by_doc: dict[int, list[int]] = {}
        for index, item in enumerate(self._found):
            if isinstance(item, _Pending) and wanted(item):
                by_doc.setdefault(id(item.doc), []).append(index)
        for indices in by_doc.values():
            items = [self._found[index] for index in indices]
            pending = [item for item in items if isinstance(item, _Pending)]
            doc = pending[0].doc
            located = locate_all(doc, [item.loc for item in pending])
            for index, item, where in zip(indices, pending, located, strict=True):
                self._found[index] = self._locate(item, where)
            doc.forget_positions()

    def _locate(
        self, item: _Pending, where: tuple[int | None, int | None, list[str | int]]
    ) -> Problem:
        line, col, found = where
        return Problem(
            file=item.file or str(item.doc.path),
            line=line,
            column=col,
            field=dotted(item.loc if item.keep_field else found),
            message=self.redactor.redact(item.message),
            severity=item.severity,
        )

    def pydantic(
        self,
        doc: YamlDocument,
        exc: ValidationError,
        prefix: Sequence[str | int] = (),
        vocabulary: Iterable[str] = (),
    ) -> None:
        found = exc.errors(include_input=False, include_url=False)
        for err in found[:MAX_SHOWN]:
            loc = [*prefix, *err["loc"]]
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                name = str(err["loc"][-1])
                message = f"unknown field {name!r}"
                close = difflib.get_close_matches(name, list(vocabulary), n=1)
                if close and close[0] == name and name in _BELONGS:  # right word, wrong place
                    message += f" here; it belongs on {_BELONGS[name]}"
                elif close and close[0] != name:
                    message += f"; did you mean {close[0]!r}?"
            elif err["type"] == "missing":
                message = f"missing required field {err['loc'][-1]!r}"
            self.add(doc, loc, message, keep_field=err["type"] in ("missing", "extra_forbidden"))
        if len(found) > MAX_SHOWN:  # 100,000 list items of the wrong type took 3 s to list
            more = len(found) - MAX_SHOWN
            loc = [*prefix, *found[MAX_SHOWN]["loc"]]
            self.add(doc, loc, f"and {more:,} more error(s) from here on, not shown")

    @property
    def errors(self) -> list[Problem]:
        self._resolve(lambda item: item.severity == "error")
        return [p for p in self._found if isinstance(p, Problem) and p.severity == "error"]


SecretMode = Literal["per_connection", "required", "skip"]


def _severity(text: str) -> Literal["error", "warning"]:
    return "warning" if text == "warning" else "error"


def _fields(*models: type[BaseModel]) -> set[str]:
    return {name for m in models for name in m.model_fields}


_MAPPING_WORDS = _fields(MappingFile, Objective, KeyResult, Initiative, Cycle)
_LEVELS = (("the file", MappingFile), ("an objective", Objective), ("a key result", KeyResult))
# A field name → where it is allowed, for "unknown field 'cycle' here; it belongs on …".
_BELONGS = {
    name: " or ".join(label for label, model in _LEVELS if name in model.model_fields)
    for name in _fields(MappingFile, Objective, KeyResult)
}


def check(
    directory: Path,
    registry: Registry,
    *,
    publishers: PublisherRegistry | None = None,
    environ: Mapping[str, str] | None = None,
    redactor: Redactor = REDACTOR,
    secrets: SecretMode = "per_connection",
    locate_warnings: bool = True,
    cache: MappingCache | None = None,
) -> tuple[Config | None, list[Problem]]:
    """Everything :func:`load` finds, errors and warnings; a Config only when error-free.

    ``secrets`` says what a secret that is not set means: ``"per_connection"``
    (sync, run, validate) a warning, and that connection's key results fail
    while the rest sync; ``"required"`` (``validate --require-secrets``, the
    deploy-time check) an error; ``"skip"`` (status, explain, history: they
    need no credentials) nothing, the connection kept with its type only.
    ``locate_warnings=False`` leaves warnings without line:col (errors always have it).
    ``cache``: the mapping files' checked content is reused from it when not one byte of
    them, of ``connections.yaml`` or of the checking code changed (``locate_warnings=False``
    only; ``connections.yaml`` itself is read afresh every time, its secrets never cached).
    """
    out = _Collector(redactor)
    if not directory.is_dir():
        out.add(None, (), "mappings directory does not exist", file=str(directory))
        return None, out.problems

    publishers = PublisherRegistry.default() if publishers is None else publishers
    outlets = _load_connections(directory, registry, publishers, out, environ, redactor, secrets)
    types = outlets.types
    docs: list[_Parsed] = []
    files = _mapping_files(directory)
    for path in files:
        if path.name == CONNECTIONS_FILE:  # a team folder's own connections would be ignored
            where = f"{CONNECTIONS_FILE} belongs at the top of the mappings directory, not in"
            out.add(None, (), f"{where} {path.parent.relative_to(directory)}/", file=str(path))
    files = [p for p in files if p.name != CONNECTIONS_FILE]
    if not files:
        out.add(None, (), "no mapping files (*.yaml) found", file=str(directory))
    digest = hashlib.sha256(f"{CONNECTIONS_FILE}\0{outlets.text}".encode())
    texts: list[tuple[Path, str]] = []
    for path in files:
        text = _read_text(path, out)  # reads no more than the size limit, then stops
        if text is None:
            continue
        name = path.relative_to(directory).as_posix()
        digest.update(name.encode() + b"\0" + text.encode("utf-8"))  # the file's bytes
        texts.append((path, text))
    fingerprint = digest.hexdigest()[:16]
    key = None
    if cache is not None and not locate_warnings and not out.errors:
        key = _cache_key(directory, digest.hexdigest(), registry, outlets)
        hit = (
            None
            if key is None
            else _cached(cache, directory, key, registry, publishers, outlets, fingerprint)
        )
        if hit is not None:
            problems = [*out.collected(locate_warnings=False), *hit.warnings]
            return hit, problems
    before = out.count()  # what follows is the mapping files' own: what a cache entry keeps
    for path, text in texts:
        doc = _parse(path, out, text)
        if doc is None:
            continue
        try:
            # The models are what the rest reads; the raw dicts go now, not after every file.
            docs.append(
                _Parsed.whole(replace(doc, data=None), MappingFile.model_validate(doc.data))
            )
        except ValidationError as exc:
            out.pydantic(doc, exc, vocabulary=_MAPPING_WORDS)
            salvaged = _salvage(replace(doc, data=None), doc.data, exc)
            if salvaged is not None:  # the rest of the file is still cross-checked
                docs.append(salvaged)

    destinations = {name for section, name in outlets.named if section == "destinations"}
    objectives, krs, cycles = _cross_check(docs, types, registry, out, destinations)
    if out.errors:
        return None, out.problems
    _lint(objectives, krs, out, [(p.doc, p.mapping) for p in docs])
    config = Config(
        directory=directory,
        objectives=objectives,
        krs=krs,
        connections=outlets.connections,
        registry=registry,
        cycles=cycles,
        fingerprint=fingerprint,
        destinations=outlets.destinations,
        channels=outlets.channels,
        publishers=publishers,
        unavailable=outlets.unavailable,
        unavailable_destinations=outlets.unavailable_destinations,
    )
    problems = out.collected(locate_warnings=locate_warnings)
    config.warnings.extend(p for p in problems if p.severity == "warning")
    if cache is not None and key is not None:
        own = [p for p in problems[before:] if p.severity == "warning"]
        cache.put(directory, key, _Entry(objectives, krs, cycles, own))
    return config, problems


@dataclass(frozen=True)
class _Entry:
    """What a cache entry holds: the mapping files' checked content; no connection, no secret."""

    objectives: list[Objective]
    krs: dict[str, KrEntry]
    cycles: dict[str, Cycle]
    warnings: list[Problem]


def _cache_key(directory: Path, digest: str, registry: Registry, outlets: _Outlets) -> str | None:
    """Everything the mapping files' check reads: their text (``digest``) and the code.

    None (no caching) for a registry of connectors given in-process: nothing names their code.
    """
    from okrsync import __version__

    targets = registry.targets()
    if not all(targets.values()):
        return None
    used = {outlets.types[name] for name in outlets.types}
    modules = {
        __name__, "okrsync.config.yaml_positions", "okrsync.domain.model", "okrsync.domain.cycle",
        "okrsync.domain.expression", "okrsync.domain.frozen_model", "okrsync.sdk.connector",
        "okrsync.sdk.placeholders",
    }  # fmt: skip
    for kind in used:
        connector = registry[kind]
        modules |= {type(connector).__module__, connector.source_model.__module__}
    parts = [
        __version__, sys.version, str(directory.resolve()), digest,
        sorted(targets.items()), sorted(outlets.types.items()),
        sorted(outlets.named), code_stamp(modules),
    ]  # fmt: skip
    return hashlib.sha256(repr(parts).encode()).hexdigest()


def _cached(
    cache: MappingCache,
    directory: Path,
    key: str,
    registry: Registry,
    publishers: PublisherRegistry,
    outlets: _Outlets,
    fingerprint: str,
) -> Config | None:
    entry = cache.get(directory, key)
    if not isinstance(entry, _Entry):
        return None
    return Config(
        directory=directory,
        objectives=entry.objectives,
        krs=entry.krs,
        connections=outlets.connections,
        registry=registry,
        cycles=entry.cycles,
        warnings=list(entry.warnings),
        fingerprint=fingerprint,
        destinations=outlets.destinations,
        channels=outlets.channels,
        publishers=publishers,
        unavailable=outlets.unavailable,
        unavailable_destinations=outlets.unavailable_destinations,
    )


def load(
    directory: Path,
    registry: Registry,
    *,
    publishers: PublisherRegistry | None = None,
    environ: Mapping[str, str] | None = None,
    redactor: Redactor = REDACTOR,
    secrets: SecretMode = "per_connection",
    cache: MappingCache | None = None,
) -> Config:
    """A checked Config; :class:`ConfigError` lists every error at once.

    Its warnings name file and field only: ``okrsync validate`` (:func:`check`)
    is where people read them, located.
    """
    config, problems = check(
        directory,
        registry,
        publishers=publishers,
        environ=environ,
        redactor=redactor,
        secrets=secrets,
        locate_warnings=False,
        cache=cache,
    )
    if config is None:
        raise ConfigError([p for p in problems if p.severity == "error"])
    return config


def _mapping_files(directory: Path) -> list[Path]:
    """Every ``*.yaml``/``*.yml`` below ``directory`` (one folder per team is common), sorted.

    Hidden folders are skipped: ``.git``, and the ``..data`` and
    ``..2026_…`` folders behind a Kubernetes ConfigMap mount, which hold the
    same files again. The top-level ``connections.yaml`` is the only one
    that is not a mapping file.
    """
    found: list[Path] = []
    for root, folders, names in os.walk(directory):  # symlinked folders: not followed (loops)
        folders[:] = sorted(f for f in folders if not f.startswith("."))
        here = Path(root)
        for name in names:
            if name.endswith((".yaml", ".yml")) and not name.startswith("."):
                path = here / name
                if not (here == directory and name == CONNECTIONS_FILE):
                    found.append(path)
    return sorted(found, key=lambda p: p.relative_to(directory).as_posix())


def _read_text(path: Path, out: _Collector) -> str | None:
    try:
        return read_text(path)
    except YamlSyntaxError as exc:
        out.located(Problem(str(path), exc.line, exc.column, "", str(exc)))
        return None


def _parse(path: Path, out: _Collector, text: str | None = None) -> YamlDocument | None:
    try:
        doc = parse(path, text)
    except YamlSyntaxError as exc:
        out.located(Problem(str(path), exc.line, exc.column, "", str(exc)))
        return None
    if doc.data is None:  # nothing, comments only, or a bare ``~``
        line, column, _ = locate(doc, ())
        message = "file is empty" if line is None else "the top level is null"
        where = str(path), line or 1, column or 1
        out.located(Problem(*where, "", f"{message}: a mapping file needs cycle: and objectives:"))
        return None
    if not isinstance(doc.data, dict):
        out.add(doc, (), "the top level must be a mapping (cycle:, objectives:)")
        return None
    return doc


def _load_connections(
    directory: Path,
    registry: Registry,
    publishers: PublisherRegistry,
    out: _Collector,
    environ: Mapping[str, str] | None,
    redactor: Redactor,
    secrets: SecretMode,
) -> _Outlets:
    """``connections.yaml``: its connections, and the destinations and channels publishers serve."""
    found = _Outlets()
    path = directory / CONNECTIONS_FILE
    if not path.exists():
        return found
    doc = _parse(path, out)
    if doc is None:
        return found
    found.text = doc.text
    try:
        parsed = ConnectionsFile.model_validate(doc.data)
    except ValidationError as exc:
        out.pydantic(doc, exc, vocabulary=_fields(ConnectionsFile))
        return found
    named = _Named(doc, out, environ, redactor, secrets)
    for name, raw in parsed.connections.items():
        connector = named.plugin(["connections", name], raw, registry)
        if connector is None:
            continue
        found.types[name] = connector.type
        settings, missing = named.settings(["connections", name], raw, connector.settings_model)
        if settings is not None:
            found.connections[name] = settings
        if missing is not None:
            found.unavailable[name] = missing
    for section, entries in (("destinations", parsed.destinations), ("channels", parsed.channels)):
        for name, raw in entries.items():
            loc: list[str | int] = [section, name]
            found.named.add((section, name))  # known by name even when broken: no echoes
            publisher = named.plugin(loc, raw, publishers.section(section))
            if publisher is None:
                continue
            if publisher.section != section:
                out.add(
                    doc, [*loc, "type"], f"{publisher.type!r} belongs under {publisher.section}:"
                )
                continue
            # Without its secret a destination fails its own pushes, as a connection does;
            # a channel waits (a missing Slack URL must not stop the measuring).
            consequence = (
                "its digests and alerts wait until it is set"
                if section == "channels"
                else "its key results fail until it is set"
            )
            outlet, missing = named.settings(
                loc, raw, publisher.settings_model, consequence=consequence
            )
            if missing is not None and section == "channels":
                continue
            if outlet is not None:
                found.outlets(section)[name] = outlet
            if missing is not None:
                found.unavailable_destinations[name] = missing
    return found


@dataclass
class _Outlets:
    connections: dict[str, ConnectionSettings] = field(default_factory=dict)
    types: dict[str, str] = field(default_factory=dict)  # also for settings that failed: no echoes
    unavailable: dict[str, str] = field(default_factory=dict)  # connection → missing secret
    destinations: dict[str, PublisherSettings] = field(default_factory=dict)
    channels: dict[str, PublisherSettings] = field(default_factory=dict)
    text: str = ""  # connections.yaml as read: part of the configuration's fingerprint
    named: set[tuple[str, str]] = field(default_factory=set)  # (section, name), valid or not
    unavailable_destinations: dict[str, str] = field(default_factory=dict)

    def outlets(self, section: str) -> dict[str, PublisherSettings]:
        return self.destinations if section == "destinations" else self.channels


@dataclass
class _Named:
    """Reads one named entry of connections.yaml: its type's plugin, then its settings."""

    doc: YamlDocument
    out: _Collector
    environ: Mapping[str, str] | None
    redactor: Redactor
    secrets: SecretMode

    def plugin(
        self, loc: list[str | int], raw: dict[str, Any], plugins: Mapping[str, P]
    ) -> P | None:
        type_name = raw.get("type")
        if not isinstance(type_name, str):
            self.out.add(self.doc, [*loc, "type"], "missing required field 'type'", keep_field=True)
            return None
        try:
            return plugins[type_name]
        except UnknownType as exc:
            self.out.add(self.doc, [*loc, "type"], str(exc))
            return None

    def settings(
        self,
        loc: list[str | int],
        raw: dict[str, Any],
        model: type[S],
        *,
        strict: bool = False,
        consequence: str = "its key results fail until it is set",
    ) -> tuple[S | None, str | None]:
        """The entry's settings, and its first missing secret when that is not an error.

        ``strict``: a missing secret is an error whatever the mode.
        """
        expanded, failures = _expand_all(raw, self.redactor, self.environ)
        if failures:
            mode = "required" if strict and self.secrets == "per_connection" else self.secrets
            if mode == "required":
                for sub, message in failures:
                    self.out.add(self.doc, [*loc, *sub], message)
                return None, None
            missing = None
            if mode == "per_connection":  # this connection fails alone, at sync time
                missing = failures[0][1]
                for sub, message in failures:
                    warning = f"{message}: {consequence}"
                    self.out.add(self.doc, [*loc, *sub], warning, severity="warning")
            plain = {k: v for k, v in raw.items() if "${" not in str(v)}  # no secrets
            return model.model_construct(**plain), missing
        try:
            return model.model_validate(expanded), None
        except ValidationError as exc:
            self.out.pydantic(self.doc, exc, loc, vocabulary=_fields(model))
        except ValueError as exc:  # raised by validators that open files (ca_bundle)
            self.out.add(self.doc, loc, str(exc))
        return None, None


def _expand_all(
    value: Any,
    redactor: Redactor,
    environ: Mapping[str, str] | None,
    at: tuple[str | int, ...] = (),
) -> tuple[Any, list[tuple[tuple[str | int, ...], str]]]:
    """Expand secrets everywhere, collecting each failure with its path (for line numbers)."""
    if isinstance(value, dict):
        out, failures = {}, []
        for key, item in value.items():
            out[key], more = _expand_all(item, redactor, environ, (*at, key))
            failures += more
        return out, failures
    if isinstance(value, list):
        pairs = [_expand_all(v, redactor, environ, (*at, i)) for i, v in enumerate(value)]
        return [v for v, _ in pairs], [f for _, fs in pairs for f in fs]
    try:
        return expand(value, redactor, environ), []
    except SecretError as exc:
        return None, [(at, str(exc))]


@dataclass(frozen=True)
class _Parsed:
    """A mapping file's models and, for a file with errors, where each kept item was in it."""

    doc: YamlDocument
    mapping: MappingFile
    objective_at: list[int]  # the file's index of each kept objective
    kr_at: list[list[int]]  # per kept objective, the file's index of each kept key result
    dropped: frozenset[str] = frozenset()  # ids left out for their own errors

    @classmethod
    def whole(cls, doc: YamlDocument, mapping: MappingFile) -> _Parsed:
        at = [list(range(len(o.key_results))) for o in mapping.objectives]
        return cls(doc, mapping, list(range(len(mapping.objectives))), at)


def _salvage(doc: YamlDocument, data: Any, exc: ValidationError) -> _Parsed | None:
    """The objectives and key results of a failing file that are valid on their own.

    So one ``validate`` shows every problem: an unknown connection or parent in
    the same file as a typo is reported in the same run. The ids of what was
    left out are kept, so nothing aligned to them is called missing. None when
    the file itself (its cycle, its shape) is wrong.
    """
    if not isinstance(data, dict) or not isinstance(data.get("objectives"), list):
        return None
    bad_objectives: set[int] = set()
    bad_krs: dict[int, set[int]] = {}
    for err in exc.errors(include_input=False, include_url=False):
        loc = err["loc"]
        if len(loc) < 2 or loc[0] != "objectives" or not isinstance(loc[1], int):
            if err["type"] == "extra_forbidden" and len(loc) == 1:
                continue  # an unknown top-level field: the rest still reads
            return None
        if len(loc) >= 4 and loc[2] == "key_results" and isinstance(loc[3], int):
            bad_krs.setdefault(loc[1], set()).add(loc[3])
        else:
            bad_objectives.add(loc[1])
    kept: list[Any] = []
    objective_at: list[int] = []
    kr_at: list[list[int]] = []
    dropped: set[str] = set()
    for i, raw in enumerate(data["objectives"]):
        raw_krs = raw.get("key_results") if isinstance(raw, dict) else None
        items = raw_krs if isinstance(raw_krs, list) else []
        if i in bad_objectives or not isinstance(raw, dict):
            dropped |= _ids([raw, *items])
            continue
        keep = [j for j in range(len(items)) if j not in bad_krs.get(i, set())]
        dropped |= _ids([items[j] for j in range(len(items)) if j not in keep])
        kept.append({**raw, "key_results": [items[j] for j in keep]})
        objective_at.append(i)
        kr_at.append(keep)
    top = {k: v for k, v in data.items() if k in MappingFile.model_fields}
    try:
        mapping = MappingFile.model_validate({**top, "objectives": kept})
    except ValidationError:
        return None
    return _Parsed(doc, mapping, objective_at, kr_at, frozenset(dropped))


def _ids(items: list[Any]) -> set[str]:
    return {
        item["id"] for item in items if isinstance(item, dict) and isinstance(item.get("id"), str)
    }


def _cross_check(
    docs: list[_Parsed],
    types: dict[str, str],
    registry: Registry,
    out: _Collector,
    destinations: Set[str] = frozenset(),
) -> tuple[list[Objective], dict[str, KrEntry], dict[str, Cycle]]:
    objectives: list[Objective] = []
    krs: dict[str, KrEntry] = {}
    cycles: dict[str, Cycle] = {}
    seen: dict[str, tuple[YamlDocument, list[str | int]]] = {}  # id → where it was first defined
    owner_of: dict[str, str] = {}  # kr id → objective id
    parents: list[tuple[YamlDocument, int, Objective]] = []

    def claim(doc: YamlDocument, loc: list[str | int], id_: str) -> bool:
        if id_ in seen:  # where the first one is, looked up only now: positions cost
            first_doc, first_loc = seen[id_]
            line, _, _ = locate(first_doc, [*first_loc, "id"])
            where = f"{first_doc.path}:{line}"
            out.add(doc, [*loc, "id"], f"duplicate id {id_!r}; first defined at {where}")
            return False
        seen[id_] = (doc, loc)
        return True

    dropped: set[str] = set()
    for parsed in docs:
        doc, mapping = parsed.doc, parsed.mapping
        file = str(doc.path)  # one string per file, not one per key result
        dropped |= parsed.dropped
        for k, obj in enumerate(mapping.objectives):
            i = parsed.objective_at[k]
            oloc: list[str | int] = ["objectives", i]
            if not claim(doc, oloc, obj.id):
                continue
            objectives.append(obj)
            cycles[obj.id] = obj.cycle or mapping.cycle
            if obj.parent is not None:
                parents.append((doc, i, obj))
            for m, kr in enumerate(obj.key_results):
                j = parsed.kr_at[k][m]
                kloc: list[str | int] = [*oloc, "key_results", j]
                if not claim(doc, kloc, kr.id):
                    continue
                owner_of[kr.id] = obj.id
                manual = _check_manual(doc, kloc, kr, out)
                derived: Derived | None = None
                source: SourceBase | None = None
                ctype: str | None = None
                if manual:
                    if "refresh" not in kr.model_fields_set:  # check-ins come weekly
                        kr = kr.model_copy(update={"refresh": MANUAL_REFRESH})
                elif kr.source is not None and "expression" in kr.source:
                    derived = _check_derived(
                        doc, [*kloc, "source"], kr.source, types, registry, out
                    )
                elif kr.source is not None:
                    found = _check_source(doc, [*kloc, "source"], kr.source, types, registry, out)
                    source, ctype = found
                initiatives = _check_initiatives(doc, kloc, kr, types, registry, out)
                _check_push(doc, kloc, kr, destinations, out)
                krs[kr.id] = KrEntry(
                    kr, obj, cycles[obj.id], source, ctype, file, initiatives, manual,
                    derived,
                )  # fmt: skip

    objective_ids = {o.id for o in objectives}
    parent_of: dict[str, str] = {}
    for doc, i, obj in parents:
        assert obj.parent is not None
        target = owner_of.get(obj.parent, obj.parent)
        if obj.parent in dropped:  # defined, with errors of its own (reported above)
            continue
        if obj.parent not in objective_ids and obj.parent not in owner_of:
            hint = difflib.get_close_matches(obj.parent, [*objective_ids, *owner_of], n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            out.add(doc, ["objectives", i, "parent"], f"parent {obj.parent!r} does not exist{more}")
        elif target == obj.id:
            out.add(doc, ["objectives", i, "parent"], "an objective cannot align to itself")
        else:
            parent_of[obj.id] = target
    for doc, i, obj in parents:
        chain = [obj.id]
        node = parent_of.get(obj.id)
        while node is not None and node not in chain:
            chain.append(node)
            node = parent_of.get(node)
        if node == obj.id:
            loop = " → ".join([*chain, obj.id])
            out.add(doc, ["objectives", i, "parent"], f"parent chain loops: {loop}")
    return objectives, krs, cycles


def _check_push(
    doc: YamlDocument, loc: list[str | int], kr: KeyResult, known: Set[str], out: _Collector
) -> None:
    """Each ``push: {DESTINATION: ITEM}`` names a destination of connections.yaml."""
    for name in kr.push:
        if name not in known:
            hint = difflib.get_close_matches(name, sorted(known), n=1)
            more = f"; did you mean {hint[0]!r}?" if hint else ""
            defined = ", ".join(sorted(known)) or f"none: add destinations: to {CONNECTIONS_FILE}"
            out.add(
                doc,
                [*loc, "push", name],
                f"unknown destination {name!r}{more} (defined: {defined})",
            )


def _check_manual(doc: YamlDocument, loc: list[str | int], kr: KeyResult, out: _Collector) -> bool:
    """``source: {manual: true}``: a value with no API, recorded by ``okrsync checkin``."""
    if kr.source is None or "manual" not in kr.source:
        return False
    if kr.source.get("manual") is not True:
        out.add(doc, [*loc, "source", "manual"], "manual must be true (or leave it out)")
    if others := sorted(set(kr.source) - {"manual"}):
        out.add(
            doc,
            [*loc, "source", others[0]],
            f"a manual source takes no other field ({', '.join(others)}): values come "
            "from okrsync checkin, not a connection",
        )
    return True


def _check_derived(
    doc: YamlDocument,
    sloc: list[str | int],
    raw: dict[str, Any],
    types: dict[str, str],
    registry: Registry,
    out: _Collector,
) -> Derived | None:
    """A derived source: its expression parsed (never run), each input checked as a source."""
    problems = out.count()
    if others := sorted(set(raw) - {"expression", "inputs"}):
        out.add(
            doc,
            [*sloc, others[0]],
            f"a derived source takes expression and inputs, not {others[0]!r}",
        )
    text = raw.get("expression")
    tree: expression.Expr | None = None
    if not isinstance(text, str):
        out.add(doc, [*sloc, "expression"], 'expression must be text, e.g. "paid / trials * 100"')
    else:
        try:
            tree = expression.parse(text)
        except ValueError as exc:
            out.add(doc, [*sloc, "expression"], f"expression: {exc}")
    inputs_raw = raw.get("inputs")
    if not isinstance(inputs_raw, dict) or not inputs_raw:
        out.add(doc, [*sloc, "inputs"], "inputs must map each name in the expression to a source",
                keep_field=True)  # fmt: skip
        return None
    inputs: dict[str, DerivedInput] = {}
    for name, given in inputs_raw.items():
        iloc = [*sloc, "inputs", name]
        if not isinstance(name, str) or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            out.add(doc, iloc, f"input name {name!r} must be a plain name (letters, digits, _)")
            continue
        if name in expression.FUNCTIONS:
            out.add(doc, iloc, f"input name {name!r} is a function of the expression")
            continue
        if not isinstance(given, dict) or "expression" in given or "manual" in given:
            out.add(doc, iloc, "an input is an ordinary source: connection and its query")
            continue
        found, ctype = _check_source(doc, iloc, given, types, registry, out)
        if found is not None and ctype is not None:
            inputs[name] = DerivedInput(found, ctype)
    if tree is not None:
        used = expression.names(tree)
        for missing in sorted(used - set(inputs_raw)):
            out.add(
                doc, [*sloc, "expression"], f"expression reads {missing!r}, which is not an input"
            )
        for unused in sorted(set(inputs_raw) - used):
            out.add(
                doc, [*sloc, "inputs", unused], f"input {unused!r} is not used by the expression"
            )
    if tree is None or out.count() > problems or set(inputs) != set(inputs_raw):
        return None
    assert isinstance(text, str)
    return Derived(text, tree, inputs)


def _check_source(
    doc: YamlDocument,
    sloc: list[str | int],
    raw: dict[str, Any],
    types: dict[str, str],
    registry: Registry,
    out: _Collector,
) -> tuple[SourceBase | None, str | None]:
    unknown = find_placeholders(raw) - set(PLACEHOLDERS)
    for placeholder in sorted(unknown):
        allowed = ", ".join("{" + p + "}" for p in PLACEHOLDERS)
        out.add(doc, sloc, f"unknown placeholder {{{placeholder}}}; allowed: {allowed}")
    for placeholder in sorted(find_unclosed(raw)):
        out.add(doc, sloc, f"placeholder {{{placeholder} is not closed: write {{{placeholder}}}")
        unknown.add(placeholder)
    name = raw.get("connection")
    if not isinstance(name, str):
        out.add(doc, [*sloc, "connection"], "missing required field 'connection'", keep_field=True)
        return None, None
    if name not in types:
        hint = difflib.get_close_matches(name, list(types), n=1)
        more = f"; did you mean {hint[0]!r}?" if hint else ""
        known = ", ".join(sorted(types)) or f"none: add {CONNECTIONS_FILE}"
        out.add(doc, [*sloc, "connection"], f"unknown connection {name!r}{more} (defined: {known})")
        return None, None
    connector = registry[types[name]]
    try:
        source = connector.source_model.model_validate(raw)
    except ValidationError as exc:
        out.pydantic(doc, exc, sloc, vocabulary=_fields(connector.source_model))
        return None, None
    return (None if unknown else source), types[name]


def _check_initiatives(
    doc: YamlDocument,
    loc: list[str | int],
    kr: KeyResult,
    types: dict[str, str],
    registry: Registry,
    out: _Collector,
) -> tuple[tuple[str, str], ...]:
    """Each initiative as (connection, issue key), on a connection whose connector reports them."""
    resolved: list[tuple[str, str]] = []
    for k, initiative in enumerate(kr.initiatives):
        iloc = [*loc, "initiatives", k]
        name = initiative.connection
        if initiative.type is not None:
            kind = initiative.type
            if kind not in registry:
                hint = difflib.get_close_matches(kind, list(registry), n=1)
                more = f"; did you mean {hint[0]!r}?" if hint else ""
                out.add(doc, iloc, f"unknown field or connection type {kind!r}: an initiative "
                        f"is {{connection: NAME, issue: KEY}} or <type>: KEY{more}")  # fmt: skip
                continue
            if not registry[kind].initiatives:
                out.add(doc, iloc, f"{kind} connections cannot report initiatives")
                continue
            named = sorted(n for n, t in types.items() if t == kind)
            if len(named) != 1:
                out.add(doc, iloc, f"'{kind}: KEY' needs exactly one {kind} connection "
                        f"(found {len(named)}); write {{connection: NAME, issue: KEY}}")  # fmt: skip
                continue
            name = named[0]
        elif name not in types:
            out.add(doc, [*iloc, "connection"], f"unknown connection {name!r}")
            continue
        elif not registry[types[name]].initiatives:
            out.add(doc, [*iloc, "connection"],
                    f"connection {name!r} ({types[name]}) cannot report initiatives")  # fmt: skip
            continue
        assert name is not None
        resolved.append((name, initiative.key))
    return tuple(resolved)


def _lint(
    objectives: list[Objective],
    krs: dict[str, KrEntry],
    out: _Collector,
    docs: list[tuple[YamlDocument, MappingFile]],
) -> None:
    aligned = {o.parent for o in objectives if o.parent}  # ids that have children
    for doc, mapping in docs:
        for i, obj in enumerate(mapping.objectives):
            loc: list[str | int] = ["objectives", i]
            n = len(obj.key_results)
            if n == 0 and obj.rollup == "children" and obj.id in aligned:
                pass  # measured by its children: the usual company objective
            elif n == 0 and obj.id in aligned:
                message = (
                    f"objective {obj.id!r} has no key results; to measure it by the objectives"
                    " aligned to it, set rollup: children"
                )
                out.add(doc, loc, message, severity="warning")
            elif n == 0:
                out.add(doc, loc, f"objective {obj.id!r} has no key results", severity="warning")
            elif n < MIN_KRS or n > MAX_KRS:
                out.add(
                    doc,
                    [*loc, "key_results"],
                    f"objective {obj.id!r} has {n} key result{'s' * (n != 1)}; "
                    f"{MIN_KRS}–{MAX_KRS} keep an objective focused",
                    severity="warning",
                )
            for j, kr in enumerate(obj.key_results):
                kloc = [*loc, "key_results", j]
                if kr.owner is None:
                    out.add(doc, kloc, f"key result {kr.id!r} has no owner", severity="warning")
                if kr.source is None:
                    out.add(
                        doc,
                        kloc,
                        f"key result {kr.id!r} has no source; it will never be measured",
                        severity="warning",
                    )


__all__ = ["CONNECTIONS_FILE", "Config", "KrEntry", "SecretMode", "check", "load"]
