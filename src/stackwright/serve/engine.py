"""The completion engine: continuous batching over one model with a KV cache, and prefix reuse.

One thread owns the model. Requests wait in a bounded queue (:class:`Overloaded` when it is full);
at every decoding step the engine first admits waiting requests into the running batch, then
advances every sequence of the batch by one token in one forward pass:

* A newcomer's prompt is processed alone (prefill) into a free slot of the KV cache
  (:mod:`stackwright.serve.decoder`, allocated once); each row keeps its own positions and the
  attention mask its own length. Rows that finish leave the batch at once, so a short request never
  waits for a long one and a new one never waits for the batch to drain.
* Prefix reuse: the KV caches of recent prompts are kept (bounded by a token budget). A prompt that
  starts with the same tokens as a kept one (an editor resends almost the same prefix on every
  keystroke) only computes the tokens after the shared part.
* Stop strings are matched on the text after the healed part of the prompt (token healing: the
  prompt's last token is taken back and the new tokens must first spell its text), so a stop of
  ``"\\n"`` is not found inside the healed ``"\\n    "``. Streamed text never shows the start of a stop
  string that may still complete, nor half a character.
* Per-request deadlines and cancellation: a request past its deadline finishes with what it has
  (``deadline``); a cancelled one (its client went away) leaves the batch at the next step.

Greedy decoding of a request gives the same tokens whether it ran alone or beside others, and with
or without a reused prefix (to float tolerance: the test suite checks it against ``generate``).
"""

from __future__ import annotations

import collections
import itertools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from stackwright.model.generate import LoadedModel, token_texts
from stackwright.model.tokens import EOT, SPECIAL_TOKENS
from stackwright.serve.decoder import BASE

log = logging.getLogger(__name__)

EOT_ID = SPECIAL_TOKENS.index(EOT)
Listener = Callable[["Ticket", str, bool], None]  # (ticket, new text, finished)


class Overloaded(Exception):
    """The queue is full: the caller should answer 503 and ask the client to retry."""


class EngineStopped(Exception):
    """The engine is not running (not started yet, shutting down, or stopped by an error)."""


@dataclass
class GenerationRequest:
    """What to generate: ``ids`` is the prompt; ``heal`` the text of a prompt token taken back, which
    the generated tokens must first spell out, in one token or several (it is not part of the
    returned text)."""

    ids: list[int]
    max_new_tokens: int = 64
    temperature: float = 0.0
    top_p: float = 1.0
    stop: tuple[str, ...] = ()
    seed: int | None = None
    heal: str = ""
    ignore_eos: bool = False
    deadline: float | None = None  # time.monotonic() value
    adapter: str | None = None  # a LoRA adapter loaded into the model, None for the model as it is


@dataclass
class Ticket:
    """A submitted request: its text so far, and how it finished (``eot``, ``stop``, ``length``,
    ``deadline``, ``cancelled`` or ``error``)."""

    request: GenerationRequest
    listener: Listener | None = None
    id: int = 0
    text: str = ""
    tokens: int = 0
    finish: str | None = None
    error: str | None = None
    submitted: float = field(default_factory=time.monotonic)
    first_token_at: float | None = None
    reused_tokens: int = 0
    _sent: int = 0
    _cancel: threading.Event = field(default_factory=threading.Event)
    _done: threading.Event = field(default_factory=threading.Event)

    def cancel(self) -> None:
        """Stop generating (the client went away); the ticket finishes as ``cancelled``."""
        self._cancel.set()

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    @property
    def done(self) -> bool:
        return self._done.is_set()

    def wait(self, timeout: float | None = None) -> bool:
        return self._done.wait(timeout)


@dataclass
class _Row:
    ticket: Ticket
    generated: list[int]
    position: int  # the position of the pending token (the cache holds 0..position-1)
    pending: int  # the last sampled token, not yet in the cache
    generator: Any
    slot: int = 0
    heal_left: str = ""  # the part of the healed text the generated tokens have not covered yet


class PrefixCache:
    """KV caches of recent prompts, least recently used dropped first, at most ``budget`` tokens."""

    def __init__(self, budget: int) -> None:
        self.budget = budget
        self._entries: collections.OrderedDict[tuple[str | None, tuple[int, ...]], tuple[Any, Any]] = (
            collections.OrderedDict())
        self._tokens = 0

    def __len__(self) -> int:
        return len(self._entries)

    def best(self, ids: list[int], adapter: str | None = None) -> tuple[int, tuple[Any, Any] | None]:
        """The longest shared prefix with a kept prompt of the same adapter: (shared tokens, that
        prompt's cache)."""
        best, found = 0, None
        for key, kv in self._entries.items():
            if key[0] != adapter:
                continue
            n = _shared(key[1], ids)
            if n > best:
                best, found = n, (key, kv)
        if found is None:
            return 0, None
        self._entries.move_to_end(found[0])
        return best, found[1]

    def put(self, ids: list[int], kv: tuple[Any, Any], adapter: str | None = None) -> None:
        if self.budget <= 0 or len(ids) > self.budget:
            return
        key = (adapter, tuple(ids))
        if key in self._entries:
            self._entries.move_to_end(key)
            return
        self._entries[key] = kv
        self._tokens += len(key[1])
        while self._tokens > self.budget:
            old, _ = self._entries.popitem(last=False)
            self._tokens -= len(old[1])


def _shared(a: tuple[int, ...], b: list[int]) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


class Engine:
    """Continuous batching over ``loaded`` (see the module documentation)."""

    def __init__(self, loaded: LoadedModel, *, max_batch: int = 8, max_queue: int = 64,
                 prefix_cache_tokens: int | None = None, adapters: tuple[str, ...] = ()) -> None:
        import torch

        from stackwright.serve.decoder import SlotDecoder

        self.adapters: tuple[str, ...] = tuple(adapters)

        self.loaded = loaded
        self.model = loaded.model
        self.device = next(self.model.parameters()).device
        self.context = loaded.context
        self.vocab = int(self.model.config.vocab_size)
        self.max_batch = max(1, max_batch)
        self.max_queue = max(0, max_queue)
        self.decoder = SlotDecoder(self.model, self.max_batch, self.context)
        budget = 8 * self.context if prefix_cache_tokens is None else prefix_cache_tokens
        self.prefix_cache = PrefixCache(budget)
        self._torch = torch
        self._queue: collections.deque[Ticket] = collections.deque()
        self._lock = threading.Condition()
        self._rows: list[_Row] = []  # in slot order: row i holds slot i
        self._thread: threading.Thread | None = None
        self._running = False
        self._ids = itertools.count(1)
        self._heal_masks: dict[str, Any] = {}
        self._texts: list[str] | None = None
        self.stats = collections.Counter()  # requests, tokens, prompt_tokens, reused_tokens, steps, ...
        self._recent: collections.deque[tuple[float, int]] = collections.deque(maxlen=256)
        self._until: Callable[[], bool] = lambda: False

    # -- lifecycle -------------------------------------------------------------------------------

    def start(self) -> Engine:
        if self._thread is None:
            self._running = True
            self._thread = threading.Thread(target=self._loop, name="stackwright-engine", daemon=True)
            self._thread.start()
        return self

    def bind_here(self) -> Engine:
        """Accept requests now, to be run by :meth:`run_here` on the calling thread. The CLI runs the
        engine on the main thread and the HTTP server beside it: PyTorch's CPU kernels run about
        twice as fast on the main thread's OpenMP team as on another thread's."""
        self._thread = threading.current_thread()
        self._running = True
        return self

    def run_here(self, until: Callable[[], bool]) -> None:
        """Run the loop in the calling thread until ``until()`` is true (checked at least twice a
        second)."""
        if self._thread is not threading.current_thread():
            self.bind_here()
        self._until = until
        self._loop()

    def stop(self, timeout: float = 10.0) -> None:
        with self._lock:
            self._running = False
            self._lock.notify_all()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and thread is not (
                threading.main_thread()):
            thread.join(timeout)
        if thread is not threading.main_thread():
            self._thread = None

    @property
    def running(self) -> bool:
        return self._running and self._thread is not None and self._thread.is_alive()

    # -- requests --------------------------------------------------------------------------------

    def submit(self, request: GenerationRequest, listener: Listener | None = None) -> Ticket:
        """Queue ``request``; ``listener(ticket, text, finished)`` is called from the engine thread
        with each piece of new text. Raises :class:`Overloaded` or :class:`EngineStopped`."""
        if not request.ids:
            raise ValueError("empty prompt")
        if len(request.ids) + request.max_new_tokens > self.context:
            raise ValueError(f"prompt ({len(request.ids)} tokens) and max_new_tokens "
                             f"({request.max_new_tokens}) exceed the context of {self.context}")
        if request.adapter is not None and request.adapter not in self.adapters:
            raise ValueError(f"no adapter {request.adapter!r} is loaded")
        ticket = Ticket(request, listener, id=next(self._ids))
        with self._lock:
            if not self.running:
                raise EngineStopped("the engine is not running")
            if len(self._queue) >= self.max_queue and self.max_queue >= 0:
                self.stats["shed"] += 1
                raise Overloaded(f"{len(self._queue)} requests are waiting")
            self._queue.append(ticket)
            self.stats["requests"] += 1
            self._lock.notify_all()
        return ticket

    def generate(self, request: GenerationRequest, timeout: float | None = None) -> Ticket:
        """Submit and wait (for scripts and tests)."""
        ticket = self.submit(request)
        if not ticket.wait(timeout):
            ticket.cancel()
            ticket.wait(10)
        return ticket

    @property
    def queue_depth(self) -> int:
        return len(self._queue)

    @property
    def active(self) -> int:
        return len(self._rows)

    def tokens_per_second(self, window: float = 10.0) -> float:
        """Generated tokens per second over the last ``window`` seconds."""
        now = time.monotonic()
        recent = [(t, n) for t, n in list(self._recent) if now - t <= window]
        if not recent:
            return 0.0
        span = max(now - recent[0][0], 1e-3)
        return sum(n for _, n in recent) / span

    # -- the loop --------------------------------------------------------------------------------

    def _loop(self) -> None:
        torch = self._torch
        try:
            with torch.inference_mode():
                while True:
                    with self._lock:
                        while self._running and not self._queue and not self._rows and not self._until():
                            self._lock.wait(0.5)
                        if not self._running or self._until():
                            break
                    self._admit()
                    if self._rows:
                        self._step()
        except Exception as exc:  # a model error must not leave clients waiting forever
            log.exception("the engine stopped")
            self._running = False
            self._fail_all(f"the engine stopped: {type(exc).__name__}")
        finally:
            self._fail_all("the server is shutting down", finish="cancelled")

    def _fail_all(self, message: str, finish: str = "error") -> None:
        with self._lock:
            waiting = list(self._queue)
            self._queue.clear()
        for ticket in waiting + [row.ticket for row in self._rows]:
            if not ticket.done:
                ticket.error = message if finish == "error" else None
                self._finish(ticket, finish)
        self._rows = []

    def _admit(self) -> None:
        while len(self._rows) < self.max_batch:
            with self._lock:
                if not self._queue:
                    return
                ticket = self._queue.popleft()
            request = ticket.request
            if ticket.cancelled:
                self._finish(ticket, "cancelled")
                continue
            if request.deadline is not None and time.monotonic() >= request.deadline:
                self._finish(ticket, "deadline")
                continue
            if request.max_new_tokens <= 0:
                self._finish(ticket, "length")
                continue
            row = _Row(ticket, [], len(request.ids), 0, self._generator(request.seed), slot=len(self._rows),
                       heal_left=request.heal)
            logits = self._prefill(ticket, row.slot)
            token = self._sample(logits[None, :], [row], first=True)[0]
            row.pending = token
            self._rows.append(row)
            if self._accept(row, token):
                self._leave([row])

    def _generator(self, seed: int | None) -> Any:
        gen = self._torch.Generator(device=self.device)
        if seed is None:
            gen.seed()
        else:
            gen.manual_seed(int(seed))
        return gen

    def _prefill(self, ticket: Ticket, slot: int) -> Any:
        """The prompt into ``slot`` (reusing a kept prefix); the logits for its first new token."""
        ids = ticket.request.ids
        adapter = ticket.request.adapter
        shared, kept = self.prefix_cache.best(ids, adapter)
        start = min(shared, len(ids) - 1)
        if kept is not None and start > 0:
            self.decoder.load(slot, kept, start)
        else:
            start = 0
        ticket.reused_tokens = start
        self.stats["reused_tokens"] += start
        self.stats["prompt_tokens"] += len(ids) - start
        logits = self.decoder.prefill(slot, ids, start, (adapter or BASE) if self.adapters else None)
        if self.prefix_cache.budget > 0:
            self.prefix_cache.put(ids, self.decoder.export(slot, len(ids)), adapter)
        return logits.float()

    def _leave(self, rows: list[_Row]) -> None:
        """Drop finished rows; the rows left are moved down so that they hold slots 0..n-1."""
        gone = {id(r) for r in rows}
        keep = [r for r in self._rows if id(r) not in gone]
        free = sorted(r.slot for r in self._rows if id(r) in gone and r.slot < len(keep))
        movers = [r for r in keep if r.slot >= len(keep)]
        for row, slot in zip(movers, free, strict=True):
            self.decoder.move(row.slot, slot, row.position)
            row.slot = slot
        self._rows = sorted(keep, key=lambda r: r.slot)

    def _step(self) -> None:
        rows = self._rows
        adapters = [r.ticket.request.adapter or BASE for r in rows] if self.adapters else None
        logits = self.decoder.step([r.pending for r in rows], [r.position for r in rows], adapters)
        self.stats["steps"] += 1
        tokens = self._sample(logits.float(), rows, first=False)
        finished = []
        now = time.monotonic()
        for row, token in zip(rows, tokens, strict=True):
            row.position += 1
            row.pending = token
            deadline = row.ticket.request.deadline
            if row.ticket.cancelled:
                self._finish(row.ticket, "cancelled")
                finished.append(row)
            elif self._accept(row, token):
                finished.append(row)
            elif deadline is not None and now >= deadline:
                self._finish(row.ticket, "deadline")
                finished.append(row)
        if finished:
            self._leave(finished)

    # -- sampling --------------------------------------------------------------------------------

    def _heal_mask(self, text: str) -> Any:
        """Tokens that may come next while ``text`` is still to be covered: those that begin with all
        of it, and those that are a beginning of it (the rest then constrains the next token), so the
        prompt's last token can be regenerated the way training text had it ("\n   " + " x" rather
        than "\n    " + "x")."""
        mask = self._heal_masks.get(text)
        if mask is None:
            if self._texts is None:
                self._texts = token_texts(self.loaded)
            allowed = [i for i, t in enumerate(self._texts)
                       if i >= len(SPECIAL_TOKENS) and t and (t.startswith(text) or text.startswith(t))]
            mask = self._torch.full((self.vocab,), float("-inf"), device=self.device)
            mask[allowed] = 0.0
            if len(self._heal_masks) > 4096:
                self._heal_masks.clear()
            self._heal_masks[text] = mask
        return mask

    def _sample(self, logits: Any, rows: list[_Row], *, first: bool) -> list[int]:
        torch = self._torch
        requests = [row.ticket.request for row in rows]
        for i, row in enumerate(rows):
            if row.heal_left:
                logits[i] += self._heal_mask(row.heal_left)
        no_eot = [i for i, request in enumerate(requests) if request.ignore_eos]
        if no_eot:
            logits[no_eot, EOT_ID] = float("-inf")
        out: list[int] = torch.argmax(logits, dim=-1).tolist()  # greedy rows, all at once
        for i, (row, request) in enumerate(zip(rows, requests, strict=True)):
            if request.temperature <= 0:
                continue
            scores = logits[i]
            probs = torch.softmax(scores / request.temperature, dim=-1)
            if request.top_p < 1.0:
                ordered, order = torch.sort(probs, descending=True)
                cumulative = torch.cumsum(ordered, dim=-1)
                ordered[(cumulative - ordered) > request.top_p] = 0.0
                probs = torch.zeros_like(probs).scatter_(0, order, ordered)
            out[i] = int(torch.multinomial(probs, 1, generator=row.generator))
        return out

    # -- text ------------------------------------------------------------------------------------

    def _accept(self, row: _Row, token: int) -> bool:
        """Record a sampled token; True when the row is finished."""
        ticket, request = row.ticket, row.ticket.request
        now = time.monotonic()
        if ticket.first_token_at is None:
            ticket.first_token_at = now
        if token == EOT_ID:
            self._finish(ticket, "eot")
            return True
        if row.heal_left:
            piece = self._texts[token] if self._texts is not None else ""
            row.heal_left = "" if piece.startswith(row.heal_left) else row.heal_left[len(piece):]
        row.generated.append(token)
        ticket.tokens = len(row.generated)
        self.stats["tokens"] += 1
        self._recent.append((now, 1))
        text = self.loaded.tokenizer.decode(row.generated)
        if request.heal:
            if text.startswith(request.heal):
                text = text[len(request.heal):]
            elif request.heal.startswith(text):
                text = ""  # still regenerating the healed part
        cut = min((i for i in (text.find(s) for s in request.stop if s) if i >= 0), default=-1)
        if cut >= 0:
            ticket.text = _visible(text[:cut])
            self._finish(ticket, "stop")
            return True
        ticket.text = _visible(text)
        if len(row.generated) >= request.max_new_tokens:
            self._finish(ticket, "length")
            return True
        ready = len(ticket.text) - _held_back(ticket.text, request.stop)
        if ready > ticket._sent:
            self._emit(ticket, ticket.text[ticket._sent:ready], False)
            ticket._sent = ready
        return False

    def _emit(self, ticket: Ticket, text: str, finished: bool) -> None:
        if ticket.listener is not None:
            try:
                ticket.listener(ticket, text, finished)
            except Exception:  # a listener's failure (a closed client) is not the engine's
                log.debug("listener failed", exc_info=True)
                ticket.cancel()

    def _finish(self, ticket: Ticket, reason: str) -> None:
        if ticket.done:
            return
        ticket.finish = reason
        self.stats[f"finish_{reason}"] += 1
        rest = ticket.text[ticket._sent:] if reason != "cancelled" else ""
        ticket._sent = len(ticket.text)
        ticket._done.set()
        self._emit(ticket, rest, True)


def _held_back(text: str, stop: tuple[str, ...]) -> int:
    """How many characters at the end of ``text`` must wait: the start of a stop string that may
    still complete, or a character cut in half (U+FFFD from a partial UTF-8 sequence)."""
    hold = 0
    for s in stop:
        for n in range(min(len(s) - 1, len(text)), 0, -1):
            if text.endswith(s[:n]):
                hold = max(hold, n)
                break
    if text.endswith("\ufffd"):
        hold = max(hold, 1)
    return hold


def _visible(text: str) -> str:
    from stackwright.model.tokenizer import visible

    return visible(text)
