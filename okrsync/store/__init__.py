"""The store: tables, migrations, the single-writer lock; one transaction per run."""
