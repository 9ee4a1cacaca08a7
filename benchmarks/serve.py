"""Completion-server benchmark: ``stackwright serve`` against sequential HF ``generate``, one run.

The model is the ``tiny`` preset (4 layers, width 256, multi-query, context 512) over a tokenizer
trained on standard-library code; its weights are random unless ``--model`` names a trained one
(speed does not depend on them: every request asks for exactly 32 tokens, ``ignore_eos``). The
prompts are the first lines of standard-library files, one file per request (so no request reuses
another's prompt), the same on both sides, greedy.

* Baseline: ``model.generate(max_new_tokens=32, min_new_tokens=32)`` for one prompt after another,
  in this process (HF's own KV cache, no HTTP).
* Server on loopback: one client sending the requests one after another, then 8 clients at once
  (each its share of the requests), through ``/v1/completions``; latency is the whole request.
* Prefix reuse: a request whose prompt extends the previous request's (an editor after a keystroke),
  with the prefix cache on (default) and off (``--prefix-cache 0``).

Targets: throughput with 8 clients at least 3x the sequential baseline's; p95 latency with 8
clients under twice the single client's p95.

    .venv/bin/python benchmarks/serve.py
    .venv/bin/python benchmarks/serve.py --requests 64 --model RUN/model

Three rounds by default (``--repeat``), the baseline and the server taking turns; the round with the
median throughput ratio is reported. Prints a table and writes ``bench-out/serve.json``.
"""

from __future__ import annotations

import argparse
import concurrent.futures as cf
import json
import os
import shutil
import socket
import statistics
import subprocess
import sys
import sysconfig
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench-out" / "serve"
TOKENS = 32
SERVER_ENV = {k[7:]: v for k, v in os.environ.items() if k.startswith("SERVER_")}
os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")


def _cli(*args: str) -> None:
    exe = Path(sys.executable).with_name("stackwright")
    proc = subprocess.run([str(exe), *args, "--json"], capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(f"stackwright {args[0]} failed: {proc.stderr.strip()}")


def _stdlib_files(n: int) -> list[Path]:
    root = Path(sysconfig.get_paths()["stdlib"])
    return sorted(p for p in root.glob("*.py") if 3_000 < p.stat().st_size < 60_000)[:n]


def make_model(work: Path) -> Path:
    """The tiny preset with random weights over a tokenizer trained on stdlib code (cached in work)."""
    folder = work / "tiny-model"
    if (folder / "config.json").is_file():
        return folder
    import torch
    from transformers import GPTBigCodeForCausalLM

    from stackwright.model.presets import get_preset
    from stackwright.model.tokenizer import CodeTokenizer

    repos = work / "repos"
    shutil.rmtree(repos, ignore_errors=True)
    for i, path in enumerate(_stdlib_files(80)):
        target = repos / f"python__lib{i % 4}" / path.name
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    for name in ("dataset", "release", "tokenizer"):
        shutil.rmtree(work / name, ignore_errors=True)
    _cli(
        "build",
        str(repos),
        "--out",
        str(work / "dataset"),
        "--steps",
        "languages,drop_empty",
        "--no-progress",
    )
    _cli("release", str(work / "dataset"), "--version", "v1.0.0", "--out", str(work / "release"))
    _cli(
        "tokenizer",
        "train",
        str(work / "release"),
        "--vocab-size",
        "8192",
        "--out",
        str(work / "tokenizer"),
        "--no-progress",
    )
    shutil.copytree(work / "tokenizer", folder)
    vocab = CodeTokenizer(folder).vocab_size
    torch.manual_seed(0)
    config = get_preset("tiny").model_config(vocab, bos=0, eos=0, pad=0)
    GPTBigCodeForCausalLM(config).save_pretrained(folder)
    return folder


def prompts(n: int, lines: int) -> list[str]:
    """The first ``lines`` lines of ``n`` different files: no request repeats another's prompt."""
    return ["\n".join(p.read_text(encoding="utf-8").splitlines()[:lines]) + "\n" for p in _stdlib_files(n)]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def baseline(model_dir: Path, texts: list[str], requests: int) -> dict[str, Any]:
    import torch

    from stackwright.model.generate import load_model

    loaded = load_model(model_dir, device="cpu")
    ids = [loaded.tokenizer.encode([t])[0][-400:] for t in texts]

    def one(row: list[int]) -> float:
        started = time.perf_counter()
        with torch.no_grad():
            out = loaded.model.generate(
                torch.tensor([row]),
                max_new_tokens=TOKENS,
                min_new_tokens=TOKENS,
                do_sample=False,
                eos_token_id=0,
                pad_token_id=0,
            )
        assert out.shape[1] - len(row) == TOKENS
        return time.perf_counter() - started

    one(ids[0])  # warm-up
    started = time.perf_counter()
    latencies = [one(ids[i % len(ids)]) for i in range(requests)]
    wall = time.perf_counter() - started
    return _summary(latencies, wall, requests)


def _summary(latencies: list[float], wall: float, requests: int) -> dict[str, Any]:
    return {
        "requests": requests,
        "p50_ms": 1000 * statistics.median(latencies),
        "p95_ms": 1000 * percentile(latencies, 0.95),
        "tokens_per_s": requests * TOKENS / wall,
        "wall_s": wall,
    }


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Server:
    def __init__(self, model_dir: Path, *args: str) -> None:
        import httpx

        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        exe = Path(sys.executable).with_name("stackwright")
        self.proc = subprocess.Popen(
            [str(exe), "serve", str(model_dir), "--port", str(self.port), *args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env={**os.environ, **SERVER_ENV},
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url + "/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            self.close()
            raise SystemExit("the server did not start")
        self.client = httpx.Client(timeout=120)

    def complete(self, prompt: str, max_tokens: int = TOKENS) -> float:
        started = time.perf_counter()
        answer = self.client.post(
            self.url + "/v1/completions",
            json={"prompt": prompt, "max_tokens": max_tokens, "temperature": 0, "ignore_eos": True},
        )
        answer.raise_for_status()
        assert answer.json()["usage"]["completion_tokens"] == max_tokens
        return time.perf_counter() - started

    def close(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(20)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def served(server: Server, texts: list[str], requests: int, clients: int) -> dict[str, Any]:
    import httpx

    def worker(k: int) -> list[float]:
        own = Server.__new__(Server)
        own.url, own.client = server.url, httpx.Client(timeout=120)
        return [own.complete(texts[i % len(texts)]) for i in range(k, requests, clients)]

    started = time.perf_counter()
    with cf.ThreadPoolExecutor(clients) as pool:
        latencies = [x for part in pool.map(worker, range(clients)) for x in part]
    return _summary(latencies, time.perf_counter() - started, requests)


def prefix_reuse(server: Server, texts: list[str]) -> float:
    """Median latency of a request whose prompt extends the previous one's by a few characters."""
    times = []
    for text in texts:
        base = text * 2
        server.complete(base, 4)
        times.append(server.complete(base + "    return", 4))
    return 1000 * statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--model", type=Path, help="A model folder [default: the tiny preset, random weights]"
    )
    parser.add_argument("--requests", type=int, default=32, help="Requests per measurement")
    parser.add_argument("--lines", type=int, default=24, help="Lines of each file in its prompt")
    parser.add_argument("--repeat", type=int, default=3, help="Rounds; the median round is reported")
    args = parser.parse_args()
    WORK.mkdir(parents=True, exist_ok=True)
    model_dir = args.model or make_model(WORK)
    texts = prompts(args.requests, args.lines)
    print(
        f"model: {model_dir}  {args.requests} requests of {TOKENS} tokens each, greedy, prompts of "
        f"{args.lines} lines",
        flush=True,
    )
    rounds = []
    server = Server(model_dir, "--max-batch", "8", "--max-queue", "64")
    try:
        server.complete(texts[0])  # warm-up
        for _ in range(args.repeat):  # the baseline and the server take turns on the same cores
            seq = baseline(model_dir, texts, args.requests)
            one = served(server, texts, args.requests, 1)
            eight = served(server, texts, args.requests, 8)
            rounds.append((eight["tokens_per_s"] / seq["tokens_per_s"], seq, one, eight))
        with_cache = prefix_reuse(server, texts[:8])
    finally:
        server.close()
    rounds.sort(key=lambda r: r[0])
    _, seq, one, eight = rounds[len(rounds) // 2]  # the round with the median throughput ratio
    cold = Server(model_dir, "--prefix-cache", "0")
    try:
        cold.complete(texts[0])
        without_cache = prefix_reuse(cold, texts[:8])
    finally:
        cold.close()
    result = {
        "model": str(model_dir),
        "tokens_per_request": TOKENS,
        "prompt_lines": args.lines,
        "rounds": args.repeat,
        "throughput_ratios": [round(r[0], 3) for r in rounds],
        "cpus": os.cpu_count(),
        "hf_generate_sequential": seq,
        "server_1_client": one,
        "server_8_clients": eight,
        "throughput_ratio_8_clients_vs_sequential": eight["tokens_per_s"] / seq["tokens_per_s"],
        "p95_ratio_8_vs_1_client": eight["p95_ms"] / one["p95_ms"],
        "prefix_extension_ms": {
            "reuse": with_cache,
            "no_reuse": without_cache,
            "speedup": without_cache / with_cache,
        },
    }
    rows = [("HF generate, sequential", seq), ("server, 1 client", one), ("server, 8 clients", eight)]
    print(f"{'':28} {'p50 ms':>8} {'p95 ms':>8} {'tokens/s':>9}")
    for name, r in rows:
        print(f"{name:28} {r['p50_ms']:8.1f} {r['p95_ms']:8.1f} {r['tokens_per_s']:9.1f}")
    print(
        "throughput, 8 clients / sequential generate: "
        f"{result['throughput_ratio_8_clients_vs_sequential']:.2f}x (target >= 3; rounds: "
        f"{', '.join(f'{r[0]:.2f}' for r in rounds)})"
    )
    print(f"p95, 8 clients / 1 client: {result['p95_ratio_8_vs_1_client']:.2f} (target < 2)")
    print(
        f"prompt extending the previous one: {with_cache:.1f} ms with prefix reuse, {without_cache:.1f} ms "
        f"without ({without_cache / with_cache:.2f}x)"
    )
    (ROOT / "bench-out" / "serve.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
