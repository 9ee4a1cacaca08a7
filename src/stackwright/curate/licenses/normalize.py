"""Normalise license texts the way the SPDX matching guidelines allow before comparing them.

The guidelines (https://spdx.github.io/spdx-spec/v2.3/license-matching-guidelines-and-templates/)
say that case, whitespace, punctuation, quote and dash styles, list bullets and numbering,
copyright notices, ``http``/``https`` and a list of equivalent spellings do not change a license.
Normalised text is a list of word tokens; each token remembers its line for reports.
"""

from __future__ import annotations

import html
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

# Markup a license is often published in (HTML pages, Markdown, reStructuredText): the markup is not
# part of the license, its text is. Every pattern keeps the text's newlines, so line numbers stay right.
# HTML elements by name only: a bare "<" is part of many license texts ("<https://fsf.org/>",
# "<one line to give the program's name...>"), so only real tags go.
_HTML_TAGS = (
    "a|abbr|address|article|aside|b|big|blockquote|body|br|button|caption|center|cite|code|col|colgroup|dd|"
    "del|details|dfn|div|dl|dt|em|fieldset|figcaption|figure|font|footer|form|h[1-6]|head|header|hr|html|i|"
    "img|input|ins|kbd|label|legend|li|link|main|mark|meta|nav|noscript|ol|option|p|pre|q|s|samp|section|"
    "select|small|span|strike|strong|sub|summary|sup|table|tbody|td|tfoot|th|thead|time|title|tr|tt|u|ul|var|"
    "wbr"
)
_HTML_HIDDEN = re.compile(r"<(script|style|svg)\b[^>]*>.*?</\1\s*>", re.S)  # code, not text
_HTML_TAG = re.compile(rf"</?(?:{_HTML_TAGS})(?:\s[^<>]*)?/?>|<!doctype[^>]*>|<!--|-->")
_HTML_ENTITY = re.compile(r"&(?:#\d{1,7}|#x[0-9a-f]{1,6}|[a-z][a-z0-9]{1,31});")
# Markdown: [text](url), ![alt](url), [text][ref] -> text; "[ref]: url" definitions go.
_MD_LINK = re.compile(
    r"!?\[([^\]\n]*)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"\n]*\")?\)|!?\[([^\]\n]+)\]\[[^\]\n]*\]"
)
_MD_LINK_DEF = re.compile(r"^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*\S+[^\n]*$", re.M)
# reStructuredText: `text <url>`_ -> text, :role:`text` -> text, ".. _target: url" and directive
# markers (".. note::") go.
_RST_LINK = re.compile(r"`([^`<\n]+?)\s*<[^`>\n]+>`_{1,2}")
_RST_ROLE = re.compile(r":[a-z][\w.+-]*:(?=`)")
_RST_TARGET = re.compile(r"^[ \t]*\.\.[ \t]+(?:_[^:\n]+:[^\n]*|[\w-]+::[^\n]*|\|[^|\n]+\|[^\n]*)$", re.M)


def _blank(match: re.Match[str]) -> str:
    """A match replaced by its newlines only (so the lines after it keep their numbers)."""
    return " " + "\n" * match.group(0).count("\n")


def _unescape(match: re.Match[str]) -> str:
    found = html.unescape(match.group(0))
    return " " if found in "<>" and found else found


def strip_markup(text: str) -> str:
    """Lower-cased ``text`` without HTML tags, scripts and entities, Markdown links and
    reStructuredText link and directive markup (only what each format marks as markup is touched)."""
    if "<" in text:
        text = _HTML_HIDDEN.sub(_blank, text)
        text = _HTML_TAG.sub(_blank, text)
    if "&" in text:
        text = _HTML_ENTITY.sub(_unescape, text)
    if "](" in text or "][" in text:
        text = _MD_LINK.sub(lambda m: m.group(1) if m.group(1) is not None else m.group(2), text)
    if "]:" in text:
        text = _MD_LINK_DEF.sub("", text)
    if "`" in text:
        text = _RST_LINK.sub(r"\1", text)
        text = _RST_ROLE.sub("", text)
    if ".." in text:
        text = _RST_TARGET.sub("", text)
    return text


def normalized_lines(text: str) -> list[tuple[int, str]]:
    """(line number, normalised line) for each line that is not a copyright notice."""
    # Lower-case first: every pattern below is written in lower case (and runs faster so).
    text = text.replace("\r\n", "\n").replace("\r", "\n").lower()
    text = strip_markup(text)
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
