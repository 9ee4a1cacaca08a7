"""Ingest benchmark: `stackwright build` against datatrove on the same real code, in one run.

The corpus is the text files of this interpreter's standard library and site-packages, laid out as
a folder of repositories (``stdlib__asyncio``, ``pypi__numpy``, ...) and cached under ``--work``.
The same files are also committed to one git repository and written to a JSONL table
(``repo``, ``path``, ``content``), split into N files for N workers.

Timed, each into a fresh output folder, end to end (planning included):

* stackwright on the folder, on the git repository and on the JSONL table, with each worker count;
* datatrove ``JsonlReader -> ParquetWriter`` on the same JSONL files with
  ``LocalPipelineExecutor(tasks=N, workers=N)``.

Both write zstd Parquet at the same level (Arrow's default, 1, which is what datatrove uses), no
curation steps run, and every input is read once (untimed) before the first measurement so that
the page cache is warm for all. Every run is checked: it must write every corpus file and every
content byte.

One more stackwright run per worker count, ``curated``, reads the folder with language detection,
the language selection and the StarCoder quality filters on (``CURATE_STEPS``); its files/s and MB/s
count the input, and it is checked to keep some rows.

    .venv/bin/python benchmarks/ingest.py              # about 220 MB
    .venv/bin/python benchmarks/ingest.py --quick      # about 20 MB smoke run
    .venv/bin/python benchmarks/ingest.py --repeat 3   # best of three per measurement

The first run at a size builds the corpus, the git repository and the tables (a minute or so); later
runs reuse them.

The module's top level imports the standard library only: worker processes started with ``spawn``
re-import it, and heavy imports here would be timed as worker start-up.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import stat
import subprocess
import sys
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_WORK = ROOT / "bench-out" / "ingest"
CORPUS_VERSION = 2
MB = 1_000_000
MAX_FILE_BYTES = 1_000_000  # stackwright's default max_file_size: nothing is skipped as too large
BINARY_SUFFIXES = (
    ".so", ".pyc", ".pyo", ".pyd", ".dll", ".dylib", ".a", ".o", ".exe", ".whl", ".zip", ".gz",
    ".bz2", ".xz", ".zst", ".tar", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".pdf", ".woff", ".woff2",
    ".ttf", ".npy", ".npz", ".pkl", ".db", ".sqlite", ".mo", ".wav", ".bin",
)
METADATA_DIRS = (".dist-info", ".egg-info")
SKIP_DIRS = {"__pycache__", ".git", ".hg", ".svn", "site-packages", "dist-packages"}
GIT_ENV = {
    **os.environ,
    "GIT_AUTHOR_NAME": "bench",
    "GIT_AUTHOR_EMAIL": "bench@example.com",
    "GIT_COMMITTER_NAME": "bench",
    "GIT_COMMITTER_EMAIL": "bench@example.com",
    "GIT_AUTHOR_DATE": "2024-01-01T00:00:00Z",
    "GIT_COMMITTER_DATE": "2024-01-01T00:00:00Z",
    "GIT_CONFIG_NOSYSTEM": "1",
    "GIT_CONFIG_GLOBAL": os.devnull,
    "GIT_TERMINAL_PROMPT": "0",
    "LC_ALL": "C",
}


# --------------------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class CorpusFile:
    folder: str  # repository folder, ``owner__name``
    path: str  # "/"-separated, relative to the repository folder
    size: int


@dataclass
class Corpus:
    root: Path  # holds repos/, git/, table/, corpus.json
    files: list[CorpusFile]

    @property
    def repos(self) -> Path:
        return self.root / "repos"

    @property
    def git(self) -> Path:
        return self.root / "git" / "corpus.git"

    def table(self, parts: int) -> Path:
        return self.root / "table" / f"parts-{parts}"

    @property
    def content_bytes(self) -> int:
        return sum(f.size for f in self.files)


def repo_name(folder: str) -> str:
    """The repository name stackwright gives an ``owner__name`` folder."""
    owner, _, name = folder.partition("__")
    return f"{owner}/{name}"


def text_file(path: Path) -> bool:
    """A regular, non-empty UTF-8 file of at most MAX_FILE_BYTES with no NUL byte."""
    if path.suffix.lower() in BINARY_SUFFIXES or path.name.startswith(".git"):
        return False
    try:
        st = path.lstat()
        if not stat.S_ISREG(st.st_mode) or not 0 < st.st_size <= MAX_FILE_BYTES:
            return False
        data = path.read_bytes()
        data.decode("utf-8")
    except (OSError, UnicodeDecodeError):
        return False
    return b"\x00" not in data


def clean_name(rel: str) -> bool:
    """A path that every input keeps as is: valid UTF-8, no control characters."""
    try:
        rel.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return not any(ord(c) < 32 or ord(c) == 127 for c in rel)


def walk_text_files(top: Path) -> Iterator[tuple[str, int]]:
    """(relative path, size) of the text files under ``top``, in a deterministic order."""
    for folder, dirs, files in os.walk(top, followlinks=False):
        dirs[:] = sorted(d for d in dirs if d not in SKIP_DIRS and not d.endswith(METADATA_DIRS))
        for name in sorted(files):
            path = Path(folder, name)
            rel = path.relative_to(top).as_posix()
            if clean_name(rel) and text_file(path):
                yield rel, path.stat().st_size


def python_roots() -> list[tuple[int, str, Path]]:
    """(tier, owner, folder): the standard library and the running interpreter's site-packages
    (tier 0), then the base installation's site-packages when it is another folder (tier 1, used
    to top up the corpus: a virtual environment alone may hold too little text)."""
    paths = sysconfig.get_paths()
    roots = [(0, "stdlib", Path(paths["stdlib"])), (0, "pypi", Path(paths["purelib"]))]
    if paths["platlib"] != paths["purelib"]:
        roots.append((0, "pypi-platlib", Path(paths["platlib"])))
    base = sysconfig.get_paths(vars={"base": sys.base_prefix, "platbase": sys.base_exec_prefix})
    if base["purelib"] not in (paths["purelib"], paths["platlib"]):
        roots.append((1, "system", Path(base["purelib"])))
    return [r for r in roots if r[2].is_dir()]


def candidate_repos() -> list[tuple[str, Path, list[Path]]]:
    """(folder name, root, top-level entries) per package; loose modules form ``<owner>__toplevel``.

    A package found in two site-packages folders is taken from the first only.
    """
    repos: dict[str, tuple[int, Path, list[Path]]] = {}
    packages: set[str] = set()
    for tier, owner, root in python_roots():
        for entry in sorted(root.iterdir()):
            if entry.is_symlink() or entry.name in SKIP_DIRS or entry.name.startswith("."):
                continue
            if entry.name.endswith(METADATA_DIRS):
                continue
            if entry.is_dir() and owner != "stdlib":
                if entry.name in packages:
                    continue
                packages.add(entry.name)
            name = entry.name if entry.is_dir() else "toplevel"
            repos.setdefault(f"{owner}__{name}", (tier, root, []))[2].append(entry)
    # By tier, then by package name, so that a partial corpus mixes the standard library and
    # distributions.
    order = sorted(repos.items(), key=lambda kv: (kv[1][0], kv[0].partition("__")[2], kv[0]))
    return [(folder, root, entries) for folder, (_, root, entries) in order]


def repo_files(folder: str, root: Path, entries: list[Path]) -> list[CorpusFile]:
    files: list[CorpusFile] = []
    for entry in entries:
        if entry.is_dir():
            files += [CorpusFile(folder, f"{entry.name}/{rel}", size) for rel, size in walk_text_files(entry)]
        elif clean_name(entry.name) and text_file(entry):
            files.append(CorpusFile(folder, entry.name, entry.stat().st_size))
    return files


def select_files(target_bytes: int) -> tuple[list[CorpusFile], dict[str, Path]]:
    """Whole packages, in name order, until ``target_bytes``; a package that would overshoot by more
    than 10% is left out. Returns the files and each folder's source root."""
    chosen: list[CorpusFile] = []
    sources: dict[str, Path] = {}
    total = 0
    for folder, root, entries in candidate_repos():
        files = repo_files(folder, root, entries)
        size = sum(f.size for f in files)
        if not files or total + size > target_bytes * 1.1:
            continue
        chosen += files
        sources[folder] = root
        total += size
        if total >= target_bytes:
            break
    if total < target_bytes * 0.9:
        print(f"warning: only {total / MB:.0f} MB of text files found", file=sys.stderr)
    return chosen, sources


def link_or_copy(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def load_corpus(root: Path, target_mb: int) -> Corpus | None:
    meta = root / "corpus.json"
    try:
        data = json.loads(meta.read_text())
    except (OSError, ValueError):
        return None
    if data.get("version") != CORPUS_VERSION or data.get("target_mb") != target_mb:
        return None
    return Corpus(root, [CorpusFile(*f) for f in data["files"]])


def make_corpus(work: Path, target_mb: int) -> Corpus:
    root = work / f"corpus-{target_mb}mb"
    corpus = load_corpus(root, target_mb)
    if corpus is not None:
        print(f"corpus: reusing {root} ({len(corpus.files):,} files, {corpus.content_bytes / MB:.1f} MB)")
        return corpus
    folders = ", ".join(str(r[2]) for r in python_roots())
    print(f"corpus: collecting about {target_mb} MB of text files from {folders}")
    shutil.rmtree(root, ignore_errors=True)
    files, sources = select_files(target_mb * MB)
    corpus = Corpus(root, files)
    for f in files:
        link_or_copy(sources[f.folder] / f.path, corpus.repos / f.folder / f.path)
    rows = [[f.folder, f.path, f.size] for f in files]
    data = {"version": CORPUS_VERSION, "target_mb": target_mb, "files": rows}
    (root / "corpus.json").write_text(json.dumps(data))
    print(f"corpus: {len(files):,} files, {corpus.content_bytes / MB:.1f} MB in "
          f"{len(sources)} repositories under {corpus.repos}")
    return corpus


def git(git_dir: Path, *args: str, cwd: Path | None = None) -> str:
    config = ["-c", "core.autocrlf=false", "-c", "commit.gpgsign=false", "-c", "gc.auto=0"]
    cmd = ["git", *config, "--git-dir", str(git_dir), *args]
    proc = subprocess.run(cmd, cwd=cwd, env=GIT_ENV, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed: {proc.stderr.strip()}")
    return proc.stdout


def make_git(corpus: Corpus) -> Path:
    """One bare repository with the whole corpus in one commit, packed as a clone would be."""
    git_dir = corpus.git
    done = git_dir.parent / "done"
    if done.exists():
        return git_dir
    print(f"git: committing the corpus to {git_dir} (once)")
    shutil.rmtree(git_dir.parent, ignore_errors=True)
    git_dir.parent.mkdir(parents=True)
    subprocess.run(["git", "init", "-q", "--bare", str(git_dir)], env=GIT_ENV, check=True)
    tree = ["--work-tree", str(corpus.repos)]
    git(git_dir, *tree, "add", "-A", "-f", ".", cwd=corpus.repos)
    git(git_dir, *tree, "commit", "-q", "-m", "corpus", cwd=corpus.repos)
    git(git_dir, "repack", "-a", "-d", "-q")
    git(git_dir, "prune-packed")
    (git_dir / "index").unlink(missing_ok=True)
    count = len(git(git_dir, "ls-tree", "-r", "--name-only", "-z", "HEAD").split("\0")) - 1
    if count != len(corpus.files):
        raise RuntimeError(f"git holds {count} files, the corpus {len(corpus.files)}")
    done.write_text("ok\n")
    return git_dir


def split_contiguous(files: list[CorpusFile], parts: int) -> list[list[CorpusFile]]:
    """``parts`` runs of consecutive files with about equal content bytes."""
    total = sum(f.size for f in files)
    groups: list[list[CorpusFile]] = [[] for _ in range(parts)]
    seen = 0
    for f in files:
        groups[min(parts - 1, seen * parts // max(total, 1))].append(f)
        seen += f.size
    return groups


def make_table(corpus: Corpus, parts: int) -> Path:
    """The corpus as JSONL (repo, path, content), split into ``parts`` files of about equal size."""
    folder = corpus.table(parts)
    done = folder / ".done"
    if done.exists():
        return folder
    print(f"table: writing {folder} ({parts} file(s), once)")
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    for index, group in enumerate(split_contiguous(corpus.files, parts)):
        with open(folder / f"part-{index:05d}.jsonl", "w", encoding="utf-8") as out:
            for f in group:
                # Bytes, then decode: read_text would turn CRLF line ends into LF.
                content = (corpus.repos / f.folder / f.path).read_bytes().decode("utf-8")
                row = {"repo": repo_name(f.folder), "path": f.path, "content": content}
                out.write(json.dumps(row, ensure_ascii=False) + "\n")
    done.write_text("ok\n")
    return folder


def warm_page_cache(paths: list[Path]) -> int:
    """Read every file under ``paths`` once; returns the bytes read."""
    total = 0
    for top in paths:
        for folder, _, files in os.walk(top):
            for name in files:
                with open(os.path.join(folder, name), "rb") as fh:
                    while chunk := fh.read(1 << 20):
                        total += len(chunk)
    return total


# --------------------------------------------------------------------------------------- runs


@dataclass
class Measurement:
    tool: str
    input: str
    workers: int
    seconds: float
    files: int
    content_bytes: int
    output_bytes: int
    complete: bool  # every corpus file and content byte was written

    @property
    def files_per_s(self) -> float:
        return self.files / self.seconds

    @property
    def mb_per_s(self) -> float:
        return self.content_bytes / MB / self.seconds


RunTotals = tuple[float, int, int, int]  # seconds, rows, content bytes, Parquet bytes


def fresh(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


# The curated run: language detection and selection, then the StarCoder quality filters.
CURATE_STEPS = ["drop_empty", "languages", "language_filter", "quality"]
CURATED = "curated"


def run_stackwright(
    sources: list[Path], out: Path, workers: int, zstd_level: int, shard_size: int | None,
    steps: list[str] | None = None,
) -> RunTotals:
    """(seconds, rows, content bytes, Parquet bytes) of one build, end to end."""
    from stackwright.build import build
    from stackwright.config import load_build_config

    fresh(out)
    started = time.perf_counter()
    config = load_build_config(
        None, workers=workers, steps=steps or [], compression_level=zstd_level, shard_size=shard_size
    )
    result = build([str(s) for s in sources], out, config, progress=False)
    seconds = time.perf_counter() - started
    manifest = result.manifest
    return seconds, manifest["rows"], manifest["content_bytes"], manifest["file_bytes"]


@contextlib.contextmanager
def stderr_to(path: Path) -> Iterator[None]:
    """Send this process's stderr (fd 2, inherited by workers) to ``path``: datatrove logs per task."""
    sys.stderr.flush()
    saved = os.dup(2)
    with open(path, "ab") as log:
        os.dup2(log.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)


def parquet_totals(folder: Path, text_column: str) -> tuple[int, int, int]:
    """(rows, content bytes of ``text_column``, file bytes) of the Parquet files in ``folder``."""
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    rows = content = size = 0
    for path in sorted(folder.rglob("*.parquet")):
        pf = pq.ParquetFile(path)
        rows += pf.metadata.num_rows
        for batch in pf.iter_batches(columns=[text_column]):
            content += pc.sum(pc.binary_length(batch.column(0))).as_py() or 0
        size += path.stat().st_size
    return rows, content, size


def run_datatrove(table: Path, out: Path, workers: int, cdc: bool) -> RunTotals:
    """(seconds, rows, content bytes, Parquet bytes) of JsonlReader -> ParquetWriter, end to end."""
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import ParquetWriter

    fresh(out).mkdir()
    with stderr_to(out / "stderr.log"):
        started = time.perf_counter()
        executor = LocalPipelineExecutor(
            pipeline=[
                JsonlReader(str(table), text_key="content", id_key="path", glob_pattern="*.jsonl"),
                ParquetWriter(str(out / "data"), compression="zstd", use_content_defined_chunking=cdc),
            ],
            tasks=workers,
            workers=workers,
            logging_dir=str(out / "logs"),
            skip_completed=False,
        )
        executor.run()
        seconds = time.perf_counter() - started
    return (seconds, *parquet_totals(out / "data", "text"))


Runner = Callable[[], RunTotals]


def measure(tool: str, name: str, workers: int, runner: Runner, corpus: Corpus) -> Measurement:
    seconds, rows, content, size = runner()
    if name == CURATED:  # steps drop files: throughput counts the input, and some rows must remain
        complete = 0 < rows <= len(corpus.files)
        rows, content = len(corpus.files), corpus.content_bytes
    else:
        complete = rows == len(corpus.files) and content == corpus.content_bytes
    m = Measurement(tool, name, workers, seconds, rows, content, size, complete)
    flag = "" if complete else f"  INCOMPLETE: {rows:,} rows / {content:,} bytes"
    print(f"  {tool:<11} {name:<7} workers={workers}  {seconds:7.2f} s  {m.mb_per_s:6.1f} MB/s{flag}",
          flush=True)
    return m


def runners(corpus: Corpus, workers: int, args: argparse.Namespace) -> list[tuple[str, str, Runner]]:
    runs = args.work / "runs"
    table = corpus.table(workers)
    tables = sorted(table.glob("*.jsonl"))
    ours = partial(run_stackwright, workers=workers, zstd_level=args.zstd_level, shard_size=args.shard_size)
    return [
        ("stackwright", "folder", partial(ours, [corpus.repos], runs / f"sw-folder-{workers}")),
        ("stackwright", "git", partial(ours, [corpus.git], runs / f"sw-git-{workers}")),
        ("stackwright", "jsonl", partial(ours, tables, runs / f"sw-jsonl-{workers}")),
        ("stackwright", CURATED, partial(ours, [corpus.repos], runs / f"sw-curated-{workers}",
                                         steps=CURATE_STEPS)),
        ("datatrove", "jsonl", partial(run_datatrove, table, runs / f"dt-jsonl-{workers}", workers,
                                       args.datatrove_cdc)),
    ]


def run_all(corpus: Corpus, args: argparse.Namespace) -> list[Measurement]:
    """Every (tool, input, workers) once per repeat, interleaved; the best time of each is kept."""
    best: dict[tuple[str, str, int], Measurement] = {}
    for repeat in range(args.repeat):
        print(f"round {repeat + 1}/{args.repeat}")
        for workers in args.workers:
            for tool, name, runner in runners(corpus, workers, args):
                m = measure(tool, name, workers, runner, corpus)
                key = (tool, name, workers)
                if key not in best or m.seconds < best[key].seconds:
                    best[key] = m
    return list(best.values())


# --------------------------------------------------------------------------------------- report


def _busy_loops(start: float, seconds: float) -> int:
    """Loops of pure-Python work done between ``start`` (a ``time.time()``) and ``seconds`` later."""
    while time.time() < start:
        time.sleep(0.001)
    loops = 0
    while time.time() < start + seconds:
        sum(range(10_000))
        loops += 1
    return loops


def cpu_parallelism(workers: int, seconds: float = 0.5) -> float:
    """How many times the work of one busy process ``workers`` busy processes get done at once on this
    machine: ``workers`` on idle cores, less where cores are shared or the CPU time is capped."""
    import multiprocessing as mp

    alone = _busy_loops(time.time(), seconds)
    with mp.get_context("spawn").Pool(workers) as pool:
        start = time.time() + 1.0  # time for every worker to start
        loops = pool.starmap(_busy_loops, [(start, seconds)] * workers)
    return sum(loops) / alone


def scaling(results: list[Measurement], base: int) -> dict[tuple[str, str, int], float]:
    """Throughput with N workers over throughput with ``base`` workers, per tool and input."""
    first = {(m.tool, m.input): m for m in results if m.workers == base}
    return {
        (m.tool, m.input, m.workers): first[(m.tool, m.input)].seconds / m.seconds
        for m in results
        if (m.tool, m.input) in first
    }


def ours_vs_datatrove(results: list[Measurement]) -> dict[int, float]:
    """Per worker count: stackwright's MB/s on the JSONL over datatrove's (above 1: stackwright faster)."""
    by_key = {(m.tool, m.input, m.workers): m for m in results}
    ratios: dict[int, float] = {}
    for (tool, name, workers), m in by_key.items():
        other = by_key.get(("datatrove", "jsonl", workers))
        if tool == "stackwright" and name == "jsonl" and other:
            ratios[workers] = m.mb_per_s / other.mb_per_s
    return ratios


def print_table(results: list[Measurement], base: int) -> None:
    scale = scaling(results, base)
    header = (f"{'tool':<12}{'input':<8}{'workers':>8}{'files':>9}{'MB':>9}{'out MB':>9}{'seconds':>9}"
              f"{'files/s':>10}{'MB/s':>8}{f'vs {base}w':>8}  complete")
    print()
    print(header)
    print("-" * len(header))
    for m in results:
        ratio = scale.get((m.tool, m.input, m.workers))
        print(f"{m.tool:<12}{m.input:<8}{m.workers:>8}{m.files:>9,}{m.content_bytes / MB:>9.1f}"
              f"{m.output_bytes / MB:>9.1f}{m.seconds:>9.2f}{m.files_per_s:>10,.0f}{m.mb_per_s:>8.1f}"
              f"{f'{ratio:.2f}x' if ratio else '':>8}  {'yes' if m.complete else 'NO'}")
    print()
    for workers, ratio in sorted(ours_vs_datatrove(results).items()):
        print(f"JSONL, {workers} worker(s): stackwright / datatrove throughput = {ratio:.2f}x")


def default_shard_size() -> int:
    from stackwright.config import BuildConfig

    return BuildConfig.model_fields["shard_size"].default


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in ("stackwright", "pyarrow", "datatrove"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    found["git"] = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout.strip()
    return found


def write_json(
    path: Path,
    corpus: Corpus,
    results: list[Measurement],
    args: argparse.Namespace,
    parallel: dict[int, float],
) -> None:
    base = min(args.workers)
    scale = scaling(results, base)
    data: dict[str, Any] = {
        "command": [sys.executable, *sys.argv],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions(),
                    "cpu_parallelism": {str(w): round(x, 2) for w, x in parallel.items()}},
        "corpus": {"path": str(corpus.root), "files": len(corpus.files),
                   "content_mb": round(corpus.content_bytes / MB, 2),
                   "repositories": len({f.folder for f in corpus.files})},
        "settings": {"repeat": args.repeat, "zstd_level": args.zstd_level, "steps": [],
                     "curated_steps": CURATE_STEPS,
                     "shard_size": args.shard_size or default_shard_size(),
                     "datatrove_cdc": args.datatrove_cdc, "timing": "best wall-clock time of the repeats"},
        "results": [
            {**asdict(m), "seconds": round(m.seconds, 3), "files_per_s": round(m.files_per_s, 1),
             "mb_per_s": round(m.mb_per_s, 2),
             f"scaling_vs_{base}_workers": round(scale.get((m.tool, m.input, m.workers), 0), 3) or None}
            for m in results
        ],
        "stackwright_over_datatrove_jsonl": {
            str(w): round(r, 3) for w, r in sorted(ours_vs_datatrove(results).items())
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data, indent=2) + "\n")
    print(f"results: {path}")


# --------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK, help="work folder (corpus cache, runs)")
    parser.add_argument("--mb", type=int, help="corpus size in MB [default: 220, 20 with --quick]")
    parser.add_argument("--quick", action="store_true", help="small smoke run (about 20 MB)")
    parser.add_argument("--workers", default="1,2", help="comma-separated worker counts [default: 1,2]")
    parser.add_argument("--repeat", type=int, default=1, help="runs per measurement; the best is kept")
    parser.add_argument("--zstd-level", type=int, default=1,
                        help="stackwright's zstd level [default: 1, Arrow's default, which datatrove uses]")
    parser.add_argument("--shard-mb", type=int, help="stackwright's input MB per shard [default: its own]")
    parser.add_argument("--datatrove-cdc", action="store_true",
                        help="let datatrove's ParquetWriter use content-defined chunking (its default)")
    parser.add_argument("--json-out", type=Path, help="results file [default: WORK/results.json]")
    args = parser.parse_args(argv)
    args.mb = args.mb or (20 if args.quick else 220)
    args.work = args.work.resolve()
    args.workers = sorted({int(w) for w in args.workers.split(",") if w.strip()})
    args.json_out = (args.json_out or args.work / "results.json").resolve()
    args.shard_size = args.shard_mb * MB if args.shard_mb else None
    if args.work.is_relative_to(ROOT / "src"):
        parser.error("--work must not be inside src/")
    if args.repeat < 1 or not args.workers or min(args.workers) < 1:
        parser.error("--repeat and --workers must be positive")
    return args


def check_dependencies() -> None:
    try:
        import datatrove  # noqa: F401
        import orjson  # noqa: F401  (datatrove's JsonlReader needs it)
    except ImportError as exc:
        sys.exit(f"error: {exc.name} is not installed; pip install 'datatrove>=0.3' orjson")


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    check_dependencies()
    corpus = make_corpus(args.work, args.mb)
    make_git(corpus)
    for workers in args.workers:
        make_table(corpus, workers)
    warmed = warm_page_cache([corpus.repos, corpus.git, corpus.root / "table"])
    print(f"page cache: read {warmed / MB:.0f} MB of inputs once (untimed)")
    # Import both tools (and what datatrove imports lazily on first use) in this process before
    # timing, as a long-running driver would have them.
    import datatrove.executor  # noqa: F401
    import orjson  # noqa: F401
    import pyarrow.parquet  # noqa: F401

    import stackwright.build  # noqa: F401

    parallel = {w: cpu_parallelism(w) for w in args.workers if w > 1}
    for workers, speedup in parallel.items():
        print(f"cpu probe: {workers} busy processes do {speedup:.2f}x the work of one "
              f"({os.cpu_count()} CPUs reported); the best scaling to expect")

    results = run_all(corpus, args)
    print_table(results, min(args.workers))
    write_json(args.json_out, corpus, results, args, parallel)


if __name__ == "__main__":
    main()
