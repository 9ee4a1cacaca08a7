"""The server-rendered pages: look-up, opt-out form and status, and the administrators' review.

Every form POST carries the CSRF token (see :mod:`stackwright.portal.sessions`) and is refused with
403 without it. Pages show only what the public release indexes and the public part of a request
hold; contacts and challenge tokens appear on the administrators' pages only (and the challenge once,
to the requester, on the confirmation page).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, HTTPException, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from stackwright.portal.history import user_history
from stackwright.portal.sessions import CSRF_FIELD
from stackwright.portal.state import PortalState
from stackwright.portal.validation import (
    MAX_ENTRIES,
    STATUSES,
    USERNAME_RULE,
    lookup_name,
    request_id_ok,
)
from stackwright.registry.errors import RegistryError

MAX_TEXT_FIELD = 4000


def state_of(request: Request) -> PortalState:
    return request.app.state.portal


async def read_form(request: Request) -> FormData:
    """The submitted form, after its CSRF token was checked (403 when missing or wrong)."""
    form = await request.form(max_files=0, max_fields=MAX_ENTRIES + 20)
    if not state_of(request).sessions.csrf_ok(request, form.get(CSRF_FIELD)):
        raise HTTPException(403, "the form expired or did not come from this site; reload the page and "
                                 "submit it again")
    return form


def text(form: FormData, name: str) -> str:
    value = form.get(name)
    if not isinstance(value, str):
        return ""
    if len(value) > MAX_TEXT_FIELD:
        raise HTTPException(400, f"the field {name} is too long")
    return value.strip()


def require_admin_session(request: Request) -> str:
    state = state_of(request)
    if not state.settings.admin_enabled:
        raise HTTPException(404, "the admin pages are not enabled on this portal")
    admin = state.sessions.admin(request)
    if admin is None:
        raise HTTPException(401, "sign in at /admin first")
    return admin


def build_router() -> APIRouter:
    router = APIRouter(default_response_class=HTMLResponse, include_in_schema=False)

    @router.get("/")
    async def home(request: Request) -> Response:
        state = state_of(request)
        return state.render(request, "home.html", releases=state.catalog.releases()[::-1])

    @router.get("/favicon.ico")
    async def favicon() -> Response:
        return Response(status_code=204)  # no icon; answered so that browsers log no error

    @router.get("/lookup")
    async def lookup(request: Request, username: str = "") -> Response:
        state = state_of(request)
        name = lookup_name(username[:64])
        if name is None:
            return state.render(request, "home.html", status=400, releases=state.catalog.releases()[::-1],
                                error=f"Enter {USERNAME_RULE}.")
        releases = state.catalog.releases()
        indexes = [await state.index(r) for r in releases]
        views = user_history(releases, indexes, name)
        found = sorted({repo for view in views for repo, _ in view.repositories})
        return state.render(request, "lookup.html", username=name, views=views, found=found)

    @router.get("/optout")
    async def optout_form(request: Request, username: str = "") -> Response:
        state = state_of(request)
        name = lookup_name(username[:64])
        repositories: list[str] = []
        if name is not None:
            releases = state.catalog.releases()
            for release in releases:
                repositories.extend(repo for repo, _ in (await state.index(release)).lookup(name))
        return state.render(request, "optout_form.html", username=name or "",
                            repositories=sorted(set(repositories)), chosen=set(), everything=False,
                            contact="", other="")

    @router.post("/optout")
    async def optout_submit(request: Request) -> Response:
        state = state_of(request)
        form = await read_form(request)
        username = text(form, "username")
        contact = text(form, "contact")
        other = text(form, "other")
        everything = form.get("all") == "1"
        offered = [v for v in form.getlist("offered") if isinstance(v, str)][:MAX_ENTRIES]
        chosen = [v for v in form.getlist("repositories") if isinstance(v, str)]
        names = [*chosen, *(line.strip() for line in other.splitlines() if line.strip())]

        def again(message: str) -> Response:
            return state.render(request, "optout_form.html", status=400, error=message, username=username,
                                repositories=sorted(set(offered)), chosen=set(chosen), everything=everything,
                                contact=contact, other=other)

        if not everything and not names:
            return again('Choose at least one repository, or "all my repositories".')
        try:
            created = await state.call_registry("request_optout", username, "all" if everything else names,
                                                contact, actor="portal")
        except RegistryError as exc:
            return again(str(exc).splitlines()[0][:300])
        return state.render(request, "optout_created.html", request_=created.public_json(),
                            challenge=created.challenge)

    @router.get("/optout/{request_id}")
    async def optout_status(request: Request, request_id: str) -> Response:
        state = state_of(request)
        found = await state.call_registry("get", request_id) if request_id_ok(request_id) else None
        if found is None:
            raise HTTPException(404, "There is no opt-out request with this id.")
        return state.render(request, "optout_status.html", request_=found.public_json())

    @router.get("/admin")
    async def admin(request: Request, status: str = "pending") -> Response:
        state = state_of(request)
        if not state.settings.admin_enabled:
            raise HTTPException(404, "the admin pages are not enabled on this portal")
        if state.sessions.admin(request) is None:
            return state.render(request, "admin_login.html")
        shown = status if status in STATUSES else None
        listed = await state.call_registry("list", status=shown, limit=500)
        return state.render(request, "admin.html", requests=[r.admin_json(contact=True) for r in listed],
                            current=shown or "all", statuses=STATUSES)

    @router.post("/admin/login")
    async def admin_login(request: Request) -> Response:
        state = state_of(request)
        if not state.settings.admin_enabled:
            raise HTTPException(404, "the admin pages are not enabled on this portal")
        form = await read_form(request)
        password = form.get("password")
        ok = isinstance(password, str) and 0 < len(password) <= 1024 and await run_in_threadpool(
            state.password_ok, password)
        if not ok:
            return state.render(request, "admin_login.html", status=401, error="Wrong password.")
        state.sessions.renew_csrf(request)
        response = RedirectResponse("/admin", status_code=303)
        state.sessions.sign_in(request, response)
        state.sessions.set_csrf_cookie(request, response)
        return response

    @router.post("/admin/logout")
    async def admin_logout(request: Request) -> Response:
        state = state_of(request)
        await read_form(request)
        response = RedirectResponse("/", status_code=303)
        state.sessions.sign_out(response)
        return response

    @router.post("/admin/optout/{request_id}/verify")
    async def admin_verify(request: Request, request_id: str) -> Response:
        await read_form(request)
        actor = require_admin_session(request)
        return await _decide(request, request_id, "verify", actor=actor)

    @router.post("/admin/optout/{request_id}/reject")
    async def admin_reject(request: Request, request_id: str) -> Response:
        form = await read_form(request)
        actor = require_admin_session(request)
        reason = text(form, "reason")
        if not reason:
            raise HTTPException(400, "a rejection needs a reason (the requester sees it)")
        return await _decide(request, request_id, "reject", actor=actor, reason=reason)

    return router


async def _decide(request: Request, request_id: str, method: str, **kwargs: Any) -> Response:
    state = state_of(request)
    found = await state.call_registry("get", request_id) if request_id_ok(request_id) else None
    if found is None:
        raise HTTPException(404, "There is no opt-out request with this id.")
    try:
        await state.call_registry(method, request_id, **kwargs)
    except RegistryError as exc:
        raise HTTPException(409, str(exc).splitlines()[0][:300]) from None
    return RedirectResponse("/admin", status_code=303)
