"""The registry's one error type, importable without SQLAlchemy (build workers and the CLI use it)."""

from __future__ import annotations

from stackwright.errors import StackwrightError


class RegistryError(StackwrightError, ValueError):
    """A request the registry refuses, or a registry that cannot be used.

    The message is shown to the user as one line. It never holds a contact address or a database
    password.
    """
