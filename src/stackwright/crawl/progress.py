"""A Rich progress bar for crawls: repositories done and failed out of those listed, bytes fetched."""

from __future__ import annotations

from rich.console import Console
from rich.progress import BarColumn, Progress, TaskProgressColumn, TextColumn, TimeElapsedColumn

from stackwright.crawl.run import Progress as CrawlProgress


class CrawlProgressBar(CrawlProgress):
    def __init__(self, console: Console | None = None) -> None:
        self._progress = Progress(
            TextColumn("[bold]crawl"),
            BarColumn(),
            TaskProgressColumn(),
            TextColumn("{task.completed:,.0f}/{task.total:,.0f} repos  {task.fields[failed]:,} failed  "
                       "{task.fields[mb]:,.1f} MB"),
            TimeElapsedColumn(),
            console=console or Console(stderr=True),
            transient=False,
        )
        self._task = self._progress.add_task("crawl", total=1, failed=0, mb=0.0, start=False)
        self._skipped = 0

    def start(self, total: int, skipped: int) -> None:
        self._skipped = skipped
        self._progress.update(self._task, total=max(total, 1), completed=skipped)
        self._progress.start_task(self._task)
        self._progress.start()

    def update(self, done: int, failed: int, nbytes: int) -> None:
        self._progress.update(self._task, completed=self._skipped + done + failed, failed=failed,
                              mb=nbytes / 1e6)

    def stop(self) -> None:
        self._progress.stop()
