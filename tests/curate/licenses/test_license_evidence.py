"""License evidence besides license texts: license file names, manifests, README sections, SPDX tags."""

from __future__ import annotations

import json

import pytest

from stackwright.curate.licenses.evidence import (
    MAX_README_SECTION_CHARS,
    covering_dirs,
    license_dir,
    license_file_kind,
    manifest_kind,
    manifest_licenses,
    readme_license_section,
    spdx_header_expressions,
)

# --------------------------------------------------------------------------------------------------
# License file names
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path",
    [
        "LICENSE",
        "LICENCE",
        "COPYING",
        "COPYING.LESSER",
        "COPYING.LIB",
        "COPYING3",
        "UNLICENSE",
        "COPYRIGHT",
        "MIT-LICENSE",
        "LICENSE-MIT",
        "LICENSE.APACHE",
        "LICENSE-APACHE-2.0",
        "LICENSE-2.0.txt",
        "LICENSE_MIT",
        "licence.txt",
        "License.md",
        "LICENSE.rst",
        "LICENSE.markdown",
        "LICENSE.html",
        "LICENSE.adoc",
        "LICENSE.org",
        "COPYING.txt",
        "LICENSE-MIT.txt",
        "LICENSES",
        "debian/copyright",
        "vendor/jquery/MIT-LICENSE.txt",
        "third_party/zlib/LICENSE",
        "LICENSES/MIT.txt",
        "LICENSES/Apache-2.0.txt",
        "licenses/GPL-3.0-or-later.txt",
        "sub/LICENSES/BSD-3-Clause.txt",
    ],
)
def test_license_file_names(path: str) -> None:
    assert license_file_kind(path) == "license"


@pytest.mark.parametrize(
    "path",
    ["NOTICE", "NOTICE.txt", "notice.md", "THIRD-PARTY-NOTICES.txt", "ThirdPartyNotices.txt", "a/NOTICES"],
)
def test_notice_file_names(path: str) -> None:
    assert license_file_kind(path) == "notice"


@pytest.mark.parametrize(
    "path",
    [
        "license.py",
        "licenses.js",
        "license_test.go",
        "license_test",
        "src/LicenseManager.java",
        "copyright.c",
        "LICENSE.json",
        "LICENSE.yml",
        "notice.py",
        "src/licenses/index.js",  # a code folder called "licenses", not the REUSE layout
        "licenses/schema.json",
        "README.md",
        "MYLICENSE",
        "LICENSEE",
        "unlicensed.txt",
        "logo.png.license",  # a REUSE sidecar covers one file, not a folder
        "check-license",
        "license-checker.txt",
        "docs/licensing-guide.md",
        "LICENSE/",  # a folder named LICENSE has no base name
        "",
    ],
)
def test_not_license_file_names(path: str) -> None:
    assert license_file_kind(path) is None


def test_license_dir_and_covering_dirs() -> None:
    assert license_dir("LICENSE") == ""
    assert license_dir("a/b/COPYING") == "a/b"
    assert license_dir("LICENSES/MIT.txt") == ""
    assert license_dir("vendor/x/LICENSES/MIT.txt") == "vendor/x"
    assert covering_dirs("a/b/c.py") == ["a/b", "a", ""]
    assert covering_dirs("c.py") == [""]
    assert covering_dirs("./a/c.py") == ["a", ""]


# --------------------------------------------------------------------------------------------------
# Manifests
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "kind"),
    [
        ("package.json", "package.json"),
        ("packages/ui/package.json", "package.json"),
        ("composer.json", "composer.json"),
        ("pyproject.toml", "pyproject.toml"),
        ("setup.cfg", "setup.cfg"),
        ("setup.py", "setup.py"),
        ("crates/core/Cargo.toml", "Cargo.toml"),
        ("pom.xml", "pom.xml"),
        ("DESCRIPTION", "DESCRIPTION"),
        ("rails.gemspec", "gemspec"),
        ("src/Newtonsoft.Json.nuspec", "nuspec"),
    ],
)
def test_manifest_kind(path: str, kind: str) -> None:
    assert manifest_kind(path) == kind


@pytest.mark.parametrize(
    "path",
    ["package.yaml", "package-lock.json", "my_setup.py", "cargo.lock", "DESCRIPTION.md", "description",
     ".gemspec", "pom.xml.bak", "Pipfile", "tsconfig.json"],
)
def test_not_manifest(path: str) -> None:
    assert manifest_kind(path) is None
    assert manifest_licenses(path, '{"license": "MIT"}') == []


PACKAGE_JSON = """{
  "name": "left-pad",
  "version": "1.3.0",
  "description": "String left pad",
  "main": "index.js",
  "scripts": {"test": "node test"},
  "license": "WTFPL",
  "repository": {"type": "git", "url": "git+https://github.com/stevemao/left-pad.git"}
}
"""


def test_package_json() -> None:
    assert manifest_licenses("package.json", PACKAGE_JSON) == ["WTFPL"]
    expression = json.dumps({"name": "x", "license": "(MIT OR Apache-2.0)"})
    assert manifest_licenses("package.json", expression) == ["(MIT OR Apache-2.0)"]


def test_package_json_legacy_forms() -> None:
    legacy_object = json.dumps(
        {"name": "old", "license": {"type": "ISC", "url": "https://opensource.org/licenses/ISC"}}
    )
    assert manifest_licenses("package.json", legacy_object) == ["ISC"]
    legacy_list = json.dumps(
        {
            "name": "jquery",
            "licenses": [
                {"type": "MIT", "url": "https://github.com/jquery/jquery/blob/master/MIT-LICENSE.txt"},
                {"type": "GPL-2.0", "url": "http://www.gnu.org/licenses/gpl-2.0.html"},
            ],
        }
    )
    assert manifest_licenses("package.json", legacy_list) == ["MIT", "GPL-2.0"]
    assert manifest_licenses("package.json", json.dumps({"name": "nolicense", "version": "1.0.0"})) == []
    assert manifest_licenses("package.json", json.dumps({"license": 42})) == []
    assert manifest_licenses("package.json", json.dumps(["MIT"])) == []


def test_package_json_with_bom() -> None:
    assert manifest_licenses("package.json", "\ufeff" + PACKAGE_JSON) == ["WTFPL"]


COMPOSER_JSON = """{
    "name": "monolog/monolog",
    "description": "Sends your logs to files, sockets, inboxes, databases and various web services",
    "keywords": ["log", "logging", "psr-3"],
    "license": %s,
    "require": {"php": ">=8.1", "psr/log": "^2.0 || ^3.0"}
}
"""


def test_composer_json() -> None:
    assert manifest_licenses("composer.json", COMPOSER_JSON % '"MIT"') == ["MIT"]
    both = COMPOSER_JSON % '["LGPL-2.1-only", "GPL-3.0-or-later"]'
    assert manifest_licenses("composer.json", both) == ["LGPL-2.1-only OR GPL-3.0-or-later"]
    assert manifest_licenses("composer.json", COMPOSER_JSON % '["proprietary"]') == ["proprietary"]
    assert manifest_licenses("composer.json", COMPOSER_JSON % "[]") == []


PYPROJECT_PEP639 = """
[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "spam-eggs"
version = "2020.0.0"
license = "MIT AND (Apache-2.0 OR BSD-2-Clause)"
license-files = ["LICEN[CS]E*", "vendored/licenses/*.txt"]
"""

PYPROJECT_TABLE_TEXT = """
[project]
name = "legacy"
version = "1.0"
license = {text = "BSD 3-Clause License"}
"""

PYPROJECT_TABLE_FILE = """
[project]
name = "legacy"
version = "1.0"
license = {file = "LICENSE.txt"}
"""

PYPROJECT_POETRY = """
[tool.poetry]
name = "poetry-demo"
version = "0.1.0"
description = ""
authors = ["Sébastien Eustace <sebastien@eustace.io>"]
license = "Apache-2.0"

[tool.poetry.dependencies]
python = "^3.8"
"""


def test_pyproject() -> None:
    assert manifest_licenses("pyproject.toml", PYPROJECT_PEP639) == ["MIT AND (Apache-2.0 OR BSD-2-Clause)"]
    assert manifest_licenses("pyproject.toml", PYPROJECT_TABLE_TEXT) == ["BSD 3-Clause License"]
    assert manifest_licenses("pyproject.toml", PYPROJECT_TABLE_FILE) == []
    assert manifest_licenses("pyproject.toml", PYPROJECT_POETRY) == ["Apache-2.0"]
    assert manifest_licenses("pyproject.toml", '[tool.black]\nline-length = 100\n') == []


CARGO_TOML = """
[package]
name = "serde"
version = "1.0.197"
authors = ["Erick Tryzelaar <erick.tryzelaar@gmail.com>", "David Tolnay <dtolnay@gmail.com>"]
license = "MIT OR Apache-2.0"
edition = "2018"

[dependencies]
serde_derive = { version = "=1.0.197", optional = true, path = "../serde_derive" }
"""

CARGO_WORKSPACE_MEMBER = """
[package]
name = "member"
version.workspace = true
license.workspace = true
"""

CARGO_WORKSPACE_ROOT = """
[workspace]
members = ["crates/*"]

[workspace.package]
version = "0.3.0"
license = "Apache-2.0 WITH LLVM-exception"
"""

CARGO_LICENSE_FILE = """
[package]
name = "custom"
version = "0.1.0"
license-file = "LICENSE.txt"
"""


def test_cargo_toml() -> None:
    assert manifest_licenses("Cargo.toml", CARGO_TOML) == ["MIT OR Apache-2.0"]
    assert manifest_licenses("crates/member/Cargo.toml", CARGO_WORKSPACE_MEMBER) == []
    assert manifest_licenses("Cargo.toml", CARGO_WORKSPACE_ROOT) == ["Apache-2.0 WITH LLVM-exception"]
    assert manifest_licenses("Cargo.toml", CARGO_LICENSE_FILE) == []


SETUP_CFG = """
[metadata]
name = my_package
version = attr: my_package.VERSION
author = Josiah Carberry
description = My package description
license = BSD-3-Clause
license_files = LICENSE.txt
classifiers =
    Framework :: Django
    License :: OSI Approved :: BSD License

[options]
packages = find:
python_requires = >=3.7
install_requires =
    requests
    importlib-metadata; python_version<"3.8"
"""


def test_setup_cfg() -> None:
    assert manifest_licenses("setup.cfg", SETUP_CFG) == ["BSD-3-Clause"]
    assert manifest_licenses("setup.cfg", "[flake8]\nmax-line-length = 100\n") == []
    assert manifest_licenses("setup.cfg", "license = MIT\nno section header\n") == []
    # "%" must not be taken for interpolation
    assert manifest_licenses("setup.cfg", "[metadata]\nlicense = 100% MIT\n") == ["100% MIT"]


SETUP_PY = '''#!/usr/bin/env python
import os
from setuptools import find_packages, setup

here = os.path.abspath(os.path.dirname(__file__))
os.system("echo this must never run")

setup(
    name="requests-like",
    version="2.31.0",
    description="Python HTTP for Humans.",
    author="Kenneth Reitz",
    packages=find_packages(exclude=["tests"]),
    license="Apache 2.0",
    classifiers=["License :: OSI Approved :: Apache Software License"],
)
'''

SETUP_PY_CONSTANT = '''
import setuptools

LICENSE = "GPLv3+"

setuptools.setup(name="thing", version="0.1", license=LICENSE)
'''

SETUP_PY_COMPUTED = '''
from distutils.core import setup
setup(name="x", license=open("LICENSE").read().splitlines()[0])
'''

SETUP_PY_PYTHON2 = '''
from setuptools import setup
print "building"
setup(name="old", license="MIT")
'''


def test_setup_py() -> None:
    assert manifest_licenses("setup.py", SETUP_PY) == ["Apache 2.0"]
    assert manifest_licenses("setup.py", SETUP_PY_CONSTANT) == ["GPLv3+"]
    assert manifest_licenses("setup.py", SETUP_PY_COMPUTED) == []
    assert manifest_licenses("setup.py", SETUP_PY_PYTHON2) == []  # a syntax error gives nothing
    assert manifest_licenses("setup.py", "license = 'MIT'\n") == []  # not inside setup(...)


def test_setup_py_is_never_executed(tmp_path, monkeypatch) -> None:
    marker = tmp_path / "executed"
    monkeypatch.chdir(tmp_path)
    code = f'open({str(marker)!r}, "w").write("x")\nfrom setuptools import setup\nsetup(license="MIT")\n'
    assert manifest_licenses("setup.py", code) == ["MIT"]
    assert not marker.exists()


GEMSPEC = """# frozen_string_literal: true

require_relative "lib/rake/version"

Gem::Specification.new do |s|
  s.name = "rake"
  s.version = Rake::VERSION
  s.authors = ["Hiroshi SHIBATA", "Eric Hodel", "Jim Weirich"]
  s.summary = "Rake is a Make-like program implemented in Ruby"
  # s.license = "GPL-2.0"
  s.licenses = ["MIT"]
  s.files = `git ls-files -z`.split("\\x0")
  s.required_ruby_version = Gem::Requirement.new(">= 2.3")
end
"""


def test_gemspec() -> None:
    assert manifest_licenses("rake.gemspec", GEMSPEC) == ["MIT"]
    two = 'Gem::Specification.new do |spec|\n  spec.name = "x"\n  spec.licenses = ["MIT", "Ruby"]\nend\n'
    assert manifest_licenses("x.gemspec", two) == ["MIT AND Ruby"]
    words = "Gem::Specification.new do |spec|\n  spec.licenses = %w[BSD-2-Clause Ruby]\nend\n"
    assert manifest_licenses("x.gemspec", words) == ["BSD-2-Clause AND Ruby"]
    single = "Gem::Specification.new do |gem|\n  gem.license     = 'Apache-2.0'\nend\n"
    assert manifest_licenses("x.gemspec", single) == ["Apache-2.0"]
    assert manifest_licenses("x.gemspec", "Gem::Specification.new do |s|\n  s.name = 'x'\nend\n") == []


POM_XML = """<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0"
         xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
         xsi:schemaLocation="http://maven.apache.org/POM/4.0.0 https://maven.apache.org/xsd/maven-4.0.0.xsd">
  <modelVersion>4.0.0</modelVersion>
  <groupId>com.google.code.gson</groupId>
  <artifactId>gson</artifactId>
  <version>2.10.1</version>
  <licenses>
    <license>
      <name>Apache-2.0</name>
      <url>https://www.apache.org/licenses/LICENSE-2.0.txt</url>
    </license>
    <license>
      <name>
        Eclipse Public License
        v2.0
      </name>
    </license>
  </licenses>
  <dependencies>
    <dependency>
      <groupId>junit</groupId>
      <artifactId>junit</artifactId>
      <version>4.13.2</version>
    </dependency>
  </dependencies>
</project>
"""


def test_pom_xml() -> None:
    assert manifest_licenses("pom.xml", POM_XML) == ["Apache-2.0", "Eclipse Public License v2.0"]
    no_namespace = "<project><licenses><license><name>MIT</name></license></licenses></project>"
    assert manifest_licenses("pom.xml", no_namespace) == ["MIT"]
    assert manifest_licenses("pom.xml", "<project><artifactId>x</artifactId></project>") == []


NUSPEC = """<?xml version="1.0" encoding="utf-8"?>
<package xmlns="http://schemas.microsoft.com/packaging/2013/05/nuspec.xsd">
  <metadata>
    <id>Newtonsoft.Json</id>
    <version>13.0.3</version>
    <authors>James Newton-King</authors>
    <license type="expression">MIT</license>
    <licenseUrl>https://licenses.nuget.org/MIT</licenseUrl>
    <description>Json.NET is a popular high-performance JSON framework for .NET</description>
  </metadata>
</package>
"""


def test_nuspec() -> None:
    assert manifest_licenses("Newtonsoft.Json.nuspec", NUSPEC) == ["MIT"]
    by_file = NUSPEC.replace(
        '<license type="expression">MIT</license>', '<license type="file">LICENSE.txt</license>'
    )
    assert manifest_licenses("x.nuspec", by_file) == []
    url_only = NUSPEC.replace('<license type="expression">MIT</license>', "")
    assert manifest_licenses("x.nuspec", url_only) == []


DESCRIPTION = """Package: ggplot2
Version: 3.4.4
Title: Create Elegant Data Visualisations Using the Grammar of Graphics
Authors@R: c(
    person("Hadley", "Wickham", , "hadley@posit.co", role = "aut"),
    person("Winston", "Chang", role = "aut")
  )
Description: A system for 'declaratively' creating graphics, based on "The
    Grammar of Graphics".
License: MIT + file
    LICENSE
URL: https://ggplot2.tidyverse.org
Encoding: UTF-8
"""


def test_r_description() -> None:
    assert manifest_licenses("DESCRIPTION", DESCRIPTION) == ["MIT + file LICENSE"]
    gpl = "Package: foo\nVersion: 1.0\nLicense: GPL (>= 2)\n"
    assert manifest_licenses("pkg/DESCRIPTION", gpl) == ["GPL (>= 2)"]
    prose = "This directory holds the description of the project.\nLicense: none of your business\n"
    assert manifest_licenses("DESCRIPTION", prose) == []


@pytest.mark.parametrize(
    ("path", "text"),
    [
        ("package.json", '{"name": "x", "license": "MIT",'),
        ("package.json", "\x00\x01\x02binary\xff"),
        ("package.json", ""),
        ("composer.json", "not json at all"),
        ("pyproject.toml", '[project]\nlicense = "MIT'),
        ("Cargo.toml", "[package\nlicense = 'MIT'"),
        ("setup.cfg", "[metadata\nlicense = MIT"),
        ("setup.py", "setup(license='MIT'"),
        ("setup.py", "(" * 100_000),
        ("rails.gemspec", "\x00\x00\x00"),
        ("pom.xml", "<project><licenses><license><name>MIT</name></license>"),
        ("x.nuspec", "<package><metadata>"),
        ("DESCRIPTION", "\x89PNG\r\n\x1a\n\x00\x00"),
    ],
)
def test_malformed_manifests_give_nothing(path: str, text: str) -> None:
    assert manifest_licenses(path, text) == []


def test_xml_entities_are_refused() -> None:
    laughs = (
        '<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n'
        "<project><licenses><license><name>&lol2;</name></license></licenses></project>"
    )
    assert manifest_licenses("pom.xml", laughs) == []
    external = (
        '<?xml version="1.0"?><!DOCTYPE package [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>'
        '<package><metadata><license type="expression">&xxe;</license></metadata></package>'
    )
    assert manifest_licenses("x.nuspec", external) == []


# --------------------------------------------------------------------------------------------------
# README license sections
# --------------------------------------------------------------------------------------------------

README_MD = """# fastthing

[![Build](https://img.shields.io/badge/build-passing-green.svg)](https://ci.example.com)

A fast thing.

## Installation

```sh
# License
pip install fastthing
```

## License

Licensed under either of

 * Apache License, Version 2.0 ([LICENSE-APACHE](LICENSE-APACHE))
 * MIT license ([LICENSE-MIT](LICENSE-MIT))

at your option.

### Contribution

Unless you explicitly state otherwise, any contribution shall be dual licensed as above.

## Acknowledgements

Thanks to everyone.
"""


def test_markdown_readme_section() -> None:
    section = readme_license_section("README.md", README_MD)
    assert section is not None
    assert section.startswith("Licensed under either of")
    assert "### Contribution" in section  # a lower-level heading stays inside the section
    assert "dual licensed as above." in section
    assert "Acknowledgements" not in section
    assert "pip install" not in section  # "# License" inside a code fence is not a heading


def test_markdown_readme_heading_variants() -> None:
    for heading in ["## Licence", "## Licensing", "## License and copyright", "## Copyright & License",
                    "## 📝 License", "## **License**", "### License:", "## 5. License", "License\n-------",
                    "Copyright\n========="]:
        text = f"# proj\n\nIntro.\n\n{heading}\n\nMIT © Jane Doe\n\n# Next\n\nOther."
        assert readme_license_section("readme.markdown", text) == "MIT © Jane Doe", heading


def test_markdown_readme_loose_heading_only_as_fallback() -> None:
    loose = "# proj\n\n## License: MIT\n\nSee LICENSE.\n\n## Usage\n\nRun it."
    assert readme_license_section("README.md", loose) == "See LICENSE."
    both = "# proj\n\n## MIT License\n\nShort.\n\n## License\n\nThe real section.\n"
    assert readme_license_section("README.md", both) == "The real section."


def test_markdown_readme_setext_section_ends_at_same_level() -> None:
    text = "Project\n=======\n\nIntro.\n\nLicense\n-------\n\nBSD-3-Clause.\n\nAuthors\n-------\n\nMe.\n"
    assert readme_license_section("README.md", text) == "BSD-3-Clause."


def test_markdown_section_at_top_level_runs_to_end() -> None:
    text = "# Tool\n\nIntro.\n\n# License\n\nGPL-3.0-or-later.\n\n## Details\n\nSee COPYING.\n"
    assert readme_license_section("README.md", text) == "GPL-3.0-or-later.\n\n## Details\n\nSee COPYING."


README_RST = """==========
requestsxx
==========

.. image:: https://img.shields.io/pypi/v/requestsxx.svg

Intro paragraph.

Installation
============

Use pip::

    pip install requestsxx

    License
    =======

Usage
-----

Call it.

License
=======

Copyright (c) 2024 Jane Doe.

Distributed under the terms of the `MIT`_ license.

Subsection
----------

Still part of the license section.

Changelog
=========

1.0 first release.
"""


def test_rst_readme_section() -> None:
    section = readme_license_section("README.rst", README_RST)
    assert section is not None
    assert section.startswith("Copyright (c) 2024 Jane Doe.")
    assert "Still part of the license section." in section
    assert "Changelog" not in section
    assert "pip install" not in section


def test_plain_readme_section() -> None:
    text = "FROBNICATE 1.0\n\nIntro.\n\nCOPYRIGHT\n---------\n\nPublic domain.\n\nBUGS\n----\n\nMany.\n"
    assert readme_license_section("README", text) == "Public domain."
    assert readme_license_section("README.txt", text) == "Public domain."


def test_readme_section_none_cases() -> None:
    assert readme_license_section("docs/intro.md", "## License\n\nMIT\n") is None  # not a README
    assert readme_license_section("readme.py", "## License\n\nMIT\n") is None
    assert readme_license_section("README.en.py", "## License\n\nMIT\n") is None
    assert readme_license_section("README/", "## License\n\nMIT\n") is None
    assert readme_license_section("README.md", "# Proj\n\nNo license section here.\n") is None
    assert readme_license_section("README.md", "# Proj\n\n## License\n\n## Usage\n\nx\n") is None  # empty
    assert readme_license_section("README.md", "") is None
    assert readme_license_section("README.md", "## License Key Setup\n\nEnter your key.\n") is None


def test_readme_section_is_capped() -> None:
    text = "# License\n\n" + "word " * 10_000
    section = readme_license_section("README.md", text)
    assert section is not None and len(section) == MAX_README_SECTION_CHARS


def test_readme_section_in_subfolder_and_language_variant() -> None:
    text = "# 项目\n\n## License\n\nApache-2.0\n"
    assert readme_license_section("docs/README.zh-CN.md", text) == "Apache-2.0"


# --------------------------------------------------------------------------------------------------
# SPDX header tags
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("// SPDX-License-Identifier: MIT\nint x;\n", ["MIT"]),
        ("/* SPDX-License-Identifier: GPL-2.0-only OR BSD-2-Clause */\n", ["GPL-2.0-only OR BSD-2-Clause"]),
        ("#!/usr/bin/env python3\n# SPDX-License-Identifier: Apache-2.0\n", ["Apache-2.0"]),
        ("-- SPDX-License-Identifier: MPL-2.0\n", ["MPL-2.0"]),
        ("; SPDX-License-Identifier: GPL-3.0-or-later\n", ["GPL-3.0-or-later"]),
        ("<!-- SPDX-License-Identifier: CC-BY-4.0 -->\n", ["CC-BY-4.0"]),
        ("(* SPDX-License-Identifier: LGPL-2.1-or-later *)\n", ["LGPL-2.1-or-later"]),
        ("{- SPDX-License-Identifier: BSD-3-Clause -}\n", ["BSD-3-Clause"]),
        ("% SPDX-License-Identifier: LPPL-1.3c\n", ["LPPL-1.3c"]),
        (" * SPDX-License-Identifier: (MIT OR Apache-2.0)\n", ["(MIT OR Apache-2.0)"]),
        ("# SPDX-License-Identifier: GPL-2.0+.\n", ["GPL-2.0+"]),
        ("// SPDX-License-Identifier: Apache-2.0 WITH LLVM-exception\n", ["Apache-2.0 WITH LLVM-exception"]),
        ('__license__ = "SPDX-License-Identifier: MIT"\n', ["MIT"]),
        ("// SPDX-License-Identifier: LicenseRef-Proprietary\n", ["LicenseRef-Proprietary"]),
        ("# SPDX-License-Identifier: $LICENSE\n", []),
        ("# SPDX-License-Identifier:\n", []),
        (
            "// SPDX-License-Identifier: MIT\n// SPDX-License-Identifier: Apache-2.0\n"
            "// SPDX-License-Identifier: MIT\n",
            ["MIT", "Apache-2.0"],
        ),
        ("/*\r\n * SPDX-License-Identifier: ISC\r\n */\r\n", ["ISC"]),
        ("no tags at all\n", []),
    ],
)
def test_spdx_header_expressions(text: str, expected: list[str]) -> None:
    assert spdx_header_expressions(text) == expected


def test_spdx_header_only_in_first_lines() -> None:
    text = "\n" * 30 + "// SPDX-License-Identifier: MIT\n"
    assert spdx_header_expressions(text) == []
    assert spdx_header_expressions(text, max_lines=31) == ["MIT"]
    assert spdx_header_expressions("// SPDX-License-Identifier: MIT", max_lines=0) == []
