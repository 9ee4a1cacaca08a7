"""Repository license detection on real git repositories, through the CLI and through a build.

License texts come from the license database the detector is built on (ScanCode's licensedcode
data), with a copyright line in front as real LICENSE files have; nothing is hand-written.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from helpers import build_ok, commit_all, git, read_rows, run_cli, write
from stackwright.curate.licenses.database import data_dir


def license_text(key: str, holder: str = "Jane Doe") -> str:
    raw = (data_dir() / "licenses" / f"{key}.LICENSE").read_text(encoding="utf-8")
    body = raw[3:].split("\n---", 1)[1].split("\n", 1)[1]
    return f"Copyright (c) 2024 {holder}\n\n{body.strip()}\n"


CODE = "def add(a, b):\n    return a + b\n"


def make_repo(root: Path, name: str, files: dict[str, str]) -> Path:
    repo = root / name
    repo.mkdir(parents=True)
    git(repo, "init", "-q")
    for rel, text in {"src/lib.py": CODE, **files}.items():
        write(repo / rel, text)
    commit_all(repo, "initial")
    return repo


REPOS: dict[str, tuple[dict[str, str], str, str]] = {
    # name: (files, expected root expression, expected category)
    "mit": ({"LICENSE": license_text("mit")}, "MIT", "permissive"),
    "apache": ({"LICENSE.txt": license_text("apache-2.0")}, "Apache-2.0", "permissive"),
    "dual": (
        {
            "LICENSE-MIT": license_text("mit"),
            "LICENSE-APACHE": license_text("apache-2.0"),
            "Cargo.toml": '[package]\nname = "dual"\nversion = "0.1.0"\nlicense = "MIT OR Apache-2.0"\n',
        },
        "MIT OR Apache-2.0",
        "permissive",
    ),
    "gpl": ({"COPYING": license_text("gpl-3.0")}, "GPL-3.0-only", "copyleft"),
    "zero-bsd": ({"LICENSE": license_text("bsd-zero")}, "0BSD", "permissive"),
    "none": ({"README.md": "# none\n\nA library without a license.\n"}, "NOASSERTION", "no-license"),
    "readme-only": (
        {"README.md": "# tool\n\nDoes things.\n\n## License\n\n"
                      "This project is licensed under the MIT license.\n"},
        "MIT",
        "permissive",
    ),
    "vendored": (
        {"LICENSE": license_text("mit"), "vendor/gplthing/COPYING": license_text("gpl-3.0", "Other Person"),
         "vendor/gplthing/thing.py": CODE},
        "MIT",
        "permissive",
    ),
}


@pytest.fixture(scope="module")
def repos(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("repos")
    for name, (files, _, _) in REPOS.items():
        make_repo(root, name, files)
    return root


def detect(path: Path) -> dict:
    proc = run_cli("license", "detect", path, "--json")
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    return json.loads(proc.stdout)


@pytest.mark.parametrize("name", sorted(REPOS))
def test_license_detect_repository(repos: Path, name: str) -> None:
    _, spdx, category = REPOS[name]
    result = detect(repos / name)
    assert result["spdx"] == spdx
    assert result["category"] == category
    assert set(result) >= {"path", "spdx", "category", "evidence"}


def test_zero_bsd_is_not_isc(repos: Path) -> None:
    # 0BSD is ISC without the attribution condition: the closer reference must win.
    result = detect(repos / "zero-bsd" / "LICENSE")
    assert result["spdx"] == "0BSD"
    isc = repos.parent / "isc-LICENSE"
    isc.write_text(license_text("isc"))
    assert detect(isc)["spdx"] == "ISC"


def test_dual_license_evidence_names_both_files_and_the_manifest(repos: Path) -> None:
    result = detect(repos / "dual")
    paths = {e["path"] for e in result["evidence"]}
    assert paths == {"LICENSE-MIT", "LICENSE-APACHE", "Cargo.toml"}


def test_vendored_folder_gets_its_own_license(repos: Path) -> None:
    result = detect(repos / "vendored")
    assert result["spdx"] == "MIT"
    [sub] = result["subtrees"]
    assert sub["folder"] == "vendor/gplthing"
    assert sub["spdx"] == "GPL-3.0-only"
    assert sub["category"] == "copyleft"


def test_explain_shows_the_deciding_file_and_rule(repos: Path) -> None:
    proc = run_cli("license", "detect", repos / "mit", "--explain")
    assert proc.returncode == 0, proc.stderr
    assert "license-file" in proc.stdout and "LICENSE" in proc.stdout
    assert "mit" in proc.stdout.lower() and "score" in proc.stdout
    # The reference text that decided, not just the folder name ("mit"), is shown.
    assert re.search(r"\(mit[\w.\-]*\.(?:LICENSE|RULE), score [\d.]+\)", proc.stdout), proc.stdout


def test_build_annotates_and_filters_by_license(repos: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    summary = build_ok(repos, "--out", out, "--steps", "drop_empty,licenses,license_filter")
    rows = read_rows(out)
    by_repo: dict[str, set[str]] = {}
    for row in rows:
        by_repo.setdefault(row["repo"], set()).add(row["path"])
        assert row["license_category"] == "permissive"
    kept = {repo.split("/", 1)[1] for repo in by_repo}
    assert kept == {"mit", "apache", "dual", "zero-bsd", "readme-only", "vendored"}
    # The GPL folder inside the MIT repository is dropped; the MIT code stays.
    vendored = next(paths for repo, paths in by_repo.items() if repo.endswith("/vendored"))
    assert "src/lib.py" in vendored
    assert not any(p.startswith("vendor/") for p in vendored)
    dropped = summary["dropped"]
    assert dropped["license_filter:license:copyleft"] == 2 + 2  # gpl repo (2 files), vendored GPL (2 files)
    assert dropped["license_filter:license:no-license"] == 2  # src/lib.py and README.md of "none"
    rows_by_key = {(r["repo"].split("/", 1)[1], r["path"]): r for r in rows}
    assert rows_by_key[("dual", "src/lib.py")]["license"] == "MIT OR Apache-2.0"
    assert "Cargo.toml" in rows_by_key[("dual", "src/lib.py")]["license_evidence"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["license"]["MIT"] >= 4
    # The manifest records what decided: the license database release and the allow-list.
    assert manifest["licenses"]["database"].startswith("licensedcode-data-")
    assert "MIT" in manifest["licenses"]["permissive"] and manifest["licenses"]["keep"] == ["permissive"]


def test_build_keeps_no_license_code_when_configured(repos: Path, tmp_path: Path) -> None:
    config = write(tmp_path / "build.toml", '[build]\nsteps = ["drop_empty", "licenses", "license_filter"]\n'
                   '[build.licenses]\nkeep = ["permissive", "no-license"]\n')
    out = tmp_path / "out"
    build_ok(repos, "--out", out, "--config", config)
    kept = {r["repo"].split("/", 1)[1] for r in read_rows(out)}
    assert "none" in kept and "gpl" not in kept


def test_spdx_header_decides_for_its_file(tmp_path: Path) -> None:
    repo = make_repo(tmp_path, "headers", {
        "LICENSE": license_text("mit"),
        "src/gpl_part.c": "// SPDX-License-Identifier: GPL-2.0-only\nint main(void) { return 0; }\n",
    })
    out = tmp_path / "out"
    build_ok(repo, "--out", out, "--steps", "drop_empty,licenses")
    rows = {r["path"]: r for r in read_rows(out)}
    assert rows["src/gpl_part.c"]["license"] == "GPL-2.0-only"
    assert rows["src/gpl_part.c"]["license_category"] == "copyleft"
    assert rows["src/gpl_part.c"]["license_evidence"] == "spdx-header"
    assert rows["src/lib.py"]["license"] == "MIT"


@pytest.mark.slow
@pytest.mark.ray
def test_build_with_ray_gives_the_same_licenses(repos: Path, tmp_path: Path) -> None:
    pytest.importorskip("ray")
    local = tmp_path / "local"
    ray = tmp_path / "ray"
    steps = ("--steps", "drop_empty,licenses,license_filter", "--workers", "2")
    build_ok(repos, "--out", local, *steps)
    build_ok(repos, "--out", ray, *steps, "--executor", "ray")
    pick = ("repo", "path", "license", "license_category", "license_evidence")
    want = sorted(tuple(r[c] for c in pick) for r in read_rows(local))
    got = sorted(tuple(r[c] for c in pick) for r in read_rows(ray))
    assert got == want


pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
