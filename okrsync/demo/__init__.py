"""``okrsync demo``: the example company synced against the built-in simulators."""
