"""okrsync: key-result values pulled from the tools where the numbers live."""

__version__ = "0.1.0"

__all__ = ["__version__"]
