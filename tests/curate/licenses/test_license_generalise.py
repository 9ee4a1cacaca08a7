"""License detection on layouts and formats outside the benchmark corpus: patent grants beside a
permissive license, licenses that name other licenses, LGPL-3.0 with the GPL-3.0 it builds on,
licenses in markup, and READMEs judged as files.

Every license text comes from ScanCode's license database (the package the detector's index is
built from), with the copyright lines, titles, notices and markup real repositories put around them.
"""

from __future__ import annotations

import html
import json
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import run_cli
from stackwright.curate.licenses.database import reference_text
from stackwright.curate.licenses.evidence import license_file_kind
from stackwright.curate.licenses.repository import detect_path

ROOT = Path(__file__).resolve().parents[3]
HOLDER = "Copyright (c) 2021 Jane Doe\n\n"


text = reference_text


def gnu_notice(key: str) -> str:
    body = text(key)
    start = body.index("This program is free software")
    return body[start : body.index("Also add information", start)].strip() + "\n\n"


def judge(root: Path, files: dict[str, str], target: str = "") -> dict:
    for rel, body in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(body, encoding="utf-8")
    return detect_path(root / target if target else root).to_json()


FB_PATENTS = "LicenseRef-scancode-facebook-patent-rights-2"


# -- a. patent grants ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "name", ["PATENTS", "PATENTS.txt", "PATENT_GRANT.md", "ADDITIONAL-PATENT-GRANT", "EULA"]
)
def test_patent_and_terms_files_are_license_files(name: str) -> None:
    assert license_file_kind(name) == "license"
    assert license_file_kind(f"vendor/x/{name}") == "license"
    assert license_file_kind("patents.py") is None and license_file_kind("patent_utils.txt") is None


@pytest.mark.parametrize("patents", ["facebook-patent-rights-2", "google-patent-license-golang"])
def test_bsd_with_a_patents_file_is_never_permissive(tmp_path: Path, patents: str) -> None:
    got = judge(
        tmp_path,
        {
            "LICENSE": HOLDER + text("bsd-new"),
            "PATENTS": text(patents),
            "src/app.js": "module.exports = 1;\n",
        },
    )
    assert got["category"] != "permissive"
    assert got["spdx"] == f"BSD-3-Clause AND LicenseRef-scancode-{patents}"
    assert {e["path"] for e in got["evidence"]} == {"LICENSE", "PATENTS"}


def test_patents_file_beside_a_manifest_only_is_not_permissive(tmp_path: Path) -> None:
    got = judge(
        tmp_path,
        {
            "package.json": '{"name": "x", "license": "BSD-3-Clause"}\n',
            "PATENTS": text("facebook-patent-rights-2"),
        },
    )
    assert got["category"] != "permissive"


def test_unknown_patent_terms_make_the_repository_noassertion(tmp_path: Path) -> None:
    got = judge(
        tmp_path,
        {
            "LICENSE": HOLDER + text("mit"),
            "PATENTS": "Acme grants you a patent license for this software only as long as you "
            "do not sue Acme. The license terminates if you bring a patent claim.\n",
        },
    )
    assert got["spdx"] == "NOASSERTION" and got["category"] != "permissive"


# -- b. licenses named inside licenses; notices, titles, preambles ---------------------------------
CASES_B = {
    "gpl-3.0 text names the lesser gpl": (text("gpl-3.0"), "GPL-3.0-only"),
    "mpl-2.0 names gpl, lgpl and agpl": (text("mpl-2.0"), "MPL-2.0"),
    "or-later notice above the gpl text": (
        "Foo\n" + HOLDER + gnu_notice("gpl-3.0") + text("gpl-3.0"),
        "GPL-3.0-or-later",
    ),
    "agpl page title and text": ("GNU Affero General Public License\n\n" + text("agpl-3.0"), "AGPL-3.0-only"),
    "lgpl title and text": ("GNU Lesser General Public License\n\n" + text("lgpl-2.1"), "LGPL-2.1-only"),
    "gpl-2.0 terms and its last paragraph": (
        text("gpl-2.0").split("END OF TERMS AND CONDITIONS")[0]
        + "END OF TERMS AND CONDITIONS\n\n"
        + text("gpl-2.0")[text("gpl-2.0").index("This General Public License does not permit") :],
        "GPL-2.0-only",
    ),
    "scoping preamble": (
        "The following license applies to all files in this repository unless otherwise "
        "noted:\n\n" + HOLDER + text("mit"),
        "MIT",
    ),
    "mit and a bundled apache part": (
        "MIT License\n\n" + HOLDER + text("mit") + "\nThe bundled parser is "
        "licensed under the Apache License 2.0.\n",
        "MIT AND Apache-2.0",
    ),
}


@pytest.mark.parametrize("name", sorted(CASES_B))
def test_named_licenses_neither_added_nor_lost(tmp_path: Path, name: str) -> None:
    body, want = CASES_B[name]
    assert judge(tmp_path, {"LICENSE": body}, "LICENSE")["spdx"] == want


def test_restrictive_preamble_is_not_the_license(tmp_path: Path) -> None:
    body = "Unless otherwise noted, commercial use of this software is prohibited.\n\n" + HOLDER + text("mit")
    got = judge(tmp_path, {"LICENSE": body}, "LICENSE")
    assert got["spdx"] != "MIT" and got["category"] != "permissive"


def test_restriction_written_in_the_license_own_words_is_caught(tmp_path: Path) -> None:
    # The words around "not" are all MIT's, but "not" is new: the text is not explained by MIT.
    body = HOLDER + text("mit") + "\nThe above copyright notice shall not be included in all copies.\n"
    assert judge(tmp_path, {"LICENSE": body}, "LICENSE")["spdx"] != "MIT"


# -- c. LGPL-3.0 with the GPL-3.0 it builds on; exceptions in their own file -----------------------
def test_lgpl3_repository_with_gpl_text_is_lgpl(tmp_path: Path) -> None:
    got = judge(tmp_path, {"COPYING": text("gpl-3.0"), "COPYING.LESSER": text("lgpl-3.0")})
    assert got["spdx"] == "LGPL-3.0-only"
    assert got["category"] == "weak-copyleft"
    assert {e["path"] for e in got["evidence"]} == {"COPYING", "COPYING.LESSER"}


def test_lgpl3_or_later_from_the_manifest(tmp_path: Path) -> None:
    got = judge(
        tmp_path,
        {
            "COPYING": text("gpl-3.0"),
            "COPYING.LESSER": text("lgpl-3.0"),
            "pyproject.toml": '[project]\nname = "x"\nlicense = "LGPL-3.0-or-later"\n',
        },
    )
    assert got["spdx"] == "LGPL-3.0-or-later"


def test_gpl_and_lgpl_texts_in_one_file(tmp_path: Path) -> None:
    assert judge(tmp_path, {"COPYING": text("gpl-3.0") + "\n\n" + text("lgpl-3.0")}, "COPYING")["spdx"] == (
        "LGPL-3.0-only"
    )


def test_lgpl21_beside_gpl2_stays_both(tmp_path: Path) -> None:
    # LGPL-2.1 does not build on GPL-2.0's text: a project shipping both may have GPL parts.
    got = judge(tmp_path, {"COPYING": text("gpl-2.0"), "COPYING.LIB": text("lgpl-2.1")})
    assert got["spdx"] == "GPL-2.0-only AND LGPL-2.1-only"


def test_exception_file_attaches_to_its_license(tmp_path: Path) -> None:
    got = judge(tmp_path, {"COPYING3": text("gpl-3.0"), "COPYING.RUNTIME": text("gcc-exception-3.1")})
    assert got["spdx"] == "GPL-3.0-only WITH GCC-exception-3.1"
    assert got["category"] == "copyleft"


# -- d. markup ---------------------------------------------------------------------------------------
def html_page(body: str, title: str) -> str:
    paras = "\n".join(f'<p class="x">{html.escape(" ".join(p.split()))}</p>' for p in body.split("\n\n"))
    return (
        f"<!DOCTYPE html>\n<html>\n<head><title>{title}</title>\n<style>p {{ margin: 0 }}</style>\n"
        f'<script>if (a < b && b > c) {{ go(); }}</script></head>\n<body>\n<nav><a href="/">Home</a></nav>\n'
        f"<h1>{title}</h1>\n{paras}\n</body>\n</html>\n"
    )


@pytest.mark.parametrize(
    ("key", "spdx"),
    [
        ("mit", "MIT"),
        ("apache-2.0", "Apache-2.0"),
        ("agpl-3.0", "AGPL-3.0-only"),
        ("bsd-new", "BSD-3-Clause"),
    ],
)
def test_license_as_html_page(tmp_path: Path, key: str, spdx: str) -> None:
    got = judge(tmp_path, {"LICENSE.html": html_page(HOLDER + text(key), spdx)}, "LICENSE.html")
    assert got["spdx"] == spdx


def test_license_in_markdown_and_rst(tmp_path: Path) -> None:
    mit = text("mit").replace("THE SOFTWARE IS PROVIDED", "**THE SOFTWARE IS PROVIDED")
    md = (
        '# MIT License\n\nCopyright (c) 2020 [Jane Doe](https://jane.example "home")\n\n'
        + mit.replace("SOFTWARE.\n", "SOFTWARE.**\n")
        + "\n[1]: https://opensource.org/licenses/MIT\n"
    )
    assert judge(tmp_path, {"LICENSE.md": md}, "LICENSE.md")["spdx"] == "MIT"
    apache = text("apache-2.0").replace(
        "http://www.apache.org/licenses/",
        "`http://www.apache.org/licenses/ <http://www.apache.org/licenses/>`_",
    )
    rst = "==============\nApache License\n==============\n\n.. contents::\n\n" + apache
    assert judge(tmp_path, {"LICENSE.rst": rst}, "LICENSE.rst")["spdx"] == "Apache-2.0"
    agpl = "## GNU AFFERO GENERAL PUBLIC LICENSE\n\n" + text("agpl-3.0").replace(
        "<https://fsf.org/>", "[https://fsf.org/](https://fsf.org/)"
    )
    assert judge(tmp_path, {"COPYING.md": agpl}, "COPYING.md")["spdx"] == "AGPL-3.0-only"


def test_markup_keeps_line_numbers(tmp_path: Path) -> None:
    page = html_page(HOLDER + text("mit"), "MIT")
    (tmp_path / "LICENSE.html").write_text(page)
    proc = run_cli("license", "detect", tmp_path / "LICENSE.html", "--json", "--explain")
    assert proc.returncode == 0, proc.stderr
    matches = json.loads(proc.stdout)["evidence"][0]["matches"]
    full = [m for m in matches if m["rule"] == "mit.LICENSE"]
    assert full, matches
    first, last = full[0]["lines"]
    lines = page.splitlines()
    assert "Permission is hereby granted" in lines[first - 1] and "SOFTWARE" in lines[last - 1]


# -- e. READMEs judged as files ----------------------------------------------------------------------
INTRO = (
    "# fastthing\n\nA fast thing.\n\n## Install\n\nYou must install Python 3.11; only Linux is supported "
    "and you should not run it as root.\n\n    pip install fastthing\n\n"
)


@pytest.mark.parametrize(
    ("name", "body", "spdx"),
    [
        (
            "README.md",
            INTRO + "## License\n\nThis project is licensed under the MIT License - see the "
            "[LICENSE](LICENSE) file for details.\n",
            "MIT",
        ),
        (
            "README.md",
            INTRO + "## License\n\nLicensed under the Apache License, Version 2.0\n\n## Contributing\n\n"
            "Pull requests must include tests.\n",
            "Apache-2.0",
        ),
        (
            "README.rst",
            "fastthing\n=========\n\nYou must not feed it after midnight.\n\nLicense\n-------\n\n"
            "fastthing is distributed under the BSD 3-Clause License. See LICENSE for details.\n",
            "BSD-3-Clause",
        ),
    ],
)
def test_readme_file_gives_its_license_section(tmp_path: Path, name: str, body: str, spdx: str) -> None:
    got = judge(tmp_path, {name: body}, name)
    assert got["spdx"] == spdx
    assert got["category"] == "permissive"


def test_readme_without_license_section_is_judged_by_its_text(tmp_path: Path) -> None:
    assert judge(tmp_path, {"README.md": INTRO}, "README.md")["spdx"] == "NOASSERTION"


# -- the built-in evaluation set --------------------------------------------------------------------
def test_builtin_license_cases_benchmark(tmp_path: Path) -> None:
    out = tmp_path / "cases.json"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / "license_cases.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    result = json.loads(out.read_text())
    assert result["total"]["cases"] >= 30
    assert result["total"]["false_permissive"] == 0, [c for c in result["cases"] if c["false_permissive"]]
    assert result["total"]["accuracy"] >= 0.95, [c for c in result["cases"] if not c["correct"]]
    assert set(result["groups"]) == {"a", "b", "c", "d", "e"}
