"""A snapshot of one opt-out request: a plain value, detached from any database session.

The portal and the CLI only ever see these. ``contact`` and ``challenge`` are left out of ``repr``
so that a request logged by accident shows neither, and :meth:`OptOutRequest.public_json` is what may
be shown to anyone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# The file at a repository's root whose challenge token proves that the requester controls the owner.
OPTOUT_FILE = ".stackwright-optout"


@dataclass(frozen=True)
class OptOutRequest:
    id: str
    username: str
    scope: str  # "all" or "repositories"
    entries: list[str]  # ["owner"] for "all", else ["owner/name", ...], lower-cased and sorted
    status: str  # pending, verified, rejected or applied
    verifier: str | None
    challenge: str = field(repr=False)
    created_at: datetime
    updated_at: datetime
    applied_release: str | None
    reason: str | None
    decided_by: str | None = None
    contact: str = field(default="", repr=False)  # PII: shown to administrators only

    def public_json(self) -> dict[str, Any]:
        """What anyone may see: no contact, no challenge token, no reviewer."""
        return {
            "id": self.id,
            "username": self.username,
            "scope": self.scope,
            "entries": list(self.entries),
            "status": self.status,
            "verifier": self.verifier,
            "created_at": self.created_at.isoformat(),
            "updated_at": self.updated_at.isoformat(),
            "applied_release": self.applied_release,
            "reason": self.reason,
        }

    def admin_json(self, *, contact: bool = False) -> dict[str, Any]:
        """For administrators: the challenge and reviewer too, and the contact only when asked."""
        data = {**self.public_json(), "challenge": self.challenge, "decided_by": self.decided_by}
        if contact:
            data["contact"] = self.contact
        return data
