"""docs/destinations/<type>.md: one page per built-in destination, naming every setting.

A setting added to a destination's model without a row in its page's table
fails here, as does a configuration example that no longer loads.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from okrsync.config.registry import PUBLISHER_BUILTINS, PublisherRegistry

DOCS = Path(__file__).parents[2] / "docs" / "destinations"
REGISTRY = PublisherRegistry.default()
TYPES = sorted(PUBLISHER_BUILTINS)


def page(kind: str) -> str:
    return (DOCS / f"{kind}.md").read_text()


def test_every_page_is_a_builtin_destination() -> None:
    assert sorted(p.stem for p in DOCS.glob("*.md")) == TYPES


@pytest.mark.parametrize("kind", TYPES)
def test_the_settings_table_names_every_setting(kind: str) -> None:
    rows = [line for line in page(kind).splitlines() if line.startswith("| `")]
    named = {name for row in rows for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    fields = set(REGISTRY[kind].settings_model.model_fields)
    assert fields - named == set(), f"docs/destinations/{kind}.md lacks a row for these"


@pytest.mark.parametrize("kind", TYPES)
def test_the_configuration_example_validates(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    blocks = re.findall(r"```yaml\n(.*?)```", page(kind), re.S)
    examples = [yaml.safe_load(b) for b in blocks if "destinations:" in b]
    assert examples, f"docs/destinations/{kind}.md has no destinations: example"
    model = REGISTRY[kind].settings_model
    for example in examples:
        for settings in example["destinations"].values():
            # ${ENV} stands for a secret; any value of the right form will do here.
            filled = {k: _stand_in(k, v) for k, v in settings.items()}
            model.model_validate(filled)


def _stand_in(key: str, value: object) -> object:
    if not (isinstance(value, str) and value.startswith("${")):
        return value
    if key == "credentials":
        from okrsync.demo.simulators.destinations.sheets import SheetsSimulator

        with SheetsSimulator() as sim:  # a key file of the right form
            return sim.service_account_json()
    if key == "secret":
        from okrsync.demo.simulators.destinations.webhook import DEMO_SECRET

        return DEMO_SECRET
    return "stand-in-secret-0123456789"
