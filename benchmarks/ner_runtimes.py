"""NER model runtimes on CPU: torch eager (the detector), ONNX Runtime and torch dynamic int8, in one run.

The input is that of ``benchmarks/ner.py``: Python files of this machine's standard library
(``--files``, default 200). The NER model is the one given with ``--ner-model`` or, when none is, the
tiny one ``benchmarks/ner.py`` trains in a minute. Every backend runs the very same windows and padded
batches: the detector builds them (``NerModel.prepare``) once per call of 32 files (as a build's
executors call the detector), and each backend turns the same ``input_ids`` and ``attention_mask``
arrays into logits. The calls are interleaved (every call runs through every backend in turn), so a
change of load on the machine falls on all of them alike.

* torch eager: ``load_ner(folder).predict(texts)``, the detector itself, timed as it is; the same model
  on the shared batches is the reference the others are compared with (and is checked to give the
  detector's entities);
* ONNX Runtime: the model exported with ``torch.onnx.export`` to ``bench-out/ner_runtimes/model.onnx``
  (dynamic batch and sequence axes), run by an ``InferenceSession`` on ``CPUExecutionProvider``;
* torch int8: ``torch.ao.quantization.quantize_dynamic`` of the model's ``Linear`` layers.

Agreement is taken against torch eager: the share of tokens with the same argmax tag, the same share
among the tokens either tags as an entity, and the share of files whose decoded entity spans
(:func:`decode_scores`) are the same. Torch and ONNX Runtime use the same number of threads
(``--threads``, default 2).

    .venv/bin/pip install onnxruntime onnx
    .venv/bin/python benchmarks/ner_runtimes.py --files 200
    .venv/bin/python benchmarks/ner_runtimes.py --ner-model runs/ner --files 100

Prints a table and writes ``bench-out/ner_runtimes.json``.
"""

from __future__ import annotations

import argparse
import copy
import importlib.util
import json
import os
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

    from stackwright.curate.pii.entities import Entity
    from stackwright.curate.pii.ner import Batch, NerModel, Prepared

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench-out" / "ner_runtimes"
CALL = 32  # files per predict call, as in benchmarks/ner.py
OPSET = 17

Forward = Callable[["np.ndarray", "np.ndarray"], "np.ndarray"]  # (input_ids, attention_mask) -> logits


def bench_ner() -> ModuleType:
    """``benchmarks/ner.py``, for its input (``corpus``) and its tiny model (``quick_model``)."""
    spec = importlib.util.spec_from_file_location("bench_ner", Path(__file__).with_name("ner.py"))
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def require_onnxruntime() -> ModuleType:
    try:
        import onnx  # noqa: F401  (torch.onnx.export writes through it)
        import onnxruntime
    except ImportError as exc:
        sys.exit(f"{exc.name} is not installed: .venv/bin/pip install onnxruntime onnx "
                 "(or pip install -e '.[bench]')")
    return onnxruntime


# --- the detector's windows and batches, built once per call -------------------------------------


def finish(ner: NerModel, prep: Prepared, logits: Sequence[np.ndarray]) -> tuple[list[np.ndarray],
                                                                                list[list[Entity]]]:
    """Each text's token tags (argmax, from the window that owns each token) and its entities, decoded
    by the detector from the tag probabilities."""
    import numpy as np

    probs = []
    for out in logits:
        shifted = np.exp(out - out.max(-1, keepdims=True))
        probs.append(shifted / shifted.sum(-1, keepdims=True))
    scores = ner.token_scores(prep, probs)
    return [s.argmax(-1) for s in scores], ner.decode(prep, scores)


# --- the backends --------------------------------------------------------------------------------


def torch_forward(model: Any) -> Forward:
    import torch

    def forward(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        with torch.inference_mode():
            ids, mask = torch.from_numpy(input_ids), torch.from_numpy(attention_mask)
            return model(input_ids=ids, attention_mask=mask).logits.numpy()

    return forward


def export_onnx(ner: NerModel, example: Batch, path: Path) -> dict[str, Any]:
    """``ner``'s model as ONNX at ``path``: the TorchScript exporter (``dynamo=False``) first, the
    dynamo one if that fails. Says which one wrote it, and why the first one did not."""
    import torch

    class Logits(torch.nn.Module):  # the model's ModelOutput, cut to its one tensor
        def __init__(self, model: torch.nn.Module) -> None:
            super().__init__()
            self.model = model

        def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
            return self.model(input_ids=input_ids, attention_mask=attention_mask).logits

    path.parent.mkdir(parents=True, exist_ok=True)
    path.unlink(missing_ok=True)
    wrapped = Logits(ner.model).eval()
    args = (torch.from_numpy(example.input_ids), torch.from_numpy(example.attention_mask))
    names = {"input_ids": {0: "batch", 1: "sequence"}, "attention_mask": {0: "batch", 1: "sequence"}}
    problems: list[str] = []
    started = time.perf_counter()
    for dynamo in (False, True):
        try:
            with warnings.catch_warnings(), torch.no_grad():
                warnings.simplefilter("ignore")
                if dynamo:
                    dim = torch.export.Dim
                    shapes = {k: {0: dim("batch"), 1: dim("sequence", max=ner.width + 2)} for k in names}
                    torch.onnx.export(wrapped, args, str(path), dynamo=True, input_names=list(names),
                                      output_names=["logits"], dynamic_shapes=shapes, opset_version=18,
                                      external_data=False)
                else:
                    torch.onnx.export(wrapped, args, str(path), dynamo=False, input_names=list(names),
                                      output_names=["logits"],
                                      dynamic_axes={**names, "logits": {0: "batch", 1: "sequence"}},
                                      opset_version=OPSET, do_constant_folding=True)
        except Exception as exc:  # reported, then the other exporter is tried
            problems.append(f"dynamo={dynamo}: {type(exc).__name__}: {str(exc).splitlines()[0][:300]}")
            continue
        import onnx

        onnx.checker.check_model(str(path))
        return {"exporter": "dynamo" if dynamo else "torchscript", "dynamo": dynamo,
                "opset": 18 if dynamo else OPSET, "path": str(path.relative_to(ROOT)),
                "mb": round(path.stat().st_size / 1e6, 2), "seconds": round(time.perf_counter() - started, 2),
                "problems": problems}
    sys.exit("torch.onnx.export failed: " + " | ".join(problems))


def onnx_forward(ort: ModuleType, path: Path, threads: int) -> tuple[Forward, dict[str, Any]]:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])

    def forward(input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        return session.run(["logits"], {"input_ids": input_ids, "attention_mask": attention_mask})[0]

    info = {"version": ort.__version__, "providers": session.get_providers(),
            "intra_op_num_threads": options.intra_op_num_threads,
            "inter_op_num_threads": options.inter_op_num_threads}
    return forward, info


def int8_model(ner: NerModel) -> Any:
    import torch

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization is deprecated in favour of torchao
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(ner.model), {torch.nn.Linear},
                                                      dtype=torch.qint8).eval()


# --- the run -------------------------------------------------------------------------------------


@dataclass
class Tally:
    name: str
    seconds: float = 0.0  # the whole call: tokenize, batches, model, decode
    model_seconds: float = 0.0  # the forward passes alone
    tags: list[np.ndarray] = field(default_factory=list)
    entities: list[list[Entity]] = field(default_factory=list)
    first_logits: list[np.ndarray] = field(default_factory=list)  # of the first call, for their gap


def run_backend(ner: NerModel, texts: Sequence[str], forward: Forward, tally: Tally) -> None:
    started = time.perf_counter()
    prep = ner.prepare(texts)
    best = []
    for batch in prep.batches:
        t = time.perf_counter()
        logits = forward(batch.input_ids, batch.attention_mask)
        tally.model_seconds += time.perf_counter() - t
        if not tally.tags:
            tally.first_logits.append(logits)
        best.append(logits)
    tags, entities = finish(ner, prep, best)
    tally.seconds += time.perf_counter() - started
    tally.tags += tags
    tally.entities += entities


def agreement(tally: Tally, ref: Tally) -> dict[str, Any]:
    import numpy as np

    same = sum(int((a == b).sum()) for a, b in zip(tally.tags, ref.tags, strict=True))
    total = sum(len(a) for a in ref.tags)
    tagged = [(a != 0) | (b != 0) for a, b in zip(tally.tags, ref.tags, strict=True)]
    tagged_total = sum(int(t.sum()) for t in tagged)
    tagged_same = sum(int((a[t] == b[t]).sum()) for a, b, t in zip(tally.tags, ref.tags, tagged, strict=True))
    files_same = sum(a == b for a, b in zip(tally.entities, ref.entities, strict=True))
    gap = max(float(np.abs(a - b).max()) for a, b in zip(tally.first_logits, ref.first_logits, strict=True))
    return {"tokens": total, "tokens_same": round(same / total, 6) if total else 1.0,
            "entity_tokens": tagged_total,
            "entity_tokens_same": round(tagged_same / tagged_total, 6) if tagged_total else 1.0,
            "files_same_spans": round(files_same / len(ref.entities), 6),
            "entities": sum(map(len, tally.entities)), "max_logit_gap_first_call": gap}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ner-model", type=Path, default=None,
                        help="a NER model folder (default: a tiny one trained here by benchmarks/ner.py)")
    parser.add_argument("--files", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--threads", type=int, default=2, help="torch and ONNX Runtime intra-op threads")
    args = parser.parse_args()
    ort = require_onnxruntime()
    load = os.getloadavg()[0]
    import torch

    from stackwright.curate.pii.ner import NerModelError, load_ner

    torch.set_num_threads(args.threads)
    ner_bench = bench_ner()
    WORK.mkdir(parents=True, exist_ok=True)
    repos, files = ner_bench.corpus(args.files)
    if not files:
        sys.exit("no standard-library files found for the input")
    folder = args.ner_model or ner_bench.quick_model(repos)
    try:
        ner = load_ner(folder, batch_size=args.batch_size)
    except (NerModelError, OSError) as exc:
        sys.exit(f"cannot load the NER model: {exc}")
    if ner.device.type != "cpu":
        ner.model.to("cpu")
        ner.device = torch.device("cpu")
    texts = [p.read_text(encoding="utf-8", errors="replace") for p in files]
    mb = sum(len(t.encode("utf-8", "surrogatepass")) for t in texts) / 1e6

    first = ner.prepare(texts[:CALL])
    padded = [b for b in first.batches if (b.attention_mask == 0).any()] or first.batches
    export = export_onnx(ner, padded[-1], WORK / "model.onnx")
    onnx_run, ort_info = onnx_forward(ort, WORK / "model.onnx", args.threads)
    backends: dict[str, Forward] = {"torch eager": torch_forward(ner.model), "onnxruntime": onnx_run,
                                    "torch int8": torch_forward(int8_model(ner))}
    tallies = {name: Tally(name) for name in backends}
    detector = Tally("torch eager (detector predict)")
    for forward in backends.values():  # warm up
        run_backend(ner, texts[:2], forward, Tally("warm-up"))
    ner.predict(texts[:2])

    windows = batches = 0
    for k, i in enumerate(range(0, len(texts), CALL)):
        chunk = texts[i : i + CALL]
        prep = ner.prepare(chunk)
        windows += sum(len(b.windows) for b in prep.batches)
        batches += len(prep.batches)
        order = list(backends)[k % len(backends):] + list(backends)[: k % len(backends)]
        for name in order:
            run_backend(ner, chunk, backends[name], tallies[name])
        started = time.perf_counter()
        detector.entities += ner.predict(chunk)
        detector.seconds += time.perf_counter() - started

    ref = tallies["torch eager"]
    base = detector.seconds
    rows: dict[str, dict[str, Any]] = {}
    for tally in (detector, *tallies.values()):
        s = tally.seconds
        row = {"seconds": round(s, 3), "files_per_second": round(len(texts) / s, 2),
               "mb_per_second": round(mb / s, 4), "speed_vs_eager": round(base / s, 3)}
        if tally is not detector:
            row["model_seconds"] = round(tally.model_seconds, 3)
            row["agreement"] = agreement(tally, ref)
        rows[tally.name] = row
    reproduces = detector.entities == ref.entities
    result = {"input": {"files": len(texts), "mb": round(mb, 3), "windows": windows, "batches": batches,
                        "window_tokens": ner.width, "batch_size": ner.batch_size, "files_per_call": CALL},
              "model": str(folder), "load_average_before": round(load, 2), "cpus": os.cpu_count(),
              "threads": {"torch": torch.get_num_threads(), "onnxruntime": ort_info},
              "torch": torch.__version__, "quantized_engine": torch.backends.quantized.engine,
              "export": export, "shared_batches_reproduce_detector": reproduces, "backends": rows}

    print(f"input: {len(texts)} files, {mb:.2f} MB of standard-library Python; {windows} windows of <= "
          f"{ner.width} tokens in {batches} batches of <= {ner.batch_size} ({CALL} files a call)")
    print(f"threads: torch {torch.get_num_threads()}, onnxruntime intra-op {ort_info['intra_op_num_threads']}"
          f" (inter-op {ort_info['inter_op_num_threads']}, {ort_info['providers'][0]}, "
          f"onnxruntime {ort.__version__}); load average before the run {load:.2f} on {os.cpu_count()} CPUs")
    print(f"export: torch.onnx.export {export['exporter']} (dynamo={export['dynamo']}, "
          f"opset {export['opset']}) -> {export['path']} ({export['mb']:.1f} MB, {export['seconds']:.1f} s)")
    for problem in export["problems"]:
        print(f"  first try failed: {problem}")
    print(f"torch eager on the shared batches gives the detector's entities: {'yes' if reproduces else 'NO'}")
    head = (f"{'backend':<32}{'files/s':>9}{'MB/s':>9}{'vs eager':>10}{'model s':>9}{'tokens =':>10}"
            f"{'entity tok =':>14}{'files =':>9}{'max |dlogit|':>14}")
    print(head)
    for name, row in rows.items():
        line = (f"{name:<32}{row['files_per_second']:>9.1f}{row['mb_per_second']:>9.3f}"
                f"{row['speed_vs_eager']:>9.2f}x")
        if "agreement" in row:
            a = row["agreement"]
            line += (f"{row['model_seconds']:>9.2f}{a['tokens_same']:>10.4f}{a['entity_tokens_same']:>14.4f}"
                     f"{a['files_same_spans']:>9.3f}{a['max_logit_gap_first_call']:>14.2e}")
        print(line)
    ent = rows["torch eager"]["agreement"]
    print(f"(agreement against torch eager: {ent['tokens']} tokens, {ent['entity_tokens']} tagged as "
          f"entities, {ent['entities']} entity spans)")
    (ROOT / "bench-out").mkdir(exist_ok=True)
    (ROOT / "bench-out" / "ner_runtimes.json").write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
