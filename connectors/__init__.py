"""Built-in connectors: one package per vendor, each exposing ``CONNECTOR``.

A connector imports only :mod:`okrsync.sdk` and :mod:`okrsync.errors` (the
``[tool.importlinter]`` contracts in pyproject.toml enforce it). To add one:
write ``connectors/<type>/`` exposing ``CONNECTOR = Connector(...)`` (see
:mod:`okrsync.sdk.connector`), list ``"<type>": "connectors.<type>:CONNECTOR"``
in :data:`okrsync.config.registry.CONNECTOR_BUILTINS`, a simulator in
:mod:`okrsync.demo.simulators` and its tests in ``tests/connectors/``.
Third-party connectors register through the ``okrsync.connectors``
entry-point group.
"""
