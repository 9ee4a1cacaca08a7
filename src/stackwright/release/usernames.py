"""The username -> repositories index behind "Am I in the dataset?".

One row per released repository: ``username`` (the lower-cased owner of ``owner/name``), ``repo``,
``files`` and ``bytes``. Rows are sorted by username then repo and written in row groups with
statistics, so that a look-up in an index of a million repositories reads one row group: a reader
filters on ``username`` and Parquet skips every group whose min/max excludes it.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from stackwright.release.manifest import username_of

USERNAME = "username"
REPO = "repo"
FILES = "files"
BYTES = "bytes"
ROW_GROUP_ROWS = 16_384
SCHEMA = pa.schema(
    [
        pa.field(USERNAME, pa.string(), nullable=False),
        pa.field(REPO, pa.string(), nullable=False),
        pa.field(FILES, pa.int64(), nullable=False),
        pa.field(BYTES, pa.int64(), nullable=False),
    ]
)


def write_usernames_index(path: Path, files: Mapping[str, int], sizes: Mapping[str, int]) -> int:
    """Write the index of the repositories in ``files`` (repo -> file count); returns its rows."""
    rows = sorted((username_of(repo), repo) for repo in files)
    table = pa.table(
        {
            USERNAME: pa.array([u for u, _ in rows], pa.string()),
            REPO: pa.array([r for _, r in rows], pa.string()),
            FILES: pa.array([files[r] for _, r in rows], pa.int64()),
            BYTES: pa.array([sizes.get(r, 0) for _, r in rows], pa.int64()),
        },
        schema=SCHEMA,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    sorting = [pq.SortingColumn(0), pq.SortingColumn(1)]
    pq.write_table(
        table,
        path,
        row_group_size=ROW_GROUP_ROWS,
        compression="zstd",
        write_statistics=True,
        sorting_columns=sorting,
    )
    return table.num_rows


def lookup_username(index: Path, username: str) -> list[dict[str, object]]:
    """The repositories of ``username`` (case-insensitive) in a release's index."""
    table = pq.read_table(index, filters=pc.field(USERNAME) == username.lower())
    return table.select([REPO, FILES, BYTES]).to_pylist()
