"""``okrsync …``: the commands of SPEC §4 (typer).

Exit codes: 0 all good; 1 some key results failed (or validate found errors);
2 the configuration, a setting or the store cannot be used. Read-only commands
(plan, status, explain, history, db revision) open the store read-only: they
never create or migrate it.
"""

from __future__ import annotations

import asyncio
import difflib
import getpass
import json
import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Annotated, Any, NoReturn

import structlog
import typer

from okrsync import __version__
from okrsync.cli import console
from okrsync.config import loader
from okrsync.config.cache import MappingCache
from okrsync.config.registry import Registry
from okrsync.domain.snapshot import ObjectiveView
from okrsync.domain.units import format_value
from okrsync.errors import ConfigError, MeasureError, StoreError
from okrsync.publish import current, snapshot
from okrsync.publish.filters import STATUSES, Filters, narrow
from okrsync.sdk.connector import Runtime
from okrsync.sdk.messages import Message
from okrsync.sdk.redaction import REDACTOR
from okrsync.service.logging import configure
from okrsync.service.scheduler import EXIT_CONFIG, EXIT_FAILED, EXIT_LOCKED, EXIT_OK
from okrsync.service.settings import Settings, SettingsError, load_settings
from okrsync.store.database import NoStoreYet, NothingHeld, Store, StoreUnusable
from okrsync.store.lock import writer_lock
from okrsync.sync import budget
from okrsync.sync import run as sync_run
from okrsync.sync.changes import changes, states_after

app = typer.Typer(
    name="okrsync",
    help="Keep OKR key results in sync with the tools where the numbers live.",
    epilog=(
        "Examples: okrsync demo | okrsync init && okrsync validate mappings | "
        "okrsync plan | okrsync sync --store postgresql://okrsync@db/okrsync | "
        "okrsync status --json | okrsync explain annual-revenue. "
        "Settings come from OKRSYNC_* variables (OKRSYNC_MAPPINGS, OKRSYNC_STORE_URL, "
        "OKRSYNC_SCHEDULE, OKRSYNC_LOG_LEVEL, OKRSYNC_LOG_FORMAT …); see README."
    ),
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts hold [default: …] and `demo`: print them as written
    context_settings={"help_option_names": ["-h", "--help"]},
)
log = structlog.get_logger("okrsync.cli.app")

MappingsOpt = Annotated[
    Path | None,
    typer.Option(
        "--mappings",
        metavar="DIR",
        help="Mappings directory [default: $OKRSYNC_MAPPINGS or ./mappings]",
    ),
]
StoreOpt = Annotated[
    str | None,
    typer.Option(
        "--store",
        metavar="URL",
        help="Store URL [default: $OKRSYNC_STORE_URL or sqlite:///okrsync.db]",
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for machines.")]
_AllOpt = Annotated[bool, typer.Option("--all", help="Measure every key result, due or not.")]
SimOpt = Annotated[
    bool,
    typer.Option(
        "--simulators", help="Point connections at the built-in simulators, as `demo` does."
    ),
]


def _settings() -> Settings:
    """The settings, or exit 2 with one line naming each wrong variable."""
    try:
        return load_settings()
    except SettingsError as exc:
        typer.echo(f"settings error: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None


def _version(value: bool) -> None:
    if value:
        typer.echo(f"okrsync {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    ctx: typer.Context,
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
    log_format: Annotated[
        str | None,
        typer.Option("--log-format", help="json | console [default: $OKRSYNC_LOG_FORMAT]"),
    ] = None,
) -> None:
    settings = _settings()
    fmt = log_format or settings.log_format
    if fmt not in (None, "json", "console"):
        raise typer.BadParameter("use json or console", param_hint="--log-format")
    level = settings.log_level
    if _interactive(ctx.invoked_subcommand) and "log_level" not in settings.model_fields_set:
        level = "warning"  # a person reads the one-line summary and the table, not the log
    configure(fmt, level)  # type: ignore[arg-type]


def _interactive(command: str | None) -> bool:
    """A person at a terminal runs it: info logs would bury what the command prints."""
    return command != "run" and sys.stderr.isatty()


def _load(mappings: Path | None, *, secrets: loader.SecretMode = "per_connection") -> loader.Config:
    """The checked config, or exit 2 listing every problem.

    Read-only commands pass ``secrets="skip"``: they need no credentials, and they reuse
    the mapping files' checked content from the cache while not one byte of them changed
    (okrsync/config/cache.py; ``OKRSYNC_CACHE_DIR=off`` turns it off).
    """
    directory = mappings or _settings().mappings
    cache = MappingCache.default() if secrets == "skip" else None
    try:
        return loader.load(directory, Registry.default(), secrets=secrets, cache=cache)
    except ConfigError as exc:
        _config_error(exc, directory)


@contextmanager
def _config(mappings: Path | None, simulators: bool) -> Iterator[loader.Config]:
    """The config, with its connections on the built-in simulators when asked."""
    if not simulators:
        yield _load(mappings)
        return
    from okrsync.demo.runner import simulated

    try:
        with simulated(mappings or _settings().mappings) as config:
            yield config
    except ConfigError as exc:
        _config_error(exc, mappings or _settings().mappings)


def _config_error(exc: ConfigError, directory: Path) -> NoReturn:
    out = console.make_console(stderr=True)
    console.problems(out, exc.problems)
    out.print(f"configuration error: {len(exc.problems)} problem(s) in {directory}", style="red")
    raise typer.Exit(EXIT_CONFIG) from None


def _store_error(exc: StoreError) -> NoReturn:
    typer.echo(f"store error: {exc}", err=True)
    raise typer.Exit(EXIT_CONFIG) from None


def _open(url: str | None, *, upgrade: bool | None = None, read_only: bool = False) -> Store:
    settings = _settings()
    return Store.open(
        url or settings.store_url,
        upgrade=settings.auto_upgrade if upgrade is None else upgrade,
        read_only=read_only,
    )


@contextmanager
def _store(
    url: str | None, *, upgrade: bool | None = None, read_only: bool = False
) -> Iterator[Store]:
    """The open store for the block; any store failure, at open or later, exits 2 in one line."""
    try:
        opened = _open(url, upgrade=upgrade, read_only=read_only)
    except StoreError as exc:
        _store_error(exc)
    with _store_errors(), opened:
        yield opened


@app.command()
def validate(
    directory: Annotated[Path | None, typer.Argument(help="Mappings directory.")] = None,
    mappings: MappingsOpt = None,
    require_secrets: Annotated[
        bool,
        typer.Option(
            "--require-secrets",
            help="A secret that is not set is an error (the deploy-time check); "
            "by default a warning, so pull-request CI needs no vendor tokens.",
        ),
    ] = False,
) -> None:
    """Check mappings and connections: file:line:col errors and lint warnings."""
    target = directory or mappings or _settings().mappings
    mode: loader.SecretMode = "required" if require_secrets else "per_connection"
    config, found = loader.check(target, Registry.default(), secrets=mode)
    out = console.make_console()
    console.problems(out, found)
    errors = sum(p.severity == "error" for p in found)
    warnings = len(found) - errors
    if config is None:
        out.print(f"{errors} error(s), {warnings} warning(s) in {target}", style="red")
        raise typer.Exit(EXIT_FAILED)
    out.print(
        f"ok: {len(config.objectives)} objectives, {len(config.krs)} key results, "
        f"{len(config.connections)} connections; {warnings} warning(s)",
        style="green",
    )


@app.command()
def plan(
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    all_: _AllOpt = False,
    simulators: SimOpt = False,
) -> None:
    """Query the sources for what is due and show what would change; writes no value.

    What it spends of a vendor's quota is recorded in the store, as a sync's is, so
    the next sync does not spend it again.
    """
    now = datetime.now(UTC)
    with _config(mappings, simulators) as config, _peek(store) as (peek, writable):
        states = peek.states() if peek else {}
        frozen = set(peek.graded()) if peek else set()
        ledger = budget.StoreLedger(peek) if peek and writable else None
        live = peek.quota_live() if peek else {}
        planned, _, records = asyncio.run(
            sync_run.measure(
                config, states, now, Runtime(), force=all_, frozen=frozen, ledger=ledger, live=live
            )
        )
    out = console.make_console()
    for line in console.plan_lines(config, planned, changes(planned, records, states)):
        out.print(line, soft_wrap=True)
    if config.destinations or config.unavailable_destinations:
        from okrsync.publish import push as push_stage

        after = states_after(states, records)
        due = push_stage.pending(config, after, _accepted_if_any(store), now)
        for line in console.push_lines(config, due, [], title="Pushes a sync would make"):
            out.print(line, soft_wrap=True)
    raise typer.Exit(EXIT_FAILED if any(r.status == "error" for r in records) else EXIT_OK)


@contextmanager
def _peek(url: str | None) -> Iterator[tuple[Store | None, bool]]:
    """The store, opened to read and to record quota spend; None before the first sync.

    It is never created here; one at an older schema is not upgraded (a read-only
    open then, and the quota spent is not recorded).
    """
    try:
        _open(url, read_only=True).close()  # NoStoreYet: nothing to read, nothing created
        try:
            opened, writable = _open(url, upgrade=False), True
        except StoreError:
            opened, writable = _open(url, read_only=True), False
    except NoStoreYet:
        yield None, False
        return
    except StoreError as exc:
        _store_error(exc)
    with _store_errors(), opened:
        yield opened, writable


def _if_any(url: str | None, read: Callable[[Store], dict[Any, Any]]) -> dict[Any, Any]:
    """``read`` of the store, opened read-only; nothing at all before the first sync."""
    try:
        opened = _open(url, read_only=True)
    except NoStoreYet:
        return {}
    except StoreError as exc:
        _store_error(exc)
    with _store_errors(), opened:
        return read(opened)


def _accepted_if_any(url: str | None) -> dict[Any, Any]:
    """What each destination item last accepted."""
    return _if_any(url, Store.accepted)


@contextmanager
def _store_errors() -> Iterator[None]:
    try:
        yield
    except StoreError as exc:
        _store_error(exc)


@app.command()
def sync(
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    all_: _AllOpt = False,
    simulators: SimOpt = False,
) -> None:
    """One sync run now: measure due key results, store them as one run.

    With --simulators the values are made up: they go only into a store
    named with --store that holds no real runs, recorded as simulated.
    """
    settings = _settings()
    if simulators and store is None:
        typer.echo(
            "sync --simulators stores made-up values: give it a store of its own with --store "
            "(e.g. sqlite:///okrsync-simulated.db); the configured store is never used for them",
            err=True,
        )
        raise typer.Exit(EXIT_CONFIG)
    trigger = "simulated" if simulators else "sync"
    with _config(mappings, simulators) as config, _store(store) as st:
        if simulators and (real := st.triggers() - {"simulated"}):
            typer.echo(
                f"{st.url} holds real runs ({', '.join(sorted(real))}): simulated values never "
                "go into it; give --store a store of their own",
                err=True,
            )
            raise typer.Exit(EXIT_CONFIG)
        lock = writer_lock(store or settings.store_url)
        try:
            result = asyncio.run(
                sync_run.locked_sync(
                    config, st, lock, wait=settings.lock_wait, force=all_, trigger=trigger
                )
            )
        except sync_run.WriterBusy as exc:
            typer.echo(f"{exc}; waited {settings.lock_wait:g}s", err=True)
            raise typer.Exit(EXIT_LOCKED) from None
        finally:
            lock.close()
    _print_summary(result)
    raise typer.Exit(result.exit_code)


def _print_summary(result: sync_run.SyncResult) -> None:
    s = result.summary
    out = console.make_console(stderr=True)
    out.print(
        f"run {result.run_id}: {s['ok']} ok, {s['errors']} failed, {s['held']} held, "
        f"{s['skipped']} skipped; {s['queries']} queries, {s['calls']} calls in {s['duration_s']}s"
    )
    for r in result.failed:
        out.print(f"  {r.kr_id}: {r.error}", style="red", soft_wrap=True)
    for p in result.unpublished:
        out.print(f"  publish {p.name}: {p.error}", style="red", soft_wrap=True)
    if result.pushed:
        failed = result.unpushed
        out.print(f"pushed {len(result.pushed) - len(failed)} value(s), {len(failed)} failed")
        for f in failed:
            out.print(
                f"  push {f.kr_id} → {f.destination} {f.item}: {f.error}",
                style="red",
                soft_wrap=True,
            )


@app.command("status")
def status_cmd(
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
    team: Annotated[
        str | None, typer.Option("--team", metavar="TEAM", help="Objectives of this team.")
    ] = None,
    level: Annotated[
        str | None,
        typer.Option(
            "--level", metavar="LEVEL", help="Objectives of this level (company, team, personal)."
        ),
    ] = None,
    owner: Annotated[
        str | None,
        typer.Option(
            "--owner", metavar="WHO", help="Key results this person owns (or whose objective)."
        ),
    ] = None,
    status: Annotated[
        list[str] | None,
        typer.Option(
            "--status",
            metavar="STATUS",
            help=f"Key results with this status; repeat or comma-separate ({', '.join(STATUSES)}).",
        ),
    ] = None,
    objective: Annotated[
        str | None, typer.Option("--objective", metavar="ID", help="The tree under this objective.")
    ] = None,
    depth: Annotated[
        int | None, typer.Option("--depth", metavar="N", help="Objective levels; 1 = the top only.")
    ] = None,
) -> None:
    """The OKR tree: progress, expected progress, status, last value, freshness.

    Objectives above a match stay as its context, without their own key results.
    """
    words = frozenset(w.strip() for item in status or () for w in item.split(",") if w.strip())
    try:
        filters = Filters(
            team=team, level=level, owner=owner, statuses=words, objective=objective, depth=depth
        )
    except ValueError as exc:
        raise typer.BadParameter(str(exc)) from None
    config = _load(mappings, secrets="skip")
    if objective is not None and objective not in {o.id for o in config.objectives}:
        hint = difflib.get_close_matches(objective, [o.id for o in config.objectives], n=1)
        more = f"; did you mean {hint[0]!r}?" if hint else ""
        typer.echo(f"unknown objective {objective!r}{more}", err=True)
        raise typer.Exit(EXIT_FAILED)
    now = datetime.now(UTC)
    with _store(store, read_only=True) as st:
        views = narrow(current.views(config, st, now), filters)
        marks = current.push_marks(config, st, now)
    if not views and not as_json:
        typer.echo("no objective or key result matches these filters")
        return
    _print_status(views, now, as_json, marks)


def _print_status(
    views: list[ObjectiveView], now: datetime, as_json: bool, pushes: dict[str, Any] | None = None
) -> None:
    if as_json:
        # Indented for a person; compact for a pipe: json's C encoder skips indenting,
        # and indenting 10,000 key results took 0.8 s.
        indent = 2 if sys.stdout.isatty() else None
        shown = snapshot.to_json(views, now)
        if pushes is not None:
            shown["pushes"] = pushes
        typer.echo(json.dumps(shown, indent=indent))
    else:
        notes = []
        if pushes is not None:
            for f in pushes["failed"]:
                notes.append(
                    f"↳ push {f['key_result']} → {f['destination']} {f['item']} failed: {f['error']}"
                )
            if pushes["pending"]:
                notes.append(
                    f"{len(pushes['pending'])} push(es) pending: the next sync or okrsync push sends them"
                )
        out = console.make_console()
        out.print(console.status_table(views, now, out.width, notes))


@app.command()
def explain(
    kr: Annotated[str, typer.Argument(help="Key result id.")],
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Where a number came from: connection, rendered query, raw answer, time, history."""
    config = _load(mappings, secrets="skip")
    entry = _entry(config, kr)
    with _store(store, read_only=True) as st:
        state = st.state(kr)
        points = st.history(kr, limit=10)
        run_id = points[-1].run_id if points else None
        last_run = st.run(run_id) if run_id is not None else None
        pushes = st.last_pushes(kr) if entry.kr.push else {}
    info = snapshot.explain(config, entry, state, points, last_run.trigger if last_run else None)
    info["pushes"] = [snapshot.push_json(p) for p in pushes.values()]
    if as_json:
        typer.echo(json.dumps(info, indent=2, default=str))
    else:
        console.print_explain(console.make_console(), info)


@app.command()
def history(
    kr: Annotated[str, typer.Argument(help="Key result id.")],
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    limit: Annotated[int, typer.Option(metavar="N", help="Newest N measurements.")] = 50,
    as_json: JsonOpt = False,
    as_csv: Annotated[bool, typer.Option("--csv", help="Print CSV for spreadsheets.")] = False,
) -> None:
    """The measured values of a key result over time, with a sparkline."""
    if as_json and as_csv:
        raise typer.BadParameter("choose one of --json and --csv", param_hint="--csv")
    config = _load(mappings, secrets="skip")
    entry = _entry(config, kr)
    with _store(store, read_only=True) as st:
        points = st.history(kr, limit=limit)
    if as_json:
        rows = [snapshot.measurement(entry, m) for m in points]
        typer.echo(json.dumps({"key_result": kr, "history": rows}, indent=2))
    elif as_csv:
        import csv

        columns = ["as_of", "measured_at", "status", "value", "progress", "backfilled", "error",
                   "run_id"]  # fmt: skip
        out = csv.DictWriter(
            sys.stdout, fieldnames=columns, extrasaction="ignore", lineterminator="\n"
        )
        out.writeheader()
        for m in points:
            out.writerow(snapshot.measurement(entry, m))
    else:
        console.make_console().print(console.history_table(entry, points))


def _entry(config: loader.Config, kr: str) -> loader.KrEntry:
    if kr not in config.krs:
        hint = difflib.get_close_matches(kr, list(config.krs), n=1)
        more = f"; did you mean {hint[0]!r}?" if hint else ""
        typer.echo(f"unknown key result {kr!r}{more}", err=True)
        raise typer.Exit(EXIT_FAILED)
    return config.krs[kr]


@app.command()
def run(
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    once: Annotated[bool, typer.Option("--once", help="One sync, then exit (CronJobs).")] = False,
    schedule: Annotated[
        str | None, typer.Option("--schedule", help="Interval or cron [default: $OKRSYNC_SCHEDULE]")
    ] = None,
    health_port: Annotated[
        int | None,
        typer.Option("--health-port", help="[default: $OKRSYNC_HEALTH_PORT or 8080]; 0 = off"),
    ] = None,
) -> None:
    """The scheduler loop for the container: sync on OKRSYNC_SCHEDULE until SIGTERM."""
    from okrsync.service.health import ALL, Heartbeat
    from okrsync.service.scheduler import (
        Runner,
        StopFlag,
        open_store,
        readiness,
        run_forever,
        stall_bound,
    )
    from okrsync.service.timetable import parse_schedule

    settings = _settings()
    try:
        plan_ = parse_schedule(schedule or settings.schedule)
    except ValueError as exc:
        typer.echo(f"{'--schedule' if schedule else 'OKRSYNC_SCHEDULE'}: {exc}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    directory = mappings or settings.mappings
    url = store or settings.store_url
    # A CronJob run fails fast on a broken config, and its one cycle syncs what was loaded.
    first = _load(directory) if once else None
    try:
        st = open_store(url, upgrade=settings.auto_upgrade, wait=settings.store_wait)
    except StoreError as exc:
        waited = (
            "" if isinstance(exc, StoreUnusable) else f" (gave up after {settings.store_wait:g}s)"
        )
        typer.echo(f"store error: {exc}{waited}", err=True)
        raise typer.Exit(EXIT_CONFIG) from None
    lock = writer_lock(url)
    runner = Runner(
        directory,
        st,
        lock,
        lock_wait=settings.lock_wait if once else 0.0,
        schedule=plan_,
        loaded=first,
    )
    stop = StopFlag(settings.stop_grace)
    stop.install()
    port = settings.health_port if health_port is None else health_port
    heartbeat = Heartbeat(stall_bound(plan_))
    health = None
    if port and not once:
        from okrsync.service import web  # the web stack (~0.6 s to import) only when served

        sources = web.Sources(
            lambda: runner.config, st, readiness(runner), heartbeat, _access(settings)
        )
        health = web.WebServer(web.make_app(sources), port, ALL, web.Warmer(sources)).start()
    try:
        if once:
            runner.trigger = "once"
            code = asyncio.run(runner.cycle())
        else:
            code = asyncio.run(run_forever(runner, plan_, stop.event, heartbeat.beat))
    finally:
        if health is not None:
            health.stop()
        lock.close()
        st.close()
    raise typer.Exit(code)


def _access(settings: Settings) -> Any:
    """The dashboard's access control from OKRSYNC_DASHBOARD_*; its secrets are redacted."""
    from okrsync.service.web import Access

    token = settings.dashboard_token.get_secret_value() if settings.dashboard_token else None
    password = (
        settings.dashboard_password.get_secret_value() if settings.dashboard_password else None
    )
    for secret in (token, password):
        if secret:
            REDACTOR.add(secret)
    return Access(token or None, settings.dashboard_user or None, password or None)


@app.command()
def serve(
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    host: Annotated[
        str, typer.Option("--host", metavar="HOST", help="Address to listen on (0.0.0.0: all).")
    ] = "127.0.0.1",
    port: Annotated[int, typer.Option("--port", metavar="PORT", help="Port to listen on.")] = 8080,
) -> None:
    """Serve the dashboard, /api/status and /metrics read-only from the store (no syncing)."""
    from okrsync.service import web

    settings = _settings()
    directory = mappings or settings.mappings
    first = _load(directory, secrets="skip")  # a broken configuration fails here, at start

    def load(path: Path) -> loader.Config:
        return loader.load(path, Registry.default(), secrets="skip")

    watch = web.MappingsWatch(directory, load, first)
    with _store(store, read_only=True) as st:

        def ready() -> dict[str, Any]:
            config = watch()
            if config is None:
                raise RuntimeError("no valid configuration: " + "; ".join(watch.broken[:10]))
            last = st.last_run()
            answer: dict[str, Any] = {
                "config": config.fingerprint,
                "last_run": None if last is None else {"id": last.id, "status": last.status},
            }
            if watch.broken:
                answer["mappings"] = {"broken": True, "problems": watch.broken[:10]}
            return answer

        sources = web.Sources(watch, st, ready, access=_access(settings))
        web.serve_forever(web.make_app(sources), host, port, web.Warmer(sources))


ByOpt = Annotated[
    str | None,
    typer.Option("--by", metavar="WHO", help="Who records it [default: $OKRSYNC_USER or $USER]"),
]


def _who(by: str | None) -> str:
    return by or os.environ.get("OKRSYNC_USER") or getpass.getuser()


@contextmanager
def _writing(store: str | None) -> Iterator[Store]:
    """The store under the single-writer lock, as a sync holds it; exit 3 if it stays busy."""
    settings = _settings()
    url = store or settings.store_url
    with _store(store) as st:
        lock = writer_lock(url)
        try:
            if not lock.acquire(timeout=settings.lock_wait):
                holder = lock.holder() or "another process"
                typer.echo(f"another okrsync holds the writer lock ({holder})", err=True)
                raise typer.Exit(EXIT_LOCKED)
            try:
                with st.fenced(lock.check):
                    yield st
            finally:
                lock.release()
        finally:
            lock.close()


def _not_frozen(st: Store, entry: loader.KrEntry) -> None:
    """A key result of a graded cycle never changes again: say so, exit 1."""
    if entry.cycle.name in st.graded():
        typer.echo(
            f"{entry.kr.id} belongs to cycle {entry.cycle.name}, which is graded: "
            "its values are frozen",
            err=True,
        )
        raise typer.Exit(EXIT_FAILED)


@app.command()
def checkin(
    kr: Annotated[str, typer.Argument(help="Key result id (source: {manual: true}).")],
    value: Annotated[
        str,
        typer.Argument(help="1204, 12.5, 45%, 3:45, or yes/no for milestones."),
    ],
    comment: Annotated[
        str | None,
        typer.Option("--comment", "-m", metavar="TEXT", help="Where the number comes from."),
    ] = None,
    by: ByOpt = None,
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
) -> None:
    """Record the value of a manual key result by hand (a survey's NPS, a board decision)."""
    from okrsync.sync import by_hand

    config = _load(mappings, secrets="skip")
    entry = _entry(config, kr)
    try:
        number = by_hand.parse_value(entry, value)
    except ValueError as exc:
        typer.echo(f"checkin {kr}: {exc}", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    with _writing(store) as st:
        _not_frozen(st, entry)
        try:
            record = by_hand.checkin(
                st, entry, number, by=_who(by), comment=comment, now=datetime.now(UTC)
            )
        except ValueError as exc:
            typer.echo(f"checkin {kr}: {exc}", err=True)
            raise typer.Exit(EXIT_FAILED) from None
    milestone = entry.kr.kind == "milestone"
    shown = format_value(record.value, entry.kr.unit, milestone=milestone)
    typer.echo(f"run {record.run_id}: {kr} = {shown} ({record.raw})")


hold_app = typer.Typer(
    help="Review values held as suspicious (min, max, max_change).", no_args_is_help=True
)
app.add_typer(hold_app, name="hold")


@hold_app.command("list")
def hold_list(
    mappings: MappingsOpt = None, store: StoreOpt = None, as_json: JsonOpt = False
) -> None:
    """Every held value: the good value it would replace, when and why it was held."""
    config = _load(mappings, secrets="skip")
    with _store(store, read_only=True) as st:
        held = [s for s in st.states().values() if s.held_value is not None]
    if as_json:
        rows = [
            {
                "key_result": s.kr_id,
                "held_value": s.held_value,
                "held_at": s.held_at.isoformat() if s.held_at else None,
                "reason": s.held_reason,
                "value": s.value,
            }
            for s in held
        ]
        typer.echo(json.dumps({"held": rows}, indent=2))
        return
    out = console.make_console()
    if not held:
        out.print("nothing held for review")
        return
    for s in held:
        entry = config.krs.get(s.kr_id)
        unit = entry.kr.unit if entry else None
        gone = "" if entry else " (no longer in the mappings)"
        out.print(
            f"{s.kr_id}{gone}: held {format_value(s.held_value, unit)} at "
            f"{s.held_at:%Y-%m-%d %H:%M} UTC; good value {format_value(s.value, unit)}; "
            f"{s.held_reason or 'no reason recorded'}",
            soft_wrap=True,
        )
    out.print(
        "okrsync hold accept KR makes the held value the good one; okrsync hold reject KR drops it",
        style="dim",
    )


WhyOpt = Annotated[
    str | None, typer.Option("--why", "-m", metavar="TEXT", help="Why, for the record.")
]


@hold_app.command("accept")
def hold_accept(
    kr: Annotated[str, typer.Argument(help="Key result id.")],
    why: WhyOpt = None,
    by: ByOpt = None,
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
) -> None:
    """The held value is right: it becomes the good value, recorded with who and why."""
    from okrsync.sync import by_hand

    entry = _entry(_load(mappings, secrets="skip"), kr)
    with _writing(store) as st, _nothing_held(kr):
        _not_frozen(st, entry)
        record = by_hand.accept(st, kr, by=_who(by), why=why, now=datetime.now(UTC))
    shown = format_value(record.value, entry.kr.unit, milestone=entry.kr.kind == "milestone")
    typer.echo(f"run {record.run_id}: {kr} = {shown} ({record.raw})")


@hold_app.command("reject")
def hold_reject(
    kr: Annotated[str, typer.Argument(help="Key result id.")],
    why: WhyOpt = None,
    by: ByOpt = None,
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
) -> None:
    """The held value is wrong: drop it; the good value stays."""
    from okrsync.sync import by_hand

    entry = _entry(_load(mappings, secrets="skip"), kr)
    with _writing(store) as st, _nothing_held(kr):
        _not_frozen(st, entry)
        state = by_hand.reject(st, kr, by=_who(by), why=why, now=datetime.now(UTC))
    unit = entry.kr.unit
    typer.echo(
        f"{kr}: dropped held {format_value(state.held_value, unit)}; "
        f"the good value stays {format_value(state.value, unit)}"
    )


@contextmanager
def _nothing_held(kr: str) -> Iterator[None]:
    try:
        yield
    except NothingHeld:
        typer.echo(
            f"{kr} holds no value for review (okrsync hold list shows what is held)", err=True
        )
        raise typer.Exit(EXIT_FAILED) from None


@app.command()
def report(
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    channel: Annotated[
        str | None,
        typer.Option(
            "--channel", metavar="NAME", help="That channel's objectives and last digest."
        ),
    ] = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="markdown, text, html or json.")
    ] = "markdown",
    post: Annotated[
        bool, typer.Option("--post", help="Post it to --channel now (it counts as that digest).")
    ] = False,
) -> None:
    """The weekly check-in digest: print it, or post it to a channel."""
    from okrsync.publish import digest as digest_stage
    from okrsync.publish import notify

    if fmt not in ("markdown", "text", "html", "json"):
        raise typer.BadParameter("use markdown, text, html or json", param_hint="--format")
    if post and channel is None:
        raise typer.BadParameter("--post needs --channel NAME", param_hint="--post")
    config = _load(mappings, secrets="per_connection" if post else "skip")
    built = notify.channels(config)
    if channel is not None and channel not in built:
        known = ", ".join(sorted(built)) or "none configured"
        typer.echo(f"unknown channel {channel!r}; channels with digests: {known}", err=True)
        raise typer.Exit(EXIT_FAILED)
    now = datetime.now(UTC)
    with _store(store, read_only=not post) as st:
        views = current.views(config, st, now)
        if channel is None:
            message = digest_stage.build("all objectives", views, now)
        else:
            key = f"manual:{now:%Y-%m-%dT%H:%M:%SZ}"
            message = notify.digest_for(st, channel, built[channel], views, now, key)
        if post:
            assert channel is not None
            ident = st.claim_notice(channel, message.key, "digest", message.to_json(), now)
            if ident is None:
                typer.echo("posted already this second", err=True)
                raise typer.Exit(EXIT_FAILED)
            [result] = asyncio.run(
                notify.send(config, channel, built[channel], [message], Runtime())
            )
            if isinstance(result, MeasureError):
                st.finish_notice(ident, now, error=REDACTOR.redact(str(result)))
                typer.echo(f"posting to {channel} failed: {REDACTOR.redact(str(result))}", err=True)
                raise typer.Exit(EXIT_FAILED)
            st.finish_notice(ident, now, receipt=REDACTOR.redact(result))
            typer.echo(f"posted the digest to {channel}: {REDACTOR.redact(result)}")
            return
    if fmt == "json":
        typer.echo(json.dumps(message.to_json(), indent=2, default=str))
    elif fmt == "text":
        typer.echo(message.text(), nl=False)
    elif fmt == "html":
        from okrsync.publish.channels.email import render_html

        typer.echo(render_html(message))
    else:
        typer.echo(message.markdown(), nl=False)


@app.command()
def backfill(
    since: Annotated[
        str, typer.Option("--since", metavar="DATE", help="First day, e.g. 2026-10-01.")
    ],
    until: Annotated[
        str | None, typer.Option("--until", metavar="DATE", help="Last day [default: today].")
    ] = None,
    step: Annotated[str, typer.Option("--step", metavar="STEP", help="1d or 1w.")] = "1d",
    kr: Annotated[
        list[str] | None, typer.Option("--kr", metavar="ID", help="Only these key results.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Say what it would ask, and ask nothing.")
    ] = False,
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
) -> None:
    """Measure the past for sources that can answer as of a date, a point per step."""
    from rich.progress import Progress

    from okrsync.domain.units import parse_duration
    from okrsync.sync import backfill as bf

    try:
        first = datetime.combine(date.fromisoformat(since), time.min, tzinfo=UTC)
        last = (
            datetime.combine(date.fromisoformat(until), time.min, tzinfo=UTC)
            if until
            else datetime.now(UTC)
        )
    except ValueError:
        raise typer.BadParameter(
            "write dates as YYYY-MM-DD", param_hint="--since/--until"
        ) from None
    if step not in ("1d", "1w"):
        raise typer.BadParameter("use 1d or 1w", param_hint="--step")
    config = _load(mappings, secrets="skip" if dry_run else "per_connection")
    for one in kr or []:
        _entry(config, one)
    now = datetime.now(UTC)
    with _writing(store) as st:
        only = set(kr) if kr else None
        scope = {k: e for k, e in config.krs.items() if only is None or k in only}
        plan_ = bf.make(
            config, first, last, parse_duration(step), now=now, only=only,
            frozen=set(st.graded()), existing=bf.existing_points(st, scope, first),
        )  # fmt: skip
        for kr_id, why in plan_.cannot.items():
            typer.echo(f"{kr_id}: not backfilled: {why}", err=True)
        calls = ", ".join(f"{c} {n}" for c, n in sorted(plan_.per_connection().items()))
        typer.echo(
            f"Backfill {first:%Y-%m-%d} to {min(last, now):%Y-%m-%d} every {step}: "
            f"{len(plan_.steps)} step(s), {plan_.queries} queries ({calls or 'none'}); "
            f"{plan_.stored} point(s) already stored"
        )
        if dry_run or not plan_.steps:
            return
        with Progress(console=console.make_console(stderr=True), transient=True) as bar:
            task = bar.add_task("backfilling", total=len(plan_.steps))
            stored = asyncio.run(
                bf.run(config, st, plan_, Runtime(), progress=lambda at, n: bar.advance(task))
            )
    failed = [r for r in stored if r.status == "error"]
    typer.echo(f"stored {len(stored) - len(failed)} point(s), {len(failed)} failed")
    if plan_.waiting:  # not failed: their quota had no room; the next backfill measures them
        why = next(iter(plan_.waiting.values()))
        typer.echo(
            f"{len(plan_.waiting)} key result(s) have points waiting for quota ({why}): "
            "run okrsync backfill again later",
            err=True,
        )
    for r in failed[:10]:
        typer.echo(f"  {r.kr_id} as of {r.measured_at:%Y-%m-%d}: {r.error}", err=True)
    if failed:
        raise typer.Exit(EXIT_FAILED)


@app.command()
def grade(
    cycle: Annotated[
        str, typer.Option("--cycle", metavar="CYCLE", help="The cycle, e.g. 2026-Q4.")
    ],
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    fmt: Annotated[
        str, typer.Option("--format", metavar="FORMAT", help="markdown, html or json.")
    ] = "markdown",
    by: ByOpt = None,
) -> None:
    """Freeze a finished cycle's final values and scores; print the reflection report."""
    from okrsync.publish import grading
    from okrsync.publish.channels.email import render_html

    if fmt not in ("markdown", "html", "json"):
        raise typer.BadParameter("use markdown, html or json", param_hint="--format")
    config = _load(mappings, secrets="skip")
    cycles = {e.cycle.name: e.cycle for e in config.krs.values()}
    if cycle not in cycles:
        known = ", ".join(sorted(cycles)) or "none"
        typer.echo(f"unknown cycle {cycle!r}; the mappings' cycles: {known}", err=True)
        raise typer.Exit(EXIT_FAILED)
    now = datetime.now(UTC)
    with _writing(store) as st:
        frozen = st.graded().get(cycle)
        if frozen is None:
            if not cycles[cycle].is_over(now):
                typer.echo(
                    f"cycle {cycle} runs until {cycles[cycle].end}: grade it once it is over",
                    err=True,
                )
                raise typer.Exit(EXIT_FAILED)
            views = current.views(config, st, now)
            report = grading.reflection(config, st, views, cycle, now)
            st.freeze_cycle(cycle, now, _who(by), grading.grades(views, cycle), report.to_json())
            frozen = st.graded()[cycle]
            typer.echo(f"graded {cycle}: its values and scores are frozen", err=True)
        else:
            typer.echo(
                f"{cycle} was graded {frozen['graded_at']:%Y-%m-%d %H:%M} UTC by "
                f"{frozen['graded_by']}: its frozen scores",
                err=True,
            )
    message = Message.from_json(frozen["report"])
    if fmt == "json":
        typer.echo(json.dumps(frozen["grades"], indent=2))
    elif fmt == "html":
        typer.echo(render_html(message))
    else:
        typer.echo(message.markdown(), nl=False)


@app.command("push")
def push_cmd(
    mappings: MappingsOpt = None,
    store: StoreOpt = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Show what would be pushed; send nothing.")
    ] = False,
    with_history: Annotated[
        bool,
        typer.Option(
            "--history",
            help="Send the stored history (the last value of each day) to destinations "
            "that keep dated values, so their charts start with the cycle.",
        ),
    ] = False,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="DATE", help="With --history: from this day (YYYY-MM-DD)."),
    ] = None,
    kr: Annotated[
        list[str] | None, typer.Option("--kr", metavar="KR", help="Only these key results.")
    ] = None,
) -> None:
    """Send what is due to the OKR tools (destinations) without measuring anything."""
    from okrsync.publish import push as push_stage

    if since is not None and not with_history:
        raise typer.BadParameter("--since goes with --history", param_hint="--since")
    config = _load(mappings)
    only = set(kr) if kr else None
    for kr_id in only or ():
        _entry(config, kr_id)
    if not config.destinations and not config.unavailable_destinations:
        typer.echo("no destinations: add destinations: to connections.yaml (README, Publishing)")
        return
    now = datetime.now(UTC)
    with _writing(store) if not dry_run else _store(store, read_only=True) as st:
        states = st.states()
        if with_history:
            start = _day(since) if since else min(e.cycle.start_at for e in config.krs.values())
            due = push_stage.history(config, states, st.good_values(since=start), only=only)
        else:
            due = push_stage.pending(config, states, st.accepted(), now, only=only)
        out = console.make_console()
        if dry_run or not due:
            for line in console.push_lines(config, due, []):
                out.print(line, soft_wrap=True)
            return
        done = asyncio.run(push_stage.push(config, due, Runtime(), st.record_pushes))
    for line in console.push_lines(config, due, done):
        out.print(line, soft_wrap=True)
    raise typer.Exit(EXIT_FAILED if any(p.outcome == "error" for p in done) else EXIT_OK)


def _day(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text).replace(tzinfo=UTC)
    except ValueError:
        raise typer.BadParameter(
            f"{text!r} is not a date like 2026-10-01", param_hint="--since"
        ) from None


db_app = typer.Typer(help="Store maintenance.", no_args_is_help=True)
app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def db_upgrade(store: StoreOpt = None, mappings: MappingsOpt = None) -> None:
    """Apply the store's schema migrations (run also does this at start).

    ``--mappings`` is accepted, like every command takes it, and not needed.
    """
    del mappings
    with _store(store, upgrade=True) as st:
        typer.echo(f"{st.url}: schema at revision {st.schema_revision()}")


@db_app.command("revision")
def db_revision(store: StoreOpt = None, mappings: MappingsOpt = None) -> None:
    """Print the store's schema revision without changing anything (nor creating it)."""
    del mappings
    try:
        opened = _open(store, upgrade=False, read_only=True)
    except NoStoreYet as exc:
        typer.echo(f"schema at revision none: {exc}")
        return
    except StoreError as exc:
        _store_error(exc)
    with _store_errors(), opened as st:
        typer.echo(f"{st.url}: schema at revision {st.schema_revision() or 'none'}")


@app.command()
def schema() -> None:
    """Print the JSON Schema of mapping files (for editor autocompletion)."""
    from okrsync.config.schema import mapping_schema

    typer.echo(json.dumps(mapping_schema(Registry.default()), indent=2))


@app.command()
def demo(mappings: MappingsOpt = None, store: StoreOpt = None, as_json: JsonOpt = False) -> None:
    """Sync the example mappings against built-in simulators, then show the status."""
    from okrsync.demo.examples import example_dir
    from okrsync.demo.runner import run_demo

    configured = _settings().mappings
    directory = mappings or configured
    if mappings is None and not directory.exists():  # pip install okrsync && okrsync demo
        directory = example_dir()
        typer.echo(f"no {configured} here: the example company shipped with okrsync", err=True)
    try:
        with _store(store) as st:
            shown = asyncio.run(run_demo(directory, st))
            _print_summary(shown.result)
            now = datetime.now(UTC)
            views = current.views(shown.config, st, now)
    except ConfigError as exc:
        _config_error(exc, directory)
    _print_status(views, now, as_json)
    for name, lines in shown.received.items():
        said = console.make_console(stderr=as_json)  # stdout holds only the JSON
        said.print(f"The {name} destination's simulator received {len(lines)} value(s):")
        for line in lines[:20]:
            said.print(f"  {line}", soft_wrap=True)
        if len(lines) > 20:
            said.print(f"  … and {len(lines) - 20} more")
    if shown.staged:
        out = console.make_console(stderr=True)
        out.print("The demo staged this trouble on purpose, to show what it looks like:")
        for kr_id, what in shown.staged.items():
            out.print(f"  {kr_id}: {what}")
    raise typer.Exit(EXIT_FAILED if shown.unexpected or shown.result.unpublished else EXIT_OK)


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Where to write the starter mappings.")] = Path(
        "mappings"
    ),
) -> None:
    """Write a starter mappings folder (the example company, commented) to make your own."""
    from okrsync.demo.examples import write_starter

    try:
        written = write_starter(directory)
    except FileExistsError as exc:
        typer.echo(f"init: would overwrite {exc}; nothing written", err=True)
        raise typer.Exit(EXIT_FAILED) from None
    for path in written:
        typer.echo(f"wrote {path}")
    typer.echo(
        f"next: okrsync demo --mappings {directory}  (the simulators), then point "
        f"{directory / 'connections.yaml'} at your tools, set the secrets it names, "
        f"and run okrsync validate {directory}, okrsync plan, okrsync sync"
    )


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return app(args=argv if argv is not None else sys.argv[1:], prog_name="okrsync")


__all__ = ["app", "main"]
