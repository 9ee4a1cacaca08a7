"""Secret detection: stackwright ``find_secrets`` against detect-secrets with BigCode's plugin set.

Quality: precision / recall / F1 on ``has_secret`` of the shared ground truth
``corpora/secrets/cases.jsonl`` (a case is predicted positive when the detector reports anything).
Speed: both detectors over the same 120,000 lines of real Python (the standard library), lines/s.
Writes ``bench-out/pii-secrets.json``; never prints secret values, only kinds and notes.

    .venv/bin/python benchmarks/pii_secrets.py [--corpus PATH] [--lines N]
"""

from __future__ import annotations

import argparse
import atexit
import json
import re
import sys
import sysconfig
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "tests"))

from helpers import corpora_dir  # noqa: E402
from stackwright.curate.pii.secrets import find_secrets  # noqa: E402

# BigCode's pii/utils/keys_detection.py: detect-secrets minus BasicAuth, Keyword and PrivateKey.
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


_KEEP: list[object] = []


def detect_secrets_scanner() -> (
    tuple[Callable[[str], bool], Callable[[str], bool], Callable[[list[str]], int]] | None
):
    """``(has_secret(text), has_secret_after_bigcode_filters(text), count(lines))`` with detect-secrets'
    ``scan_line`` under BigCode's plugins, or None when detect-secrets is not installed. The settings are
    entered once and kept for the run."""
    try:
        from detect_secrets.core.scan import scan_line
        from detect_secrets.settings import transient_settings
    except ImportError:
        return None
    ctx = transient_settings({"plugins_used": BIGCODE_PLUGINS})
    ctx.__enter__()
    _KEEP.append(ctx)  # a dropped context manager would restore the default settings when collected
    atexit.register(ctx.__exit__, None, None, None)

    def has_secret(text: str) -> bool:
        return any(True for line in text.splitlines() for _ in scan_line(line))

    def has_secret_filtered(text: str) -> bool:
        return any(
            not bigcode_filtered(line, found.secret_value or "")
            for line in text.splitlines()
            for found in scan_line(line)
        )

    def count(lines: list[str]) -> int:
        return sum(1 for line in lines for _ in scan_line(line))

    return has_secret, has_secret_filtered, count


_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HASH_CONTEXT = re.compile(r"(?i)sha|md5|hash|byte|checksum|digest")


def bigcode_filtered(line: str, value: str) -> bool:
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
    """The first ``max_lines`` lines of the standard library's .py files, file by file (sorted paths)."""
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    override = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
    if override.is_dir():
        stdlib = override
    texts: list[str] = []
    total = 0
    for path in sorted(stdlib.rglob("*.py")):
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        lines = lines[: max_lines - total]
        texts.append("\n".join(lines))
        total += len(lines)
        if total >= max_lines:
            break
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    default_corpus = (corpora_dir() or Path("/work/shared/corpora")) / "secrets" / "cases.jsonl"
    parser.add_argument("--corpus", type=Path, default=default_corpus)
    parser.add_argument("--lines", type=int, default=120_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench-out" / "pii-secrets.json")
    args = parser.parse_args()

    cases = load_cases(args.corpus)
    ds = detect_secrets_scanner()
    results: dict[str, dict] = {"stackwright": score(cases, lambda t: bool(find_secrets(t)))}
    if ds is not None:
        results["detect-secrets"] = score(cases, ds[0])
        results["ds+filters"] = score(cases, ds[1])

    print(
        f"cases: {len(cases)} ({sum(bool(c['has_secret']) for c in cases)} with a secret) from {args.corpus}"
    )
    print(f"{'detector':<16} {'P':>6} {'R':>6} {'F1':>6} {'TP':>5} {'FP':>5} {'FN':>5} {'TN':>5}")
    for name, r in results.items():
        print(
            f"{name:<16} {r['precision']:6.3f} {r['recall']:6.3f} {r['f1']:6.3f} "
            f"{r['tp']:5d} {r['fp']:5d} {r['fn']:5d} {r['tn']:5d}"
        )
    for name, r in results.items():
        print(f"\n{name}: {len(r['wrong'])} wrong")
        for w in r["wrong"]:
            print(f"  {w['error']} {w['kind']:<40} {w['notes'][:60]}")

    texts = stdlib_files(args.lines)
    n_lines = sum(t.count("\n") + 1 for t in texts)
    speed: dict[str, dict] = {}
    t0 = time.perf_counter()
    hits = sum(len(find_secrets(t)) for t in texts)
    dt = time.perf_counter() - t0
    speed["stackwright"] = {"seconds": round(dt, 3), "lines_per_s": round(n_lines / dt), "findings": hits}
    if ds is not None:
        lines = [line for t in texts for line in t.splitlines()]
        t0 = time.perf_counter()
        hits = ds[2](lines)
        dt = time.perf_counter() - t0
        speed["detect-secrets"] = {
            "seconds": round(dt, 3),
            "lines_per_s": round(n_lines / dt),
            "findings": hits,
        }
    print(f"\nspeed over {n_lines} lines of the standard library ({len(texts)} files):")
    for name, s in speed.items():
        print(
            f"  {name:<16} {s['lines_per_s']:>10,d} lines/s  ({s['seconds']:.2f} s, {s['findings']} findings)"
        )
    ratio = None
    if "detect-secrets" in speed:
        ratio = round(speed["stackwright"]["lines_per_s"] / speed["detect-secrets"]["lines_per_s"], 1)
        print(f"  ratio: stackwright is {ratio}x detect-secrets (target >= 20x)")

    args.out.parent.mkdir(parents=True, exist_ok=True)
    payload = {"corpus": str(args.corpus), "cases": len(cases), "quality": results, "lines": n_lines,
               "speed": speed, "speed_ratio": ratio}  # fmt: skip
    args.out.write_text(json.dumps(payload, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
