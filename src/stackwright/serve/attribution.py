"""Attribution of suggestions: does a completion repeat code of the release the model was trained on?

BigCode offered a membership test beside StarCoder; here it sits in the serving path. Every
completion is looked up in the release's attribution index (:mod:`stackwright.release.attribution`);
a suggestion that shares at least ``min_overlap`` consecutive characters (after whitespace
normalisation) with a released file carries the matches: repository, path, license and overlap.
With ``block_verbatim`` set, a suggestion that shares that many characters is withheld (its text
replaced by an empty string) and the response says so. Text shorter than the index can answer for
is reported as not checked.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.release.attribution import AttributionIndex, normalize
from stackwright.release.manifest import ATTRIBUTION_INDEX, ReleaseError, read_release_manifest

MAX_MATCHES = 5


@dataclass(frozen=True)
class Verdict:
    checked: bool
    matches: list[dict[str, Any]]
    withheld: bool
    reason: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"checked": self.checked, "withheld": self.withheld, "matches": self.matches}
        if self.reason:
            out["reason"] = self.reason
        return out


class Attributor:
    """Checks suggestions against one release's attribution index."""

    def __init__(self, release: Path, *, min_overlap: int | None = None,
                 block_verbatim: int | None = None) -> None:
        self.release = Path(release)
        manifest = read_release_manifest(self.release)
        self.version = manifest.get("version")
        try:
            self.index = AttributionIndex.open(self.release / ATTRIBUTION_INDEX)
        except (FileNotFoundError, ValueError) as exc:
            raise ReleaseError(f"{self.release}: no usable attribution index ({exc})") from None
        floor = self.index.min_query_chars
        wanted = min_overlap if min_overlap is not None else self.index.default_min_overlap
        self.min_overlap = max(floor, wanted)
        if block_verbatim is not None and block_verbatim < floor:
            raise ReleaseError(f"--block-verbatim must be at least {floor} characters (what the index "
                               "can answer for)")
        self.block_verbatim = block_verbatim

    def check(self, text: str) -> Verdict:
        query = normalize(text)
        if len(query) < self.index.min_query_chars:
            return Verdict(False, [], False, f"shorter than {self.index.min_query_chars} characters")
        needed = min(self.min_overlap, self.block_verbatim or self.min_overlap)
        found = self.index.query(text, min_overlap=needed, limit=MAX_MATCHES)
        withheld = self.block_verbatim is not None and any(
            m.overlap_chars >= self.block_verbatim for m in found)
        flagged = [m for m in found if m.overlap_chars >= min(self.min_overlap, len(query))]
        matches = [{"repo": m.repo, "path": m.path, "license": m.license, "overlap_chars": m.overlap_chars,
                    "overlap_fraction": round(m.overlap_fraction, 4), "exact": m.exact} for m in flagged]
        return Verdict(True, matches, withheld)
