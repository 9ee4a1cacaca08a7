"""The record schema: the single place that names a field.

Every stage reads and writes Arrow data with these column names and types. Sources fill the base
columns; curation steps add the optional columns listed below (and only those), so that datasets
written by different versions and executors stay compatible.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pyarrow as pa

# Base columns, filled by every source.
REPO = "repo"  # "owner/name"
PATH = "path"  # path inside the repository, "/"-separated, no leading slash
COMMIT = "commit"  # commit SHA the file was read at, null when the source has none
CONTENT = "content"  # decoded text (UTF-8 in Arrow)
SIZE_BYTES = "size_bytes"  # size of the file as stored, before decoding
EXTENSION = "extension"  # lower-cased extension without the dot, "" when none
DECLARED_LICENSE = "declared_license"  # license declared by the source's metadata, if any

# Columns added by later steps. Declared here so that every step uses one name and one type.
LANGUAGE = "language"
LANGUAGE_TYPE = "language_type"  # programming, markup, data or prose (GitHub Linguist)
IS_VENDORED = "is_vendored"  # Linguist's vendor rules (node_modules/, third_party/, jquery.js, ...)
IS_GENERATED = "is_generated"  # Linguist's generated-file rules (minified, protoc output, ...)
IS_DOCUMENTATION = "is_documentation"
IS_DOTFILE = "is_dotfile"
LICENSE = "license"  # SPDX expression of the repository
LICENSE_CATEGORY = "license_category"  # permissive, weak-copyleft, copyleft, ... (see curate.licenses)
LICENSE_EVIDENCE = "license_evidence"  # which files decided the license: "license-file:LICENSE; ..."
STARS = "stars"
DUPLICATE_COUNT = "duplicate_count"  # files deduplication removed in favour of this one
FORKS = "forks"

# Kinds of license evidence, as the license_evidence column writes them ("license-file:LICENSE; ...").
EVIDENCE_LICENSE_FILE = "license-file"
EVIDENCE_NOTICE_FILE = "notice-file"
EVIDENCE_MANIFEST = "manifest"  # a package manifest's license field (package.json, pyproject.toml, ...)
EVIDENCE_README = "readme"
EVIDENCE_DECLARED = "declared"  # the source's metadata (declared_license)
# A license the hosting service states for the repository (GitHub's license field, as The Stack v1
# used): evidence like a declaration, labelled with its origin and value ("host-license:MIT").
EVIDENCE_HOST_LICENSE = "host-license"
EVIDENCE_SPDX_HEADER = "spdx-header"  # an SPDX-License-Identifier line in a source file

BASE_FIELDS: tuple[pa.Field, ...] = (
    pa.field(REPO, pa.string(), nullable=False),
    pa.field(PATH, pa.string(), nullable=False),
    pa.field(COMMIT, pa.string()),
    pa.field(CONTENT, pa.string(), nullable=False),
    pa.field(SIZE_BYTES, pa.int64(), nullable=False),
    pa.field(EXTENSION, pa.string(), nullable=False),
    pa.field(DECLARED_LICENSE, pa.string()),
)

OPTIONAL_FIELDS: dict[str, pa.Field] = {
    f.name: f
    for f in (
        pa.field(LANGUAGE, pa.string()),
        pa.field(LANGUAGE_TYPE, pa.string()),
        pa.field(IS_VENDORED, pa.bool_()),
        pa.field(IS_GENERATED, pa.bool_()),
        pa.field(IS_DOCUMENTATION, pa.bool_()),
        pa.field(IS_DOTFILE, pa.bool_()),
        pa.field(LICENSE, pa.string()),
        pa.field(LICENSE_CATEGORY, pa.string()),
        pa.field(LICENSE_EVIDENCE, pa.string()),
        pa.field(STARS, pa.int64()),
        pa.field(DUPLICATE_COUNT, pa.int64()),
        pa.field(FORKS, pa.int64()),
    )
}

BASE_SCHEMA = pa.schema(list(BASE_FIELDS))

# Optional columns a source may fill per repository from its metadata (a crawl's host metadata): each
# is a field of RepoInfo with the same name. A build adds those its sources fill to every shard.
REPO_METADATA_COLUMNS = (STARS, FORKS)

# Columns with few distinct values: dictionary-encode them in Parquet.
DICTIONARY_COLUMNS = (REPO, COMMIT, EXTENSION, DECLARED_LICENSE, LANGUAGE, LANGUAGE_TYPE,
                      LICENSE, LICENSE_CATEGORY, LICENSE_EVIDENCE)


def field(name: str) -> pa.Field:
    """The declared field for a column name; unknown names are a programming error."""
    for f in BASE_FIELDS:
        if f.name == name:
            return f
    try:
        return OPTIONAL_FIELDS[name]
    except KeyError:
        raise KeyError(f"unknown record column {name!r}; declare it in stackwright.records") from None


def extension_of(path: str) -> str:
    """Lower-cased extension of the last path component, without the dot ("" when none).

    Dotfiles such as ``.bashrc`` have no extension, as in GitHub Linguist.
    """
    name = path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot <= 0:
        return ""
    return name[dot + 1 :].lower()


@dataclass(frozen=True, slots=True)
class RepoInfo:
    """What a source knows about one repository; shared by all its files."""

    name: str  # owner/name
    commit: str | None = None
    declared_license: str | None = None
    stars: int | None = None  # REPO_METADATA_COLUMNS: written only when the build asks for them
    forks: int | None = None
    license_origin: str | None = None  # where declared_license comes from ("host-license"), if not a file


def read_schema(metadata: Sequence[str] = ()) -> pa.Schema:
    """The schema sources' batches have: the base columns, then the repository metadata columns asked
    for (a subset of REPO_METADATA_COLUMNS)."""
    return pa.schema([*BASE_FIELDS, *(field(n) for n in metadata)])


class BatchBuilder:
    """Accumulates decoded files column by column and emits Arrow record batches."""

    __slots__ = ("_bytes", "_commit", "_content", "_ext", "_lic", "_meta", "_metadata", "_path", "_repo",
                 "_schema", "_size")

    def __init__(self, metadata: Sequence[str] = ()) -> None:
        unknown = [n for n in metadata if n not in REPO_METADATA_COLUMNS]
        if unknown:
            raise KeyError(f"not repository metadata columns: {', '.join(unknown)}")
        self._metadata = tuple(metadata)
        self._schema = read_schema(self._metadata)
        self._reset()

    def _reset(self) -> None:
        self._repo: list[str] = []
        self._path: list[str] = []
        self._commit: list[str | None] = []
        self._content: list[str] = []
        self._size: list[int] = []
        self._ext: list[str] = []
        self._lic: list[str | None] = []
        self._meta: list[list[int | None]] = [[] for _ in self._metadata]
        self._bytes = 0

    def __len__(self) -> int:
        return len(self._path)

    @property
    def content_bytes(self) -> int:
        return self._bytes

    def append(self, repo: RepoInfo, path: str, content: str, size_bytes: int) -> None:
        self._repo.append(repo.name)
        self._path.append(path)
        self._commit.append(repo.commit)
        self._content.append(content)
        self._size.append(size_bytes)
        self._ext.append(extension_of(path))
        self._lic.append(repo.declared_license)
        for name, values in zip(self._metadata, self._meta, strict=True):
            values.append(getattr(repo, name))
        self._bytes += size_bytes

    def flush(self) -> pa.RecordBatch:
        batch = pa.RecordBatch.from_arrays(
            [
                pa.array(self._repo, pa.string()),
                pa.array(self._path, pa.string()),
                pa.array(self._commit, pa.string()),
                pa.array(self._content, pa.string()),
                pa.array(self._size, pa.int64()),
                pa.array(self._ext, pa.string()),
                pa.array(self._lic, pa.string()),
                *(pa.array(values, field(name).type) for name, values in zip(self._metadata, self._meta,
                                                                             strict=True)),
            ],
            schema=self._schema,
        )
        self._reset()
        return batch


def empty_batch(schema: pa.Schema = BASE_SCHEMA) -> pa.RecordBatch:
    return pa.RecordBatch.from_pylist([], schema=schema)


def columns_present(schema: pa.Schema, names: Iterable[str]) -> list[str]:
    return [n for n in names if schema.get_field_index(n) >= 0]


def check_schema(schema: pa.Schema, required: Sequence[str] = (REPO, PATH, CONTENT)) -> None:
    missing = [n for n in required if schema.get_field_index(n) < 0]
    if missing:
        raise ValueError(f"not a stackwright dataset: missing column(s) {', '.join(missing)}")


def with_columns(batch: pa.RecordBatch, values: dict[str, list]) -> pa.RecordBatch:
    """``batch`` with the declared columns ``values`` set (replaced when present, else appended)."""
    for name, column_values in values.items():
        f = field(name)
        column = pa.array(column_values, f.type)
        if name in batch.schema.names:
            batch = batch.set_column(batch.schema.get_field_index(name), f, column)
        else:
            batch = batch.append_column(f, column)
    return batch
