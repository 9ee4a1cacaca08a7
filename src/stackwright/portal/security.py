"""The portal's protections that sit in front of every route, as plain ASGI middleware.

- :class:`GuardMiddleware` (outermost): security headers on every response, including errors made by
  the other layers, and a bare 500 for any unexpected exception, so that no traceback or internal
  detail reaches a client.
- :class:`RateLimitMiddleware`: per-client token buckets (:mod:`stackwright.portal.ratelimit`); over
  the limit a client gets 429 with Retry-After.
- :class:`BodyLimitMiddleware`: a body larger than the limit is refused with 413, both when its
  Content-Length says so (before anything is read) and when a body sent without one (chunked) grows
  past the limit while it is read.

They are ASGI middleware rather than Starlette's ``BaseHTTPMiddleware`` because they run on every
look-up and must add as little as possible to its latency.
"""

from __future__ import annotations

import html
import json
import logging
from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from starlette.exceptions import HTTPException

from stackwright.portal.ratelimit import RateLimiter

log = logging.getLogger("stackwright.portal")

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CSP = "default-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'; object-src 'none'"
# FastAPI's interactive documentation loads Swagger UI / ReDoc from their CDN with an inline bootstrap
# script; those two pages (which show no user input) get a policy that allows exactly that.
DOCS_CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net; "
            "style-src 'self' 'unsafe-inline' https://cdn.jsdelivr.net https://fonts.googleapis.com; "
            "font-src 'self' https://fonts.gstatic.com; img-src 'self' data: https://fastapi.tiangolo.com "
            "https://cdn.redoc.ly; worker-src 'self' blob:; base-uri 'none'; frame-ancestors 'none'")
DOCS_PATHS = frozenset({"/docs", "/redoc", "/docs/oauth2-redirect"})
HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
]


class BodyTooLarge(HTTPException):
    def __init__(self, limit: int) -> None:
        super().__init__(413, f"request body larger than {limit:,} bytes")


def is_api(path: str) -> bool:
    return path.startswith("/api/") or path == "/openapi.json"


async def send_error(scope: Scope, send: Send, status: int, message: str,
                     headers: list[tuple[bytes, bytes]] | None = None) -> None:
    """A small error response made outside the app: JSON for the API, escaped HTML for pages."""
    if is_api(scope.get("path", "")):
        body = json.dumps({"detail": message}).encode()
        kind = b"application/json"
    else:
        text = html.escape(message)
        body = (f"<!doctype html><html lang=en><meta charset=utf-8><title>{status}</title>"
                f"<h1>{status}</h1><p>{text}</p></html>").encode()
        kind = b"text/html; charset=utf-8"
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode()),
                            *(headers or [])]})
    await send({"type": "http.response.body", "body": body})


class GuardMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        csp = (DOCS_CSP if scope.get("path") in DOCS_PATHS else CSP).encode()
        started = False

        async def guarded_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                present = {k.lower() for k, _ in message.get("headers", [])}
                extra = [(k, v) for k, v in [(b"content-security-policy", csp), *HEADERS] if k not in present]
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        try:
            await self.app(scope, receive, guarded_send)
        except BodyTooLarge as exc:
            if not started:
                await send_error(scope, guarded_send, 413, str(exc.detail))
        except Exception as exc:
            # The type and route only: an exception's message may quote input (a contact address).
            log.error("unexpected %s on %s %s", type(exc).__name__, scope.get("method"), scope.get("path"))
            log.debug("details", exc_info=True)
            if not started:
                await send_error(scope, guarded_send, 500, "internal error")


class RateLimitMiddleware:
    def __init__(self, app: ASGIApp, limiter: RateLimiter) -> None:
        self.app = app
        self.limiter = limiter

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            client = scope.get("client")
            wait = self.limiter.acquire(client[0] if client else "unknown")
            if wait > 0:
                retry = self.limiter.retry_after(wait)
                await send_error(scope, send, 429, f"too many requests; retry in {retry} s",
                                 [(b"retry-after", retry.encode())])
                return
        await self.app(scope, receive, send)


class BodyLimitMiddleware:
    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length":
                if not value.isdigit() or int(value) > self.limit:
                    await send_error(scope, send, 413, f"request body larger than {self.limit:,} bytes")
                    return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)
