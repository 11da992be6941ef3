"""Connector registry: explicit built-ins, third parties through entry points."""

from __future__ import annotations

import importlib
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest

import okrsync
from okrsync.config.registry import Registry, UnknownConnectorType
from okrsync.sdk.connector import Connector


def test_builtins_load_lazily_and_unknown_names_list_the_known() -> None:
    registry = Registry.default()
    assert "http" in registry
    assert isinstance(registry["http"], Connector)
    with pytest.raises(
        UnknownConnectorType, match=r"unknown connection type 'nope'; known types: .*http"
    ):
        registry["nope"]


@pytest.fixture
def plugin(tmp_path: Path) -> Iterator[str]:
    """A third-party connector installed as a distribution with an entry point."""
    (tmp_path / "okr_acme.py").write_text(
        textwrap.dedent(
            """
            from typing import Literal
            from okrsync.sdk.connector import ConnectionSettings, Connector, Reading, SourceBase

            class AcmeSettings(ConnectionSettings):
                type: Literal["acme"]

            class AcmeSource(SourceBase):
                widget: str

            class AcmeConnection:
                async def measure(self, source):
                    return Reading(value=42.0, raw=source.widget)
                async def aclose(self):
                    pass

            CONNECTOR = Connector("acme", AcmeSettings, AcmeSource, lambda s, r: AcmeConnection())
            """
        )
    )
    dist = tmp_path / "okr_acme-1.0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: okr-acme\nVersion: 1.0\n")
    (dist / "entry_points.txt").write_text("[okrsync.connectors]\nacme = okr_acme:CONNECTOR\n")
    sys.path.insert(0, str(tmp_path))
    importlib.invalidate_caches()
    try:
        yield "acme"
    finally:
        sys.path.remove(str(tmp_path))
        sys.modules.pop("okr_acme", None)


def test_third_party_connector_through_entry_point(plugin: str) -> None:
    registry = Registry.default()
    connector = registry[plugin]
    assert connector.type == "acme"
    assert connector.source_model.model_validate({"connection": "a", "widget": "w"})


def test_a_registration_under_the_wrong_name_is_refused() -> None:
    registry = Registry({"other": "connectors.http:CONNECTOR"})
    with pytest.raises(TypeError, match="registers type 'http', not 'other'"):
        registry["other"]


def test_public_api_names_exist() -> None:
    modules = ["domain.cycle", "sdk.connector", "errors", "domain.model", "domain.progress",
               "config.registry", "sdk.placeholders", "sdk.retry", "config.secrets",
               "store.database", "domain.units", "config.loader", "sync.plan", "sync.execute",
               "sync.assess", "sync.run", "domain.records",
               "publish.snapshot"]  # fmt: skip
    for name in modules:
        module = importlib.import_module(f"okrsync.{name}")
        assert module.__all__, name
        for public in module.__all__:
            assert hasattr(module, public), f"okrsync.{name}.{public}"
    assert okrsync.__version__
