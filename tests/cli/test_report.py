"""``okrsync report``: the digest printed as Markdown, text, HTML or JSON, or posted to a channel."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

from okrsync.cli.app import app
from okrsync.demo.simulators.destinations.webhook import DEMO_SECRET, WebhookReceiver
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from tests.support import TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml

ENV = {"TEST_STATS_TOKEN": TOKEN, "HOOK_SECRET": DEMO_SECRET, "OKRSYNC_LOG_FORMAT": "json"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args), env=ENV)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def world(tmp_path: Path) -> Iterator[tuple[list[str], WebhookReceiver, str]]:
    with (
        StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as sim,
        WebhookReceiver() as hook,
    ):
        krs = [
            kr_yaml("tickets", "support_tickets_month"),
            kr_yaml("steps", "checkout_steps", start=9, target=6),
        ]
        channel = (
            f"channels:\n  team:\n    type: webhook\n    url: {hook.endpoint}\n"
            "    secret: ${HOOK_SECRET}\n    objectives: {team: support}\n"
        )
        mappings = tmp_path / "mappings"
        mappings.mkdir()
        (mappings / "connections.yaml").write_text(connections_yaml(sim.url) + channel)
        objectives = [
            objective_yaml("support", krs, team="support"),
            objective_yaml("sales", [kr_yaml("deals", "checkout_steps")], team="sales"),
        ]
        (mappings / "okrs.yaml").write_text(mapping(objectives))
        url = f"sqlite:///{tmp_path / 's.db'}"
        where = ["--mappings", str(mappings), "--store", url]
        assert run("sync", *where)[0] == 0
        yield where, hook, url


def test_report_prints_the_digest_as_markdown(
    world: tuple[list[str], WebhookReceiver, str],
) -> None:
    where, hook, _ = world
    code, out, _ = run("report", *where)
    assert code == 0
    assert out.startswith("# Weekly check-in, all objectives: ")
    assert "## Objectives" in out
    assert "- **Objective support** — " in out
    assert "- **Objective sales** — " in out
    assert hook.received == []  # printing posts nothing


def test_report_for_a_channel_speaks_of_its_objectives_in_json(
    world: tuple[list[str], WebhookReceiver, str],
) -> None:
    where, _, _ = world
    code, out, _ = run("report", "--channel", "team", "--format", "json", *where)
    assert code == 0
    message = json.loads(out)
    assert message["kind"] == "digest"
    names = [i["text"] for s in message["sections"] for i in s["items"]]
    assert "Objective support" in names
    assert "Objective sales" not in names
    code, text, _ = run("report", "--channel", "team", "--format", "text", *where)
    assert "Objectives\n----------\n* Objective support: " in text
    code, html, _ = run("report", "--channel", "team", "--format", "html", *where)
    assert code == 0
    assert html.lstrip().lower().startswith("<!doctype html>")
    assert "Objective support" in html


def test_report_post_sends_it_once_and_the_next_digest_compares_with_it(
    world: tuple[list[str], WebhookReceiver, str],
) -> None:
    where, hook, url = world
    code, out, err = run("report", "--channel", "team", "--post", *where)
    assert code == 0, err
    assert out.startswith("posted the digest to team: msg_")
    [delivery] = hook.received
    assert delivery.payload["type"] == "okrsync.digest"
    with Store.open(url) as st:
        [notice] = st.notices("team")
    assert (notice.kind, notice.status) == ("digest", "sent")
    code, again, _ = run("report", "--channel", "team", *where)
    assert "since " in again  # compared with the digest just posted


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--channel", "nope"], "unknown channel 'nope'; channels with digests: team"),
        (["--post"], "--post needs --channel"),
        (["--format", "pdf"], "use markdown, text, html"),
    ],
)
def test_report_refuses_what_it_cannot_do(
    world: tuple[list[str], WebhookReceiver, str], args: list[str], says: str
) -> None:
    where, hook, _ = world
    code, _, err = run("report", *args, *where)
    assert code != 0
    assert says in err
    assert hook.received == []
