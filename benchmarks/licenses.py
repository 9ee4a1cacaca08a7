"""License detection benchmark: stackwright's fast matcher against ScanCode on the same files, in one run.

The corpus is a folder of license files with a ``manifest.jsonl`` (``path``, ``spdx``, ``accept``):
choosealicense.com's texts (templates and filled in) and real-world LICENSE files. Both tools read
every file in place and are scored the same way:

* correct: the reported expression is one of ``accept`` (case-insensitive); a NOASSERTION truth
  (no license should be reported) is correct only when the tool reports NOASSERTION;
* false permissive: the truth is NOASSERTION or not ``permissive`` under stackwright's default
  policy, yet the reported expression's category is ``permissive`` (the costly mistake for a
  dataset that keeps permissive code only).

Timed separately: loading each tool's index (first call in this process), then detection alone
(ScanCode gets one untimed warm-up call first: its first call loads more data).
stackwright gets the file bytes read beforehand; ``scancode.api.get_licenses`` takes a path, so
its time includes reading the file (negligible next to matching). stackwright is timed twice:
"fast" clears the matcher's cache before every pass (real matching), "cached" keeps it warm (a
crawl meets the same license texts again and again).

    .venv/bin/python benchmarks/licenses.py
    .venv/bin/python benchmarks/licenses.py --extra .venv/lib/python3.11/site-packages
    .venv/bin/python benchmarks/licenses.py --no-scancode --repeat 20
    .venv/bin/python benchmarks/licenses.py --cases-builtin

``--cases-builtin`` also scores (stackwright only) the repositories and files that
``benchmarks/license_cases.py`` assembles from licensedcode-data texts: patent grants beside a
permissive license, licenses naming other licenses, LGPL-3.0 with the GPL-3.0 text, markup, READMEs.

``--extra DIR`` also times (does not score) both tools on the license files found under DIR
(``license_file_kind`` picks them: ``LICENSE*``, ``COPYING*``, ``*.dist-info/licenses/*``, ...),
at most ``--extra-limit`` of them, taken in turn from each top-level folder of DIR.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import json
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path("/work/shared/corpora/licenses")
DEFAULT_OUT = ROOT / "bench-out" / "licenses.json"
NOASSERTION = "NOASSERTION"
PERMISSIVE = "permissive"


# --------------------------------------------------------------------------------------- corpus


@dataclass(frozen=True)
class Case:
    path: str  # relative to the corpus folder
    spdx: str  # the truth; NOASSERTION: no license should be reported
    accept: tuple[str, ...]
    data: bytes


def load_corpus(root: Path) -> list[Case]:
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        print(f"error: no corpus at {root} (expected {manifest}); pass --corpus", file=sys.stderr)
        sys.exit(2)
    cases: list[Case] = []
    with open(manifest, encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            accept = tuple(row.get("accept") or [row["spdx"]])
            cases.append(Case(row["path"], row["spdx"], accept, (root / row["path"]).read_bytes()))
    return cases


def extra_files(top: Path, limit: int) -> list[Path]:
    """Up to ``limit`` license files under ``top``, taken in turn from each of its top-level entries
    (one package, one ``*.dist-info``) so that one big folder (ScanCode's own license database holds
    thousands) does not fill the sample; deterministic."""
    from stackwright.curate.licenses.evidence import license_file_kind

    groups: dict[str, list[Path]] = {}
    for folder, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = Path(folder, name)
            rel = path.relative_to(top).as_posix()
            if license_file_kind(rel) and path.is_file() and not path.is_symlink():
                groups.setdefault(rel.split("/", 1)[0], []).append(path)
    found: list[Path] = []
    queues = [groups[k] for k in sorted(groups)]
    depth = 0
    while len(found) < limit and any(depth < len(q) for q in queues):
        found += [q[depth] for q in queues if depth < len(q)][: limit - len(found)]
        depth += 1
    return found


# --------------------------------------------------------------------------------------- scoring


def is_correct(case: Case, got: str) -> bool:
    got_l = got.strip().lower()
    if case.spdx == NOASSERTION:
        return got_l == NOASSERTION.lower()
    return any(got_l == a.strip().lower() for a in case.accept)


def category(policy: Any, expression: str) -> str:
    return policy.category(None if expression == NOASSERTION else expression)


def is_false_permissive(policy: Any, case: Case, got: str) -> bool:
    truth_permissive = case.spdx != NOASSERTION and category(policy, case.spdx) == PERMISSIVE
    return not truth_permissive and category(policy, got) == PERMISSIVE


@dataclass
class Result:
    tool: str
    index_load_s: float
    pass_seconds: list[float]  # one detection pass over all files each
    files: int
    reported: list[str] = field(default_factory=list)  # per case, in corpus order
    correct: int = 0
    false_permissive: int = 0
    wrong: list[dict[str, str]] = field(default_factory=list)

    @property
    def median_s(self) -> float:
        return statistics.median(self.pass_seconds)

    @property
    def files_per_s(self) -> float:
        return self.files / self.median_s if self.median_s > 0 else float("inf")

    @property
    def ms_per_file(self) -> float:
        return 1000 * self.median_s / self.files

    @property
    def accuracy(self) -> float:
        return 100 * self.correct / self.files

    def score(self, cases: list[Case], policy: Any) -> None:
        self.correct = self.false_permissive = 0
        self.wrong = []
        for case, got in zip(cases, self.reported, strict=True):
            fp = is_false_permissive(policy, case, got)
            self.false_permissive += fp
            if is_correct(case, got):
                self.correct += 1
            else:
                self.wrong.append({"path": case.path, "truth": case.spdx, "got": got,
                                   "false_permissive": fp})

    def to_json(self) -> dict[str, Any]:
        return {
            "tool": self.tool, "files": self.files, "correct": self.correct,
            "accuracy_pct": round(self.accuracy, 2), "false_permissive": self.false_permissive,
            "index_load_s": round(self.index_load_s, 3), "median_pass_s": round(self.median_s, 4),
            "pass_seconds": [round(s, 4) for s in self.pass_seconds],
            "files_per_s": round(self.files_per_s, 1), "ms_per_file": round(self.ms_per_file, 3),
            "wrong": self.wrong,
        }


# --------------------------------------------------------------------------------------- tools


def stackwright_detector() -> tuple[Any, float]:
    """The detector ``licenses`` steps use, and the seconds its first load took in this process."""
    started = time.perf_counter()
    from stackwright.config import LicenseConfig
    from stackwright.curate.licenses.database import load_index
    from stackwright.curate.licenses.steps import detector_for

    load_index()
    detector = detector_for(LicenseConfig())
    return detector, time.perf_counter() - started


def time_stackwright(detector: Any, blobs: list[bytes], repeat: int, cached: bool
                     ) -> tuple[list[float], list[str]]:
    """Seconds per pass over ``blobs`` and the last pass's expressions. Uncached: the matcher's cache
    is cleared before each pass; cached: one untimed pass fills it first."""
    cache = getattr(detector.matcher, "_cache", None)
    if cache is None:
        sys.exit("error: the matcher has no _cache to clear; update time_stackwright in this benchmark")
    if cached:
        cache.clear()
        for data in blobs:
            detector.detect_data(data)
    seconds: list[float] = []
    reported: list[str] = []
    for _ in range(repeat):
        if not cached:
            cache.clear()
        started = time.perf_counter()
        reported = [detector.detect_data(data).spdx for data in blobs]
        seconds.append(time.perf_counter() - started)
    return seconds, reported


def scancode_available() -> bool:
    return all(importlib.util.find_spec(name) is not None for name in ("scancode", "licensedcode"))


def scancode_index(warmup: Path) -> tuple[float, float]:
    """Seconds to load ScanCode's index (first ``get_index()``), then seconds of one untimed warm-up
    ``get_licenses`` call: the first call also loads the license database and SPDX mapping."""
    started = time.perf_counter()
    from licensedcode.cache import get_index
    from scancode.api import get_licenses

    get_index()
    loaded = time.perf_counter()
    get_licenses(str(warmup))
    return loaded - started, time.perf_counter() - loaded


def time_scancode(paths: list[Path], repeat: int) -> tuple[list[float], list[str]]:
    from scancode.api import get_licenses

    seconds: list[float] = []
    reported: list[str] = []
    for _ in range(repeat):
        started = time.perf_counter()
        found = [get_licenses(str(p)).get("detected_license_expression_spdx") for p in paths]
        seconds.append(time.perf_counter() - started)
        reported = [f or NOASSERTION for f in found]
    return seconds, reported


# --------------------------------------------------------------------------------------- report


def print_table(results: list[Result], title: str, scored: bool = True) -> None:
    header = f"{'tool':<22}{'files':>7}"
    if scored:
        header += f"{'correct':>10}{'accuracy':>10}{'false perm':>12}"
    header += f"{'files/s':>10}{'ms/file':>9}{'index load s':>14}"
    print()
    print(title)
    print(header)
    print("-" * len(header))
    for r in results:
        line = f"{r.tool:<22}{r.files:>7}"
        if scored:
            line += f"{f'{r.correct}/{r.files}':>10}{f'{r.accuracy:.1f}%':>10}{r.false_permissive:>12}"
        line += f"{r.files_per_s:>10,.0f}{r.ms_per_file:>9.2f}{r.index_load_s:>14.2f}"
        print(line)


def print_wrong(result: Result) -> None:
    print()
    if not result.wrong:
        print(f"{result.tool}: no wrong files")
        return
    print(f"{result.tool}: {len(result.wrong)} wrong")
    for w in result.wrong:
        flag = "  [false permissive]" if w["false_permissive"] else ""
        print(f"  {w['path']:<52} truth={w['truth']:<22} got={w['got']}{flag}")


def speed_ratio(ours: Result, theirs: Result | None) -> float | None:
    if theirs is None or ours.median_s <= 0:
        return None
    return ours.files_per_s / theirs.files_per_s


def versions() -> dict[str, str]:
    from importlib import metadata

    found = {"python": platform.python_version()}
    for name in ("stackwright", "scancode-toolkit"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            found[name] = metadata.version(name)
    return found


# --------------------------------------------------------------------------------------- main


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS,
                        help=f"folder with manifest.jsonl [default: {DEFAULT_CORPUS}]")
    parser.add_argument("--repeat", type=int, default=5, help="stackwright passes; the median is reported")
    parser.add_argument("--scancode-repeat", type=int, default=1, help="ScanCode passes [default: 1]")
    parser.add_argument("--no-scancode", action="store_true", help="time stackwright only")
    parser.add_argument("--extra", type=Path, metavar="DIR",
                        help="also time (unscored) both tools on the license files under DIR")
    parser.add_argument("--extra-limit", type=int, default=300, help="at most this many --extra files")
    parser.add_argument("--cases-builtin", action="store_true",
                        help="also score the cases built from real texts (benchmarks/license_cases.py)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT,
                        help=f"results file [default: {DEFAULT_OUT}]")
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.scancode_repeat < 1 or args.extra_limit < 1:
        parser.error("--repeat, --scancode-repeat and --extra-limit must be positive")
    if args.extra is not None and not args.extra.is_dir():
        parser.error(f"--extra {args.extra}: not a folder")
    return args


def run_extra(args: argparse.Namespace, detector: Any, sw_load: float, sc_load: float | None
              ) -> dict[str, Any]:
    paths = extra_files(args.extra, args.extra_limit)
    blobs = [p.read_bytes() for p in paths]
    size = sum(len(b) for b in blobs)
    folders = len({p.relative_to(args.extra).parts[0] for p in paths})
    print(f"\nextra: {len(paths)} license files from {folders} top-level folders, {size / 1e6:.2f} MB "
          f"under {args.extra} (timed, not scored)")
    results: list[Result] = []
    if not paths:
        return {"folder": str(args.extra), "files": 0}
    secs, ours = time_stackwright(detector, blobs, args.repeat, cached=False)
    fast = Result("stackwright fast", sw_load, secs, len(paths), ours)
    results.append(fast)
    secs, _ = time_stackwright(detector, blobs, args.repeat, cached=True)
    results.append(Result("stackwright cached", sw_load, secs, len(paths)))
    theirs = None
    if sc_load is not None:
        secs, reported = time_scancode(paths, args.scancode_repeat)
        theirs = Result("scancode", sc_load, secs, len(paths), reported)
        results.append(theirs)
    print_table(results, "extra sample (unscored)", scored=False)
    data: dict[str, Any] = {"folder": str(args.extra), "files": len(paths), "bytes": size,
                            "top_level_folders": folders,
                            "results": [r.to_json() | {"correct": None, "accuracy_pct": None,
                                                       "false_permissive": None, "wrong": None}
                                        for r in results]}
    ratio = speed_ratio(fast, theirs)
    if ratio is not None and theirs is not None:
        agree = sum(a.lower() == b.lower() for a, b in zip(fast.reported, theirs.reported, strict=True))
        found_ours = sum(a != NOASSERTION for a in fast.reported)
        found_theirs = sum(b != NOASSERTION for b in theirs.reported)
        print(f"speed: stackwright fast / scancode = {ratio:.1f}x files/s; same expression on "
              f"{agree}/{len(paths)} files; a license found on {found_ours} (stackwright) and "
              f"{found_theirs} (scancode)")
        data |= {"stackwright_over_scancode": round(ratio, 2), "same_expression": agree,
                 "found_stackwright": found_ours, "found_scancode": found_theirs}
    return data


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    cases = load_corpus(args.corpus)
    blobs = [c.data for c in cases]
    print(f"corpus: {len(cases)} files, {sum(map(len, blobs)) / 1e3:.0f} KB from {args.corpus}")

    run_scancode = not args.no_scancode
    if run_scancode and not scancode_available():
        print("note: scancode-toolkit is not installed in this interpreter; timing stackwright only "
              "(pip install scancode-toolkit, or pass --no-scancode to silence this)")
        run_scancode = False

    detector, sw_load = stackwright_detector()
    policy = detector.policy
    print(f"stackwright: index loaded in {sw_load:.2f} s; {args.repeat} pass(es) per measurement")
    results: list[Result] = []
    secs, reported = time_stackwright(detector, blobs, args.repeat, cached=False)
    fast = Result("stackwright fast", sw_load, secs, len(cases), reported)
    secs, reported = time_stackwright(detector, blobs, args.repeat, cached=True)
    cached = Result("stackwright cached", sw_load, secs, len(cases), reported)
    results += [fast, cached]

    theirs: Result | None = None
    sc_load: float | None = None
    sc_warmup: float | None = None
    if run_scancode:
        sc_load, sc_warmup = scancode_index(args.corpus / cases[0].path)
        print(f"scancode: index loaded in {sc_load:.2f} s, first call (untimed warm-up) {sc_warmup:.2f} s; "
              f"{args.scancode_repeat} pass(es)")
        secs, reported = time_scancode([args.corpus / c.path for c in cases], args.scancode_repeat)
        theirs = Result("scancode", sc_load, secs, len(cases), reported)
        results.append(theirs)

    for r in results:
        r.score(cases, policy)
    print_table(results, f"corpus: {args.corpus} (median of passes)")
    ratio = speed_ratio(fast, theirs)
    print()
    if ratio is not None and theirs is not None:
        print(f"speed: stackwright fast / scancode = {ratio:.1f}x files/s (uncached matching)")
        print(f"accuracy: stackwright {fast.accuracy:.1f}% ({fast.correct}/{fast.files}), "
              f"scancode {theirs.accuracy:.1f}% ({theirs.correct}/{theirs.files})")
    else:
        print(f"accuracy: stackwright {fast.accuracy:.1f}% ({fast.correct}/{fast.files})")
    for r in (fast, theirs):
        if r is not None:
            print_wrong(r)

    data: dict[str, Any] = {
        "command": [sys.executable, *sys.argv],
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), **versions()},
        "corpus": {"path": str(args.corpus), "files": len(cases), "bytes": sum(map(len, blobs))},
        "settings": {"repeat": args.repeat, "scancode_repeat": args.scancode_repeat,
                     "timing": "median pass; stackwright fast clears the matcher cache before each pass"},
        "results": [r.to_json() for r in results],
        "stackwright_over_scancode": round(ratio, 2) if ratio is not None else None,
    }
    if sc_warmup is not None:
        data["scancode_warmup_call_s"] = round(sc_warmup, 3)
    if args.extra is not None:
        data["extra"] = run_extra(args, detector, sw_load, sc_load)
    if args.cases_builtin:
        sys.path.insert(0, str(Path(__file__).resolve().parent))
        import license_cases

        data["cases_builtin"] = license_cases.run()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(data, indent=2) + "\n")
    print(f"\nresults: {args.out}")


if __name__ == "__main__":
    main()
