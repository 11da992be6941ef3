"""Each simulator says which connection type it serves and how the demo starts it."""

from __future__ import annotations

import socket
from datetime import date
from pathlib import Path

import pytest

import okrsync.demo.simulators as simulators_package
from okrsync.config.registry import CONNECTOR_BUILTINS, Registry
from okrsync.demo.runner import simulators
from okrsync.demo.simulators.simulated import Simulated, Span

SPAN = Span(date(2026, 10, 1), date(2026, 12, 31))


def test_the_demo_finds_a_simulator_for_every_type_the_examples_use() -> None:
    found = simulators()
    assert sorted(found) == [
        "ga4", "http", "jira", "plausible", "posthog", "prometheus", "salesforce", "sql",
    ]  # fmt: skip
    assert set(found) <= set(CONNECTOR_BUILTINS)


@pytest.mark.parametrize("type_name", sorted(simulators()))
def test_a_demo_simulator_starts_answers_and_stops(type_name: str) -> None:
    sim = simulators()[type_name](SPAN)
    try:
        assert sim.environ  # the secrets the examples name
        assert all(sim.environ.values())
        settings_model = Registry.default()[type_name].settings_model
        unknown = set(sim.overrides) - set(settings_model.model_fields)
        assert not unknown, f"{type_name} overrides fields its settings do not have: {unknown}"
        if sim.server is not None:
            port = str(sim.server.port)
            assert any(port in str(v) for v in sim.overrides.values())  # pointed at it
            socket.create_connection(("127.0.0.1", sim.server.port), timeout=2).close()
    finally:
        sim.stop()
    if sim.server is not None:
        with pytest.raises(ConnectionRefusedError):
            socket.create_connection(("127.0.0.1", int(port)), timeout=2)


def test_the_warehouse_is_removed_when_the_demo_stops() -> None:
    sim = simulators()["sql"](SPAN)
    path = Path(sim.environ["WAREHOUSE_URL"].removeprefix("sqlite:///"))
    assert path.is_file()
    sim.stop()
    assert not path.parent.exists()


def test_a_new_simulator_module_is_found_by_its_own_word(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "acme.py").write_text(
        "from okrsync.demo.simulators.simulated import Simulated\n"
        'SERVES = "acme"\n'
        "def demo(span):\n"
        '    return Simulated(None, {"ACME_TOKEN": str(span.start)})\n'
    )
    (tmp_path / "_acme_data.py").write_text('SERVES = "hidden"\ndef demo(span): ...\n')
    (tmp_path / "helper.py").write_text('SERVES = "not-callable"\ndemo = 3\n')
    monkeypatch.setattr(
        simulators_package, "__path__", [*simulators_package.__path__, str(tmp_path)]
    )
    found = simulators()
    assert "acme" in found
    assert "hidden" not in found  # a private module is a helper
    assert "not-callable" not in found
    started = found["acme"](SPAN)
    assert isinstance(started, Simulated)
    assert started.environ == {"ACME_TOKEN": "2026-10-01"}
