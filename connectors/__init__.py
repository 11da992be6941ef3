"""Built-in connectors, imported lazily by :mod:`okrsync.registry`.

To add one: write ``connectors/<type>.py`` exposing ``CONNECTOR =
Connector(...)`` (see :mod:`okrsync.connector`; reuse
:mod:`okrsync.http_client` for HTTP APIs) and add ``"<type>":
"connectors.<type>:CONNECTOR"`` below. Keeping the list explicit means a
broken or slow connector costs nothing until a connection uses its type.
Third-party connectors use the ``okrsync.connectors`` entry-point group.
"""

from __future__ import annotations

BUILTINS: dict[str, str] = {
    "http": "connectors.http:CONNECTOR",
    "jira": "connectors.jira:CONNECTOR",
    "salesforce": "connectors.salesforce:CONNECTOR",
}

__all__ = ["BUILTINS"]
