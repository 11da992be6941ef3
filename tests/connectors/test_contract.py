"""The connector contract suite (okrsync.testing) over all ten built-ins, each against its simulator.

Each class says only what is vendor-specific: how its simulator starts, the
settings that reach it, one source it answers, which fields are secrets and
where queries go. Everything checked is in ConnectorContract.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar

from connectors.amplitude import CONNECTOR as AMPLITUDE
from connectors.ga4 import CONNECTOR as GA4
from connectors.http import CONNECTOR as HTTP
from connectors.jira import CONNECTOR as JIRA
from connectors.mixpanel import CONNECTOR as MIXPANEL
from connectors.plausible import CONNECTOR as PLAUSIBLE
from connectors.posthog import CONNECTOR as POSTHOG
from connectors.prometheus import CONNECTOR as PROMETHEUS
from connectors.salesforce import CONNECTOR as SALESFORCE
from connectors.sql import CONNECTOR as SQL
from okrsync.demo.simulators import (
    amplitude,
    ga4,
    jira,
    mixpanel,
    plausible,
    posthog,
    prometheus,
    salesforce,
    stats,
    warehouse,
)
from okrsync.testing.connector_contract import WRONG_SECRET, ConnectorContract, Target


class TestAmplitudeContract(ConnectorContract):
    connector = AMPLITUDE
    source: ClassVar[dict[str, Any]] = {"event": "Purchase"}
    secrets = ("secret_key",)
    query_path = r"/api/2/events/segmentation"

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        with amplitude.AmplitudeSimulator() as sim:
            yield Target(
                {
                    "type": "amplitude",
                    "url": sim.url,
                    "api_key": amplitude.DEMO_API_KEY,
                    "secret_key": amplitude.DEMO_SECRET_KEY,
                },
                sim,
            )


class TestGa4Contract(ConnectorContract):
    connector = GA4
    source: ClassVar[dict[str, Any]] = {"metric": "activeUsers"}
    secrets = ("credentials",)
    query_path = rf"/v1beta/properties/{ga4.DEMO_PROPERTY}:runReport"

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        with ga4.Ga4Simulator() as sim:
            settings = {
                "type": "ga4",
                "url": sim.url,
                "credentials": sim.service_account_json(),
                "property": ga4.DEMO_PROPERTY,
            }
            yield Target(settings, sim)

    def wrong_secret(self, settings: dict[str, Any]) -> dict[str, Any]:
        """The demo account's key file, signed with a key Google does not know."""
        pem = ga4.new_key()[0]
        key_file = {**json.loads(settings["credentials"]), "private_key": pem}
        return {**settings, "credentials": json.dumps(key_file)}


class TestHttpContract(ConnectorContract):
    connector = HTTP
    source: ClassVar[dict[str, Any]] = {
        "path": "/api/v1/metrics/annual_revenue?from={cycle.start}&to={cycle.end}",
        "value": "$.data.value",
    }
    secrets = ("headers",)
    query_path = r"/api/v1/metrics/annual_revenue"

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        with stats.StatsSimulator(token=stats.DEMO_TOKEN) as sim:
            headers = {"Authorization": f"Bearer {stats.DEMO_TOKEN}"}
            yield Target({"type": "http", "url": sim.url, "headers": headers}, sim)

    def wrong_secret(self, settings: dict[str, Any]) -> dict[str, Any]:
        return {**settings, "headers": {"Authorization": f"Bearer {WRONG_SECRET}"}}


class TestJiraContract(ConnectorContract):
    connector = JIRA
    source: ClassVar[dict[str, Any]] = {"jql": "project = SUP", "aggregate": "count"}
    secrets = ("token",)
    query_path = r"/rest/api/2/search/jql"

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        email = "ops@example.com"
        with jira.JiraSimulator("cloud", email=email, token=jira.DEMO_TOKEN) as sim:
            settings = {
                "type": "jira",
                "url": sim.url,
                "flavor": "cloud",
                "email": email,
                "token": jira.DEMO_TOKEN,
            }
            yield Target(settings, sim)


class TestMixpanelContract(ConnectorContract):
    connector = MIXPANEL
    source: ClassVar[dict[str, Any]] = {"event": "Signed Up"}
    secrets = ("secret",)
    query_path = r"/api/query/segmentation"

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        with mixpanel.MixpanelSimulator() as sim:
            settings = {
                "type": "mixpanel",
                "url": sim.url,
                "username": mixpanel.DEMO_USERNAME,
                "secret": mixpanel.DEMO_SECRET,
                "project_id": mixpanel.DEMO_PROJECT_ID,
            }
            yield Target(settings, sim)


class TestPlausibleContract(ConnectorContract):
    connector = PLAUSIBLE
    source: ClassVar[dict[str, Any]] = {"metric": "pageviews"}
    secrets = ("api_key",)
    query_path = r"/api/v2/query"

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        with plausible.PlausibleSimulator() as sim:
            settings = {
                "type": "plausible",
                "url": sim.url,
                "api_key": plausible.DEMO_API_KEY,
                "site_id": plausible.DEMO_SITE_ID,
            }
            yield Target(settings, sim)


class TestPostHogContract(ConnectorContract):
    connector = POSTHOG
    source: ClassVar[dict[str, Any]] = {
        "hogql": "SELECT count() FROM events WHERE event = 'signed_up'"
    }
    secrets = ("api_key",)
    query_path = rf"/api/projects/{posthog.DEMO_PROJECT_ID}/query/"

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        with posthog.PostHogSimulator() as sim:
            settings = {
                "type": "posthog",
                "url": sim.url,
                "project_id": posthog.DEMO_PROJECT_ID,
                "api_key": posthog.DEMO_API_KEY,
            }
            yield Target(settings, sim)


class TestPrometheusContract(ConnectorContract):
    connector = PROMETHEUS
    source: ClassVar[dict[str, Any]] = {
        "promql": 'avg_over_time(probe_success{job="website"}[30d]) * 100'
    }
    secrets = ("password",)
    query_path = r"/api/v1/query"

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        with prometheus.PrometheusSimulator() as sim:
            settings = {
                "type": "prometheus",
                "url": sim.url,
                "username": prometheus.DEMO_USERNAME,
                "password": prometheus.DEMO_PASSWORD,
            }
            yield Target(settings, sim)


class TestSalesforceContract(ConnectorContract):
    connector = SALESFORCE
    source: ClassVar[dict[str, Any]] = {
        "soql": "SELECT COUNT() FROM Opportunity WHERE IsWon = true",
        "value": "totalSize",
    }
    secrets = ("password", "security_token")
    query_path = r"/services/data/v\d+\.\d/query/?"
    slow_timeout = 0.5  # TLS handshakes with the simulator take part of it

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        with salesforce.SalesforceSimulator() as sim:
            settings = {
                "type": "salesforce",
                "domain": sim.domain,
                "ca_bundle": str(sim.ca_file),
                "username": salesforce.DEMO_USERNAME,
                "password": salesforce.DEMO_PASSWORD,
                "security_token": salesforce.DEMO_SECURITY_TOKEN,
            }
            yield Target(settings, sim)


class TestSqlContract(ConnectorContract):
    connector = SQL
    source: ClassVar[dict[str, Any]] = {
        "sql": "SELECT COUNT(*) FROM subscriptions WHERE started_on <= {as_of}"
    }
    secrets = ()  # a SQLite file has no password; test_sql covers PostgreSQL's and MariaDB's
    query_path = None  # not HTTP: the fault table is skipped

    def serve(self, tmp_path: Path) -> Iterator[Target]:
        ctx = self.context()
        path = warehouse.seed(tmp_path / "warehouse.db", start=ctx.cycle.start, end=ctx.cycle.end)
        yield Target({"type": "sql", "url": warehouse.url_for(path)})
