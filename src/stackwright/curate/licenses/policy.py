"""Which licenses count as permissive, and the category of an SPDX expression.

A license is ``permissive`` only when its SPDX id is on the allow-list. Otherwise ScanCode's
category decides: Copyleft -> ``copyleft``, Copyleft Limited -> ``weak-copyleft``, Proprietary Free,
Commercial, Free Restricted, Source-available, Patent License and CLA -> ``proprietary-or-restricted``;
a license ScanCode calls permissive but that is not on the allow-list, or an unknown one, is
``unknown``: recognised, not vouched for.

Expressions: ``A OR B`` is as usable as its best option, ``A AND B`` as its most restrictive part,
``A WITH exception`` as ``A``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from license_expression import ExpressionError, LicenseSymbol, LicenseWithExceptionSymbol, Licensing

from stackwright.curate.licenses.database import LicenseIndex, load_index
from stackwright.curate.licenses.model import (
    COPYLEFT,
    NO_LICENSE,
    NOASSERTION,
    PERMISSIVE,
    RESTRICTED,
    UNKNOWN,
    WEAK_COPYLEFT,
)
from stackwright.errors import StackwrightError

# The Stack v1.0 permissive list in current SPDX ids, without the weak-copyleft licenses that v1.1
# removed (MPL, EPL, LGPL), plus licenses that are clearly permissive.
THE_STACK_PERMISSIVE = (
    "MIT-0", "MIT", "MIT-feh", "Apache-2.0", "BSD-3-Clause", "BSD-3-Clause-Clear",
    "BSD-3-Clause-No-Nuclear-License-2014", "BSD-2-Clause", "CC0-1.0", "Unlicense", "ISC",
    "Artistic-2.0", "ECL-2.0", "SHL-0.51",
)
CLEARLY_PERMISSIVE = (
    "0BSD", "BSL-1.0", "Zlib", "PSF-2.0", "Python-2.0", "BSD-1-Clause", "BSD-2-Clause-Patent",
    "BSD-2-Clause-Views", "BSD-3-Clause-Attribution", "BSD-Source-Code", "UPL-1.0", "NCSA",
    "PostgreSQL", "X11", "MIT-CMU", "MIT-Modern-Variant", "MIT-open-group", "HPND", "curl",
    "Libpng", "libpng-2.0", "Unicode-DFS-2015", "Unicode-DFS-2016", "Unicode-3.0", "BlueOak-1.0.0",
    "AFL-3.0", "AFL-2.1", "ZPL-2.1", "MulanPSL-2.0", "WTFPL", "ECL-1.0", "Apache-1.1", "ICU",
    "CERN-OHL-P-2.0", "NTP", "W3C", "W3C-20150513", "Xnet", "MIT-advertising", "Beerware",
    "FSFAP", "FSFUL", "FSFULLR", "PDDL-1.0", "CC-PDDC",
)
DEFAULT_PERMISSIVE = THE_STACK_PERMISSIVE + CLEARLY_PERMISSIVE

_SEVERITY = {PERMISSIVE: 0, WEAK_COPYLEFT: 1, COPYLEFT: 2, NO_LICENSE: 3, UNKNOWN: 4, RESTRICTED: 5}
_SCANCODE_CATEGORY = {
    "Copyleft": COPYLEFT,
    "Copyleft Limited": WEAK_COPYLEFT,
    "Proprietary Free": RESTRICTED,
    "Commercial": RESTRICTED,
    "Free Restricted": RESTRICTED,
    "Source-available": RESTRICTED,
    "Patent License": RESTRICTED,
    "CLA": RESTRICTED,
}
_LICENSING = Licensing()
_PLUS = re.compile(r"(?i)(-or-later|\+|-only)$")


class PolicyError(StackwrightError, ValueError):
    """An allow-list entry that is not an SPDX id the license database knows."""


class LicensePolicy:
    """The permissive allow-list and the categories derived from it."""

    def __init__(self, permissive: Iterable[str] = DEFAULT_PERMISSIVE, index: LicenseIndex | None = None,
                 strict: bool = False) -> None:
        self.index = index or load_index()
        self.permissive = frozenset(p.lower() for p in permissive)
        if strict:
            unknown = [p for p in permissive if self.index.key_of_spdx(p) is None]
            if unknown:
                raise PolicyError(f"unknown SPDX id(s) in the permissive list: {', '.join(unknown)}")

    def license_category(self, spdx_id: str) -> str:
        lowered = spdx_id.lower()
        if lowered in self.permissive:
            return PERMISSIVE
        key = self.index.key_of_spdx(spdx_id)
        if key is None and lowered.startswith("licenseref-scancode-"):
            key = spdx_id[len("LicenseRef-scancode-"):]
        if key is None:
            base = _PLUS.sub("", spdx_id)
            key = self.index.key_of_spdx(base) or self.index.key_of_spdx(base + "-only")
        info = self.index.licenses.get(key) if key else None
        if info is None:
            return UNKNOWN
        return _SCANCODE_CATEGORY.get(info.category, UNKNOWN)

    def category(self, expression: str | None) -> str:
        """The category of an SPDX expression; NOASSERTION or an unparsable one is ``unknown``."""
        if not expression or expression == NOASSERTION:
            return UNKNOWN
        return _expression_category(self, expression)


@lru_cache(maxsize=65536)
def _parse(expression: str):
    return _LICENSING.parse(expression)


def _expression_category(policy: LicensePolicy, expression: str) -> str:
    try:
        tree = _parse(expression)
    except (ExpressionError, Exception):  # license_expression raises several kinds on bad input
        return UNKNOWN
    if tree is None:
        return UNKNOWN
    return _node_category(policy, tree)


def _node_category(policy: LicensePolicy, node) -> str:
    if isinstance(node, LicenseWithExceptionSymbol):
        return policy.license_category(node.license_symbol.key)
    if isinstance(node, LicenseSymbol):
        return policy.license_category(node.key)
    parts = [_node_category(policy, arg) for arg in node.args]
    if node.operator.strip() == "OR":
        return min(parts, key=_SEVERITY.__getitem__)
    return max(parts, key=_SEVERITY.__getitem__)


def license_ids(expression: str) -> list[str]:
    """The license ids named in an expression (without exceptions), in order."""
    try:
        tree = _parse(expression)
    except Exception:
        return []
    if tree is None:
        return []
    out: list[str] = []
    for symbol in _LICENSING.license_symbols(tree, decompose=False):
        if isinstance(symbol, LicenseWithExceptionSymbol):
            symbol = symbol.license_symbol
        if symbol.key not in out:
            out.append(symbol.key)
    return out
