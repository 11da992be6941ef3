"""The ``mixpanel`` connector; registered as ``connectors.mixpanel:CONNECTOR``."""

from connectors.mixpanel.connector import CONNECTOR

__all__ = ["CONNECTOR"]
