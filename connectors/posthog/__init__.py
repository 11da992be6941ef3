"""The ``posthog`` connector; registered as ``connectors.posthog:CONNECTOR``."""

from connectors.posthog.connector import CONNECTOR

__all__ = ["CONNECTOR"]
