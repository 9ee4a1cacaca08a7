"""The opt-out registry's storage: developers' requests to leave the dataset, their verification, and
the set of owners and repositories every build and release must honour.

Storage only: the build step and the ingest scan live in :mod:`stackwright.curate.optout`, the release
workflow in :mod:`stackwright.release.registry`. ``from stackwright.registry import Registry`` loads
SQLAlchemy; the rest of the package does not, so build workers stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stackwright.registry.errors import RegistryError
from stackwright.registry.optout_set import OptOutSet
from stackwright.registry.request import OptOutRequest

if TYPE_CHECKING:
    from stackwright.registry.store import Registry

__all__ = ["OptOutRequest", "OptOutSet", "Registry", "RegistryError"]


def __getattr__(name: str) -> Any:
    if name == "Registry":
        from stackwright.registry.store import Registry

        return Registry
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
