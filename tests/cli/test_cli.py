"""The commands as users run them: exit codes, output, and what reaches the store."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from datetime import date, datetime
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from okrsync.store.tables import SCHEMA_HEAD
from tests.support import EXAMPLES, TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, write

runner = CliRunner()
ENV = {"TEST_STATS_TOKEN": TOKEN, "OKRSYNC_LOG_FORMAT": "json"}


def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, list(args), env={**ENV, **(env or {})})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def sim() -> Iterator[StatsSimulator]:
    with StatsSimulator(token=TOKEN) as server:
        yield server  # type: ignore[misc]


@pytest.fixture
def mappings(tmp_path: Path, sim: StatsSimulator) -> Path:
    krs = [
        kr_yaml("tickets", "support_tickets_month"),
        kr_yaml("steps", "checkout_steps", start=9, target=6),
    ]
    files = {
        "connections.yaml": connections_yaml(sim.url),
        "okrs.yaml": mapping([objective_yaml("obj", krs)]),
    }
    return write(tmp_path / "mappings", files)


def test_version() -> None:
    code, out, _ = run("--version")
    assert (code, out.strip()) == (0, "okrsync 0.1.0")


def test_validate_ok_and_broken(tmp_path: Path, mappings: Path) -> None:
    code, out, _ = run("validate", str(mappings))
    assert code == 0
    assert "ok: 1 objectives, 2 key results, 1 connections" in out
    (mappings / "bad.yaml").write_text(
        "cycle: 2026-Q4\nobjectives:\n  - id: Bad Id\n    title: x\n"
    )
    code, out, _ = run("validate", "--mappings", str(mappings))
    assert code == 1
    assert f"{mappings / 'bad.yaml'}:3:" in out
    assert "objectives[0].id" in out


def test_sync_refuses_a_broken_config_and_never_touches_the_store(
    tmp_path: Path, mappings: Path
) -> None:
    (mappings / "bad.yaml").write_text("cycle: 2026-Q9\n")
    db = tmp_path / "never.db"
    code, _, err = run("sync", "--mappings", str(mappings), "--store", f"sqlite:///{db}")
    assert code == 2
    assert "invalid cycle '2026-Q9'" in err
    assert not db.exists()


def test_sync_status_explain_history(tmp_path: Path, mappings: Path, sim: StatsSimulator) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    code, _, err = run("sync", "--mappings", str(mappings), "--store", store)
    assert code == 0, err
    assert "run 1: 2 ok, 0 failed" in err

    code, out, _ = run("status", "--json", "--mappings", str(mappings), "--store", store)
    assert code == 0
    data = json.loads(out)
    assert datetime.fromisoformat(data["as_of"]).tzinfo is not None
    [obj] = data["objectives"]
    assert set(obj) >= {"id", "title", "progress", "status", "key_results", "owner", "team"}
    assert (obj["cycle"], obj["cycle_start"], obj["cycle_end"]) == (
        "2026-Q4",
        "2026-10-01",
        "2026-12-31",
    )
    kr = obj["key_results"][0]
    assert set(kr) >= {"id", "value", "unit", "progress", "expected", "status", "measured_at"}
    assert (kr["owner"], kr["reason"]) == ("o@example.com", None)
    assert 0 <= kr["progress"] <= 1
    assert kr["value"] is not None

    code, out, _ = run("status", "--mappings", str(mappings), "--store", store)
    assert code == 0
    assert "tickets" in out
    assert "█" in out

    code, out, _ = run("explain", "steps", "--json", "--mappings", str(mappings), "--store", store)
    info = json.loads(out)
    assert info["connection"]["name"] == "stats"
    assert (info["simulated"], info["manual"]) == (False, False)  # a real sync's value
    assert info["rendered_query"].startswith("GET /api/v1/metrics/checkout_steps?from=2026-")
    assert '"checkout_steps"' in info["last_attempt"]["raw"]

    # a second sync with nothing due still records a run; --all measures everything
    run("sync", "--mappings", str(mappings), "--store", store, "--all")
    code, out, _ = run("history", "steps", "--json", "--mappings", str(mappings), "--store", store)
    assert [h["status"] for h in json.loads(out)["history"]] == ["ok", "ok"]

    code, _, err = run("explain", "stpes", "--mappings", str(mappings), "--store", store)
    assert code == 1
    assert "did you mean 'steps'?" in err


def test_sync_exit_code_is_1_when_a_key_result_fails(tmp_path: Path, mappings: Path) -> None:
    (mappings / "more.yaml").write_text(
        mapping([objective_yaml("o2", [kr_yaml("ghost", "no_such_metric")])])
    )
    code, _, err = run(
        "sync", "--mappings", str(mappings), "--store", f"sqlite:///{tmp_path / 's.db'}"
    )
    assert code == 1
    assert "ghost: connection 'stats': HTTP 404" in err


def test_plan_queries_but_writes_nothing(tmp_path: Path, mappings: Path) -> None:
    db = tmp_path / "s.db"
    run("db", "upgrade", "--store", f"sqlite:///{db}")
    code, out, _ = run("plan", "--mappings", str(mappings), "--store", f"sqlite:///{db}")
    assert code == 0
    assert "2 key result(s) due, 2 queries" in out
    assert "  + tickets       — → " in out  # a first value
    assert "Plan: 2 new." in out
    with Store.open(f"sqlite:///{db}") as st:
        assert st.runs() == []
        assert st.states() == {}


def test_plan_reads_like_terraform(tmp_path: Path, mappings: Path, sim: StatsSimulator) -> None:
    """Changes marked old → new with their query, unchanged rows quiet, skips counted."""
    store = f"sqlite:///{tmp_path / 's.db'}"
    sim.today = lambda: date(2026, 11, 20)
    assert run("sync", "--mappings", str(mappings), "--store", store)[0] == 0
    code, out, _ = run("plan", "--mappings", str(mappings), "--store", store)
    assert code == 0
    assert "Nothing due; okrsync plan --all measures every key result now." in out
    assert "2 not measured now: not due (refresh 1h)" in out  # a duration people write
    assert "0:00:00" not in out

    with Store.open(store) as st:
        before = {kr: s.value for kr, s in st.states().items()}
    sim.today = lambda: date(2026, 11, 27)  # a week on: tickets moved, steps did not
    code, out, _ = run("plan", "--all", "--mappings", str(mappings), "--store", store)
    lines = out.splitlines()
    changed = next(line for line in lines if "tickets" in line)
    assert changed.startswith("  ~ tickets ")
    assert f"{before['tickets']:g} → " in changed
    assert "tickets" in changed
    assert lines[lines.index(changed) + 1].startswith("      stats: GET /api/v1/metrics/")
    steps = next(line for line in lines if "steps " in line)
    assert steps.endswith("(unchanged)")
    assert steps.startswith("    steps ")
    assert "stats: GET /api/v1/metrics/checkout_steps" not in out  # quiet: no query
    assert "Plan: 1 to change, 1 unchanged." in out


def test_schema_is_json_schema_with_each_connectors_source_form() -> None:
    _code, out, _ = run("schema")
    schema = json.loads(out)
    assert schema["$schema"].startswith("https://json-schema.org/")
    source = schema["$defs"]["KeyResult"]["properties"]["source"]
    assert {"$ref": "#/$defs/source_http"} in source["anyOf"]
    assert "jsonpath" in json.dumps(schema["$defs"]["source_http"]).lower()


def test_demo_in_a_fresh_process_twice(tmp_path: Path) -> None:
    """What `make demo` runs: a real process, the example mappings, a real SQLite file."""
    workdir = tmp_path / "work"
    shutil.copytree(EXAMPLES, workdir / "mappings")
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
    cmd = [sys.executable, "-m", "okrsync", "--log-format", "json", "demo"]
    first = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True, timeout=60)
    assert first.returncode == 0, first.stderr
    for kr_id in ("annual-revenue", "new-product-sales", "support-tickets", "checkout-steps",
                  "time-on-site", "key-account-mau", "uptime", "launch-2-0"):  # fmt: skip
        assert kr_id in first.stdout
    assert "never" not in first.stdout  # every key result was measured
    second = subprocess.run(
        [*cmd, "--json"], cwd=workdir, env=env, capture_output=True, text=True, timeout=60
    )
    assert second.returncode == 0, second.stderr  # the trouble is staged: not a failure
    krs = {kr["id"]: kr for o in json.loads(second.stdout)["objectives"] for kr in o["key_results"]}
    trouble = {kr_id: kr for kr_id, kr in krs.items() if kr["status"] in ("error", "stale")}
    trouble |= {kr_id: kr for kr_id, kr in krs.items() if kr["held_value"] is not None}
    assert sorted(trouble) == ["annual-revenue", "customer-nps", "time-on-site"]  # no more
    failing, held, stale = krs["time-on-site"], krs["annual-revenue"], krs["customer-nps"]
    assert failing["status"] == "error"
    assert "403 PERMISSION_DENIED" in failing["reason"]
    assert "sufficient permissions for this property" in failing["reason"]  # Google's words
    assert failing["value"] is not None  # its last good value stays
    assert held["held_value"] == pytest.approx(2 * held["value"], rel=0.01)
    assert "is more than max_change 25%" in held["reason"]
    assert held["status"] != "error"
    assert stale["status"] == "stale"
    assert "okrsync checkin customer-nps VALUE" in stale["reason"]
    assert "The demo staged this trouble on purpose" in second.stderr
    explained = subprocess.run(
        [*cmd[:-1], "explain", "uptime"], cwd=workdir, env=env, capture_output=True, text=True
    ).stdout
    assert "the built-in simulator, in a demo or --simulators run; configured: https://" in (
        explained
    )
    with Store.open(f"sqlite:///{workdir / 'okrsync.db'}") as st:
        triggers = [r.trigger for r in st.runs()]
    assert triggers.count("demo") == 4  # two syncs a demo
    assert triggers.count("checkin") == 2


def test_console_prints_brackets_verbatim(capsys: pytest.CaptureFixture[str]) -> None:
    from okrsync.cli.console import make_console

    text = "rate(x[5m]) [bold]not markup[/bold] [link=https://e.x]t[/link] arr[1]"
    make_console().print(text)
    assert capsys.readouterr().out.strip() == text


# --- settings and read-only commands (issue #16, points 7c and 10) ----------------------


def okrsync(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    """A real `okrsync` process with only the given OKRSYNC_* settings."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
    return subprocess.run(
        [sys.executable, "-m", "okrsync", *args],
        cwd=cwd,
        env={**clean, **ENV, **env},
        capture_output=True,
        text=True,
        timeout=60,
    )


def one_clean_line(err: str) -> str:
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    return lines[0]


@pytest.mark.parametrize(
    ("env", "args", "says"),
    [
        (
            {"OKRSYNC_SCHEDULE": "99999999999d"},
            ["run"],
            "OKRSYNC_SCHEDULE: schedule '99999999999d' is too long: at most 366d",
        ),
        (
            {"OKRSYNC_AUTO_UPGRADE": "maybe"},
            ["status"],
            "settings error: OKRSYNC_AUTO_UPGRADE: input should be a valid boolean",
        ),
        (
            {"OKRSYNC_HEALTH_PORT": "99999", "OKRSYNC_LOCK_WAIT": "nan"},
            ["sync"],
            "OKRSYNC_HEALTH_PORT: input should be less than or equal to 65535",
        ),
        (
            {"OKRSYNC_AUTO_UPGRADE": "false"},
            ["status"],
            "store error: no store yet at sqlite:///okrsync.db: run okrsync sync or okrsync db "
            "upgrade",
        ),
        ({"OKRSYNC_SCHEDULE": "0.0001s"}, ["run"], "schedule '0.0001s' is too short: at least 1s"),
    ],
)
def test_bad_settings_are_one_line_errors_exit_2(
    tmp_path: Path, mappings: Path, env: dict[str, str], args: list[str], says: str
) -> None:
    done = okrsync(*args, cwd=tmp_path, OKRSYNC_MAPPINGS=str(mappings), **env)
    assert done.returncode == 2, done.stderr
    assert says in one_clean_line(done.stderr)
    assert not (tmp_path / "okrsync.db").exists()


@pytest.mark.parametrize(
    "args",
    [
        ["status"],
        ["status", "--json"],
        ["explain", "steps"],
        ["history", "steps"],
    ],
)
def test_read_only_commands_on_no_store_create_nothing(
    tmp_path: Path, mappings: Path, args: list[str]
) -> None:
    db = tmp_path / "none.db"
    code, out, err = run(*args, "--mappings", str(mappings), "--store", f"sqlite:///{db}")
    assert code == 2
    assert "no store yet at sqlite:///" in err
    assert "run okrsync sync or okrsync db upgrade" in err
    assert out == ""
    assert not db.exists()
    assert list(tmp_path.glob("none.db*")) == []  # no -wal, -shm or .lock either


def test_plan_and_db_revision_on_no_store_create_nothing(tmp_path: Path, mappings: Path) -> None:
    db = tmp_path / "none.db"
    code, out, _ = run("plan", "--mappings", str(mappings), "--store", f"sqlite:///{db}")
    assert code == 0
    assert "2 key result(s) due, 2 queries" in out
    code, out, _ = run("db", "revision", "--store", f"sqlite:///{db}")
    assert code == 0
    assert "schema at revision none: no store yet" in out
    assert list(tmp_path.glob("none.db*")) == []


def foreign_sqlite(path: Path) -> None:
    plain = sqlite3.connect(path)
    plain.execute("CREATE TABLE invoices (id INTEGER PRIMARY KEY, total REAL)")
    plain.commit()
    plain.close()


def sqlite_tables(path: Path) -> list[str]:
    plain = sqlite3.connect(path)
    try:
        return [r[0] for r in plain.execute("SELECT name FROM sqlite_master WHERE type='table'")]
    finally:
        plain.close()


@pytest.mark.parametrize(
    "args",
    [["status"], ["history", "steps"], ["plan"], ["sync"], ["db", "upgrade"], ["db", "revision"]],
)
def test_a_foreign_database_is_refused_by_every_command(
    tmp_path: Path, mappings: Path, args: list[str]
) -> None:
    db = tmp_path / "theirs.db"
    foreign_sqlite(db)
    extra = [] if args[0] == "db" else ["--mappings", str(mappings)]
    code, _, err = run(*args, *extra, "--store", f"sqlite:///{db}")
    assert code == 2
    assert "holds tables (invoices) but no okrsync schema version: not an okrsync store" in err
    assert sqlite_tables(db) == ["invoices"]


def test_status_never_migrates_an_old_store(tmp_path: Path, mappings: Path) -> None:
    from alembic import command

    from okrsync.store.database import _alembic_config, create_store_engine, normalise_url

    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = create_store_engine(normalise_url(url))
    try:
        with engine.begin() as conn:
            command.upgrade(_alembic_config(conn), "0001")
    finally:
        engine.dispose()
    code, _, err = run("status", "--mappings", str(mappings), "--store", url)
    assert code == 2
    assert (
        f"schema is at revision 0001, this okrsync needs {SCHEMA_HEAD}: run okrsync db upgrade"
        in err
    )
    code, out, _ = run("db", "revision", "--store", url)
    assert "schema at revision 0001" in out  # still: status changed nothing
    code, out, _ = run("db", "upgrade", "--store", url, "--mappings", str(mappings))
    assert code == 0  # db upgrade takes --mappings like every command
    assert f"schema at revision {SCHEMA_HEAD}" in out
    code, _, err = run("status", "--mappings", str(mappings), "--store", url)
    assert code == 0, err


def test_a_missing_secret_fails_only_its_own_key_results(
    tmp_path: Path, sim: StatsSimulator
) -> None:
    """A real `okrsync sync`: one connection lacks its secret, the other's key results sync."""
    other = "\n".join(
        [
            "  other:",
            "    type: http",
            f"    url: {sim.url}",
            "    headers:",
            "      Authorization: Bearer ${OTHER_TOKEN}",
        ]
    )
    lonely = kr_yaml("lonely", "checkout_steps", start=9, target=6).replace(
        "connection: stats", "connection: other"
    )
    files = {
        "connections.yaml": connections_yaml(sim.url) + other + "\n",
        "okrs.yaml": mapping(
            [objective_yaml("obj", [kr_yaml("tickets", "support_tickets_month"), lonely])]
        ),
    }
    mappings = write(tmp_path / "mappings", files)
    store = f"sqlite:///{tmp_path / 's.db'}"
    done = okrsync("sync", "--mappings", str(mappings), "--store", store, cwd=tmp_path)
    assert done.returncode == 1, done.stderr
    assert "run 1: 1 ok, 1 failed" in done.stderr
    shown = okrsync("status", "--json", "--mappings", str(mappings), "--store", store, cwd=tmp_path)
    [obj] = json.loads(shown.stdout)["objectives"]
    krs = {kr["id"]: kr for kr in obj["key_results"]}
    assert krs["tickets"]["value"] is not None
    assert krs["lonely"]["status"] == "error"
    assert krs["lonely"]["error"] == (
        "connection 'other': not configured: environment variable OTHER_TOKEN is not set"
    )
    assert [r.path for r in sim.requests] == ["/api/v1/metrics/support_tickets_month"]
    checked = okrsync("validate", str(mappings), cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout  # a pull request's CI has no vendor tokens
    assert "OTHER_TOKEN is not set: its key results fail until it is set" in checked.stdout
    strict = okrsync("validate", "--require-secrets", str(mappings), cwd=tmp_path)
    assert strict.returncode == 1
    assert "error" in strict.stdout
    assert "OTHER_TOKEN is not set" in strict.stdout


def test_simulated_syncs_never_touch_a_real_store(tmp_path: Path, mappings: Path) -> None:
    """Real processes: `sync --simulators` needs a store of its own, one with no real runs."""
    real = tmp_path / "real.db"
    env = {"OKRSYNC_STORE_URL": f"sqlite:///{real}"}
    refused = okrsync("sync", "--simulators", "--mappings", str(EXAMPLES), cwd=tmp_path, **env)
    assert refused.returncode == 2
    assert "give it a store of its own with --store" in refused.stderr
    assert not real.exists()

    done = okrsync(
        "sync", "--mappings", str(mappings), "--store", f"sqlite:///{real}", cwd=tmp_path
    )
    assert done.returncode == 0, done.stderr
    mixed = okrsync(
        "sync", "--simulators", "--mappings", str(EXAMPLES), "--store", f"sqlite:///{real}",
        cwd=tmp_path,
    )  # fmt: skip
    assert mixed.returncode == 2
    assert "holds real runs (sync): simulated values never go into it" in mixed.stderr
    with Store.open(f"sqlite:///{real}", read_only=True) as st:
        assert st.triggers() == {"sync"}

    own = tmp_path / "simulated.db"
    simulated = okrsync(
        "sync", "--simulators", "--mappings", str(EXAMPLES), "--store", f"sqlite:///{own}",
        cwd=tmp_path,
    )  # fmt: skip
    assert simulated.returncode in (0, 1), simulated.stderr
    with Store.open(f"sqlite:///{own}", read_only=True) as st:
        assert st.triggers() == {"simulated"}


def test_demo_runs_in_an_empty_folder_on_the_shipped_example(tmp_path: Path) -> None:
    """`pip install okrsync && okrsync demo` with no mappings folder: the packaged example."""
    done = okrsync("--log-format", "json", "demo", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert "no mappings here: the example company shipped with okrsync" in done.stderr
    for kr_id in ("annual-revenue", "support-tickets", "launch-2-0"):
        assert kr_id in done.stdout
    assert (tmp_path / "okrsync.db").exists()
    assert not (tmp_path / "mappings").exists()


def test_init_writes_a_starter_folder_that_validates_and_never_overwrites(tmp_path: Path) -> None:
    done = okrsync("init", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    written = sorted(p.name for p in (tmp_path / "mappings").iterdir())
    assert written == sorted(p.name for p in EXAMPLES.glob("*.yaml"))
    assert "next: okrsync demo --mappings mappings" in done.stdout
    assert (tmp_path / "mappings" / "connections.yaml").read_text() == (
        EXAMPLES / "connections.yaml"
    ).read_text()  # comments included
    checked = okrsync("validate", "mappings", cwd=tmp_path)
    assert checked.returncode == 0, checked.stdout  # secrets not set: warnings only
    assert "ok: " in checked.stdout
    (tmp_path / "mappings" / "sales.yaml").write_text("# mine\n")
    again = okrsync("init", cwd=tmp_path)
    assert again.returncode == 1
    assert "would overwrite" in again.stderr
    assert (tmp_path / "mappings" / "sales.yaml").read_text() == "# mine\n"


def test_the_wheel_ships_the_example_company(tmp_path: Path) -> None:
    import zipfile

    source = tmp_path / "src"  # a copy: setuptools writes build/ next to the sources
    source.mkdir()
    for name in ("pyproject.toml", "README.md", "okrsync", "connectors", "mappings"):
        origin = EXAMPLES.parent / name
        if origin.is_dir():
            ignore = shutil.ignore_patterns("__pycache__", "*.egg-info")
            shutil.copytree(origin, source / name, symlinks=True, ignore=ignore)
        else:
            shutil.copyfile(origin, source / name)
    assert (source / "okrsync" / "demo" / "example").is_symlink()
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True, text=True, timeout=300, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr
    [wheel] = tmp_path.glob("okrsync-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for example in EXAMPLES.glob("*.yaml"):
        assert f"okrsync/demo/example/{example.name}" in names


def test_help_keeps_defaults_and_variables_and_takes_dash_h() -> None:
    code, out, _ = run("sync", "-h")
    assert code == 0
    assert "[default: $OKRSYNC_MAPPINGS or" in out
    assert "$OKRSYNC_STORE_URL" in out
    assert "<bool>" not in out
    assert "--all " in out
    assert "--mappings DIR" in out
    code, out, _ = run("-h")
    assert code == 0
    assert "Examples: okrsync demo" in out
    code, out, _ = run("db", "upgrade", "-h")
    assert (code, "Usage:" in out) == (0, True)


def on_a_terminal(*args: str, cwd: Path, **env: str) -> str:
    """What a person sees: a real process whose stdout and stderr are a terminal (a pty)."""
    import pty

    clean = {k: v for k, v in os.environ.items() if not k.startswith("OKRSYNC_")}
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "okrsync", *args],
        cwd=cwd,
        env={**clean, "TEST_STATS_TOKEN": TOKEN, "COLUMNS": "120", **env},
        stdin=subprocess.DEVNULL,
        stdout=follower,
        stderr=follower,
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 65536)
        except OSError:  # the pty closes as the process exits
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(leader)
    assert proc.wait(timeout=60) in (0, 1)
    return b"".join(chunks).decode(errors="replace")


def test_on_a_terminal_the_one_line_summary_comes_before_the_table_not_the_log(
    tmp_path: Path, mappings: Path
) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    seen = on_a_terminal("sync", "--mappings", str(mappings), "--store", store, cwd=tmp_path)
    assert "run 1: 2 ok, 0 failed" in seen
    assert "sync finished" not in seen  # the info log is for the service's log, not a person
    asked = on_a_terminal(
        "sync", "--all", "--mappings", str(mappings), "--store", store, cwd=tmp_path,
        OKRSYNC_LOG_LEVEL="info",
    )  # fmt: skip
    assert "sync finished" in asked  # asked for: shown


def test_status_filters_narrow_the_tree_and_refuse_what_cannot_match(
    tmp_path: Path, mappings: Path
) -> None:
    store = f"sqlite:///{tmp_path / 's.db'}"
    where = ["--mappings", str(mappings), "--store", store]
    run("sync", *where)
    code, out, _ = run("status", "--json", "--owner", "nobody@example.com", *where)
    assert (code, json.loads(out)["objectives"]) == (0, [])
    code, out, _ = run("status", *where, "--owner", "nobody@example.com")
    assert out.strip() == "no objective or key result matches these filters"
    everything = json.loads(run("status", "--json", *where)[1])["objectives"][0]["key_results"]
    status = everything[0]["status"]
    code, out, _ = run("status", "--json", "--status", f"{status},held", *where)
    shown = [kr["id"] for obj in json.loads(out)["objectives"] for kr in obj["key_results"]]
    assert shown == [kr["id"] for kr in everything if kr["status"] == status]
    code, _, err = run("status", "--status", "late", *where)
    assert code == 2
    assert "unknown status late" in err
    code, _, err = run("status", "--objective", "ob", *where)
    assert code == 1
    assert "unknown objective 'ob'; did you mean 'obj'?" in err
