"""The general mechanisms that keep the secret detectors precise on unseen data, and the start-up work.

Every secret here is synthetic: random values built in the test from a seeded generator.
"""

from __future__ import annotations

import base64
import json
import os
import random
import string
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import cli_env, run_cli, write
from stackwright.curate.pii.entities import KEY, PASSWORD
from stackwright.curate.pii.secret_structures import jwt_header_ok, pem_body_ok
from stackwright.curate.pii.secret_values import mixed_case_hex, sequential_fraction
from stackwright.curate.pii.secrets import find_secrets
from stackwright.curate.pii.triggers import hyperscan_available

RNG = random.Random(20240611)
B62 = string.ascii_letters + string.digits


def rand(alphabet: str, n: int) -> str:
    return "".join(RNG.choice(alphabet) for _ in range(n))


def labels(text: str) -> list[tuple[str, str]]:
    return [(e.label, text[e.start : e.end]) for e in find_secrets(text)]


def b64url(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def test_aws_documentation_example_key_ids_are_not_keys() -> None:
    real = "AKIA" + rand(string.ascii_uppercase + string.digits, 16)
    assert labels(f'"AccessKeyId": "{real}"') == [(KEY, real)]
    doc = "AKIA" + rand(string.ascii_uppercase, 9) + "EXAMPLE"
    assert labels(f'"AccessKeyId": "{doc}"') == []


def test_jwt_header_must_decode_to_json_text() -> None:
    header = b64url({"alg": "HS256", "typ": "JWT"})
    payload = b64url({"sub": "1234"})
    token = f"{header}.{payload}.{rand(B62, 43)}"
    assert labels(f"auth = {token}") == [(KEY, token)]
    assert jwt_header_ok(token)
    assert jwt_header_ok(header[:10] + "eee" + header[13:])  # {"alg": and then a damaged tail
    # Base64 that starts like a JSON object and goes on with noise: no token.
    noise = base64.urlsafe_b64encode(b'{"j\x16\xab\x1d' + RNG.randbytes(30)).rstrip(b"=").decode()
    assert noise.startswith("eyJ") and not jwt_header_ok(noise)
    assert labels(f"auth = {noise}.{payload}.{rand(B62, 43)}") == []


def test_jwt_split_over_string_literals_is_one_span() -> None:
    header = b64url({"alg": "HS256", "typ": "JWT"})
    payload = b64url({"hello": "world"})
    sig = rand(B62, 43)
    text = f'example_jwt = (\n    b"{header}."\n    b"{payload}."  # the claims\n    b"{sig}"\n)\n'
    found = find_secrets(text)
    assert [(e.label, e.detail) for e in found] == [(KEY, "jwt")]
    assert text[found[0].start :].startswith(header) and text[: found[0].end].endswith(sig)


def test_jwk_private_members_are_keys_and_public_ones_are_not() -> None:
    d, x, y, k = (rand(B62 + "-_", 43) for _ in range(4))
    ec = json.dumps({"kty": "EC", "crv": "P-256", "x": x, "y": y, "d": d}, indent=2)
    assert labels(ec) == [(KEY, d)]
    public = json.dumps({"kty": "EC", "crv": "P-256", "x": x, "y": y})
    assert labels(public) == []
    symmetric = json.dumps({"kty": "oct", "alg": "HS256", "k": k})
    assert labels(symmetric) == [(KEY, k)]
    # Without a key type the same shape is an ordinary object: no JWK rule applies.
    assert labels(json.dumps({"d": "short"})) == []


def test_digests_that_name_their_algorithm_are_not_keys() -> None:
    digest = base64.b64encode(RNG.randbytes(64)).decode()
    assert labels(f'"integrity": "sha512-{digest}"') == []
    assert labels(f'"integrity": "sha1-{base64.b64encode(RNG.randbytes(20)).decode()}"') == []
    assert labels(f"  blob: h1:{base64.b64encode(RNG.randbytes(32)).decode()}") == []


def test_private_key_block_needs_a_base64_body() -> None:
    body = base64.b64encode(RNG.randbytes(300)).decode()
    lines = "\n".join(body[i : i + 64] for i in range(0, len(body), 64))
    pem = f"-----BEGIN PRIVATE KEY-----\n{lines}\n-----END PRIVATE KEY-----\n"
    assert [label for label, _ in labels(pem)] == [KEY]
    assert labels("-----BEGIN PRIVATE KEY-----\nanything\n-----END PRIVATE KEY-----") == []
    assert labels("-----BEGIN RSA PRIVATE KEY-----\n...\n-----END RSA PRIVATE KEY-----") == []
    assert pem_body_ok('"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC\\n" +\n"BKcwggSjAgEAAoIBAQC7"')


def test_printf_directive_only_counts_at_the_end_of_a_conversion() -> None:
    value = rand(B62, 5) + "%x" + rand(string.ascii_lowercase, 2) + rand(string.digits, 3)
    assert labels(f'API_TOKEN = "{value}"') == [(KEY, value)]
    assert labels('API_TOKEN = "%s"') == []
    assert labels('password = "%(password)s"') == []


def test_proxy_authorization_basic_header() -> None:
    cred = base64.b64encode(f"user:{rand(B62, 10)}".encode()).decode()
    assert labels(f'headers = {{"Proxy-Authorization": "Basic {cred}"}}') == [(KEY, cred)]


def test_default_of_an_environment_lookup_on_the_next_line() -> None:
    value = rand(B62, 20) + "+%$!" + rand(B62, 20)
    text = f"SECRET_KEY = env('SECRET_KEY',\n                 '{value}')\n"
    assert labels(text) == [(KEY, value)]


def test_case_consistency_of_hex_values() -> None:
    hexes = rand("0123456789abcdef", 40)
    edited = hexes.replace(next(c for c in hexes if c.isalpha()), "F", 1)
    assert mixed_case_hex(edited) and not mixed_case_hex(hexes) and not mixed_case_hex(hexes.upper())
    assert labels(f"meraki-api-key: {edited}") == []
    assert not mixed_case_hex(rand("0123456789abcdefABCDEF", 40).replace("a", "A") + "aB")


def test_long_counting_filler_is_no_password() -> None:
    assert sequential_fraction("abcdef0123456789abcdef0123456789") == 1.0
    assert sequential_fraction(rand(B62, 32)) < 0.3
    assert labels('REDIS_PASSWORD = "abcdef0123456789abcdef0123456789"') == []
    password = rand(B62, 8) + "!" + rand(B62, 4)
    assert labels(f'REDIS_PASSWORD = "{password}"') == [(PASSWORD, password)]


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan is not installed")
def test_pattern_cache_survives_missing_corrupt_and_read_only_folders(tmp_path: Path) -> None:
    code = ("from stackwright.curate.pii.secrets import find_secrets\n"
            "print(len(find_secrets('token = \"ghp_" + rand(B62, 36) + "\"')))\n")

    def run(cache: Path) -> str:
        env = {**os.environ, "STACKWRIGHT_CACHE": str(cache)}
        env.pop("STACKWRIGHT_NO_PATTERN_CACHE", None)
        proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env,
                              check=True)
        return proc.stdout.strip()

    cache = tmp_path / "cache"
    assert run(cache) == "1"  # missing: compiled, then written
    files = sorted((cache / "hyperscan").glob("*.hsdb"))
    assert files
    assert run(cache) == "1"  # loaded
    for f in files:  # damaged: the checksum refuses it, the database is compiled again
        f.write_bytes(f.read_bytes()[:-7] + b"garbage")
    assert run(cache) == "1"
    assert all(f.read_bytes().endswith(b"garbage") is False for f in files)  # rewritten
    for f in files:
        f.write_bytes(b"not a database")
    read_only = tmp_path / "ro"
    read_only.mkdir()
    read_only.chmod(0o500)
    try:
        assert run(read_only / "sub") == "1" or os.geteuid() == 0
    finally:
        read_only.chmod(0o700)


def test_scanning_needs_neither_the_settings_nor_numpy_nor_every_step() -> None:
    code = ("import sys\nfrom stackwright.curate.pii.scan import scan\n"
            "scan('contact a@corp-mail.com from 93.184.216.34, é')\n"
            "print(sorted(m for m in ('pydantic', 'numpy', 'pyarrow', 'stackwright.config')"
            " if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=cli_env())
    assert proc.stdout.strip() == "[]"


def test_default_scopes_are_the_settings_defaults() -> None:
    from stackwright.config import PiiConfig
    from stackwright.curate.pii.network import REDACTED_SCOPES

    assert frozenset(PiiConfig().ip_redact_scopes) == REDACTED_SCOPES


def test_all_steps_registers_every_step() -> None:
    import stackwright.curate.all_steps  # noqa: F401
    from stackwright.pipeline.step import STEP_FACTORIES

    assert {"pii", "quality", "optout", "licenses", "languages", "decontaminate"} <= set(STEP_FACTORIES)


def test_cli_scans_folders_and_several_files(tmp_path: Path) -> None:
    token = "ghp_" + rand(B62, 36)
    write(tmp_path / "src" / "a.py", f'token = "{token}"\n')
    write(tmp_path / "src" / "sub" / "b.txt", "nothing here\n")
    write(tmp_path / "src" / ".hidden" / "c.py", f'token = "{token}"\n')
    write(tmp_path / "src" / "d.bin", b"\x00\x9f\x92\x96\xff" * 50)
    proc = run_cli("pii", "scan", tmp_path / "src", "--json")
    assert proc.returncode == 0, proc.stderr
    files = {Path(f["path"]).name: f["entities"] for f in json.loads(proc.stdout)["files"]}
    assert set(files) >= {"a.py", "b.txt"} and "c.py" not in files
    assert [e["label"] for e in files["a.py"]] == [KEY] and files["b.txt"] == []
    assert token not in proc.stdout + proc.stderr
    two = run_cli("pii", "scan", tmp_path / "src" / "a.py", tmp_path / "src" / "sub" / "b.txt")
    assert two.returncode == 0 and "a.py:" in two.stdout and token not in two.stdout
    one = json.loads(run_cli("pii", "scan", tmp_path / "src" / "a.py", "--json").stdout)
    assert list(one) == ["entities"]


def test_cli_builds_only_the_group_it_runs() -> None:
    from stackwright.cli import app, app_for

    assert app_for([]) is app and app_for(["--help"]) is app and app_for(["no-such-command"]) is app
    pruned = app_for(["pii", "scan", "x"])
    assert pruned is not app
    stages = [g.typer_instance for g in pruned.registered_groups]
    assert [g.name for s in stages for g in s.registered_groups] == ["pii"]
    assert [c.callback.__name__ for s in stages for c in s.registered_commands] == []
    assert [c.name for c in app_for(["crawl"]).registered_groups[0].typer_instance.registered_commands] == [
        "crawl"
    ]
    assert "Usage: stackwright pii scan" in run_cli("pii", "scan", "--help").stdout
