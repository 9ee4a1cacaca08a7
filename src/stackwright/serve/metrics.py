"""Prometheus metrics of the completion server, in a registry of its own (one per app)."""

from __future__ import annotations

import collections
from collections.abc import Callable
from typing import Any

LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.2, 0.35, 0.5, 0.75, 1.0, 1.5, 2.5, 5.0, 10.0, 30.0)
EVENT_TYPES = ("view", "select", "dismiss")


class ServerMetrics:
    def __init__(self, engines: Callable[[], dict[str, Any]]) -> None:
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = CollectorRegistry()
        r = self.registry
        self.requests = Counter("stackwright_requests", "HTTP requests by API and status code.",
                                ["api", "code"], registry=r)
        self.latency = Histogram("stackwright_request_latency_seconds", "Time to the whole answer.",
                                 ["api"], buckets=LATENCY_BUCKETS, registry=r)
        self.first_token = Histogram("stackwright_time_to_first_token_seconds",
                                     "From arrival to the first generated token.", ["api"],
                                     buckets=LATENCY_BUCKETS, registry=r)
        self.completion_tokens = Counter("stackwright_completion_tokens", "Generated tokens.", registry=r)
        self.prompt_tokens = Counter("stackwright_prompt_tokens", "Prompt tokens computed.", registry=r)
        self.events = Counter("stackwright_completion_events", "Editor events on suggestions.", ["type"],
                              registry=r)
        self.event_counts: collections.Counter[str] = collections.Counter()
        for kind in EVENT_TYPES:
            self.events.labels(kind)
        self.shed = Counter("stackwright_shed_requests", "Requests refused because the queue was full.",
                            registry=r)
        self.attribution = Counter("stackwright_attribution_checks", "Suggestions checked against the "
                                   "release, by outcome.", ["outcome"], registry=r)
        queue = Gauge("stackwright_queue_depth", "Requests waiting for the engine.", registry=r)
        queue.set_function(lambda: sum(e.queue_depth for e in engines().values()))
        active = Gauge("stackwright_active_sequences", "Sequences in the running batch.", registry=r)
        active.set_function(lambda: sum(e.active for e in engines().values()))
        speed = Gauge("stackwright_tokens_per_second", "Generated tokens per second, last 10 s.", registry=r)
        speed.set_function(lambda: sum(e.tokens_per_second() for e in engines().values()))
        reused = Gauge("stackwright_prefix_reused_tokens", "Prompt tokens served from the prefix cache.",
                       registry=r)
        reused.set_function(lambda: sum(e.stats["reused_tokens"] for e in engines().values()))
        rate = Gauge("stackwright_acceptance_rate", "Selected suggestions over viewed ones.", registry=r)
        rate.set_function(self.acceptance_rate)

    def event(self, kind: str) -> None:
        self.events.labels(kind).inc()
        self.event_counts[kind] += 1

    def acceptance_rate(self) -> float:
        views = self.event_counts["view"]
        return self.event_counts["select"] / views if views else 0.0

    def render(self) -> tuple[bytes, str]:
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
