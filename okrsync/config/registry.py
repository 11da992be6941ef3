"""Which connector serves which connection ``type``.

Built-ins come from the explicit dict ``connectors.BUILTINS`` (type → "module:attr",
imported only when a connection of that type is used); third-party connectors
register through the ``okrsync.connectors`` entry-point group with the same
form. The core never imports a connector module by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points

from okrsync.sdk.connector import Connector

ENTRY_POINT_GROUP = "okrsync.connectors"


class UnknownConnectorType(KeyError):
    """A connection names a type nobody registered; the message lists the valid ones."""

    def __init__(self, name: str, known: list[str]) -> None:
        super().__init__(name)
        self.name = name
        self.known = known

    def __str__(self) -> str:
        return f"unknown connection type {self.name!r}; known types: {', '.join(self.known)}"


def _load(target: str) -> Connector:
    module_name, _, attr = target.partition(":")
    connector = getattr(importlib.import_module(module_name), attr or "CONNECTOR")
    if not isinstance(connector, Connector):
        raise TypeError(f"{target} is not an okrsync.sdk.connector.Connector")
    return connector


class Registry(Mapping[str, Connector]):
    """A lazy mapping of type name → :class:`Connector`."""

    def __init__(self, targets: Mapping[str, str]) -> None:
        self._targets = dict(targets)
        self._loaded: dict[str, Connector] = {}

    @classmethod
    def default(cls) -> Registry:
        from connectors import BUILTINS  # the package of built-ins, not a connector module

        targets = dict(BUILTINS)
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            targets.setdefault(ep.name, ep.value)
        return cls(targets)

    @classmethod
    def of(cls, *connectors: Connector) -> Registry:
        """A registry of given connectors (embedding, tests of third-party code)."""
        registry = cls({})
        for c in connectors:
            registry._targets[c.type] = ""
            registry._loaded[c.type] = c
        return registry

    def __getitem__(self, name: str) -> Connector:
        if name not in self._targets:
            raise UnknownConnectorType(name, sorted(self._targets))
        if name not in self._loaded:
            connector = _load(self._targets[name])
            if connector.type != name:
                raise TypeError(
                    f"{self._targets[name]} registers type {connector.type!r}, not {name!r}"
                )
            self._loaded[name] = connector
        return self._loaded[name]

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._targets))

    def __len__(self) -> int:
        return len(self._targets)


__all__ = ["ENTRY_POINT_GROUP", "Registry", "UnknownConnectorType"]
