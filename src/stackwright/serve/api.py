"""The completion server's HTTP app: ``create_app(service)``.

Routes, by the client that speaks them:

* OpenAI: ``POST /v1/completions`` (``prompt``, ``suffix`` for FIM, ``stream`` as server-sent
  events ending in ``data: [DONE]``) and ``GET /v1/models``;
* Tabby: the same ``POST /v1/completions`` with ``segments: {prefix, suffix}``, ``POST /v1/events``
  (view / select / dismiss; the acceptance rate is in ``/metrics``) and ``GET /v1/health``;
* TGI: ``POST /generate`` and ``POST /generate_stream`` (llm-vscode);
* llama.cpp: ``POST /infill`` (``input_prefix``, ``input_suffix``, ``stream``);
* ``GET /health``, Prometheus ``GET /metrics``, and the playground at ``/playground``.

Errors are JSON ``{"error": {"message", "type"}}`` with a 4xx or 5xx status and never quote the
prompt. A full queue answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError

from stackwright import __version__
from stackwright.serve import schemas
from stackwright.serve.service import ApiError, Outcome, Run, Service, Spec, openai_finish

MAX_BODY = 4 * 1024 * 1024
PLAYGROUND = Path(__file__).with_name("playground") / "index.html"


def _error(status: int, message: str, kind: str = "invalid_request_error",
           headers: dict[str, str] | None = None) -> JSONResponse:
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


async def _json(request: Request) -> dict[str, Any]:
    """The request's JSON object; ApiError 413 or 400 with a readable message."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY:
        raise ApiError(413, f"the request body is larger than {MAX_BODY // (1024 * 1024)} MiB")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY:
            raise ApiError(413, f"the request body is larger than {MAX_BODY // (1024 * 1024)} MiB")
        chunks.append(chunk)
    try:
        data = json.loads(b"".join(chunks).decode("utf-8"))
    except UnicodeDecodeError:
        raise ApiError(400, "the request body is not UTF-8") from None
    except json.JSONDecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc.msg} at line {exc.lineno} "
                            f"column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object")
    return data


async def _body(request: Request, model: type[BaseModel]) -> Any:
    return _validated(model, await _json(request))


class _Measure:
    """ASGI middleware: requests by route and status, and latency of the completion routes."""

    def __init__(self, app: Any, service: Service) -> None:
        self.app, self.metrics = app, service.metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started, status = time.monotonic(), [500]

        async def sending(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            path = scope.get("path", "")
            api = path if path in _APIS else "other"
            self.metrics.requests.labels(api, str(status[0])).inc()
            if api in _TIMED:
                self.metrics.latency.labels(api).observe(time.monotonic() - started)


def _sse(data: Any) -> str:
    return f"data: {json.dumps(data, ensure_ascii=False)}\n\n"


def create_app(service: Service) -> FastAPI:
    """The app over ``service``: engines are started when the app starts and stopped with it."""
    from contextlib import asynccontextmanager

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        for engine in service.engines.values():
            engine.start()
        try:
            yield
        finally:
            for engine in service.engines.values():
                engine.stop()

    app = FastAPI(title="stackwright completion server", version=__version__, lifespan=lifespan,
                  docs_url="/docs", redoc_url=None)
    metrics = service.metrics
    app.add_middleware(_Measure, service=service)

    @app.exception_handler(Exception)
    async def internal(_request: Request, exc: Exception) -> JSONResponse:
        import logging

        logging.getLogger(__name__).error("request failed: %s", type(exc).__name__)
        return _error(500, "internal error", "server_error")

    @app.exception_handler(ApiError)
    async def api_error(_request: Request, exc: ApiError) -> JSONResponse:
        return _error(exc.status, exc.message, exc.kind, exc.headers)

    @app.exception_handler(404)
    async def not_found(request: Request, _exc: Exception) -> JSONResponse:
        return _error(404, f"no route {request.url.path}", "not_found_error")

    @app.exception_handler(405)
    async def not_allowed(request: Request, _exc: Exception) -> JSONResponse:
        return _error(405, f"{request.method} is not allowed on {request.url.path}")

    # -- OpenAI and Tabby ------------------------------------------------------------------------

    @app.post("/v1/completions")
    async def completions(request: Request) -> Response:
        data = await _json(request)
        if "segments" in data:
            return await _tabby(request, service, _validated(schemas.TabbyCompletion, data))
        body = _validated(schemas.OpenAICompletion, data)
        if body.logprobs is not None:
            raise ApiError(400, "logprobs are not supported")
        if body.best_of not in (None, 1, body.n):
            raise ApiError(400, "best_of is not supported")
        prompts = body.prompt if isinstance(body.prompt, list) else [body.prompt]
        if body.stream and len(prompts) > 1:
            raise ApiError(400, "stream takes one prompt")
        spec = dict(max_tokens=body.max_tokens if body.max_tokens is not None else 16,
                    temperature=body.temperature, top_p=body.top_p, stop=list(body.stop or []), n=body.n,
                    seed=body.seed, ignore_eos=body.ignore_eos, timeout=body.timeout)
        runs = [service.start(body.model, Spec(p, body.suffix, **spec), streaming=body.stream)
                for p in prompts]
        if body.stream:
            return _stream(service, runs[0], _openai_chunks(runs[0], echo=prompts[0] if body.echo else ""))
        outcomes = [await run.outcome(request.is_disconnected) for run in runs]
        choices = []
        for i, (outcome, prompt) in enumerate(zip(outcomes, prompts, strict=True)):
            for choice in outcome.choices:
                item = {"index": i * body.n + choice.index,
                        "text": (prompt if body.echo else "") + choice.text, "logprobs": None,
                        "finish_reason": openai_finish(choice.finish), "finish_detail": choice.finish}
                if choice.verdict is not None:
                    item["attribution"] = choice.verdict.to_json()
                choices.append(item)
        first = outcomes[0]
        for outcome in outcomes:
            _observe_first_token(service, "/v1/completions", outcome)
        prompt_tokens = sum(len(o.prompt.ids) for o in outcomes)
        completion_tokens = sum(o.completion_tokens for o in outcomes)
        return JSONResponse({
            "id": first.id, "object": "text_completion", "created": int(time.time()), "model": first.model,
            "choices": choices,
            "usage": {"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
                      "total_tokens": prompt_tokens + completion_tokens},
        })

    @app.get("/v1/models")
    async def models() -> dict[str, Any]:
        served = [{"id": name, "object": "model", "created": service.created, "owned_by": "stackwright",
                   "context_length": engine.context} for name, engine in service.engines.items()]
        served += [{"id": name, "object": "model", "created": service.created, "owned_by": "stackwright",
                    "parent": base, "context_length": service.engines[base].context}
                   for name, base in service.adapters.items()]
        return {"object": "list", "data": served}

    @app.post("/v1/events")
    async def events(request: Request) -> dict[str, Any]:
        event = await _body(request, schemas.Event)
        metrics.event(event.type)
        return {}

    @app.get("/v1/health")
    async def tabby_health() -> dict[str, Any]:
        name, engine, _ = service.engine(None)
        return {"model": name, "device": str(engine.device), "arch": "gpt_bigcode", "version": __version__}

    # -- TGI -------------------------------------------------------------------------------------

    async def tgi(request: Request, stream: bool) -> Response:
        body = await _body(request, schemas.TGIGenerate)
        p = body.parameters
        sampled = p.do_sample
        spec = Spec(body.inputs, None, p.max_new_tokens if p.max_new_tokens is not None else 20,
                    temperature=(p.temperature or 1.0) if sampled else 0.0, top_p=p.top_p or 1.0,
                    stop=[s for s in p.stop if s], seed=p.seed)
        streaming = stream or body.stream
        run = service.start(None, spec, streaming=streaming)
        full = body.inputs if p.return_full_text else ""
        if streaming:
            return _stream(service, run, _tgi_events(run, full))
        outcome = await run.outcome(request.is_disconnected)
        _observe_first_token(service, "/generate", outcome)
        choice = outcome.choices[0]
        answer: dict[str, Any] = {"generated_text": full + choice.text}
        if p.details:
            answer["details"] = {"finish_reason": _tgi_finish(choice.finish),
                                 "generated_tokens": choice.tokens, "seed": p.seed}
        if choice.verdict is not None:
            answer["attribution"] = choice.verdict.to_json()
        return JSONResponse(answer)

    @app.post("/generate")
    async def generate(request: Request) -> Response:
        return await tgi(request, False)

    @app.post("/generate_stream")
    async def generate_stream(request: Request) -> Response:
        return await tgi(request, True)

    # -- llama.cpp -------------------------------------------------------------------------------

    @app.post("/infill")
    async def infill(request: Request) -> Response:
        body = await _body(request, schemas.Infill)
        spec = Spec(body.input_prefix + body.prompt, body.input_suffix, body.n_predict,
                    temperature=body.temperature, top_p=body.top_p, stop=[s for s in body.stop if s],
                    seed=body.seed)
        run = service.start(None, spec, streaming=body.stream)
        if body.stream:
            return _stream(service, run, _infill_events(run))
        outcome = await run.outcome(request.is_disconnected)
        _observe_first_token(service, "/infill", outcome)
        return JSONResponse(_infill_final(outcome.choices[0], outcome))

    # -- operations ------------------------------------------------------------------------------

    @app.get("/health")
    async def health() -> Response:
        running = {name: engine.running for name, engine in service.engines.items()}
        ok = all(running.values())
        return JSONResponse({"status": "ok" if ok else "unavailable", "models": list(running),
                             "queue_depth": sum(e.queue_depth for e in service.engines.values()),
                             "active": sum(e.active for e in service.engines.values()),
                             "attribution": None if service.attributor is None else {
                                 "release": str(service.attributor.release),
                                 "version": service.attributor.version}},
                            status_code=200 if ok else 503)

    @app.get("/metrics")
    async def prometheus() -> Response:
        data, content_type = metrics.render()
        return Response(data, media_type=content_type)

    @app.get("/playground", response_class=HTMLResponse)
    async def playground() -> Response:
        if not PLAYGROUND.is_file():
            return _error(404, "the playground page is not installed", "not_found_error")
        return HTMLResponse(PLAYGROUND.read_text(encoding="utf-8"),
                            headers={"Content-Security-Policy": "default-src 'self'; style-src 'self' "
                                     "'unsafe-inline'; script-src 'self' 'unsafe-inline'"})

    @app.get("/")
    async def root() -> Response:
        return RedirectResponse("/playground")

    return app


_APIS = frozenset({"/v1/completions", "/generate", "/generate_stream", "/infill", "/v1/events", "/v1/models",
                   "/health", "/metrics", "/playground"})
_TIMED = frozenset({"/v1/completions", "/generate", "/generate_stream", "/infill"})


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
                             for e in exc.errors()[:5])
        raise ApiError(400, f"invalid request: {problems}") from None


def _observe_first_token(service: Service, api: str, outcome: Outcome) -> None:
    if outcome.first_token is not None:
        service.metrics.first_token.labels(api).observe(outcome.first_token - outcome.started)


def _stream(service: Service, run: Run, chunks: AsyncIterator[str]) -> StreamingResponse:
    """Server-sent events; the run is cancelled when the client goes away mid-stream."""

    async def body() -> AsyncIterator[str]:
        try:
            async for chunk in chunks:
                yield chunk
        finally:
            run.cancel()

    return StreamingResponse(body(), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})


async def _texts(run: Run) -> AsyncIterator[tuple[int, str, bool]]:
    """The run's text pieces; held back until the end when suggestions may be withheld."""
    if not run.service.holds_stream:
        async for item in run.events():
            yield item
        return
    async for _ in run.events():
        pass
    for choice in (await run.finish()).choices:  # withheld text is empty by now
        yield choice.index, choice.text, True


async def _openai_chunks(run: Run, echo: str) -> AsyncIterator[str]:
    base = {"id": run.id, "object": "text_completion", "created": int(time.time()), "model": run.model}
    if echo:
        yield _sse({**base, "choices": [{"index": 0, "text": echo, "logprobs": None, "finish_reason": None}]})
    async for index, text, _finished in _texts(run):
        if text:
            yield _sse({**base, "choices": [{"index": index, "text": text, "logprobs": None,
                                             "finish_reason": None}]})
    outcome = await run.finish()
    for choice in outcome.choices:
        item: dict[str, Any] = {"index": choice.index, "text": "", "logprobs": None,
                                "finish_reason": openai_finish(choice.finish), "finish_detail": choice.finish}
        if choice.verdict is not None:
            item["attribution"] = choice.verdict.to_json()
        yield _sse({**base, "choices": [item]})
    yield "data: [DONE]\n\n"


async def _tgi_events(run: Run, full: str) -> AsyncIterator[str]:
    n = 0
    async for _, text, _finished in _texts(run):
        if text:
            n += 1
            yield _sse({"index": n, "token": {"id": -1, "text": text, "logprob": 0.0, "special": False},
                        "generated_text": None, "details": None})
    outcome = await run.finish()
    choice = outcome.choices[0]
    final: dict[str, Any] = {"index": n + 1, "token": {"id": -1, "text": "", "logprob": 0.0, "special": True},
                             "generated_text": full + choice.text,
                             "details": {"finish_reason": _tgi_finish(choice.finish),
                                         "generated_tokens": choice.tokens, "seed": run.spec.seed}}
    if choice.verdict is not None:
        final["attribution"] = choice.verdict.to_json()
    yield _sse(final)


def _tgi_finish(reason: str) -> str:
    return {"eot": "eos_token", "stop": "stop_sequence"}.get(reason, "length")


async def _infill_events(run: Run) -> AsyncIterator[str]:
    async for _, text, _finished in _texts(run):
        if text:
            yield _sse({"content": text, "stop": False})
    outcome = await run.finish()
    final = _infill_final(outcome.choices[0], outcome)
    final["content"] = ""
    yield _sse(final)


def _infill_final(choice: Any, outcome: Outcome) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "content": choice.text, "stop": True, "model": outcome.model, "tokens_predicted": choice.tokens,
        "tokens_evaluated": len(outcome.prompt.ids), "truncated": outcome.prompt.truncated,
        "stopped_eos": choice.finish == "eot", "stopped_word": choice.finish == "stop",
        "stopped_limit": choice.finish in ("length", "deadline"),
    }
    if choice.verdict is not None:
        answer["attribution"] = choice.verdict.to_json()
    return answer


async def _tabby(request: Request, service: Service, body: schemas.TabbyCompletion) -> Response:
    spec = Spec(body.segments.prefix, body.segments.suffix if body.segments.suffix is not None else "",
                body.max_tokens if body.max_tokens is not None else 64,
                temperature=body.temperature or 0.0, seed=body.seed, stop=["\n\n"])
    run = service.start(None, spec)
    outcome = await run.outcome(request.is_disconnected)
    _observe_first_token(service, "/v1/completions", outcome)
    choice = outcome.choices[0]
    item: dict[str, Any] = {"index": 0, "text": choice.text}
    if choice.verdict is not None:
        item["attribution"] = choice.verdict.to_json()
    return JSONResponse({"id": outcome.id, "choices": [item]})
