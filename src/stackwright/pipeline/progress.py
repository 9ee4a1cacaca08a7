"""A Rich progress bar for builds: files, MB, rates and ETA."""

from __future__ import annotations

import time

from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text


class _Throughput(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = task.elapsed or 0.0
        files = task.fields.get("files", 0)
        planned = task.fields.get("planned_files", 0)
        mb = task.completed / 1e6
        total_mb = (task.total or 0) / 1e6
        files_part = f"{files:,}/{planned:,} files" if planned else f"{files:,} files"
        if elapsed > 0:
            rate = f"{files / elapsed:,.0f} files/s {mb / elapsed:,.1f} MB/s"
        else:
            rate = "-"
        return Text(f"{files_part}  {mb:,.1f}/{total_mb:,.1f} MB  {rate}", style="progress.data.speed")


class BuildProgress:
    """Tracks bytes and files per task, so a finished task always completes its planned share."""

    def __init__(self, total_bytes: int, planned_files: int, enabled: bool = True,
                 console: Console | None = None, description: str = "build") -> None:
        self.enabled = enabled
        self._per_task: dict[int, tuple[int, int]] = {}
        self._files = 0
        self._bytes = 0
        self._progress = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            TextColumn("{task.percentage:>3.0f}%"),
            _Throughput(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            console=console or Console(stderr=True),
            disable=not enabled,
            transient=False,
        )
        self._task = self._progress.add_task(description, total=max(total_bytes, 1), files=0,
                                             planned_files=planned_files, start=False)
        self.started = 0.0

    def __enter__(self) -> BuildProgress:
        self._progress.start()
        self._progress.start_task(self._task)
        self.started = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self._progress.stop()

    def skip_finished(self, files: int, nbytes: int) -> None:
        """Count work done by an earlier, interrupted run."""
        self._advance(files, nbytes)

    def on_progress(self, index: int, files: int, nbytes: int) -> None:
        f, b = self._per_task.get(index, (0, 0))
        self._per_task[index] = (f + files, b + nbytes)
        self._advance(files, nbytes)

    def on_task_done(self, index: int, files: int, weight: int) -> None:
        f, b = self._per_task.pop(index, (0, 0))
        self._advance(max(files - f, 0), max(weight - b, 0))

    def _advance(self, files: int, nbytes: int) -> None:
        self._files += files
        self._bytes += nbytes
        self._progress.update(self._task, completed=self._bytes, files=self._files)
