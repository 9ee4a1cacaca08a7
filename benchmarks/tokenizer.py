"""Tokenizer and tokenize benchmark: stackwright against raw HF ``tokenizers`` on the same text, in one run.

(Not named ``tokenize.py``: on a worker process's import path that name hides the standard library's
``tokenize`` module.)

On one release (by default the demo's: about 60 MB of this machine's Python installation, built once
under ``bench-out/tokenize/``):

* tokenizer training time (``stackwright.model.tokenizer.train_tokenizer``, vocabulary 49,152), and
  the same for a GPT-2-style byte-level BPE (no digit split) on the same files and vocabulary size;
* bytes per token of both on the held-out repositories, per language;
* throughput of ``tokenize_release`` end to end (metadata, encoding, context-level FIM at rate 0.5,
  packing into 2,048-token sequences, writing shards and the manifest) with ``--workers`` processes,
  against raw ``tokenizers`` ``encode_batch`` of the same texts with as many threads (the encoding
  alone: no FIM, no packing, nothing written), and raw tiktoken for reference. MB/s count the
  release's content bytes; per core divides by the workers.

    .venv/bin/python benchmarks/tokenizer.py
    .venv/bin/python benchmarks/tokenizer.py --release path/to/release --workers 2 --max-bytes 20000000
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench-out" / "tokenize"


def demo_release(limit_mb: int) -> Path:
    out = WORK / f"demo-{limit_mb}mb"
    release = out / "release" / "v0.1.0"
    if not (release / "manifest.json").is_file():
        subprocess.run([str(Path(sys.executable).with_name("stackwright")), "demo", "--out", str(out),
                        "--limit-mb", str(limit_mb), "--dataset-only", "--no-progress"], check=True,
                       stdout=subprocess.DEVNULL)
    return release


def held_out_texts(release: Path) -> dict[str, list[str]]:
    from stackwright.model.corpus import ReleaseCorpus, iter_texts, repositories, validation_repositories
    from stackwright.model.tokenizer import HELD_OUT

    corpus = ReleaseCorpus.open(release)
    held = validation_repositories(repositories(corpus), HELD_OUT, 0)
    by_language: dict[str, list[str]] = defaultdict(list)
    for rows in iter_texts(corpus):
        for row in rows:
            if row["repo"] in held:
                by_language[row["language"] or "unknown"].append(row["content"] or "")
    return by_language


def train_gpt2_style(release: Path, vocab_size: int, max_bytes: int | None) -> tuple[Any, float]:
    """A byte-level BPE with GPT-2's pre-tokenizer only (digits merge like letters), same special
    tokens, same training files (the held-out repositories left out)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    from stackwright.model.corpus import ReleaseCorpus, iter_texts, repositories, validation_repositories
    from stackwright.model.tokenizer import HELD_OUT
    from stackwright.model.tokens import SPECIAL_TOKENS

    corpus = ReleaseCorpus.open(release)
    held = validation_repositories(repositories(corpus), HELD_OUT, 0)

    def texts() -> Any:
        seen = 0
        for rows in iter_texts(corpus):
            for row in rows:
                if row["repo"] in held or (max_bytes is not None and seen >= max_bytes):
                    continue
                seen += len(row["content"].encode())
                yield row["content"]

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=list(SPECIAL_TOKENS),
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    started = time.perf_counter()
    tok.train_from_iterator(texts(), trainer=trainer)
    return tok, time.perf_counter() - started


def raw_encode(release: Path, tokenizer_dir: Path, threads: int) -> dict[str, Any]:
    """HF encode_batch and tiktoken over the release's texts, in a fresh process with ``threads``
    threads (RAYON_NUM_THREADS is read once, when tokenizers starts its pool)."""
    code = f"""
import json, time, os
from pathlib import Path
from stackwright.model.corpus import ReleaseCorpus, iter_texts
from stackwright.model.fast_encoder import FastEncoder
from tokenizers import Tokenizer
texts = [r["content"] for rows in iter_texts(ReleaseCorpus.open(Path({str(release)!r}))) for r in rows]
size = sum(len(t.encode()) for t in texts)
tok = Tokenizer.from_file({str(tokenizer_dir / "tokenizer.json")!r})
tok.encode_special_tokens = True
tok.encode_batch(texts[:50])
t = time.perf_counter(); n = sum(len(e.ids) for e in tok.encode_batch(texts, add_special_tokens=False))
hf = time.perf_counter() - t
fast = FastEncoder(Path({str(tokenizer_dir / "tokenizer.json")!r}))
t = time.perf_counter()
m = sum(len(x) for x in fast.encoding.encode_ordinary_batch(texts, num_threads={threads}))
tk = time.perf_counter() - t
print(json.dumps({{"bytes": size, "hf_seconds": hf, "hf_tokens": n, "tiktoken_seconds": tk,
                  "tiktoken_tokens": m}}))
"""
    env = {**os.environ, "RAYON_NUM_THREADS": str(threads), "TOKENIZERS_PARALLELISM": "true"}
    proc = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True)
    return json.loads(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--release", type=Path, help="A release folder [default: the demo's, built once].")
    parser.add_argument("--demo-mb", type=int, default=60)
    parser.add_argument("--vocab-size", type=int, default=49152)
    parser.add_argument("--max-bytes", type=int, default=None, help="Tokenizer training sample.")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "tokenize.json")
    args = parser.parse_args()
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")

    from stackwright.model.packing import TokenizeConfig, tokenize_release
    from stackwright.model.tokenizer import CodeTokenizer, train_tokenizer
    from stackwright.pipeline.executors import make_executor

    release = args.release or demo_release(args.demo_mb)
    runs = WORK / "runs"
    shutil.rmtree(runs, ignore_errors=True)
    runs.mkdir(parents=True)
    print(f"release: {release}")

    ours = train_tokenizer(release, runs / "stackwright-tok", vocab_size=args.vocab_size,
                           max_bytes=args.max_bytes)
    print(f"trained stackwright tokenizer in {ours.info['seconds']} s "
          f"({ours.info['training_bytes'] / 1e6:.1f} MB, vocabulary {ours.info['vocab_size']:,})")
    gpt2, gpt2_seconds = train_gpt2_style(release, args.vocab_size, args.max_bytes)
    print(f"trained GPT-2-style BPE in {gpt2_seconds:.2f} s (vocabulary {gpt2.get_vocab_size():,})")

    tok = CodeTokenizer(ours.out)
    per_language = {}
    for language, texts in sorted(held_out_texts(release).items(), key=lambda kv: -sum(map(len, kv[1]))):
        size = sum(len(t.encode()) for t in texts)
        a = sum(len(ids) for ids in tok.encode(texts))
        b = sum(len(e.ids) for e in gpt2.encode_batch(texts, add_special_tokens=False))
        per_language[language] = {"files": len(texts), "bytes": size, "stackwright": round(size / a, 3),
                                  "gpt2_style": round(size / b, 3)}

    raw = raw_encode(release, ours.out, args.workers)
    started = time.perf_counter()
    result = tokenize_release(release, ours.out, runs / "tokens", TokenizeConfig(seq_len=2048),
                              executor=make_executor("local", args.workers))
    seconds = time.perf_counter() - started
    mb = raw["bytes"] / 1e6
    ours_rate = mb / seconds
    hf_rate = mb / raw["hf_seconds"]
    report = {
        "release": str(release), "mb": round(mb, 2), "workers": args.workers,
        "training": {"stackwright_seconds": ours.info["seconds"],
                     "gpt2_style_seconds": round(gpt2_seconds, 2),
                     "training_mb": round(ours.info["training_bytes"] / 1e6, 2)},
        "bytes_per_token": per_language,
        "throughput_mb_s": {"stackwright_tokenize": round(ours_rate, 2),
                            "hf_encode_batch": round(hf_rate, 2),
                            "tiktoken_encode": round(mb / raw["tiktoken_seconds"], 2)},
        "per_core_mb_s": round(ours_rate / args.workers, 2),
        "ratio_vs_hf": round(ours_rate / hf_rate, 2),
        "encoder": result.manifest["encoder"],
        "tokens": sum(s["tokens"] for s in result.manifest["splits"].values()),
    }
    print()
    print(f"| measure ({args.workers} workers, {mb:.1f} MB) | value |")
    print("|---|---:|")
    print(f"| tokenizer training, stackwright (s) | {ours.info['seconds']:.2f} |")
    print(f"| tokenizer training, GPT-2-style BPE (s) | {gpt2_seconds:.2f} |")
    print(f"| stackwright tokenize end to end (MB/s) | {ours_rate:.2f} |")
    print(f"| HF tokenizers encode_batch only (MB/s) | {hf_rate:.2f} |")
    print(f"| tiktoken encode only (MB/s) | {mb / raw['tiktoken_seconds']:.2f} |")
    print(f"| stackwright / HF encode_batch | {report['ratio_vs_hf']:.2f}x |")
    print(f"| stackwright per core (MB/s) | {report['per_core_mb_s']:.2f} |")
    print()
    print("| language (held out) | files | MB | bytes/token stackwright | bytes/token GPT-2-style |")
    print("|---|---:|---:|---:|---:|")
    for language, r in per_language.items():
        print(f"| {language} | {r['files']} | {r['bytes'] / 1e6:.2f} | {r['stackwright']} "
              f"| {r['gpt2_style']} |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"\nwrote {args.out}")


if __name__ == "__main__":
    main()
