"""Our detector against ScanCode on the real license files of this machine's installed packages
(``*.dist-info/licenses/*``, ``LICENSE*``, ``COPYING*`` under site-packages): where both name a
license, they should name the same one, and we must not call permissive what ScanCode does not."""

from __future__ import annotations

import os
import sysconfig
from pathlib import Path

import pytest

from stackwright.curate.licenses.evidence import license_file_kind
from stackwright.curate.licenses.model import NOASSERTION
from stackwright.curate.licenses.steps import detector_for

pytestmark = [pytest.mark.slow, pytest.mark.scancode]

SAMPLE = 120  # files, one at a time from each package in turn (ScanCode takes ~80 ms a file)


def installed_license_files(limit: int) -> list[Path]:
    top = Path(sysconfig.get_paths()["purelib"])
    groups: dict[str, list[Path]] = {}
    for folder, dirs, files in os.walk(top):
        dirs[:] = sorted(d for d in dirs if d != "licensedcode")  # ScanCode's database: reference texts
        for name in sorted(files):
            path = Path(folder, name)
            rel = path.relative_to(top).as_posix()
            if license_file_kind(rel) and path.is_file() and not path.is_symlink():
                if path.stat().st_size < 500_000:
                    groups.setdefault(rel.split("/", 1)[0], []).append(path)
    queues = [groups[k] for k in sorted(groups)]
    found: list[Path] = []
    depth = 0
    while len(found) < limit and any(depth < len(q) for q in queues):
        found += [q[depth] for q in queues if depth < len(q)][: limit - len(found)]
        depth += 1
    return found


def test_agreement_with_scancode_on_installed_packages() -> None:
    api = pytest.importorskip("scancode.api")
    from stackwright.config import LicenseConfig

    paths = installed_license_files(SAMPLE)
    if len(paths) < 20:
        pytest.skip("too few license files installed")
    detector = detector_for(LicenseConfig())
    policy = detector.policy
    both = agree = 0
    disagreements: list[tuple[str, str, str]] = []
    false_permissive: list[tuple[str, str, str]] = []
    for path in paths:
        ours = detector.detect_data(path.read_bytes()).spdx
        theirs = api.get_licenses(str(path)).get("detected_license_expression_spdx") or NOASSERTION
        ours_permissive = ours != NOASSERTION and policy.category(ours) == "permissive"
        if ours_permissive and theirs != NOASSERTION and policy.category(theirs) != "permissive":
            false_permissive.append((str(path), ours, theirs))
        if ours == NOASSERTION or theirs == NOASSERTION:
            continue
        both += 1
        if ours.lower() == theirs.lower():
            agree += 1
        else:
            disagreements.append((str(path), ours, theirs))
    print(f"\nscancode agreement: {agree}/{both} where both answer, of {len(paths)} files; "
          f"permissive where scancode is not: {false_permissive}")
    for item in disagreements:
        print("  differ:", *item)
    assert both >= 0.5 * len(paths), (both, len(paths))
    assert agree / both >= 0.85, disagreements
    assert len(false_permissive) <= 1, false_permissive
