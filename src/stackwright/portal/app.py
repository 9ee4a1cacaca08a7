"""The portal application: ``create_app(settings)`` wires the API, the pages and the protections.

Layers, outermost first: :class:`~stackwright.portal.security.GuardMiddleware` (security headers, no
tracebacks), the rate limit, the body limit, then FastAPI's routing. Errors of the JSON API are
``{"detail": ...}``; errors of pages are an HTML page. Neither quotes the raw input that caused it:
validation errors list where and what was wrong, never the submitted value.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from starlette.exceptions import HTTPException

from stackwright import __version__
from stackwright.portal import api, pages
from stackwright.portal.ratelimit import RateLimiter
from stackwright.portal.responses import SafeJSONResponse
from stackwright.portal.security import (
    BodyLimitMiddleware,
    GuardMiddleware,
    RateLimitMiddleware,
    is_api,
)
from stackwright.portal.settings import PortalSettings
from stackwright.portal.state import PortalState

log = logging.getLogger("stackwright.portal")
STATIC = Path(__file__).with_name("static")
DESCRIPTION = """\
Look up a GitHub user in every stackwright dataset release and ask for repositories to be left out of
future releases. Administrators (Bearer token) review opt-out requests.
"""


def create_app(settings: PortalSettings, registry: Any = None) -> FastAPI:
    """The portal app. ``registry`` (an open :class:`~stackwright.registry.store.Registry`) defaults to
    ``Registry.open(settings.registry_url)``, opened now so that a bad URL fails here, not on a request;
    the app closes a registry it opened when it shuts down."""
    owned = registry is None
    if registry is None:
        from stackwright.registry.store import Registry

        registry = Registry.open(settings.registry_url)
    state = PortalState(settings, registry)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        latest = state.catalog.latest()
        if latest is not None:
            try:
                await state.index(latest)  # load the index people look up most before they ask
            except Exception as exc:
                log.warning("cannot load the latest release's username index: %s", exc)
        yield
        if owned:
            registry.close()

    app = FastAPI(title="stackwright portal", version=__version__, description=DESCRIPTION,
                  lifespan=lifespan, default_response_class=SafeJSONResponse)
    app.state.portal = state
    app.include_router(api.build_router())
    app.include_router(pages.build_router())
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> Response:
        detail = exc.detail if isinstance(exc.detail, str) else "request refused"
        headers = dict(exc.headers or {})
        if is_api(request.url.path) or request.url.path.startswith("/static/"):
            return SafeJSONResponse({"detail": detail}, status_code=exc.status_code, headers=headers)
        response = state.render(request, "error.html", status=exc.status_code, message=detail)
        response.headers.update(headers)
        return response

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        # Where and what, never the submitted value ("input") or pydantic's context.
        errors = [{"loc": [str(part) for part in e.get("loc", ())], "msg": str(e.get("msg", "")),
                   "type": str(e.get("type", ""))} for e in exc.errors()][:20]
        if is_api(request.url.path):
            return SafeJSONResponse({"detail": errors}, status_code=422)
        message = "; ".join(f"{'.'.join(e['loc'][1:]) or 'request'}: {e['msg']}" for e in errors)
        return state.render(request, "error.html", status=422, message=message)

    # Added innermost first: the guard wraps everything, so even a 429 or 413 gets the headers.
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    if settings.rate_limit:
        app.add_middleware(RateLimitMiddleware, limiter=RateLimiter(settings.rate_limit, settings.rate_burst))
    app.add_middleware(GuardMiddleware)
    return app
