"""A crawled folder (``stackwright crawl``) as a build source.

Each done repository is read from its object store at the commit the crawl recorded, as the git
source reads any repository (nothing is checked out), under the owner/name it was listed as. The
host's metadata become record columns: ``declared_license`` is the host's license field (evidence
``host-license:<id>`` when the license step decides by it, as The Stack v1 used GitHub's), and
``stars`` and ``forks`` are filled for every file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from stackwright.config import ReadConfig
from stackwright.crawl.state import done_records, is_crawl_folder
from stackwright.records import EVIDENCE_HOST_LICENSE as HOST_LICENSE
from stackwright.records import FORKS, STARS, RepoInfo
from stackwright.sources.base import EMPTY_REPOSITORY, UNSAFE_PATH, RepositoryEntry, SkipCounter, SourceError
from stackwright.sources.git import GitWorkItem, chunk_entries, list_tree


def _count(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


class CrawlSource:
    """The done repositories of a crawl folder, sorted by owner/name."""

    kind = "crawl"
    metadata_columns = (STARS, FORKS)

    def __init__(self, path: Path) -> None:
        if not is_crawl_folder(path):
            raise SourceError(f"{path} is not a crawl folder (no crawl-state.jsonl)")
        self.path = path
        self.location = str(path)
        self.repositories: list[RepositoryEntry] = []

    def plan(self, config: ReadConfig, skips: SkipCounter, chunk_bytes: int) -> Iterator[GitWorkItem]:
        self.repositories = []
        for record in done_records(self.path):
            name = record["repo"]
            commit = _text(record.get("commit"))
            if commit is None:  # an empty repository: fetched, nothing to read
                skips.add(EMPTY_REPOSITORY)
                self.repositories.append(RepositoryEntry(name, None, 0))
                continue
            license_field = _text(record.get("license"))
            repo = RepoInfo(name, commit, license_field, stars=_count(record.get("stars")),
                            forks=_count(record.get("forks")),
                            license_origin=HOST_LICENSE if license_field else None)
            git_dir = (self.path / record["path"]).resolve()
            if not git_dir.is_relative_to(self.path.resolve()):  # a state file edited to point elsewhere
                skips.add(UNSAFE_PATH)
                continue
            entries = list_tree(str(git_dir), commit, config, skips)
            self.repositories.append(RepositoryEntry(name, commit, len(entries)))
            for chunk in chunk_entries(entries, chunk_bytes):
                yield GitWorkItem(str(git_dir), repo, tuple(chunk), sum(e.size for e in chunk), len(chunk))

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "location": self.location,
            "repositories": [vars(r) for r in self.repositories],
        }
