"""The demo's serving stage: one editor-shaped FIM completion from the project's completion server.

The server (:mod:`stackwright.serve`: the engine, the service with the release's attribution index
and the HTTP app) listens on a free port of 127.0.0.1 only, in this process. One OpenAI-style
``/v1/completions`` request with a ``prompt`` and a ``suffix`` (the text before and after a line
masked in a held-out file, as an editor sends them) gets the completion and its ``attribution``
result; the server is stopped in every case, also on an error or Ctrl-C.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from pathlib import Path
from typing import Any

from stackwright.demo.model import TrainedModel
from stackwright.demo.stages import DemoError, Markers, Say, StageReport, digest, resumable
from stackwright.files import sha256_file, write_atomic

HOST = "127.0.0.1"  # never another interface
MODEL_NAME = "demo-tiny"
MAX_TOKENS = 48
PREFIX_CHARS, SUFFIX_CHARS = 1500, 600  # what an editor sends around the cursor
START_TIMEOUT, REQUEST_TIMEOUT = 60.0, 120.0


def held_out_example(model: Path, release: Path, seed: int = 0) -> dict[str, str] | None:
    """A line masked in a Python file of ``release`` that ``model`` never trained on (the held-out
    split its run records, as the infill evaluation reads it;
    :func:`stackwright.evaluate.infill.masked_line`): repo, path, prefix, expected, suffix."""
    import numpy as np

    from stackwright.evaluate.infill import held_out_repositories, masked_line, model_held_out, model_run
    from stackwright.model.corpus import ReleaseCorpus, iter_texts

    split = model_held_out(model_run(model))
    if split is None:
        raise DemoError(f"{model} records no training run, so its held-out files cannot be told")
    corpus = ReleaseCorpus.open(release)
    held = held_out_repositories(corpus, split)
    rng = np.random.default_rng(seed)
    for rows in iter_texts(corpus):
        for row in rows:
            if row["repo"] not in held or row["language"] != "Python" or len(row["content"] or "") < 800:
                continue
            parts = masked_line(row["content"], rng)
            if parts is not None:
                prefix, expected, suffix = parts
                return {"repo": row["repo"], "path": row["path"], "prefix": prefix[-PREFIX_CHARS:],
                        "expected": expected, "suffix": suffix[:SUFFIX_CHARS]}
    return None


def free_socket() -> socket.socket:
    """A listening-ready socket bound to a free port of the loopback interface."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((HOST, 0))
    return sock


def _post(url: str, body: dict[str, Any]) -> dict[str, Any]:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(url, data=json.dumps(body).encode("utf-8"), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=REQUEST_TIMEOUT) as response:  # loopback only
            return json.loads(response.read().decode("utf-8"))
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode("utf-8", errors="replace")[:200]
        raise DemoError(f"the completion server answered {exc.code}: {' '.join(detail.split())}") from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        raise DemoError(f"the completion server did not answer: {getattr(exc, 'reason', exc)}") from None


def served_completion(model: Path, release: Path, body: dict[str, Any], say: Say) -> dict[str, Any]:
    """Start the server for ``model`` with ``release``'s attribution, send ``body`` to
    /v1/completions, stop the server; the response and where the server listened."""
    import uvicorn

    from stackwright.model.generate import load_model
    from stackwright.serve.api import create_app
    from stackwright.serve.attribution import Attributor
    from stackwright.serve.engine import Engine
    from stackwright.serve.service import Service

    attributor = Attributor(release)
    engine = Engine(load_model(model), max_batch=1, max_queue=4)
    service = Service({MODEL_NAME: engine}, attributor=attributor, request_timeout=REQUEST_TIMEOUT)
    sock = free_socket()
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(service), host=HOST, port=port, log_config=None,
                                           log_level="warning", access_log=False, server_header=False,
                                           timeout_graceful_shutdown=5))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="demo-http", daemon=True)
    url = f"http://{HOST}:{port}"
    engine.start()
    try:
        thread.start()
        deadline = time.monotonic() + START_TIMEOUT
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise DemoError(f"the completion server did not start on {url}")
            time.sleep(0.05)
        say(f"demo: serving {MODEL_NAME} on {url}/ (attribution: {Path(release).name}); one FIM request")
        started = time.perf_counter()
        response = _post(f"{url}/v1/completions", body)
        latency = time.perf_counter() - started
    finally:
        server.should_exit = True
        thread.join(15)
        engine.stop()
        sock.close()
    stopped = not thread.is_alive()
    say(f"demo: the server on {url} is {'stopped' if stopped else 'still stopping'}")
    return {"url": url, "response": response, "latency_seconds": round(latency, 3), "stopped": stopped}


def run_serving(trained: TrainedModel, release: Path, out_dir: Path, markers: Markers, say: Say, *,
                max_tokens: int = MAX_TOKENS) -> StageReport:
    """The served completion of a line masked in a held-out file, saved in ``OUT/serve/completion.json``."""
    target = Path(out_dir) / "serve" / "completion.json"
    key = digest("serve", trained.weights_sha256, sha256_file(Path(release) / "manifest.json"), max_tokens)

    def run() -> dict[str, Any]:
        example = held_out_example(trained.model, release)
        if example is None:
            raise DemoError(f"no held-out Python file of {release} has a line to fill in; --skip serve")
        body = {"model": MODEL_NAME, "prompt": example["prefix"], "suffix": example["suffix"],
                "max_tokens": max_tokens, "temperature": 0}
        served = served_completion(trained.model, release, body, say)
        choice = (served["response"].get("choices") or [{}])[0]
        text = choice.get("text", "")
        first = next((line.strip() for line in text.splitlines() if line.strip()), "")
        attribution = choice.get("attribution")
        record = {"request": {"url": f"{served['url']}/v1/completions", "body": body},
                  "response": served["response"],
                  "example": {k: example[k] for k in ("repo", "path", "expected")},
                  "latency_seconds": served["latency_seconds"], "stopped": served["stopped"]}
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(target, (json.dumps(record, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))
        return {"file": str(target), "example": record["example"], "completion": text, "first_line": first,
                "prefix_tail": example["prefix"].splitlines()[-3:],
                "suffix_head": example["suffix"].lstrip("\n").splitlines()[:2],
                "attribution": attribution, "exact_match": first == example["expected"].strip(),
                "figures": {"tokens": (served["response"].get("usage") or {}).get("completion_tokens"),
                            "latency_s": served["latency_seconds"],
                            "attribution": _verdict(attribution), "stopped": served["stopped"]}}

    report, _ = resumable(markers, "serve", key, [target], run, say)
    return report


def _verdict(attribution: dict[str, Any] | None) -> str:
    if attribution is None:
        return "missing"
    if attribution.get("withheld"):
        return "withheld"
    if attribution.get("matches"):
        return f"{len(attribution['matches'])} match(es)"
    return "clean" if attribution.get("checked") else f"not checked ({attribution.get('reason', '')})"
