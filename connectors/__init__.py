"""Built-in connectors, imported lazily by :mod:`okrsync.config.registry`.

To add one: write ``connectors/<type>.py`` exposing ``CONNECTOR =
Connector(...)`` (see :mod:`okrsync.sdk.connector`; reuse
:mod:`okrsync.sdk.http` for HTTP APIs) and add ``"<type>":
"connectors.<type>:CONNECTOR"`` below. Keeping the list explicit means a
broken or slow connector costs nothing until a connection uses its type.
Third-party connectors use the ``okrsync.connectors`` entry-point group.
"""

from __future__ import annotations

BUILTINS: dict[str, str] = {
    "amplitude": "connectors.amplitude:CONNECTOR",
    "ga4": "connectors.ga4:CONNECTOR",
    "http": "connectors.http:CONNECTOR",
    "jira": "connectors.jira:CONNECTOR",
    "mixpanel": "connectors.mixpanel:CONNECTOR",
    "plausible": "connectors.plausible:CONNECTOR",
    "posthog": "connectors.posthog:CONNECTOR",
    "prometheus": "connectors.prometheus:CONNECTOR",
    "salesforce": "connectors.salesforce:CONNECTOR",
    "sql": "connectors.sql:CONNECTOR",
}

__all__ = ["BUILTINS"]
