"""A repository's licenses from its evidence: license files, manifests, README sections, declarations.

Each folder with evidence gets a decision; a file takes the decision of its nearest folder (a license
file covers its directory subtree, as in The Stack v2). Within one folder:

1. license files (LICENSE, COPYING, LICENSE-MIT, LICENSES/..., NOTICE texts that name a license)
   decide; several licenses are combined with AND, or with OR when a manifest or the README of the
   folder says they are alternatives (``MIT OR Apache-2.0``). A license file no reference explains
   makes the folder NOASSERTION: a custom license is never guessed;
2. without license files, the package manifests' declarations decide (AND of the distinct ones);
3. at the root, the license the source declares (GitHub's license field, a table column, package
   metadata) comes next, then the README's license section.

Below the root, a folder's manifest or README adds to the license it inherits (AND), since a
fixture or vendored package.json alone does not relicense code; a license file replaces it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from license_expression import Licensing

from stackwright.curate.licenses import evidence as ev
from stackwright.curate.licenses.families import attach_exceptions, drop_incorporated
from stackwright.curate.licenses.families import parse as parse_version
from stackwright.curate.licenses.matcher import TextMatcher, decode_license_bytes
from stackwright.curate.licenses.model import (
    NO_LICENSE,
    NO_MATCH,
    NOASSERTION,
    TextDetection,
    join_spdx,
)
from stackwright.curate.licenses.policy import LicensePolicy, license_ids
from stackwright.records import EVIDENCE_DECLARED as DECLARED
from stackwright.records import EVIDENCE_HOST_LICENSE as HOST_LICENSE
from stackwright.records import EVIDENCE_LICENSE_FILE as LICENSE_FILE
from stackwright.records import EVIDENCE_MANIFEST as MANIFEST
from stackwright.records import EVIDENCE_NOTICE_FILE as NOTICE_FILE
from stackwright.records import EVIDENCE_README as README

MAX_EVIDENCE_BYTES = 2_000_000
_README_NAME = re.compile(r"(?i)^readme(?:[._\-][\w.\-]*)?$")
_DUAL = re.compile(
    r"(?i)\b(?:dual[\s\-]licen[cs]ed|dual[\s\-]licen[cs]e|at\s+your\s+(?:option|choice|discretion)|"
    r"either\s+(?:of\s+)?(?:the|license|licence)|you\s+(?:may|can)\s+choose)"
)
_LICENSING = Licensing()
# ScanCode's id for a pointer to a license stated elsewhere ("see LICENSE for details").
POINTER = "LicenseRef-scancode-unknown-license-reference"


def is_readme(path: str) -> bool:
    return bool(_README_NAME.match(path.rsplit("/", 1)[-1]))


def is_evidence_path(path: str) -> bool:
    """Files a license scan reads: license files, package manifests and READMEs."""
    return bool(ev.license_file_kind(path) or ev.manifest_kind(path) or is_readme(path))


@dataclass(frozen=True)
class Evidence:
    """What one file (or the source's declaration) says about the license of a folder."""

    path: str  # repository-relative; "" for a declaration
    kind: str  # license-file, notice-file, manifest, readme, declared, host-license
    spdx: str  # expression or NOASSERTION
    folder: str  # the folder it applies to
    reason: str | None = None
    detection: TextDetection | None = None
    dual: bool = False  # says its licenses are alternatives

    def to_json(self, explain: bool = False) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "kind": self.kind, "spdx": self.spdx}
        if self.reason:
            out["reason"] = self.reason
        if explain and self.detection is not None:
            out["matches"] = [m.to_json() for m in self.detection.matches]
            out["backend"] = self.detection.backend
        return out


@dataclass(frozen=True)
class Decision:
    """The license of a folder's subtree."""

    folder: str
    spdx: str
    category: str
    evidence: tuple[Evidence, ...] = ()

    @property
    def evidence_label(self) -> str:
        """A short account for the dataset's ``license_evidence`` column."""
        if not self.evidence:
            return "none"
        return "; ".join(f"{e.kind}:{e.path}" if e.path else f"{e.kind}:{e.spdx}" if e.kind == HOST_LICENSE
                         else e.kind for e in self.evidence)


@dataclass
class RepoLicenses:
    """Decisions by folder; ``for_path`` gives the decision that covers a file."""

    decisions: dict[str, Decision] = field(default_factory=dict)

    @property
    def root(self) -> Decision:
        return self.decisions[""]

    def for_path(self, path: str) -> Decision:
        for folder in ev.covering_dirs(path):
            found = self.decisions.get(folder)
            if found is not None:
                return found
        return self.root


class LicenseDetector:
    """Turns file texts into evidence and evidence into decisions, under one policy."""

    def __init__(self, policy: LicensePolicy | None = None, matcher: TextMatcher | None = None,
                 fallback: Any = None) -> None:
        self.policy = policy or LicensePolicy()
        self.matcher = matcher or TextMatcher(self.policy.index)
        self.fallback = fallback  # a backend with detect_text(text), used when nothing matched

    # -- one text ------------------------------------------------------------------------------
    def detect_text(self, text: str) -> TextDetection:
        """A license text's verdict: the fast matcher, then the fallback backend on no match."""
        found = self.matcher.detect(text)
        if found.reason == NO_MATCH and self.fallback is not None:
            other = self.fallback.detect_text(text)
            if other.found and all(m.score >= 0.9 for m in other.matches):
                return other
        return found

    def detect_readme_section(self, section: str) -> TextDetection:
        """A README's license section: in a README, "see LICENSE for details" beside a named license
        points at the license file, so the pointer ScanCode calls ``unknown-license-reference`` is
        not a second license (in a license file it may mean other terms, and stays)."""
        found = self.detect_text(section)
        parts = found.spdx.split(" AND ")
        if len(parts) > 1 and POINTER in parts and "(" not in found.spdx:
            kept = [p for p in parts if p != POINTER]
            return TextDetection(join_spdx(kept, "AND"), found.matches, found.reason, found.backend,
                                 found.extra)
        return found

    def detect_data(self, data: bytes) -> TextDetection:
        found = self.matcher.detect_bytes(data)
        if found.reason == NO_MATCH and self.fallback is not None:
            text = decode_license_bytes(data)
            if text is not None:
                return self.detect_text(text)
        return found

    def declared_to_spdx(self, declared: str) -> str:
        """An SPDX expression for a declared license string ("MIT", "Apache License 2.0", ...)."""
        value = declared.strip()
        if not value or value.upper() in {"UNKNOWN", "NONE", "NOASSERTION", "UNLICENSED", "SEE LICENSE"}:
            return NOASSERTION
        expression = self.spdx_expression(value)
        if expression is None and "/" in value and len(value) < 200:  # Cargo's old "MIT/Apache-2.0"
            expression = self.spdx_expression(" OR ".join(p.strip() for p in value.split("/")))
        if expression is not None:
            return expression
        return self.matcher.detect(value).spdx

    def spdx_expression(self, value: str) -> str | None:
        """``value`` with canonical ids when it is an SPDX expression of known ids, else None."""
        if len(value) > 500 or not re.fullmatch(r"[A-Za-z0-9.+\-:() \t]+", value):
            return None
        try:
            tree = _LICENSING.parse(value)
        except Exception:
            return None
        if tree is None:
            return None
        mapping: dict[str, str] = {}
        for key in license_ids(value) + _exception_ids(tree):
            if key.lower().startswith("licenseref-"):
                mapping[key] = key
                continue
            known = self.policy.index.key_of_spdx(key)
            if known is None:
                return None
            mapping[key] = _canonical_id(key, self.policy.index.licenses[known].spdx)
        rendered = tree.render("{symbol.key}")
        for key, canonical in sorted(mapping.items(), key=lambda kv: -len(kv[0])):
            rendered = re.sub(rf"(?<![\w.+\-]){re.escape(key)}(?![\w.+\-])", canonical, rendered)
        return rendered

    # -- one file's evidence -------------------------------------------------------------------
    def evidence_for(self, path: str, data: bytes | str) -> list[Evidence]:
        """The evidence a repository file gives (none for ordinary files)."""
        kind = ev.license_file_kind(path)
        manifest = ev.manifest_kind(path)
        readme = is_readme(path)
        if not (kind or manifest or readme):
            return []
        if isinstance(data, bytes) and len(data) > MAX_EVIDENCE_BYTES:
            data = data[:0]
        out: list[Evidence] = []
        if kind:
            detection = self.detect_data(data) if isinstance(data, bytes) else self.detect_text(data)
            out.append(Evidence(path, NOTICE_FILE if kind == "notice" else LICENSE_FILE, detection.spdx,
                                ev.license_dir(path), detection.reason, detection))
            return out
        text = data if isinstance(data, str) else decode_license_bytes(data)
        if text is None:
            return out
        folder = path.rsplit("/", 1)[0] if "/" in path else ""
        if manifest:
            declared = ev.manifest_licenses(path, text)
            if declared:
                exprs = [self.declared_to_spdx(d) for d in declared]
                spdx = NOASSERTION if NOASSERTION in exprs else _and(exprs)
                out.append(Evidence(path, MANIFEST, spdx, folder,
                                    dual=any(" OR " in e for e in exprs)))
        if readme:
            section = ev.readme_license_section(path, text)
            if section:
                detection = self.detect_readme_section(section)
                if detection.found or detection.matches:
                    out.append(Evidence(path, README, detection.spdx, folder, detection.reason, detection,
                                        dual=bool(_DUAL.search(section))))
        return out

    # -- a repository --------------------------------------------------------------------------
    def decide(self, evidence: Iterable[Evidence], declared: str | None = None,
               origin: str | None = None) -> RepoLicenses:
        """Decisions by folder; ``declared`` is the source's license for the root, from ``origin``
        (``host-license`` for a hosting service's license field, else a declaration)."""
        by_folder: dict[str, list[Evidence]] = {}
        for item in evidence:
            by_folder.setdefault(item.folder, []).append(item)
        if declared:
            spdx = self.declared_to_spdx(declared)
            kind = HOST_LICENSE if origin == HOST_LICENSE else DECLARED
            by_folder.setdefault("", []).append(Evidence("", kind, spdx, ""))
        result = RepoLicenses()
        result.decisions[""] = self._decide_folder("", by_folder.get("", []), None) or Decision(
            "", NOASSERTION, NO_LICENSE)
        # Parents before children, so a child can build on what it inherits.
        for folder in sorted((f for f in by_folder if f), key=lambda f: (f.count("/"), f)):
            inherited = result.for_path(folder + "/x")
            found = self._decide_folder(folder, by_folder[folder], inherited)
            if found is not None:
                result.decisions[folder] = found
        return result

    def _decide_folder(self, folder: str, items: list[Evidence], inherited: Decision | None
                       ) -> Decision | None:
        files = [e for e in items if e.kind == LICENSE_FILE]
        # A NOTICE file counts when it holds a license text; attribution notices say nothing.
        files += [e for e in items if e.kind == NOTICE_FILE and e.spdx != NOASSERTION]
        manifests = [e for e in items if e.kind == MANIFEST]
        readmes = [e for e in items if e.kind == README]
        declared = [e for e in items if e.kind in (DECLARED, HOST_LICENSE) and e.spdx != NOASSERTION]
        if files:
            if any(e.spdx == NOASSERTION for e in files):
                used = tuple(e for e in files if e.spdx == NOASSERTION)
                return self._decision(folder, NOASSERTION, used)
            # A license that incorporates another one's text (LGPL-3.0 and the GPL-3.0 it builds on),
            # and an exception in its own file, are one license with the text they come with.
            exprs = drop_incorporated(list(dict.fromkeys(e.spdx for e in files)))
            exprs = attach_exceptions(exprs, self._is_exception)
            ids = {i for e in exprs for i in license_ids(e)}
            for m in manifests:
                if m.spdx != NOASSERTION and ids <= set(license_ids(m.spdx)) and len(ids) > 1:
                    return self._decision(folder, m.spdx, (*files, m))
            if len(exprs) == 1:  # a manifest's "or later" of the same version is the grant
                exprs = [_or_later(exprs[0], [m.spdx for m in manifests])]
            dual = [r for r in readmes if r.dual and ids <= set(license_ids(r.spdx))]
            if len(ids) > 1 and (dual or any(m.dual for m in manifests)):
                return self._decision(folder, _or(exprs), (*files, *dual))
            return self._decision(folder, _and(exprs), tuple(files))
        chosen: list[Evidence] = manifests or (declared if not folder else []) or readmes
        if not chosen:
            return None
        if any(e.spdx == NOASSERTION for e in chosen):
            spdx = NOASSERTION
        else:
            spdx = _and([e.spdx for e in chosen])
        if folder and inherited is not None and inherited.evidence:
            if spdx == NOASSERTION or inherited.spdx == NOASSERTION:
                spdx = NOASSERTION
            elif spdx != inherited.spdx:
                spdx = _and([inherited.spdx, spdx])
            chosen = [*inherited.evidence, *chosen]
        return self._decision(folder, spdx, tuple(chosen))

    def _is_exception(self, spdx_id: str) -> bool:
        key = self.policy.index.key_of_spdx(spdx_id)
        info = self.policy.index.licenses.get(key) if key else None
        return info is not None and info.is_exception

    def _decision(self, folder: str, spdx: str, used: tuple[Evidence, ...]) -> Decision:
        return Decision(folder, spdx, self.policy.category(spdx), used)

    def file_header(self, text: str) -> str | None:
        """The SPDX expression a file's ``SPDX-License-Identifier`` header states, if any."""
        if "spdx-license-identifier" not in text[:8192].lower():
            return None
        found = [self.spdx_expression(e) for e in ev.spdx_header_expressions(text[:8192])]
        exprs = [e for e in found if e]
        if not exprs or len(exprs) != len(found):
            return NOASSERTION if found else None
        return _and(exprs)


def _exception_ids(tree: Any) -> list[str]:
    out = []
    for symbol in _LICENSING.license_symbols(tree, decompose=False):
        exc = getattr(symbol, "exception_symbol", None)
        if exc is not None:
            out.append(exc.key)
    return out


def _canonical_id(written: str, spdx: str) -> str:
    # Keep "GPL-2.0+" and "-or-later" as written when the database's id is the base one.
    if written.lower() == spdx.lower():
        return spdx
    return spdx if not written.endswith("+") else written


def _or_later(spdx: str, declared: list[str]) -> str:
    """``spdx`` (the license files' expression), or the one declaration that states the same family
    and version "or later" (``LGPL-3.0-only`` text, ``LGPL-3.0-or-later`` in pyproject.toml)."""
    mine = parse_version(spdx)
    if mine is None or mine.or_later:
        return spdx
    later = {d for d in declared if (v := parse_version(d)) is not None and v.or_later
             and (v.family, v.version) == (mine.family, mine.version)}
    return later.pop() if len(later) == 1 else spdx


def _and(exprs: list[str]) -> str:
    return join_spdx(exprs, "AND")


def _or(exprs: list[str]) -> str:
    return join_spdx(exprs, "OR")
