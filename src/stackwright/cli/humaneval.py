"""``stackwright eval humaneval``: pass@k of a model's (or a samples file's) completions, run in the
sandbox."""

from __future__ import annotations

import os
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from stackwright.cli._common import (
    TRAINING_MODULES,
    JsonFlag,
    ProgressFlag,
    choice,
    comma_list,
    err,
    fail,
    key_value_table,
    metavar,
    need_extra,
    out,
    print_json,
    progress_bar,
)
from stackwright.cli.evaluate import eval_app


class IsolationMode(StrEnum):
    auto = "auto"
    bubblewrap = "bubblewrap"
    process = "process"


def _ks(value: str) -> list[int]:
    try:
        ks = sorted({int(k) for k in comma_list(value)})
    except ValueError:
        raise typer.BadParameter(f"--k takes whole numbers separated by commas, not {value!r}") from None
    if not ks or ks[0] < 1:
        raise typer.BadParameter("--k values are 1 or more")
    return ks


def _default_out(model: Path | None, samples: Path | None) -> Path:
    if samples is not None:
        return samples.with_name(samples.stem + ".results.jsonl")
    assert model is not None
    from stackwright.model.runs import model_folder

    folder = model_folder(model)
    base = folder.parent if (folder.parent / "run.json").exists() else folder
    return base / "eval" / "humaneval.results.jsonl"


def _generate(model: Path, problems: list[Any], n: int, temperature: float, top_p: float, max_new_tokens: int,
              batch_size: int, seed: int, progress: bool) -> tuple[list[dict[str, Any]], Path]:
    need_extra(TRAINING_MODULES, "generating completions")
    from stackwright.evaluate.humaneval import STOP
    from stackwright.model.generate import load_model, sample

    loaded = load_model(model)
    prompts = [p.prompt for p in problems]
    with progress_bar("generating", progress, "samples") as update:
        done = 0

        def step(rows: int) -> None:
            nonlocal done
            done += rows
            update(done, len(prompts) * n)

        completions = sample(loaded, prompts, n=n, max_new_tokens=max_new_tokens, temperature=temperature,
                             top_p=top_p, stop=STOP, seed=seed, batch_size=batch_size, on_batch=step)
    rows = [{"task_id": p.task_id, "completion": c.text} for p, cs in zip(problems, completions, strict=True)
            for c in cs]
    return rows, loaded.folder


@eval_app.command("humaneval")
def eval_humaneval_cmd(
    model: Annotated[Path | None, typer.Argument(help="Model or run folder (omit with --samples).")] = None,
    samples: Annotated[Path | None, typer.Option(
        help="Score these completions (JSONL: task_id, completion) instead of generating.")] = None,
    n: Annotated[int, typer.Option("--n", min=1, help="Samples per problem.")] = 20,
    k: Annotated[str, typer.Option("--k", help="pass@k for these k (comma separated).")] = "1,10",
    temperature: Annotated[float, typer.Option(min=0.0, help="Sampling temperature (0: greedy).")] = 0.2,
    top_p: Annotated[float, typer.Option(min=0.0, max=1.0, help="Nucleus sampling.")] = 0.95,
    max_new_tokens: Annotated[int, typer.Option(min=1, help="Tokens per completion at most.")] = 512,
    batch_size: Annotated[int, typer.Option(min=1, help="Sequences generated at once.")] = 20,
    seed: Annotated[int, typer.Option(help="Sampling seed.")] = 0,
    limit: Annotated[int | None, typer.Option(min=1, help="Only the first N problems (a quick check).")
                     ] = None,
    workers: Annotated[int | None, typer.Option(min=1, help="Programs run at once [default: CPU count].")
                       ] = None,
    timeout: Annotated[float | None, typer.Option(
        min=0.1, help="One time limit in seconds for every program, instead of calibrated limits.")] = None,
    time_factor: Annotated[float, typer.Option(
        min=1.0, help="A sample may take this many times its reference solution's time here.")] = 10.0,
    time_floor: Annotated[float, typer.Option(min=0.1, help="... and never less than this (seconds).")] = 3.0,
    isolation: Annotated[IsolationMode, typer.Option(
        parser=choice(IsolationMode, "isolation"), metavar=metavar(IsolationMode),
        help="auto: bubblewrap where it works, else a plain process (reported); bubblewrap: or fail.")
    ] = IsolationMode.auto,
    out_path: Annotated[Path | None, typer.Option(
        "--out", help="Per-problem results (JSONL) [default: beside the samples, or RUN/eval/].")] = None,
    card: Annotated[bool, typer.Option(help="Write the scores into the model's card.")] = True,
    as_json: JsonFlag = False,
    progress: ProgressFlag = True,
) -> None:
    """HumanEval pass@k: complete the 164 problems (or score --samples), run every program against the
    problem's tests in the sandbox, estimate pass@k without bias."""
    from stackwright.evaluate.humaneval import (
        TimeLimits,
        calibrate,
        read_samples,
        score,
        select_problems,
        write_results,
        write_samples,
    )
    from stackwright.evaluate.sandbox import Sandbox

    if (model is None) == (samples is None):
        fail("give a MODEL to generate completions or --samples FILE to score, not both")
    ks = _ks(k)
    problems = select_problems(limit)
    model_dir = None
    if samples is not None:
        rows = read_samples(samples, select_problems())
        chosen = {p.task_id for p in problems}
        rows = [r for r in rows if r["task_id"] in chosen]
        if not rows:
            fail(f"{samples} has no samples for the problems asked (--limit {limit})")
        problems = [p for p in problems if any(r["task_id"] == p.task_id for r in rows)]
    else:
        assert model is not None
        rows, model_dir = _generate(model, problems, n, temperature, top_p, max_new_tokens, batch_size, seed,
                                    progress and not as_json)
    target = out_path or _default_out(model, samples)
    times = TimeLimits(time_factor, time_floor, timeout)
    with Sandbox(workers=workers or os.cpu_count() or 1, mode=isolation.value) as box:
        if box.isolation.mechanism != "bubblewrap":
            err.print(f"warning: programs run without namespaces ({box.isolation.note}): the network and "
                      "files of this machine are reachable from them", markup=False)
        show = progress and not as_json
        with progress_bar("timing reference solutions", show and timeout is None, "programs") as update:
            limits, broken = calibrate(box, problems, times, lambda i, _o: update(i + 1, len(problems)))
        with progress_bar("running samples", show, "programs") as update:
            done = 0

            def ran(_index: int, _outcome: object) -> None:
                nonlocal done
                done += 1
                update(done, len(rows))

            summary, results = score(rows, problems, box, limits, ks, ran)
    summary.update({
        "time_limits": ({"fixed": timeout} if timeout is not None
                        else {"factor": time_factor, "floor": time_floor}),
        "reference_failures": broken,
        "results": str(target),
    })
    if samples is None:
        samples_path = target.with_name("humaneval.samples.jsonl")
        write_samples(samples_path, rows)
        summary.update({"samples_file": str(samples_path), "generation": {
            "n": n, "temperature": temperature, "top_p": top_p, "max_new_tokens": max_new_tokens,
            "seed": seed}})
    write_results(target, results)
    if card and model_dir is not None:
        _record(model_dir, summary, ks)
    if as_json:
        print_json(summary)
        return
    lines = [(f"pass@{kk}", f"{summary[f'pass@{kk}']:.4f}") for kk in ks if f"pass@{kk}" in summary]
    lines += [("problems", str(summary["problems"])), ("samples", str(summary["samples"]))]
    lines += [(status, str(count)) for status, count in summary["outcomes"].items()]
    lines += [("isolation", box.isolation.mechanism), ("results", str(target))]
    out.print(key_value_table("HumanEval", lines))


def _record(model_dir: Path, summary: dict[str, Any], ks: list[int]) -> None:
    from stackwright.evaluate.report import record_evaluation

    metrics = {key: summary[key] for key in (f"pass@{kk}" for kk in ks) if key in summary}
    try:
        record_evaluation(model_dir, "humaneval", {**metrics, "problems": summary["problems"],
                                                   "samples": summary["samples"],
                                                   "outcomes": summary["outcomes"],
                                                   "generation": summary.get("generation", {})})
    except OSError as exc:
        err.print(f"warning: the model card was not updated: {exc.strerror or exc}", markup=False)
