"""The verified opt-outs a build or release honours, as a small picklable value.

Build workers receive this set, never a database connection, so every shard is filtered against the
same entries and the manifest can name them by digest without listing who opted out.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class OptOutSet:
    """Whole-owner opt-outs (``owner``) and single repositories (``owner/name``), lower-cased."""

    owners: frozenset[str] = field(default_factory=frozenset)
    repos: frozenset[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        # Stored lower-cased whatever the caller passed, so that matching never depends on it.
        object.__setattr__(self, "owners", frozenset(o.lower() for o in self.owners))
        object.__setattr__(self, "repos", frozenset(r.lower() for r in self.repos))

    def __len__(self) -> int:
        return len(self.owners) + len(self.repos)

    def matches(self, repo: str) -> bool:
        """Whether ``owner/name`` is opted out, by its owner or by itself (case-insensitive)."""
        name = repo.lower()
        return name in self.repos or name.split("/", 1)[0] in self.owners

    def reason(self, repo: str) -> str | None:
        """``"owner"`` or ``"repo"``: why ``repo`` is opted out (the owner wins); None when it is not."""
        name = repo.lower()
        if name.split("/", 1)[0] in self.owners:
            return "owner"
        if name in self.repos:
            return "repo"
        return None

    @property
    def sha256(self) -> str:
        """Digest of the sorted entries: two sets with the same entries have the same digest."""
        lines = sorted(self.owners) + sorted(self.repos)
        return hashlib.sha256("".join(f"{line}\n" for line in lines).encode()).hexdigest()

    def to_json(self) -> dict[str, Any]:
        return {"owners": sorted(self.owners), "repos": sorted(self.repos), "sha256": self.sha256}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> OptOutSet:
        return cls(frozenset(data.get("owners", ())), frozenset(data.get("repos", ())))


NO_OPTOUTS = OptOutSet()
