"""PII and secrets: stackwright against detect-secrets with BigCode's plugin set, quality and speed.

Quality (``has_secret`` of ``corpora/secrets/cases.jsonl``; a case is predicted positive when the
detector reports anything it would redact):

* ``stackwright``: ``scan`` (keys, passwords, IP addresses in the redacted scopes; emails are not secrets).
* ``detect-secrets (BigCode)``: detect-secrets exactly as bigcode-dataset ``pii/utils/keys_detection.py``
  runs it: BigCode's plugin set and heuristic filters, ``SecretsCollection.scan_file`` on the text
  written to a ``.txt`` file. This is the comparison the project's gate uses.
* ``+ post-filters``: the same, then an approximation of BigCode's own post-filters (hashes near hash
  words, UUIDs, templates, sequences; their gibberish model is not reproduced).
* ``scan_line (adhoc)``: detect-secrets' ad-hoc ``scan_line`` with the same plugins. It searches eagerly
  without filters and flags most words of most lines (see the findings count in the speed section), so
  its recall is not that of a usable configuration; shown for reference.

New cases: the same scores on cases the detectors were never tuned on, built from real sources on this
machine by ``benchmarks/secret_cases.py`` into ``bench-out/`` (see its docstring).

Emails and IP addresses: BigCode's 80%-overlap scoring on ``corpora/secrets/pii_cases.jsonl``.

Speed: both tools over the same files of real Python (the standard library, at least 100,000 lines),
each as a whole process, start-up included: ``stackwright pii scan FOLDER --json`` (every detector)
against a Python process that loops detect-secrets' ``scan_file`` in BigCode's configuration over the
files; the ratio is of the wall times (best of ``--repeat``). Start-up is each process on a one-line
file; the in-process ``scan`` figure is shown for reference.
Writes ``bench-out/pii.json``; never prints secret values, only kinds and notes.

    .venv/bin/python benchmarks/pii.py [--corpus PATH] [--lines N] [--new-cases PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import sysconfig
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "benchmarks"))

from helpers import corpora_dir  # noqa: E402
from stackwright.curate.pii.entities import EMAIL  # noqa: E402
from stackwright.curate.pii.evaluate import score_cases  # noqa: E402
from stackwright.curate.pii.scan import scan  # noqa: E402

# bigcode-dataset pii/utils/keys_detection.py: detect-secrets minus BasicAuth, Keyword and PrivateKey ...
BIGCODE_PLUGINS = [
    {"name": "ArtifactoryDetector"},
    {"name": "AWSKeyDetector"},
    {"name": "Base64HighEntropyString", "limit": 4.5},
    {"name": "HexHighEntropyString", "limit": 3.0},
    {"name": "AzureStorageKeyDetector"},
    {"name": "CloudantDetector"},
    {"name": "DiscordBotTokenDetector"},
    {"name": "GitHubTokenDetector"},
    {"name": "IbmCloudIamDetector"},
    {"name": "IbmCosHmacDetector"},
    {"name": "JwtTokenDetector"},
    {"name": "MailchimpDetector"},
    {"name": "NpmDetector"},
    {"name": "SendGridDetector"},
    {"name": "SlackDetector"},
    {"name": "SoftlayerDetector"},
    {"name": "StripeDetector"},
    {"name": "TwilioKeyDetector"},
]
# ... and these heuristic filters.
BIGCODE_FILTERS = [
    {"path": "detect_secrets.filters.heuristic.is_potential_uuid"},
    {"path": "detect_secrets.filters.heuristic.is_likely_id_string"},
    {"path": "detect_secrets.filters.heuristic.is_templated_secret"},
    {"path": "detect_secrets.filters.heuristic.is_sequential_string"},
]


def has_detect_secrets() -> bool:
    try:
        import detect_secrets  # noqa: F401
    except ImportError:
        return False
    return True


@contextmanager
def bigcode_settings() -> Iterator[None]:
    from detect_secrets.settings import transient_settings

    with transient_settings({"plugins_used": BIGCODE_PLUGINS, "filters_used": BIGCODE_FILTERS}):
        yield


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HASH_CONTEXT = re.compile(r"(?i)sha|md5|hash|byte|checksum|digest")


def bigcode_post_filtered(line: str, value: str) -> bool:
    """An approximation of BigCode's post-filters (their gibberish detector is not reproduced): UUIDs,
    hashes of length 32/40/64 on a line mentioning sha/md5/hash, templated and sequential values."""
    if _UUID.search(value):
        return True
    if len(value) in (32, 40, 64) and _HASH_CONTEXT.search(line):
        return True
    if any(t in value for t in ("${", "{{", "%s", "<", "xxxx", "XXXX", "****")):
        return True
    low = value.lower()
    return any(seq in low for seq in ("abcdef", "123456", "qwerty"))


def detect_secrets_predictors(workdir: Path) -> dict[str, Callable[[str], bool]]:
    """has_secret(text) for the three detect-secrets configurations."""
    from detect_secrets import SecretsCollection
    from detect_secrets.core.scan import scan_line
    from detect_secrets.settings import transient_settings

    path = workdir / "case.txt"

    def findings(text: str) -> list[tuple[str, str]]:
        path.write_text(text, encoding="utf-8")
        secrets = SecretsCollection()
        with bigcode_settings():
            secrets.scan_file(str(path))
        lines = text.splitlines()
        return [
            (lines[s.line_number - 1] if 0 < s.line_number <= len(lines) else "", s.secret_value or "")
            for f in secrets.files for s in secrets[f]
        ]  # fmt: skip

    def adhoc(text: str) -> bool:
        with transient_settings({"plugins_used": BIGCODE_PLUGINS}):
            return any(True for line in text.splitlines() for _ in scan_line(line))

    return {
        "detect-secrets (BigCode)": lambda t: bool(findings(t)),
        "+ post-filters": lambda t: any(not bigcode_post_filtered(line, v) for line, v in findings(t)),
        "scan_line (adhoc)": adhoc,
    }


def stackwright_has_secret(text: str) -> bool:
    return any(e.redact and e.label != EMAIL for e in scan(text))


def load_cases(path: Path) -> list[dict]:
    with path.open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def score(cases: list[dict], predict: Callable[[str], bool]) -> dict:
    tp = fp = fn = tn = 0
    wrong = []
    for case in cases:
        pred = predict(case["text"])
        truth = bool(case["has_secret"])
        if pred and truth:
            tp += 1
        elif pred:
            fp += 1
            wrong.append({"error": "FP", "kind": case.get("kind"), "notes": case.get("notes") or ""})
        elif truth:
            fn += 1
            wrong.append({"error": "FN", "kind": case.get("kind"), "notes": case.get("notes") or ""})
        else:
            tn += 1
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn) if tp + fn else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {
        "tp": tp, "fp": fp, "fn": fn, "tn": tn,
        "precision": round(precision, 4), "recall": round(recall, 4), "f1": round(f1, 4),
        "wrong": wrong,
    }  # fmt: skip


def stdlib_files(max_lines: int) -> list[str]:
    """Whole .py files of the standard library (sorted paths) until ``max_lines`` lines are reached."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    override = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
    if override.is_dir():
        stdlib = override
    texts: list[str] = []
    total = 0
    for path in sorted(stdlib.rglob("*.py")):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        texts.append(text)
        total += text.count("\n") + 1
        if total >= max_lines:
            break
    return texts


def print_table(results: dict[str, dict]) -> None:
    print(f"{'detector':<26} {'P':>6} {'R':>6} {'F1':>6} {'TP':>5} {'FP':>5} {'FN':>5} {'TN':>5}")
    for name, r in results.items():
        print(f"{name:<26} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} "
              f"{r['tp']:5d} {r['fp']:5d} {r['fn']:5d} {r['tn']:5d}")  # fmt: skip


# detect-secrets in its own process, as BigCode ran it: its settings, then scan_file over every file.
DS_SCRIPT = """
import json, sys
from pathlib import Path
from detect_secrets import SecretsCollection
from detect_secrets.settings import transient_settings
found = 0
with transient_settings({"plugins_used": json.loads(sys.argv[2]), "filters_used": json.loads(sys.argv[3])}):
    target = Path(sys.argv[1])
    for path in sorted(target.iterdir()) if target.is_dir() else [target]:
        secrets = SecretsCollection()
        secrets.scan_file(str(path))
        found += sum(len(secrets[f]) for f in secrets.files)
print(found)
"""


def stackwright_command() -> list[str]:
    script = Path(sys.executable).parent / "stackwright"
    return [str(script)] if script.is_file() else [sys.executable, "-m", "stackwright.cli"]


def run_seconds(command: list[str]) -> float:
    """Wall time of a whole process (start-up included); its output is discarded, never printed."""
    t0 = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.perf_counter() - t0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    shared = corpora_dir() or Path("/work/shared/corpora")
    parser.add_argument("--corpus", type=Path, default=shared / "secrets" / "cases.jsonl")
    parser.add_argument("--pii-cases", type=Path, default=shared / "secrets" / "pii_cases.jsonl")
    parser.add_argument("--lines", type=int, default=120_000)
    parser.add_argument("--new-cases", type=Path, default=ROOT / "bench-out" / "secret_cases_new.jsonl",
                        help="the new cases (built by benchmarks/secret_cases.py when missing)")
    parser.add_argument("--rebuild-new-cases", action="store_true", help="build the new cases again")
    parser.add_argument("--no-new-cases", action="store_true", help="score cases.jsonl only")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs of each process (the best counts)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "pii.json")
    args = parser.parse_args()
    if args.lines < 1:
        parser.error("--lines must be positive")
    if not args.corpus.is_file():
        parser.error(f"{args.corpus}: no such file")

    ds = has_detect_secrets()
    if not ds:
        print("detect-secrets is not installed (pip install -e '.[bench]'): stackwright only")
    cases = load_cases(args.corpus)
    results: dict[str, dict] = {"stackwright": score(cases, stackwright_has_secret)}
    with tempfile.TemporaryDirectory(prefix="pii-bench-") as tmp:
        if ds:
            for name, predict in detect_secrets_predictors(Path(tmp)).items():
                results[name] = score(cases, predict)

    positives = sum(bool(c["has_secret"]) for c in cases)
    print(f"cases: {len(cases)} ({positives} with a secret) from {args.corpus}")
    print_table(results)
    print("\nstackwright's misses and false alarms (kinds and notes only):")
    for w in results["stackwright"]["wrong"]:
        print(f"  {w['error']} {w['kind']:<40} {w['notes'][:60]}")

    entities = None
    if args.pii_cases.is_file():
        entities = score_cases(args.pii_cases, ip_scope="redacted")["per_label"]
        print(f"\nemails and IP addresses on {args.pii_cases.name} "
              "(BigCode's 80% overlap rule, redacted scope):")  # fmt: skip
        for label in ("EMAIL", "IP_ADDRESS"):
            if label in entities:
                e = entities[label]
                print(f"  {label:<11} P {e['precision']:.3f}  R {e['recall']:.3f}  F1 {e['f1']:.3f}")

    new_cases = new_results = None
    if not args.no_new_cases:
        from secret_cases import write_cases

        if args.rebuild_new_cases or not args.new_cases.is_file():
            write_cases(args.new_cases)
        new_cases = load_cases(args.new_cases)
        new_results = {"stackwright": score(new_cases, stackwright_has_secret)}
        if ds:
            with tempfile.TemporaryDirectory(prefix="pii-bench-") as tmp:
                predict = detect_secrets_predictors(Path(tmp))["detect-secrets (BigCode)"]
                new_results["detect-secrets (BigCode)"] = score(new_cases, predict)
        new_positives = sum(bool(c["has_secret"]) for c in new_cases)
        print(f"\nnew cases (never tuned on; benchmarks/secret_cases.py): {len(new_cases)} "
              f"({new_positives} with a secret) from {args.new_cases}")
        print_table(new_results)

    texts = stdlib_files(args.lines)
    n_lines = sum(t.count("\n") + 1 for t in texts)
    speed: dict[str, dict] = {}
    t0 = time.perf_counter()
    hits = sum(sum(1 for e in scan(t) if e.label != EMAIL) for t in texts)
    dt = time.perf_counter() - t0
    speed["stackwright scan (in process)"] = {"seconds": round(dt, 3), "lines_per_s": round(n_lines / dt),
                                              "findings": hits}  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="pii-bench-") as tmp:
        folder = Path(tmp) / "files"
        folder.mkdir()
        for i, text in enumerate(texts):
            (folder / f"f{i:05d}.py").write_text(text, encoding="utf-8")
        one = Path(tmp) / "one.py"
        one.write_text("x = 1\n", encoding="utf-8")
        ours = [*stackwright_command(), "pii", "scan"]
        processes: dict[str, Callable[[Path], list[str]]] = {
            "stackwright pii scan": lambda target: [*ours, str(target), "--json"],
        }
        if ds:
            theirs = [sys.executable, "-c", DS_SCRIPT]
            settings = [json.dumps(BIGCODE_PLUGINS), json.dumps(BIGCODE_FILTERS)]
            processes["detect-secrets (BigCode)"] = lambda target: [*theirs, str(target), *settings]
        for name, command in processes.items():
            startup = min(run_seconds(command(one)) for _ in range(3))
            seconds = min(run_seconds(command(folder)) for _ in range(args.repeat))
            speed[f"{name} (whole process)"] = {"seconds": round(seconds, 3), "startup_s": round(startup, 3),
                                                "lines_per_s": round(n_lines / seconds)}  # fmt: skip
    print(f"\nspeed over {n_lines:,d} lines of the standard library ({len(texts)} files, one core):")
    for name, sp in speed.items():
        extra = f", start-up {sp['startup_s']:.2f} s" if "startup_s" in sp else f", {sp['findings']} findings"
        print(f"  {name:<42} {sp['lines_per_s']:>10,d} lines/s  ({sp['seconds']:.2f} s{extra})")
    ratio = None
    mine, other = "stackwright pii scan (whole process)", "detect-secrets (BigCode) (whole process)"
    if other in speed:
        ratio = round(speed[other]["seconds"] / speed[mine]["seconds"], 1)
        print(f"  ratio: the stackwright process is {ratio}x detect-secrets' (target >= 20x), "
              "both including start-up")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"corpus": str(args.corpus), "cases": len(cases), "quality": results, "entities": entities,
               "new_cases": str(args.new_cases) if new_cases else None, "new_quality": new_results,
               "lines": n_lines, "files": len(texts), "speed": speed, "speed_ratio": ratio}  # fmt: skip
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
