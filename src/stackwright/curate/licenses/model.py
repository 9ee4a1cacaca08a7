"""What license detection returns: matches of reference texts and a verdict for one text."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from stackwright.records import EVIDENCE_SPDX_HEADER

NOASSERTION = "NOASSERTION"

# Categories, as promised by `stackwright license detect`.
PERMISSIVE = "permissive"
WEAK_COPYLEFT = "weak-copyleft"
COPYLEFT = "copyleft"
RESTRICTED = "proprietary-or-restricted"
NO_LICENSE = "no-license"
UNKNOWN = "unknown"
CATEGORIES = (PERMISSIVE, WEAK_COPYLEFT, COPYLEFT, RESTRICTED, NO_LICENSE, UNKNOWN)

# Why a text got NOASSERTION.
EMPTY = "empty"
BINARY = "binary"
TOO_LARGE = "too_large"
UNDECODABLE = "undecodable"
NO_MATCH = "no_match"
UNMATCHED_TEXT = "unmatched_text"  # a known license plus text no reference explains (a modified license)
TIMEOUT = "timeout"

# Evidence kind of a file's own SPDX-License-Identifier header.
SPDX_HEADER = EVIDENCE_SPDX_HEADER


def join_spdx(expressions: list[str], operator: str) -> str:
    """The distinct expressions, in order, joined with ``AND`` or ``OR`` (parenthesised as needed)."""
    distinct: list[str] = []
    for e in expressions:
        if e not in distinct:
            distinct.append(e)
    if len(distinct) == 1:
        return distinct[0]
    other = " OR " if operator == "AND" else " AND "
    return f" {operator} ".join(f"({e})" if other in e else e for e in distinct)


@dataclass(frozen=True, slots=True)
class LicenseMatch:
    """One reference text found in a text."""

    spdx: str  # SPDX id (or LicenseRef-scancode-<key>) of the matched license or expression
    key: str  # the license database's key or expression
    rule: str  # which reference decided: "mit.LICENSE", "mit_12.RULE", "spdx-header", ...
    score: float  # similarity of the matched region to the reference, 0..1
    start_line: int  # 1-based, inclusive
    end_line: int

    def to_json(self) -> dict[str, Any]:
        return {
            "spdx": self.spdx,
            "rule": self.rule,
            "score": round(self.score, 3),
            "lines": [self.start_line, self.end_line],
        }


@dataclass(frozen=True, slots=True)
class TextDetection:
    """The verdict on one text: an SPDX expression, or NOASSERTION with a reason."""

    spdx: str
    matches: tuple[LicenseMatch, ...] = ()
    reason: str | None = None
    backend: str = "fast"
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def found(self) -> bool:
        return self.spdx != NOASSERTION

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"spdx": self.spdx, "backend": self.backend,
                               "matches": [m.to_json() for m in self.matches]}
        if self.reason:
            out["reason"] = self.reason
        return out
