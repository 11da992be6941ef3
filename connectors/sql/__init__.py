"""The ``sql`` connector; registered as ``connectors.sql:CONNECTOR``."""

from connectors.sql.connector import CONNECTOR

__all__ = ["CONNECTOR"]
