"""The ``salesforce`` connector; registered as ``connectors.salesforce:CONNECTOR``."""

from connectors.salesforce.connector import CONNECTOR

__all__ = ["CONNECTOR"]
