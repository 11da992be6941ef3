"""The ``prometheus`` connector; registered as ``connectors.prometheus:CONNECTOR``."""

from connectors.prometheus.connector import CONNECTOR

__all__ = ["CONNECTOR"]
