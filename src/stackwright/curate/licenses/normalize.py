"""Normalise license texts the way the SPDX matching guidelines allow before comparing them.

The guidelines (https://spdx.github.io/spdx-spec/v2.3/license-matching-guidelines-and-templates/)
say that case, whitespace, punctuation, quote and dash styles, list bullets and numbering,
copyright notices, ``http``/``https`` and a list of equivalent spellings do not change a license.
Normalised text is a list of word tokens; each token remembers its line for reports.
"""

from __future__ import annotations

import re

# Equivalent words from the SPDX matching guidelines (equivalentwords.txt): the second spelling
# is replaced by the first. Multi-word forms are handled before tokenising.
EQUIVALENT_WORDS = {
    "acknowledgement": "acknowledgment",
    "analog": "analogue",
    "analyze": "analyse",
    "artifact": "artefact",
    "authorization": "authorisation",
    "authorized": "authorised",
    "caliber": "calibre",
    "canceled": "cancelled",
    "capitalizations": "capitalisations",
    "catalog": "catalogue",
    "categorize": "categorise",
    "center": "centre",
    "emphasized": "emphasised",
    "favor": "favour",
    "favorite": "favourite",
    "fulfill": "fulfil",
    "fulfillment": "fulfilment",
    "initialize": "initialise",
    "judgement": "judgment",
    "labeling": "labelling",
    "labor": "labour",
    "licence": "license",
    "licences": "licenses",
    "licenced": "licensed",
    "licencing": "licensing",
    "maximize": "maximise",
    "modeled": "modelled",
    "modeling": "modelling",
    "offense": "offence",
    "optimize": "optimise",
    "organization": "organisation",
    "organize": "organise",
    "practise": "practice",
    "program": "programme",
    "realize": "realise",
    "recognize": "recognise",
    "signaling": "signalling",
    "utilization": "utilisation",
    "whilst": "while",
    "wilfull": "wilful",
}
_EQUIVALENT_PHRASES = [
    (re.compile(r"sub[\s\-]+licen[cs]e"), "sublicense"),
    (re.compile(r"non[\s\-]+commercial"), "noncommercial"),
    (re.compile(r"copyright\s+holder"), "copyright owner"),
    (re.compile(r"https?://"), "http://"),
]

_PHRASES = re.compile("|".join(f"(?:{p.pattern})" for p, _ in _EQUIVALENT_PHRASES))


def _phrase(match: re.Match[str]) -> str:
    found = match.group(0)
    for pattern, replacement in _EQUIVALENT_PHRASES:
        if pattern.fullmatch(found):
            return replacement
    return found


# Whole-text patterns (MULTILINE): each works on every line at once, and none crosses a newline,
# so line numbers are kept. Comment markers and indentation first, then copyright notices (ignored
# by the guidelines), then list bullets and numbering ("1.", "(a)", "ii)", "*", "-", "•").
_H = r"[ \t\f\v]"
_COMMENT_PREFIX = re.compile(rf"^[ \t\f\v#/*;!\-=<>|%\"'`]*(?:rem{_H}|dnl{_H})?{_H}*", re.M)
# "Copyright:" used as a field label in front of other text (PostScript resources, Debian files).
_COPYRIGHT_LABEL = re.compile(rf"^copyright{_H}*:{_H}*(?!\(c\)|©|\d)", re.M)
_COPYRIGHT_LINE = re.compile(
    r"^(?:(?:portions\s+)?copyright\b(?!\s*(?:notice|owner|holder|law|and\b|or\b|,|statement|license))"
    r"|\(c\)\s*(?:\d|copyright)|©|all\s+rights\s+reserved)[^\n]*",
    re.M,
)
_RIGHTS_RESERVED = re.compile(r"all\s+rights\s+reserved\.?")
_BULLET = re.compile(
    rf"^{_H}*(?:[*\-•·‣◦○●▪■–—]+{_H}+|\(?(?:\d{{1,2}}|[a-z]|[ivx]{{1,5}})[.)](?=\s){_H}*"
    rf"|\((?:\d{{1,2}}|[a-z]|[ivx]{{1,5}})\){_H}*)",
    re.M,
)
# Markers some reference texts use for variable or required parts.
_MARKUP = re.compile(r"\{\{|\}\}|\[\[|\]\]|<<beginoptional>>|<<endoptional>>")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)



def normalized_lines(text: str) -> list[tuple[int, str]]:
    """(line number, normalised line) for each line that is not a copyright notice."""
    # Lower-case first: every pattern below is written in lower case (and runs faster so).
    text = text.replace("\r\n", "\n").replace("\r", "\n").lower()
    text = _MARKUP.sub(" ", text)
    text = _PHRASES.sub(_phrase, text)
    text = _COMMENT_PREFIX.sub("", text)
    text = _COPYRIGHT_LABEL.sub("", text)
    text = _COPYRIGHT_LINE.sub("", text)
    text = _RIGHTS_RESERVED.sub(" ", text)
    text = _BULLET.sub(" ", text)
    return [(number, line) for number, line in enumerate(text.split("\n"), start=1) if line.strip()]


def tokenize(text: str) -> tuple[list[str], list[int]]:
    """Word tokens of the normalised text and the line each came from.

    Equivalent spellings (``licence``/``license``) are left as written: the index maps both to one
    token id (see :data:`EQUIVALENT_WORDS`).
    """
    tokens: list[str] = []
    lines: list[int] = []
    findall = _WORD.findall
    for number, body in normalized_lines(text):
        words = findall(body)
        if words:
            tokens.extend(words)
            lines.extend([number] * len(words))
    return tokens, lines
