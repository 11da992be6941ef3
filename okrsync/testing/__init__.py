"""Test kit for code that plugs into okrsync: the connector contract suite and its helpers.

Needs pytest and jsonschema (``pip install 'okrsync[testing]'``); nothing in
okrsync imports this package at run time.
"""
