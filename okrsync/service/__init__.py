"""The long-running service: scheduler, schedule parsing, health endpoints, settings, logging."""
