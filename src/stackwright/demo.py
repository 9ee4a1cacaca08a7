"""The end-to-end demo on an embedded default: this machine's Python installation, no network.

The standard library is one repository (``python/cpython``) and every installed distribution another
(``pypi/<name>``), each with the license its metadata declares. The demo builds a dataset from them
and ends with a release of it in ``OUT/release/v0.1.0``, remade on every run.

With a model (``stackwright demo --with-model``) it goes on: a tokenizer trained on the release, the
release packed into 512-token sequences with FIM, the ``tiny`` preset trained for a few minutes, and
a fill-in-the-middle completion of a line masked in a held-out file. The model stages resume: a rerun
keeps the tokenizer, the tokens and a finished run.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console

from stackwright.build import BuildResult, build
from stackwright.config import load_build_config
from stackwright.evaluate.infill import masked_line
from stackwright.release.manifest import DATACARD_HTML
from stackwright.release.writer import make_release, remove_release
from stackwright.sources.installed import InstalledPythonSource

DEMO_RELEASE = "v0.1.0"
DEMO_SHARD_BYTES = 16_000_000
DEMO_VOCAB = 2048
DEMO_SEQ_LEN = 512
DEMO_VALIDATION = 0.05


@dataclass(frozen=True)
class DemoResult:
    build: BuildResult
    release: Path

    @property
    def datacard(self) -> Path:
        return self.release / DATACARD_HTML

    def summary(self) -> dict[str, Any]:
        """The build's summary with where the release and its data card are."""
        return {**self.build.summary(), "release": str(self.release), "datacard": str(self.datacard)}


def run_demo(
    out_dir: Path,
    *,
    limit_mb: int = 60,
    workers: int | None = None,
    progress: bool = True,
    console: Console | None = None,
    say: Callable[[str], None] | None = None,
) -> DemoResult:
    """Build a dataset of about ``limit_mb`` MB of this installation's code into ``out_dir`` (replacing
    an earlier demo there) and release it as v0.1.0."""
    config = load_build_config(None, workers=workers, shard_size=DEMO_SHARD_BYTES)
    source = InstalledPythonSource(limit_bytes=limit_mb * 1_000_000)
    release_dir = Path(out_dir) / "release" / DEMO_RELEASE
    remove_release(release_dir)
    if say is not None:
        say(f"demo: reading the Python installation at {source.location} (about {limit_mb} MB)")
    result = build([source], out_dir, config, overwrite=True, progress=progress, console=console)
    make_release(out_dir, DEMO_RELEASE, release_dir)
    return DemoResult(result, release_dir)


@dataclass(frozen=True)
class FimExample:
    repo: str
    path: str
    prefix: str
    suffix: str
    expected: str
    completion: str

    @property
    def exact(self) -> bool:
        return self.completion.strip() == self.expected.strip()


@dataclass(frozen=True)
class ModelDemoResult:
    tokenizer: Path
    tokens: Path
    train: Any  # stackwright.model.train.TrainResult
    example: FimExample | None


def fim_example(release: Path, model_dir: Path, seed: int = 0) -> FimExample | None:
    """Mask one line of a held-out Python file (:func:`stackwright.evaluate.infill.masked_line`, the
    lines the infilling evaluation masks) and let the model fill it in."""
    import numpy as np

    from stackwright.model.corpus import ReleaseCorpus, iter_texts, repositories, validation_repositories
    from stackwright.model.generate import complete, load_model

    corpus = ReleaseCorpus.open(release)
    held = validation_repositories(repositories(corpus), DEMO_VALIDATION, 0)
    rng = np.random.default_rng(seed)
    for rows in iter_texts(corpus):
        for row in rows:
            if row["repo"] not in held or row["language"] != "Python" or len(row["content"] or "") < 800:
                continue
            parts = masked_line(row["content"], rng)
            if parts is None:
                continue
            prefix, expected, suffix = parts
            loaded = load_model(model_dir)
            result = complete(loaded, prefix, suffix, max_new_tokens=40, repetition_penalty=1.2)
            first = next((line.strip() for line in result.text.splitlines() if line.strip()), "")
            return FimExample(row["repo"], row["path"], prefix, suffix, expected, first)
    return None


def run_model_demo(out_dir: Path, release: Path, *, minutes: float = 4.0, workers: int | None = None,
                   on_step: Callable[[dict[str, Any]], None] | None = None,
                   say: Callable[[str], None] | None = None) -> ModelDemoResult:
    """Tokenizer, tokens and a ``tiny`` model trained for ``minutes`` on the demo release; then a FIM
    completion from a held-out file."""
    import os

    from stackwright.model.fim import FimConfig
    from stackwright.model.packing import MANIFEST, TokenizeConfig, tokenize_release
    from stackwright.model.runs import FINISHED
    from stackwright.model.tokenizer import TOKENIZER_FILE, train_tokenizer
    from stackwright.model.train import TrainConfig, train
    from stackwright.pipeline.executors import make_executor

    say = say or (lambda _message: None)
    out_dir = Path(out_dir)
    tok, tokens, run = out_dir / "tokenizer", out_dir / "tokens", out_dir / "run"
    _forget_other_release(out_dir, release, (tok, tokens, run), say)
    if not (tok / TOKENIZER_FILE).is_file():
        say(f"demo: training a {DEMO_VOCAB:,}-token tokenizer on the release")
        train_tokenizer(release, tok, vocab_size=DEMO_VOCAB)
    if not (tokens / MANIFEST).is_file():
        say(f"demo: packing the release into {DEMO_SEQ_LEN}-token sequences with FIM")
        runner = make_executor("local", workers or max(1, os.cpu_count() or 1))
        config = TokenizeConfig(seq_len=DEMO_SEQ_LEN, validation=DEMO_VALIDATION, fim=FimConfig())
        tokenize_release(release, tok, tokens, config, executor=runner)
    if (run / FINISHED).is_file():
        say(f"demo: {run} is trained already (remove it to train again)")
        result = _finished_result(run)
    else:
        say(f"demo: training the tiny preset for {minutes:g} minutes")
        result = train(tokens, run, TrainConfig(preset="tiny", time_limit=minutes), on_step=on_step, say=say)
    example = fim_example(release, run)
    return ModelDemoResult(tok, tokens, result, example)


def _forget_other_release(out_dir: Path, release: Path, folders: tuple[Path, ...],
                          say: Callable[[str], None]) -> None:
    """The model stages resume only on the release they were made from (by its shards' checksums):
    a demo rebuilt with other code starts them again."""
    import json
    import shutil

    from stackwright.files import write_atomic

    manifest = json.loads((release / "manifest.json").read_text(encoding="utf-8"))
    content = [s.get("sha256") for s in manifest.get("shards", [])]
    marker = out_dir / "model-demo.json"
    try:
        known = json.loads(marker.read_text(encoding="utf-8")).get("release_shards")
    except (OSError, ValueError):
        known = None
    if known != content:
        if any(f.exists() for f in folders):
            say("demo: the release changed; the tokenizer, tokens and model are made again")
        for folder in folders:
            shutil.rmtree(folder, ignore_errors=True)
        write_atomic(marker, json.dumps({"release_shards": content}).encode())


def _finished_result(run: Path) -> Any:
    import json

    from stackwright.model.runs import FINISHED, MODEL_DIR
    from stackwright.model.train import TrainResult

    data = json.loads((run / FINISHED).read_text(encoding="utf-8"))
    data["run"], data["model"] = run, run / MODEL_DIR
    return TrainResult(**data)
