"""Alembic migrations of the opt-out registry, run programmatically (see stackwright.registry.migrate)."""
