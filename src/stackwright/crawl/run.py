"""The crawl: fetch every listed repository not done yet, a few at a time, and report.

Each worker thread runs one git process at a time. Transient failures (a timeout, a dropped or refused
connection, a server error) are retried with exponential backoff and jitter; permanent ones (not
found, too large) are not. Every finished repository is appended to the state before the next is
counted, so an interrupted crawl (Ctrl-C, SIGTERM, SIGKILL) resumes where it stopped.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stackwright.crawl.fetch import (
    GIT_ERROR,
    INVALID,
    REASONS,
    STOPPED,
    TRANSIENT,
    FetchResult,
    Limits,
    fetch_repository,
)
from stackwright.crawl.listing import CrawlEntry, ListError, Listing, read_listing
from stackwright.crawl.state import (
    DONE,
    FAILED,
    REPORT_FILE,
    WORK_DIR,
    CrawlState,
    StateError,
    now,
    repo_path,
)
from stackwright.errors import StackwrightError
from stackwright.files import write_atomic

DEFAULT_HOST = "https://github.com/{owner}/{name}.git"
EXAMPLES = 5  # names shown per failure reason


class CrawlError(StackwrightError):
    """A crawl that cannot start (bad settings, unreadable list, busy folder); shown as one line."""


@dataclass(frozen=True)
class CrawlSettings:
    host: str = DEFAULT_HOST
    concurrency: int = 8
    max_size_mb: float = 1000.0
    timeout: float = 600.0  # seconds per attempt
    retries: int = 3  # further attempts after a transient failure
    backoff: float = 1.0  # seconds before the first retry; doubled each time, with jitter
    max_backoff: float = 60.0

    def check(self) -> None:
        if self.concurrency < 1:
            raise CrawlError("--concurrency must be at least 1")
        if self.max_size_mb <= 0 or self.timeout <= 0:
            raise CrawlError("--max-size and --timeout must be positive")
        if self.retries < 0 or self.backoff < 0:
            raise CrawlError("--retries and --backoff cannot be negative")
        check_host_template(self.host)

    @property
    def limits(self) -> Limits:
        return Limits(self.timeout, int(self.max_size_mb * 1_000_000))


def check_host_template(template: str) -> None:
    """A template must name {owner} and {name}, use a network transport and hold no credentials."""
    try:
        sample = template.format(owner="owner", name="name")
    except (KeyError, IndexError, ValueError):
        raise CrawlError("--host may only use {owner} and {name}") from None
    if "{owner}" not in template or "{name}" not in template:
        raise CrawlError("--host must contain {owner} and {name}")
    parts = urlsplit(sample)
    if parts.scheme not in ("https", "http", "git", "ssh") or not parts.hostname:
        raise CrawlError("--host must be an https://, http://, git:// or ssh:// URL template")
    if parts.password is not None or (parts.username and parts.scheme != "ssh"):
        raise CrawlError("--host may not hold credentials")


def url_for(entry: CrawlEntry, host: str) -> str:
    return entry.url or host.format(owner=entry.owner, name=entry.name)


@dataclass
class Outcome:
    """A repository's final result in this run (after retries)."""

    entry: CrawlEntry
    result: FetchResult
    attempts: int


@dataclass
class CrawlReport:
    listed: int = 0
    fetched: int = 0
    skipped: int = 0  # already done
    failed: dict[str, list[str]] = field(default_factory=dict)  # reason -> names (or lines)
    bytes: int = 0  # fetched in this run
    total_bytes: int = 0  # every done repository
    done: int = 0  # done repositories in the folder
    retries: int = 0  # attempts after the first, over all repositories
    duplicates: int = 0
    cleaned: int = 0  # half-fetched copies a killed run left
    interrupted: bool = False
    seconds: float = 0.0

    @property
    def failed_count(self) -> int:
        return sum(len(v) for v in self.failed.values())

    @property
    def ok(self) -> bool:
        return self.failed_count == 0 and not self.interrupted

    def to_json(self) -> dict[str, Any]:
        return {
            "listed": self.listed,
            "fetched": self.fetched,
            "skipped": self.skipped,
            "failed": self.failed_count,
            "failed_by_reason": {
                reason: {"count": len(names), "examples": sorted(names)[:EXAMPLES]}
                for reason, names in sorted(self.failed.items())
            },
            "bytes": self.bytes,
            "total_bytes": self.total_bytes,
            "done": self.done,
            "retries": self.retries,
            "duplicates": self.duplicates,
            "cleaned": self.cleaned,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
        }


class Progress:
    """What a crawl tells its progress display; the default shows nothing."""

    def start(self, total: int, skipped: int) -> None: ...

    def update(self, done: int, failed: int, nbytes: int) -> None: ...

    def stop(self) -> None: ...


def backoff_delay(attempt: int, settings: CrawlSettings, rng: random.Random) -> float:
    """Seconds before attempt ``attempt + 1``: doubled each time up to ``max_backoff``, then a random
    point between half and all of it, so that workers that failed together do not retry together."""
    base = min(settings.max_backoff, settings.backoff * 2 ** (attempt - 1))
    return base * (0.5 + rng.random() / 2)


def fetch_with_retries(entry: CrawlEntry, root: Path, settings: CrawlSettings, state: CrawlState,
                       stop: threading.Event) -> Outcome | None:
    """Fetch one repository, retrying transient failures, and record the outcome (None: interrupted)."""
    url = url_for(entry, settings.host)
    final = root / repo_path(entry.owner, entry.name)
    started = now()
    rng = random.Random()
    attempt = 0
    while True:
        attempt += 1
        result = fetch_repository(entry, url, final, root / WORK_DIR, settings.limits, stop)
        if result.reason == STOPPED:
            return None
        if result.ok or result.reason not in TRANSIENT or attempt > settings.retries:
            break
        if stop.wait(backoff_delay(attempt, settings, rng)):
            return None
    meta = entry.metadata()
    if result.ok and meta["default_branch"] is None and entry.ref is None:
        meta["default_branch"] = result.branch
    state.record({
        "repo": entry.repo,
        "status": DONE if result.ok else FAILED,
        "reason": result.reason,
        "detail": result.detail,
        "commit": result.commit,
        "branch": result.branch,
        "bytes": result.bytes,
        "attempts": attempt,
        "started": started,
        "finished": now(),
        "url": url,
        "path": repo_path(entry.owner, entry.name) if result.ok else None,
        **meta,
    })
    return Outcome(entry, result, attempt)


def crawl(list_path: Path, out: Path, settings: CrawlSettings, progress: Progress | None = None,
          on_outcome: Callable[[Outcome], None] | None = None) -> CrawlReport:
    """Fetch the listed repositories into ``out``; the report is also written to ``out/crawl-report.json``.

    Ctrl-C or SIGTERM stops the running fetches and returns the report of what finished (marked
    ``interrupted``): the state keeps every finished repository.
    """
    settings.check()
    try:
        listing: Listing = read_listing(list_path)
    except ListError as exc:
        raise CrawlError(str(exc)) from None
    if out.exists() and not out.is_dir():
        raise CrawlError(f"{out} exists and is not a folder")
    started = time.monotonic()
    try:
        state = CrawlState(out)
    except StateError as exc:
        raise CrawlError(str(exc)) from None
    progress = progress or Progress()
    report = CrawlReport(listed=len(listing.entries), duplicates=listing.duplicates)
    for bad in listing.bad:
        report.failed.setdefault(INVALID, []).append(f"line {bad.line}: {bad.reason}")
    with state:
        report.cleaned = state.clean_work_dir()
        todo = [e for e in listing.entries if not state.is_done(e.key)]
        report.skipped = len(listing.entries) - len(todo)
        stop = threading.Event()
        restore = _stop_on_sigterm()
        progress.start(len(listing.entries), report.skipped)
        try:
            _run_pool(todo, out, settings, state, stop, report, progress, on_outcome)
        except KeyboardInterrupt:
            report.interrupted = True
        finally:
            restore()
            progress.stop()
        report.done = sum(1 for key in state.latest if state.is_done(key))
        report.total_bytes = sum(int(r.get("bytes") or 0) for key, r in state.latest.items()
                                 if state.is_done(key))
        state.write_repositories()
        report.seconds = time.monotonic() - started
        write_atomic(out / REPORT_FILE, (json.dumps(report.to_json(), indent=2) + "\n").encode())
    return report


def _run_pool(todo: list[CrawlEntry], out: Path, settings: CrawlSettings, state: CrawlState,
              stop: threading.Event, report: CrawlReport, progress: Progress,
              on_outcome: Callable[[Outcome], None] | None) -> None:
    def account(future: Future[Outcome | None]) -> None:
        if future.cancelled() or future.exception() is not None:
            return
        outcome = future.result()
        if outcome is None:  # interrupted: nothing was recorded
            return
        report.retries += outcome.attempts - 1
        if outcome.result.ok:
            report.fetched += 1
            report.bytes += outcome.result.bytes
        else:
            reason = outcome.result.reason if outcome.result.reason in REASONS else GIT_ERROR
            report.failed.setdefault(reason, []).append(outcome.entry.repo)
        if on_outcome is not None:
            on_outcome(outcome)
        invalid = len(report.failed.get(INVALID, ()))  # lines of the list, not fetches
        progress.update(report.fetched, report.failed_count - invalid, report.bytes)

    pool = ThreadPoolExecutor(max_workers=settings.concurrency, thread_name_prefix="crawl")
    pending: set[Future[Outcome | None]] = set()
    try:
        pending = {pool.submit(fetch_with_retries, e, out, settings, state, stop) for e in todo}
        while pending:
            finished, pending = wait(pending, timeout=0.2, return_when=FIRST_COMPLETED)
            for future in finished:
                future.result()  # a bug in a worker is not a failed repository: let it surface
                account(future)
    except BaseException:
        stop.set()
        pool.shutdown(wait=True, cancel_futures=True)
        # Repositories that finished while the pool wound down are in the state; count them too.
        for future in pending:
            account(future)
        raise
    pool.shutdown(wait=True)


def _stop_on_sigterm() -> Callable[[], None]:
    """SIGTERM interrupts like Ctrl-C (in the main thread only); returns the undo."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None

    def handler(signum: int, frame: Any) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, handler)
    return lambda: signal.signal(signal.SIGTERM, previous)
