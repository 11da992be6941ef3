"""docs/channels/<type>.md: one page per built-in channel, naming every setting."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from okrsync.config.registry import CHANNEL_BUILTINS, PublisherRegistry

DOCS = Path(__file__).parents[2] / "docs" / "channels"
REGISTRY = PublisherRegistry.default().channels
TYPES = sorted(CHANNEL_BUILTINS)


def test_every_page_is_a_builtin_channel() -> None:
    assert sorted(p.stem for p in DOCS.glob("*.md")) == TYPES


@pytest.mark.parametrize("kind", TYPES)
def test_the_settings_table_names_every_setting(kind: str) -> None:
    text = (DOCS / f"{kind}.md").read_text()
    rows = [line for line in text.splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    fields = set(REGISTRY[kind].settings_model.model_fields)
    assert fields - named == set(), f"docs/channels/{kind}.md lacks a row for these"
    assert REGISTRY[kind].section == "channels"
