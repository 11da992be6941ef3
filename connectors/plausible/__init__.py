"""The ``plausible`` connector; registered as ``connectors.plausible:CONNECTOR``."""

from connectors.plausible.connector import CONNECTOR

__all__ = ["CONNECTOR"]
