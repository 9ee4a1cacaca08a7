"""The "Am I in the dataset?" portal: look-ups, opt-out requests, admin review, and its protections.

Release folders are written here with pyarrow in the release writer's layout (the end-to-end flow
through real builds and releases is in test_portal_browser.py); the registry is a real SQLite file.
Most tests drive the app through FastAPI's TestClient; one runs `stackwright portal serve` (uvicorn)
on a loopback port.
"""

from __future__ import annotations

import json
import re
import socket
import sqlite3
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

pytest.importorskip("fastapi", reason="the portal extra is not installed")
pytest.importorskip("httpx", reason="httpx (dev extra) is not installed")

from fastapi.testclient import TestClient

from helpers import cli_env, run_cli, stackwright_cmd
from stackwright.portal.app import create_app
from stackwright.portal.passwords import (
    PBKDF2,
    PasswordHashError,
    hash_password,
    verify_password,
)
from stackwright.portal.ratelimit import RateLimiter
from stackwright.portal.releases import UsernameIndex
from stackwright.portal.settings import PortalSettings
from stackwright.release.manifest import version_key
from stackwright.release.usernames import lookup_username, write_usernames_index

TOKEN = "admin-token-" + "x" * 24
PASSWORD = "correct horse battery staple"
XSS = "<script>alert(1)</script>"
SQLI = "'); DROP TABLE optout_request; --"
HOSTILE = [XSS, SQLI, "alice' OR '1'='1", "alice\"><img src=x onerror=alert(1)>", "../../etc/passwd",
           "alice\x00", "ａｌｉｃｅ", "\u212aelvin"]


def write_release(root: Path, version: str, repos: dict[str, int], removed: dict[str, int] | None = None,
                  created_at: str = "2025-01-01T00:00:00+00:00") -> Path:
    """A release folder as the release writer lays it out: manifest.json and index/usernames.parquet."""
    folder = root / version
    sizes = {r: 100 * n for r, n in repos.items()}
    write_usernames_index(folder / "index" / "usernames.parquet", repos, sizes)
    manifest = {"format": "stackwright-release", "format_version": 1, "version": version,
                "created_at": created_at, "rows": sum(repos.values()), "repositories": len(repos),
                "optouts": {"source": "registry" if removed else None, "removed": removed or {}}}
    (folder / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return folder


@pytest.fixture()
def releases(tmp_path: Path) -> Path:
    root = tmp_path / "releases"
    write_release(root, "v0.9.0", {"Alice/alpha": 3, "Alice/beta": 2, "bob/tool": 7, "carol/x": 1})
    write_release(root, "v0.10.0", {"Alice/alpha": 4, "bob/tool": 7, "carol/x": 1, "Alice/gamma": 1},
                  removed={"alice/beta": 2})
    return root


def make_settings(tmp_path: Path, releases: Path, **changes: Any) -> PortalSettings:
    values: dict[str, Any] = dict(
        releases=releases, registry_url=f"sqlite:///{tmp_path / 'registry.sqlite'}", admin_token=TOKEN,
        admin_password_hash=hash_password(PASSWORD, PBKDF2), rate_limit=10_000)
    values.update(changes)
    return PortalSettings(**values)


@pytest.fixture()
def client(tmp_path: Path, releases: Path) -> Iterator[TestClient]:
    with TestClient(create_app(make_settings(tmp_path, releases))) as c:
        yield c


def auth(token: str = TOKEN) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def csrf(client: TestClient, page: str = "/optout") -> str:
    found = re.search(r'name="csrf_token" value="([^"]+)"', client.get(page).text)
    assert found, "no CSRF field on the page"
    return found.group(1)


def new_request(client: TestClient, username: str = "alice", repositories: Any = ("alpha",),
                contact: str = "alice@example.com") -> dict[str, Any]:
    repos = repositories if repositories == "all" else list(repositories)
    r = client.post("/api/v1/optout", json={"username": username, "repositories": repos, "contact": contact})
    assert r.status_code == 202, r.text
    return r.json()


def assert_no_raw_script(body: str) -> None:
    assert "<script" not in body.lower(), body[:2000]
    assert "onerror=" not in body.lower() or "&#34;" in body or "&quot;" in body or "\\u003c" in body


# -- look-ups --------------------------------------------------------------------------------------


def test_lookup_latest_release_by_semver_and_per_version(client: TestClient) -> None:
    latest = client.get("/api/v1/lookup", params={"username": "ALICE"})
    assert latest.status_code == 200
    # v0.10.0 is newer than v0.9.0 although it sorts first as text.
    assert latest.json() == {"username": "alice", "version": "v0.10.0", "repositories": [
        {"name": "Alice/alpha", "files": 4}, {"name": "Alice/gamma", "files": 1}]}
    older = client.get("/api/v1/lookup", params={"username": "alice", "version": "v0.9.0"}).json()
    assert older["version"] == "v0.9.0"
    assert older["repositories"] == [{"name": "Alice/alpha", "files": 3}, {"name": "Alice/beta", "files": 2}]
    nobody = client.get("/api/v1/lookup", params={"username": "nobody-here"})
    assert nobody.status_code == 200 and nobody.json()["repositories"] == []


def test_unknown_version_and_invalid_username(client: TestClient) -> None:
    for version in ("v9.9.9", "latest", XSS):
        r = client.get("/api/v1/lookup", params={"username": "alice", "version": version})
        assert r.status_code == 404 and r.json() == {"detail": "unknown release version"}
    for name in [*HOSTILE, "-alice", "a" * 40, ""]:
        r = client.get("/api/v1/lookup", params={"username": name})
        assert r.status_code in (400, 422), (name, r.status_code)
        assert_no_raw_script(r.text)
        assert "DROP TABLE" not in r.text


def test_releases_newest_first(client: TestClient, releases: Path) -> None:
    write_release(releases, "v0.10.1-rc.1", {"carol/x": 1})
    (releases / ".v0.11.0.abc.tmp").mkdir()  # a release being written is not listed
    (releases / "notes").mkdir()
    listed = client.get("/api/v1/releases").json()["releases"]
    assert [r["version"] for r in listed] == ["v0.10.1-rc.1", "v0.10.0", "v0.9.0"]
    assert listed[1] == {"version": "v0.10.0", "created_at": "2025-01-01T00:00:00+00:00", "rows": 13,
                         "repositories": 4}
    # A release added while the portal runs answers at once.
    assert client.get("/api/v1/lookup", params={"username": "carol"}).json()["version"] == "v0.10.1-rc.1"


def test_version_precedence() -> None:
    order = ["v0.1.0", "v0.9.0", "v0.10.0-alpha", "v0.10.0-alpha.1", "v0.10.0-alpha.beta", "v0.10.0-beta.2",
             "v0.10.0-beta.11", "v0.10.0-rc.1", "v0.10.0", "v1.0.0"]
    assert sorted(reversed(order), key=version_key) == order


def test_in_memory_index_matches_the_parquet_index(tmp_path: Path) -> None:
    repos = {f"User{u % 997}/repo-{u}": u % 13 + 1 for u in range(20_000)}
    path = tmp_path / "usernames.parquet"
    write_usernames_index(path, repos, {})
    index = UsernameIndex.read(path)
    assert index.rows == 20_000 and index.usernames == 997
    for name in ("user0", "user5", "user996", "user997", "nobody"):
        expected = [(r["repo"], r["files"]) for r in lookup_username(path, name)]
        assert index.lookup(name) == expected
    # An index that is not sorted (not written by the release writer) is sorted, not misread.
    table = pq.read_table(path)
    shuffled = table.take(pa.array(list(range(table.num_rows))[::-1]))
    pq.write_table(shuffled, tmp_path / "shuffled.parquet")
    assert UsernameIndex.read(tmp_path / "shuffled.parquet").lookup("user5") == index.lookup("user5")


# -- opt-out requests and admin review --------------------------------------------------------------


def test_optout_request_status_and_admin_decisions(client: TestClient) -> None:
    created = new_request(client)
    assert created["status"] == "pending" and created["challenge"].startswith("stackwright-optout-")
    status = client.get(created["status_url"])
    assert status.status_code == 200
    public = status.json()
    assert public["status"] == "pending" and public["entries"] == ["alice/alpha"]
    assert "contact" not in public and "challenge" not in public and "alice@example.com" not in status.text
    assert client.get("/api/v1/optout/AAAAAAAAAAAAAAAAAAAAAAAA").status_code == 404

    url = f"/api/v1/admin/optout/{created['id']}/verify"
    assert client.post(url).status_code == 401
    wrong = client.post(url, headers=auth("admin-token-" + "y" * 24))
    assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
    assert client.post(url, headers={"Authorization": f"Basic {TOKEN}"}).status_code == 401
    assert client.get("/api/v1/admin/optouts").status_code == 401
    assert client.get("/api/v1/optout/" + created["id"]).json()["status"] == "pending"  # nothing changed

    verified = client.post(url, headers=auth())
    assert verified.status_code == 200 and verified.json()["status"] == "verified"
    assert verified.json()["verifier"] == "maintainer"
    assert client.post(url, headers=auth()).status_code == 409  # only pending requests are decided

    other = new_request(client, "bob", "all", "https://bob.example/contact")
    reject = f"/api/v1/admin/optout/{other['id']}/reject"
    assert client.post(reject, json={"reason": "no"}).status_code == 401
    assert client.post(reject, json={}, headers=auth()).status_code == 422
    rejected = client.post(reject, json={"reason": "not the owner"}, headers=auth())
    assert rejected.status_code == 200 and rejected.json()["status"] == "rejected"
    assert client.get(other["status_url"]).json()["reason"] == "not the owner"
    unknown = "/api/v1/admin/optout/AAAAAAAAAAAAAAAAAAAAAAAA/verify"
    assert client.post(unknown, headers=auth()).status_code == 404

    listed = client.get("/api/v1/admin/optouts", headers=auth()).json()["requests"]
    assert [(r["username"], r["status"], r["contact"]) for r in listed] == [
        ("alice", "verified", "alice@example.com"), ("bob", "rejected", "https://bob.example/contact")]
    only = client.get("/api/v1/admin/optouts", params={"status": "rejected"}, headers=auth()).json()
    assert [r["id"] for r in only["requests"]] == [other["id"]]
    assert client.get("/api/v1/admin/optouts", params={"status": XSS}, headers=auth()).status_code == 400


def test_optout_validation_refusals(client: TestClient) -> None:
    cases = [
        {"username": "alice", "repositories": [], "contact": "a@example.com"},
        {"username": "alice", "repositories": ["bob/tool"], "contact": "a@example.com"},
        {"username": "alice", "repositories": ["."], "contact": "a@example.com"},
        {"username": "alice", "repositories": "some", "contact": "a@example.com"},
        {"username": "alice", "repositories": ["alpha"], "contact": ""},
        {"username": "alice", "repositories": ["alpha"], "contact": "line\nbreak"},
        {"username": "alice", "repositories": ["alpha"]},
        {"username": "alice", "repositories": ["alpha"], "contact": "a@example.com", "extra": 1},
    ]
    for body in cases:
        r = client.post("/api/v1/optout", json=body)
        assert r.status_code in (400, 422), (body, r.status_code, r.text)
        assert "Traceback" not in r.text
    assert client.post("/api/v1/optout", content=b"{not json", headers={"content-type": "application/json"}
                       ).status_code == 422


# -- hostile input ----------------------------------------------------------------------------------


def test_injection_payloads_in_every_api_field(client: TestClient, tmp_path: Path) -> None:
    bodies: list[str] = []
    for payload in HOSTILE:
        for body in ({"username": payload, "repositories": ["alpha"], "contact": "a@example.com"},
                     {"username": "alice", "repositories": [payload], "contact": "a@example.com"},
                     {"username": "alice", "repositories": payload, "contact": "a@example.com"}):
            r = client.post("/api/v1/optout", json=body)
            assert r.status_code in (400, 422), (body, r.text)
            bodies.append(r.text)
        for params in ({"username": payload}, {"username": "alice", "version": payload}):
            bodies.append(client.get("/api/v1/lookup", params=params).text)
        bodies.append(client.get(f"/api/v1/optout/{quote(payload, safe='')}").text)
        bodies.append(client.get("/api/v1/admin/optouts", params={"status": payload}, headers=auth()).text)
    # Stored verbatim where free text is allowed, and harmless.
    stored = new_request(client, contact=XSS + SQLI)
    rejected = client.post(f"/api/v1/admin/optout/{stored['id']}/reject", json={"reason": XSS + SQLI},
                           headers=auth())
    assert rejected.status_code == 200 and rejected.json()["reason"] == XSS + SQLI
    assert rejected.json()["contact"] == XSS + SQLI  # the same value, JSON-escaped on the wire
    bodies += [rejected.text, client.get(stored["status_url"]).text,
               client.get("/api/v1/admin/optouts", headers=auth()).text]
    for body in bodies:
        assert_no_raw_script(body)
    with sqlite3.connect(tmp_path / "registry.sqlite") as db:
        tables = {row[0] for row in db.execute("select name from sqlite_master where type='table'")}
        assert "optout_request" in tables
        assert db.execute("select contact from optout_request").fetchall() == [(XSS + SQLI,)]


def test_injection_payloads_in_pages(tmp_path: Path, releases: Path) -> None:
    write_release(releases, "v0.11.0", {"Alice/alpha": 1, f"alice/{XSS}": 2, "alice/q\"onmouseover='x'": 1})
    with TestClient(create_app(make_settings(tmp_path, releases))) as client:
        pages = [client.get("/lookup", params={"username": p}) for p in HOSTILE]
        pages += [client.get("/optout", params={"username": p}) for p in HOSTILE]
        pages += [client.get(f"/optout/{quote(p, safe='')}") for p in HOSTILE]
        pages.append(client.get("/admin", params={"status": XSS}))
        lookup = client.get("/lookup", params={"username": "alice"})
        assert lookup.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in lookup.text
        pages.append(lookup)
        token = csrf(client, "/optout?username=alice")
        form = {"csrf_token": token, "username": "alice", "repositories": [f"alice/{XSS}"], "contact": XSS,
                "other": SQLI}
        refused = client.post("/optout", data=form)  # the names break GitHub's rules: refused, form again
        assert refused.status_code == 400 and 'value="&lt;script&gt;' in refused.text
        pages.append(refused)
        for payload in HOSTILE:
            pages.append(client.post("/optout", data={**form, "username": payload, "repositories": ["alpha"],
                                                      "other": ""}))
        created = client.post("/optout", data={**form, "repositories": ["Alice/alpha"], "other": ""})
        assert created.status_code == 200
        request_id = re.search(r'id="request-id">([^<]+)<', created.text).group(1)
        pages.append(created)
        client.post("/admin/login", data={"csrf_token": csrf(client, "/admin"), "password": PASSWORD})
        admin = client.get("/admin")
        # The contact, shown to administrators, escaped.
        assert admin.status_code == 200 and "&lt;script&gt;alert(1)&lt;/script&gt;" in admin.text
        pages.append(admin)
        reject = client.post(f"/admin/optout/{request_id}/reject",
                             data={"csrf_token": csrf(client, "/admin"), "reason": XSS})
        pages.append(reject)
        status = client.get(f"/optout/{request_id}")
        assert "rejected" in status.text and "&lt;script&gt;" in status.text
        pages.append(status)
    for page in pages:
        assert "text/html" in page.headers["content-type"] or page.status_code == 404
        assert_no_raw_script(page.text)
        assert "onmouseover='x'" not in page.text


# -- CSRF, body size, rate limit, headers -----------------------------------------------------------


def test_forms_refuse_missing_or_wrong_csrf_token(tmp_path: Path, releases: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, releases))) as client:
        form = {"username": "alice", "repositories": ["alpha"], "contact": "a@example.com"}
        assert client.post("/optout", data=form).status_code == 403
        token = csrf(client)
        assert client.post("/optout", data={**form, "csrf_token": token + "x"}).status_code == 403
        assert client.post("/admin/login", data={"password": PASSWORD}).status_code == 403
        forged = {"password": PASSWORD, "csrf_token": "forged"}
        assert client.post("/admin/login", data=forged).status_code == 403
        assert client.post("/optout", data={**form, "csrf_token": token}).status_code == 200
        # A token is only good with the cookie that signed it, from this portal's key.
        with TestClient(create_app(make_settings(tmp_path, releases))) as other:
            foreign = csrf(other)
            client.cookies.set("sw_csrf", other.cookies["sw_csrf"])
            assert client.post("/optout", data={**form, "csrf_token": foreign}).status_code == 403
        client.cookies.clear()
        # Admin actions: a session without the token is refused too.
        login = client.post("/admin/login", data={"csrf_token": csrf(client, "/admin"), "password": PASSWORD},
                            follow_redirects=False)
        assert login.status_code == 303
        rid = new_request(client)["id"]
        assert client.post(f"/admin/optout/{rid}/verify", data={}).status_code == 403
        assert client.get(f"/api/v1/optout/{rid}").json()["status"] == "pending"
        assert client.post(f"/admin/optout/{rid}/verify", data={"csrf_token": csrf(client, "/admin")},
                           follow_redirects=False).status_code == 303
        assert client.get(f"/api/v1/optout/{rid}").json()["status"] == "verified"


def test_oversized_bodies_are_refused(client: TestClient) -> None:
    big = {"username": "alice", "repositories": ["alpha"], "contact": "a" * 20_000}
    r = client.post("/api/v1/optout", json=big)
    assert r.status_code == 413 and r.headers["x-frame-options"] == "DENY"

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while streamed
        yield b'{"username": "alice", "repositories": ["alpha"], "contact": "'
        for _ in range(40):
            yield b"a" * 1000
        yield b'"}'

    r = client.post("/api/v1/optout", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413, r.text
    form = {"content-type": "application/x-www-form-urlencoded"}
    page = client.post("/optout", content=chunks(), headers=form)
    assert page.status_code == 413
    negative = client.post("/api/v1/optout", content=b"{}", headers={"content-length": "-1"})
    assert negative.status_code in (400, 413)
    assert client.get("/api/v1/admin/optouts", headers=auth()).json()["requests"] == []


def test_rate_limit_answers_429_with_retry_after(tmp_path: Path, releases: Path) -> None:
    with TestClient(create_app(make_settings(tmp_path, releases, rate_limit=5))) as client:
        codes = [client.get("/api/v1/lookup", params={"username": "alice"}).status_code for _ in range(5)]
        assert codes == [200] * 5
        limited = client.get("/")
        assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
        assert limited.headers["content-security-policy"].startswith("default-src 'self'")
        assert client.get("/api/v1/releases").status_code == 429


def test_token_bucket_refills() -> None:
    now = [0.0]
    limiter = RateLimiter(60, burst=2, clock=lambda: now[0], max_clients=3)
    assert [limiter.acquire("a") for _ in range(2)] == [0.0, 0.0]
    assert limiter.acquire("a") == pytest.approx(1.0)
    assert limiter.acquire("b") == 0.0  # buckets are per client
    now[0] = 1.0
    assert limiter.acquire("a") == 0.0 and limiter.acquire("a") > 0
    for client in ("c", "d", "e", "f"):
        limiter.acquire(client)
    assert len(limiter._buckets) <= 3


def test_security_headers_and_openapi(client: TestClient) -> None:
    for response in (client.get("/"), client.get("/api/v1/releases"), client.get("/nowhere"),
                     client.get("/static/portal.css"), client.get("/api/v1/lookup")):
        headers = response.headers
        assert headers["content-security-policy"].startswith("default-src 'self'")
        assert "frame-ancestors 'none'" in headers["content-security-policy"]
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        assert headers["referrer-policy"] == "no-referrer"
        assert "server" not in headers or "uvicorn" not in headers["server"]
    schema = client.get("/openapi.json").json()
    assert {"/api/v1/lookup", "/api/v1/releases", "/api/v1/optout", "/api/v1/optout/{request_id}",
            "/api/v1/admin/optouts", "/api/v1/admin/optout/{request_id}/verify",
            "/api/v1/admin/optout/{request_id}/reject"} <= set(schema["paths"])
    assert "post" in schema["paths"]["/api/v1/optout"]
    assert "HTTPBearer" in json.dumps(schema["components"]["securitySchemes"])
    assert client.get("/docs").status_code == 200


# -- pages ------------------------------------------------------------------------------------------


def test_lookup_page_marks_removed_repositories(client: TestClient) -> None:
    page = client.get("/lookup", params={"username": "Alice"})
    assert page.status_code == 200
    sections = dict(re.findall(r'data-version="([^"]+)">(.*?)</section>', page.text, re.S))
    assert list(sections) == ["v0.10.0", "v0.9.0"]
    assert 'data-repo="Alice/beta"><s>Alice/beta</s>' in sections["v0.10.0"]
    assert "removed in v0.10.0 (opt-out)" in sections["v0.10.0"]
    assert 'data-repo="Alice/beta">Alice/beta <span class="files">2 files' in sections["v0.9.0"]
    assert "removed" not in sections["v0.9.0"]
    assert "Alice/gamma" in sections["v0.10.0"] and "Alice/gamma" not in sections["v0.9.0"]
    bad = client.get("/lookup", params={"username": "not a name"})
    assert bad.status_code == 400 and "not a name" not in bad.text


def test_optout_form_confirmation_and_status_pages(client: TestClient) -> None:
    form = client.get("/optout", params={"username": "alice"})
    boxes = re.findall(r'name="repositories" value="([^"]+)"', form.text)
    assert boxes == ["Alice/alpha", "Alice/beta", "Alice/gamma"]  # every release's, to choose from
    assert 'name="all" value="1"' in form.text
    token = re.search(r'name="csrf_token" value="([^"]+)"', form.text).group(1)
    missing = client.post("/optout", data={"csrf_token": token, "username": "alice",
                                           "contact": "a@example.com"})
    assert missing.status_code == 400 and "Choose at least one repository" in missing.text
    done = client.post("/optout", data={"csrf_token": token, "username": "alice", "contact": "a@example.com",
                                        "repositories": ["Alice/alpha", "Alice/beta"], "other": "delta\n"})
    assert done.status_code == 200
    request_id = re.search(r'id="request-id">([^<]+)<', done.text).group(1)
    challenge = re.search(r'id="challenge">([^<]+)<', done.text).group(1)
    assert ".stackwright-optout" in done.text and f'href="/optout/{request_id}"' in done.text
    status = client.get(f"/optout/{request_id}")
    assert status.status_code == 200 and "pending" in status.text
    assert "alice/alpha, alice/beta, alice/delta" in status.text
    assert challenge not in status.text and "a@example.com" not in status.text
    everything = client.post("/optout", data={"csrf_token": token, "username": "alice", "all": "1",
                                              "contact": "a@example.com"})
    assert "every repository of" in everything.text
    assert client.get("/optout/AAAAAAAAAAAAAAAAAAAAAAAA").status_code == 404


def test_admin_pages_sign_in_and_review(client: TestClient) -> None:
    rid = new_request(client)["id"]
    login = client.get("/admin")
    assert 'type="password"' in login.text and "alice@example.com" not in login.text
    wrong = client.post("/admin/login", data={"csrf_token": csrf(client, "/admin"), "password": "nope"})
    assert wrong.status_code == 401 and "Wrong password" in wrong.text
    assert client.post(f"/admin/optout/{rid}/verify", data={"csrf_token": csrf(client, "/admin")}
                       ).status_code == 401
    ok = client.post("/admin/login", data={"csrf_token": csrf(client, "/admin"), "password": PASSWORD},
                     follow_redirects=False)
    assert ok.status_code == 303
    cookie = next(c for c in ok.headers.get_list("set-cookie") if c.startswith("sw_admin="))
    assert "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    review = client.get("/admin")
    assert "alice@example.com" in review.text and f'data-id="{rid}"' in review.text
    token = csrf(client, "/admin")
    assert client.post(f"/admin/optout/{rid}/reject", data={"csrf_token": token}).status_code == 400
    client.post(f"/admin/optout/{rid}/verify", data={"csrf_token": token})
    assert client.get(f"/api/v1/optout/{rid}").json()["status"] == "verified"
    # The admin token works as the sign-in password too; signing out ends the session.
    client.post("/admin/logout", data={"csrf_token": token})
    assert 'type="password"' in client.get("/admin").text
    client.post("/admin/login", data={"csrf_token": csrf(client, "/admin"), "password": TOKEN})
    assert "Opt-out requests" in client.get("/admin").text


def test_admin_disabled_without_credentials(tmp_path: Path, releases: Path) -> None:
    settings = make_settings(tmp_path, releases, admin_token=None, admin_password_hash=None)
    with TestClient(create_app(settings)) as client:
        assert client.get("/admin").status_code == 404
        assert client.get("/api/v1/admin/optouts", headers=auth()).status_code == 401


# -- passwords and settings ------------------------------------------------------------------------


def test_password_hashes() -> None:
    for method in ("scrypt", PBKDF2):
        encoded = hash_password("s3cret", method)
        assert encoded.startswith(method + "$")
        assert verify_password("s3cret", encoded) and not verify_password("s3cret ", encoded)
        assert hash_password("s3cret", method) != encoded  # salted
    for bad in ("plain", "scrypt$3$8$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "pbkdf2_sha256$10$AAAA$AAAA",
                "scrypt$1048576$64$1$AAAAAAAAAAA$AAAAAAAAAAAAAAAAAAAAAA", "md5$abc"):
        with pytest.raises(PasswordHashError):
            verify_password("x", bad)
        with pytest.raises(ValueError):
            PortalSettings(releases=Path("."), admin_password_hash=bad)
    with pytest.raises(ValueError):
        PortalSettings(releases=Path("."), admin_token="short")


def test_hash_password_command(tmp_path: Path) -> None:
    import subprocess as sp

    proc = sp.run([*stackwright_cmd(), "portal", "hash-password", "--stdin"], input="hunter22\n",
                  capture_output=True, text=True, env=cli_env(), timeout=60, check=False)
    assert proc.returncode == 0, proc.stderr
    assert verify_password("hunter22", proc.stdout.strip())
    bad = sp.run([*stackwright_cmd(), "portal", "hash-password", "--stdin", "--method", "md5"], input="x\n",
                 capture_output=True, text=True, env=cli_env(), timeout=60, check=False)
    assert bad.returncode == 2 and "Traceback" not in bad.stderr and len(bad.stderr.strip().splitlines()) == 1


def test_serve_refuses_bad_settings_in_one_line(tmp_path: Path) -> None:
    missing = run_cli("portal", "serve", "--releases", tmp_path / "nowhere")
    assert missing.returncode == 2 and "no such releases folder" in missing.stderr
    assert len(missing.stderr.strip().splitlines()) == 1
    (tmp_path / "rel").mkdir()
    env = cli_env(STACKWRIGHT_ADMIN_TOKEN="short")
    short = run_cli("portal", "serve", "--releases", tmp_path / "rel", "--db", f"sqlite:///{tmp_path}/r.db",
                    env=env)
    assert short.returncode == 2 and "admin_token" in short.stderr
    assert "short" not in short.stderr.split(":", 1)[1]
    bad_db = run_cli("portal", "serve", "--releases", tmp_path / "rel", "--db", "mysql://u:hunter2@h/db")
    assert bad_db.returncode == 2 and "hunter2" not in bad_db.stderr and "Traceback" not in bad_db.stderr


# -- a real server --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(proc: subprocess.Popen[str], url: str, timeout: float = 60) -> None:
    import httpx

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            stderr = proc.stderr.read() if proc.stderr else ""
            raise AssertionError(f"the portal exited with {proc.returncode}: {stderr}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError("the portal did not start in time")


def test_real_uvicorn_server_over_loopback(tmp_path: Path, releases: Path) -> None:
    import httpx

    port = free_port()
    env = cli_env(STACKWRIGHT_ADMIN_TOKEN=TOKEN, STACKWRIGHT_PORTAL_SECRET="k" * 32)
    proc = subprocess.Popen(
        [*stackwright_cmd(), "portal", "serve", "--releases", str(releases), "--port", str(port),
         "--db", f"sqlite:///{tmp_path / 'served.sqlite'}", "--rate-limit", "1000"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_ready(proc, f"{base}/api/v1/releases")
        with httpx.Client(base_url=base, timeout=10) as http:
            found = http.get("/api/v1/lookup", params={"username": "bob"})
            assert found.json() == {"username": "bob", "version": "v0.10.0",
                                    "repositories": [{"name": "bob/tool", "files": 7}]}
            assert found.headers["x-frame-options"] == "DENY" and "server" not in found.headers
            created = http.post("/api/v1/optout", json={"username": "bob", "repositories": "all",
                                                        "contact": "bob@example.com"})
            assert created.status_code == 202
            rid = created.json()["id"]
            assert http.post(f"/api/v1/admin/optout/{rid}/verify").status_code == 401
            verified = http.post(f"/api/v1/admin/optout/{rid}/verify", headers=auth())
            assert verified.json()["status"] == "verified"
            assert http.post("/api/v1/optout", content=b"x" * 17_000,
                             headers={"content-type": "application/json"}).status_code == 413
            assert "Am I in the dataset?" in http.get("/").text
    finally:
        proc.terminate()
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            _, stderr = proc.communicate()
    assert "Traceback" not in stderr
    assert "bob@example.com" not in stderr and TOKEN not in stderr  # no contact or secret in the logs
    assert proc.returncode in (0, -15), stderr
