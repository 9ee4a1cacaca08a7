"""Sources turn inputs (folders, git repositories, archives, tables) into planned work items."""

from __future__ import annotations

from pathlib import Path

from stackwright.sources.base import Source, SourceError

ARCHIVE_SUFFIXES = (".tar", ".tar.gz", ".tgz", ".tar.zst", ".tzst", ".zip")
TABLE_SUFFIXES = (".jsonl", ".jsonl.gz", ".jsonl.zst", ".ndjson", ".parquet")


def open_source(spec: str | Path) -> Source:
    """The source for a path: a crawl folder, a folder (of repositories), a git repository, an archive or
    a table."""
    path = Path(spec)
    if not path.exists() and not path.is_symlink():
        raise SourceError(f"{spec}: no such file or directory")
    name = path.name.lower()
    from stackwright.crawl.state import is_crawl_folder

    if path.is_dir() and is_crawl_folder(path):
        from stackwright.sources.crawl import CrawlSource

        return CrawlSource(path)
    if path.is_dir():
        from stackwright.sources.directory import DirectorySource

        return DirectorySource(path)
    if name.endswith(ARCHIVE_SUFFIXES):
        from stackwright.sources.archive import ArchiveSource

        return ArchiveSource(path)
    if name.endswith(TABLE_SUFFIXES):
        from stackwright.sources.table import TableSource

        return TableSource(path)
    raise SourceError(
        f"{spec}: not a folder, archive ({', '.join(ARCHIVE_SUFFIXES)}) "
        f"or table ({', '.join(TABLE_SUFFIXES)})"
    )


__all__ = ["ARCHIVE_SUFFIXES", "TABLE_SUFFIXES", "Source", "SourceError", "open_source"]
