"""Normalise license texts the way the SPDX matching guidelines allow before comparing them.

The guidelines (https://spdx.github.io/spdx-spec/v2.3/license-matching-guidelines-and-templates/)
say that case, whitespace, punctuation, quote and dash styles, list bullets and numbering,
copyright notices, ``http``/``https`` and a list of equivalent spellings do not change a license.
Normalised text is a list of word tokens; each token remembers its line for reports.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

# Equivalent words from the SPDX matching guidelines (equivalentwords.txt): the second spelling
# is replaced by the first. Multi-word forms are handled before tokenising.
_EQUIVALENT_WORDS = {
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
    (re.compile(r"\bsub[\s\-]+licen[cs]e", re.I), "sublicense"),
    (re.compile(r"\bnon[\s\-]+commercial", re.I), "noncommercial"),
    (re.compile(r"\bcopyright\s+holder", re.I), "copyright owner"),
    (re.compile(r"https?://", re.I), "http://"),
]

# A line that is a copyright notice (ignored by the guidelines), after comment markers.
_COMMENT_PREFIX = re.compile(r"^[\s#/*;!\-=<>|%\"'`]*(?:rem\s|dnl\s)?\s*")
_COPYRIGHT_LINE = re.compile(
    r"^(?:(?:portions\s+)?copyright\b(?!\s*(?:notice|owner|holder|law|and\b|or\b|,|statement|license))"
    r"|\(c\)\s*(?:\d|copyright)|©|all\s+rights\s+reserved)",
    re.I,
)
# "Copyright:" used as a field label in front of other text (PostScript resources, Debian files).
_COPYRIGHT_LABEL = re.compile(r"^copyright\s*:\s*(?!\(c\)|©|\d)", re.I)
_RIGHTS_RESERVED = re.compile(r"\ball\s+rights\s+reserved\.?", re.I)
# List bullets and numbering at the start of a line: "1.", "(a)", "ii)", "*", "-", "•".
_BULLET = re.compile(
    r"^\s*(?:[*\-•·‣◦○●▪■–—]+\s+|\(?(?:\d{1,2}|[a-z]|[ivx]{1,5})[.)]\s+|\((?:\d{1,2}|[a-z]|[ivx]{1,5})\)\s*)",
    re.I,
)
# Markers some reference texts use for variable or required parts.
_MARKUP = re.compile(r"\{\{|\}\}|\[\[|\]\]|<<beginOptional>>|<<endOptional>>")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)

# Lines that introduce a license text without being part of it ("The MIT License (MIT)").
TITLE_WORDS = frozenset({"the", "license", "licence", "version", "v", "and"})


def normalized_lines(text: str) -> list[tuple[int, str]]:
    """(line number, normalised line) for each line that is not a copyright notice."""
    text = _MARKUP.sub(" ", text)
    for pattern, replacement in _EQUIVALENT_PHRASES:
        text = pattern.sub(replacement, text)
    out: list[tuple[int, str]] = []
    for number, line in enumerate(text.splitlines(), start=1):
        body = _COMMENT_PREFIX.sub("", line, count=1)
        body = _COPYRIGHT_LABEL.sub("", body, count=1)
        if _COPYRIGHT_LINE.match(body):
            continue
        body = _RIGHTS_RESERVED.sub(" ", body)
        body = _BULLET.sub(" ", body, count=1)
        if body.strip():
            out.append((number, body.lower()))
    return out


def tokenize(text: str) -> tuple[list[str], list[int]]:
    """Word tokens of the normalised text and the line each came from."""
    tokens: list[str] = []
    lines: list[int] = []
    eq = _EQUIVALENT_WORDS
    for number, body in normalized_lines(text):
        for word in _WORD.findall(body):
            tokens.append(eq.get(word, word))
            lines.append(number)
    return tokens, lines


def normalized_key(tokens: Sequence[str]) -> str:
    """The normalised text as one string, for exact comparison and caching."""
    return " ".join(tokens)
