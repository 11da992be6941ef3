"""Simulators of the chat services okrsync posts digests and alerts to: real HTTP on 127.0.0.1.

Each checks a message as its vendor does (Slack's Block Kit limits, Teams'
Adaptive Card payload) and records what it accepted, so tests and ``okrsync
demo`` can show what arrived. Like the destinations' simulators they declare
no ``SERVES``: they serve channels, not connections.
"""
