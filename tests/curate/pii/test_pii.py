"""PII detection and redaction: emails and IP addresses, scan, redact, the step and the CLI."""

from __future__ import annotations

import ast
import ipaddress
import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path

import pytest

from helpers import build_ok, cli_env, corpora_dir, read_manifest, read_rows, run_cli, write
from stackwright.config import PiiConfig
from stackwright.curate.pii.entities import EMAIL, IP_ADDRESS
from stackwright.curate.pii.evaluate import score_cases
from stackwright.curate.pii.network import find_emails, find_ips, ip_scope
from stackwright.curate.pii.scan import redact, scan

CASES = (corpora_dir() or Path("/nonexistent")) / "secrets" / "pii_cases.jsonl"


@pytest.mark.skipif(not CASES.is_file(), reason="pii cases (shared/corpora/secrets) not present")
def test_email_and_ip_f1_on_the_presidio_cases() -> None:
    result = score_cases(CASES)["per_label"]
    assert result[EMAIL]["f1"] >= 0.95
    assert result[IP_ADDRESS]["f1"] >= 0.95


def test_email_finder_equals_the_expression() -> None:
    """The candidates are tried only at each ``@``; they must be what finditer finds."""
    from stackwright.curate.pii.network import _EMAIL, _email_candidates

    texts = [
        "a@b.co x.y@z.org é@x.com éa@x.com _a@x.com .a@x.com a.@x.com " + "l" * 70 + "@x.com",
        "@@a@b.com@c.com a@b.c @decorator\ndef f(): pass  mail me: first.last+tag@sub.example.co.uk.",
        "user@localhost jane@mail.example.org,bob@example.net;carol@example.com)",
        ("x" * 63) + "@a.io " + ("y" * 64) + "@b.io " + ("z" * 65) + "@c.io",
    ]
    for text in texts:
        assert _email_candidates(text) == [m.span() for m in _EMAIL.finditer(text)]


def test_email_shapes() -> None:
    text = "contact: jane.doe+dev@mail.example.org, not an email: hello-world@, user@localhost"
    found = [text[e.start:e.end] for e in find_emails(text)]
    assert found == ["jane.doe+dev@mail.example.org"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # message ids are not mailboxes, in headers and in code that writes them
        ("Message-ID: <4f2a.1234@mail.corp-mail.com>\nFrom: Jane <jane@corp-mail.com>",
         ["jane@corp-mail.com"]),
        ('headers = "Content-ID: " "<part1.3A9F@corp-mail.com>"', []),
        ("References: <a1@host.org> <b2@host.org>\nTo: bob@host.org", ["bob@host.org"]),
        ("id <6B7EC235-5B17-4CA8-B2B8-39290DEB43A3@host.org> from preferences: ann@host.org",
         ["ann@host.org"]),
        # credentials in a URL's user info, masked values
        ('url = "https://ann:s3cret@db.corp-mail.com/x"; git = "ssh://git@host.org/repo"', []),
        ("git clone git@github.com:owner/repo.git, or write to ann@host.org: soon", ["ann@host.org"]),
        ("for <xxxx@xxxx.com>; from xxx@xxxx.xxx, XXXXX@EXXX.XXXX.XXX", []),
        # obfuscated and encoded forms
        ("Nick Galbreath -- nickg [at] modp [dot] com", ["nickg [at] modp [dot] com"]),
        ("mail yusuke at shinyama dot jp or irvin DOT probst AT ensta-bretagne DOT fr",
         ["yusuke at shinyama dot jp", "irvin DOT probst AT ensta-bretagne DOT fr"]),
        ("look at example.com, user%40gmail.com and ann&#64;corp-mail.com",
         ["user%40gmail.com", "ann&#64;corp-mail.com"]),
    ],
)
def test_what_is_and_is_not_an_email(text: str, expected: list[str]) -> None:
    assert [text[e.start:e.end] for e in find_emails(text)] == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("server at 93.184.216.34 answers", ["93.184.216.34"]),
        # the address part of a CIDR or a zoned address; netmasks are not addresses
        ('is_valid_cidr("192.168.1.0/24"), fe80::1%eth0', ["192.168.1.0", "fe80::1"]),
        ("mask 255.255.255.0, 255.255.255.128, ffff:ffff:ffff:ffff:: and 255.255.255.255",
         ["255.255.255.255"]),
        # versions, OIDs, DOIs and section numbers run on past four parts or start with 0
        ('agent "APT-HTTP/1.3 (0.8.10.3)", oid 2.5.29.37.1, doi=10.1.1.42.1234, 8.8.8.8.8', []),
        ("curl --connect-to ::127.0.0.1: http://host/", ["127.0.0.1"]),
        ('ObjectIdentifier("2.5.4.42"), "contentVersion": "1.0.0.0", Changes in 1.2.3.2, § 7.4.3.3', []),
        ("typing-extensions>=3.10.0.0; x ~= 1.2.3.4\n[[host_name(N)]] kernel void ::   \\", []),
        # "::" is the unspecified address only where it stands as one, not in slices or reST
        ('sock.bind(("::", 80)), [::], listen on :: or ::/0; host = ::1', ["::", "::", "::", "::", "::1"]),
        ("reversed = s[::-1]\nto your needs)::\n\n.. math ::\n  std::vector", []),
        ('Programming Language :: Python\nname.split("::")\nq[..., 1::2], a[::2, 0::3], b[2::]', []),
        ("version 1.2.3.4 of the tool", []),  # version-like
        ("version 1.2.3.4 of the dns server", ["1.2.3.4"]),  # ... unless dns/server is near
        ("route 300.1.1.1 is not valid", []),
        ("std::map<int> a::b", []),  # no digit
        ("v6 2606:2800:220:1:248:1893:25c8:1946 here", ["2606:2800:220:1:248:1893:25c8:1946"]),
    ],
)
def test_ip_filters(text: str, expected: list[str]) -> None:
    assert [text[e.start:e.end] for e in find_ips(text)] == expected


@pytest.mark.parametrize(
    ("value", "scope", "redacted"),
    [("93.184.216.34", "global", True), ("10.1.2.3", "private", False), ("127.0.0.1", "loopback", False),
     ("169.254.1.1", "link_local", False), ("192.0.2.7", "documentation", False), ("8.8.8.8", "dns", False),
     ("2001:db8::1", "documentation", False), ("::1", "loopback", False)],
)
def test_ip_scopes_and_the_default_policy(value: str, scope: str, redacted: bool) -> None:
    assert ip_scope(value) == scope
    [entity] = find_ips(f"addr {value} end")
    assert entity.detail == scope and entity.redact is redacted


SOURCE = '''import os

ADMIN = "jane.doe@corp-mail.com"
BACKUP = "jane.doe@corp-mail.com"
SERVER = "93.184.216.34"
V6 = "2606:2800:220:1:248:1893:25c8:1946"
LOCAL = "127.0.0.1"
TOKEN = "ghp_R8Ebj3kV7mTq9ZxW2LpN5sYcH4aD6fU1gJ0o"
DB_PASSWORD = "s3cr3t-Passw0rd!"


def connect():
    return os.environ.get("DB_PASSWORD")
'''


def test_redaction_removes_every_value_and_keeps_python_valid() -> None:
    entities = scan(SOURCE)
    values = {SOURCE[e.start:e.end] for e in entities if e.redact}
    assert {"jane.doe@corp-mail.com", "93.184.216.34", "2606:2800:220:1:248:1893:25c8:1946"} <= values
    redacted, counts = redact(SOURCE, entities)
    for value in values:
        assert value not in redacted
    assert "127.0.0.1" in redacted  # loopback: detected, not redacted by default
    ast.parse(redacted)  # only string contents changed
    assert counts[EMAIL] == 2 and counts[IP_ADDRESS] == 2
    # The same value gets the same replacement within a file, and the output is deterministic.
    lines = dict(line.split(" = ", 1) for line in redacted.splitlines() if " = " in line)
    assert lines["ADMIN"] == lines["BACKUP"]
    assert redact(SOURCE, entities) == (redacted, counts)
    server = ipaddress.ip_address(lines["SERVER"].strip('"'))
    v6 = ipaddress.ip_address(lines["V6"].strip('"'))
    assert server.version == 4 and server.is_private and v6.version == 6 and v6.is_private


def test_placeholders_when_configured() -> None:
    config = PiiConfig(email="placeholder", ip_address="placeholder", key="placeholder")
    redacted, _ = redact(SOURCE, scan(SOURCE, config), config)
    assert '"<EMAIL>"' in redacted and '"<IP_ADDRESS>"' in redacted
    ast.parse(redacted)


def test_cli_scan_does_not_print_values(tmp_path: Path) -> None:
    path = write(tmp_path / "settings.py", SOURCE)
    proc = run_cli("pii", "scan", path, "--json")
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert {"start", "end", "label"} <= set(result["entities"][0])
    assert "jane.doe" not in proc.stdout and "93.184" not in proc.stdout
    shown = json.loads(run_cli("pii", "scan", path, "--json", "--show-values").stdout)
    assert any(e.get("value") == "jane.doe@corp-mail.com" for e in shown["entities"])


def test_cli_redact_file_and_eval(tmp_path: Path) -> None:
    src = write(tmp_path / "a.py", SOURCE)
    dst = tmp_path / "b.py"
    proc = run_cli("pii", "redact", src, dst)
    assert proc.returncode == 0, proc.stderr
    assert "jane.doe@corp-mail.com" not in dst.read_text() and "jane.doe" not in proc.stdout
    case = {"text": "mail me at a.b@example.org", "entities": [{"start": 11, "end": 26, "label": "EMAIL"}]}
    cases = write(tmp_path / "cases.jsonl", json.dumps(case) + "\n")
    result = json.loads(run_cli("eval", "pii", "--cases", cases, "--json").stdout)
    assert result["per_label"]["EMAIL"]["f1"] == 1.0


def _entity(text: str, value: str, label: str, **flags: bool) -> dict[str, object]:
    start = text.index(value)
    return {"start": start, "end": start + len(value), "label": label, **flags}


def test_eval_scores_flagged_entities_both_ways(tmp_path: Path) -> None:
    """Example-domain emails and dummy passwords count as entities in ``per_label`` and are dropped
    (with the predictions that match them) in ``without_flagged``; the table shows both."""
    text = 'ADMIN = "jane@corp-mail.com"\nDEMO = "demo@example.org"\nDB = "postgres://app:changeme@db/x"\n'
    case = {"text": text, "entities": [
        _entity(text, "jane@corp-mail.com", EMAIL), _entity(text, "demo@example.org", EMAIL, example=True),
        _entity(text, "changeme", "PASSWORD", dummy=True)]}
    cases = write(tmp_path / "cases.jsonl", json.dumps(case) + "\n")
    result = score_cases(cases)
    found_password = result["per_label"]["PASSWORD"]["true_positives"]
    assert result["per_label"][EMAIL] | {"f1": None} == {
        "precision": 1.0, "recall": 1.0, "f1": None, "true_positives": 2, "reference": 2, "predicted": 2}
    strict = result["without_flagged"]
    email = strict[EMAIL]
    assert (email["reference"], email["predicted"], email["flagged_dropped"]) == (1, 1, 1)
    assert strict["PASSWORD"]["reference"] == 0 and strict["PASSWORD"]["flagged_dropped"] == 1
    assert strict["PASSWORD"]["predicted"] == result["per_label"]["PASSWORD"]["predicted"] - found_password
    proc = run_cli("eval", "pii", "--cases", cases, env=cli_env() | {"COLUMNS": "160"})
    assert proc.returncode == 0, proc.stderr
    assert "strict F1" in proc.stdout and "flagged" in proc.stdout


def test_build_with_the_pii_step_redacts_and_counts(tmp_path: Path) -> None:
    repo = tmp_path / "owner__app"
    write(repo / "settings.py", SOURCE)
    out = tmp_path / "out"
    build_ok(repo, "--out", out, "--steps", "drop_empty,pii")
    [row] = read_rows(out)
    assert "jane.doe@corp-mail.com" not in row["content"] and "93.184.216.34" not in row["content"]
    counted = read_manifest(out)["steps"]["pii"]["counted"]
    assert counted[EMAIL] == 2 and counted[IP_ADDRESS] == 2
    assert "jane.doe" not in (out / "manifest.json").read_text()
    red = tmp_path / "red"
    assert run_cli("pii", "redact", out, red).returncode == 0
    assert read_manifest(red)["steps"]["pii"]["in"] == 1


def test_detector_slot_for_names_and_usernames() -> None:
    """A registered detector (the slot a NER model fills) runs when configured, and its classes are
    redacted with placeholders by default."""
    from stackwright.config import PiiConfig
    from stackwright.curate.pii.entities import USERNAME, Entity
    from stackwright.curate.pii.scan import DETECTORS, register_detector

    @register_detector("test-handles")
    def handles(config: PiiConfig) -> Callable[[Sequence[str]], list[list[Entity]]]:
        return lambda texts: [[Entity(m.start(), m.end(), USERNAME, "handle")
                               for m in re.finditer(r"(?<=@)[a-z]+\b", text)] for text in texts]

    try:
        text = "# maintained by @octocat, mail ops@example.com"
        assert [e.label for e in scan(text)] == [EMAIL]  # not configured: not run
        config = PiiConfig(detectors=["test-handles"])
        entities = scan(text, config)
        assert [e.label for e in entities] == [USERNAME, EMAIL]
        redacted, counts = redact(text, entities, config)
        assert "octocat" not in redacted and "<USERNAME>" in redacted and counts[USERNAME] == 1
        with pytest.raises(ValueError, match=r"unknown PII detector.*nope"):
            scan(text, PiiConfig(detectors=["nope"]))
    finally:
        DETECTORS.pop("test-handles", None)
