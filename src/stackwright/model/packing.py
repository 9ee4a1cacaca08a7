"""``stackwright tokenize``: a release as packed token sequences, ready for training.

Each document is rendered (metadata prefix, see :mod:`stackwright.model.samples`), encoded, followed
by end-of-text, and appended to its split's stream: ``validation`` for the held-out repositories,
``train`` for the rest (no repository is in both). Streams are cut into sequences of ``seq_len``
tokens; context-level FIM then rearranges documents inside each sequence. One task per 256 files
of a release shard runs on the build executors (processes, or Ray) and writes its full sequences as
``.npy`` shards (memory-mappable); the few tokens left at the end of each task are joined, in task
order, into the last shard, whose final sequence is padded with end-of-text: no token is lost or
repeated. A rerun keeps finished tasks; the manifest is written last.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from stackwright.files import atomic_path, sha256_file, write_atomic
from stackwright.model.corpus import (
    ModelDataError,
    ReleaseCorpus,
    read_rows,
    repositories,
    shard_rows,
    validation_repositories,
)
from stackwright.model.fim import FimConfig, FimMarks, FimTokens, permute_sample, permute_text
from stackwright.model.samples import METADATA_RATE, document_rng, render
from stackwright.model.tokenizer import CodeTokenizer, special
from stackwright.model.tokens import FILENAME, FIM_MIDDLE, FIM_PREFIX, FIM_SUFFIX, GH_STARS, REPONAME

FORMAT = "stackwright-tokens"
MANIFEST = "manifest.json"
SPLITS = ("train", "validation")
STATE_DIR = "_state"
PLACEHOLDER_MARKS = FimMarks(special(FIM_PREFIX), special(FIM_MIDDLE), special(FIM_SUFFIX))
META_MARKS = (special(REPONAME), special(FILENAME), special(GH_STARS))


@dataclass(frozen=True)
class TokenizeConfig:
    seq_len: int = 2048
    validation: float = 0.01
    seed: int = 0
    fim: FimConfig = field(default_factory=FimConfig)
    metadata_rate: float = METADATA_RATE

    def __post_init__(self) -> None:
        if self.seq_len < 16:
            raise ModelDataError("--seq-len must be at least 16")
        if not 0.0 <= self.validation < 1.0:
            raise ModelDataError("--validation must be at least 0 and below 1")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


TASK_ROWS = 256  # files per task: fixed, so that the output does not depend on the number of workers


@dataclass(frozen=True)
class TokenizeTask:
    index: int
    shard: str
    start: int
    stop: int


@dataclass(frozen=True)
class TokenizeJob:
    out_dir: str
    tokenizer: str
    config: TokenizeConfig
    validation_repos: frozenset[str]
    dtype: str
    engine: str = "tokenizers"


_TOKENIZERS: dict[tuple[str, str], CodeTokenizer] = {}
CHECK_CHARS = 50_000  # text of each task both encoders tokenize before the task uses tiktoken


def _tokenizer(folder: str, engine: str = "tokenizers") -> CodeTokenizer:
    if (folder, engine) not in _TOKENIZERS:
        os.environ.setdefault("RAYON_NUM_THREADS", "1")  # one process per core: no thread pool in each
        _TOKENIZERS[folder, engine] = CodeTokenizer(Path(folder), engine)
    return _TOKENIZERS[folder, engine]


def choose_engine() -> dict[str, Any]:
    """tiktoken where it is installed, else HF ``tokenizers``. Every task then checks tiktoken against
    ``tokenizers`` on the start of its own files (:data:`CHECK_CHARS`) and uses ``tokenizers`` for the
    task where they differ or where tiktoken cannot run the tokenizer (counted in the manifest)."""
    import importlib.util

    if importlib.util.find_spec("tiktoken") is None:
        return {"name": "tokenizers", "reason": "tiktoken is not installed"}
    return {"name": "tiktoken", "checked": f"against tokenizers on the first {CHECK_CHARS:,} characters "
                                          "of every task"}


def _checked(tok: CodeTokenizer, folder: str, texts: list[str]) -> CodeTokenizer:
    """``tok``, or the HF tokenizer where tiktoken tokenizes the sample differently."""
    sample, size = [], 0
    for text in texts:
        if size >= CHECK_CHARS:
            break
        sample.append(text[: CHECK_CHARS - size])
        size += len(sample[-1])
    hf = _tokenizer(folder, "tokenizers")
    return tok if tok.encode(sample) == hf.encode(sample) else hf


def _sample_rng(seed: int, split: str, task: int, row: int) -> np.random.Generator:
    return np.random.default_rng([seed, SPLITS.index(split), task, row])


def _pack(stream: np.ndarray, seq_len: int) -> tuple[np.ndarray, np.ndarray]:
    full = len(stream) // seq_len
    return stream[: full * seq_len].reshape(full, seq_len), stream[full * seq_len :]


def join_rests(rests: list[np.ndarray], seq_len: int, pad: int, dtype: str) -> tuple[np.ndarray, int]:
    """The tasks' left-over tokens, in task order, as full sequences: the last one padded with
    ``pad``. Returns the rows and the number of padding tokens."""
    joined = np.concatenate([*rests, np.zeros(0, dtype)]).astype(dtype)
    padding = (-len(joined)) % seq_len
    rows = np.concatenate([joined, np.full(padding, pad, dtype)]).reshape(-1, seq_len)
    return rows, padding


def unpack_streams(parts: list[np.ndarray], rest_tokens: list[int], last: np.ndarray, padding: int
                   ) -> list[np.ndarray]:
    """The inverse of packing (without FIM): each task's token stream from its full sequences, its
    share of the last shard's, and the padding. For checks and tests."""
    flat_last = last.reshape(-1)
    tail = flat_last[: len(flat_last) - padding] if padding else flat_last
    streams, offset = [], 0
    for part, n in zip(parts, rest_tokens, strict=True):
        streams.append(np.concatenate([part.reshape(-1), tail[offset : offset + n]]))
        offset += n
    if offset != len(tail):
        raise ValueError("the rest counts do not add up to the last shard")
    return streams


def _with_fim(rows: np.ndarray, job: TokenizeJob, tok: CodeTokenizer, split: str, task: int) -> np.ndarray:
    config = job.config.fim
    if not config.packed or len(rows) == 0 or (config.mode == "epoch" and split == "train"):
        return rows  # epoch-level FIM rearranges the training split as it is read (the trainer)
    out = rows.copy()
    for i in range(len(rows)):
        out[i] = permute_sample(rows[i], _sample_rng(job.config.seed, split, task, i), config, tok.encode,
                                tok.decode, FimTokens(), tok.encode_split)
    return out


def _save(path: Path, array: np.ndarray) -> None:
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)


def tokenize_task(task: TokenizeTask, job: TokenizeJob) -> dict[str, Any]:
    """One release shard: render, encode, split, pack, FIM; writes its shards and its remainder."""
    tok = _tokenizer(job.tokenizer, job.engine)
    config = job.config
    streams: dict[str, list[int]] = {s: [] for s in SPLITS}
    tokens = {s: Counter() for s in SPLITS}
    documents = Counter()
    eot = FimTokens().eot
    checked = False
    for rows in read_rows(Path(task.shard), start=task.start, stop=task.stop):
        texts = []
        for row in rows:
            repo, path = str(row["repo"]), str(row["path"])
            rng = document_rng(config.seed, repo, path)
            text = render(row["content"] or "", repo, path, row["stars"], rng, config.metadata_rate,
                          marks=META_MARKS)
            if config.fim.mode == "document":
                text = permute_text(text, rng, config.fim, PLACEHOLDER_MARKS)
            texts.append(text)
        if tok.engine == "tiktoken" and not checked:
            tok = _checked(tok, job.tokenizer, texts)
            checked = True
        for row, ids in zip(rows, tok.encode(texts), strict=True):
            split = "validation" if row["repo"] in job.validation_repos else "train"
            streams[split].extend(ids)
            streams[split].append(eot)
            tokens[split][row["language"] or "unknown"] += len(ids) + 1
            documents[split] += 1
    out = Path(job.out_dir)
    result: dict[str, Any] = {"index": task.index, "encoder": tok.engine, "splits": {}}
    for split in SPLITS:
        rows_, rest = _pack(np.asarray(streams[split], dtype=job.dtype), config.seq_len)
        rows_ = _with_fim(rows_, job, tok, split, task.index)
        name = f"part-{task.index:05d}.npy"
        if len(rows_):
            _save(out / split / name, rows_)
        _save(out / STATE_DIR / "rest" / split / name, rest)
        result["splits"][split] = {"samples": len(rows_), "documents": documents[split], "rest": len(rest),
                                   "tokens": dict(tokens[split]), "shard": name if len(rows_) else None}
    write_atomic(out / STATE_DIR / "tasks" / f"part-{task.index:05d}.json", json.dumps(result).encode())
    return result


@dataclass(frozen=True)
class TokenizeResult:
    out: Path
    manifest: dict[str, Any]
    seconds: float
    tasks_resumed: int


def _fingerprint(corpus: ReleaseCorpus, tok: CodeTokenizer, config: TokenizeConfig) -> str:
    data = {"release": corpus.manifest_sha256, "tokenizer": tok.sha256, "config": config.to_json(),
            "format": FORMAT, "task_rows": TASK_ROWS}
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _prepare(out: Path, fingerprint: str) -> None:
    state = out / STATE_DIR / "fingerprint"
    if out.exists() and not out.is_dir():
        raise ModelDataError(f"{out} exists and is not a folder")
    if out.exists() and any(out.iterdir()):
        if (out / MANIFEST).is_file() or not state.is_file():
            raise ModelDataError(f"{out} is not empty; token folders are never overwritten "
                                 "(choose a new --out)")
        if state.read_text().strip() != fingerprint:
            raise ModelDataError(f"{out} holds an unfinished run of other input or settings; "
                                 "choose a new --out")
    write_atomic(state, fingerprint.encode())


def tokenize_release(release: Path, tokenizer: Path, out: Path, config: TokenizeConfig, *,
                     executor: Any = None, on_task: Callable[[int, int], None] | None = None,
                     engine: str | None = None) -> TokenizeResult:
    """Write the release's packed token sequences into the new folder ``out`` (see the module)."""
    from stackwright.pipeline.executors import make_executor

    started = time.perf_counter()
    corpus = ReleaseCorpus.open(release)
    tok = CodeTokenizer(Path(tokenizer))
    out = Path(out).resolve()
    fingerprint = _fingerprint(corpus, tok, config)
    _prepare(out, fingerprint)
    repos = repositories(corpus)
    held_out = validation_repositories(repos, config.validation, config.seed)
    dtype = "uint16" if tok.vocab_size <= 1 << 16 else "uint32"
    engine = choose_engine() if engine is None else {"name": engine, "reason": "asked"}
    job = TokenizeJob(str(out), str(Path(tokenizer).resolve()), config, held_out, dtype, engine["name"])
    spans = [(str(shard), lo, min(lo + TASK_ROWS, n)) for shard in corpus.shards
             for n in [shard_rows(shard)] for lo in range(0, n, TASK_ROWS)]
    tasks = [TokenizeTask(i, *span) for i, span in enumerate(spans)]
    results: dict[int, dict[str, Any]] = {}
    for task in tasks:
        name = f"part-{task.index:05d}"
        done = out / STATE_DIR / "tasks" / f"{name}.json"
        rests = [out / STATE_DIR / "rest" / split / f"{name}.npy" for split in SPLITS]
        if done.is_file() and all(r.is_file() for r in rests):
            results[task.index] = json.loads(done.read_text())
    resumed = len(results)
    todo = [t for t in tasks if t.index not in results]

    def finished(task: TokenizeTask, result: dict[str, Any]) -> None:
        results[task.index] = result
        if on_task is not None:
            on_task(len(results), len(tasks))

    if on_task is not None:
        on_task(len(results), len(tasks))
    (executor or make_executor("local", 1)).run(todo, job, lambda *_: None, finished, fn=tokenize_task)
    manifest = _finish(out, corpus, tok, config, job, tasks, results, repos, held_out, engine)
    return TokenizeResult(out, manifest, time.perf_counter() - started, resumed)


def _finish(out: Path, corpus: ReleaseCorpus, tok: CodeTokenizer, config: TokenizeConfig, job: TokenizeJob,
            tasks: list[TokenizeTask], results: dict[int, dict[str, Any]], repos: list[str],
            held_out: frozenset[str], engine: dict[str, Any]) -> dict[str, Any]:
    splits: dict[str, Any] = {}
    eot = FimTokens().eot
    for split in SPLITS:
        shards = [(r["shard"], r["samples"]) for t in tasks for r in [results[t.index]["splits"][split]]
                  if r["shard"]]
        rests = [np.load(out / STATE_DIR / "rest" / split / f"part-{t.index:05d}.npy") for t in tasks]
        rows, padding = join_rests(rests, config.seq_len, eot, job.dtype)
        if len(rows):
            rows = _with_fim(rows, job, tok, split, len(tasks))
            name = f"part-{len(tasks):05d}.npy"
            _save(out / split / name, rows)
            shards.append((name, len(rows)))
        counts: Counter[str] = Counter()
        for t in tasks:
            counts.update(results[t.index]["splits"][split]["tokens"])
        listed = [{"path": f"{split}/{name}", "samples": samples, "sha256": sha256_file(out / split / name)}
                  for name, samples in shards]
        splits[split] = {
            "samples": sum(s["samples"] for s in listed),
            "documents": sum(results[t.index]["splits"][split]["documents"] for t in tasks),
            "tokens": sum(counts.values()),
            "padding_tokens": padding,
            # Tokens each task left over, in task order: they open the last shard (unpack_streams).
            "rest_tokens": [results[t.index]["splits"][split]["rest"] for t in tasks],
            "tokens_per_language": dict(counts.most_common()),
            "repositories": len(held_out) if split == "validation" else len(repos) - len(held_out),
            "shards": listed,
        }
    manifest = {
        "format": FORMAT,
        "format_version": 1,
        "release": corpus.describe(),
        "tokenizer": {"path": str(Path(job.tokenizer)), "sha256": tok.sha256, "vocab_size": tok.vocab_size},
        "encoder": {**engine, "tasks_on_tokenizers": sum(
            1 for t in tasks if results[t.index].get("encoder", "tokenizers") == "tokenizers")},
        "config": config.to_json(),
        "seq_len": config.seq_len,
        "dtype": job.dtype,
        "splits": splits,
    }
    write_atomic(out / MANIFEST, json.dumps(manifest, indent=2).encode())
    shutil.rmtree(out / STATE_DIR, ignore_errors=True)  # the manifest now guards the folder
    return manifest
