"""The mapping loader: every problem reported at once, each at its file:line:col."""

from __future__ import annotations

import hashlib
import time
from datetime import timedelta
from pathlib import Path

import pytest

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.errors import ConfigError, Problem
from tests.support import (
    EXAMPLES,
    TOKEN,
    connections_yaml,
    example_environ,
    kr_yaml,
    load,
    mapping,
    objective_yaml,
    write,
)

CONN = connections_yaml("http://127.0.0.1:9")
ENV = {"TEST_STATS_TOKEN": TOKEN}


def check(directory: Path, env: dict[str, str] | None = None) -> list[Problem]:
    _, problems = loader.check(directory, Registry.default(), environ=ENV if env is None else env)
    return problems


def errors(directory: Path) -> list[Problem]:
    return [p for p in check(directory) if p.severity == "error"]


def test_the_example_mappings_load_without_errors() -> None:
    config, problems = loader.check(EXAMPLES, Registry.default(), environ=example_environ())
    assert config is not None, problems
    assert [p for p in problems if p.severity == "error"] == []
    assert len(config.krs) >= 8
    kinds = {e.kr.kind for e in config.krs.values()}
    assert kinds == {"increase", "decrease", "maintain", "milestone"}
    assert config.krs["time-on-site"].kr.start == 157  # "2:37" in the file
    assert config.cycles["double-revenue"].name == "2026-Q4"
    types = {e.connection_type for e in config.krs.values() if not e.manual}
    assert [kr for kr, e in config.krs.items() if e.manual] == ["customer-nps"]
    assert types == {
        "ga4", "http", "jira", "plausible", "posthog", "prometheus", "salesforce", "sql"
    }  # fmt: skip
    assert config.krs["checkout-steps"].initiatives == (("jira", "PROD-101"),)


# Ten files, each broken differently; the line and column are where a person looks.
BROKEN = {
    "a_malformed.yaml": ("cycle: 2026-Q4\nobjectives: [\n  - id: x\n", 3, "invalid YAML"),
    "b_unknown_field.yaml": (
        mapping([objective_yaml("b-obj", [kr_yaml("b-kr", "x", targett=5)])]),
        None,  # located below
        "unknown field 'targett'; did you mean 'target'?",
    ),
    "c_wrong_type.yaml": (
        mapping([objective_yaml("c-obj", [kr_yaml("c-kr", "x", weight="heavy")])]),
        None,
        "weight",
    ),
    "d_start_equals_target.yaml": (
        mapping([objective_yaml("d-obj", [kr_yaml("d-kr", "x", start=5, target=5)])]),
        None,
        "start equals target",
    ),
    "e_invalid_cycle.yaml": (mapping([], cycle="2026-Q5"), 2, "invalid cycle '2026-Q5'"),
    "f_dangling_parent.yaml": (
        mapping([objective_yaml("f-obj", [kr_yaml("f-kr", "x")], parent="nowhere")]),
        None,
        "parent 'nowhere' does not exist",
    ),
    "g_unknown_connection.yaml": (
        mapping([objective_yaml("g-obj", [kr_yaml("g-kr", "x").replace("stats", "statz")])]),
        None,
        "unknown connection 'statz'; did you mean 'stats'?",
    ),
    "h_duplicate_id.yaml": (
        mapping([objective_yaml("h-obj", [kr_yaml("f-kr", "x")])]),
        None,
        "duplicate id 'f-kr'",
    ),
    "i_unknown_placeholder.yaml": (
        mapping(
            [
                objective_yaml(
                    "i-obj", [kr_yaml("i-kr", "x").replace("{cycle.end}", "{cycle.finish}")]
                )
            ]
        ),
        None,
        "unknown placeholder {cycle.finish}",
    ),
    "j_duplicate_key.yaml": ("cycle: 2026-Q4\ncycle: 2026-Q3\n", 2, "duplicate key"),
}


def line_of(text: str, needle: str) -> int:
    for number, line in enumerate(text.splitlines(), start=1):
        if needle in line:
            return number
    raise AssertionError(f"{needle!r} not in file")


EXPECTED_LINE_NEEDLE = {
    "b_unknown_field.yaml": "targett:",
    "c_wrong_type.yaml": "weight:",
    "d_start_equals_target.yaml": "- id: d-kr",
    "f_dangling_parent.yaml": "parent:",
    "g_unknown_connection.yaml": "connection: statz",
    "h_duplicate_id.yaml": "id: f-kr",
    "i_unknown_placeholder.yaml": "source:",
}


def test_ten_broken_files_are_all_reported_with_their_lines(tmp_path: Path) -> None:
    directory = write(tmp_path, {"connections.yaml": CONN, **{k: v[0] for k, v in BROKEN.items()}})
    found = errors(directory)
    for name, (text, line, message) in BROKEN.items():
        mine = [p for p in found if p.file.endswith(name)]
        assert mine, f"no error reported for {name}: {found}"
        assert any(message in str(p) for p in mine), (name, mine)
        want = line if line is not None else line_of(text, EXPECTED_LINE_NEEDLE[name])
        assert any(p.line == want for p in mine), (name, want, mine)
        assert all(p.column is not None for p in mine if p.line is not None)


def test_a_duplicate_id_names_where_it_was_first_defined(tmp_path: Path) -> None:
    write(tmp_path, {"connections.yaml": CONN})
    write(tmp_path, {"a.yaml": mapping([objective_yaml("one", [kr_yaml("same", "x")])])})
    write(tmp_path, {"b.yaml": mapping([objective_yaml("two", [kr_yaml("same", "x")])])})
    [problem] = errors(tmp_path)
    assert problem.file.endswith("b.yaml")
    assert f"first defined at {tmp_path / 'a.yaml'}:8" in problem.message


def test_parent_cycles_are_rejected(tmp_path: Path) -> None:
    objectives = [
        objective_yaml("one", [kr_yaml("k1", "x")], parent="two"),
        objective_yaml("two", [kr_yaml("k2", "x")], parent="k1"),  # via a key result of "one"
    ]
    write(tmp_path, {"connections.yaml": CONN, "a.yaml": mapping(objectives)})
    found = errors(tmp_path)
    assert any("parent chain loops" in p.message for p in found), found


def test_a_missing_secret_is_a_warning_and_marks_only_its_connection(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"connections.yaml": CONN, "a.yaml": mapping([objective_yaml("o", [kr_yaml("k", "x")])])},
    )
    config, problems = loader.check(tmp_path, Registry.default(), environ={})
    [problem] = [p for p in problems if "TEST_STATS_TOKEN" in p.message]
    assert problem.severity == "warning"
    assert problem.message == (
        "environment variable TEST_STATS_TOKEN is not set: its key results fail until it is set"
    )
    assert problem.file.endswith("connections.yaml")
    assert problem.line == 6
    assert config is not None
    assert config.unavailable == {"stats": "environment variable TEST_STATS_TOKEN is not set"}


def test_missing_secret_is_a_config_error_when_required(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"connections.yaml": CONN, "a.yaml": mapping([objective_yaml("o", [kr_yaml("k", "x")])])},
    )
    config, problems = loader.check(tmp_path, Registry.default(), environ={}, secrets="required")
    [problem] = [p for p in problems if p.severity == "error"]
    assert "TEST_STATS_TOKEN is not set" in problem.message
    assert (problem.line, config) == (6, None)


def test_read_only_loading_needs_no_secrets(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"connections.yaml": CONN, "a.yaml": mapping([objective_yaml("o", [kr_yaml("k", "x")])])},
    )
    config = loader.load(tmp_path, Registry.default(), environ={}, secrets="skip")
    assert config.krs["k"].connection_type == "http"
    assert config.unavailable == {}  # nothing will be measured: nothing is unavailable
    with pytest.raises(ConfigError):
        loader.load(tmp_path, Registry.default(), environ={}, secrets="required")


def test_secret_from_a_mounted_file(tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text(TOKEN + "\n")
    conn = CONN.replace("${TEST_STATS_TOKEN}", "${file:" + str(secret) + "}")
    write(
        tmp_path / "m",
        {"connections.yaml": conn, "a.yaml": mapping([objective_yaml("o", [kr_yaml("k", "x")])])},
    )
    config = loader.load(tmp_path / "m", Registry.default(), environ={})
    assert config.connections["stats"].headers == {"Authorization": f"Bearer {TOKEN}"}  # type: ignore[attr-defined]


@pytest.mark.parametrize("content", ["", " \n"], ids=["empty", "blank"])
def test_an_empty_secret_file_is_an_error_like_an_empty_variable(
    tmp_path: Path, content: str
) -> None:
    secret = tmp_path / "token"
    secret.write_text(content)
    conn = CONN.replace("${TEST_STATS_TOKEN}", "${file:" + str(secret) + "}")
    write(
        tmp_path / "m",
        {"connections.yaml": conn, "a.yaml": mapping([objective_yaml("o", [kr_yaml("k", "x")])])},
    )
    _, problems = loader.check(tmp_path / "m", Registry.default(), secrets="required")
    [problem] = problems  # "Bearer " was sent before: issue #16.9b
    assert f"secret file {secret} is empty" in problem.message
    assert (problem.file, problem.line) == (str(tmp_path / "m" / "connections.yaml"), 6)


def test_unknown_connection_type_lists_the_known_ones(tmp_path: Path) -> None:
    conn = "connections:\n  crm:\n    type: hubspott\n    url: https://x\n"
    write(tmp_path, {"connections.yaml": conn, "a.yaml": mapping([])})
    [problem] = errors(tmp_path)
    assert "unknown connection type 'hubspott'" in problem.message
    assert "http" in problem.message
    assert (problem.line, problem.column) == (3, 5)


def test_bad_source_fields_are_checked_by_the_connector(tmp_path: Path) -> None:
    kr = kr_yaml("k", "x").replace("value: $.data.value", "value: $.data[")
    write(tmp_path, {"connections.yaml": CONN, "a.yaml": mapping([objective_yaml("o", [kr])])})
    [problem] = errors(tmp_path)
    assert problem.field.endswith("source.value")
    assert problem.line == line_of(mapping([objective_yaml("o", [kr])]), "value: $.data[")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "file is empty"),
        ("- just\n- a list\n", "the top level must be a mapping"),
        ("objectives: []\n", "missing required field 'cycle'"),
        ("version: 2\ncycle: 2026\n", "version"),
        ("cycle: {start: 2026-03-01, end: 2026-01-01}\n", "before its start"),
    ],
)
def test_file_level_problems(tmp_path: Path, text: str, message: str) -> None:
    write(tmp_path, {"a.yaml": text})
    found = errors(tmp_path)
    assert any(message in str(p) for p in found), found


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"type": "milestone"}, "a milestone key result has no start or target"),
        ({"type": "decrease"}, "type is decrease but target 120 is above start 30"),
        ({"max_change": "lots"}, "max_change 'lots'"),
        ({"refresh": "soon"}, "invalid duration 'soon'"),
        ({"direction": "at_most"}, "direction is only for maintain"),
    ],
)
def test_key_result_consistency(tmp_path: Path, extra: dict[str, str], message: str) -> None:
    kr = kr_yaml("k", "x", start=30, target=120, **extra)
    write(tmp_path, {"connections.yaml": CONN, "a.yaml": mapping([objective_yaml("o", [kr])])})
    found = errors(tmp_path)
    assert any(message in p.message for p in found), found


def test_lint_warnings_do_not_fail(tmp_path: Path) -> None:
    lonely = kr_yaml("k", "x").replace("  owner: o@example.com\n", "")
    files = {
        "connections.yaml": CONN,
        "a.yaml": mapping(
            [objective_yaml("o", [lonely]), "  - id: empty\n    title: Nothing yet\n"]
        ),
    }
    config, problems = loader.check(write(tmp_path, files), Registry.default(), environ=ENV)
    assert config is not None
    messages = [p.message for p in problems if p.severity == "warning"]
    assert "objective 'o' has 1 key result; 2–5 keep an objective focused" in messages
    assert "key result 'k' has no owner" in messages
    assert "objective 'empty' has no key results" in messages
    warned = {p.message: p for p in problems if p.severity == "warning"}
    assert warned["objective 'empty' has no key results"].line is not None  # validate shows where
    assert config.warnings == [p for p in problems if p.severity == "warning"]
    # load() (sync, run) never shows warnings: it keeps file and field, skipping the lookup.
    loaded = loader.load(tmp_path, Registry.default(), environ=ENV)
    assert [(w.message, w.field, w.line) for w in loaded.warnings] == [
        (p.message, p.field, None) for p in config.warnings
    ]


def test_jira_shorthand_needs_exactly_one_jira_connection(tmp_path: Path) -> None:
    kr = kr_yaml("k", "x") + "  initiatives:\n    - jira: PROD-1\n"
    write(tmp_path, {"connections.yaml": CONN, "a.yaml": mapping([objective_yaml("o", [kr])])})
    [problem] = errors(tmp_path)
    assert "needs exactly one jira connection (found 0)" in problem.message


def test_missing_directory(tmp_path: Path) -> None:
    [problem] = errors(tmp_path / "nope")
    assert "does not exist" in problem.message


def test_yaml_1_2_booleans_and_duplicate_keys(tmp_path: Path) -> None:
    kr = kr_yaml("k", "x").replace("title: KR k", "title: no")  # YAML 1.1 would make it False
    write(tmp_path, {"connections.yaml": CONN, "a.yaml": mapping([objective_yaml("o", [kr])])})
    config = loader.load(tmp_path, Registry.default(), environ=ENV)
    assert config.krs["k"].kr.title == "no"
    (tmp_path / "a.yaml").write_text("cycle: 2026-Q4\nobjectives: []\ncycle: 2026-Q3\n")
    [problem] = errors(tmp_path)
    assert problem.message == 'invalid YAML: duplicate key "cycle" (first at line 1)'
    assert (problem.line, problem.column) == (3, 1)


def test_a_missing_ca_bundle_is_reported_by_validate(tmp_path: Path) -> None:
    conn = CONN + "    ca_bundle: /nonexistent/corp-ca.pem\n"
    write(
        tmp_path,
        {"connections.yaml": conn, "a.yaml": mapping([objective_yaml("o", [kr_yaml("k", "x")])])},
    )
    [problem] = errors(tmp_path)
    assert problem.message == "ca_bundle /nonexistent/corp-ca.pem: no such file"
    assert problem.field == "connections.stats.ca_bundle"
    assert problem.line == 7


def test_key_results_written_alike_share_their_set_of_written_fields(tmp_path: Path) -> None:
    """Pydantic's per-instance set of written names was 9 MB per 10,000 key results."""
    krs = [kr_yaml("a", "x"), kr_yaml("b", "y"), kr_yaml("c", "z", unit="USD")]
    write(tmp_path, {"connections.yaml": CONN, "a.yaml": mapping([objective_yaml("o", krs)])})
    config = load(tmp_path)
    a, b, c = (config.krs[k] for k in "abc")
    assert a.kr.model_fields_set is b.kr.model_fields_set
    assert c.kr.model_fields_set == a.kr.model_fields_set | {"unit"}
    assert a.source is not None
    assert b.source is not None
    assert a.source.model_fields_set is b.source.model_fields_set
    # A copy with changes gets its own set; the shared one is left as it was.
    before = set(a.source.model_fields_set)
    changed = a.source.model_copy(update={"method": "POST"})
    assert "method" in changed.model_fields_set
    assert a.source.model_fields_set == before == b.source.model_fields_set
    assert "method" not in before


@pytest.mark.parametrize(
    ("text", "line", "column", "message"),
    [
        ("", 1, 1, "file is empty"),
        ("# only a comment\n\n# and another\n", 1, 1, "file is empty"),
        ("~\n", 1, 1, "the top level is null"),
        ("\n\nnull\n", 3, 1, "the top level is null"),
    ],
)
def test_an_empty_file_is_located(
    tmp_path: Path, text: str, line: int, column: int, message: str
) -> None:
    """Issue #16 point 8: these named the file but no line:col."""
    write(tmp_path, {"connections.yaml": CONN, "a.yaml": text})
    [problem] = errors(tmp_path)
    assert message in problem.message
    assert (problem.file, problem.line, problem.column) == (str(tmp_path / "a.yaml"), line, column)


def _objectives_bomb() -> str:
    lines = ['a0: &a0 ["x", "x", "x", "x", "x", "x", "x", "x", "x"]']
    lines += [f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
    return "\n".join(lines) + "\ncycle: 2026-Q4\nobjectives: *a9\n"


# Issue #16 points 3 and 7 through the loader `okrsync validate` and `run` use: each ran
# past 60 s and 2.6 GB, or ended in a traceback.
ONE_KR = mapping([objective_yaml("o", [kr_yaml("k", "x")])])
HOSTILE = {
    "bomb": (_objectives_bomb(), 5, "makes more than 50,000 nodes, expanded"),
    "refresh": (
        ONE_KR.replace("target: 30", "target: 30\n        refresh: 99999999999999999999d"),
        line_of(ONE_KR, "target: 30") + 1,
        "duration too long",
    ),
    "deep": ("cycle: " + "{a: " * 10_000 + "1" + "}" * 10_000 + "\n", 1, "nested deeper than 100"),
    "deep-list": ("cycle:\n  " + "- " * 2_000 + "1\n", 2, "nested deeper than 100"),
    "digits": (
        ONE_KR.replace("target: 30", "target: " + "9" * 5_000),
        line_of(ONE_KR, "target: 30"),
        "a number of 5,000 characters",
    ),
    "feb-30": (mapping([], cycle="2026-02-30"), 2, "day is out of range for month"),
    "recursive": ("a: &a [*a]\ncycle: 2026-Q4\n", 1, "inside its own anchor"),
    "dup-anchor": ("a: &a 1\nb: &a 2\ncycle: 2026-Q4\n", 2, "duplicate anchor &a"),
    "too-big": ("# " + "x" * (1024 * 1024) + "\ncycle: 2026\n", 1, "larger than 1 MiB"),
}


@pytest.mark.parametrize(("name"), list(HOSTILE))
def test_hostile_files_are_refused_quickly_at_their_line(tmp_path: Path, name: str) -> None:
    text, line, message = HOSTILE[name]
    write(tmp_path, {"connections.yaml": CONN, "a.yaml": text})
    began = time.monotonic()
    found = errors(tmp_path)
    assert time.monotonic() - began < 2
    [problem] = found
    assert message in problem.message
    assert (problem.file, problem.line) == (str(tmp_path / "a.yaml"), line)
    assert problem.column is not None


def test_the_fingerprint_is_of_the_bytes_of_every_mapping_file_and_connections_yaml() -> None:
    config = loader.load(EXAMPLES, Registry.default(), environ=example_environ())
    digest = hashlib.sha256(b"connections.yaml\0" + (EXAMPLES / "connections.yaml").read_bytes())
    for path in sorted(p for p in EXAMPLES.glob("*.yaml") if p.name != "connections.yaml"):
        digest.update(path.name.encode() + b"\0" + path.read_bytes())
    assert config.fingerprint == digest.hexdigest()[:16]


def test_an_edit_of_connections_yaml_alone_changes_the_fingerprint(tmp_path: Path) -> None:
    """The scheduler logs a new configuration, and /readyz names it, only when this moves."""
    files = {
        "connections.yaml": CONN,
        "o.yaml": mapping([objective_yaml("obj", [kr_yaml("a", "m")])]),
    }
    before = load(write(tmp_path, files)).fingerprint
    (tmp_path / "connections.yaml").write_text(CONN + "    timeout: 6\n")
    assert load(tmp_path).fingerprint != before


def test_a_flood_of_errors_lists_the_first_hundred_and_counts_the_rest(tmp_path: Path) -> None:
    write(
        tmp_path,
        {"connections.yaml": CONN, "a.yaml": "cycle: 2026\nobjectives: [" + "1, " * 150 + "]\n"},
    )
    found = errors(tmp_path)
    assert len(found) == loader.MAX_SHOWN + 1
    assert found[0].field == "objectives[0]"
    assert found[-1].message == "and 50 more error(s) from here on, not shown"
    assert (found[-1].field, found[-1].line) == ("objectives[100]", 2)


JIRA_CONN = (
    CONN
    + "  tracker:\n    type: jira\n    url: http://127.0.0.1:9\n    email: a@example.com\n    token: x\n"
)


@pytest.mark.parametrize(
    ("initiative", "resolved", "message"),
    [
        ("- jira: PROD-1", ("tracker", "PROD-1"), None),
        ("- {type: jira, issue: PROD-2}", ("tracker", "PROD-2"), None),
        ("- {connection: tracker, issue: PROD-3}", ("tracker", "PROD-3"), None),
        ("- jria: PROD-1", None, "did you mean 'jira'?"),
        ("- http: X-1", None, "http connections cannot report initiatives"),
        ("- {connection: stats, issue: X-1}", None, "connection 'stats' (http) cannot report initiatives"),
        ("- {connection: nope, issue: X-1}", None, "unknown connection 'nope'"),
        ("- {connection: tracker, type: jira, issue: X-1}", None, "an initiative is"),
        ("- {connection: tracker, isue: X-1}", None, "did you mean 'issue'?"),
    ],
)  # fmt: skip
def test_initiatives_name_any_connector_that_reports_them(
    tmp_path: Path, initiative: str, resolved: tuple[str, str] | None, message: str | None
) -> None:
    """Which connectors report initiatives is the connector's say (``Connector.initiatives``)."""
    kr = kr_yaml("k", "x") + f"  initiatives:\n    {initiative}\n"
    write(tmp_path, {"connections.yaml": JIRA_CONN, "a.yaml": mapping([objective_yaml("o", [kr])])})
    config, problems = loader.check(tmp_path, Registry.default(), environ=ENV)
    found = [p.message for p in problems if p.severity == "error"]
    if message is None:
        assert config is not None, found
        assert config.krs["k"].initiatives == (resolved,)
    else:
        assert any(message in m for m in found), found


ONE_FILE_MANY_PROBLEMS = """version: 1
cycle: 2026-Q4
objectives:
  - id: team
    title: Team objective
    owner: o@example.com
    parent: compnay
    key_results:
      - id: typo
        title: A typo'd field
        start: 0
        target: 10
        ownr: o@example.com
        source: {connection: stats, path: /a, value: $.v}
      - id: flat
        title: Start equals target
        start: 5
        target: 5
        source: {connection: stats, path: /b, value: $.v}
      - id: slow
        title: A bad refresh
        start: 0
        target: 10
        refresh: sometimes
        source: {connection: stats, path: /c, value: $.v}
      - id: wrong-conn
        title: An unknown connection
        start: 0
        target: 10
        source: {connection: statz, path: /d, value: $.v}
      - id: placeholder
        title: An unknown placeholder
        start: 0
        target: 10
        source: {connection: stats, path: "/e?from={cycle.begin}", value: $.v}
      - id: unclosed
        title: An unclosed placeholder
        start: 0
        target: 10
        source: {connection: stats, path: "/f?from={cycle.start&to=x", value: $.v}
      - id: wrong-place
        title: A cycle on a key result
        start: 0
        target: 10
        cycle: 2026-Q4
        source: {connection: stats, path: /g, value: $.v}
"""


def test_one_run_reports_every_problem_of_a_file(tmp_path: Path) -> None:
    directory = write(tmp_path, {"connections.yaml": CONN, "team.yaml": ONE_FILE_MANY_PROBLEMS})
    found = {(p.line, p.message) for p in errors(directory)}
    messages = [m for _, m in found]
    lines = ONE_FILE_MANY_PROBLEMS.splitlines()

    def line(needle: str) -> int:
        return next(n for n, text in enumerate(lines, start=1) if needle in text)

    assert (line("ownr:"), "unknown field 'ownr'; did you mean 'owner'?") in found
    flat = [m for m in messages if m.startswith("start equals target (5)")]
    assert flat == [
        "start equals target (5): progress would be undefined; "
        "for a value that must hold, use type: maintain with a target"
    ]
    assert (
        line("refresh: sometimes"),
        "invalid duration 'sometimes': write a number and a unit, like 30s, 15m, 1h, 1d",
    ) in found
    assert any(m.startswith("unknown connection 'statz'; did you mean 'stats'?") for m in messages)
    assert (line("parent: compnay"), "parent 'compnay' does not exist") in found
    assert any(m.startswith("unknown placeholder {cycle.begin}") for m in messages)
    assert any(
        m == "placeholder {cycle.start is not closed: write {cycle.start}" for m in messages
    ), messages
    assert (
        line("        cycle: 2026-Q4"),
        "unknown field 'cycle' here; it belongs on the file or an objective",
    ) in found


def test_a_parent_with_errors_of_its_own_is_not_called_missing(tmp_path: Path) -> None:
    parent = objective_yaml("company", [kr_yaml("c-kr", "m", start=5, target=5)])
    child = objective_yaml("team", [kr_yaml("t-kr", "m")], parent="c-kr")
    directory = write(tmp_path, {"connections.yaml": CONN, "okrs.yaml": mapping([parent, child])})
    messages = [p.message for p in errors(directory)]
    assert len(messages) == 1, messages
    assert messages[0].startswith("start equals target (5)")


def test_mapping_files_in_team_folders_are_loaded(tmp_path: Path) -> None:
    sales = mapping([objective_yaml("sales", [kr_yaml("s-kr", "m")])])
    support = mapping([objective_yaml("support", [kr_yaml("t-kr", "m")], parent="sales")])
    files = {"connections.yaml": CONN, "sales/q4.yaml": sales, "support/deep/q4.yml": support}
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    # A Kubernetes ConfigMap mount keeps the same files again in hidden folders; git its own.
    for hidden in ("..2026_12_03_10_00_00.123/q4.yaml", ".git/q4.yaml"):
        (tmp_path / hidden).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / hidden).write_text(sales, encoding="utf-8")
    config = load(tmp_path)
    assert sorted(config.krs) == ["s-kr", "t-kr"]
    assert config.krs["t-kr"].file == str(tmp_path / "support/deep/q4.yml")


def test_a_connections_file_in_a_team_folder_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "sales").mkdir()
    (tmp_path / "sales" / "connections.yaml").write_text(CONN, encoding="utf-8")
    write(
        tmp_path,
        {
            "connections.yaml": CONN,
            "okrs.yaml": mapping([objective_yaml("o", [kr_yaml("k", "m")])]),
        },
    )
    messages = [p.message for p in errors(tmp_path)]
    assert messages == [
        "connections.yaml belongs at the top of the mappings directory, not in sales/"
    ]


def test_a_manual_source_takes_nothing_else_and_defaults_to_a_weekly_refresh(
    tmp_path: Path,
) -> None:
    manual = "- id: nps\n  title: NPS\n  owner: o@x.io\n  start: 20\n  target: 40\n"
    krs = [
        manual + "  source: {manual: true}\n",
        manual.replace("nps", "nps2") + "  refresh: 1d\n  source: {manual: true}\n",
    ]
    ok = write(tmp_path / "ok", {"connections.yaml": CONN,
                                 "o.yaml": mapping([objective_yaml("obj", krs)])})  # fmt: skip
    config = load(ok)
    assert config.krs["nps"].manual
    assert config.krs["nps"].source is None
    assert config.krs["nps"].kr.refresh == timedelta(days=7)
    assert config.krs["nps2"].kr.refresh == timedelta(days=1)  # as written
    assert not [p for p in check(ok) if "source" in p.message]

    bad = [
        manual + "  source: {manual: true, connection: stats}\n",
        manual.replace("nps", "nps2") + "  source: {manual: false}\n",
    ]
    broken = write(tmp_path / "bad", {"connections.yaml": CONN,
                                      "o.yaml": mapping([objective_yaml("obj", bad)])})  # fmt: skip
    found = [p.message for p in errors(broken)]
    assert found == [
        "a manual source takes no other field (connection): values come from okrsync "
        "checkin, not a connection",
        "manual must be true (or leave it out)",
    ]
