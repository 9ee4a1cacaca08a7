"""Compare two releases: which repositories and files came or went, and why repositories went.

Only the ``repo`` and ``path`` columns are read (never the content), and the set differences are
Arrow hash joins, so comparing releases of millions of files needs memory for their names only.
A removed repository gets a reason from release B's manifest: ``opt-out`` when B's opt-outs removed
it, ``filtered`` when B's sources read it but no file of it survived the steps, ``not in source``
when B's sources did not have it, else ``removed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from stackwright.records import PATH, REPO
from stackwright.release.manifest import ReleaseError, is_inside_path, read_release_manifest

OPT_OUT = "opt-out"
FILTERED = "filtered"
NOT_IN_SOURCE = "not in source"
REMOVED = "removed"
READ_ROWS = 65_536
_NAMES = pa.schema([pa.field(REPO, pa.string()), pa.field(PATH, pa.string())])


def diff_releases(a: Path, b: Path, *, limit: int = 100) -> dict[str, Any]:
    """What changed from release ``a`` to release ``b``; lists hold at most ``limit`` items each."""
    if limit < 0:
        raise ReleaseError("the list limit must be zero or more")
    ma, mb = read_release_manifest(Path(a)), read_release_manifest(Path(b))
    names_a, names_b = _names(Path(a), ma), _names(Path(b), mb)
    repos_a, repos_b = _repo_files(names_a), _repo_files(names_b)

    reasons = _reasons(mb)
    gone = sorted(set(repos_a) - set(repos_b))
    came = sorted(set(repos_b) - set(repos_a))
    removed_repos = [{"repo": r, "files": repos_a[r], "reason": reasons(r)} for r in gone]
    by_reason: dict[str, int] = {}
    for item in removed_repos:
        by_reason[item["reason"]] = by_reason.get(item["reason"], 0) + 1

    files_removed = _sorted(names_a.join(names_b, keys=[REPO, PATH], join_type="left anti"))
    files_added = _sorted(names_b.join(names_a, keys=[REPO, PATH], join_type="left anti"))
    return {
        "a": _side(Path(a), ma, names_a.num_rows, len(repos_a)),
        "b": _side(Path(b), mb, names_b.num_rows, len(repos_b)),
        "repositories": {
            "added": _listed([{"repo": r, "files": repos_b[r]} for r in came], limit),
            "removed": _listed(removed_repos, limit),
            "removed_by_reason": dict(sorted(by_reason.items())),
        },
        "files": {
            "added": _listed(files_added, limit),
            "removed": _listed(files_removed, limit),
            "unchanged": names_a.num_rows - files_removed.num_rows,
        },
        "limit": limit,
    }


def _side(path: Path, manifest: dict[str, Any], files: int, repositories: int) -> dict[str, Any]:
    return {
        "release": str(path),
        "version": manifest.get("version"),
        "files": files,
        "repositories": repositories,
    }


def _names(release: Path, manifest: dict[str, Any]) -> pa.Table:
    """(repo, path) of every file of a release, read shard by shard, two columns only."""
    parts: list[pa.RecordBatch] = []
    for shard in manifest.get("shards", []):
        name = shard.get("path") if isinstance(shard, dict) else None
        if not is_inside_path(name):
            raise ReleaseError(f"{release}: manifest lists an unsafe shard path {ascii(name)[:80]}")
        path = release / str(name)
        try:
            with pq.ParquetFile(path) as pf:
                for batch in pf.iter_batches(READ_ROWS, columns=[REPO, PATH]):
                    columns = [_plain(batch.column(0)), _plain(batch.column(1))]
                    parts.append(pa.RecordBatch.from_arrays(columns, schema=_NAMES))
        except FileNotFoundError:
            raise ReleaseError(f"{release}: shard {name} is missing") from None
        except (OSError, pa.ArrowException) as exc:
            raise ReleaseError(f"{path}: unreadable shard ({str(exc).splitlines()[0][:100]})") from None
    return pa.Table.from_batches(parts, schema=_NAMES)


def _plain(column: pa.Array) -> pa.Array:
    if pa.types.is_dictionary(column.type):
        column = column.cast(column.type.value_type)
    return column.cast(pa.string())


def _repo_files(names: pa.Table) -> dict[str, int]:
    grouped = names.group_by(REPO).aggregate([(PATH, "count")])
    counts = grouped.column(f"{PATH}_count").to_pylist()
    return dict(zip(grouped.column(REPO).to_pylist(), counts, strict=True))


def _reasons(manifest: dict[str, Any]) -> Any:
    """A function giving why a repository is not in the release with this manifest."""
    opted_out = {str(r).lower() for r in (manifest.get("optouts") or {}).get("removed", {})}
    read: set[str] = set()
    known = False
    for source in manifest.get("sources") or []:
        repositories = source.get("repositories") if isinstance(source, dict) else None
        if repositories:
            known = True
            read.update(str(r.get("repo")) for r in repositories if isinstance(r, dict))

    def reason(repo: str) -> str:
        if repo.lower() in opted_out:
            return OPT_OUT
        if not known:
            return REMOVED
        return FILTERED if repo in read else NOT_IN_SOURCE

    return reason


def _sorted(table: pa.Table) -> pa.Table:
    return table.sort_by([(REPO, "ascending"), (PATH, "ascending")])


def _listed(items: list[dict[str, Any]] | pa.Table, limit: int) -> dict[str, Any]:
    """``{"count", "items", "truncated"}``: the total and at most ``limit`` of the items."""
    if isinstance(items, pa.Table):
        return {
            "count": items.num_rows,
            "items": items.slice(0, limit).to_pylist(),
            "truncated": items.num_rows > limit,
        }
    return {"count": len(items), "items": items[:limit], "truncated": len(items) > limit}
