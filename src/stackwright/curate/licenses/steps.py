"""Pipeline steps: ``licenses`` annotates each file, ``license_filter`` keeps the allowed categories.

``licenses`` needs each repository's decisions, which the build gathers first with a license scan
(``stackwright.curate.licenses.scan``): only license files, manifests and READMEs are read for it.
A file takes the decision of its nearest folder; a file with an ``SPDX-License-Identifier`` header
takes the expression it states. A repository with no evidence falls back to the license the source
declared for it, else ``no-license``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from stackwright.config import BuildConfig, LicenseConfig
from stackwright.curate.licenses import evidence as ev
from stackwright.curate.licenses.model import SPDX_HEADER
from stackwright.pipeline.step import StepStats, register_step
from stackwright.records import (
    CONTENT,
    DECLARED_LICENSE,
    LICENSE,
    LICENSE_CATEGORY,
    LICENSE_EVIDENCE,
    PATH,
    REPO,
    with_columns,
)

# folder -> (spdx, category, evidence label), per repository
FolderDecisions = dict[str, tuple[str, str, str]]
_DETECTORS: dict[str, Any] = {}


def detector_for(settings: LicenseConfig) -> Any:
    """One LicenseDetector per process and settings (the index loads once per process)."""
    key = settings.model_dump_json()
    found = _DETECTORS.get(key)
    if found is None:
        from stackwright.curate.licenses.detect import LicenseDetector
        from stackwright.curate.licenses.policy import DEFAULT_PERMISSIVE, LicensePolicy

        policy = LicensePolicy(settings.permissive if settings.permissive is not None else DEFAULT_PERMISSIVE)
        fallback = None
        if settings.backend != "fast":
            from stackwright.curate.licenses.scancode_backend import ScancodeBackend

            fallback = ScancodeBackend(settings.scancode_timeout)
        found = LicenseDetector(policy, fallback=fallback)
        if settings.backend == "scancode":
            found.matcher = _ScancodeOnly(fallback)  # type: ignore[assignment]
        _DETECTORS[key] = found
    return found


class _ScancodeOnly:
    """The matcher interface answered by ScanCode alone (``backend = "scancode"``)."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend

    def detect(self, text: str) -> Any:
        return self.backend.detect_text(text)

    def detect_bytes(self, data: bytes) -> Any:
        from stackwright.curate.licenses.matcher import decode_license_bytes
        from stackwright.curate.licenses.model import NOASSERTION, UNDECODABLE, TextDetection

        text = decode_license_bytes(data)
        if text is None:
            return TextDetection(NOASSERTION, reason=UNDECODABLE, backend="scancode")
        return self.backend.detect_text(text)


@dataclass(frozen=True)
class AnnotateLicenses:
    """Adds ``license``, ``license_category`` and ``license_evidence`` to every file."""

    settings: LicenseConfig = field(default_factory=LicenseConfig)
    repos: dict[str, FolderDecisions] = field(default_factory=dict)
    name: str = "licenses"
    needs: tuple[str, ...] = ("licenses",)

    def bind(self, context: dict[str, Any]) -> AnnotateLicenses:
        return replace(self, repos=context.get("licenses", {}))

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        n = batch.num_rows
        spdx: list[str] = []
        category: list[str] = []
        evidence: list[str] = []
        if n:
            detector = detector_for(self.settings)
            declared_cache: dict[str | None, tuple[str, str, str]] = {}
            repos = batch.column(REPO).to_pylist()
            paths = batch.column(PATH).to_pylist()
            contents = batch.column(CONTENT).to_pylist()
            declared = (batch.column(DECLARED_LICENSE).to_pylist() if DECLARED_LICENSE in batch.schema.names
                        else [None] * n)
            for repo, path, content, decl in zip(repos, paths, contents, declared, strict=True):
                folders = self.repos.get(repo)
                if folders is not None:
                    found = _nearest(folders, path)
                else:
                    found = declared_cache.get(decl)
                    if found is None:
                        root = detector.decide([], decl).root
                        found = (root.spdx, root.category, root.evidence_label)
                        declared_cache[decl] = found
                header = None
                if "spdx-license-identifier" in content[:8192].lower():
                    header = detector.file_header(content)
                if header is not None:
                    found = (header, detector.policy.category(header), SPDX_HEADER)
                spdx.append(found[0])
                category.append(found[1])
                evidence.append(found[2])
        return with_columns(batch, {LICENSE: spdx, LICENSE_CATEGORY: category, LICENSE_EVIDENCE: evidence})


def _nearest(folders: FolderDecisions, path: str) -> tuple[str, str, str]:
    for folder in ev.covering_dirs(path):
        found = folders.get(folder)
        if found is not None:
            return found
    return folders[""]


@dataclass(frozen=True)
class LicenseFilter:
    """Keeps files whose license category is allowed; counts the others as ``license:<category>``."""

    keep: tuple[str, ...] = ("permissive",)
    name: str = "license_filter"

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        if LICENSE_CATEGORY not in batch.schema.names:
            raise ValueError("license_filter needs the licenses step before it")
        if batch.num_rows == 0:
            return batch
        categories = batch.column(LICENSE_CATEGORY)
        keep = pc.is_in(categories, value_set=pa.array(list(self.keep), pa.string()))
        keep = pc.fill_null(keep, False)
        for value, count in zip(*_value_counts(categories, keep), strict=True):
            stats.drop(f"license:{value}", count)
        return batch.filter(keep)


def _value_counts(categories: pa.Array, keep: pa.Array) -> tuple[list[str], list[int]]:
    dropped = pc.filter(categories, pc.invert(keep))
    counts = pc.value_counts(dropped).to_pylist()
    return [c["values"] or "null" for c in counts], [c["counts"] for c in counts]


@register_step("licenses")
def _make_annotate(config: BuildConfig | None = None) -> AnnotateLicenses:
    return AnnotateLicenses(config.licenses if config is not None else LicenseConfig())


@register_step("license_filter")
def _make_filter(config: BuildConfig | None = None) -> LicenseFilter:
    keep = config.licenses.keep if config is not None else LicenseConfig().keep
    return LicenseFilter(tuple(keep))

