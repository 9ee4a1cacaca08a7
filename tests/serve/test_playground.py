"""The completion playground in a real browser: ``stackwright serve`` with a tiny trained model on a
loopback port, its page at ``/playground`` driven by headless Chromium (Playwright).

One test asks the real model for a fill-in-the-middle suggestion at the cursor and accepts it with Tab;
the others replace the model's answer (``page.route``, the completion id kept real) to show an
attribution, a withheld suggestion, an error and a stale answer. The page's view, select and dismiss
events are checked in the browser's requests and in the server's ``/metrics``.
"""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from helpers import cli_env, stackwright_cmd

CHROMIUM = Path("/usr/bin/chromium")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="/usr/bin/chromium is not installed"),
]
pytest.importorskip("torch", reason="the model extra is missing")
pytest.importorskip("fastapi", reason="the serve extra is missing")
pytest.importorskip("uvicorn", reason="the serve extra is missing")
pytest.importorskip("prometheus_client", reason="the serve extra is missing")
httpx = pytest.importorskip("httpx", reason="the dev extra is missing")
sync_api = pytest.importorskip("playwright.sync_api", reason="playwright (the browser extra) is missing")
expect = sync_api.expect

LATENCY = re.compile(r"\d+ ms")
PREFIX = "import math\n\n\ndef area(radius):\n    return "
SUFFIX = "\n\n\ndef main():\n    print(area(2.0))\n"
MATCH = {"repo": "team3/project3", "path": "src/heapq.py", "license": "PSF-2.0", "overlap_chars": 140,
         "overlap_fraction": 0.93, "exact": False}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tiny_model: Path) -> Iterator[str]:
    """``stackwright serve`` on the tiny model, until the module's tests are done."""
    port = free_port()
    proc = subprocess.Popen([*stackwright_cmd(), "serve", str(tiny_model), "--port", str(port),
                             "--host", "127.0.0.1"], env=cli_env(), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            if proc.poll() is not None:
                raise AssertionError(f"the server exited ({proc.returncode}): {proc.communicate()[1]}")
            try:
                if httpx.get(f"{base}/health", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("the server did not answer /health in 120 s")
            time.sleep(0.25)
        yield base
    finally:
        proc.terminate()
        try:
            proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.communicate()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with sync_api.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            chromium.close()


class Session:
    """One page of the playground and what it did: the events it posted and its script errors."""

    def __init__(self, page: Any, base: str) -> None:
        self.page, self.base = page, base
        self.events: list[dict[str, Any]] = []
        self.problems: list[str] = []
        page.on("pageerror", lambda e: self.problems.append(str(e)))
        page.on("console", self._console)
        page.on("request", self._request)

    def _console(self, message: Any) -> None:
        if message.type == "error" and "favicon" not in str(message.location.get("url", "")):
            self.problems.append(message.text)

    def _request(self, request: Any) -> None:
        if request.url.endswith("/v1/events") and request.method == "POST":
            self.events.append(json.loads(request.post_data or "{}"))

    def open(self) -> None:
        self.page.goto(self.base + "/")  # redirects to /playground
        assert self.page.url.endswith("/playground")
        expect(self.page.locator("#model")).to_have_text(re.compile(r"^model: (?!loading)\S"))

    def write(self, prefix: str, suffix: str) -> None:
        """Type ``prefix + suffix`` into the editor and put the cursor between them."""
        self.page.click("#editor")
        self.page.keyboard.press("Control+A")
        self.page.keyboard.press("Delete")
        self.page.keyboard.type(prefix + suffix)
        for _ in suffix:
            self.page.keyboard.press("ArrowLeft")
        assert self.editor() == (prefix + suffix, len(prefix), len(prefix))

    def editor(self) -> tuple[str, int, int]:
        return tuple(self.page.evaluate(
            "() => { const e = document.getElementById('editor');"
            " return [e.value, e.selectionStart, e.selectionEnd]; }"))

    def ghost(self) -> str:
        return self.page.locator("#ghost").text_content() or ""

    def suggest(self) -> dict[str, Any]:
        """Ctrl+Space; the completion request's JSON body and the answer's JSON."""
        with self.page.expect_response("**/v1/completions") as info:
            self.page.keyboard.press("Control+Space")
        response = info.value
        return {"request": response.request.post_data_json, "answer": response.json()}

    def wait_events(self, count: int) -> None:
        deadline = time.monotonic() + 10
        while len(self.events) < count and time.monotonic() < deadline:
            self.page.wait_for_timeout(50)
        assert len(self.events) == count, self.events


@pytest.fixture()
def session(server: str, browser: Any) -> Iterator[Session]:
    context = browser.new_context()
    try:
        yield Session(context.new_page(), server)
    finally:
        context.close()


def event_counts(base: str) -> dict[str, float]:
    """``stackwright_completion_events_total`` by type, summed over any other labels."""
    counts: dict[str, float] = {}
    for line in httpx.get(f"{base}/metrics", timeout=10).text.splitlines():
        found = re.match(r"stackwright_completion_events_total\{([^}]*)\}\s+(\S+)", line)
        kind = re.search(r'type="([^"]*)"', found.group(1)) if found else None
        if found and kind:
            counts[kind.group(1)] = counts.get(kind.group(1), 0.0) + float(found.group(2))
    return counts


def wait_counts(base: str, before: dict[str, float], **more: int) -> dict[str, float]:
    """Poll ``/metrics`` until each named event type counts ``more`` events over ``before``."""
    deadline = time.monotonic() + 10
    while True:
        now = event_counts(base)
        delta = {k: now.get(k, 0.0) - before.get(k, 0.0) for k in more}
        if all(delta[k] >= n for k, n in more.items()) or time.monotonic() > deadline:
            assert delta == {k: float(n) for k, n in more.items()}, (before, now)
            return now
        time.sleep(0.1)


def rewrite_completion(session: Session, change: Callable[[dict[str, Any]], None]) -> None:
    """Answer every completion request with the server's real answer changed by ``change``."""
    def handle(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        change(body["choices"][0])
        route.fulfill(response=response, json=body)

    session.page.route("**/v1/completions", handle)


def test_suggest_and_accept_with_the_real_model(session: Session, server: str) -> None:
    model = httpx.get(f"{server}/v1/models", timeout=10).json()["data"][0]["id"]
    session.open()
    before = event_counts(server)
    # Tiny models sometimes answer an empty string: try a few cursor places for a non-empty one.
    places = [(PREFIX, SUFFIX), ("def add(a, b):\n    ", "\n"), ("for i in range(", "):\n    pass\n")]
    for prefix, suffix in places:
        session.write(prefix, suffix)
        asked = session.suggest()
        assert asked["request"] == {"model": model, "prompt": prefix, "suffix": suffix, "max_tokens": 48,
                                    "temperature": 0, "stop": ["\n\n"]}
        answer = asked["answer"]
        assert answer["object"] == "text_completion" and answer["id"]
        expect(session.page.locator("#status")).to_have_text(LATENCY)
        text = answer["choices"][0]["text"]
        if text:
            break
        assert session.ghost() == "" and session.events == []
    if not text:
        assert event_counts(server) == before  # nothing was shown, nothing counted
        assert session.problems == []
        return

    assert session.ghost() == text
    assert session.editor()[0] == prefix + suffix  # ghost text only: the editor is unchanged
    session.wait_events(1)
    assert session.events[0] == {"type": "view", "completion_id": answer["id"], "choice_index": 0}
    counted = wait_counts(server, before, view=1)

    session.page.keyboard.press("Tab")
    inserted = text.replace("\r\n", "\n").replace("\r", "\n")  # as a textarea stores it
    assert session.editor() == (prefix + inserted + suffix, len(prefix + inserted), len(prefix + inserted))
    assert session.ghost() == ""
    session.wait_events(2)
    assert session.events[1] == {"type": "select", "completion_id": answer["id"], "choice_index": 0}
    wait_counts(server, counted, select=1)
    assert session.page.evaluate("document.activeElement.id") == "editor"  # Tab did not move the focus
    assert session.problems == []


def test_attribution_is_shown_and_dismissing_counts(session: Session, server: str) -> None:
    def attributed(choice: dict[str, Any]) -> None:
        choice["text"] = "math.pi * radius ** 2"
        choice["attribution"] = {"checked": True, "withheld": False, "matches": [MATCH]}

    rewrite_completion(session, attributed)
    session.open()
    before = event_counts(server)
    session.write(PREFIX, SUFFIX)
    answer = session.suggest()["answer"]
    expect(session.page.locator("#ghost")).to_have_text("math.pi * radius ** 2")
    expect(session.page.locator("#mark")).to_be_visible()
    panel = session.page.locator("#attribution")
    expect(panel).to_be_visible()
    expect(panel).to_contain_text("team3/project3 src/heapq.py (PSF-2.0) — 140 chars verbatim")
    expect(session.page.locator("#status")).to_have_text(LATENCY)
    session.wait_events(1)
    assert session.events[0] == {"type": "view", "completion_id": answer["id"], "choice_index": 0}

    session.page.keyboard.press("Escape")
    assert session.ghost() == "" and session.editor() == (PREFIX + SUFFIX, len(PREFIX), len(PREFIX))
    expect(panel).to_be_hidden()
    expect(session.page.locator("#mark")).to_be_hidden()
    session.wait_events(2)
    assert session.events[1] == {"type": "dismiss", "completion_id": answer["id"], "choice_index": 0}

    # The suggest button asks too; typing something else dismisses the suggestion and types.
    with session.page.expect_response("**/v1/completions"):
        session.page.click("#suggest")
    expect(session.page.locator("#ghost")).to_have_text("math.pi * radius ** 2")
    session.wait_events(3)
    session.page.keyboard.type("3")
    assert session.ghost() == ""
    assert session.editor() == (PREFIX + "3" + SUFFIX, len(PREFIX) + 1, len(PREFIX) + 1)
    session.wait_events(4)
    assert [e["type"] for e in session.events] == ["view", "dismiss", "view", "dismiss"]
    wait_counts(server, before, view=2, dismiss=2)
    assert session.problems == []


def test_withheld_suggestion_is_explained(session: Session, server: str) -> None:
    def withheld(choice: dict[str, Any]) -> None:
        choice["text"] = ""
        choice["attribution"] = {"checked": True, "withheld": True, "matches": [MATCH]}

    rewrite_completion(session, withheld)
    session.open()
    session.write(PREFIX, SUFFIX)
    session.suggest()
    panel = session.page.locator("#attribution")
    expect(panel).to_contain_text("suggestion withheld: it repeats training code")
    expect(panel).to_contain_text("team3/project3 src/heapq.py (PSF-2.0)")
    expect(session.page.locator("#status")).to_have_text(re.compile(r"withheld.*\d+ ms"))
    assert session.ghost() == ""
    session.page.keyboard.press("Tab")  # nothing to accept: the editor is unchanged
    assert session.editor()[0] == PREFIX + SUFFIX
    session.page.wait_for_timeout(300)
    assert session.events == []  # nothing was shown
    assert session.problems == []


def test_errors_and_stale_answers(session: Session) -> None:
    error = {"error": {"message": "the prompt is too long", "type": "invalid_request_error"}}
    routes: list[Any] = []  # the first request fails; later ones wait here for the test to answer

    def handle(route: Any) -> None:
        routes.append(route)
        if len(routes) == 1:
            route.fulfill(status=400, json=error)

    session.page.route("**/v1/completions", handle)
    session.open()
    session.write(PREFIX, SUFFIX)
    session.suggest()
    expect(session.page.locator("#status")).to_have_text("error: the prompt is too long")
    expect(session.page.locator("#status")).to_have_class(re.compile(r"\berror\b"))
    assert session.ghost() == ""
    # The failed request's console line is the browser's own, about the 400.
    assert all("status of 400" in p for p in session.problems), session.problems

    # An answer that arrives after the cursor moved is discarded.
    session.page.keyboard.press("Control+Space")
    expect(session.page.locator("#status")).to_have_text("requesting…")
    deadline = time.monotonic() + 10
    while len(routes) < 2 and time.monotonic() < deadline:
        session.page.wait_for_timeout(20)
    assert len(routes) == 2, "the second completion request did not come"
    session.page.keyboard.press("ArrowLeft")
    canned = {"id": "cmpl-stale", "object": "text_completion", "model": "m",
              "choices": [{"index": 0, "text": "stale text", "finish_reason": "stop"}]}
    routes[1].fulfill(json=canned)
    expect(session.page.locator("#status")).to_contain_text("stale")
    assert session.ghost() == "" and session.events == []


def test_auto_suggests_after_a_typing_pause(session: Session) -> None:
    session.open()
    auto = session.page.locator("#auto")
    expect(auto).not_to_be_checked()  # off by default
    session.write(PREFIX, SUFFIX)
    auto.check()
    session.page.focus("#editor")
    typed = time.monotonic()
    with session.page.expect_request("**/v1/completions", timeout=10_000) as info:
        session.page.keyboard.type("3")
    assert time.monotonic() - typed >= 0.35  # after the pause, not on the keystroke
    assert info.value.post_data_json["prompt"] == PREFIX + "3"
    assert info.value.post_data_json["suffix"] == SUFFIX
    expect(session.page.locator("#status")).to_have_text(LATENCY)
    assert session.problems == []
