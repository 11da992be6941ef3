"""The ``ga4`` connector; registered as ``connectors.ga4:CONNECTOR``."""

from connectors.ga4.connector import CONNECTOR

__all__ = ["CONNECTOR"]
