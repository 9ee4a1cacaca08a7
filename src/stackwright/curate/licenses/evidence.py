"""Where a repository states its license, besides license texts: which files are license files, what
package manifests declare, a README's license section, SPDX header tags, and which folders a license
file covers.

Everything here is a pure function of a repository-relative, "/"-separated path and (where needed) the
file's decoded text: no file I/O, no network, and nothing is ever executed (``setup.py`` is read with
:mod:`ast`). Manifest values are returned exactly as written; mapping them to SPDX is the caller's job.
Malformed input never raises: it yields ``[]`` or ``None``.
"""

from __future__ import annotations

import ast
import configparser
import json
import re
import tomllib
import xml.etree.ElementTree as ET
from typing import Any

from stackwright.curate.licenses.readme import MAX_README_SECTION_CHARS, base_name, readme_license_section

__all__ = [
    "MAX_MANIFEST_CHARS",
    "MAX_README_SECTION_CHARS",
    "covering_dirs",
    "license_dir",
    "license_file_kind",
    "manifest_kind",
    "manifest_licenses",
    "readme_license_section",
    "spdx_header_expressions",
]

MAX_MANIFEST_CHARS = 2_000_000  # a larger "manifest" is not one we trust to parse; it yields []


def _parent_name(path: str) -> str:
    parts = path.strip("/").split("/")
    return parts[-2] if len(parts) >= 2 else ""


# --------------------------------------------------------------------------------------------------
# License files
# --------------------------------------------------------------------------------------------------

# Extensions a license file may carry and that say nothing about it ("LICENSE.txt" is "LICENSE").
_DOC_EXTENSIONS = frozenset({"txt", "text", "md", "markdown", "mdown", "mkd", "rst", "html", "htm", "adoc",
                             "asciidoc", "org"})

# Last name components that make a "license"-named file code or data, never a license text
# ("license.py", "licenses.js", "license_test.go", "LICENSE.json", "copyright.c").
_NON_LICENSE_EXTENSIONS = frozenset("""
    py pyc pyi pyx pxd ipynb js mjs cjs jsx ts mts cts tsx vue svelte go java kt kts scala sc groovy gradle
    c h cc cpp cxx c++ hpp hh hxx ipp inl m mm cs csx fs fsx fsi vb swift rs rb erb php phtml pl pm t pod
    lua r rmd jl dart ex exs erl hrl hs lhs clj cljs cljc edn elm ml mli re res nim zig d v sv vhd vhdl
    asm s f f90 f95 for pas pp lisp el scm rkt ss vim tcl awk sed sh bash zsh fish ps1 psm1 bat cmd
    sql json json5 jsonc yaml yml toml xml xsd xsl ini cfg conf properties plist lock csv tsv proto
    graphql gql tf hcl nix cmake mk make mak css scss sass less styl ejs hbs handlebars mustache jinja
    jinja2 j2 twig liquid njk haml slim jade pug png jpg jpeg gif bmp ico svg webp pdf ps eps zip gz tgz
    bz2 xz zst 7z tar jar war ear class o obj so a dll dylib exe bin wasm map snap meta pickle pkl
    db sqlite spec
""".split())

# Words around "LICENSE" that mark a program about licenses rather than a license ("license_test").
_NON_LICENSE_WORDS = frozenset({"test", "tests", "spec", "specs", "check", "checks", "checker", "manager",
                                "util", "utils", "helper", "helpers", "plugin", "controller", "service",
                                "generator", "validator", "parser", "key", "keys", "server", "client"})

# COPYING3: GCC. PATENTS (React's old BSD+PATENTS, Go's "Additional IP Rights Grant") and EULA files
# carry terms of their own: they are license files, judged by their text like any other.
_LICENSE_CORE = r"(?:un)?licen[cs]es?|copying[0-9]?|copyrights?|(?:thirdparty)?notices?|patents?|eula"
_LICENSE_NAME_RE = re.compile(
    r"(?:(?P<pre>[a-z0-9]+(?:[-_][a-z0-9]+)*)[-_.])?"  # MIT-LICENSE, third_party_notices, MIT.LICENSE
    rf"(?P<core>{_LICENSE_CORE})"
    r"(?:[-_.](?P<suf>[a-z0-9+]+(?:[-_.][a-z0-9+]+)*))?"  # LICENSE-MIT, COPYING.LESSER, LICENSE-APACHE-2.0
)


def _has_code_extension(lowered_name: str) -> bool:
    return "." in lowered_name and lowered_name.rsplit(".", 1)[1] in _NON_LICENSE_EXTENSIONS


def license_file_kind(path: str) -> str | None:
    """Say whether the file at ``path`` (repository-relative, "/"-separated) is a license file.

    Returns ``"notice"`` for NOTICE files (NOTICE, NOTICE.txt, THIRD-PARTY-NOTICES, ...), ``"license"`` for
    LICENSE / LICENCE / COPYING / UNLICENSE / COPYRIGHT files and their variants (any case, an optional
    documentation extension such as .txt/.md/.rst/.html/.adoc/.org, and words joined by ``-``, ``_`` or
    ``.``: MIT-LICENSE, LICENSE-MIT, LICENSE.APACHE, LICENSE-APACHE-2.0, COPYING.LESSER, Debian's
    ``copyright``), for patent grants and end-user terms (PATENTS, PATENT-GRANT, ADDITIONAL_PATENT_GRANT,
    EULA.txt: extra conditions next to a license), and also for any file directly inside a ``LICENSES/``
    folder (the REUSE layout, e.g.
    ``LICENSES/MIT.txt``). Returns ``None`` otherwise: code and data files (``license.py``,
    ``licenses.js``, ``license_test.go``, ``LICENSE.json``, ``copyright.c``), names where the word is part
    of another word (``LicenseManager.java``), and REUSE sidecar files such as ``logo.png.license``.
    """
    name = base_name(path).lower()
    if not name or len(name) > 100:
        return None
    if _has_code_extension(name):
        return None
    if _parent_name(path).lower() == "licenses":
        return "license"
    stem = name
    if "." in stem and stem.rsplit(".", 1)[1] in _DOC_EXTENSIONS:
        stem = stem.rsplit(".", 1)[0]
    match = _LICENSE_NAME_RE.fullmatch(stem)
    if match is None:
        return None
    extra = [word for part in (match["pre"], match["suf"]) if part for word in re.split(r"[-_.]", part)]
    if any(word in _NON_LICENSE_WORDS for word in extra):
        return None
    return "notice" if "notice" in match["core"] else "license"


def license_dir(path: str) -> str:
    """The folder a license file at ``path`` applies to: its own folder ("" for the repository root),
    except that a file inside a ``LICENSES/`` folder (REUSE layout) applies to the folder above it."""
    parts = path.strip("/").split("/")[:-1]
    if parts and parts[-1].lower() == "licenses":
        parts = parts[:-1]
    return "/".join(parts)


def covering_dirs(path: str) -> list[str]:
    """The folders whose license files may cover the file at ``path``, nearest first, ending with the
    repository root "": ``"a/b/c.py"`` -> ``["a/b", "a", ""]``, ``"c.py"`` -> ``[""]``."""
    parts = [part for part in path.strip("/").split("/")[:-1] if part not in ("", ".")]
    return ["/".join(parts[:i]) for i in range(len(parts), -1, -1)]


# --------------------------------------------------------------------------------------------------
# Package manifests
# --------------------------------------------------------------------------------------------------

_MANIFEST_NAMES = {
    "package.json": "package.json",
    "composer.json": "composer.json",
    "pyproject.toml": "pyproject.toml",
    "setup.cfg": "setup.cfg",
    "setup.py": "setup.py",
    "Cargo.toml": "Cargo.toml",
    "pom.xml": "pom.xml",
    "DESCRIPTION": "DESCRIPTION",
}
_MANIFEST_EXTENSIONS = {".gemspec": "gemspec", ".nuspec": "nuspec"}


def manifest_kind(path: str) -> str | None:
    """The kind of package manifest at ``path``, or ``None``: one of ``"package.json"``,
    ``"composer.json"``, ``"pyproject.toml"``, ``"setup.cfg"``, ``"setup.py"``, ``"Cargo.toml"``,
    ``"pom.xml"``, ``"DESCRIPTION"`` (R; the base name exactly), ``"gemspec"`` (``*.gemspec``) or
    ``"nuspec"`` (``*.nuspec``). Names are matched exactly as the tools that read them spell them."""
    name = base_name(path)
    if name in _MANIFEST_NAMES:
        return _MANIFEST_NAMES[name]
    lowered = name.lower()
    for extension, kind in _MANIFEST_EXTENSIONS.items():
        if lowered.endswith(extension) and len(lowered) > len(extension):
            return kind
    return None


def manifest_licenses(path: str, text: str) -> list[str]:
    """The license strings the manifest at ``path`` declares, exactly as written (stripped of surrounding
    white space), in file order, without duplicates.

    Several items mean several declarations whose combination the format does not define (Maven's
    ``<licenses>``, npm's legacy ``licenses`` array); where the format says how they combine, they come
    joined into one string: composer's list -> ``"A OR B"``; a gemspec's ``licenses`` -> ``"A AND B"``
    (see :func:`_gemspec_licenses`). Pointers to license files (``license = {file = ...}``,
    ``license-file``, ``licenseUrl``, nuspec ``type="file"``) are ignored. Not a manifest, malformed
    input, or anything larger than :data:`MAX_MANIFEST_CHARS` gives ``[]``; this never raises.
    """
    kind = manifest_kind(path)
    if kind is None or not text or len(text) > MAX_MANIFEST_CHARS or "\x00" in text:
        return []
    reader = _MANIFEST_READERS[kind]
    try:
        found = reader(text.removeprefix("\ufeff"))
    except Exception:  # a parser's complaint about a malformed or hostile manifest is just "nothing here"
        return []
    result: list[str] = []
    for value in found:
        value = value.strip()
        if value and value not in result:
            result.append(value)
    return result


def _str(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else []


def _npm_license_value(value: Any) -> list[str]:
    """npm's ``license`` as a string, or the deprecated ``{"type": ..., "url": ...}`` object."""
    if isinstance(value, dict):
        return _str(value.get("type"))
    return _str(value)


def _package_json_licenses(text: str) -> list[str]:
    data = json.loads(text)
    if not isinstance(data, dict):
        return []
    found = _npm_license_value(data.get("license"))
    legacy = data.get("licenses")
    if isinstance(legacy, list):
        for item in legacy:
            found += _npm_license_value(item)
    else:
        found += _npm_license_value(legacy)
    return found


def _composer_json_licenses(text: str) -> list[str]:
    data = json.loads(text)
    if not isinstance(data, dict):
        return []
    value = data.get("license")
    if isinstance(value, list):
        # Composer: "When there are multiple licenses the package is available under all of them" as
        # alternatives (a disjunctive license), so the list is one expression joined with OR.
        names = [item.strip() for item in value if isinstance(item, str) and item.strip()]
        return [" OR ".join(names)] if names else []
    return _str(value)


def _pyproject_licenses(text: str) -> list[str]:
    data = tomllib.loads(text)
    found: list[str] = []
    project = data.get("project")
    if isinstance(project, dict):
        value = project.get("license")
        if isinstance(value, dict):  # PEP 621 table: {text = "..."} counts, {file = "..."} points elsewhere
            found += _str(value.get("text"))
        else:  # PEP 639: an SPDX expression string
            found += _str(value)
    tool = data.get("tool")
    if isinstance(tool, dict):
        poetry = tool.get("poetry")
        if isinstance(poetry, dict):
            found += _str(poetry.get("license"))
    return found


def _cargo_licenses(text: str) -> list[str]:
    data = tomllib.loads(text)
    found: list[str] = []
    package = data.get("package")
    if isinstance(package, dict):
        found += _str(package.get("license"))  # `license.workspace = true` is a table: it inherits, below
    workspace = data.get("workspace")
    if isinstance(workspace, dict) and isinstance(workspace.get("package"), dict):
        found += _str(workspace["package"].get("license"))
    return found


def _setup_cfg_licenses(text: str) -> list[str]:
    parser = configparser.ConfigParser(interpolation=None, strict=False)
    parser.read_string(text)
    if not parser.has_section("metadata"):
        return []
    value = parser.get("metadata", "license", fallback=None)
    return _str(value)


def _setup_py_licenses(text: str) -> list[str]:
    """``license="..."`` in a ``setup(...)`` call, read with :mod:`ast` and never executed. A module-level
    ``NAME = "..."`` constant passed as ``license=NAME`` is resolved; anything computed is not."""
    tree = ast.parse(text)
    constants: dict[str, str] = {}
    for node in tree.body:
        if isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant):
            if isinstance(node.value.value, str):
                for target in node.targets:
                    if isinstance(target, ast.Name):
                        constants[target.id] = node.value.value
    found: list[str] = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        func = node.func
        name = func.id if isinstance(func, ast.Name) else func.attr if isinstance(func, ast.Attribute) else ""
        if name != "setup":
            continue
        for keyword in node.keywords:
            if keyword.arg != "license":
                continue
            value = keyword.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                found.append(value.value)
            elif isinstance(value, ast.Name) and value.id in constants:
                found.append(constants[value.id])
    return found


_RUBY_STRING = r"""(?:"((?:[^"\\\n]|\\.)*)"|'((?:[^'\\\n]|\\.)*)')"""
_GEMSPEC_LICENSE_RE = re.compile(r"\.license\s*=\s*" + _RUBY_STRING)
_GEMSPEC_LICENSES_RE = re.compile(r"\.licenses\s*=\s*(\[[^\]]*\]|%[wW]\s*[\[(\{<][^\])\}>]*[\])\}>])")
_RUBY_STRING_RE = re.compile(_RUBY_STRING)


def _gemspec_licenses(text: str) -> list[str]:
    """``spec.license = "MIT"`` and ``spec.licenses = ["MIT", "Ruby"]`` (or ``%w[MIT Ruby]``), found with
    regular expressions over the lines that are not comments; the Ruby is never run.

    RubyGems documents ``licenses`` only as "the license(s) for the library" and does not say whether
    several mean a choice or that all apply. We join them with " AND ", the conservative reading: it can
    only demand more obligations than the author meant, never fewer.
    """
    code = "\n".join(line for line in text.splitlines() if not line.lstrip().startswith("#"))
    found: list[tuple[int, str]] = []
    for match in _GEMSPEC_LICENSE_RE.finditer(code):
        found.append((match.start(), match.group(1) if match.group(1) is not None else match.group(2)))
    for match in _GEMSPEC_LICENSES_RE.finditer(code):
        body = match.group(1)
        if body.startswith("%"):
            names = body[2:].strip()[1:-1].split()  # %w[MIT Ruby] -> the words between the delimiters
        else:
            names = [m.group(1) if m.group(1) is not None else m.group(2)
                     for m in _RUBY_STRING_RE.finditer(body)]
        names = [name.strip() for name in names if name.strip()]
        if names:
            found.append((match.start(), " AND ".join(names)))
    return [value for _, value in sorted(found)]


_XML_DANGER_RE = re.compile(r"<!\s*(?:DOCTYPE|ENTITY)", re.IGNORECASE)


def _parse_xml(text: str) -> ET.Element | None:
    """Parse XML that declares no DTD or entities (so no entity expansion attack can reach expat)."""
    if _XML_DANGER_RE.search(text):
        return None
    return ET.fromstring(text.lstrip("\ufeff"))


def _local(tag: Any) -> str:
    return tag.rsplit("}", 1)[-1] if isinstance(tag, str) else ""


def _children(element: ET.Element, name: str) -> list[ET.Element]:
    return [child for child in element if _local(child.tag) == name]


def _pom_licenses(text: str) -> list[str]:
    root = _parse_xml(text)
    if root is None or _local(root.tag) != "project":
        return []
    found: list[str] = []
    for licenses in _children(root, "licenses"):
        for license_ in _children(licenses, "license"):
            for name in _children(license_, "name"):
                if name.text:
                    found.append(" ".join(name.text.split()))
    return found


def _nuspec_licenses(text: str) -> list[str]:
    root = _parse_xml(text)
    if root is None or _local(root.tag) != "package":
        return []
    found: list[str] = []
    for metadata in _children(root, "metadata"):
        for license_ in _children(metadata, "license"):
            if (license_.get("type") or "").strip().lower() == "expression" and license_.text:
                found.append(license_.text)
    return found


_DCF_FIELD_RE = re.compile(r"([A-Za-z0-9][A-Za-z0-9@/._-]*)\s*:(.*)")


def _description_licenses(text: str) -> list[str]:
    """The ``License:`` field of an R DESCRIPTION file (Debian control format; indented lines continue
    the field above)."""
    current: str | None = None
    values: dict[str, list[str]] = {}
    for line in text.lstrip("\ufeff").splitlines():
        if not line.strip():
            if values:  # a DESCRIPTION is one record; a blank line ends it
                break
            continue
        if line[0] in " \t":
            if current is not None:
                values[current].append(line.strip())
            continue
        match = _DCF_FIELD_RE.fullmatch(line)
        if match is None:
            return []  # not DCF
        current = match.group(1)
        if current in values:
            current = None  # a repeated field: keep the first
            continue
        values[current] = [match.group(2).strip()]
    value = " ".join(part for part in values.get("License", []) if part)
    return [value] if value else []


_MANIFEST_READERS = {
    "package.json": _package_json_licenses,
    "composer.json": _composer_json_licenses,
    "pyproject.toml": _pyproject_licenses,
    "setup.cfg": _setup_cfg_licenses,
    "setup.py": _setup_py_licenses,
    "Cargo.toml": _cargo_licenses,
    "gemspec": _gemspec_licenses,
    "pom.xml": _pom_licenses,
    "nuspec": _nuspec_licenses,
    "DESCRIPTION": _description_licenses,
}


# --------------------------------------------------------------------------------------------------
# SPDX-License-Identifier tags
# --------------------------------------------------------------------------------------------------

_SPDX_TAG_RE = re.compile(r"SPDX-License-Identifier\s*:\s*(.*)", re.IGNORECASE)
_SPDX_EXPRESSION_RE = re.compile(r"[A-Za-z0-9.+\-:() \t]*")  # ids, AND/OR/WITH, parentheses, DocumentRef-x:


def _clean_spdx_expression(raw: str) -> str:
    expression = _SPDX_EXPRESSION_RE.match(raw).group(0)  # stops at */ --> ; " ' # and the like
    while True:
        stripped = expression.rstrip(" \t.,:-")
        if stripped.endswith(")") and stripped.count(")") > stripped.count("("):
            stripped = stripped[:-1]  # "(* SPDX-License-Identifier: MIT *)" style closers
        if stripped == expression:
            break
        expression = stripped
    expression = " ".join(expression.split())
    return expression if expression[:1].isalnum() or expression.startswith("(") else ""


def spdx_header_expressions(text: str, max_lines: int = 30) -> list[str]:
    """The expressions of ``SPDX-License-Identifier:`` tags in the first ``max_lines`` lines of ``text``,
    in order and without duplicates.

    Comment markers around the tag (``#``, ``//``, ``/*``, ``*/``, ``*``, ``--``, ``;``, ``%``, ``<!--``,
    ``-->``, ``(*``, ``*)``, ``{-``, ``-}``, quotes) and trailing punctuation are dropped:
    ``/* SPDX-License-Identifier: GPL-2.0-only OR MIT */`` -> ``"GPL-2.0-only OR MIT"``. The expression is
    not validated against the SPDX list; a tag with no expression (``$LICENSE``, empty) is skipped.
    """
    if max_lines <= 0 or not text:
        return []
    found: list[str] = []
    for line in text.split("\n", max_lines)[:max_lines]:
        for match in _SPDX_TAG_RE.finditer(line[:2000]):
            expression = _clean_spdx_expression(match.group(1))
            if expression and expression not in found:
                found.append(expression)
    return found
