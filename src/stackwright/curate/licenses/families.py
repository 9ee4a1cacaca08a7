"""License families and versions: when one license's text or name stands for another one.

Three situations where counting every license that is *named* would report licenses that are not
granted:

* a notice or a short reference next to the full text of a license of the same family, in one
  text: the GPL-3.0 text with a "GPL v3 or later" notice above it is one license,
  ``GPL-3.0-or-later``; a page titled "GNU Affero General Public License" holding the AGPL-3.0 text
  is ``AGPL-3.0-only`` (:func:`absorb_references`);
* a license that is, by its own text, another license plus additional permissions, shipped with the
  text of that other license: LGPL-3.0 "incorporates the terms and conditions of version 3 of the
  GNU General Public License, supplemented by the additional permissions", so COPYING (GPL-3.0)
  beside COPYING.LESSER (LGPL-3.0) is LGPL-3.0, not ``LGPL-3.0 AND GPL-3.0``
  (:func:`drop_incorporated`);
* a license exception shipped in its own file beside the license it modifies (COPYING3 and
  COPYING.RUNTIME): ``GPL-3.0-or-later WITH GCC-exception-3.1`` (:func:`attach_exceptions`).

Families come from SPDX ids (``GPL-3.0-or-later``: family GPL, version 3.0, "or later"), so the
rules hold for every versioned family on the SPDX list, not for a list of cases.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

_VERSIONED = re.compile(
    r"^(?P<family>[A-Za-z]+(?:-[A-Za-z]+)*)-(?P<version>\d+(?:\.\d+)*)(?P<suffix>-only|-or-later|\+)?$"
)


@dataclass(frozen=True)
class Version:
    family: str  # "GPL", "AGPL", "Apache", "CC-BY-SA"
    version: str  # "3.0"
    or_later: bool


def parse(spdx_id: str) -> Version | None:
    """Family and version of a versioned SPDX id (``LGPL-2.1-or-later``), None for others (``MIT``)."""
    found = _VERSIONED.match(spdx_id)
    if found is None:
        return None
    suffix = found["suffix"] or ""
    return Version(found["family"].upper(), found["version"], suffix in ("-or-later", "+"))


@dataclass(frozen=True)
class Named:
    """One license found in a text: its SPDX id, whether it was found as a full license text, and
    whether the words that named it include a version number."""

    spdx: str
    full_text: bool
    has_version: bool


def absorb_references(found: list[Named]) -> list[str | None]:
    """For each license found in one text, the id it contributes to the text's expression, or None
    when another match explains it: a notice, tag or reference (not a full text) of a license whose
    full text is in the same text, in the same family, and either of the same version or naming no
    version at all. A same-version "or later" notice turns the full text's ``-only`` into
    ``-or-later`` (the notice is the grant; the text is the copy of that version)."""
    out: list[str | None] = [f.spdx for f in found]
    texts = [(i, parse(f.spdx)) for i, f in enumerate(found) if f.full_text]
    for i, item in enumerate(found):
        if item.full_text:
            continue
        mine = parse(item.spdx)
        if mine is None:
            continue
        for j, theirs in texts:
            if theirs is None or theirs.family != mine.family:
                continue
            if theirs.version == mine.version:
                if mine.or_later and not theirs.or_later:
                    out[j] = item.spdx
                out[i] = None
                break
            if not item.has_version:
                out[i] = None
                break
    return out


# A license whose text is another license plus additional permissions: its key family-version, and
# the family-version it incorporates. LGPL-3.0 is the only one on the SPDX list that says so of itself
# (LGPL-2.1 and GPL-2.0 are separate texts with separate terms).
INCORPORATES: dict[tuple[str, str], tuple[str, str]] = {("LGPL", "3.0"): ("GPL", "3.0")}


def drop_incorporated(ids: list[str]) -> list[str]:
    """``ids`` (one folder's license files) without those another of them incorporates."""
    versions = [parse(i) for i in ids]
    covered = {INCORPORATES[(v.family, v.version)] for v in versions
               if v is not None and (v.family, v.version) in INCORPORATES}
    if not covered:
        return ids
    return [i for i, v in zip(ids, versions, strict=True)
            if v is None or (v.family, v.version) not in covered]


def attach_exceptions(exprs: list[str], is_exception: Callable[[str], bool]) -> list[str]:
    """One folder's license-file expressions with exception texts (found alone, in their own file)
    attached to the one license they can modify: ``["GPL-3.0-only", "GCC-exception-3.1"]`` ->
    ``["GPL-3.0-only WITH GCC-exception-3.1"]``. With several candidate licenses, or none, nothing
    changes (which license an exception modifies is then not ours to guess)."""
    exceptions = [e for e in exprs if " " not in e and is_exception(e)]
    if not exceptions:
        return exprs
    bases = [e for e in exprs if e not in exceptions]
    if len(bases) != 1 or " " in bases[0]:
        return exprs
    return [" WITH ".join([bases[0], *exceptions[:1]]), *exceptions[1:]]
