"""``stackwright attribute``: look a snippet (a model completion) up in a release's attribution index."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stackwright.release.attribution import AttributionIndex, AttributionMatch
from stackwright.release.manifest import ATTRIBUTION_INDEX, ReleaseError, read_release_manifest


def find_snippet(release: Path, text: str, *, min_overlap: int | None = None, limit: int = 20
                 ) -> tuple[dict[str, Any], list[AttributionMatch]]:
    """Where ``text`` appears in ``release``: the JSON answer and the matches, best first. A release
    without an index, a damaged index and a query too short to answer are a :class:`ReleaseError`."""
    version = read_release_manifest(release).get("version")
    try:
        index = AttributionIndex.open(release / ATTRIBUTION_INDEX)
        matches = index.query(text, min_overlap=min_overlap, limit=limit)
    except FileNotFoundError as exc:
        raise ReleaseError(f"{release}: no attribution index ({exc})") from None
    except ValueError as exc:
        raise ReleaseError(str(exc)) from None
    result = {"release": str(release), "version": version, "found": bool(matches),
              "query_chars": len(text), "matches": [m.to_json() for m in matches]}
    return result, matches
