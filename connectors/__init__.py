"""Built-in connectors: one package per vendor, each exposing ``CONNECTOR``.

A connector imports only :mod:`okrsync.sdk` and :mod:`okrsync.errors` (the
``[tool.importlinter]`` contracts in pyproject.toml enforce it). To add one:
write ``connectors/<type>/`` exposing ``CONNECTOR = Connector(...)`` (see
:mod:`okrsync.sdk.connector`), list ``"<type>": "connectors.<type>:CONNECTOR"``
in :data:`okrsync.config.registry.CONNECTOR_BUILTINS`, and run the contract
suite (:mod:`okrsync.testing.connector_contract`) over it. Third-party
connectors register through the ``okrsync.connectors`` entry-point group.
"""
