"""What the routes share: settings, the release catalog, the registry, cookie signing, templates."""

from __future__ import annotations

import hmac
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse

from stackwright.portal.passwords import verify_password
from stackwright.portal.releases import Release, ReleaseCatalog, UsernameIndex
from stackwright.portal.sessions import Sessions
from stackwright.portal.settings import PortalSettings

if TYPE_CHECKING:
    from stackwright.registry.store import Registry

TEMPLATES = Path(__file__).with_name("templates")


class PortalState:
    def __init__(self, settings: PortalSettings, registry: Registry) -> None:
        self.settings = settings
        self.catalog = ReleaseCatalog(settings.releases, settings.max_loaded_indexes)
        self.registry = registry
        self.sessions = Sessions(settings.signing_key(), settings.session_seconds, settings.secure_cookies)
        # Autoescape everything: every string shown comes from a release index or a request.
        self.templates = Environment(loader=FileSystemLoader(TEMPLATES), autoescape=select_autoescape(
            enabled_extensions=("html",), default_for_string=True, default=True))
        self._registry_lock = threading.Lock()

    # -- registry --------------------------------------------------------------------------------

    async def call_registry(self, method: str, *args: Any, **kwargs: Any) -> Any:
        """Run a registry method in a worker thread; one at a time (SQLite has one writer anyway)."""
        def call() -> Any:
            with self._registry_lock:
                return getattr(self.registry, method)(*args, **kwargs)

        return await run_in_threadpool(call)

    # -- releases --------------------------------------------------------------------------------

    async def index(self, release: Release) -> UsernameIndex:
        """The release's username index; read in a worker thread the first time."""
        cached = self.catalog.cached_index(release)
        if cached is not None:
            return cached
        return await run_in_threadpool(self.catalog.index, release)

    # -- administrators --------------------------------------------------------------------------

    def token_ok(self, token: str | None) -> bool:
        expected = self.settings.admin_token
        if expected is None or not token:
            return False
        return hmac.compare_digest(token.encode("utf-8", "surrogatepass"),
                                   expected.get_secret_value().encode())

    def password_ok(self, password: str) -> bool:
        """The admin password (checked against its hash), or the admin token typed as a password."""
        if self.settings.admin_password_hash is not None and verify_password(
                password, self.settings.admin_password_hash):
            return True
        return self.token_ok(password)

    # -- pages -----------------------------------------------------------------------------------

    def render(self, request: Request, name: str, status: int = 200, **context: Any) -> HTMLResponse:
        token, _ = self.sessions.csrf_token(request)
        admin = self.sessions.admin(request)
        page = self.templates.get_template(name).render(
            csrf_token=token, admin=admin, admin_enabled=self.settings.admin_enabled, **context)
        response = HTMLResponse(page, status_code=status)
        self.sessions.set_csrf_cookie(request, response)
        return response
