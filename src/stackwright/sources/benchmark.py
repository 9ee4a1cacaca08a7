"""Benchmark snippets as a build source: one repository ``benchmarks/<name>`` per benchmark.

Writing a benchmark as a dataset lets ``stackwright dedup DATASET --against BENCHMARK`` remove the
files that near-duplicate it (``stackwright decontaminate export``).
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from stackwright.config import ReadConfig
from stackwright.evalsets import HUMANEVAL
from stackwright.records import RepoInfo
from stackwright.sources.base import PathFilter, RawFile, RepositoryEntry, SkipCounter


@dataclass(frozen=True, slots=True)
class Snippet:
    """One benchmark text: which benchmark and problem it belongs to, and what part it is."""

    benchmark: str
    problem: str
    kind: str  # "prompt", "solution", "prompt+solution", a JSONL field name, or "text"
    text: str


_UNSAFE = re.compile(r"[^A-Za-z0-9_.\-]+")
_SUFFIX = {HUMANEVAL: ".py"}


def snippet_path(snippet: Snippet) -> str:
    """A safe relative path for a snippet: ``<problem>/<kind><extension>``."""
    parts = [_UNSAFE.sub("_", p).strip(".") or "_" for p in snippet.problem.split("/") if p]
    kind = _UNSAFE.sub("_", snippet.kind.replace("+", "_and_")).strip(".") or "text"
    extension = _SUFFIX.get(snippet.benchmark, "" if "." in kind else ".txt")
    return "/".join([*(parts or ["_"]), kind + extension])


@dataclass(frozen=True)
class SnippetWorkItem:
    """One benchmark's snippets, read from memory (picklable, as every work item)."""

    repo: RepoInfo
    entries: tuple[tuple[str, str], ...]  # (path, text)
    weight: int = 0
    files: int = 0

    def __repr__(self) -> str:  # the build fingerprints work items by repr: the digest of the texts
        digest = hashlib.sha256(json.dumps(self.entries).encode()).hexdigest()
        return f"SnippetWorkItem({self.repo.name!r}, {self.files} files, sha256={digest})"

    def read(
        self, config: ReadConfig, skips: SkipCounter, wanted: PathFilter | None = None
    ) -> Iterator[RawFile]:
        for path, text in self.entries:
            if wanted is None or wanted(path):
                yield RawFile(self.repo, path, text)


@dataclass
class BenchmarkSource:
    """Benchmark snippets as a source: one repository ``benchmarks/<name>`` per benchmark."""

    snippets: list[Snippet]
    location: str
    kind: str = "benchmark"
    repositories: list[RepositoryEntry] = field(default_factory=list)

    def plan(self, config: ReadConfig, skips: SkipCounter, chunk_bytes: int) -> Iterator[SnippetWorkItem]:
        by_benchmark: dict[str, dict[str, str]] = {}
        for s in self.snippets:
            files = by_benchmark.setdefault(s.benchmark, {})
            path = snippet_path(s)
            stem, dot, ext = path.rpartition(".")
            n = 1
            while path in files:
                n += 1
                path = f"{stem}-{n}{dot}{ext}" if dot else f"{path}-{n}"
            files[path] = s.text
        self.repositories = []
        for benchmark, files in by_benchmark.items():
            repo = RepoInfo(f"benchmarks/{_UNSAFE.sub('_', benchmark)}")
            self.repositories.append(RepositoryEntry(repo.name, None, len(files)))
            yield SnippetWorkItem(
                repo, tuple(files.items()), sum(len(t.encode()) for t in files.values()), len(files)
            )

    def describe(self) -> dict:
        return {
            "kind": self.kind,
            "location": self.location,
            "repositories": [vars(r) for r in self.repositories],
        }
