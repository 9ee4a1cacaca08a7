"""``stackwright eval``: evaluations (``eval pii`` today; HumanEval, infilling and perplexity next)."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from stackwright.cli._common import choice, command_group, metavar, out, print_json

app = typer.Typer()
eval_app = command_group(app, "eval", "Evaluations.")


class IpScope(StrEnum):
    all = "all"
    redacted = "redacted"


@eval_app.command("pii")
def eval_pii_cmd(
    cases: Annotated[Path, typer.Option("--cases", help="JSONL: text, entities [{start, end, label}].")],
    as_json: Annotated[bool, typer.Option("--json", help="Print JSON.")] = False,
    ip_scope: Annotated[IpScope, typer.Option(
        parser=choice(IpScope, "ip scope"), metavar=metavar(IpScope),
        help="all: score every IP; redacted: only those the policy redacts (references with ip_scope).")
    ] = IpScope.all,
) -> None:
    """Score the detectors on labelled cases with BigCode's rule (overlap > 80% of both spans)."""
    from stackwright.curate.pii.evaluate import score_cases

    result = score_cases(cases, ip_scope=ip_scope.value)
    if as_json:
        print_json(result)
        return
    table = Table(title=f"PII detection on {cases.name}")
    for column in ("label", "precision", "recall", "F1", "true", "predicted"):
        table.add_column(column, justify="right" if column != "label" else "left")
    for label, r in result["per_label"].items():
        table.add_row(label, f"{r['precision']:.3f}", f"{r['recall']:.3f}", f"{r['f1']:.3f}",
                      str(r["reference"]), str(r["predicted"]))
    out.print(table)
