"""Digests and alerts through real syncs into every built-in channel's receiver.

tests/publish/channels/ drive each channel alone with hand-made messages;
here the messages are the ones syncs make (stats simulator → SQLite → notify)
and each receiver checks its vendor's rules: Slack's Block Kit limits, a
Teams Workflows card (an invalid one would be a failed run), a real SMTP
server with STARTTLS and AUTH, a Standard Webhooks signature. Per channel: the
digest once per slot, a status change alerted once, nothing repeated.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest

from okrsync.config import loader
from okrsync.config.registry import Registry
from okrsync.demo.simulators.channels.slack import SlackWebhookSimulator
from okrsync.demo.simulators.channels.teams import TeamsWorkflowSimulator
from okrsync.demo.simulators.destinations.webhook import DEMO_SECRET, WebhookReceiver
from okrsync.demo.simulators.server import Fault
from okrsync.demo.simulators.stats import StatsSimulator
from okrsync.store.database import Store
from okrsync.testing.runtime import FAST
from tests.publish.channels.smtp_receiver import PASSWORD, USER, SmtpReceiver
from tests.support import NOW, TOKEN, connections_yaml, kr_yaml, mapping, objective_yaml, sync_now


@dataclass(frozen=True)
class Case:
    type: str
    start: Callable[[], AbstractContextManager[Any]]
    settings: Callable[[Any], dict[str, str]]  # YAML scalars; the secret is ${CHANNEL_SECRET}
    secret: Callable[[Any], str]
    titles: Callable[[Any], list[str]]  # the title of each message received, in order
    clean: Callable[[Any], bool]  # the receiver found nothing wrong


def _email_settings(smtp: SmtpReceiver) -> dict[str, str]:
    return {
        "host": smtp.host, "port": str(smtp.port), "security": "starttls",
        "username": USER, "password": "${CHANNEL_SECRET}", "sender": "okrsync@acme.test",
        "to": "[team@acme.test]", "ca_bundle": str(smtp.ca_bundle),
    }  # fmt: skip


CASES = [
    Case(
        "slack",
        SlackWebhookSimulator,
        lambda s: {"url": "${CHANNEL_SECRET}"},
        lambda s: s.endpoint,
        lambda s: [r.blocks[0]["text"]["text"] for r in s.received],
        lambda s: s.refusals == [],
    ),
    Case(
        "teams",
        TeamsWorkflowSimulator,
        lambda s: {"url": "${CHANNEL_SECRET}"},
        lambda s: s.endpoint,
        lambda s: [r.payload["attachments"][0]["content"]["body"][0]["text"] for r in s.received],
        lambda s: s.failed_runs == [],
    ),
    Case(
        "email",
        lambda: SmtpReceiver("starttls"),
        _email_settings,
        lambda s: PASSWORD,
        lambda s: [str(r.message["Subject"]).removeprefix("[okrsync] ") for r in s.received],
        lambda s: all(r.tls and r.login == USER for r in s.received),
    ),
    Case(
        "webhook",
        WebhookReceiver,
        lambda s: {"url": s.endpoint, "secret": "${CHANNEL_SECRET}"},
        lambda s: DEMO_SECRET,
        lambda s: [d.payload["data"]["title"] for d in s.received],
        lambda s: s.refused == [],
    ),
]


@pytest.fixture(params=CASES, ids=[c.type for c in CASES])
def case(request: pytest.FixtureRequest) -> Case:
    chosen: Case = request.param
    return chosen


@pytest.fixture
def world(case: Case, tmp_path: Path) -> Iterator[tuple[StatsSimulator, Any, loader.Config, Store]]:
    with (
        StatsSimulator(token=TOKEN, today=lambda: date(2026, 11, 20)) as stats,
        case.start() as receiver,
        Store.open(f"sqlite:///{tmp_path / 'okrsync.db'}") as st,
    ):
        lines = ["channels:", "  team:", f"    type: {case.type}"]
        lines += [f"    {k}: {v}" for k, v in case.settings(receiver).items()]
        lines += [
            '    digest: "0 9 * * *"',
            "    alerts: [status_change]",
            "    retry: {attempts: 2}",
        ]
        directory = tmp_path / "mappings"
        directory.mkdir()
        (directory / "connections.yaml").write_text(
            connections_yaml(stats.url) + "\n".join(lines) + "\n"
        )
        krs = [
            kr_yaml("tickets", "support_tickets_month"),
            kr_yaml("steps", "checkout_steps", start=9, target=6),
        ]
        (directory / "okrs.yaml").write_text(mapping([objective_yaml("support", krs)]))
        environ = {"TEST_STATS_TOKEN": TOKEN, "CHANNEL_SECRET": case.secret(receiver)}
        config = loader.load(directory, Registry.default(), environ=environ)
        yield stats, receiver, config, st


def test_the_digest_once_and_a_status_change_once(
    case: Case, world: tuple[StatsSimulator, Any, loader.Config, Store]
) -> None:
    stats, receiver, config, st = world
    first = sync_now(config, st, now=NOW, runtime=FAST)
    assert first.exit_code == 0, first.unpublished
    assert case.titles(receiver) == ["Weekly check-in, team: 15 Nov 2026"]

    stats.add_fault("/api/v1/metrics/checkout_steps", Fault.status(401), times=100)
    sync_now(config, st, now=NOW + timedelta(hours=2), runtime=FAST)
    titles = case.titles(receiver)
    assert len(titles) == 2
    assert titles[1].startswith("KR steps: ")
    assert titles[1].endswith(" → error")

    for hours in (4, 6):  # still failing, same slot: nothing more
        sync_now(config, st, now=NOW + timedelta(hours=hours), runtime=FAST)
    assert len(case.titles(receiver)) == 2
    assert case.clean(receiver)
    assert [n.status for n in st.notices("team")] == ["sent", "sent"]
