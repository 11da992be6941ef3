"""Everything a connector or publisher may import, and nothing else.

Connectors: :mod:`okrsync.sdk.connector` lists the modules; publishers:
:mod:`okrsync.sdk.publisher`. The sdk itself imports only the domain,
:mod:`okrsync.errors` and the package version.
"""
