"""Fetch one repository: a shallow, bare copy of one commit, with a wall-time and a size cap.

git runs in its own process group with an isolated configuration (no system or global config, no
credential helpers, no prompts, no local-file or ext transports), so a crawl of names from the
internet can neither ask a question nor read this machine's files. The copy is written to a temporary
folder on the same file system and renamed into place only once it is complete, so a crawl killed at
any moment leaves no half-written repository under its final name.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from stackwright.crawl.listing import CrawlEntry

# Why a fetch failed: a small fixed vocabulary, counted in the state and the report.
NOT_FOUND = "not_found"
TIMEOUT = "timeout"
TOO_LARGE = "too_large"
NETWORK = "network"
GIT_ERROR = "git_error"
INVALID = "invalid"
REASONS = (NOT_FOUND, TIMEOUT, TOO_LARGE, NETWORK, GIT_ERROR, INVALID)
# Failures worth another try: the same request may well succeed later.
TRANSIENT = frozenset({TIMEOUT, NETWORK})

STOPPED = "stopped"  # the crawl was interrupted; nothing is recorded
_KILLED = {TIMEOUT: "killed at the time limit", TOO_LARGE: "killed at the size cap while fetching"}

_GIT_CONFIG = (
    "credential.helper=", "core.askPass=", "protocol.allow=never", "protocol.https.allow=always",
    "protocol.http.allow=always", "protocol.git.allow=always", "protocol.ssh.allow=always",
    "protocol.file.allow=never", "protocol.ext.allow=never", "core.hooksPath=/dev/null",
    "init.defaultBranch=main", "gc.auto=0", "fetch.writeCommitGraph=false", "http.followRedirects=initial",
    "safe.directory=*",
)
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")

# git's messages (LC_ALL=C) by failure reason, checked in this order.
_NOT_FOUND = re.compile(
    r"repository .* not found|not found: did you run git update-server-info|does not appear to be a git "
    r"repository|access denied or repository not exported|could not read username|authentication failed|"
    r"returned error: (?:401|403|404|410)\b|remote branch .* not found|couldn't find remote ref|"
    r"not our ref|no such remote ref|invalid refspec|no matching remote head",
    re.IGNORECASE,
)
_NETWORK = re.compile(
    r"connection refused|connection reset|connection timed out|timed out|unexpected disconnect|early eof|"
    r"hung up unexpectedly|broken pipe|could not resolve host|failed to connect|unable to connect|"
    r"couldn't connect|rpc failed|returned error: (?:408|429|5\d\d)\b|network is unreachable|"
    r"transfer closed|remote end hung up|index-pack failed|fetch-pack: invalid index-pack output|"
    r"gnutls|\bssl\b|\btls\b|http/2 stream",
    re.IGNORECASE,
)


def _die_with_parent() -> Callable[[], None] | None:
    """On Linux, a function for the child between fork and exec that asks the kernel to kill it when
    the crawler dies: a crawl killed with SIGKILL must not leave git processes behind (they run in their
    own process group, so nothing else would reach them)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True).prctl
    except (OSError, AttributeError):
        return None
    pr_set_pdeathsig = 1

    def set_pdeathsig() -> None:
        prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)

    return set_pdeathsig


_PREEXEC = _die_with_parent()


def git_env() -> dict[str, str]:
    """The environment git runs in: nothing inherited that configures git, nothing interactive."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GIT_", "SSH_ASKPASS"))}
    env.update({
        "GIT_TERMINAL_PROMPT": "0",
        "GIT_CONFIG_NOSYSTEM": "1",
        "GIT_CONFIG_GLOBAL": os.devnull,
        "GIT_ASKPASS": "",
        "SSH_ASKPASS": "",
        "GCM_INTERACTIVE": "never",
        "GIT_SSH_COMMAND": "ssh -o BatchMode=yes -o ConnectTimeout=30",
        "GIT_PROTOCOL_FROM_USER": "0",
        "LC_ALL": "C",
    })
    return env


def git_command(*args: str) -> list[str]:
    cmd = ["git"]
    for item in _GIT_CONFIG:
        cmd += ["-c", item]
    return [*cmd, *args]


def classify(stderr: str) -> str:
    """The failure reason git's error output gives."""
    if _NOT_FOUND.search(stderr):
        return NOT_FOUND
    if _NETWORK.search(stderr):
        return NETWORK
    return GIT_ERROR


def folder_bytes(path: Path) -> int:
    """Bytes of the files under ``path`` (symlinks not followed); files vanishing meanwhile count 0."""
    total = 0
    stack = [str(path)]
    while stack:
        folder = stack.pop()
        try:
            with os.scandir(folder) as it:
                for child in it:
                    try:
                        if child.is_dir(follow_symlinks=False):
                            stack.append(child.path)
                        else:
                            total += child.stat(follow_symlinks=False).st_size
                    except OSError:
                        continue
        except OSError:
            continue
    return total


@dataclass(frozen=True)
class Limits:
    """Caps for one fetch attempt."""

    timeout: float  # seconds of wall time for the whole attempt
    max_bytes: int  # bytes on disk of the copy
    poll: float = 0.2  # how often the copy's size is measured while git runs


@dataclass
class Watched:
    """How a watched git command ended: its exit code and error output, or why it was killed."""

    returncode: int | None
    stderr: str
    killed: str | None = None  # TIMEOUT, TOO_LARGE or STOPPED


def run_watched(cmd: list[str], deadline: float, watch: Path, limits: Limits,
                stop: threading.Event) -> Watched:
    """Run ``cmd`` in a new process group; kill the group at the deadline, when ``watch`` grows past
    the size cap, or when ``stop`` is set."""
    with tempfile.TemporaryFile() as errors:
        try:
            proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errors,
                                    env=git_env(), start_new_session=True, preexec_fn=_PREEXEC)
        except FileNotFoundError:
            return Watched(None, "git is not installed", GIT_ERROR)
        killed: str | None = None
        while True:
            try:
                proc.wait(timeout=limits.poll)
                break
            except subprocess.TimeoutExpired:
                pass
            if stop.is_set():
                killed = STOPPED
            elif time.monotonic() >= deadline:
                killed = TIMEOUT
            elif folder_bytes(watch) > limits.max_bytes:
                killed = TOO_LARGE
            if killed:
                _kill_group(proc)
                break
        errors.seek(0)
        text = errors.read(64_000).decode("utf-8", errors="replace")
    return Watched(proc.returncode, text, killed)


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


@dataclass
class FetchResult:
    """One attempt's outcome. ``reason`` is None on success."""

    reason: str | None
    commit: str | None = None
    branch: str | None = None
    bytes: int = 0
    detail: str | None = None  # git's first error line, for the state file

    @property
    def ok(self) -> bool:
        return self.reason is None


def first_error_line(stderr: str) -> str | None:
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    for line in lines:
        if line.lower().startswith(("fatal:", "error:")):
            return line[:300]
    return lines[-1][:300] if lines else None


def _git_out(git_dir: Path, *args: str) -> str | None:
    proc = subprocess.run(git_command("--git-dir", str(git_dir), *args), capture_output=True, env=git_env(),
                          stdin=subprocess.DEVNULL, check=False)
    return proc.stdout.decode().strip() if proc.returncode == 0 else None


def fetch_into(entry: CrawlEntry, url: str, target: Path, limits: Limits,
               stop: threading.Event) -> FetchResult:
    """Fetch ``entry`` from ``url`` into the new folder ``target`` (a bare repository); on failure
    ``target`` may hold a partial copy, which the caller removes."""
    deadline = time.monotonic() + limits.timeout
    ref = entry.wanted_ref
    if ref is not None and _SHA.fullmatch(ref):
        # A commit id: clone cannot ask for one, so make an empty repository and fetch it.
        steps = [
            git_command("init", "--bare", "-q", "--template=", str(target)),
            git_command("--git-dir", str(target), "fetch", "--depth", "1", "--no-tags", "-q", "--", url, ref),
        ]
    else:
        branch = ["--branch", ref] if ref is not None else []
        steps = [git_command("clone", "--bare", "--template=", "--depth", "1", "--single-branch", "--no-tags",
                             "-q", *branch, "--", url, str(target))]
    for cmd in steps:
        watched = run_watched(cmd, deadline, target, limits, stop)
        if watched.killed:
            return FetchResult(watched.killed, detail=_KILLED.get(watched.killed, watched.killed))
        if watched.returncode != 0:
            return FetchResult(classify(watched.stderr), detail=first_error_line(watched.stderr))
    if ref is not None and _SHA.fullmatch(ref):
        commit = _git_out(target, "rev-parse", "--verify", "-q", "FETCH_HEAD^{commit}")
        if commit is None:
            return FetchResult(NOT_FOUND, detail="the commit was not sent")
        if _git_out(target, "update-ref", "refs/heads/crawled", commit) is None:
            return FetchResult(GIT_ERROR, detail="cannot record the fetched commit")
        _git_out(target, "symbolic-ref", "HEAD", "refs/heads/crawled")
        branch_name = None
    else:
        commit = _git_out(target, "rev-parse", "--verify", "-q", "HEAD^{commit}")  # None: an empty repository
        branch_name = _git_out(target, "symbolic-ref", "--short", "-q", "HEAD")
    size = folder_bytes(target)
    if size > limits.max_bytes:
        return FetchResult(TOO_LARGE, bytes=size, detail="the finished copy is over the size cap")
    return FetchResult(None, commit, branch_name, size)


def fetch_repository(entry: CrawlEntry, url: str, final: Path, work_dir: Path, limits: Limits,
                     stop: threading.Event) -> FetchResult:
    """One attempt: fetch into a temporary folder under ``work_dir`` (same file system as ``final``),
    then rename it to ``final``, replacing an earlier copy. Nothing is left in ``work_dir``."""
    work_dir.mkdir(parents=True, exist_ok=True)
    tmp = work_dir / f"{entry.owner}__{entry.name}.{uuid.uuid4().hex}.git"
    try:
        result = fetch_into(entry, url, tmp, limits, stop)
        if not result.ok:
            return result
        final.parent.mkdir(parents=True, exist_ok=True)
        if final.exists():
            old = work_dir / f"old.{uuid.uuid4().hex}"
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        result.bytes = folder_bytes(final)
        return result
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
