"""Executors schedule tasks and nothing more: both run ``run_task`` and so write the same bytes."""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import multiprocessing as mp
import os
import queue
import secrets
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, Protocol

from stackwright.errors import StackwrightError
from stackwright.pipeline.task import Job, Task, run_task, set_progress_reporter

OnProgress = Callable[[int, int, int], None]  # task index, files, bytes read since the last call
OnDone = Callable[[Task, Any], None]
TaskFn = Callable[[Task, Job], Any]  # run_task, or another pass over the same tasks (license scan)


class ExecutorError(StackwrightError, RuntimeError):
    """An executor could not run (for example Ray is missing or cannot start)."""


class Executor(Protocol):
    name: str

    def run(self, tasks: Sequence[Task], job: Job, on_progress: OnProgress, on_done: OnDone,
            fn: TaskFn = run_task) -> None: ...


def _init_worker(q: mp.Queue) -> None:
    # Progress only feeds the bar: a worker never waits at exit for its messages to be read (after
    # an interrupt nobody reads them).
    q.cancel_join_thread()
    set_progress_reporter(lambda index, files, nbytes: q.put((index, files, nbytes)))


class LocalExecutor:
    """A pool of worker processes on this machine (the default)."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = max(1, workers)

    def run(self, tasks: Sequence[Task], job: Job, on_progress: OnProgress, on_done: OnDone,
            fn: TaskFn = run_task) -> None:
        if not tasks:
            return
        ctx = mp.get_context("spawn")
        progress_queue: mp.Queue = ctx.Queue()
        workers = min(self.workers, len(tasks))
        # Ctrl-C reaches the whole process group. Workers start with SIGINT ignored (an ignored
        # signal stays ignored across exec, and Python keeps it so), so only this process handles
        # it: it stops the workers and reports once, instead of each worker printing a traceback.
        with _sigint_ignored(), cf.ProcessPoolExecutor(
            max_workers=workers, mp_context=ctx, initializer=_init_worker, initargs=(progress_queue,)
        ) as pool:
            pending = {pool.submit(fn, task, job): task for task in tasks}
            _restore_sigint()
            try:
                while pending:
                    done, _ = cf.wait(pending, timeout=0.1, return_when=cf.FIRST_COMPLETED)
                    _drain(progress_queue, on_progress)
                    for future in done:
                        task = pending.pop(future)
                        on_done(task, future.result())
            except cf.process.BrokenProcessPool:
                raise ExecutorError(
                    "a worker process died (killed, or out of memory); rerun the same command to "
                    "resume from the finished shards"
                ) from None
            except BaseException:
                # Queued tasks are dropped; running ones finish their shard (kept for the rerun).
                # The progress queue is not read again: an interrupt may have stopped a read halfway
                # through a message, and what follows would not parse.
                for future in pending:
                    future.cancel()
                raise
            _drain(progress_queue, on_progress)


_saved_sigint: list = []


@contextlib.contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT while worker processes are started (main thread only); restored on exit or
    by :func:`_restore_sigint` once they are running."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    _saved_sigint.append(signal.signal(signal.SIGINT, signal.SIG_IGN))
    try:
        yield
    finally:
        _restore_sigint()


def _restore_sigint() -> None:
    while _saved_sigint:
        signal.signal(signal.SIGINT, _saved_sigint.pop())


def _drain(q: mp.Queue, on_progress: OnProgress) -> None:
    while True:
        try:
            index, files, nbytes = q.get_nowait()
        except (queue.Empty, OSError, ValueError, EOFError):
            break
        on_progress(index, files, nbytes)


def _ray_temp_dir(out_dir: Path) -> tuple[str, bool]:
    """Ray's session folder inside the run's folder, unless its socket paths would be too long.

    Returns the folder and whether it is a temporary one to remove after the run.
    """
    candidate = out_dir.resolve() / "_state" / "ray"
    # AF_UNIX paths are limited to 107 bytes; Ray appends about 70 characters of session path.
    if len(str(candidate)) <= 36:
        candidate.mkdir(parents=True, exist_ok=True)
        return str(candidate), False
    return tempfile.mkdtemp(prefix="sw-ray-"), True


class RayExecutor:
    """Ray tasks on a local cluster started for the run, or on the cluster at ``address``.

    With a remote cluster the output folder must be on storage every node can write.
    """

    name = "ray"

    def __init__(self, workers: int, address: str | None = None) -> None:
        self.workers = max(1, workers)
        self.address = address

    def run(self, tasks: Sequence[Task], job: Job, on_progress: OnProgress, on_done: OnDone,
            fn: TaskFn = run_task) -> None:
        if not tasks:
            return
        try:
            import ray
        except ImportError:
            raise ExecutorError(
                "the ray executor needs Ray: pip install 'stackwright[ray]'"
            ) from None
        started_here = not ray.is_initialized()
        scratch: str | None = None
        if started_here:
            kwargs: dict = {"include_dashboard": False, "log_to_driver": False, "configure_logging": False}
            if self.address:
                kwargs["address"] = self.address
            else:
                kwargs["num_cpus"] = self.workers
                temp_dir, is_scratch = _ray_temp_dir(Path(job.out_dir))
                kwargs["_temp_dir"] = temp_dir
                scratch = temp_dir if is_scratch else None
                # A token for this run's cluster only: Ray would otherwise create and keep one in
                # ~/.ray/auth_token.
                if not os.environ.get("RAY_AUTH_TOKEN") and not os.environ.get("RAY_AUTH_TOKEN_PATH"):
                    os.environ["RAY_AUTH_TOKEN"] = secrets.token_hex(32)
            os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
            try:
                ray.init(**kwargs)
            except Exception as exc:
                raise ExecutorError(f"could not start Ray: {exc}") from None
        try:
            remote = ray.remote(num_cpus=1, max_retries=2)(fn)
            job_ref = ray.put(job)
            pending = {remote.remote(task, job_ref): task for task in tasks}
            while pending:
                done, _ = ray.wait(list(pending), num_returns=1, timeout=0.5)
                for ref in done:
                    task = pending.pop(ref)
                    on_done(task, ray.get(ref))
        finally:
            if started_here:
                ray.shutdown()
            if scratch:
                shutil.rmtree(scratch, ignore_errors=True)


def make_executor(name: str, workers: int, ray_address: str | None = None) -> Executor:
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(workers, ray_address)
    raise ExecutorError(f"unknown executor {name!r}; use local or ray")
