"""Judge one repository on disk (a folder or a git work tree, read at HEAD) or one file's text."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.config import LicenseConfig, ReadConfig
from stackwright.curate.licenses.detect import (
    Decision,
    Evidence,
    LicenseDetector,
    is_evidence_path,
    is_readme,
)
from stackwright.curate.licenses.model import (
    BINARY,
    NOASSERTION,
    SPDX_HEADER,
    TOO_LARGE,
    UNDECODABLE,
    UNKNOWN,
    TextDetection,
)
from stackwright.curate.licenses.steps import detector_for
from stackwright.files import read_limited
from stackwright.sources.base import SkipCounter, SourceError

# Guards for `license detect FILE`: a text this long is not a license file.
MAX_FILE_BYTES = 10_000_000


@dataclass
class RepositoryVerdict:
    path: str
    repo: str
    root: Decision
    subtrees: list[Decision]
    evidence: list[Evidence]

    def to_json(self, explain: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {
            "path": self.path,
            "spdx": self.root.spdx,
            "category": self.root.category,
            "evidence": [e.to_json(explain) for e in self.root.evidence],
        }
        if self.subtrees:
            out["subtrees"] = [
                {"folder": d.folder, "spdx": d.spdx, "category": d.category,
                 "evidence": [e.to_json(explain) for e in d.evidence]}
                for d in self.subtrees
            ]
        if explain:
            out["considered"] = [e.to_json(True) for e in self.evidence]
        return out


def detect_repository(path: Path, settings: LicenseConfig | None = None,
                      read: ReadConfig | None = None) -> RepositoryVerdict:
    """The licenses of the repository at ``path``, from its license files, manifests and READMEs."""
    from stackwright.sources.directory import DirectorySource

    detector: LicenseDetector = detector_for(settings or LicenseConfig())
    config = read or ReadConfig(layout="repo")
    source = DirectorySource(path)
    skips = SkipCounter()
    evidence: list[Evidence] = []
    repo = None
    declared = None
    for item in source.plan(config, skips, 1 << 62):
        for raw in item.read(config, skips, wanted=is_evidence_path):
            repo = raw.repo.name
            declared = raw.repo.declared_license
            data = raw.data if isinstance(raw.data, bytes) else raw.data.encode("utf-8", "surrogatepass")
            evidence.extend(detector.evidence_for(raw.path, data))
    if repo is None:
        repo = path.resolve().name
    evidence.sort(key=lambda e: (e.folder, e.path, e.kind))
    decided = detector.decide(evidence, declared)
    subtrees = [d for folder, d in sorted(decided.decisions.items()) if folder]
    return RepositoryVerdict(str(path), repo, decided.root, subtrees, evidence)


@dataclass
class FileVerdict:
    path: str
    spdx: str
    category: str
    detection: TextDetection
    header: str | None

    def to_json(self, explain: bool = False) -> dict[str, Any]:
        item: dict[str, Any] = {"path": self.path, "kind": SPDX_HEADER if self.header else "text",
                                "spdx": self.spdx}
        if self.detection.reason and not self.header:
            item["reason"] = self.detection.reason
        if explain:
            item["matches"] = [m.to_json() for m in self.detection.matches]
            item["backend"] = self.detection.backend
        return {"path": self.path, "spdx": self.spdx, "category": self.category, "evidence": [item]}


def detect_file(path: Path, settings: LicenseConfig | None = None) -> FileVerdict:
    """A file judged by its text: its SPDX header if it has one, else the license text matcher."""
    detector: LicenseDetector = detector_for(settings or LicenseConfig())
    try:
        data, too_large = read_limited(path, MAX_FILE_BYTES)
    except OSError as exc:
        raise SourceError(f"{path}: cannot read ({exc.strerror})") from None
    if too_large:
        detection = TextDetection(NOASSERTION, reason=TOO_LARGE)
    else:
        detection = _readme_detection(detector, path.name, data) or detector.detect_data(data)
    header = None
    if detection.reason not in {BINARY, TOO_LARGE, UNDECODABLE}:
        from stackwright.curate.licenses.matcher import decode_license_bytes

        text = decode_license_bytes(data)
        header = detector.file_header(text) if text else None
    spdx = header if header and header != NOASSERTION else detection.spdx
    category = detector.policy.category(spdx) if spdx != NOASSERTION else UNKNOWN
    return FileVerdict(str(path), spdx, category, detection, header if header != NOASSERTION else None)


def _readme_detection(detector: LicenseDetector, name: str, data: bytes) -> TextDetection | None:
    """A README is judged by its license section ("## License", "License\n=======", ...), as in a
    repository scan: the rest of a README (install steps, "you must ...") is not license text.
    None for other files and for a README without a license section."""
    if not is_readme(name):
        return None
    from stackwright.curate.licenses.evidence import readme_license_section
    from stackwright.curate.licenses.matcher import decode_license_bytes

    text = decode_license_bytes(data)
    section = readme_license_section(name, text) if text else None
    return detector.detect_readme_section(section) if section else None


def detect_path(path: Path, settings: LicenseConfig | None = None) -> RepositoryVerdict | FileVerdict:
    """``stackwright license detect``: a folder is judged as a repository, a file by its text."""
    return detect_repository(path, settings) if path.is_dir() else detect_file(path, settings)
