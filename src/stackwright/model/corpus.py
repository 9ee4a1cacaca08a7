"""A release as training text: its shards streamed in row batches, and the split by repository.

The model half reads releases only through their manifest and the record columns of
:mod:`stackwright.records`; nothing is loaded whole.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.errors import StackwrightError
from stackwright.files import sha256_file
from stackwright.records import CONTENT, LANGUAGE, PATH, REPO, STARS
from stackwright.release.manifest import MANIFEST, USERNAMES_INDEX, is_inside_path, read_release_manifest

BATCH_ROWS = 512
COLUMNS = (REPO, PATH, CONTENT, LANGUAGE, STARS)


class ModelDataError(StackwrightError):
    """Input the model stages cannot use: an empty release, a tokenizer or token folder that is not one."""


@dataclass(frozen=True)
class ReleaseCorpus:
    path: Path
    version: str
    manifest_sha256: str
    shards: tuple[Path, ...]
    rows: int
    content_bytes: int

    @classmethod
    def open(cls, release: Path) -> ReleaseCorpus:
        """The release at ``release``: a ReleaseError when it is not one, a ModelDataError when it
        holds no file."""
        release = Path(release)
        manifest = read_release_manifest(release)
        shards = []
        for entry in manifest.get("shards", []):
            name = entry.get("path") if isinstance(entry, dict) else None
            if not is_inside_path(name) or not (release / name).is_file():
                raise ModelDataError(f"{release}: shard {ascii(name)[:80]} of the manifest is missing")
            shards.append(release / name)
        rows = int(manifest.get("rows", 0))
        if rows == 0 or not shards:
            raise ModelDataError(f"{release}: the release holds no files to train on")
        return cls(release, str(manifest.get("version")), sha256_file(release / MANIFEST), tuple(shards),
                   rows, int(manifest.get("content_bytes", 0)))

    def describe(self) -> dict[str, Any]:
        return {"path": str(self.path), "version": self.version, "manifest_sha256": self.manifest_sha256,
                "rows": self.rows, "content_bytes": self.content_bytes}


def read_rows(shard: Path, batch_rows: int = BATCH_ROWS, start: int = 0, stop: int | None = None
              ) -> Iterator[list[dict[str, Any]]]:
    """Rows ``start..stop`` of one shard (all by default) in batches of dicts with :data:`COLUMNS`
    (``stars`` is None where the release has no such column), in file order."""
    import pyarrow.parquet as pq

    pf = pq.ParquetFile(shard)
    present = [c for c in COLUMNS if c in pf.schema_arrow.names]
    stop = pf.metadata.num_rows if stop is None else stop
    first = 0
    for group in range(pf.metadata.num_row_groups):
        rows = pf.metadata.row_group(group).num_rows
        lo, hi = max(start, first), min(stop, first + rows)
        if lo < hi:
            table = pf.read_row_group(group, columns=present).slice(lo - first, hi - lo)
            for batch in table.to_batches(max_chunksize=batch_rows):
                columns = {name: batch.column(name).to_pylist() for name in present}
                yield [{name: columns[name][i] if name in columns else None for name in COLUMNS}
                       for i in range(batch.num_rows)]
        first += rows


def shard_rows(shard: Path) -> int:
    import pyarrow.parquet as pq

    return int(pq.ParquetFile(shard).metadata.num_rows)


def iter_texts(corpus: ReleaseCorpus, batch_rows: int = BATCH_ROWS) -> Iterator[list[dict[str, Any]]]:
    for shard in corpus.shards:
        yield from read_rows(shard, batch_rows)


def split_of(repo: str, validation: float, seed: int = 0) -> str:
    """``validation`` or ``train`` for a repository: a hash of its name, so that no repository is in
    both and the split does not change when other repositories come or go."""
    return "validation" if _rank(repo, seed) < validation else "train"


def _rank(repo: str, seed: int) -> float:
    """A repository's place in [0, 1): a hash of its lower-cased name."""
    digest = hashlib.blake2b(f"{seed}\0{repo.lower()}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") / 2**64


def repositories(corpus: ReleaseCorpus) -> list[str]:
    """Every repository of the release, sorted (read from the ``repo`` column alone)."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    index = corpus.path / USERNAMES_INDEX  # one row per repository: the fast way
    if index.is_file():
        column = pq.read_table(index, columns=[REPO]).column(REPO)
        return sorted(r for r in set(column.to_pylist()) if r is not None)
    found: set[str] = set()
    for shard in corpus.shards:
        column = pq.read_table(shard, columns=[REPO]).column(REPO)
        found.update(pc.unique(column.cast("string")).to_pylist())
    return sorted(r for r in found if r is not None)


def validation_repositories(repos: list[str], validation: float, seed: int = 0) -> frozenset[str]:
    """The repositories held out: those :func:`split_of` sends to validation, and when that is none
    of them (a small release) the one with the smallest hash, so that a release of two or more
    repositories always has a validation split."""
    chosen = {r for r in repos if split_of(r, validation, seed) == "validation"}
    if not chosen and len(repos) >= 2 and validation > 0:
        chosen = {min(repos, key=lambda r: _rank(r, seed))}
    return frozenset(chosen)
