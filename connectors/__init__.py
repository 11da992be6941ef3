"""Built-in connectors: one package per vendor, each exposing ``CONNECTOR``.

A connector imports only :mod:`okrsync.sdk` and :mod:`okrsync.errors` (the
``[tool.importlinter]`` contracts in pyproject.toml enforce it). To add one:
write ``connectors/<type>/`` exposing ``CONNECTOR = Connector(...)`` (see
:mod:`okrsync.sdk.connector`), list ``"<type>": "connectors.<type>:CONNECTOR"``
in :data:`okrsync.config.registry.CONNECTOR_BUILTINS`, a simulator in
:mod:`okrsync.demo.simulators`, a class in ``tests/connectors/test_contract.py``
(the rules every connector keeps: :mod:`okrsync.testing.connector_contract`)
and its vendor-specific tests in ``tests/connectors/test_<type>.py``.
Third-party connectors register through the ``okrsync.connectors``
entry-point group and run the same contract suite.
"""
