"""The release manifest: its format name, version rules, file names, and how to read one back.

A release is identified by a semantic version (``v1.2.0``, ``v2.0.0-rc.1``) so that users can cite
exactly the data a model was trained on, and tools can order releases.
"""

from __future__ import annotations

import json
import re
from pathlib import Path, PurePosixPath
from typing import Any

from stackwright.errors import StackwrightError

FORMAT = "stackwright-release"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
DATA_DIR = "data"
USERNAMES_INDEX = "index/usernames.parquet"
ATTRIBUTION_INDEX = "index/attribution"  # a folder: see stackwright.release.attribution
DATACARD_MD = "datacard.md"
DATACARD_HTML = "datacard.html"

# vMAJOR.MINOR.PATCH with an optional pre-release (semver 2.0 without build metadata: "+" has no
# place in a folder name that people type).
_NUMBER = r"(?:0|[1-9][0-9]*)"
_PRE_ID = r"(?:0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)"
_VERSION = re.compile(rf"v({_NUMBER})\.({_NUMBER})\.({_NUMBER})(?:-({_PRE_ID}(?:\.{_PRE_ID})*))?")


class ReleaseError(StackwrightError):
    """A release that cannot be made or read; the message is shown to the user as one line."""


def version_key(version: str) -> tuple[Any, ...]:
    """Semantic-version precedence: v0.10.0 > v0.9.0, and v1.0.0 > v1.0.0-rc.2 > v1.0.0-rc.1.

    Pre-release identifiers compare numerically when numeric, as text otherwise, numbers first, and a
    longer list wins when one is a prefix of the other (semver 2.0, section 11). Names that are not
    versions sort before every version.
    """
    match = _VERSION.fullmatch(version)
    if match is None:
        return (0, version)
    major, minor, patch, pre = match.groups()
    core = (int(major), int(minor), int(patch))
    if pre is None:
        return (1, core, (1,))
    ids = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (1, core, (0, ids))


def next_version(version: str) -> str:
    """The next patch version (``v1.2.3`` -> ``v1.2.4``; a pre-release ``v1.3.0-rc.1`` -> ``v1.3.0``)."""
    match = _VERSION.fullmatch(version) if isinstance(version, str) else None
    if match is None:
        raise ReleaseError(f"cannot derive the next version from {ascii(version)[:60]}; give --version")
    major, minor, patch, pre = match.groups()
    return f"v{major}.{minor}.{patch}" if pre is not None else f"v{major}.{minor}.{int(patch) + 1}"


def is_version(version: object) -> bool:
    return isinstance(version, str) and _VERSION.fullmatch(version) is not None


def check_version(version: str) -> str:
    """``version`` when it is ``vX.Y.Z`` or ``vX.Y.Z-pre.release``; a ReleaseError otherwise."""
    if not is_version(version):
        shown = ascii(version)[:60]
        raise ReleaseError(
            f"invalid release version {shown}: use vMAJOR.MINOR.PATCH, e.g. v1.0.0 or v1.1.0-rc.1"
        )
    return version


def load_manifest(folder: Path, missing_folder: str, missing_manifest: str) -> Any:
    """The parsed ``manifest.json`` of a dataset or release folder; a ReleaseError with the given
    messages when the folder or its manifest is missing, or naming the manifest when it is unreadable."""
    path = folder / MANIFEST
    if not folder.is_dir():
        raise ReleaseError(missing_folder)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ReleaseError(missing_manifest) from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise ReleaseError(f"{path}: unreadable manifest ({type(exc).__name__})") from None


def read_release_manifest(release: Path) -> dict[str, Any]:
    """The manifest of a release folder; a ReleaseError when there is no release there."""
    data = load_manifest(release, f"{release}: no such release folder",
                         f"{release} is not a stackwright release (no {MANIFEST})")
    if not isinstance(data, dict) or data.get("format") != FORMAT:
        raise ReleaseError(f"{release} is not a stackwright release ({MANIFEST} has no format {FORMAT!r})")
    return data


def release_summary(release: Path, manifest: dict[str, Any]) -> dict[str, Any]:
    """What ``stackwright release --json`` prints about a release just made."""
    return {"release": str(release), "version": manifest["version"], "rows": manifest["rows"],
            "repositories": manifest["repositories"], "content_bytes": manifest["content_bytes"],
            "file_bytes": manifest["file_bytes"], "shards": len(manifest["shards"]),
            "optouts": manifest["optouts"], "datacard": str(Path(release) / DATACARD_HTML)}


def username_of(repo: str) -> str:
    """The lower-cased owner of an ``owner/name`` repository (the whole name when it has no owner)."""
    return repo.split("/", 1)[0].lower()


def is_inside_path(name: object) -> bool:
    """Whether a path from a manifest stays inside the release: relative, "/"-separated, no "..".

    Manifests may come from anywhere; a shard path like ``../../etc/passwd`` must never be opened.
    """
    if not isinstance(name, str) or not name or name.startswith("/") or "\\" in name or "\x00" in name:
        return False
    return all(part not in (".", "..") for part in PurePosixPath(name).parts)
