"""`stackwright crawl` against real git servers on loopback, and builds of what it fetched.

The tests start ``git daemon`` over a folder of bare repositories made here, and small TCP servers in
front of it: one that counts and delays connections, one that throttles, one that cuts the stream
after a few KB, one that accepts and never answers. Crawls run as real subprocesses (one is killed
with SIGKILL half-way, one interrupted with SIGINT); builds of the crawled folder are compared with
builds of the original repositories.
"""

from __future__ import annotations

import http.server
import json
import os
import random
import re
import select
import shutil
import signal
import socket
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import pytest

from helpers import (
    assert_one_line_error,
    build_ok,
    cli_env,
    commit_all,
    git,
    git_text,
    read_rows,
    run_cli,
    stackwright_cmd,
    write,
)

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="git is needed")

OWNERS = ("alice", "bob-2", "Carol-Org")
LICENSES = ("MIT", "Apache-2.0", None)


# -- servers -------------------------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError(f"nothing listens on port {port}")


def _read_pkt_line(conn: socket.socket) -> bytes:
    """The client's first pkt-line (the request naming the repository), whole: git may send its
    4-digit length and the rest in separate writes."""
    data = b""
    while len(data) < 4 or len(data) < int(data[:4], 16):
        chunk = conn.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


class TcpProxy:
    """A loopback TCP server in front of ``upstream``: counts git:// requests by repository, waits
    ``delay`` before forwarding, forwards at most ``rate`` bytes/s and closes after ``cut_after`` bytes
    from the server. With no upstream it accepts connections and never answers."""

    def __init__(self, upstream: int | None, delay: float = 0.0, rate: float | None = None,
                 cut_after: int | None = None) -> None:
        self.upstream, self.delay, self.rate, self.cut_after = upstream, delay, rate, cut_after
        self.requests: Counter[str] = Counter()
        self.connections = 0
        self.open = 0
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = self._server.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()

    def url(self, repo: str) -> str:
        return f"git://127.0.0.1:{self.port}/{repo}"

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with self._lock:
            self.connections += 1
            self.open += 1
            self._sockets.append(conn)
        up: socket.socket | None = None
        try:
            if self.upstream is None:
                while conn.recv(4096):  # never answers; returns when the client goes away
                    pass
                return
            first = _read_pkt_line(conn)
            match = re.search(rb"git-upload-pack (/[^\x00]+)", first)
            if match:
                with self._lock:
                    self.requests[match.group(1).decode().strip("/")] += 1
            if self.delay:
                time.sleep(self.delay)
            up = socket.create_connection(("127.0.0.1", self.upstream))
            up.sendall(first)
            self._pump(conn, up)
        except OSError:
            pass
        finally:
            for s in (conn, up):
                if s is not None:
                    s.close()
            with self._lock:
                self.open -= 1

    def _pump(self, client: socket.socket, up: socket.socket) -> None:
        sent = 0
        while not self._closed.is_set():
            ready, _, _ = select.select([client, up], [], [], 0.2)
            for s in ready:
                data = s.recv(16384)
                if not data:
                    return
                if s is client:
                    up.sendall(data)
                    continue
                if self.cut_after is not None and sent + len(data) >= self.cut_after:
                    client.sendall(data[: self.cut_after - sent])
                    return  # the connection drops mid-transfer
                client.sendall(data)
                sent += len(data)
                if self.rate:
                    time.sleep(len(data) / self.rate)

    def wait_closed(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.open == 0:
                return True
            time.sleep(0.05)
        return self.open == 0

    def close(self) -> None:
        self._closed.set()
        self._server.close()
        with self._lock:
            for s in self._sockets:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


class GitHttpHandler(http.server.BaseHTTPRequestHandler):
    """Smart HTTP through ``git http-backend`` (as a CGI); paths under /unavailable/ answer 503."""

    root: ClassVar[str] = ""
    hits: ClassVar[Counter[str]] = Counter()

    def _serve(self) -> None:
        path, _, query = self.path.partition("?")
        type(self).hits[path.split("/info/")[0].split("/git-upload-pack")[0]] += 1
        if path.startswith("/unavailable/"):
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        env = {"GIT_PROJECT_ROOT": self.root, "GIT_HTTP_EXPORT_ALL": "1", "PATH_INFO": path,
               "QUERY_STRING": query, "REQUEST_METHOD": self.command, "PATH": os.environ["PATH"],
               "CONTENT_TYPE": self.headers.get("Content-Type", ""), "CONTENT_LENGTH": str(len(body)),
               "GIT_PROTOCOL": self.headers.get("Git-Protocol", ""), "GIT_CONFIG_NOSYSTEM": "1",
               "GIT_CONFIG_GLOBAL": os.devnull}
        out = subprocess.run(["git", "http-backend"], input=body, env=env, capture_output=True).stdout
        head, _, rest = out.partition(b"\r\n\r\n")
        status, headers = 200, []
        for line in head.decode().split("\r\n"):
            key, _, value = line.partition(":")
            if key.lower() == "status":
                status = int(value.split()[0])
            elif key:
                headers.append((key, value.strip()))
        self.send_response(status)
        for key, value in headers:
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(rest)))
        self.end_headers()
        self.wfile.write(rest)

    do_GET = do_POST = _serve

    def log_message(self, *args: Any) -> None:
        pass


# -- the corpus -----------------------------------------------------------------------------------------


@dataclass
class Corpus:
    root: Path
    originals: Path  # a folder of working repositories named owner__name (what `build` reads)
    served: Path  # bare copies at owner/name.git (what git daemon serves)
    port: int  # git daemon
    commits: dict[str, str]  # owner/name -> HEAD of the 50 originals
    meta: dict[str, dict[str, Any]]  # owner/name -> stars, forks, license
    extra: dict[str, str] = field(default_factory=dict)  # other served repositories' named commits
    proxies: list[TcpProxy] = field(default_factory=list)

    @property
    def host(self) -> str:
        return f"git://127.0.0.1:{self.port}/{{owner}}/{{name}}"

    def proxy(self, **kwargs: Any) -> TcpProxy:
        proxy = TcpProxy(kwargs.pop("upstream", self.port), **kwargs)
        self.proxies.append(proxy)
        return proxy

    def jsonl(self, path: Path, rows: list[dict[str, Any]]) -> Path:
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
        return path


def _serve(corpus_served: Path, work: Path, repo: str) -> None:
    owner, name = repo.split("/")
    (corpus_served / owner).mkdir(parents=True, exist_ok=True)
    git(corpus_served / owner, "clone", "-q", "--bare", str(work), f"{name}.git")


def _make_original(originals: Path, repo: str, i: int) -> str:
    path = originals / repo.replace("/", "__")
    git(originals, "init", "-q", path.name)
    if i % 10 != 3:  # some repositories have no evidence file at all (no README)
        write(path / "README.md", f"# {repo}\n\nRepository number {i}.\n")
    write(path / f"src/pkg{i % 4}/mod_{i}.py", f"def f{i}():\n    return {i}  # ünïcödé ✓\n")
    write(path / "src/common/util.py", f"VALUE = {i * 7}\n")
    if i % 5 == 0:
        write(path / "docs/guide/deep/nested/page.md", f"Page of {repo}.\n")
    return commit_all(path, f"first commit of {repo}")


def _random_repo(work: Path, nbytes: int, seed: int) -> None:
    git(work.parent, "init", "-q", work.name)
    write(work / "blob.bin", random.Random(seed).randbytes(nbytes))
    write(work / "main.py", "print('big')\n")
    commit_all(work, "random data")


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    root = tmp_path_factory.mktemp("crawl")
    originals, served, scratch = root / "originals", root / "served", root / "scratch"
    for folder in (originals, served, scratch):
        folder.mkdir()
    commits: dict[str, str] = {}
    meta: dict[str, dict[str, Any]] = {}
    for i in range(50):
        repo = f"{OWNERS[i % 3]}/repo-{i:02d}.x" if i % 7 == 0 else f"{OWNERS[i % 3]}/repo_{i:02d}"
        commits[repo] = _make_original(originals, repo, i)
        meta[repo] = {"stars": i * 3, "forks": i, "license": LICENSES[i % 3]}
        _serve(served, originals / repo.replace("/", "__"), repo)
    extra: dict[str, str] = {}
    # Branches, a tag and an older commit, fetched by ref.
    refs = scratch / "refs"
    git(scratch, "init", "-q", "refs")
    write(refs / "a.py", "A = 1\n")
    extra["first"] = commit_all(refs, "one")
    write(refs / "a.py", "A = 2\n")
    extra["main"] = commit_all(refs, "two")
    git(refs, "checkout", "-q", "-b", "feature")
    write(refs / "feature.py", "F = 1\n")
    extra["feature"] = commit_all(refs, "feature")
    git(refs, "tag", "v1")
    git(refs, "checkout", "-q", "main")
    _serve(served, refs, "refs/multi")
    git(served / "refs" / "multi.git", "update-ref", "refs/tags/v1", extra["feature"])
    # A repository whose default branch is not main.
    trunk = scratch / "trunk"
    git(scratch, "init", "-q", "-b", "trunk", "trunk")
    write(trunk / "t.py", "T = 1\n")
    extra["trunk"] = commit_all(trunk, "trunk")
    _serve(served, trunk, "refs/trunk")
    # Random (incompressible) data: 3 MB is over a 1 MB cap; 400 KB is cut off by a proxy.
    _random_repo(scratch / "big", 3_000_000, 1)
    _serve(served, scratch / "big", "big/blob")
    _random_repo(scratch / "cut", 400_000, 2)
    _serve(served, scratch / "cut", "cut/blob")

    port = _free_port()
    daemon = subprocess.Popen(
        ["git", "daemon", "--reuseaddr", f"--base-path={served}", "--export-all", f"--port={port}",
         "--listen=127.0.0.1", str(served)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    corpus = Corpus(root, originals, served, port, commits, meta, extra)
    try:
        _wait_for_port(port)
        yield corpus
    finally:
        for proxy in corpus.proxies:
            proxy.close()
        daemon.terminate()
        daemon.wait(timeout=10)


def _state(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in (out / "crawl-state.jsonl").read_text().splitlines() if line.strip()]


def _latest(out: Path) -> dict[str, dict[str, Any]]:
    return {r["repo"]: r for r in _state(out)}


def _crawl(*args: str | Path, timeout: float = 120
           ) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    proc = run_cli("crawl", *args, "--json", "--no-progress", timeout=timeout)
    assert "Traceback" not in proc.stderr, proc.stderr
    assert proc.returncode in (0, 1), f"exit {proc.returncode}\n{proc.stdout}\n{proc.stderr}"
    return proc, json.loads(proc.stdout)


@pytest.fixture(scope="module")
def crawled(corpus: Corpus) -> Path:
    """The 50 repositories crawled once, 8 at a time, from a JSON-lines list with host metadata."""
    rows = [{"repo": repo, **meta} for repo, meta in corpus.meta.items()]
    listing = corpus.jsonl(corpus.root / "fifty.jsonl", rows)
    out = corpus.root / "crawl-fifty"
    proc, report = _crawl(listing, "--out", out, "--host", corpus.host, "--concurrency", "8")
    assert proc.returncode == 0, proc.stdout
    assert (report["listed"], report["fetched"], report["skipped"], report["failed"]) == (50, 50, 0, 0)
    return out


# -- listing ---------------------------------------------------------------------------------------------


def test_list_lines_are_checked_and_reported_by_number() -> None:
    from stackwright.crawl.listing import parse_listing

    text = "\n".join([
        "# a comment",
        "alice/tool",                                   # 2
        "https://github.com/Bob/Thing.git",             # 3
        "git@github.com:carol/lib.git",                 # 4
        "owner/na me",                                  # 5 bad: two fields
        "-dash/x",                                      # 6 bad owner
        "https://user:hunter2@example.com/a/b.git",     # 7 bad: credentials
        "ftp://example.com/a/b",                        # 8 bad scheme
        "alice/..",                                     # 9 bad name
        "ALICE/TOOL",                                   # 10 duplicate of line 2
        '{"repo": "dave/x", "stars": 5, "forks": 1, "license": "MIT", "default_branch": "dev"}',  # 11
        '{"repo": "erin/y", "stars": -1}',              # 12 bad stars
        '{"url": "git://h/frank/z", "ref": "--upload-pack=evil"}',  # 13 bad ref
        '{"stars": 3}',                                 # 14 no repo
        "ssh://git@example.com/gina/w.git",             # 15
        "",
    ])
    listing = parse_listing(text)
    assert [e.repo for e in listing.entries] == ["alice/tool", "Bob/Thing", "carol/lib", "dave/x", "gina/w"]
    assert [b.line for b in listing.bad] == [5, 6, 7, 8, 9, 12, 13, 14]
    assert listing.duplicates == 1
    dave = listing.entries[3]
    assert (dave.stars, dave.forks, dave.license) == (5, 1, "MIT")
    assert dave.default_branch == dave.wanted_ref == "dev"
    assert listing.entries[1].url == "https://github.com/Bob/Thing.git"
    assert all("hunter2" not in b.reason for b in listing.bad)


def test_unusable_list_or_settings_exit_2(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("not a repo\nhttps://user:hunter2@example.com/a/b.git\n")
    proc = run_cli("crawl", bad, "--out", tmp_path / "o", "--no-progress")
    line = assert_one_line_error(proc, "no valid repository", "line 1")
    assert "hunter2" not in proc.stderr + proc.stdout and "hunter2" not in line
    assert not (tmp_path / "o").exists()
    assert_one_line_error(run_cli("crawl", tmp_path / "missing.txt", "--out", tmp_path / "o"), "no such file")
    good = tmp_path / "good.txt"
    good.write_text("alice/tool\n")
    assert_one_line_error(run_cli("crawl", good, "--out", tmp_path / "o", "--host", "https://h/{owner}"),
                          "{name}")
    assert_one_line_error(run_cli("crawl", good, "--out", tmp_path / "o", "--host",
                                  "https://u:secret@h/{owner}/{name}"), "credentials")
    assert_one_line_error(run_cli("crawl", good, "--out", tmp_path / "o", "--host", "file:///{owner}/{name}"),
                          "--host")


# -- fetching -------------------------------------------------------------------------------------------


def test_fifty_repositories_fetched_concurrently(corpus: Corpus, crawled: Path) -> None:
    latest = _latest(crawled)
    assert set(latest) == set(corpus.commits)
    for repo, commit in corpus.commits.items():
        record = latest[repo]
        assert record["status"] == "done" and record["attempts"] == 1 and record["reason"] is None
        assert record["commit"] == commit
        owner, name = repo.split("/")
        git_dir = crawled / "repos" / owner / f"{name}.git"
        assert record["path"] == f"repos/{owner}/{name}.git"
        assert git_text(git_dir, "rev-parse", "HEAD") == commit
        assert git_text(git_dir, "rev-parse", "--is-bare-repository") == "true"
        assert (git_dir / "shallow").is_file(), "a depth-1 copy"
        assert record["default_branch"] == "main"
        assert {k: record[k] for k in ("stars", "forks", "license")} == corpus.meta[repo]
    metadata = [json.loads(line) for line in (crawled / "repositories.jsonl").read_text().splitlines()]
    assert [m["repo"] for m in metadata] == sorted(corpus.commits, key=str.lower)
    assert all(m["commit"] == corpus.commits[m["repo"]] and m["stars"] == corpus.meta[m["repo"]]["stars"]
               for m in metadata)
    report = json.loads((crawled / "crawl-report.json").read_text())
    assert report["fetched"] == 50 and report["total_bytes"] > 0
    assert not (crawled / "_tmp").exists()


def test_rerun_fetches_nothing_done(corpus: Corpus, crawled: Path, tmp_path: Path) -> None:
    before = (crawled / "crawl-state.jsonl").read_bytes()
    proxy = corpus.proxy()
    listing = corpus.jsonl(tmp_path / "list.jsonl", [{"repo": r, **m} for r, m in corpus.meta.items()])
    proc, report = _crawl(listing, "--out", crawled, "--host", proxy.url("{owner}/{name}"))
    assert proc.returncode == 0
    assert (report["fetched"], report["skipped"], report["failed"]) == (0, 50, 0)
    assert proxy.connections == 0
    assert (crawled / "crawl-state.jsonl").read_bytes() == before


def test_refs_and_default_branches(corpus: Corpus, tmp_path: Path) -> None:
    out = tmp_path / "refs"
    listing = corpus.jsonl(tmp_path / "refs.jsonl", [
        {"url": f"git://127.0.0.1:{corpus.port}/refs/multi", "ref": "feature"},
        {"repo": "refs/trunk"},
    ])
    proc, _ = _crawl(listing, "--out", out, "--host", corpus.host)
    assert proc.returncode == 0, proc.stdout
    latest = _latest(out)
    assert latest["refs/multi"]["commit"] == corpus.extra["feature"]
    assert latest["refs/multi"]["ref"] == "feature"
    assert latest["refs/trunk"]["commit"] == corpus.extra["trunk"]
    assert latest["refs/trunk"]["default_branch"] == "trunk"
    # A listed commit id and a tag, into another folder (one folder per repository name).
    out2 = tmp_path / "refs2"
    listing = corpus.jsonl(tmp_path / "refs2.jsonl", [{"repo": "refs/multi", "ref": corpus.extra["first"]}])
    proc, _ = _crawl(listing, "--out", out2, "--host", corpus.host)
    assert proc.returncode == 0, proc.stdout
    assert _latest(out2)["refs/multi"]["commit"] == corpus.extra["first"]
    assert git_text(out2 / "repos/refs/multi.git", "rev-parse", "HEAD") == corpus.extra["first"]
    out3 = tmp_path / "refs3"
    listing = corpus.jsonl(tmp_path / "refs3.jsonl", [{"repo": "refs/multi", "ref": "v1"}])
    proc, _ = _crawl(listing, "--out", out3, "--host", corpus.host)
    assert proc.returncode == 0, proc.stdout
    assert _latest(out3)["refs/multi"]["commit"] == corpus.extra["feature"]


def test_failures_are_reported_by_reason_and_the_crawl_goes_on(corpus: Corpus, tmp_path: Path) -> None:
    hang = corpus.proxy(upstream=None)
    cut = corpus.proxy(cut_after=20_000)
    slow = corpus.proxy(rate=1_500_000)  # the 3 MB repository passes 1 MB within a second
    refused = _free_port()
    good = sorted(corpus.commits)[:3]
    listing = corpus.jsonl(tmp_path / "mixed.jsonl", [
        {"url": hang.url("hang/forever")},
        {"repo": good[0]},
        {"url": slow.url("big/blob")},
        {"repo": "nobody/missing"},
        {"repo": good[1]},
        {"url": cut.url("cut/blob")},
        {"url": f"git://127.0.0.1:{refused}/refused/repo"},
        {"repo": good[2]},
    ])
    out = tmp_path / "mixed"
    proc, report = _crawl(listing, "--out", out, "--host", corpus.host, "--concurrency", "4",
                          "--timeout", "2", "--retries", "1", "--backoff", "0.05", "--max-size", "1")
    assert proc.returncode == 1
    by_reason = {reason: v["examples"] for reason, v in report["failed_by_reason"].items()}
    assert by_reason == {
        "timeout": ["hang/forever"],
        "too_large": ["big/blob"],
        "not_found": ["nobody/missing"],
        "network": ["cut/blob", "refused/repo"],
    }
    assert (report["fetched"], report["failed"]) == (3, 5)
    latest = _latest(out)
    assert {r: latest[r]["status"] for r in good} == dict.fromkeys(good, "done")
    attempts = {r: latest[r]["attempts"] for r in latest}
    # Transient failures are retried (--retries 1: two attempts), permanent ones are not.
    assert attempts["hang/forever"] == 2 and attempts["cut/blob"] == 2 and attempts["refused/repo"] == 2
    assert attempts["nobody/missing"] == 1 and attempts["big/blob"] == 1
    assert hang.connections == 2 and cut.connections == 2 and slow.connections == 1
    assert latest["big/blob"]["detail"] == "killed at the size cap while fetching"
    assert report["retries"] == 3
    # Failed repositories leave nothing behind, under their final name or elsewhere.
    assert sorted(p.name for p in (out / "repos").iterdir()) == sorted({g.split("/")[0] for g in good})
    assert not (out / "_tmp").exists()
    assert hang.wait_closed(5), "the hung connection was closed when its fetch was killed"
    # The table says the same.
    proc = run_cli("crawl", tmp_path / "mixed.jsonl", "--out", out, "--host", corpus.host, "--no-progress",
                   "--timeout", "1", "--retries", "0", "--max-size", "1")
    assert proc.returncode == 1, proc.stderr
    assert re.search(r"skipped \(already done\)\s*│\s*3", proc.stdout), proc.stdout
    assert "failed not_found" in proc.stdout and "nobody/missing" in proc.stdout


def _wait_for_done(out: Path, n: int, proc: subprocess.Popen[str], timeout: float = 60) -> int:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if (out / "crawl-state.jsonl").is_file():
            done = sum(1 for r in _state(out) if r["status"] == "done")
            if done >= n:
                return done
        assert proc.poll() is None, f"the crawl ended early: {proc.communicate()}"
        time.sleep(0.02)
    raise AssertionError(f"fewer than {n} repositories done after {timeout} s")


def test_killed_crawl_resumes_without_refetching(corpus: Corpus, tmp_path: Path) -> None:
    slow = corpus.proxy(delay=0.3)
    hang = corpus.proxy(upstream=None)
    repos = sorted(corpus.commits)[:20]
    listing = corpus.jsonl(tmp_path / "twenty.jsonl",
                           [{"url": hang.url("hang/forever")}, *({"repo": r} for r in repos)])
    out = tmp_path / "killed"
    args = ["crawl", str(listing), "--out", str(out), "--host", slow.url("{owner}/{name}"),
            "--concurrency", "3", "--json", "--no-progress"]
    proc = subprocess.Popen([*stackwright_cmd(), *args, "--timeout", "60"], env=cli_env(),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_done(out, 4, proc)
    finally:
        proc.kill()
        proc.communicate(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    # git processes die with the crawl: the hung connection closes at once, not at the 60 s limit.
    assert hang.wait_closed(5), "a git process outlived the killed crawl"
    before = _state(out)
    done_before = {r["repo"]: r for r in before if r["status"] == "done"}
    assert 4 <= len(done_before) < 20
    # Whatever is under its final name is a complete repository at the original commit.
    for git_dir in (out / "repos").glob("*/*.git"):
        repo = f"{git_dir.parent.name}/{git_dir.name.removesuffix('.git')}"
        assert git_text(git_dir, "rev-parse", "HEAD") == corpus.commits[repo]
    leftovers = len(list((out / "_tmp").iterdir())) if (out / "_tmp").is_dir() else 0

    slow.requests.clear()
    slow.delay = 0.0
    rerun = subprocess.run([*stackwright_cmd(), *args, "--timeout", "1", "--retries", "0"], env=cli_env(),
                           capture_output=True, text=True, timeout=120)
    assert rerun.returncode == 1, rerun.stderr  # the hung repository fails again, by timeout
    report = json.loads(rerun.stdout)
    assert report["skipped"] == len(done_before)
    assert report["fetched"] == 20 - len(done_before)
    assert {k: v["examples"] for k, v in report["failed_by_reason"].items()} == {"timeout": ["hang/forever"]}
    assert report["cleaned"] == leftovers
    assert not any(slow.requests[r] for r in done_before), "a done repository was fetched again"
    assert all(slow.requests[r] == 1 for r in repos if r not in done_before)
    after = _state(out)
    assert after[: len(before)] == before, "the state is append-only"
    assert all(sum(1 for r in after if r["repo"] == repo) == 1 for repo in done_before)
    latest = _latest(out)
    assert all(latest[r]["status"] == "done" and latest[r]["commit"] == corpus.commits[r] for r in repos)
    assert not (out / "_tmp").exists()


def test_ctrl_c_stops_cleanly(corpus: Corpus, tmp_path: Path) -> None:
    hang = corpus.proxy(upstream=None)
    repo = sorted(corpus.commits)[0]
    listing = corpus.jsonl(tmp_path / "two.jsonl", [{"url": hang.url("hang/forever")}, {"repo": repo}])
    out = tmp_path / "interrupted"
    cmd = [*stackwright_cmd(), "crawl", str(listing), "--out", str(out), "--host", corpus.host,
           "--timeout", "60", "--json", "--no-progress"]
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for_done(out, 1, proc)
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "interrupted" in stderr
    report = json.loads(stdout)
    assert report["interrupted"] is True and report["fetched"] == 1
    assert json.loads((out / "crawl-report.json").read_text())["interrupted"] is True
    latest = _latest(out)
    assert set(latest) == {repo}, "an interrupted fetch is not recorded as failed"
    assert hang.wait_closed(5)
    assert not (out / "_tmp").exists()


# -- building a crawl ---------------------------------------------------------------------------------


def _key(row: dict[str, Any]) -> tuple:
    return (row["repo"], row["path"], row["commit"], row["content"])


def test_build_of_crawl_equals_build_of_originals(corpus: Corpus, crawled: Path, tmp_path: Path) -> None:
    a = build_ok(crawled, "--out", tmp_path / "a", "--steps", "drop_empty")
    b = build_ok(corpus.originals, "--out", tmp_path / "b", "--steps", "drop_empty")
    rows_a, rows_b = read_rows(tmp_path / "a"), read_rows(tmp_path / "b")
    assert sorted(map(_key, rows_a)) == sorted(map(_key, rows_b))
    assert len(rows_a) == a["rows"] == b["rows"] > 150
    assert {r["repo"] for r in rows_a} == set(corpus.commits)
    for row in rows_a:
        meta = corpus.meta[row["repo"]]
        assert (row["stars"], row["forks"], row["declared_license"]) == (meta["stars"], meta["forks"],
                                                                         meta["license"])
    assert all("stars" not in r for r in rows_b), "other sources do not get the crawl's columns"
    manifest = json.loads((tmp_path / "a" / "manifest.json").read_text())
    (source,) = manifest["sources"]
    assert source["kind"] == "crawl"
    assert {r["repo"]: r["commit"] for r in source["repositories"]} == corpus.commits


@pytest.mark.slow  # seconds of real work; CI runs the slow tests too
def test_host_license_is_license_evidence(corpus: Corpus, crawled: Path, tmp_path: Path) -> None:
    build_ok(crawled, "--out", tmp_path / "lic", "--steps", "licenses")
    by_repo = {r["repo"]: r for r in read_rows(tmp_path / "lic")}
    for repo, meta in corpus.meta.items():
        row = by_repo[repo]
        if meta["license"] is None:
            assert (row["license"], row["license_category"]) == ("NOASSERTION", "no-license")
        else:
            assert row["license"] == meta["license"]
            assert row["license_category"] == "permissive"
            assert row["license_evidence"] == f"host-license:{meta['license']}"


def test_dedup_keeps_the_copy_with_more_stars(corpus: Corpus, tmp_path: Path) -> None:
    # Two crawls of the same pair of identical repositories, with the stars the other way round:
    # the kept copy follows the stars, not the names.
    twins = tmp_path / "twins"
    twins.mkdir()
    content = "def shared():\n    return 'the same file in two repositories'\n" * 3
    for name in ("aaa__twin", "zzz__twin"):
        git(twins, "init", "-q", name)
        write(twins / name / "shared.py", content)
        write(twins / name / f"own_{name}.py", f"OWN = '{name}'\n")
        commit_all(twins / name, "twin")
        _serve(corpus.served, twins / name, name.replace("__", "/"))
    kept = {}
    orders = {"z-more": {"aaa/twin": 1, "zzz/twin": 100}, "a-more": {"aaa/twin": 100, "zzz/twin": 1}}
    for label, stars in orders.items():
        rows = [{"repo": r, "stars": s} for r, s in stars.items()]
        listing = corpus.jsonl(tmp_path / f"{label}.jsonl", rows)
        proc, _ = _crawl(listing, "--out", tmp_path / label, "--host", corpus.host)
        assert proc.returncode == 0, proc.stdout
        build_ok(tmp_path / label, "--out", tmp_path / f"{label}-ds", "--steps", "drop_empty,dedup")
        rows = [r for r in read_rows(tmp_path / f"{label}-ds") if r["path"] == "shared.py"]
        assert len(rows) == 1 and rows[0]["duplicate_count"] == 1
        kept[label] = (rows[0]["repo"], rows[0]["stars"])
    assert kept == {"z-more": ("zzz/twin", 100), "a-more": ("aaa/twin", 100)}


def test_crawl_folder_with_a_state_pointing_outside_is_not_read(crawled: Path, tmp_path: Path) -> None:
    hostile = tmp_path / "hostile"
    shutil.copytree(crawled, hostile)
    records = _state(hostile)
    records[0]["path"] = str(crawled / records[0]["path"])  # a repository outside the folder
    (hostile / "crawl-state.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    summary = build_ok(hostile, "--out", tmp_path / "ds", "--steps", "drop_empty")
    assert summary["repositories"] == 49
    assert summary["dropped"].get("read:unsafe_path") == 1


def test_smart_http_not_found_and_server_errors(corpus: Corpus, tmp_path: Path) -> None:
    handler = type("Handler", (GitHttpHandler,), {"root": str(corpus.served), "hits": Counter()})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}"
        repo = sorted(corpus.commits)[1]
        listing = tmp_path / "http.txt"
        listing.write_text(f"{repo}\nnobody/missing\n{base}/unavailable/repo.git\n")
        out = tmp_path / "http"
        proc, report = _crawl(listing, "--out", out, "--host", base + "/{owner}/{name}.git", "--retries", "2",
                              "--backoff", "0.05")
    finally:
        server.shutdown()
        server.server_close()
    assert proc.returncode == 1
    assert {k: v["examples"] for k, v in report["failed_by_reason"].items()} == {
        "not_found": ["nobody/missing"], "network": ["unavailable/repo"]}
    latest = _latest(out)
    assert latest[repo]["commit"] == corpus.commits[repo]
    assert latest["unavailable/repo"]["attempts"] == 3, "a server error is retried"
    assert latest["nobody/missing"]["attempts"] == 1
    assert handler.hits["/unavailable/repo.git"] == 3
