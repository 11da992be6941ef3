"""Configuration: mapping files read with their positions, secrets, the connector registry, the JSON Schema."""
