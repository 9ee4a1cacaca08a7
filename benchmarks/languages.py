"""Language detection benchmark: stackwright against two baselines on the same files, in one run.

Accuracy on a labelled corpus (``manifest.jsonl``: ``path``, ``language`` as a GitHub Linguist name,
``ambiguous_ext`` for extensions several languages share), overall, on ambiguous extensions and per
language, for:

* stackwright: ``LanguageDetector.detect(file name, content)`` (the fast path where the name or
  extension is certain, else go-enry's full strategy chain on the content);
* enry's extension-only answer: ``enry.get_language_by_extension(file name)``;
* pygments' file-name lexer: ``pygments.lexers.get_lexer_for_filename(file name)`` (its lexer names
  mapped to Linguist's where they differ only in spelling).

Speed, on the corpus and on the real files of this interpreter's standard library and site-packages:

* the path-only fast path (``LanguageDetector.by_path``), files/s on one core, with the share of
  paths it answers;
* the full detection with content (language, type and the vendored/generated/documentation/dotfile
  flags), files/s on one core.

    .venv/bin/python benchmarks/languages.py
    .venv/bin/python benchmarks/languages.py --corpus ../shared/corpora/languages --repeat 5
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import sysconfig
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CORPUS = Path("/work/shared/corpora/languages")
DEFAULT_OUT = ROOT / "bench-out" / "languages.json"

# pygments lexer names that are Linguist names spelt another way.
PYGMENTS_TO_LINGUIST = {
    "Bash": "Shell", "Shell": "Shell", "Sh": "Shell", "Text only": "Text", "Objective-C": "Objective-C",
    "Matlab": "MATLAB", "Elixir": "Elixir", "Erlang": "Erlang", "Scheme": "Scheme", "TeX": "TeX",
    "Docker": "Dockerfile", "Makefile": "Makefile", "Base Makefile": "Makefile", "PowerShell": "PowerShell",
    "Perl6": "Raku", "Raku": "Raku", "Vue": "Vue", "JSON": "JSON", "YAML": "YAML", "Markdown": "Markdown",
    "Julia": "Julia", "Fortran": "Fortran", "FortranFixed": "Fortran", "PHP": "PHP", "HTML+PHP": "PHP",
    "Jupyter Notebook": "Jupyter Notebook", "Transact-SQL": "SQL", "MySQL": "SQL",
    "PostgreSQL SQL dialect": "SQL", "SQL": "SQL", "C#": "C#", "F#": "F#", "Groovy": "Groovy",
    "Kotlin": "Kotlin",
}


def load_corpus(root: Path) -> list[dict[str, Any]]:
    manifest = root / "manifest.jsonl"
    if not manifest.is_file():
        sys.exit(f"error: {manifest} not found (pass --corpus)")
    rows = [json.loads(line) for line in manifest.read_text().splitlines() if line.strip()]
    for row in rows:
        row["data"] = (root / row["path"]).read_bytes()
        row["name"] = row.get("filename") or row["path"].rsplit("/", 1)[-1]
    return rows


def pygments_name(filename: str, data: bytes) -> str | None:
    from pygments.lexers import get_lexer_for_filename
    from pygments.util import ClassNotFound

    try:
        lexer = get_lexer_for_filename(filename, code=data[:4096].decode("utf-8", "replace"))
    except ClassNotFound:
        return None
    return PYGMENTS_TO_LINGUIST.get(lexer.name, lexer.name)


def score(rows: list[dict[str, Any]], answers: list[str | None]) -> dict[str, Any]:
    per: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    correct = ambiguous = ambiguous_correct = 0
    wrong = []
    for row, got in zip(rows, answers, strict=True):
        ok = got == row["language"]
        correct += ok
        per[row["language"]][0] += ok
        per[row["language"]][1] += 1
        if row.get("ambiguous_ext"):
            ambiguous += 1
            ambiguous_correct += ok
        if not ok:
            wrong.append({"path": row["path"], "truth": row["language"], "got": got})
    return {
        "correct": correct, "total": len(rows), "accuracy": correct / len(rows),
        "ambiguous_correct": ambiguous_correct, "ambiguous_total": ambiguous,
        "ambiguous_accuracy": ambiguous_correct / ambiguous if ambiguous else None,
        "per_language": {k: {"correct": v[0], "total": v[1]} for k, v in sorted(per.items())},
        "wrong": wrong,
    }


def real_files(limit: int) -> list[tuple[str, bytes]]:
    """Text-ish files of this interpreter's stdlib and site-packages: (repository-relative path, bytes)."""
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    out: list[tuple[str, bytes]] = []
    for root in roots:
        for folder, dirs, files in os.walk(root):
            # ScanCode's license database (22,000 rule texts) would swamp the sample.
            skip = {"__pycache__", "licensedcode", "site-packages" if root == roots[0] else ""}
            dirs[:] = sorted(d for d in dirs if d not in skip)
            for name in sorted(files):
                if name.endswith((".pyc", ".so", ".png", ".gif", ".whl", ".zip", ".gz")):
                    continue
                path = Path(folder) / name
                try:
                    data = path.read_bytes()[:1_000_000]
                except OSError:
                    continue
                out.append((str(path.relative_to(root)), data))
                if len(out) >= limit:
                    return out
    return out


def timed(fn: Any, items: list, repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        for item in items:
            fn(*item)
        best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--repeat", type=int, default=5, help="timing passes (best is reported)")
    parser.add_argument("--real-files", type=int, default=30_000, help="real files for the speed runs")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = parser.parse_args()

    import enry

    from stackwright.curate.languages import LanguageDetector

    rows = load_corpus(args.corpus)
    detector = LanguageDetector()
    results: dict[str, Any] = {
        "stackwright": score(rows, [detector.detect(r["name"], r["data"]).language for r in rows]),
        "enry extension-only": score(rows, [enry.get_language_by_extension(r["name"]).language or None
                                            for r in rows]),
        "pygments filename": score(rows, [pygments_name(r["name"], r["data"]) for r in rows]),
    }

    print(f"corpus: {len(rows)} files in {len({r['language'] for r in rows})} languages from {args.corpus}")
    print(f"\n{'method':22} {'accuracy':>9} {'correct':>9} {'ambiguous ext':>14}")
    for name, res in results.items():
        amb = f"{res['ambiguous_correct']}/{res['ambiguous_total']} ({res['ambiguous_accuracy']:.0%})"
        print(f"{name:22} {res['accuracy']:>9.1%} {res['correct']:>4}/{res['total']:<4} {amb:>14}")

    print(f"\n{'language':18}" + "".join(f"{n[:16]:>18}" for n in results))
    for language in sorted({r["language"] for r in rows}):
        cells = [results[n]["per_language"][language] for n in results]
        print(f"{language:18}" + "".join(f"{c['correct']:>14}/{c['total']:<3}" for c in cells))
    for name, res in results.items():
        if res["wrong"]:
            shown = ", ".join(f"{w['path']} -> {w['got']}" for w in res["wrong"][:12])
            more = f" (+{len(res['wrong']) - 12} more)" if len(res["wrong"]) > 12 else ""
            print(f"\n{name} wrong: {shown}{more}")

    # Speed, on one core.
    real = real_files(args.real_files)
    paths = [(p,) for p, _ in real]
    answered = sum(detector.by_path(p)[0] is not None for (p,) in paths)
    cold = LanguageDetector()
    start = time.perf_counter()
    for (p,) in paths:
        cold.by_path(p)
    cold_seconds = time.perf_counter() - start
    path_seconds = timed(detector.by_path, paths, args.repeat)
    full_seconds = timed(detector.detect, real, args.repeat)
    corpus_seconds = timed(detector.detect, [(r["name"], r["data"]) for r in rows], args.repeat)
    megabytes = sum(len(d) for _, d in real) / 1e6
    speed = {
        "real_files": len(real),
        "real_megabytes": round(megabytes, 1),
        "path_only_files_per_s": len(paths) / path_seconds,
        "path_only_first_pass_files_per_s": len(paths) / cold_seconds,
        "path_only_answered_share": answered / len(paths),
        "full_files_per_s": len(real) / full_seconds,
        "full_mb_per_s": megabytes / full_seconds,
        "corpus_full_files_per_s": len(rows) / corpus_seconds,
    }
    print(f"\nspeed on one core, {len(real):,} real files ({megabytes:.0f} MB) of this Python installation:")
    print(f"  path-only fast path: {speed['path_only_files_per_s']:,.0f} files/s "
          f"(first pass, memo cold: {speed['path_only_first_pass_files_per_s']:,.0f}); "
          f"answers {speed['path_only_answered_share']:.1%} of paths, the rest need content")
    print(f"  with content (language, type, flags): {speed['full_files_per_s']:,.0f} files/s, "
          f"{speed['full_mb_per_s']:.1f} MB/s; on the corpus: "
          f"{speed['corpus_full_files_per_s']:,.0f} files/s")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({
        "command": " ".join(sys.argv),
        "machine": {"python": platform.python_version(), "cpus": os.cpu_count(),
                    "platform": platform.platform()},
        "corpus": str(args.corpus),
        "results": results,
        "speed": speed,
        "method_counts": dict(Counter(detector.detect(r["name"], r["data"]).method for r in rows)),
    }, indent=2))
    print(f"\nresults: {args.out}")


if __name__ == "__main__":
    main()
