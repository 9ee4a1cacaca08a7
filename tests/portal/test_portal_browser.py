"""The portal end to end in a real browser: build, release, look up, opt out, verify, apply, look up again.

Everything is real: git repositories, `stackwright build` and `stackwright release`, the opt-out registry
(SQLite), `stackwright portal serve` (uvicorn) on a loopback port, `stackwright optout apply`, and
headless Chromium driven by Playwright.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from helpers import cli_env, commit_all, git, run_cli, stackwright_cmd, write

CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "browser test password"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def make_repos(root: Path) -> Path:
    """Three git repositories of one user, named owner__name as the folder layout expects."""
    for name, body in (("alpha", "def alpha():\n    return 1\n"), ("beta", "def beta():\n    return 2\n"),
                       ("gamma", "def gamma():\n    return 3\n")):
        repo = root / f"alice__{name}"
        repo.mkdir(parents=True)
        git(repo, "init", "-q")
        write(repo / f"{name}.py", body)
        write(repo / "README.md", f"# {name}\n\nA small project for the portal test.\n")
        commit_all(repo, "first")
    return root


@pytest.fixture()
def portal(tmp_path: Path) -> Iterator[dict[str, object]]:
    from stackwright.portal.passwords import hash_password

    db = f"sqlite:///{tmp_path / 'registry.sqlite'}"
    # The registry is named with --db; the empty data dir keeps any default registry out of the build.
    env = cli_env(STACKWRIGHT_DATA=str(tmp_path / "data"),
                  STACKWRIGHT_ADMIN_PASSWORD_HASH=hash_password(PASSWORD))
    releases = tmp_path / "releases"
    built = run_cli("build", make_repos(tmp_path / "src"), "--out", tmp_path / "dataset", "--no-progress",
                    env=env)
    assert built.returncode == 0, built.stderr
    released = run_cli("release", tmp_path / "dataset", "--version", "v0.1.0", "--out", releases / "v0.1.0",
                       env=env)
    assert released.returncode == 0, released.stderr
    port = free_port()
    proc = subprocess.Popen([*stackwright_cmd(), "portal", "serve", "--releases", str(releases), "--db", db,
                             "--port", str(port)], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        _wait(proc, f"{base}/api/v1/releases")
        yield {"base": base, "releases": releases, "db": db, "env": env}
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


def _wait(proc: subprocess.Popen[str], url: str) -> None:
    import httpx

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"the portal exited: {proc.stderr.read() if proc.stderr else ''}")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("the portal did not start in time")


def repos_in(page: object, version: str) -> dict[str, str]:
    """repository -> its line's text, in one release's section of the look-up page."""
    items = page.locator(f'section[data-version="{version}"] li.repo')  # type: ignore[attr-defined]
    return {items.nth(i).get_attribute("data-repo"): items.nth(i).inner_text() for i in range(items.count())}


def test_lookup_optout_verify_apply_in_a_browser(portal: dict[str, object], tmp_path: Path) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the browser extra) is missing")
    base, releases = str(portal["base"]), Path(str(portal["releases"]))
    problems: list[str] = []
    with sync_api.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            page = browser.new_page()
            page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: problems.append(str(e)))

            # Look the user up from the home page's form.
            page.goto(base + "/")
            page.fill("#username", "Alice")
            page.click("form.lookup button[type=submit]")
            page.wait_for_url(re.compile(r"/lookup\?username=Alice"))
            assert set(repos_in(page, "v0.1.0")) == {"alice/alpha", "alice/beta", "alice/gamma"}

            # Opt out of one repository through the form.
            page.click("a.button")
            page.check('input[name="repositories"][value="alice/beta"]')
            page.fill("#contact", "alice@example.com")
            page.click("form.optout button[type=submit]")
            request_id = page.inner_text("#request-id")
            assert page.inner_text("#request-status") == "pending"
            assert page.inner_text("#challenge").startswith("stackwright-optout-")
            page.click("#status-link")
            assert page.inner_text("#request-status") == "pending"

            # Sign in as administrator and verify it.
            page.goto(base + "/admin")
            page.fill("#password", PASSWORD)
            page.click("form[action='/admin/login'] button[type=submit]")
            row = page.locator(f'tr[data-id="{request_id}"]')
            assert "alice@example.com" in row.inner_text()
            row.locator("button.verify").click()
            page.goto(f"{base}/optout/{request_id}")
            assert page.inner_text("#request-status") == "verified"

            # Apply the verified opt-outs: a new release without alice/beta.
            applied = run_cli("optout", "apply", releases / "v0.1.0", "--out", releases / "v0.2.0",
                              "--version", "v0.2.0", "--db", str(portal["db"]), "--json",
                              env=portal["env"])  # type: ignore[arg-type]
            assert applied.returncode == 0, applied.stderr
            assert json.loads(applied.stdout)["optouts"]["removed"] == {"alice/beta": 2}

            # Look up again: gone from v0.2.0, still listed in v0.1.0, and marked removed.
            page.goto(base + "/")
            page.fill("#username", "alice")
            page.click("form.lookup button[type=submit]")
            page.wait_for_selector('section[data-version="v0.2.0"]')
            newer, older = repos_in(page, "v0.2.0"), repos_in(page, "v0.1.0")
            assert set(older) == {"alice/alpha", "alice/beta", "alice/gamma"}
            assert "removed" not in older["alice/beta"]
            assert set(newer) == {"alice/alpha", "alice/beta", "alice/gamma"}
            assert "removed in v0.2.0" in newer["alice/beta"] and "opt-out" in newer["alice/beta"]
            assert "removed" not in newer["alice/alpha"]
            struck = page.locator('section[data-version="v0.2.0"] li.repo.removed s')
            assert struck.inner_text() == "alice/beta"
            page.goto(f"{base}/optout/{request_id}")
            assert page.inner_text("#request-status") == "applied"

            shot = tmp_path / "portal.png"
            page.set_viewport_size({"width": 1000, "height": 700})
            page.goto(f"{base}/lookup?username=alice")
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 5_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert problems == [], problems  # no script errors, no Content-Security-Policy violations
