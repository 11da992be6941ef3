"""The ``jira`` connector; registered as ``connectors.jira:CONNECTOR``."""

from connectors.jira.connector import CONNECTOR

__all__ = ["CONNECTOR"]
