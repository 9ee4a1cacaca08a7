"""The ScanCode license backend, on real license files read in place from the shared corpus."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("scancode.api", reason="needs scancode-toolkit (the scancode extra)")

from stackwright.curate.licenses import scancode_backend
from stackwright.curate.licenses.model import EMPTY, NO_MATCH, NOASSERTION, TIMEOUT
from stackwright.curate.licenses.scancode_backend import ScancodeBackend, scancode_available

pytestmark = [pytest.mark.scancode, pytest.mark.slow]  # each loads ScanCode's index (seconds)

CORPUS = Path("/work/shared/corpora/licenses")
MIT = CORPUS / "choosealicense" / "mit" / "LICENSE"
ZEEP = CORPUS / "askalono_real" / "multi" / "python-zeep" / "LICENSE"

needs_corpus = pytest.mark.skipif(not MIT.is_file() or not ZEEP.is_file(),
                                  reason=f"the license corpus is not at {CORPUS}")


@pytest.fixture(scope="module")
def backend() -> Iterator[ScancodeBackend]:
    with ScancodeBackend(timeout_s=60) as b:
        yield b


def long_text() -> str:
    """About 2.5 MB of license texts: uncapped, scancode needs tens of seconds on it."""
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in sorted(CORPUS.rglob("LICENSE*"))]
    return "\n\n".join(texts) * 5


def test_scancode_is_available() -> None:
    assert scancode_available()


@needs_corpus
def test_mit_text(backend: ScancodeBackend) -> None:
    det = backend.detect_text(MIT.read_text(encoding="utf-8"))
    assert det.spdx == "MIT"
    assert det.reason is None and det.found
    assert det.backend == "scancode"
    full = [m for m in det.matches if m.rule == "mit.LICENSE"]
    assert full, det.matches
    assert full[0].spdx == "MIT" and full[0].key == "mit"
    assert full[0].score == pytest.approx(1.0)
    assert 1 <= full[0].start_line < full[0].end_line


@needs_corpus
def test_multi_license_file(backend: ScancodeBackend) -> None:
    det = backend.detect_file(str(ZEEP))
    assert "MIT" in det.spdx and "BSD-3-Clause" in det.spdx
    assert {m.spdx for m in det.matches} >= {"MIT", "BSD-3-Clause"}
    assert all(0.0 < m.score <= 1.0 for m in det.matches)
    # the matches cover separate regions of the file, in order
    starts = [m.start_line for m in det.matches]
    assert starts == sorted(starts)


@pytest.mark.parametrize("text", ["", "   \n\t\n"])
def test_empty_text(backend: ScancodeBackend, text: str) -> None:
    det = backend.detect_text(text)
    assert det.spdx == NOASSERTION and det.reason == EMPTY and not det.matches


def test_text_without_a_license(backend: ScancodeBackend) -> None:
    det = backend.detect_text("def add(a, b):\n    return a + b\n")
    assert det.spdx == NOASSERTION and det.reason == NO_MATCH


def test_missing_file(backend: ScancodeBackend, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        backend.detect_file(str(tmp_path / "nope"))


@needs_corpus
def test_timeout_is_hard_and_the_backend_recovers() -> None:
    text = long_text()
    with ScancodeBackend(timeout_s=0.001) as b:
        b.detect_text("warm up: load the index")  # loading is not part of the per-file limit
        t0 = time.monotonic()
        det = b.detect_text(text)
        elapsed = time.monotonic() - t0
        assert det.spdx == NOASSERTION and det.reason == TIMEOUT and not det.matches
        # scancode's own deadline alone takes ~10 s to stop on this text; the worker is killed instead
        assert elapsed < 5.0, elapsed
        # reusable after the timeout: a fresh worker answers the next call
        b.timeout_s = 60
        assert b.detect_file(str(MIT)).spdx == "MIT"
        assert b.detect_text(MIT.read_text(encoding="utf-8")).spdx == "MIT"


def test_close_removes_the_worker_and_temp_dir() -> None:
    b = ScancodeBackend()
    tmpdir = b._tmpdir
    assert tmpdir and os.path.isdir(tmpdir)
    assert b.detect_text("SPDX-License-Identifier: Apache-2.0\n").spdx == "Apache-2.0"
    assert os.listdir(tmpdir) == []  # the text's temporary file is gone
    proc = b._proc
    b.close()
    b.close()  # idempotent
    assert proc.poll() is not None
    assert not os.path.exists(tmpdir)
    with pytest.raises(RuntimeError):
        b.detect_text("MIT License")


def test_needs_scancode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(scancode_backend, "scancode_available", lambda: False)
    with pytest.raises(RuntimeError, match=r"pip install 'stackwright\[scancode\]'"):
        ScancodeBackend()
