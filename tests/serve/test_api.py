"""The server's APIs as clients speak them: the openai client, and raw HTTP for TGI, llama.cpp and Tabby."""

from __future__ import annotations

import concurrent.futures as cf
import json
import re
from typing import Any

import httpx
import pytest
from server_process import Server

PREFIX = "def fibonacci(n):\n    "
SUFFIX = "\n    return a\n"


def _post(server: Server, path: str, body: Any, **kwargs: Any) -> httpx.Response:
    return httpx.post(server.url + path, json=body, timeout=60, **kwargs)


def _metric(server: Server, name: str, **labels: str) -> float:
    text = httpx.get(server.url + "/metrics", timeout=10).text
    want = ",".join(f'{k}="{v}"' for k, v in labels.items())
    pattern = re.escape(name) + (r"\{" + re.escape(want) + r"\}" if want else "") + r" ([0-9.e+-]+)"
    found = re.search("^" + pattern + "$", text, re.M)
    assert found, f"{name} {labels} not in /metrics"
    return float(found.group(1))


def test_openai_client_completion_with_suffix_and_streaming(server: Server) -> None:
    openai = pytest.importorskip("openai")
    client = openai.OpenAI(base_url=server.url + "/v1", api_key="unused", max_retries=0)
    assert [m.id for m in client.models.list().data] == ["tiny"]
    done = client.completions.create(model="tiny", prompt=PREFIX, suffix=SUFFIX, max_tokens=12, temperature=0)
    assert done.object == "text_completion" and len(done.choices) == 1
    assert done.choices[0].finish_reason in ("stop", "length")
    assert done.usage.completion_tokens <= 12 and done.usage.prompt_tokens > 3
    again = client.completions.create(model="tiny", prompt=PREFIX, suffix=SUFFIX, max_tokens=12,
                                      temperature=0)
    assert again.choices[0].text == done.choices[0].text  # greedy is deterministic
    streamed = client.completions.create(model="tiny", prompt=PREFIX, suffix=SUFFIX, max_tokens=12,
                                         temperature=0, stream=True)
    chunks = list(streamed)
    assert "".join(c.choices[0].text for c in chunks) == done.choices[0].text
    assert chunks[-1].choices[0].finish_reason == done.choices[0].finish_reason
    several = client.completions.create(model="tiny", prompt=["import os\n", "x = "], max_tokens=4, n=2,
                                        temperature=0.8, seed=3)
    assert sorted(c.index for c in several.choices) == [0, 1, 2, 3]
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="no-such-model", prompt="x", max_tokens=2)


def test_tgi_generate_and_stream(server: Server) -> None:
    fim = f"<fim_prefix>{PREFIX}<fim_suffix>{SUFFIX}<fim_middle>"
    body = {"inputs": fim, "parameters": {"max_new_tokens": 10, "details": True}}
    answer = _post(server, "/generate", body)
    assert answer.status_code == 200, answer.text
    text = answer.json()["generated_text"]
    assert answer.json()["details"]["finish_reason"] in ("length", "eos_token")
    # llm-vscode's layout is the same prompt as prefix + suffix through the OpenAI API.
    same = _post(server, "/v1/completions", {"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 10,
                                              "temperature": 0})
    assert same.json()["choices"][0]["text"] == text
    with httpx.stream("POST", server.url + "/generate_stream", json=body, timeout=60) as stream:
        assert stream.headers["content-type"].startswith("text/event-stream")
        events = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    assert events[-1]["generated_text"] == text
    assert "".join(e["token"]["text"] for e in events[:-1]) == text


def test_llama_cpp_infill(server: Server) -> None:
    answer = _post(server, "/infill", {"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 10,
                                       "temperature": 0})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["stop"] is True and got["tokens_predicted"] <= 10 and got["tokens_evaluated"] > 3
    same = _post(server, "/v1/completions", {"prompt": PREFIX, "suffix": SUFFIX, "max_tokens": 10,
                                              "temperature": 0})
    assert got["content"] == same.json()["choices"][0]["text"]
    with httpx.stream("POST", server.url + "/infill", timeout=60,
                      json={"input_prefix": PREFIX, "input_suffix": SUFFIX, "n_predict": 10, "temperature": 0,
                            "stream": True}) as stream:
        events = [json.loads(line[5:]) for line in stream.iter_lines() if line.startswith("data:")]
    assert events[-1]["stop"] is True
    assert "".join(e["content"] for e in events) == got["content"]


def test_tabby_completion_events_and_acceptance_rate(server: Server) -> None:
    answer = _post(server, "/v1/completions", {"language": "python",
                                               "segments": {"prefix": PREFIX, "suffix": SUFFIX}})
    assert answer.status_code == 200, answer.text
    got = answer.json()
    assert got["id"].startswith("cmpl-") and got["choices"][0]["index"] == 0
    views, selects = _metric(server, "stackwright_completion_events_total", type="view"), _metric(
        server, "stackwright_completion_events_total", type="select")
    for kind in ("view", "view", "select", "dismiss"):
        event = _post(server, "/v1/events", {"type": kind, "completion_id": got["id"], "choice_index": 0})
        assert event.status_code == 200
    assert _metric(server, "stackwright_completion_events_total", type="view") == views + 2
    assert _metric(server, "stackwright_acceptance_rate") == pytest.approx((selects + 1) / (views + 2))
    assert _post(server, "/v1/events", {"type": "explode", "completion_id": "x"}).status_code == 400
    assert httpx.get(server.url + "/v1/health", timeout=10).json()["model"] == "tiny"


def test_health_and_metrics(server: Server) -> None:
    health = httpx.get(server.url + "/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    _post(server, "/v1/completions", {"prompt": "import", "max_tokens": 3})
    assert _metric(server, "stackwright_requests_total", api="/v1/completions", code="200") >= 1
    assert _metric(server, "stackwright_request_latency_seconds_count", api="/v1/completions") >= 1
    assert _metric(server, "stackwright_completion_tokens_total") >= 1
    for name in ("stackwright_queue_depth", "stackwright_active_sequences", "stackwright_tokens_per_second"):
        assert _metric(server, name) >= 0


@pytest.mark.parametrize(("body", "status", "words"), [
    (b"{not json", 400, "not valid JSON"),
    (b"[1, 2]", 400, "JSON object"),
    (b'{"prompt": "x", "max_tokens": -1}', 400, "max_tokens"),
    (b'{"prompt": "x", "temperature": "hot"}', 400, "temperature"),
    (b'{"prompt": "x", "logprobs": 3}', 400, "logprobs"),
    (b'{"prompt": "x", "model": "gpt-9"}', 404, "gpt-9"),
    (b"\xff\xfe", 400, "UTF-8"),
])
def test_bad_requests_get_a_clear_4xx(server: Server, body: bytes, status: int, words: str) -> None:
    answer = httpx.post(server.url + "/v1/completions", content=body, timeout=30,
                        headers={"content-type": "application/json"})
    assert answer.status_code == status
    assert words in answer.json()["error"]["message"]
    assert httpx.get(server.url + "/health", timeout=10).status_code == 200


def test_huge_prompts_are_budgeted_or_refused(server: Server) -> None:
    long = _post(server, "/v1/completions", {"prompt": "x = 1\n" * 50_000, "suffix": "y = 2\n" * 50_000,
                                              "max_tokens": 4})
    assert long.status_code == 200, long.text
    assert long.json()["usage"]["prompt_tokens"] <= 512
    huge = httpx.post(server.url + "/v1/completions", content=b'{"prompt": "' + b"a" * (5 << 20) + b'"}',
                      timeout=60, headers={"content-type": "application/json"})
    assert huge.status_code == 413 and "larger than" in huge.json()["error"]["message"]


def test_a_client_leaving_mid_stream_is_cancelled_and_the_server_goes_on(server: Server) -> None:
    body = {"prompt": "import os\n", "max_tokens": 400, "ignore_eos": True, "stream": True, "temperature": 0}
    with httpx.stream("POST", server.url + "/v1/completions", json=body, timeout=60) as stream:
        for line in stream.iter_lines():
            if line.startswith("data:"):
                break  # one chunk, then hang up
    answer = _post(server, "/v1/completions", {"prompt": "import os\n", "max_tokens": 5, "temperature": 0})
    assert answer.status_code == 200
    import time

    deadline = time.monotonic() + 30
    while httpx.get(server.url + "/health", timeout=10).json()["active"] and time.monotonic() < deadline:
        time.sleep(0.1)
    assert httpx.get(server.url + "/health", timeout=10).json()["active"] == 0


def test_overload_is_shed_with_503_and_the_server_recovers(server: Server) -> None:
    body = {"prompt": "def f():\n", "max_tokens": 120, "ignore_eos": True, "temperature": 0}

    def one(_: int) -> httpx.Response:
        return _post(server, "/v1/completions", body)

    with cf.ThreadPoolExecutor(24) as pool:
        answers = list(pool.map(one, range(24)))
    codes = [a.status_code for a in answers]
    assert set(codes) <= {200, 503} and codes.count(503) >= 1 and codes.count(200) >= 4
    shed = next(a for a in answers if a.status_code == 503)
    assert shed.headers["retry-after"] == "1" and "busy" in shed.json()["error"]["message"]
    assert _metric(server, "stackwright_shed_requests_total") >= codes.count(503)
    after = _post(server, "/v1/completions", {"prompt": "x", "max_tokens": 2})
    assert after.status_code == 200
