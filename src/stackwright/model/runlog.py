"""What a training run records as it goes: ``log.csv``, TensorBoard events and ``loss.png``.

On resume the CSV keeps its rows up to the checkpoint's step and TensorBoard purges later events, so
a resumed run's logs read as if it had never stopped.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from stackwright.files import write_atomic

LOG_CSV = "log.csv"
LOSS_PNG = "loss.png"
TENSORBOARD = "tensorboard"
COLUMNS = ("step", "samples", "tokens", "learning_rate", "train_loss", "val_loss", "grad_norm",
           "tokens_per_second", "elapsed_seconds")


def read_log(run: Path) -> list[dict[str, Any]]:
    path = Path(run) / LOG_CSV
    if not path.is_file():
        return []
    rows = []
    with path.open(newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            rows.append({k: (None if v in ("", None) else float(v) if k not in ("step", "samples", "tokens")
                             else int(v)) for k, v in row.items()})
    return rows


class RunLog:
    """The main process's writer of the CSV, the events and the plot."""

    def __init__(self, run: Path, resume_step: int, *, tensorboard: bool = True) -> None:
        self.run = Path(run)
        self.rows = [r for r in read_log(self.run) if r["step"] <= resume_step]
        self._write_csv()
        self._handle = (self.run / LOG_CSV).open("a", newline="", encoding="utf-8")
        self._csv = csv.DictWriter(self._handle, fieldnames=COLUMNS)
        self._tb = None
        if tensorboard:
            try:
                from torch.utils.tensorboard import SummaryWriter
            except ImportError:  # the tensorboard package is missing: the CSV and the plot remain
                pass
            else:
                self._tb = SummaryWriter(str(self.run / TENSORBOARD), purge_step=resume_step + 1)

    def _write_csv(self) -> None:
        text = io.StringIO()
        writer = csv.DictWriter(text, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(self.rows)
        write_atomic(self.run / LOG_CSV, text.getvalue().encode())

    def add(self, row: dict[str, Any]) -> None:
        row = {k: row.get(k) for k in COLUMNS}
        self.rows.append(row)
        self._csv.writerow(row)
        self._handle.flush()
        if self._tb is not None:
            for key in ("train_loss", "val_loss", "learning_rate", "grad_norm", "tokens_per_second"):
                if row[key] is not None:
                    self._tb.add_scalar(f"train/{key}" if key != "val_loss" else "validation/loss",
                                        row[key], row["step"])

    def plot(self, unigram_entropy: float | None = None) -> None:
        write_loss_plot(self.run / LOSS_PNG, self.rows, unigram_entropy)

    def close(self) -> None:
        self._handle.close()
        if self._tb is not None:
            self._tb.close()


def write_loss_plot(path: Path, rows: Iterable[dict[str, Any]], unigram_entropy: float | None) -> None:
    """Training and validation loss against tokens seen, as a PNG (matplotlib, no display)."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        return
    rows = list(rows)
    figure = Figure(figsize=(7, 4), dpi=110)
    axes = figure.add_subplot()
    train = [(r["tokens"], r["train_loss"]) for r in rows if r["train_loss"] is not None]
    val = [(r["tokens"], r["val_loss"]) for r in rows if r["val_loss"] is not None]
    if train:
        axes.plot(*zip(*train, strict=True), label="train", linewidth=1)
    if val:
        axes.plot(*zip(*val, strict=True), label="validation", marker="o", markersize=3)
    if unigram_entropy is not None:
        axes.axhline(unigram_entropy, color="grey", linestyle="--", linewidth=1, label="unigram entropy")
    axes.set_xlabel("tokens seen")
    axes.set_ylabel("loss (nats per token)")
    axes.grid(alpha=0.3)
    axes.legend()
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    write_atomic(path, buffer.getvalue())
