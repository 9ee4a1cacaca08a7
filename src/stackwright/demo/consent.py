"""The demo's consent stage: an opt-out filed, verified and applied in a second release.

The demo keeps its own opt-out registry, a SQLite database in ``OUT/registry/registry.sqlite``
(never the user's default one). One real repository of v0.1.0 (a ``pypi/<name>`` one, or the one
asked for) files an opt-out request there, a maintainer verifies it, and the release path that
honours the registry (:func:`stackwright.release.registry.apply_optouts`, what ``stackwright optout
apply`` runs) makes v0.2.0 without its code and marks the request applied. The stage then counts the
repository's rows in both releases: v0.1.0 had them, v0.2.0 must not.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from stackwright.demo.stages import DemoError, Markers, Say, StageReport, digest, resumable
from stackwright.files import sha256_file
from stackwright.release.manifest import read_release_manifest

OPTOUT_RELEASE = "v0.2.0"
REGISTRY_FOLDER = "registry"
REGISTRY_FILE = "registry.sqlite"
CONTACT = "demo@example.org"
ACTOR = "demo"
MIN_FILES = 3  # the repository chosen holds at least this many files (where one does)


def registry_url(out_dir: Path) -> str:
    return f"sqlite:///{(Path(out_dir) / REGISTRY_FOLDER / REGISTRY_FILE).resolve()}"


def repository_rows(release: Path) -> Counter[str]:
    """Rows per repository of a release's shards."""
    import pyarrow.parquet as pq

    manifest = read_release_manifest(release)
    counts: Counter[str] = Counter()
    for shard in manifest.get("shards", []):
        column = pq.read_table(Path(release) / shard["path"], columns=["repo"]).column("repo")
        counts.update(column.to_pylist())
    return counts


def choose_repository(counts: Counter[str], wanted: str | None = None) -> str:
    """``wanted`` when the release holds it, else the ``pypi/`` repository with the fewest files of
    those with at least :data:`MIN_FILES` (the name breaks ties): a real one whose leaving the
    dataset costs little."""
    if wanted is not None:
        found = {r.lower(): r for r in counts}.get(wanted.lower())
        if found is None:
            raise DemoError(f"--optout-repo {wanted}: v0.1.0 holds no such repository (it has "
                            f"{len(counts):,}, e.g. {', '.join(sorted(counts)[:3])})")
        return found
    pypi = sorted((n, r) for r, n in counts.items() if r.startswith("pypi/"))
    if not pypi:
        raise DemoError("v0.1.0 holds no pypi/ repository to opt out; give --optout-repo OWNER/NAME or "
                        "--skip optout")
    big = [item for item in pypi if item[0] >= MIN_FILES]
    return (big or pypi[::-1])[0][1]


def run_optout(out_dir: Path, first: Path, markers: Markers, say: Say, *,
               wanted: str | None = None) -> tuple[Path, StageReport]:
    """File, verify and apply an opt-out of one repository of ``first``; returns v0.2.0's folder."""
    from stackwright.release.writer import remove_release

    out_dir = Path(out_dir)
    second = out_dir / "release" / OPTOUT_RELEASE
    database = out_dir / REGISTRY_FOLDER / REGISTRY_FILE
    key = digest("optout", sha256_file(Path(first) / "manifest.json"), wanted)

    def run() -> dict[str, Any]:
        from stackwright.registry import Registry
        from stackwright.release.registry import apply_optouts

        before = repository_rows(first)
        repo = choose_repository(before, wanted)
        owner = repo.split("/", 1)[0]
        remove_release(second)
        database.unlink(missing_ok=True)  # a fresh registry: the demo's request is its only one
        url = registry_url(out_dir)
        with Registry.open(url, create=True) as registry:
            request = registry.request_optout(owner, [repo], CONTACT, actor=ACTOR)
            say(f"demo: opt-out request {request.id} for {repo} ({before[repo]:,} files in "
                f"{first.name}): {request.status}")
            request = registry.verify(request.id, actor=f"{ACTOR}:maintainer")
        say(f"demo: request {request.id} {request.status} by a maintainer; releasing {OPTOUT_RELEASE} "
            "without it")
        previous, manifest, applied = apply_optouts(first, second, version=OPTOUT_RELEASE, db=url)
        after = repository_rows(second)
        if after.get(repo):
            raise DemoError(f"{OPTOUT_RELEASE} still holds {after[repo]:,} files of {repo}, which opted out")
        with Registry.open(url, create=False) as registry:
            status = registry.get(request.id)
        removed = manifest["optouts"]["removed"]
        return {
            "repo": repo, "request": request.id, "status": status.status if status else None,
            "applied": applied, "previous": previous, "registry": str(database),
            "rows_before": before[repo], "rows_after": after.get(repo, 0),
            "removed": removed,
            "figures": {"repository": repo, f"files in {Path(first).name}": before[repo],
                        f"files in {OPTOUT_RELEASE}": after.get(repo, 0), "rows": manifest["rows"],
                        "request": status.status if status else "?"},
        }

    report, _ = resumable(markers, "optout", key, [second / "manifest.json", database], run, say,
                               OPTOUT_RELEASE)
    return second, report
