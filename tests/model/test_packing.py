"""`stackwright tokenize`: packed shards that lose and repeat no token, split by repository, resumable."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from helpers import assert_one_line_error, run_cli
from stackwright.model.corpus import ReleaseCorpus, read_rows, repositories, validation_repositories
from stackwright.model.packing import META_MARKS, _pack, join_rests, unpack_streams
from stackwright.model.samples import document_rng, render
from stackwright.model.tokenizer import CodeTokenizer

SEQ = 64


def tokenize(release: Path, tokenizer: Path, out: Path, *extra: str) -> dict:
    proc = run_cli("tokenize", release, "--tokenizer", tokenizer, "--out", out, "--seq-len", str(SEQ),
                   "--validation", "0.2", "--workers", "2", "--json", "--no-progress", *extra)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


@pytest.fixture(scope="module")
def plain(release: Path, tokenizer: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("tokens") / "plain"
    tokenize(release, tokenizer, out, "--fim-mode", "off")
    return out


def documents_by_split(folder: Path) -> dict[str, Counter]:
    """The documents (token tuples between end-of-text tokens) each split's shards hold."""
    manifest = json.loads((folder / "manifest.json").read_text())
    found = {}
    for split, info in manifest["splits"].items():
        rests = info["rest_tokens"]
        arrays = {Path(s["path"]).name: np.load(folder / s["path"]) for s in info["shards"]}
        last = arrays.pop(f"part-{len(rests):05d}.npy", np.zeros((0, SEQ), np.uint16))
        parts = [arrays.get(f"part-{i:05d}.npy", np.zeros((0, SEQ), np.uint16)) for i in range(len(rests))]
        docs: Counter = Counter()
        for stream in unpack_streams(parts, rests, last, info["padding_tokens"]):
            assert len(stream) == 0 or stream[-1] == 0, "a task's stream ends with end-of-text"
            cuts = np.flatnonzero(stream == 0)
            docs.update(tuple(d.tolist()) for d in np.split(stream, cuts + 1)[:-1])
        found[split] = docs
    return found


def test_no_token_lost_or_repeated_and_no_repository_in_both_splits(plain: Path, release: Path,
                                                                    tokenizer: Path) -> None:
    manifest = json.loads((plain / "manifest.json").read_text())
    tok = CodeTokenizer(tokenizer)
    corpus = ReleaseCorpus.open(release)
    held_out = validation_repositories(repositories(corpus), 0.2, 0)
    assert 1 <= len(held_out) < len(repositories(corpus))
    expected: dict[str, Counter] = {"train": Counter(), "validation": Counter()}
    for shard in corpus.shards:
        for rows in read_rows(shard):
            for row in rows:
                rng = document_rng(0, row["repo"], row["path"])
                text = render(row["content"], row["repo"], row["path"], row["stars"], rng, marks=META_MARKS)
                split = "validation" if row["repo"] in held_out else "train"
                expected[split][(*tok.encode([text])[0], 0)] += 1
    assert documents_by_split(plain) == expected
    for split, info in manifest["splits"].items():
        assert info["tokens"] == sum(len(d) * n for d, n in expected[split].items())
        assert info["samples"] * SEQ == info["tokens"] + info["padding_tokens"]
    assert manifest["release"]["version"] == "v1.0.0" and len(manifest["release"]["manifest_sha256"]) == 64
    assert manifest["tokenizer"]["sha256"] == tok.sha256 and manifest["dtype"] == "uint16"
    languages = manifest["splits"]["train"]["tokens_per_language"] | manifest["splits"]["validation"][
        "tokens_per_language"]
    assert {"Python", "JavaScript"} <= set(languages)
    metadata = sum(1 for split in expected.values() for d in split if d[0] in (5, 6, 18))
    assert 0.2 < metadata / sum(len(s) for s in expected.values()) < 0.8  # 1 - 0.8**3 = 0.49 expected


def test_fim_keeps_every_document_in_its_place(plain: Path, release: Path, tokenizer: Path,
                                              tmp_path: Path) -> None:
    summary = tokenize(release, tokenizer, tmp_path / "fim", "--fim-rate", "0.5")
    assert summary["splits"] == json.loads(json.dumps(
        {k: {key: v[key] for key in ("samples", "documents", "tokens", "padding_tokens", "repositories")}
         for k, v in json.loads((plain / "manifest.json").read_text())["splits"].items()}))
    a = np.load(plain / "train" / "part-00000.npy")
    b = np.load(tmp_path / "fim" / "train" / "part-00000.npy")
    assert a.shape == b.shape
    assert np.array_equal(a == 0, b == 0), "FIM moved an end-of-text token"
    # Context-level FIM: every stretch of a sample between end-of-text tokens is a document.
    stretches = sum(sum(1 for piece in np.split(row, np.flatnonzero(row == 0)) if (piece != 0).any())
                    for row in a)
    rearranged = int((b == 1).sum())
    assert 0.3 * stretches < rearranged < 0.6 * stretches  # rate 0.5, less the few too short to trim
    # Deterministic, and the same with either encoder (tiktoken is only a faster way to the same ids).
    assert summary["encoder"] == "tiktoken"
    assert json.loads((tmp_path / "fim" / "manifest.json").read_text())["encoder"]["tasks_on_tokenizers"] == 0
    again = tokenize(release, tokenizer, tmp_path / "again", "--fim-rate", "0.5", "--encoder", "tokenizers")
    assert again["splits"] == summary["splits"] and again["encoder"] == "tokenizers"
    for split in ("train", "validation"):
        for path in sorted((tmp_path / "fim" / split).glob("*.npy")):
            assert np.array_equal(np.load(tmp_path / "again" / split / path.name), np.load(path)), path


def test_an_interrupted_run_resumes_and_gives_the_same_shards(release: Path, tokenizer: Path, tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    from stackwright.model import packing
    from stackwright.pipeline.executors import make_executor

    monkeypatch.setattr(packing, "TASK_ROWS", 16)  # several tasks from the small release
    config = packing.TokenizeConfig(seq_len=SEQ, validation=0.2)
    whole = packing.tokenize_release(release, tokenizer, tmp_path / "whole", config,
                                     executor=make_executor("local", 1))
    assert len(whole.manifest["splits"]["train"]["rest_tokens"]) >= 4

    def stop_after_two(done: int, total: int) -> None:
        if done >= 2:
            raise KeyboardInterrupt

    out = tmp_path / "t"
    with pytest.raises(KeyboardInterrupt):
        packing.tokenize_release(release, tokenizer, out, config, executor=make_executor("local", 1),
                                 on_task=stop_after_two)
    assert not (out / "manifest.json").exists()
    resumed = packing.tokenize_release(release, tokenizer, out, config, executor=make_executor("local", 1))
    assert resumed.tasks_resumed >= 2
    shards = lambda root: {p.relative_to(root): p.read_bytes() for p in root.rglob("*.npy")}  # noqa: E731
    assert shards(out) == shards(tmp_path / "whole")
    assert not (out / "_state").exists()
    assert_one_line_error(run_cli("tokenize", release, "--tokenizer", tokenizer, "--out", out),
                          "never overwritten")
    other = packing.TokenizeConfig(seq_len=SEQ * 2)
    with pytest.raises(packing.ModelDataError, match="never overwritten"):
        packing.tokenize_release(release, tokenizer, out, other)


def test_bad_input_is_one_line(release: Path, tokenizer: Path, tmp_path: Path) -> None:
    assert_one_line_error(run_cli("tokenize", tmp_path, "--tokenizer", tokenizer, "--out", tmp_path / "o"),
                          "not a stackwright release")
    assert_one_line_error(run_cli("tokenize", release, "--tokenizer", tokenizer, "--out", tmp_path / "o",
                                  "--fim-mode", "sometimes"), "unknown FIM mode")
    assert_one_line_error(run_cli("tokenize", release, "--tokenizer", tokenizer, "--out", tmp_path / "o",
                                  "--seq-len", "4"), "--seq-len")


@given(st.lists(st.lists(st.integers(1, 60000), max_size=300), min_size=1, max_size=6), st.integers(16, 97))
def test_packing_loses_and_repeats_no_token(streams: list[list[int]], seq_len: int) -> None:
    arrays = [np.asarray(s, dtype=np.uint16) for s in streams]
    packed = [_pack(a, seq_len) for a in arrays]
    last, padding = join_rests([rest for _, rest in packed], seq_len, 0, "uint16")
    assert last.shape[1:] == (seq_len,) and 0 <= padding < seq_len
    assert all(rows.shape[1:] == (seq_len,) for rows, _ in packed)
    back = unpack_streams([rows for rows, _ in packed], [len(rest) for _, rest in packed], last, padding)
    assert [b.tolist() for b in back] == streams


def test_an_empty_release_is_one_line(tokenizer: Path, tmp_path: Path) -> None:
    from helpers import build_ok, write

    write(tmp_path / "repos" / "team__empty" / "blank.py", "")
    build_ok(tmp_path / "repos", "--out", tmp_path / "dataset")
    proc = run_cli("release", tmp_path / "dataset", "--version", "v0.0.1", "--out", tmp_path / "release")
    assert proc.returncode == 0, proc.stderr
    assert_one_line_error(run_cli("tokenize", tmp_path / "release", "--tokenizer", tokenizer, "--out",
                                  tmp_path / "tokens"), "holds no files")
    assert_one_line_error(run_cli("tokenizer", "train", tmp_path / "release", "--out", tmp_path / "tok"),
                          "holds no files")


@pytest.mark.slow
@pytest.mark.ray
def test_ray_executor_writes_the_same_shards(plain: Path, release: Path, tokenizer: Path,
                                             tmp_path: Path) -> None:
    import shutil
    import tempfile

    from helpers import cli_env

    scratch = Path(tempfile.mkdtemp(prefix="swt-", dir="/tmp"))  # short: Ray's socket paths
    env = cli_env(TMPDIR=str(scratch), HOME=str(tmp_path))
    try:
        proc = run_cli("tokenize", release, "--tokenizer", tokenizer, "--out", tmp_path / "ray", "--seq-len",
                       str(SEQ), "--validation", "0.2", "--fim-mode", "off", "--executor", "ray", "--workers",
                       "2", "--json", "--no-progress", env=env, timeout=600)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    assert proc.returncode == 0, proc.stderr
    for path in plain.rglob("*.npy"):
        assert (tmp_path / "ray" / path.relative_to(plain)).read_bytes() == path.read_bytes(), path


def test_epoch_fim_rearranges_the_training_split_afresh_at_every_pass(
        plain: Path, release: Path, tokenizer: Path, tmp_path: Path) -> None:
    from stackwright.model.train import epoch_fim

    out = tmp_path / "epoch"
    tokenize(release, tokenizer, out, "--fim-mode", "epoch", "--fim-rate", "0.5")
    stored = np.load(out / "train" / "part-00000.npy")
    assert np.array_equal(stored, np.load(plain / "train" / "part-00000.npy")), "train is stored as it is"
    validation = np.load(out / "validation" / "part-00000.npy")
    assert (validation == 1).any(), "the validation split is rearranged once, at tokenization"
    manifest = json.loads((out / "manifest.json").read_text())
    rearrange = epoch_fim(manifest, CodeTokenizer(tokenizer), seed=0)
    n = len(stored)
    first = [rearrange(k, stored[k]) for k in range(n)]
    second = [rearrange(n + k, stored[k]) for k in range(n)]
    assert all(len(a) == SEQ and np.array_equal(a == 0, s == 0) for a, s in zip(first, stored, strict=True))
    moved = [not np.array_equal(a, s) for a, s in zip(first, stored, strict=True)]
    assert 0.2 < sum(moved) / n < 0.9
    assert sum(not np.array_equal(a, b) for a, b in zip(first, second, strict=True)) > 0.2 * n
    assert all(np.array_equal(rearrange(k, stored[k]), first[k]) for k in range(n)), "the same after a resume"
    # Other modes: the trainer reads the samples as they are.
    plain_manifest = json.loads((plain / "manifest.json").read_text())
    row = stored[3]
    assert epoch_fim(plain_manifest, CodeTokenizer(tokenizer), 0)(3, row) is row
