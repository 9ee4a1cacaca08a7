"""New secret cases the detectors were never tuned on, built from real sources on this machine.

``cases.jsonl`` (gitleaks rule tests and detect-secrets plugin tests) is what the secret detectors were
developed against; this builds a second set in the same format (``text``, ``has_secret``, ``kind``,
``origin``, ``source``) from material they never saw:

* ``real-code-literal`` (negatives): string literals of 20+ base64/hex/identifier characters from the
  Python standard library and installed packages (hash test vectors, digests, UUIDs, base64 blobs, long
  identifiers, regular expressions, URLs), each with its source line; lines that name a password,
  secret, token, key or credential, and PEM blocks, are left out (those may be real fixtures).
* ``documentation-example`` (negatives): lines of AWS documentation and SDK data (awscli examples,
  botocore ``examples-1.json``, boto3 docs) that show the documented placeholder credentials
  (``AKIAIOSFODNN7EXAMPLE``-style values): documentation placeholders, not secrets.
* ``real-context-secret`` (positives): assignment lines of real code whose variable names a secret
  (``api_key = "..."``, ``"token": "..."``, ``password=...``), with the value replaced by a fresh random
  value of a provider format as detect-secrets' plugins and gitleaks' rules define them (AWS, GitHub,
  GitLab, Slack, Stripe, Twilio, SendGrid, npm, Mailchimp, JWT, Azure, PEM private keys, ...) or a
  generic random secret; plus URLs with a password and ``Authorization: Basic`` headers.
* ``real-context-placeholder`` (negatives): the same real lines with values that are not secrets in the
  ways gitleaks' false-positive tests are not (masked ``xxxx``/``****``, counting sequences, template and
  environment references, descriptive ALL-CAPS placeholders, repeated characters, too short).

Random values come from a seeded generator (the same seed gives the same cases). Nothing is copied from
the shared corpora; the output goes to ``bench-out/`` (git-ignored).

    .venv/bin/python benchmarks/secret_cases.py [--out bench-out/secret_cases_new.jsonl] [--seed 7]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import re
import string
import sys
import sysconfig
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_OUT = ROOT / "bench-out" / "secret_cases_new.jsonl"

B62 = string.ascii_letters + string.digits
UPPER_NUM = string.ascii_uppercase + string.digits
HEX = "0123456789abcdef"
B64 = B62 + "+/"
URLSAFE = B62 + "-_"

_LITERAL = re.compile(r"""(?P<q>["'])(?P<v>[A-Za-z0-9+/=_.:\-]{20,200})(?P=q)""")
_SECRETISH_LINE = re.compile(r"(?i)pass|secret|token|key|credential|auth|private|BEGIN")
_CONTEXT = re.compile(
    r"""^(?P<pre>\s*[\"']?(?P<name>[A-Za-z_][\w.-]*(?:api_?key|token|secret|password|passwd|access_key"""
    r"""|secret_key|auth_token|apikey))[\"']?\s*(?::|=|:=)\s*)(?P<q>[\"'])(?P<v>[^\"'\n]{0,80})(?P=q)"""
    r"""(?P<post>[,;)]?\s*(?:#.*)?)$""",
    re.IGNORECASE,
)
_NOT_SECRET_NAME = re.compile(r"(?i)(?:name|type|url|uri|path|file|field|header|prefix|id|len|size|env|var)$")


def _site_roots() -> list[Path]:
    roots = [Path(sysconfig.get_paths()["stdlib"]), Path(sysconfig.get_paths()["purelib"])]
    extra = Path("/root/.pyenv/versions/3.11.7/lib/python3.11")
    for candidate in (extra, extra / "site-packages"):
        if candidate.is_dir() and candidate not in roots:
            roots.append(candidate)
    return [r for r in roots if r.is_dir()]


def _py_files(roots: list[Path], limit: int) -> list[Path]:
    """Up to ``limit`` .py files spread evenly over every root (sorted paths, every n-th one)."""
    files = [path for root in roots for path in sorted(root.rglob("*.py"))
             if "stackwright" not in path.parts and "detect_secrets" not in path.parts]  # ours, theirs
    files = sorted(set(files))
    step = max(1, len(files) // limit)
    return files[::step][:limit]


def _lines(path: Path) -> list[str]:
    try:
        return path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError):
        return []


def _entropy(value: str) -> float:
    from math import log2

    n = len(value)
    return -sum(value.count(c) / n * log2(value.count(c) / n) for c in set(value))


def _code_lines(roots: list[Path], limit: int = 12_000) -> list[tuple[Path, list[str]]]:
    return [(path, _lines(path)) for path in _py_files(roots, limit)]


def real_code_literals(code: list[tuple[Path, list[str]]], rng: random.Random, count: int) -> list[dict]:
    """Tempting literals of real code: long, varied characters, in lines that name no secret."""
    pool: list[dict] = []
    for path, lines in code:
        for number, line in enumerate(lines, start=1):
            if len(line) > 240 or _SECRETISH_LINE.search(line):
                continue
            m = _LITERAL.search(line)
            if m is None or _entropy(m.group("v")) < 3.3:
                continue
            pool.append({"text": line.strip(), "has_secret": False, "kind": "real-code-literal",
                         "origin": "real-code-literal", "source": f"{path}#L{number}"})
    rng.shuffle(pool)
    texts: set[str] = set()
    out = []
    for case in pool:
        if case["text"] not in texts:
            texts.add(case["text"])
            out.append(case)
        if len(out) >= count:
            break
    return out


def documentation_examples(roots: list[Path], count: int) -> list[dict]:
    """Lines of AWS docs and SDK data that show the documented example credentials."""
    found: list[dict] = []
    texts: set[str] = set()
    pattern = re.compile(r"A[KS]IA[A-Z0-9]{0,12}EXAMPLE|[A-Za-z0-9/+]{20,}EXAMPLEKEY")
    for root in roots:
        for sub in ("awscli/examples", "botocore/data", "boto3", "site-packages/awscli/examples",
                    "site-packages/botocore/data", "site-packages/boto3"):
            base = root / sub
            if not base.is_dir():
                continue
            for path in sorted(base.rglob("*")):
                if path.suffix not in (".rst", ".json", ".py", ".txt") or not path.is_file():
                    continue
                for number, line in enumerate(_lines(path), start=1):
                    text = line.strip()
                    if len(text) > 300 or not pattern.search(text) or text in texts:
                        continue
                    texts.add(text)
                    found.append({"text": text, "has_secret": False, "kind": "documentation-example",
                                  "origin": "documentation-example", "source": f"{path}#L{number}"})
                    if len(found) >= count:
                        return found
    return found


def _rand(rng: random.Random, alphabet: str, n: int) -> str:
    return "".join(rng.choice(alphabet) for _ in range(n))


def _jwt(rng: random.Random) -> str:
    def part(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    header = part({"alg": rng.choice(["HS256", "RS256"]), "typ": "JWT"})
    payload = part({"sub": str(rng.randrange(10**9)), "iat": rng.randrange(1_500_000_000, 1_800_000_000)})
    return f"{header}.{payload}.{_rand(rng, URLSAFE, 43)}"


def _pem(rng: random.Random) -> str:
    body = base64.b64encode(rng.randbytes(600)).decode()
    lines = "\\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    kind = rng.choice(["RSA PRIVATE KEY", "PRIVATE KEY", "EC PRIVATE KEY"])
    return f"-----BEGIN {kind}-----\\n{lines}\\n-----END {kind}-----"


# Provider formats, as detect-secrets' plugins and gitleaks' rules describe them.
FORMATS: dict[str, Callable[[random.Random], str]] = {
    "aws-access-key": lambda r: "AKIA" + _rand(r, UPPER_NUM, 16),
    "aws-secret-key": lambda r: _rand(r, B64, 40),
    "github-token": lambda r: r.choice(["ghp_", "gho_", "ghs_"]) + _rand(r, B62, 36),
    "gitlab-token": lambda r: "glpat-" + _rand(r, URLSAFE, 20),
    "slack-token": lambda r: f"xoxb-{r.randrange(10**11, 10**12)}-{r.randrange(10**11, 10**12)}-"
                             + _rand(r, B62, 24),
    "stripe-key": lambda r: "sk_live_" + _rand(r, B62, 24),
    "twilio-key": lambda r: "SK" + _rand(r, HEX, 32),
    "sendgrid-key": lambda r: "SG." + _rand(r, URLSAFE, 22) + "." + _rand(r, URLSAFE, 43),
    "npm-token": lambda r: "npm_" + _rand(r, B62, 36),
    "mailchimp-key": lambda r: _rand(r, HEX, 32) + f"-us{r.randrange(1, 20)}",
    "openai-key": lambda r: "sk-" + _rand(r, B62, 20) + "T3BlbkFJ" + _rand(r, B62, 20),
    "huggingface-token": lambda r: "hf_" + _rand(r, string.ascii_letters, 34),
    "google-api-key": lambda r: "AIzaSy" + _rand(r, URLSAFE, 33),
    "jwt": _jwt,
    "azure-storage-key": lambda r: "DefaultEndpointsProtocol=https;AccountName=acct"
                                   f"{r.randrange(100)};AccountKey=" + _rand(r, B64, 86) + "==",
    "generic-hex-secret": lambda r: _rand(r, HEX, 40),
    "generic-base62-secret": lambda r: _rand(r, B62, 32),
    "generic-password": lambda r: _rand(r, B62, 6) + r.choice("!#%&*+-=?@^") + _rand(r, B62, 5),
    "private-key": _pem,
}


def _placeholders(rng: random.Random, name: str) -> list[tuple[str, str]]:
    upper = re.sub(r"[^A-Za-z0-9]+", "_", name).strip("_").upper() or "TOKEN"
    return [
        ("masked-x", "x" * rng.randrange(20, 41)),
        ("masked-stars", "*" * rng.randrange(8, 17)),
        ("masked-prefix", "ghp_" + "X" * 36),
        ("sequence", "abcdef0123456789abcdef0123456789"),
        ("sequence-alnum", "1234567890abcdefghijklmnopqrstuvwxyz"),
        ("template", "${" + upper + "}"),
        ("template-braces", "{{ " + name.lower() + " }}"),
        ("env-reference", "$" + upper),
        ("descriptive", "YOUR_" + upper + "_HERE"),
        ("angle", "<" + name.lower().replace("_", "-") + ">"),
        ("repeated", rng.choice("aAbB01") * rng.randrange(24, 40)),
        ("empty-ish", ""),
    ]


def real_contexts(code: list[tuple[Path, list[str]]], rng: random.Random, limit: int
                  ) -> list[tuple[str, re.Match[str]]]:
    found: list[tuple[str, re.Match[str]]] = []
    seen: set[str] = set()
    for path, lines in code:
        for number, line in enumerate(lines, start=1):
            if len(line) > 160 or ("=" not in line and ":" not in line):
                continue
            m = _CONTEXT.match(line)
            if m is None or _NOT_SECRET_NAME.search(m.group("name")) or m.group("name") in seen:
                continue
            seen.add(m.group("name"))
            found.append((f"{path}#L{number}", m))
    rng.shuffle(found)
    return found[:limit]


def _fill(m: re.Match[str], value: str) -> str:
    return (m.group("pre") + m.group("q") + value + m.group("q") + m.group("post")).strip()


def synthetic_in_real_contexts(contexts: list[tuple[str, re.Match[str]]], rng: random.Random) -> list[dict]:
    out: list[dict] = []
    kinds = list(FORMATS)
    for i, (source, m) in enumerate(contexts):
        for j in range(3):  # three formats and two placeholders in each real line
            kind = kinds[(3 * i + j) % len(kinds)]
            out.append({"text": _fill(m, FORMATS[kind](rng)), "has_secret": True, "kind": kind,
                        "origin": "real-context-secret", "source": source})
        for ph_kind, ph in rng.sample(_placeholders(rng, m.group("name")), 2):
            out.append({"text": _fill(m, ph), "has_secret": False, "kind": f"placeholder-{ph_kind}",
                        "origin": "real-context-placeholder", "source": source})
    hosts = ["db.internal", "10.0.3.4", "mq.prod.local", "cache-1"]
    for i in range(24):
        user = rng.choice(["svc", "deploy", "app", "reporter"]) + str(rng.randrange(100))
        pw = FORMATS["generic-password"](rng)
        scheme = rng.choice(["postgres", "mysql", "amqp", "redis", "https"])
        out.append({"text": f'DATABASE_URL = "{scheme}://{user}:{pw}@{rng.choice(hosts)}:5432/app"',
                    "has_secret": True, "kind": "url-password", "origin": "real-context-secret",
                    "source": "synthetic"})
        cred = base64.b64encode(f"{user}:{pw}".encode()).decode()
        out.append({"text": f'headers = {{"Authorization": "Basic {cred}"}}', "has_secret": True,
                    "kind": "basic-auth", "origin": "real-context-secret", "source": "synthetic"})
        if i % 2 == 0:
            out.append({"text": f'DATABASE_URL = "{scheme}://{user}:${{DB_PASSWORD}}@{rng.choice(hosts)}/app"',
                        "has_secret": False, "kind": "url-template", "origin": "real-context-placeholder",
                        "source": "synthetic"})
    return out


def build_cases(seed: int = 7, literals: int = 300, contexts: int = 220, docs: int = 60) -> list[dict]:
    rng = random.Random(seed)
    roots = _site_roots()
    code = _code_lines(roots)
    cases = real_code_literals(code, rng, literals)
    cases += documentation_examples(roots, docs)
    cases += synthetic_in_real_contexts(real_contexts(code, rng, contexts), rng)
    return cases


def write_cases(out: Path, seed: int = 7) -> list[dict]:
    cases = build_cases(seed)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(json.dumps(c) + "\n" for c in cases), encoding="utf-8")
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    cases = write_cases(args.out, args.seed)
    positives = sum(c["has_secret"] for c in cases)
    by_origin: dict[str, int] = {}
    for c in cases:
        by_origin[c["origin"]] = by_origin.get(c["origin"], 0) + 1
    print(f"{len(cases)} cases ({positives} with a secret) -> {args.out}: {by_origin}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
