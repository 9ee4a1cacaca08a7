"""A user's repositories across releases, as the look-up page shows them.

Releases are compared oldest to newest: a repository that was in an earlier release and is missing
from a later one stays listed under the releases that held it, and every later release shows it as
"removed in vX" (the first release without it), flagged when that release's manifest says an opt-out
removed it. A repository that comes back is simply listed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from stackwright.portal.releases import Release, UsernameIndex


@dataclass(frozen=True)
class Removed:
    name: str
    removed_in: str
    opted_out: bool


@dataclass(frozen=True)
class ReleaseView:
    release: Release
    repositories: list[tuple[str, int]]
    removed: list[Removed]


def user_history(releases: Sequence[Release], indexes: Sequence[UsernameIndex],
                 username: str) -> list[ReleaseView]:
    """One view per release, newest first (``releases`` oldest first, with their ``indexes``)."""
    views: list[ReleaseView] = []
    gone_since: dict[str, Release] = {}  # repository -> the first release without it
    present: set[str] = set()
    for release, index in zip(releases, indexes, strict=True):
        repositories = index.lookup(username)
        now = {name for name, _ in repositories}
        for name in present - now:
            gone_since[name] = release
        for name in now:
            gone_since.pop(name, None)
        removed = [Removed(name, since.version, name.lower() in since.optout_removed)
                   for name, since in sorted(gone_since.items())]
        views.append(ReleaseView(release, repositories, removed))
        present = now
    return views[::-1]
