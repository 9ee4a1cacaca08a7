"""A README's license section: the text under a "License" heading, in Markdown, reStructuredText,
HTML headings or plain text. A pure function of the path and the decoded text; never raises."""

from __future__ import annotations

import re

MAX_README_SECTION_CHARS = 20_000


def base_name(path: str) -> str:
    """The last component of a repository path ("" for a folder path ending in "/")."""
    return path.rsplit("/", 1)[-1]


_README_EXTENSIONS = r"\.(?:md|markdown|mdown|mkd|mkdn|mdx|rst|rest|txt|text|adoc|asciidoc|org|rdoc)"
_README_RE = re.compile(  # README, README.md, and language variants README.zh-CN.md, README_pt_BR.rst
    rf"readme(?:{_README_EXTENSIONS})?|readme[._-][a-z]{{2}}(?:[-_][a-z]{{2,4}})?{_README_EXTENSIONS}"
)
_MAX_HEADING_LINE = 1000
_MARKDOWN_EXTENSIONS = ("md", "markdown", "mdown", "mkd", "mkdn", "mdx")
_RST_EXTENSIONS = ("rst", "rest")

_ATX_RE = re.compile(r" {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*")
_HTML_HEADING_RE = re.compile(r"\s*<h([1-6])(?:\s[^>]*)?>(.*?)</h\1>\s*", re.IGNORECASE)
_FENCE_RE = re.compile(r" {0,3}(`{3,}|~{3,})")
_SETEXT_RE = re.compile(r" {0,3}(=+|-+)[ \t]*")
_RST_ADORNMENT_RE = re.compile(r"([!-/:-@\[-`{-~])\1+[ \t]*")  # one punctuation character, repeated

_HEADING_WORD = r"(?:licen[cs](?:e|es|ing)|copyrights?|copying|legal)"
_HEADING_EXTRA = (
    r"(?:licen[cs](?:e|es|ing)|copyrights?|legal|attribution|credits?|authors?|contributing|contributors)"
)
_LICENSE_HEADING_RE = re.compile(
    rf"(?:the\s+|project\s+|software\s+)?{_HEADING_WORD}"
    rf"(?:\s*(?:and|&|/|,|\+)\s*{_HEADING_EXTRA})*"
    r"(?:\s+(?:information|info|notice|notices|terms|details|statement))?"
)
# Looser headings, tried only when no heading above has a non-empty section: "License: MIT",
# "License (Apache-2.0)", "MIT License", "Apache 2.0 License".
_LOOSE_LICENSE_HEADING_RE = re.compile(r"licen[cs]e\s*[:(].*|(?:[\w.+-]+\s+){1,3}licen[cs]e")


def _readme_flavor(name: str) -> str | None:
    lowered = name.lower()
    if not _README_RE.fullmatch(lowered):
        return None
    extension = lowered.rsplit(".", 1)[1] if "." in lowered else ""
    if extension in _MARKDOWN_EXTENSIONS:
        return "markdown"
    if extension in _RST_EXTENSIONS:
        return "rst"
    return "plain"


def _heading_text(title: str) -> str:
    """A heading's words, lower case, without Markdown links, inline HTML, emphasis or emoji."""
    title = re.sub(r"\[([^\]]*)\]\([^)]*\)", r"\1", title)  # [License](#license) -> License
    title = re.sub(r"<[^>]+>", " ", title)  # inline HTML such as <a name="license"></a>
    title = re.sub(r"[*_`~]+", " ", title.lower())  # emphasis and code spans
    title = re.sub(r"^[\s\W]*\d+(?:[.)]\d+)*[.)]?\s+", "", title)  # "7. License", "2.3) License"
    return " ".join(re.sub(r"[^\w\s&/,+:().-]", " ", title).split()).strip(" :.-")


def _is_license_heading(title: str, loose: bool = False) -> bool:
    text = _heading_text(title)
    if loose:
        return bool(_LOOSE_LICENSE_HEADING_RE.fullmatch(text))
    return bool(_LICENSE_HEADING_RE.fullmatch(text))


def _headings(lines: list[str], flavor: str) -> list[tuple[int, int, int, str]]:
    """(first line of the heading, first line after it, level, title) for each heading, in order.

    Markdown: ATX ``#`` headings, setext underlines (``===`` level 1, ``---`` level 2) and single-line HTML
    ``<hN>`` headings, skipping fenced code. reStructuredText: underlined (optionally overlined) titles,
    levels in order of first appearance as docutils assigns them. Plain files get ATX headings plus
    underlines, ``=`` and ``-`` as levels 1 and 2 and other adornments after them.
    """
    headings: list[tuple[int, int, int, str]] = []
    styles: list[tuple[str, bool]] = []  # reStructuredText adornment styles in order of appearance
    fence: str | None = None
    i = 0
    while i < len(lines):
        line = lines[i]
        if len(line) > _MAX_HEADING_LINE:  # no heading is this long; spare the regular expressions
            i += 1
            continue
        if flavor != "rst":
            fence_match = _FENCE_RE.match(line)
            if fence is not None:
                closing = fence_match.group(1) if fence_match else ""
                bare = not line.strip(" \t" + fence[0])  # a closing fence carries no info string
                if closing[:1] == fence[:1] and len(closing) >= len(fence) and bare:
                    fence = None
                i += 1
                continue
            if fence_match:
                fence = fence_match.group(1)
                i += 1
                continue
            atx = _ATX_RE.fullmatch(line)
            if atx:
                headings.append((i, i + 1, len(atx.group(1)), atx.group(2) or ""))
                i += 1
                continue
            if flavor == "markdown":
                html = _HTML_HEADING_RE.fullmatch(line)
                if html:
                    headings.append((i, i + 1, int(html.group(1)), html.group(2)))
                    i += 1
                    continue
        title = line.strip()
        if (
            title
            and i + 1 < len(lines)
            and not line[0].isspace()
            and not _RST_ADORNMENT_RE.fullmatch(line)
            and (not headings or headings[-1][1] <= i)
        ):
            under = lines[i + 1]
            if flavor == "markdown":
                setext = _SETEXT_RE.fullmatch(under)
                if setext and (i == 0 or not lines[i - 1].strip() or (headings and headings[-1][1] == i)):
                    headings.append((i, i + 2, 1 if setext.group(1)[0] == "=" else 2, title))
                    i += 2
                    continue
            else:
                adornment = _RST_ADORNMENT_RE.fullmatch(under)
                if adornment and len(under.strip()) >= min(len(title), 3):
                    char = adornment.group(1)
                    over = i > 0 and lines[i - 1].strip() == under.strip()
                    start = i - 1 if over else i
                    if flavor == "rst":
                        if (char, over) not in styles:
                            styles.append((char, over))
                        level = styles.index((char, over)) + 1
                    else:
                        if char not in "=-" and (char, over) not in styles:
                            styles.append((char, over))
                        level = {"=": 1, "-": 2}.get(char) or styles.index((char, over)) + 3
                    headings.append((start, i + 2, level, title))
                    i += 2
                    continue
        i += 1
    return headings


def readme_license_section(path: str, text: str) -> str | None:
    """The body of a README's license section, or ``None``.

    ``path`` must name a README (README, README.md, readme.markdown, README.rst, README.txt, README.zh-CN.md,
    ... in any case). The section is the first non-empty one whose heading reads License / Licence /
    Licensing / Licenses / Copyright / "License and copyright" / "Copyright & License" / "Legal" (with
    decoration such as emphasis, emoji, links, numbering or a trailing colon ignored), or failing that one
    headed like "License: MIT", "License (MIT)" or "MIT License"; it runs from after
    its heading to the next heading of the same or a higher level, stripped and capped at
    :data:`MAX_README_SECTION_CHARS` characters. Headings are Markdown (``#`` to ``######``, setext
    ``===``/``---``, HTML ``<h2>``) or reStructuredText underlined titles, chosen by the extension.
    """
    flavor = _readme_flavor(base_name(path))
    if flavor is None or not text:
        return None
    lines = text.lstrip("\ufeff").splitlines()
    headings = _headings(lines, flavor)
    for loose in (False, True):
        for n, (_start, body_start, level, title) in enumerate(headings):
            if not _is_license_heading(title, loose):
                continue
            end = len(lines)
            for next_start, _next_body, next_level, _next_title in headings[n + 1 :]:
                if next_level <= level:
                    end = next_start
                    break
            body = "\n".join(lines[body_start:end]).strip()
            if body:
                return body[:MAX_README_SECTION_CHARS]
    return None
