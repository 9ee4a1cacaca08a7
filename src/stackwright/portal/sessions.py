"""Signed cookies: the CSRF token every form carries, and the administrator's session.

Both are stateless: the server keeps nothing, the cookie value is signed (itsdangerous, HMAC-SHA1 over
a key derived per purpose from the portal's secret) and carries its issue time, so a forged, altered
or expired cookie is simply not accepted. Cookies are HttpOnly and SameSite=Strict.

CSRF protection is the signed double-submit pattern: the ``sw_csrf`` cookie holds a signed random
token, each form holds the same token in a hidden field, and a POST is accepted only when the two
match. A cross-site page can make a browser send the cookie but can neither read it nor forge its
signature. Signing in replaces the token, so a token planted before the login is worthless after it.
"""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer
from starlette.requests import Request
from starlette.responses import Response

CSRF_COOKIE = "sw_csrf"
ADMIN_COOKIE = "sw_admin"
CSRF_FIELD = "csrf_token"
ADMIN_ACTOR = "portal-admin"


class Sessions:
    def __init__(self, secret: str, max_age: int, secure: bool | None = None) -> None:
        self._csrf = URLSafeTimedSerializer(secret, salt="stackwright-portal-csrf")
        self._admin = URLSafeTimedSerializer(secret, salt="stackwright-portal-admin")
        self.max_age = max_age
        self.secure = secure

    # -- CSRF ------------------------------------------------------------------------------------

    def csrf_from_cookie(self, request: Request) -> str | None:
        return self._load(self._csrf, request.cookies.get(CSRF_COOKIE))

    def csrf_token(self, request: Request) -> tuple[str, bool]:
        """The request's CSRF token and whether it is new (then the response must set the cookie)."""
        token = getattr(request.state, "new_csrf", None) or self.csrf_from_cookie(request)
        if isinstance(token, str) and token:
            return token, bool(getattr(request.state, "new_csrf", None))
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
        return token, True

    def renew_csrf(self, request: Request) -> str:
        token = secrets.token_urlsafe(32)
        request.state.new_csrf = token
        return token

    def csrf_ok(self, request: Request, submitted: Any) -> bool:
        expected = self.csrf_from_cookie(request)
        if not expected or not isinstance(submitted, str) or not submitted:
            return False
        return hmac.compare_digest(expected.encode(), submitted.encode())

    def set_csrf_cookie(self, request: Request, response: Response) -> None:
        token = getattr(request.state, "new_csrf", None)
        if token:
            self._set(request, response, CSRF_COOKIE, self._csrf.dumps(token))

    # -- admin session ---------------------------------------------------------------------------

    def admin(self, request: Request) -> str | None:
        """The signed-in administrator's actor name, or None."""
        data = self._load(self._admin, request.cookies.get(ADMIN_COOKIE))
        return data if isinstance(data, str) and data == ADMIN_ACTOR else None

    def sign_in(self, request: Request, response: Response) -> None:
        self._set(request, response, ADMIN_COOKIE, self._admin.dumps(ADMIN_ACTOR))

    def sign_out(self, response: Response) -> None:
        response.delete_cookie(ADMIN_COOKIE, path="/", httponly=True, samesite="strict")

    # -- helpers ---------------------------------------------------------------------------------

    def _load(self, serializer: URLSafeTimedSerializer, value: str | None) -> Any:
        if not value or len(value) > 512:
            return None
        try:
            return serializer.loads(value, max_age=self.max_age)
        except BadSignature:
            return None

    def _set(self, request: Request, response: Response, name: str, value: str) -> None:
        secure = self.secure if self.secure is not None else request.url.scheme == "https"
        response.set_cookie(name, value, max_age=self.max_age, path="/", httponly=True, samesite="strict",
                            secure=secure)
