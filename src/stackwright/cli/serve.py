"""Serving commands: ``stackwright serve MODEL``, the code-completion server.

They import the model stack inside their bodies, so ``stackwright --help`` stays fast.
"""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Annotated, Any

import typer

from stackwright.cli._common import PLAIN, TRAINING_MODULES, FimLayout, choice, err, fail, metavar, need_extra

app = typer.Typer()


def _check_port(host: str, port: int) -> None:
    """A one-line error now rather than a log line from the server later."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")


@app.command("serve")
def serve_cmd(
    model: Annotated[Path, typer.Argument(help="A model folder (or the run folder holding one).")],
    adapter: Annotated[list[str] | None, typer.Option(
        "--adapter", metavar="NAME=PATH", help="A LoRA adapter (stackwright finetune) served as model NAME "
        "beside the base; repeat for more. One copy of the base weights serves them all.")] = None,
    release: Annotated[Path | None, typer.Option(
        help="Check every suggestion against this release's attribution index.")] = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(min=1, max=65535, help="Port to listen on.")] = 8000,
    name: Annotated[str | None, typer.Option(
        help="The model's name in the APIs [default: the model folder's name].")] = None,
    device: Annotated[str | None, typer.Option(help="cpu, cuda, cuda:1 ... [default: cuda when present].")
                      ] = None,
    max_batch: Annotated[int, typer.Option(min=1, help="Sequences decoded together.")] = 8,
    max_queue: Annotated[int, typer.Option(
        min=0, help="Requests allowed to wait; more are answered 503 with Retry-After.")] = 32,
    request_timeout: Annotated[float, typer.Option(
        min=0.1, help="Seconds a request may take before it ends with what it has.")] = 30.0,
    prefix_cache: Annotated[int | None, typer.Option(
        min=0, help="Prompt tokens whose KV cache is kept for reuse (0: off) [default: 8 contexts].")] = None,
    block_verbatim: Annotated[int | None, typer.Option(
        min=1, help="Withhold suggestions sharing this many characters verbatim with a training file "
        "(needs --release).")] = None,
    min_overlap: Annotated[int | None, typer.Option(
        min=1, help="Characters of verbatim overlap that flag a suggestion [default: the index's].")] = None,
    fim_layout: Annotated[FimLayout, typer.Option(
        parser=choice(FimLayout, "FIM layout"), metavar=metavar(FimLayout),
        help="Order of FIM prompts: psm (prefix, suffix, middle: StarCoder's) or spm (suffix first: "
        "stackwright models learn both, and a small one fills in better from spm).")] = FimLayout.psm,
    access_log: Annotated[bool, typer.Option(help="Log every request line (never bodies).")] = False,
) -> None:
    """Serve a model for code completion: OpenAI, TGI, llama.cpp and Tabby APIs with FIM.

    Concurrent requests are batched with a KV cache; a prompt that extends a recent one reuses its
    cache. With --release each suggestion is checked against the training data and carries the
    repositories and licenses it repeats. Open /playground in a browser to try it.
    """
    need_extra(TRAINING_MODULES, "serving")
    need_extra(("fastapi", "uvicorn", "prometheus_client"), "serving", "serve")
    if block_verbatim is not None and release is None:
        fail("--block-verbatim needs --release (the training data to compare with)")
    adapters = _adapter_options(adapter or [])
    _check_port(host, port)
    import logging

    import uvicorn
    from transformers.utils import logging as hf_logging

    from stackwright.model.generate import load_model
    from stackwright.serve.api import create_app
    from stackwright.serve.attribution import Attributor
    from stackwright.serve.engine import Engine
    from stackwright.serve.service import Service

    hf_logging.disable_progress_bar()
    attributor = None
    if release is not None:
        attributor = Attributor(release, min_overlap=min_overlap, block_verbatim=block_verbatim)
    loaded = load_model(model, device=device)
    label = name or (loaded.folder.name if loaded.folder.name != "model" else loaded.folder.parent.name)
    if label in adapters:
        fail(f"--adapter {label}: the base model is already served under that name")
    if adapters:
        from stackwright.model.lora import load_adapters

        load_adapters(loaded.model, adapters)
    engine = Engine(loaded, max_batch=max_batch, max_queue=max_queue, prefix_cache_tokens=prefix_cache,
                    adapters=tuple(adapters))
    service = Service({label: engine}, attributor=attributor, request_timeout=request_timeout,
                      adapters={a: label for a in adapters}, spm=fim_layout is FimLayout.spm)
    application = create_app(service)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s:     %(message)s")
    checked = f"  attribution: {release}" if release is not None else ""
    err.print(f"serving {label} ({engine.device}, context {engine.context}) on http://{host}:{port}/  "
              f"playground: http://{host}:{port}/playground{checked}", **PLAIN)
    _run(engine, uvicorn.Server(uvicorn.Config(application, host=host, port=port, access_log=access_log,
                                                server_header=False, log_level="info",
                                                timeout_graceful_shutdown=5)))


def _adapter_options(values: list[str]) -> dict[str, Path]:
    found: dict[str, Path] = {}
    for value in values:
        label, sep, path = value.partition("=")
        if not sep or not label.strip() or not path.strip():
            fail(f"--adapter {value!r}: expected NAME=PATH")
        if label in found:
            fail(f"--adapter {label}: given twice")
        found[label.strip()] = Path(path.strip())
    return found


def _run(engine: Any, server: Any) -> None:
    """The engine on this (the main) thread, the HTTP server on another; Ctrl-C or SIGTERM stops both."""
    import signal
    import threading

    stopping = threading.Event()

    def on_signal(_signum: int, _frame: Any) -> None:
        stopping.set()

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, on_signal)
    thread = threading.Thread(target=server.run, name="stackwright-http", daemon=True)
    engine.bind_here()  # requests are accepted from the first moment the server listens
    thread.start()
    try:
        engine.run_here(lambda: stopping.is_set() or not thread.is_alive())
    finally:
        server.should_exit = True
        thread.join(15)
