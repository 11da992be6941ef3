"""The contract suite fails a connector that breaks its rules (so a green run means something).

A copy of the http connector that accepts unknown settings, puts its token
into error texts and is not the registered ``http`` is run through
ConnectorContract in a child pytest; the rules it breaks must fail, by name,
and the ones it keeps must pass.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

from tests.support import EXAMPLES

ROOT = EXAMPLES.parent

BROKEN = textwrap.dedent(
    '''
    from dataclasses import replace
    from typing import Any, ClassVar

    from pydantic import ConfigDict

    from connectors.http import CONNECTOR, HttpSettings
    from okrsync.demo.simulators import stats
    from okrsync.errors import MeasureError
    from okrsync.testing.connector_contract import WRONG_SECRET, ConnectorContract, Target


    class LaxSettings(HttpSettings):
        model_config = ConfigDict(extra="allow")  # breaks: unknown fields are taken


    class Leaky:
        """Says which token it sent in every error (breaks: secrets in error texts)."""

        def __init__(self, settings: Any, runtime: Any) -> None:
            self.inner = CONNECTOR.open(settings, runtime)
            self.token = settings.headers.get("Authorization", "")

        async def measure(self, source: Any) -> Any:
            try:
                return await self.inner.measure(source)
            except MeasureError as exc:
                raise type(exc)(f"{exc} (sent {self.token})") from None

        async def aclose(self) -> None:
            await self.inner.aclose()


    BROKEN = replace(CONNECTOR, settings_model=LaxSettings, open=Leaky)


    class TestBrokenContract(ConnectorContract):
        connector = BROKEN  # breaks: the registry's "http" is another object
        source: ClassVar[dict[str, Any]] = {
            "path": "/api/v1/metrics/annual_revenue?from={cycle.start}&to={cycle.end}",
            "value": "$.data.value",
        }
        secrets = ("headers",)
        query_path = r"/api/v1/metrics/annual_revenue"

        def serve(self, tmp_path):
            with stats.StatsSimulator(token=stats.DEMO_TOKEN) as sim:
                headers = {"Authorization": f"Bearer {stats.DEMO_TOKEN}"}
                yield Target({"type": "http", "url": sim.url, "headers": headers}, sim)

        def wrong_secret(self, settings):
            return {**settings, "headers": {"Authorization": f"Bearer {WRONG_SECRET}"}}
    '''
)


def test_a_connector_that_breaks_the_rules_fails_them(tmp_path: Path) -> None:
    (tmp_path / "test_broken_contract.py").write_text(BROKEN, encoding="utf-8")
    run = subprocess.run(
        [
            *(sys.executable, "-m", "pytest", "-q", "-rA", "-p", "no:cacheprovider"),
            *("-c", str(ROOT / "pyproject.toml"), "--rootdir", str(ROOT), str(tmp_path)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    outcome = {
        line.split("::")[-1].split(" ")[0]: line.split(" ")[0]
        for line in run.stdout.splitlines()
        if line.startswith(("PASSED", "FAILED", "SKIPPED", "ERROR"))
    }
    broken = {
        "test_registered_and_found_by_type",
        "test_settings_refuse_unknown_fields",
        "test_settings_json_schema_accepts_the_settings_and_refuses_unknown_fields",
        "test_wrong_secret_is_an_auth_error_that_names_no_secret",
        "test_5xx_storm_is_transient_after_the_retry_budget",
        "test_an_answer_slower_than_timeout_is_transient",
        "test_a_reset_connection_is_transient",
        "test_a_200_that_is_not_json_is_source_data_error",
    }
    kept = {
        "test_source_refuses_unknown_fields",
        "test_mapping_schema_has_the_source_form",
        "test_measures_a_finite_value_with_an_excerpt",
        "test_429_waits_as_long_as_retry_after_says",
        "test_aclose_twice_is_harmless",
    }
    assert {name: outcome.get(name) for name in broken} == dict.fromkeys(broken, "FAILED"), (
        run.stdout[-3000:]
    )
    assert {name: outcome.get(name) for name in kept} == dict.fromkeys(kept, "PASSED"), run.stdout[
        -3000:
    ]
    assert run.returncode == 1
    assert "a secret (Bea…) is in" in run.stdout or "a secret (dem…) is in" in run.stdout
