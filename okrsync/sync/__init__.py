"""The sync stages: plan → execute → assess, and the run that stores and publishes."""
