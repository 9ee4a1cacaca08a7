"""Per-client rate limiting: one token bucket per client IP, in memory.

Each client may send ``burst`` requests at once and then ``per_minute`` requests a minute. The table
of buckets is bounded: when it holds ``max_clients`` entries, buckets that have refilled completely
(clients idle long enough to be indistinguishable from new ones) are dropped first, then the least
recently seen. One process keeps its own buckets: run one portal process per limit you want enforced.
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable


class RateLimiter:
    def __init__(self, per_minute: int, burst: int | None = None, *, max_clients: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_minute <= 0:
            raise ValueError("per_minute must be positive")
        self.rate = per_minute / 60.0  # tokens per second
        self.capacity = float(burst if burst is not None else per_minute)
        self.max_clients = max_clients
        self._clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def acquire(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when allowed, else the seconds until a token is there."""
        now = self._clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.capacity, now))
            tokens = min(self.capacity, tokens + (now - at) * self.rate)
            if tokens >= 1.0:
                self._buckets[key] = (tokens - 1.0, now)
                wait = 0.0
            else:
                self._buckets[key] = (tokens, now)
                wait = (1.0 - tokens) / self.rate
            if len(self._buckets) > self.max_clients:
                self._evict(now)
        return wait

    @staticmethod
    def retry_after(wait: float) -> str:
        """The Retry-After header value: whole seconds, at least 1."""
        return str(max(1, math.ceil(wait)))

    def _evict(self, now: float) -> None:
        full_after = self.capacity / self.rate
        for key in [k for k, (_, at) in self._buckets.items() if now - at >= full_after]:
            del self._buckets[key]
        while len(self._buckets) > self.max_clients * 0.9:
            self._buckets.popitem(last=False)
