"""Which plugin serves which ``type``: connectors for connections, publishers for outlets.

Built-ins come from explicit dicts (type → "module:attr", imported only when a
configuration uses that type): :data:`CONNECTOR_BUILTINS` for connectors,
:data:`PUBLISHER_BUILTINS` for publishers. Third-party plugins register
through the ``okrsync.connectors`` and ``okrsync.publishers`` entry-point
groups with the same form. The core never imports a plugin module by name.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator, Mapping
from importlib.metadata import entry_points
from typing import Generic, TypeVar

from okrsync.sdk.connector import Connector
from okrsync.sdk.publisher import PublisherType

ENTRY_POINT_GROUP = "okrsync.connectors"
PUBLISHER_GROUP = "okrsync.publishers"

# The built-in connectors, by string: the core never imports the connectors package.
CONNECTOR_BUILTINS: dict[str, str] = {
    "amplitude": "connectors.amplitude:CONNECTOR",
    "ga4": "connectors.ga4:CONNECTOR",
    "http": "connectors.http:CONNECTOR",
    "jira": "connectors.jira:CONNECTOR",
    "mixpanel": "connectors.mixpanel:CONNECTOR",
    "plausible": "connectors.plausible:CONNECTOR",
    "posthog": "connectors.posthog:CONNECTOR",
    "prometheus": "connectors.prometheus:CONNECTOR",
    "salesforce": "connectors.salesforce:CONNECTOR",
    "sql": "connectors.sql:CONNECTOR",
}
# The built-in publishers (okrsync/publish/<type>.py), listed the same way.
PUBLISHER_BUILTINS: dict[str, str] = {  # destinations: the OKR tools values are pushed into
    "asana": "okrsync.publish.destinations.asana:PUBLISHER",
    "notion": "okrsync.publish.destinations.notion:PUBLISHER",
    "okr-tracker": "okrsync.publish.destinations.okr_tracker:PUBLISHER",
    "quantive": "okrsync.publish.destinations.quantive:PUBLISHER",
    "sheets": "okrsync.publish.destinations.sheets:PUBLISHER",
    "tability": "okrsync.publish.destinations.tability:PUBLISHER",
    "webhook": "okrsync.publish.destinations.webhook:PUBLISHER",
}

CHANNEL_BUILTINS: dict[str, str] = {  # channels: where digests and alerts are posted
    "email": "okrsync.publish.channels.email:PUBLISHER",
    "slack": "okrsync.publish.channels.slack:PUBLISHER",
    "teams": "okrsync.publish.channels.teams:PUBLISHER",
    "webhook": "okrsync.publish.channels.webhook:PUBLISHER",
}

P = TypeVar("P", Connector, PublisherType)


class UnknownType(KeyError):
    """A configuration names a type nobody registered; the message lists the valid ones."""

    def __init__(self, name: str, known: list[str], what: str = "connection") -> None:
        super().__init__(name)
        self.name = name
        self.known = known
        self.what = what

    def __str__(self) -> str:
        known = ", ".join(self.known) or "none installed"
        return f"unknown {self.what} type {self.name!r}; known types: {known}"


UnknownConnectorType = UnknownType  # the name callers have used since the first release


class _Lazy(Mapping[str, P], Generic[P]):
    """A lazy mapping of type name → plugin, each imported on first use."""

    kind: type[P]
    what: str

    def __init__(self, targets: Mapping[str, str]) -> None:
        self._targets = dict(targets)
        self._loaded: dict[str, P] = {}

    @classmethod
    def _with(cls, builtins: Mapping[str, str], group: str) -> dict[str, str]:
        targets = dict(builtins)
        for ep in entry_points(group=group):
            targets.setdefault(ep.name, ep.value)
        return targets

    def _add(self, plugin: P) -> None:
        self._targets[plugin.type] = ""
        self._loaded[plugin.type] = plugin

    def __getitem__(self, name: str) -> P:
        if name not in self._targets:
            raise UnknownType(name, sorted(self._targets), self.what)
        if name not in self._loaded:
            target = self._targets[name]
            module_name, _, attr = target.partition(":")
            plugin = getattr(importlib.import_module(module_name), attr or self._default_attr)
            if not isinstance(plugin, self.kind):
                raise TypeError(f"{target} is not an {self.kind.__module__}.{self.kind.__name__}")
            if plugin.type != name:
                raise TypeError(f"{target} registers type {plugin.type!r}, not {name!r}")
            self._loaded[name] = plugin
        return self._loaded[name]

    _default_attr = "CONNECTOR"

    def targets(self) -> dict[str, str]:
        """Type name → ``module:attribute`` it is imported from ("" for one given in-process)."""
        return dict(self._targets)

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._targets))

    def __len__(self) -> int:
        return len(self._targets)


class Registry(_Lazy[Connector]):
    """Connection type → :class:`Connector`."""

    kind = Connector
    what = "connection"

    @classmethod
    def default(cls) -> Registry:
        return cls(cls._with(CONNECTOR_BUILTINS, ENTRY_POINT_GROUP))

    @classmethod
    def of(cls, *connectors: Connector) -> Registry:
        """A registry of given connectors (embedding, tests of third-party code)."""
        registry = cls({})
        for c in connectors:
            registry._add(c)
        return registry


class _Publishers(_Lazy[PublisherType]):
    kind = PublisherType
    what = "publisher"
    _default_attr = "PUBLISHER"


class PublisherRegistry(_Publishers):
    """Destination type → :class:`PublisherType`; ``channels`` maps channel types.

    The two sections are two namespaces (``type: webhook`` is a destination
    under ``destinations:`` and a channel under ``channels:``). A third-party
    plugin's entry point is offered in both; its ``section`` says where it
    belongs, and the loader says so when it is configured in the other.
    """

    def __init__(
        self, targets: Mapping[str, str], channels: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(targets)
        self.channels = _Publishers(channels or {})

    @classmethod
    def default(cls) -> PublisherRegistry:
        return cls(
            cls._with(PUBLISHER_BUILTINS, PUBLISHER_GROUP),
            cls._with(CHANNEL_BUILTINS, PUBLISHER_GROUP),
        )

    @classmethod
    def of(cls, *publishers: PublisherType) -> PublisherRegistry:
        """A registry of given publishers (embedding, tests of third-party code)."""
        registry = cls({})
        for p in publishers:
            registry.section(p.section)._add(p)
        return registry

    def section(self, name: str) -> _Lazy[PublisherType]:
        """The types configurable under ``destinations:`` or ``channels:``."""
        return self.channels if name == "channels" else self


__all__ = [
    "CHANNEL_BUILTINS",
    "CONNECTOR_BUILTINS",
    "ENTRY_POINT_GROUP",
    "PUBLISHER_BUILTINS",
    "PUBLISHER_GROUP",
    "PublisherRegistry",
    "Registry",
    "UnknownConnectorType",
    "UnknownType",
]
