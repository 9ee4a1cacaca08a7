"""Curation steps. Importing this package registers every step under its name."""

from stackwright.curate import empty as _empty  # noqa: F401  (registers "drop_empty")

DEFAULT_STEPS = ["drop_empty"]
