"""Releases honour the registry: verified opt-outs are left out and their requests marked applied.

``make_release_honouring_registry`` is what ``stackwright release`` and ``stackwright optout apply``
run. It reads the verified requests and the opt-out set in one go, writes the release without their
code (together with an opt-out list file when one is given), and then marks those requests applied
with the release's version. The release manifest records the registry's state (URL without password,
schema revision, requests by status, last audit id, digest of the entries) and how many requests it
applied; it never names who asked.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.registry.location import default_url, registry_url
from stackwright.registry.optout_set import NO_OPTOUTS, OptOutSet
from stackwright.release.manifest import next_version, read_release_manifest
from stackwright.release.optouts import NO_OPTOUTS as NO_LIST
from stackwright.release.optouts import OptOuts, read_optout_list

PAGE = 500


@dataclass(frozen=True)
class RegistryOptOuts:
    """The release writer's view of the registry's verified opt-outs, plus an optional list file."""

    optouts: OptOutSet = NO_OPTOUTS
    state: dict[str, Any] | None = None
    applied: int = 0  # verified requests this release applies
    listed: OptOuts = NO_LIST

    def excludes(self, repo: str) -> bool:
        return self.optouts.matches(repo) or self.listed.excludes(repo)

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "source": "registry" if self.state is not None else None,
            "entries": len(self.optouts),
            "sha256": self.optouts.sha256 if self.state is not None else None,
            "registry": self.state,
            "requests_applied": self.applied,
        }
        listed = self.listed.describe()
        if listed.get("source") is not None:
            out["list"] = listed
            if self.state is None:
                out.update(source=listed["source"], sha256=listed["sha256"], entries=listed["entries"])
        return out


def make_release_honouring_registry(
    dataset: Path,
    version: str,
    out: Path,
    *,
    db: str | None = None,
    exclude: Path | None = None,
    from_release: bool = False,
    progress: Callable[[str], None] | None = None,
    actor: str = "release",
) -> tuple[dict[str, Any], list[str]]:
    """Make the release; returns its manifest and the ids of the requests marked applied.

    ``db`` is the registry URL (None: ``$STACKWRIGHT_REGISTRY``, else the default SQLite file when it
    exists, else no registry). A registry that is configured but unusable raises RegistryError before
    anything is written.
    """
    from stackwright.release.writer import make_release

    listed = read_optout_list(exclude) if exclude is not None else NO_LIST
    url = registry_url(db)
    if url is None:
        manifest = make_release(dataset, version, out, optouts=RegistryOptOuts(listed=listed),
                                progress=progress, from_release=from_release)  # fmt: skip
        return manifest, []
    from stackwright.registry.store import Registry

    with Registry.open(url, create=False) as registry:
        # Ids first, then the set: a request verified in between is honoured now and marked next time.
        verified = _all_verified(registry)
        optouts, state = registry.optouts_with_state()
        chosen = RegistryOptOuts(optouts, state, len(verified), listed)
        manifest = make_release(dataset, version, out, optouts=chosen, progress=progress,
                                from_release=from_release)  # fmt: skip
        applied = registry.mark_applied(verified, version, actor=actor) if verified else []
    return manifest, applied


def apply_optouts(
    release: Path,
    out: Path,
    *,
    version: str | None = None,
    db: str | None = None,
    progress: Callable[[str], None] | None = None,
) -> tuple[str | None, dict[str, Any], list[str]]:
    """The next release of ``release`` without the code of verified opt-outs (``stackwright optout
    apply``): the version defaults to the next patch. Returns the earlier version, the new manifest and
    the ids of the requests marked applied."""
    previous = read_release_manifest(release).get("version")
    version = version or next_version(previous)  # type: ignore[arg-type]
    manifest, applied = make_release_honouring_registry(
        release, version, out, db=db or default_url(), from_release=True, progress=progress
    )
    return previous, manifest, applied


def _all_verified(registry: Any) -> list[str]:
    ids: list[str] = []
    while True:
        page = registry.list("verified", limit=PAGE, offset=len(ids))
        ids.extend(r.id for r in page)
        if len(page) < PAGE:
            return ids
