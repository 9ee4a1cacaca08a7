"""License cases built in code from real license texts, judged the way ``stackwright license detect``
judges a path: a folder as a repository, a file by its text (a README by its license section).

The texts are ScanCode's reference texts (``licensedcode-data``, the same package the detector's
index comes from), with a real copyright line, title, preamble or markup around them, assembled into
the layouts the failure classes of generalisation come from:

a. a permissive license beside a patent grant with conditions of its own (BSD + PATENTS);
b. a license that names another license inside its text, or comes with a title, copyright line,
   notice or preamble;
c. an LGPL-3.0 repository shipping the GPL-3.0 text it builds on (COPYING + COPYING.LESSER), and an
   exception in its own file;
d. licenses in markup: HTML pages, Markdown, reStructuredText, and full AGPL-3.0 texts;
e. READMEs judged as files.

A case is correct when the reported expression is one of its ``accept`` (case-insensitive); a false
permissive call is a permissive category for a case whose truth is not permissive.

    .venv/bin/python benchmarks/license_cases.py
    .venv/bin/python benchmarks/licenses.py --cases-builtin
"""

from __future__ import annotations

import argparse
import html
import json
import re
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.curate.licenses.database import reference_text

ROOT = Path(__file__).resolve().parents[1]
NOASSERTION = "NOASSERTION"
HOLDER = "Copyright (c) 2019-2024 Jane Doe and contributors\n\n"


@dataclass(frozen=True)
class BuiltCase:
    name: str
    group: str  # a..e
    files: dict[str, str]  # repository-relative path -> text
    target: str  # the path judged: "" for the repository folder, else one of ``files``
    spdx: str  # the truth
    accept: tuple[str, ...]


def gnu_notice(key: str) -> str:
    """The "How to apply" notice a GNU license text carries, as a project puts it above the text."""
    body = reference_text(key)
    start = body.index("This program is free software")
    end = body.index("Also add information", start)
    return " ".join(body[start:end].split()) + "\n\n"


def paragraphs(body: str) -> list[str]:
    return [" ".join(p.split()) for p in re.split(r"\n\s*\n", body) if p.strip()]


def as_html(body: str, title: str) -> str:
    """A license page: head with style and script, navigation, the text in paragraphs with entities
    and links, a footer."""
    parts = []
    for i, p in enumerate(paragraphs(body)):
        p = re.sub(r"(https?://[\w./#-]+\w)", r'<a href="\1">\1</a>', html.escape(p, quote=True))
        parts.append(f'<p id="section{i}">{p}</p>')
    return (
        f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n<title>{title}</title>\n'
        "<style>body { font-family: sans-serif; } p > a { color: #036; }</style>\n"
        '<script>window.dataLayer = []; if (a < b && c > d) { track("license"); }</script>\n'
        f'</head>\n<body>\n<nav><a href="/">Home</a> | <a href="/docs/">Docs</a></nav>\n<h1>{title}</h1>\n'
        + "\n".join(parts)
        + '\n<footer><a href="/privacy">Privacy</a></footer>\n</body>\n</html>\n'
    )


def as_markdown(body: str, title: str) -> str:
    """Markdown as license files on GitHub often are: headings, bold terms, links."""
    out = [f"# {title}", ""]
    for p in paragraphs(body):
        if re.fullmatch(r"(?:\d+\. |TERMS AND CONDITIONS|Preamble|END OF TERMS)[^.]{0,70}\.?", p):
            out += [f"### {p}", ""]
            continue
        p = re.sub(r'[“"]([A-Z][\w ]{1,30})[”"]', r'"**\1**"', p)
        p = re.sub(r"<?(https?://[\w./#-]+\w)>?", r"[\1](\1)", p)
        out += [p, ""]
    return "\n".join(out)


def as_rst(body: str, title: str) -> str:
    out = ["=" * len(title), title, "=" * len(title), ""]
    for p in paragraphs(body):
        p = re.sub(r"<?(https?://[\w./#-]+\w)>?", r"`\1 <\1>`_", p)
        out += [p, ""]
    return "\n".join(out) + "\n.. _project: https://example.org/project\n"


def cases() -> list[BuiltCase]:
    bsd, mit, apache = reference_text("bsd-new"), reference_text("mit"), reference_text("apache-2.0")
    gpl2, gpl3, lgpl21, lgpl3, agpl = (
        reference_text(k) for k in ("gpl-2.0", "gpl-3.0", "lgpl-2.1", "lgpl-3.0", "agpl-3.0")
    )
    fb = reference_text("facebook-patent-rights-2")
    react_bsd = (
        "BSD License\n\nFor React software\n\nCopyright (c) 2013-present, Facebook, Inc.\n"
        "All rights reserved.\n\n"
    )
    fb_ref = "LicenseRef-scancode-facebook-patent-rights-2"
    out: list[BuiltCase] = []

    def add(name: str, group: str, files: dict[str, str], spdx: str, *also: str, target: str = "") -> None:
        out.append(BuiltCase(name, group, files, target, spdx, (spdx, *also)))

    # a. patent grants beside a permissive license
    add(
        "bsd-plus-patents",
        "a",
        {"LICENSE": react_bsd + bsd, "PATENTS": fb},
        f"BSD-3-Clause AND {fb_ref}",
        NOASSERTION,
    )
    add(
        "bsd-plus-patents-renamed",
        "a",
        {
            "LICENSE": HOLDER + bsd,
            "PATENTS.txt": fb.replace("Facebook", "Acme").replace("<fastText>", "Widget"),
        },
        f"BSD-3-Clause AND {fb_ref}",
        NOASSERTION,
    )
    for name, grant_file, key in (
        ("bsd-plus-google-ip-rights", "PATENTS", "google-patent-license-golang"),
        ("bsd-plus-patent-grant-md", "PATENT_GRANT.md", "google-patent-license-webm"),
    ):
        grant = f"LicenseRef-scancode-{key}"
        files = {"LICENSE": HOLDER + bsd, grant_file: reference_text(key)}
        add(name, "a", files, f"BSD-3-Clause AND {grant}", NOASSERTION)
    add(
        "manifest-bsd-plus-patents",
        "a",
        {"package.json": '{"name": "x", "license": "BSD-3-Clause"}\n', "PATENTS": fb},
        fb_ref,
        f"BSD-3-Clause AND {fb_ref}",
        NOASSERTION,
    )
    add(
        "patents-in-license-file",
        "a",
        {"LICENSE": react_bsd + bsd + "\n\n" + fb},
        f"BSD-3-Clause AND {fb_ref}",
        NOASSERTION,
    )

    # b. licenses named inside a license; titles, notices and preambles
    add("gpl3-names-lgpl", "b", {"COPYING": gpl3}, "GPL-3.0-only")
    add(
        "gpl3-or-later-notice-and-text",
        "b",
        {"COPYING": "Foo - a tool\n" + HOLDER + gnu_notice("gpl-3.0") + gpl3},
        "GPL-3.0-or-later",
    )
    add(
        "agpl3-or-later-notice-and-text",
        "b",
        {"LICENSE": "Bar server\n" + HOLDER + gnu_notice("agpl-3.0") + agpl},
        "AGPL-3.0-or-later",
    )
    terms = gpl2.split("END OF TERMS AND CONDITIONS")[0] + "END OF TERMS AND CONDITIONS\n\n"
    tail = gpl2[gpl2.index("This General Public License does not permit") :]
    add("gpl2-terms-and-last-paragraph", "b", {"COPYING": terms + tail}, "GPL-2.0-only")
    add(
        "lgpl21-with-title",
        "b",
        {"COPYING.LIB": "GNU Lesser General Public License\n\n" + lgpl21},
        "LGPL-2.1-only",
    )
    add(
        "mit-preamble-applies-unless-noted",
        "b",
        {
            "LICENSE": "The following license applies to all files in this repository "
            "unless otherwise noted:\n\n"
            + HOLDER
            + mit
        },
        "MIT",
    )
    add(
        "mit-preamble-released-under",
        "b",
        {
            "LICENSE": "Unless otherwise noted, all files in this project are released "
            "under the MIT license:\n\n"
            + HOLDER
            + mit
        },
        "MIT",
    )
    add(
        "mit-and-bundled-apache",
        "b",
        {
            "LICENSE": "MIT License\n\n"
            + HOLDER
            + mit
            + "\nThe bundled parser in vendor/parser is licensed under "
            "the Apache License 2.0.\n"
        },
        "MIT AND Apache-2.0",
    )
    add("mpl2-names-gpl-family", "b", {"LICENSE": reference_text("mpl-2.0")}, "MPL-2.0")
    add(
        "agpl-title-and-text",
        "b",
        {"LICENSE": "GNU Affero General Public License\n\n" + agpl},
        "AGPL-3.0-only",
    )

    # c. LGPL-3.0 with the GPL-3.0 it builds on; an exception in its own file
    add(
        "lgpl3-copying-and-lesser",
        "c",
        {"COPYING": gpl3, "COPYING.LESSER": lgpl3},
        "LGPL-3.0-only",
        "LGPL-3.0-or-later",
    )
    add(
        "lgpl3-files-and-manifest",
        "c",
        {
            "COPYING": gpl3,
            "COPYING.LESSER": lgpl3,
            "pyproject.toml": '[project]\nname = "x"\nversion = "1"\nlicense = "LGPL-3.0-or-later"\n',
        },
        "LGPL-3.0-or-later",
    )
    add("lgpl3-one-file", "c", {"LICENSE": gpl3 + "\n\n" + lgpl3}, "LGPL-3.0-only", "LGPL-3.0-or-later")
    add(
        "lgpl3-license-folder",
        "c",
        {"LICENSES/GPL-3.0.txt": gpl3, "LICENSES/LGPL-3.0.txt": lgpl3},
        "LGPL-3.0-only",
        "LGPL-3.0-or-later",
    )
    add(
        "gpl3-with-gcc-exception",
        "c",
        {"COPYING3": gpl3, "COPYING.RUNTIME": reference_text("gcc-exception-3.1")},
        "GPL-3.0-only WITH GCC-exception-3.1",
    )

    # d. markup and AGPL texts
    add("mit-html", "d", {"LICENSE.html": as_html(HOLDER + mit, "MIT License")}, "MIT", target="LICENSE.html")
    add(
        "apache-html",
        "d",
        {"LICENSE.html": as_html(apache, "Apache License 2.0")},
        "Apache-2.0",
        target="LICENSE.html",
    )
    add(
        "agpl-html",
        "d",
        {"agpl-3.0.html": as_html(agpl, "GNU Affero General Public License")},
        "AGPL-3.0-only",
        target="agpl-3.0.html",
    )
    add(
        "agpl-markdown",
        "d",
        {"LICENSE.md": as_markdown(agpl, "GNU AFFERO GENERAL PUBLIC LICENSE")},
        "AGPL-3.0-only",
    )
    add("gpl3-markdown", "d", {"LICENSE.md": as_markdown(gpl3, "GNU GENERAL PUBLIC LICENSE")}, "GPL-3.0-only")
    add(
        "bsd-markdown",
        "d",
        {
            "LICENSE.md": "# BSD 3-Clause License\n\nCopyright (c) 2020, [Jane Doe](https://jane.example)\n\n"
            + as_markdown(bsd, "Terms")
        },
        "BSD-3-Clause",
    )
    add("apache-rst", "d", {"LICENSE.rst": as_rst(apache, "Apache License")}, "Apache-2.0")
    add("mit-rst", "d", {"LICENSE.rst": as_rst(HOLDER + mit, "MIT License")}, "MIT")
    add("agpl-plain", "d", {"COPYING": agpl}, "AGPL-3.0-only")

    # e. READMEs judged as files
    intro = (
        "# fastthing\n\nA fast thing.\n\n## Install\n\nYou must install Python 3.11 or later; only "
        "Linux is supported, and you should not run it as root.\n\n    pip install fastthing\n\n"
    )
    add(
        "readme-md-mit",
        "e",
        {
            "README.md": intro + "## License\n\nThis project is licensed under the MIT "
            "License - see the [LICENSE](LICENSE) file for details.\n"
        },
        "MIT",
        target="README.md",
    )
    add(
        "readme-md-apache",
        "e",
        {
            "README.md": intro + "## License\n\nLicensed under the Apache License, "
            "Version 2.0\n\n## Contributing\n\nPull requests must include tests.\n"
        },
        "Apache-2.0",
        target="README.md",
    )
    add(
        "readme-rst-bsd",
        "e",
        {
            "README.rst": "fastthing\n=========\n\nYou must not feed it after midnight.\n\n"
            "License\n-------\n\nfastthing is distributed under the BSD 3-Clause "
            "License. See LICENSE for details.\n"
        },
        "BSD-3-Clause",
        target="README.rst",
    )
    add(
        "readme-md-gpl-notice",
        "e",
        {"README.md": intro + "## Copyright and license\n\n" + gnu_notice("gpl-3.0")},
        "GPL-3.0-or-later",
        target="README.md",
    )
    add(
        "readme-md-apache-notice",
        "e",
        {
            "README.md": intro
            + "## License\n\nCopyright 2024 Jane Doe\n\n"
            + apache[apache.index("Licensed under the Apache License") :].strip()
            + "\n"
        }
        if "Licensed under the Apache License" in apache
        else {"README.md": intro},
        "Apache-2.0",
        target="README.md",
    )
    return out


def run(selected: list[BuiltCase] | None = None, verbose: bool = True) -> dict[str, Any]:
    """Judge every case with ``detect_path``; accuracy and false-permissive counts, overall and per group."""
    from stackwright.config import LicenseConfig
    from stackwright.curate.licenses.repository import detect_path
    from stackwright.curate.licenses.steps import detector_for

    policy = detector_for(LicenseConfig()).policy
    built = selected if selected is not None else cases()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="license-cases-") as tmp:
        for case in built:
            repo = Path(tmp) / case.name
            for rel, body in case.files.items():
                (repo / rel).parent.mkdir(parents=True, exist_ok=True)
                (repo / rel).write_text(body, encoding="utf-8")
            got = detect_path(repo / case.target if case.target else repo).to_json()["spdx"]
            truth_permissive = policy.category(case.spdx) == "permissive"
            false_permissive = not truth_permissive and policy.category(got) == "permissive"
            rows.append(
                {
                    "name": case.name,
                    "group": case.group,
                    "truth": case.spdx,
                    "got": got,
                    "correct": got.lower() in {a.lower() for a in case.accept},
                    "false_permissive": false_permissive,
                }
            )
    groups = sorted({r["group"] for r in rows})
    summary = {
        g: {
            "cases": sum(r["group"] == g for r in rows),
            "correct": sum(r["correct"] for r in rows if r["group"] == g),
            "false_permissive": sum(r["false_permissive"] for r in rows if r["group"] == g),
        }
        for g in groups
    }
    total = {
        "cases": len(rows),
        "correct": sum(r["correct"] for r in rows),
        "false_permissive": sum(r["false_permissive"] for r in rows),
    }
    total["accuracy"] = round(total["correct"] / max(total["cases"], 1), 4)
    if verbose:
        print(f"\nbuilt-in cases: {total['cases']} (texts from licensedcode-data)")
        print(f"{'group':<8}{'cases':>7}{'correct':>9}{'false perm':>12}")
        for g, s in summary.items():
            print(f"{g:<8}{s['cases']:>7}{s['correct']:>9}{s['false_permissive']:>12}")
        print(
            f"{'all':<8}{total['cases']:>7}{total['correct']:>9}{total['false_permissive']:>12}   "
            f"accuracy {100 * total['accuracy']:.1f}%"
        )
        for r in rows:
            if not r["correct"]:
                flag = "  [false permissive]" if r["false_permissive"] else ""
                print(f"  wrong {r['group']} {r['name']:<36} truth={r['truth']}  got={r['got']}{flag}")
    return {"total": total, "groups": summary, "cases": rows}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "license_cases.json")
    args = parser.parse_args(argv)
    result = run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nresults: {args.out}")
    sys.exit(0)


if __name__ == "__main__":
    main()
