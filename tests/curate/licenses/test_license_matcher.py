"""The fast license text matcher and the policy: the corpus, modified licenses, bad input."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers import corpora_dir, run_cli
from stackwright.curate.licenses.database import data_dir
from stackwright.curate.licenses.matcher import TextMatcher
from stackwright.curate.licenses.model import NOASSERTION
from stackwright.curate.licenses.policy import LicensePolicy

CORPUS = (corpora_dir() or Path("/nonexistent")) / "licenses"


@pytest.fixture(scope="module")
def matcher() -> TextMatcher:
    return TextMatcher()


@pytest.fixture(scope="module")
def policy() -> LicensePolicy:
    return LicensePolicy()


COPYRIGHT = "Copyright (c) 2023 Example Corp\n\n"


def body(key: str) -> str:
    """A license text from the database, as one paragraph (so tests can edit phrases)."""
    raw = (data_dir() / "licenses" / f"{key}.LICENSE").read_text(encoding="utf-8")
    return " ".join(raw[3:].split("\n---", 1)[1].split("\n", 1)[1].split())


def reference(key: str) -> str:
    raw = (data_dir() / "licenses" / f"{key}.LICENSE").read_text(encoding="utf-8")
    return COPYRIGHT + raw[3:].split("\n---", 1)[1].split("\n", 1)[1]


@pytest.mark.skipif(not CORPUS.is_dir(), reason="license corpus (shared/corpora/licenses) not present")
def test_corpus_accuracy_and_no_false_permissive(matcher: TextMatcher, policy: LicensePolicy) -> None:
    cases = [json.loads(line) for line in (CORPUS / "manifest.jsonl").read_text().splitlines() if line]
    assert len(cases) >= 70
    correct = 0
    wrong: list[tuple[str, str]] = []
    false_permissive: list[str] = []
    for case in cases:
        got = matcher.detect_bytes((CORPUS / case["path"]).read_bytes()).spdx
        accept = {a.lower() for a in case["accept"]}
        if got.lower() in accept or (got == NOASSERTION and case["spdx"] == NOASSERTION):
            correct += 1
        else:
            wrong.append((case["path"], got))
        truth_permissive = case["spdx"] != NOASSERTION and policy.category(case["spdx"]) == "permissive"
        if not truth_permissive and got != NOASSERTION and policy.category(got) == "permissive":
            false_permissive.append(case["path"])
    assert correct / len(cases) >= 0.95, wrong
    assert false_permissive == []


MIT_GRANT = "to use, copy, modify, merge, publish, distribute, sublicense, and/or sell"


CONDITIONS = "subject to the following conditions:"
EDITS = {
    "extra restriction appended": lambda t: t + "\nThe Software may not be used for military purposes.\n",
    "non-commercial clause inserted": lambda t: t.replace(
        CONDITIONS, CONDITIONS + " the Software shall only be used for non-commercial purposes."),
    "commercial terms after the text": lambda t: t + "\nCommercial use requires a paid license from the "
                                                     "authors and must be agreed in writing.\n",
}


@pytest.mark.parametrize("name", sorted(EDITS))
def test_modified_mit_is_never_reported_as_mit(matcher: TextMatcher, policy: LicensePolicy, name: str
                                               ) -> None:
    text = body("mit")
    modified = EDITS[name](text)
    assert modified != text, name
    assert matcher.detect(COPYRIGHT + text).spdx == "MIT"
    found = matcher.detect(COPYRIGHT + modified)
    assert found.spdx != "MIT"
    assert found.spdx == NOASSERTION or policy.category(found.spdx) != "permissive", found


def test_mit_with_sale_removed_is_not_permissive(matcher: TextMatcher, policy: LicensePolicy) -> None:
    text = body("mit")
    assert MIT_GRANT in text
    found = matcher.detect(COPYRIGHT + text.replace(MIT_GRANT, "to use, copy and modify"))
    assert found.spdx == NOASSERTION or policy.category(found.spdx) != "permissive", found


def test_custom_license_is_noassertion(matcher: TextMatcher) -> None:
    text = ("Copyright 2020 Foo Corp. All rights reserved.\n\nYou may not copy, modify or redistribute this "
            "software, in whole or in part, without the prior written permission of Foo Corp.\n")
    assert matcher.detect(text).spdx == NOASSERTION


@pytest.mark.parametrize(
    ("key", "spdx"),
    [("mit", "MIT"), ("apache-2.0", "Apache-2.0"), ("bsd-new", "BSD-3-Clause"), ("isc", "ISC"),
     ("bsd-zero", "0BSD"), ("mit-0", "MIT-0"), ("gpl-3.0", "GPL-3.0-only"), ("mpl-2.0", "MPL-2.0"),
     ("boost-1.0", "BSL-1.0"), ("zlib", "Zlib")],
)
def test_reference_texts_with_a_copyright_line(matcher: TextMatcher, key: str, spdx: str) -> None:
    found = matcher.detect(reference(key))
    assert found.spdx == spdx
    assert found.matches and found.matches[0].start_line >= 3  # the copyright line is not part of it


def test_two_licenses_in_one_file_are_both_reported(matcher: TextMatcher) -> None:
    text = reference("mit") + "\n\nThe bundled parser is under:\n\n" + reference("bsd-new")
    found = matcher.detect(text)
    assert found.spdx == "MIT AND BSD-3-Clause"
    assert [m.spdx for m in found.matches] == ["MIT", "BSD-3-Clause"]


def test_notice_and_short_reference(matcher: TextMatcher) -> None:
    notice = ('Licensed under the Apache License, Version 2.0 (the "License");\nyou may not use this file '
              "except in compliance with the License.\nYou may obtain a copy of the License at\n\n"
              "    http://www.apache.org/licenses/LICENSE-2.0\n\nUnless required by applicable law or agreed "
              'to in writing, software\ndistributed under the License is distributed on an "AS IS" BASIS,\n'
              "WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or implied.\nSee the License for "
              "the specific language governing permissions and\nlimitations under the License.\n")
    assert matcher.detect(notice).spdx == "Apache-2.0"
    assert matcher.detect("This project is licensed under the MIT license.\n").spdx == "MIT"


def test_same_text_is_cached_and_gives_the_same_answer(matcher: TextMatcher) -> None:
    text = reference("isc")
    first = matcher.detect(text)
    assert matcher.detect(text) is first  # license files repeat byte for byte across repositories
    other = matcher.detect("\n\n" + text)  # same normalised text, other lines: not the cached lines
    assert other.spdx == first.spdx and other.matches[0].start_line == first.matches[0].start_line + 2


BAD_BYTES = {
    "empty": b"",
    "blank": b"   \n\t\n",
    "png": b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR" + bytes(range(256)) * 4,
    "12 MB": b"MIT License " * 1_000_000,
    "undecodable": bytes([0x81, 0x8D, 0x8F, 0x90, 0x9D]) * 50 + b"\xff\xfe\xfd" * 20,
}


@pytest.mark.parametrize(("name", "reason"), [("empty", "empty"), ("blank", "empty"), ("png", "binary"),
                                              ("12 MB", "too_large"), ("undecodable", None)])
def test_bad_input_gives_noassertion_with_a_reason(matcher: TextMatcher, name: str, reason: str | None
                                                    ) -> None:
    found = matcher.detect_bytes(BAD_BYTES[name])
    assert found.spdx == NOASSERTION
    assert found.reason is not None
    if reason is not None:
        assert found.reason == reason


FILES = {
    "empty": b"",
    "binary": b"\x00\x01\x02\x03" * 1000,
    "huge": b"Permission is hereby granted. " * 400_000,  # 12 MB
}


@pytest.mark.parametrize(("name", "reason"), [("empty", "empty"), ("binary", "binary"), ("huge", "too_large"),
                                              ("latin1-mit", None)])
def test_cli_file_bad_input(tmp_path: Path, name: str, reason: str | None) -> None:
    path = tmp_path / "LICENSE"
    if name == "latin1-mit":  # a MIT text in Latin-1 with a non-ASCII holder: decodes and matches
        path.write_bytes(reference("mit").replace("Example Corp", "Société Générale").encode("latin-1"))
    else:
        path.write_bytes(FILES[name])
    proc = run_cli("license", "detect", path, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    result = json.loads(proc.stdout)
    if reason is None:
        assert result["spdx"] == "MIT"
    else:
        assert result["spdx"] == NOASSERTION
        assert result["category"] == "unknown"
        assert result["evidence"][0]["reason"] == reason


def test_cli_missing_path_is_a_one_line_error(tmp_path: Path) -> None:
    proc = run_cli("license", "detect", tmp_path / "nope", "--json")
    assert proc.returncode == 2
    assert proc.stderr.strip().startswith("error:") and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("expression", "category"),
    [
        ("MIT", "permissive"),
        ("MIT OR GPL-3.0-only", "permissive"),
        ("MIT AND GPL-3.0-only", "copyleft"),
        ("LGPL-2.1-or-later", "weak-copyleft"),
        ("MPL-2.0 OR GPL-2.0-only", "weak-copyleft"),
        ("Apache-2.0 WITH LLVM-exception", "permissive"),
        ("GPL-2.0-only WITH Classpath-exception-2.0", "copyleft"),
        ("LicenseRef-scancode-proprietary-license", "proprietary-or-restricted"),
        ("MIT AND LicenseRef-scancode-proprietary-license", "proprietary-or-restricted"),
        ("CC-BY-NC-4.0", "proprietary-or-restricted"),
        ("JSON", "unknown"),  # ScanCode calls it permissive; it is not on the allow-list ("Good, not Evil")
        ("LicenseRef-made-up", "unknown"),
        ("NOASSERTION", "unknown"),
        ("((", "unknown"),
    ],
)
def test_expression_categories(policy: LicensePolicy, expression: str, category: str) -> None:
    assert policy.category(expression) == category


def test_allow_list_is_configurable() -> None:
    narrow = LicensePolicy(["MIT"])
    assert narrow.category("MIT") == "permissive"
    assert narrow.category("Apache-2.0") == "unknown"
    assert narrow.category("MIT OR Apache-2.0") == "permissive"
    assert narrow.category("MIT AND Apache-2.0") == "unknown"


@pytest.mark.slow
@pytest.mark.scancode
@pytest.mark.parametrize("backend", ["scancode", "fast+scancode"])
def test_cli_scancode_backends(tmp_path: Path, backend: str) -> None:
    pytest.importorskip("scancode.api")
    path = tmp_path / "LICENSE"
    path.write_text(reference("mit"))
    proc = run_cli("license", "detect", path, "--json", "--explain", "--backend", backend, timeout=600)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["spdx"] == "MIT"
    want = "scancode" if backend == "scancode" else "fast"  # the fast matcher decides MIT itself
    assert result["evidence"][0]["backend"] == want
