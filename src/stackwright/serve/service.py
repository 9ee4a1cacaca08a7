"""What every API route shares: the models served, one completion run, attribution, events.

A run submits one engine request per choice and relays the engine thread's text to the event loop;
when the client goes away the run is cancelled and its rows leave the batch at the next step.
"""

from __future__ import annotations

import asyncio
import collections
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

from stackwright.serve.attribution import Attributor, Verdict
from stackwright.serve.engine import Engine, GenerationRequest, Ticket
from stackwright.serve.metrics import ServerMetrics
from stackwright.serve.prompts import Prompt, build_prompt

DEFAULT_MAX_TOKENS = 128  # where an API has no limit of its own (llama.cpp's n_predict -1)


class ApiError(Exception):
    """An error answered as JSON with ``status``: ``kind`` names it (invalid_request_error, ...)."""

    def __init__(self, status: int, message: str, kind: str = "invalid_request_error",
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status, self.message, self.kind, self.headers = status, message, kind, headers or {}


@dataclass
class Spec:
    """One completion, whatever API asked for it."""

    prompt: str
    suffix: str | None
    max_tokens: int
    temperature: float = 0.0
    top_p: float = 1.0
    stop: list[str] = field(default_factory=list)
    n: int = 1
    seed: int | None = None
    ignore_eos: bool = False
    timeout: float | None = None


@dataclass
class Choice:
    index: int
    text: str
    finish: str
    tokens: int
    verdict: Verdict | None = None


@dataclass
class Outcome:
    id: str
    model: str
    prompt: Prompt
    choices: list[Choice]
    started: float
    first_token: float | None

    @property
    def completion_tokens(self) -> int:
        return sum(c.tokens for c in self.choices)


class Service:
    def __init__(self, engines: dict[str, Engine], *, attributor: Attributor | None = None,
                 request_timeout: float = 60.0, adapters: dict[str, str] | None = None,
                 spm: bool = False) -> None:
        """``adapters``: the name of each LoRA adapter served, and the engine whose model holds it;
        ``spm``: FIM prompts in SPM order (:mod:`stackwright.serve.prompts`)."""
        if not engines:
            raise ValueError("no model to serve")
        self.engines = engines
        self.adapters = dict(adapters or {})
        self.default_model = next(iter(engines))
        self.attributor = attributor
        self.request_timeout = request_timeout
        self.spm = spm
        self.metrics = ServerMetrics(lambda: self.engines)
        self.created = int(time.time())
        self._completions: collections.OrderedDict[str, int] = collections.OrderedDict()

    def engine(self, name: str | None) -> tuple[str, Engine, str | None]:
        """(model name, its engine, the adapter it applies or None) for a request's ``model``."""
        name = name or self.default_model
        if name in self.adapters:
            return name, self.engines[self.adapters[name]], name
        engine = self.engines.get(name)
        if engine is None:
            raise ApiError(404, f"model {name!r} is not served here; GET /v1/models lists the models",
                           "not_found_error")
        return name, engine, None

    def remember(self, completion_id: str, choices: int) -> None:
        self._completions[completion_id] = choices
        while len(self._completions) > 10_000:
            self._completions.popitem(last=False)

    # -- running ---------------------------------------------------------------------------------

    def prepare(self, engine: Engine, spec: Spec) -> Prompt:
        max_tokens = spec.max_tokens if spec.max_tokens >= 0 else DEFAULT_MAX_TOKENS
        try:
            return build_prompt(engine.loaded, _tail(spec.prompt, engine.context),
                                None if spec.suffix is None else _head(spec.suffix, engine.context),
                                max_tokens, spm=self.spm)
        except ValueError as exc:
            raise ApiError(400, str(exc)) from None

    def start(self, model: str | None, spec: Spec, *, streaming: bool = False) -> Run:
        name, engine, adapter = self.engine(model)
        prompt = self.prepare(engine, spec)
        return Run(self, name, engine, prompt, spec, streaming, adapter)

    async def check(self, text: str) -> Verdict | None:
        if self.attributor is None or not text:
            return None
        verdict = await asyncio.get_running_loop().run_in_executor(None, self.attributor.check, text)
        outcome = "withheld" if verdict.withheld else "flagged" if verdict.matches else (
            "clean" if verdict.checked else "too_short")
        self.metrics.attribution.labels(outcome).inc()
        return verdict

    @property
    def holds_stream(self) -> bool:
        """Whether streamed text must wait for the attribution check (suggestions may be withheld)."""
        return self.attributor is not None and self.attributor.block_verbatim is not None


class Run:
    """The choices of one completion in flight: ``async for index, text, finished in run.events()``."""

    def __init__(self, service: Service, model: str, engine: Engine, prompt: Prompt, spec: Spec,
                 streaming: bool = False, adapter: str | None = None) -> None:
        from stackwright.serve.engine import EngineStopped, Overloaded

        self.service, self.model, self.prompt, self.spec = service, model, prompt, spec
        self.streaming = streaming
        self.id = "cmpl-" + secrets.token_hex(12)
        self.started = time.monotonic()
        self._loop = asyncio.get_running_loop()
        self._queue: asyncio.Queue[tuple[int, str, bool]] = asyncio.Queue()
        timeout = spec.timeout or service.request_timeout
        deadline = self.started + timeout
        self.tickets: list[Ticket] = []
        self._outcome: Outcome | None = None
        try:
            for i in range(spec.n):
                seed = None if spec.seed is None else spec.seed + i
                request = GenerationRequest(prompt.ids, prompt.max_new_tokens, spec.temperature, spec.top_p,
                                            tuple(spec.stop), seed, prompt.heal, spec.ignore_eos, deadline,
                                            adapter)
                self.tickets.append(engine.submit(request, self._listener(i)))
        except Overloaded:
            self.cancel()
            service.metrics.shed.inc()
            raise ApiError(503, "the server is busy: too many requests are waiting; retry shortly",
                           "overloaded_error", {"Retry-After": "1"}) from None
        except EngineStopped as exc:
            self.cancel()
            raise ApiError(503, str(exc), "unavailable_error") from None
        except ValueError as exc:
            self.cancel()
            raise ApiError(400, str(exc)) from None
        service.remember(self.id, spec.n)

    def _listener(self, index: int) -> Any:
        def relay(_ticket: Ticket, text: str, finished: bool) -> None:
            # Without a stream only the end matters: one wake-up of the event loop per choice,
            # not one per token (the engine thread and the HTTP thread share the interpreter).
            if finished or self.streaming:
                self._loop.call_soon_threadsafe(self._queue.put_nowait, (index, text, finished))
        return relay

    def cancel(self) -> None:
        for ticket in self.tickets:
            ticket.cancel()

    async def events(self) -> AsyncIterator[tuple[int, str, bool]]:
        left = len(self.tickets)
        try:
            while left:
                item = await self._queue.get()
                if item[2]:
                    left -= 1
                yield item
        finally:
            if left:
                self.cancel()

    async def outcome(self, disconnected: Any = None) -> Outcome:
        """Wait for every choice; ``disconnected()`` (a coroutine) is polled to cancel early."""
        pending = {t.id for t in self.tickets}
        while pending:
            try:
                index, _, finished = await asyncio.wait_for(self._queue.get(), 0.25)
            except TimeoutError:
                if disconnected is not None and await disconnected():
                    self.cancel()
                    raise ApiError(499, "the client closed the connection") from None
                continue
            if finished:
                pending.discard(self.tickets[index].id)
        return await self.finish()

    async def finish(self) -> Outcome:
        """The choices, checked against the release (once; later calls return the same)."""
        if self._outcome is None:
            self._outcome = await self._finish()
        return self._outcome

    async def _finish(self) -> Outcome:
        choices = []
        for i, ticket in enumerate(self.tickets):
            if ticket.finish == "error":
                raise ApiError(500, ticket.error or "generation failed", "server_error")
            choices.append(Choice(i, ticket.text, ticket.finish or "length", ticket.tokens))
        for choice in choices:
            choice.verdict = await self.service.check(choice.text)
            if choice.verdict is not None and choice.verdict.withheld:
                choice.text = ""
        firsts = [t.first_token_at for t in self.tickets if t.first_token_at is not None]
        metrics = self.service.metrics
        metrics.completion_tokens.inc(sum(c.tokens for c in choices))
        metrics.prompt_tokens.inc(sum(len(self.prompt.ids) - t.reused_tokens for t in self.tickets))
        return Outcome(self.id, self.model, self.prompt, choices, self.started, min(firsts, default=None))


def openai_finish(reason: str) -> str:
    return "stop" if reason in ("eot", "stop") else "length"


def _tail(text: str, context: int) -> str:
    """The end of a prompt, cut far beyond what any tokenization of the context could need."""
    limit = context * 64
    return text[-limit:] if len(text) > limit else text


def _head(text: str, context: int) -> str:
    limit = context * 64
    return text[:limit] if len(text) > limit else text
