"""Portal look-ups under load: latency of /api/v1/lookup over a release index of a million repositories.

1. Writes a synthetic release (``manifest.json`` and ``index/usernames.parquet``, through the release
   writer's own index function) with ``--repos`` repositories spread over ``--users`` usernames into
   ``bench-out/portal/releases/v1.0.0`` (kept and reused while the sizes are the same).
2. Starts ``stackwright portal serve`` (uvicorn) in a subprocess on a free loopback port with the rate
   limit off, and waits until it answers; the portal loads the latest index before it listens, so
   this is the start-up time including the index load.
3. Runs ``--clients`` concurrent clients (asyncio, one keep-alive connection each; see
   :class:`RawClient`, or httpx with ``--client httpx``) that send
   ``--requests`` look-ups in all (or stop after ``--max-seconds``) for random usernames: 80% that
   exist (each answer is checked against the number of repositories written for that user) and 20%
   that do not (the answer must be an empty list).
4. Prints p50/p95/p99/max latency, throughput, errors and whether p95 is under 50 ms, and writes
   ``bench-out/portal.json``. The server is stopped at the end whatever happens.

Latency is measured by the clients, so it includes their own scheduling: on a small machine the
clients and the server share the same cores.

    .venv/bin/python benchmarks/portal.py [--repos 1000000] [--users N] [--clients 50] [--requests 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import cli_env, stackwright_cmd  # noqa: E402

TARGET_P95_MS = 50.0
VERSION = "v1.0.0"


def write_release(root: Path, repos: int, users: int, seed: int) -> dict[str, int]:
    """The synthetic release; returns username -> repository count (reused when already written)."""
    import numpy as np

    from stackwright.release.usernames import write_usernames_index

    folder = root / "releases" / VERSION
    stamp = folder / "bench-params.json"
    params = {"repos": repos, "users": users, "seed": seed}
    rng = np.random.default_rng(seed)
    # Repositories per user: at least one each, the rest spread with a long tail (a few users own many).
    weights = rng.pareto(1.5, users) + 1.0
    extra = rng.multinomial(repos - users, weights / weights.sum())
    counts = {f"user-{i:07d}": int(1 + n) for i, n in enumerate(extra)}
    if stamp.is_file() and json.loads(stamp.read_text()) == params:
        return counts
    started = time.perf_counter()
    files: dict[str, int] = {}
    for name, n in counts.items():
        owner = name if int(name[-1]) % 2 else name.replace("user", "User")  # mixed case owners
        for j in range(n):
            files[f"{owner}/project-{j}"] = 1 + (j * 7 + n) % 50
    folder.mkdir(parents=True, exist_ok=True)
    sizes = {r: 1000 * f for r, f in files.items()}
    write_usernames_index(folder / "index" / "usernames.parquet", files, sizes)
    manifest = {"format": "stackwright-release", "format_version": 1, "version": VERSION,
                "created_at": "2025-01-01T00:00:00+00:00", "rows": sum(files.values()),
                "repositories": len(files), "optouts": {"source": None, "removed": {}}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    stamp.write_text(json.dumps(params))
    print(f"wrote {len(files):,} repositories of {users:,} users in {time.perf_counter() - started:.1f} s "
          f"({(folder / 'index' / 'usernames.parquet').stat().st_size / 1e6:.1f} MB index)")
    return counts


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def start_server(root: Path, port: int, timeout: float) -> tuple[subprocess.Popen[bytes], float]:
    import httpx

    cmd = [*stackwright_cmd(), "portal", "serve", "--releases", str(root / "releases"), "--port", str(port),
           "--db", f"sqlite:///{root / 'registry.sqlite'}", "--rate-limit", "0"]
    started = time.perf_counter()
    log = open(root / "server.log", "wb")  # closed in stop_server
    proc = subprocess.Popen(cmd, env=cli_env(), stdout=log, stderr=subprocess.STDOUT)
    proc.log = log  # type: ignore[attr-defined]
    deadline = started + timeout
    while time.perf_counter() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the portal exited with {proc.returncode}; see {root / 'server.log'}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/releases", timeout=2).status_code == 200:
                return proc, time.perf_counter() - started
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    stop_server(proc)
    raise SystemExit(f"the portal did not answer within {timeout:.0f} s")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
    proc.log.close()  # type: ignore[attr-defined]


class RawClient:
    """A minimal HTTP/1.1 keep-alive client on asyncio streams: GET, Content-Length bodies only.

    It costs a few microseconds per request, where httpx costs about a millisecond of CPU: with 50
    clients on the same two cores as the server, httpx's own overhead would be most of the latency
    measured (``--client httpx`` shows it).
    """

    def __init__(self, port: int) -> None:
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, target: str) -> tuple[int, bytes]:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        assert self.reader is not None
        try:
            self.writer.write(f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
            head = await self.reader.readuntil(b"\r\n\r\n")
            lines = head.split(b"\r\n")
            status = int(lines[0].split()[1])
            length = next(int(line.split(b":", 1)[1]) for line in lines[1:]
                          if line.lower().startswith(b"content-length:"))
            return status, await self.reader.readexactly(length)
        except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration):
            await self.close()
            raise

    async def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None


async def load(port: int, counts: dict[str, int], clients: int, requests: int, max_seconds: float,
               seed: int, kind: str) -> dict[str, Any]:
    import httpx

    names = list(counts)
    rng = random.Random(seed)

    def plan(n: int) -> list[tuple[str, bool]]:
        return [(rng.choice(names), True) if rng.random() < 0.8 else (f"nobody-{rng.randrange(10**9)}", False)
                for _ in range(n)]

    latencies: list[float] = []
    errors: dict[str, int] = {}

    def error(what: str) -> None:
        errors[what] = errors.get(what, 0) + 1

    async def run(items: list[tuple[str, bool]], deadline: float) -> None:
        position = 0

        async def client() -> None:
            nonlocal position
            raw = RawClient(port) if kind == "raw" else None
            http = httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) if raw is None else None
            try:
                while position < len(items) and time.perf_counter() < deadline:
                    name, exists = items[position]
                    position += 1
                    asked = name.upper() if position % 3 == 0 else name  # look-ups are case-insensitive
                    t0 = time.perf_counter()
                    try:
                        if raw is not None:
                            status, body = await raw.get(f"/api/v1/lookup?username={asked}")
                        else:
                            assert http is not None
                            r = await http.get("/api/v1/lookup", params={"username": asked})
                            status, body = r.status_code, r.content
                    except (OSError, asyncio.IncompleteReadError, ValueError, StopIteration,
                            httpx.HTTPError) as exc:
                        error(type(exc).__name__)
                        continue
                    latencies.append(time.perf_counter() - t0)
                    if status != 200:
                        error(f"http {status}")
                    elif len(json.loads(body)["repositories"]) != (counts[name] if exists else 0):
                        error("wrong answer")
            finally:
                if raw is not None:
                    await raw.close()
                if http is not None:
                    await http.aclose()

        await asyncio.gather(*(client() for _ in range(clients)))

    # Warm-up (not measured): open every connection and run each code path a few times.
    await run(plan(4 * clients), time.perf_counter() + max_seconds)
    latencies.clear()
    errors.clear()
    started = time.perf_counter()
    await run(plan(requests), started + max_seconds)
    return {"latencies": latencies, "errors": errors, "seconds": time.perf_counter() - started,
            "planned": requests}


def percentile(sorted_ms: list[float], q: float) -> float:
    if not sorted_ms:
        return float("nan")
    return sorted_ms[min(len(sorted_ms) - 1, round(q / 100 * (len(sorted_ms) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repos", type=int, default=1_000_000)
    parser.add_argument("--users", type=int, default=None, help="usernames [default: repos / 5]")
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--max-seconds", type=float, default=60.0, help="stop the load after this long")
    parser.add_argument("--startup-timeout", type=float, default=180.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--client", choices=("raw", "httpx"), default="raw",
                        help="raw: a minimal asyncio HTTP/1.1 client (default); httpx: httpx.AsyncClient")
    parser.add_argument("--work", type=Path, default=ROOT / "bench-out" / "portal")
    parser.add_argument("--json-out", type=Path, default=ROOT / "bench-out" / "portal.json")
    args = parser.parse_args()
    users = args.users or max(1, args.repos // 5)
    if not 1 <= users <= args.repos:
        parser.error("--users must be between 1 and --repos")
    try:
        import httpx  # noqa: F401
    except ImportError:
        raise SystemExit("the benchmark needs httpx (the dev extra) and the portal extra") from None

    args.work.mkdir(parents=True, exist_ok=True)
    counts = write_release(args.work, args.repos, users, args.seed)
    port = free_port()
    proc, startup = start_server(args.work, port, args.startup_timeout)
    try:
        result = asyncio.run(load(port, counts, args.clients, args.requests, args.max_seconds, args.seed,
                                  args.client))
        memory = rss_mb(proc.pid)
    finally:
        stop_server(proc)

    ms = sorted(x * 1000 for x in result["latencies"])
    done = len(ms)
    p95 = percentile(ms, 95)
    report = {
        "repositories": args.repos, "usernames": users, "clients": args.clients, "client": args.client,
        "requests": done, "planned": result["planned"], "errors": result["errors"],
        "seconds": round(result["seconds"], 2), "throughput_rps": round(done / result["seconds"], 1),
        "latency_ms": {"p50": round(percentile(ms, 50), 2), "p95": round(p95, 2),
                       "p99": round(percentile(ms, 99), 2), "max": round(ms[-1], 2) if ms else None,
                       "mean": round(statistics.fmean(ms), 2) if ms else None},
        "startup_seconds_with_index_load": round(startup, 2),
        "server_rss_mb": round(memory, 1) if memory else None,
        "target": {"p95_ms_below": TARGET_P95_MS, "met": bool(ms) and p95 < TARGET_P95_MS},
        "cpus": os.cpu_count(),
    }
    lat = report["latency_ms"]
    print(f"portal look-ups: {args.repos:,} repositories, {users:,} usernames, {args.clients} clients "
          f"({args.client} client)")
    print(f"{'requests':>10} {'errors':>7} {'seconds':>8} {'req/s':>8} {'p50 ms':>8} {'p95 ms':>8} "
          f"{'p99 ms':>8} {'max ms':>8}")
    print(f"{done:>10,} {sum(result['errors'].values()):>7} {report['seconds']:>8} "
          f"{report['throughput_rps']:>8,.0f} {lat['p50']:>8} {lat['p95']:>8} {lat['p99']:>8} "
          f"{lat['max']:>8}")
    print(f"start-up with index load: {startup:.1f} s; server memory: {report['server_rss_mb']} MB")
    verdict = "met" if report["target"]["met"] else "NOT met"
    print(f"target p95 < {TARGET_P95_MS:.0f} ms: {verdict} (p95 {lat['p95']} ms)")
    if result["errors"]:
        print(f"errors: {result['errors']}")
    args.json_out.parent.mkdir(parents=True, exist_ok=True)
    args.json_out.write_text(json.dumps(report, indent=2) + "\n")
    print(f"wrote {args.json_out}")


if __name__ == "__main__":
    main()
