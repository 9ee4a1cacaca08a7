"""The evaluations of a model, kept beside it: ``evaluation.json`` and the model card's section.

Every evaluation command (infilling, perplexity, HumanEval) ends with :func:`record_evaluation`:
``MODEL/evaluation.json`` holds one entry per evaluation name (the latest run of it: its date, its
settings and its metrics, the numbers of the result), and the model card's part between
:data:`~stackwright.model.card.EVALUATION_START` and ``EVALUATION_END`` is rewritten as a table of
every entry. The rest of the card stays byte for byte as it was; a card without the markers gets
them appended, a folder without a card gets none. Both files are written atomically.

The table is generic: a metric is any number in the result, named by its path (``pass@1``,
``languages.Python.exact_match``), so any evaluation can be recorded without a change here.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackwright.errors import StackwrightError
from stackwright.files import write_atomic
from stackwright.model.card import CARD, EVALUATION_END, EVALUATION_START

EVALUATIONS_FILE = "evaluation.json"
FORMAT = "stackwright-evaluations"


class EvaluationRecordError(StackwrightError):
    """The evaluations of a model folder cannot be read or written."""


def flatten_metrics(result: Mapping[str, Any], prefix: str = "") -> dict[str, int | float]:
    """Every number of ``result`` (nested mappings walked, booleans and lists left out) by its dotted
    path, in the result's order."""
    out: dict[str, int | float] = {}
    for key, value in result.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            out.update(flatten_metrics(value, f"{name}."))
        elif isinstance(value, int | float) and not isinstance(value, bool):
            out[name] = value
    return out


def read_evaluations(folder: Path) -> dict[str, Any]:
    """``evaluation.json`` of a model folder (an empty record where there is none)."""
    path = Path(folder) / EVALUATIONS_FILE
    if not path.is_file():
        return {"format": FORMAT, "format_version": 1, "evaluations": {}}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise EvaluationRecordError(f"{path} is unreadable ({type(exc).__name__}); move it away to start "
                                    "the record again") from None
    if not isinstance(data, dict) or data.get("format") != FORMAT or not isinstance(data.get("evaluations"),
                                                                                     dict):
        raise EvaluationRecordError(f"{path} is not a stackwright evaluation record")
    return data


def _cell(value: Any) -> str:
    """A table cell: numbers formatted, text on one line with its pipes escaped."""
    if isinstance(value, bool):
        text = "yes" if value else "no"
    elif isinstance(value, int):
        text = f"{value:,}"
    elif isinstance(value, float):
        text = f"{value:,.1f}" if abs(value) >= 1000 else f"{value:.4f}"
    elif isinstance(value, list | tuple):
        text = ", ".join(str(v) for v in value)
    elif value is None:
        text = "n/a"
    else:
        text = str(value)
    return " ".join(text.split()).replace("|", "\\|")


def evaluation_section(evaluations: Mapping[str, Any]) -> str:
    """The card's evaluation part: one table row per metric of every evaluation, then each one's
    settings."""
    if not evaluations:
        return ""
    lines = ["### Evaluations recorded by stackwright", "", "| evaluation | metric | value | date |",
             "|---|---|---|---|"]
    for name in sorted(evaluations):
        entry = evaluations[name]
        date = str(entry.get("date", ""))[:10]
        for metric, value in (entry.get("metrics") or {}).items():
            lines.append(f"| {_cell(name)} | {_cell(metric)} | {_cell(value)} | {date} |")
    settings = [(name, evaluations[name].get("settings") or {}) for name in sorted(evaluations)]
    if any(s for _, s in settings):
        lines += ["", "Settings:", ""]
        for name, values in settings:
            if values:
                pairs = "; ".join(f"{_cell(k)} {_cell(v)}" for k, v in values.items())
                lines.append(f"- {_cell(name)}: {pairs}")
    return "\n".join(lines) + "\n"


def replace_section(card: str, section: str) -> str:
    """``card`` with the text between the evaluation markers replaced by ``section`` (the markers
    appended at the end, under a heading, where the card has none)."""
    start = card.find(EVALUATION_START)
    end = card.find(EVALUATION_END, start + len(EVALUATION_START)) if start >= 0 else -1
    body = "\n" + (section.rstrip("\n") + "\n" if section else "")
    if start < 0 or end < 0:
        tail = "" if card.endswith("\n") or not card else "\n"
        return f"{card}{tail}\n## Evaluation results\n\n{EVALUATION_START}{body}{EVALUATION_END}\n"
    return card[: start + len(EVALUATION_START)] + body + card[end:]


def record_evaluation(model_folder: Path, name: str, result: Mapping[str, Any], *,
                      settings: Mapping[str, Any] | None = None, date: str | None = None) -> dict[str, Any]:
    """Record ``result`` as the evaluation ``name`` of the model in ``model_folder`` (replacing an
    earlier one of that name) and rewrite the card's evaluation section; see the module. Returns the
    entry and where it went: ``{"entry", "evaluations", "card"}`` (``card`` None without a card).

    An unreadable record raises :class:`EvaluationRecordError`; a folder that cannot be written raises
    the ``OSError`` of the write (nothing is half-written: both files are replaced whole)."""
    folder = Path(model_folder)
    if not name or not name.strip():
        raise EvaluationRecordError("an evaluation needs a name")
    if not folder.is_dir():
        raise EvaluationRecordError(f"{folder}: no such model folder")
    record = read_evaluations(folder)
    entry = {"date": date or datetime.now(UTC).isoformat(timespec="seconds"),
             "settings": dict(settings or {}), "metrics": flatten_metrics(result)}
    record["evaluations"][name] = entry
    try:
        data = json.dumps(record, indent=2, ensure_ascii=False) + "\n"
    except (TypeError, ValueError) as exc:
        raise EvaluationRecordError(f"the settings of {name!r} are not JSON ({exc})") from None
    write_atomic(folder / EVALUATIONS_FILE, data.encode("utf-8"))
    card_path = folder / CARD
    if card_path.is_file():
        card = card_path.read_bytes().decode("utf-8", errors="surrogateescape")
        new = replace_section(card, evaluation_section(record["evaluations"]))
        write_atomic(card_path, new.encode("utf-8", errors="surrogateescape"))
    return {"entry": entry, "evaluations": str(folder / EVALUATIONS_FILE),
            "card": str(card_path) if card_path.is_file() else None}
