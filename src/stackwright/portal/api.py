"""The JSON API under /api/v1: look-ups, releases, opt-out requests, and the admin review endpoints.

Look-ups are ``async`` and answer from the in-memory index without leaving the event loop once the
index is loaded; registry calls run in a worker thread. Errors are ``{"detail": "..."}`` and never
quote the input that caused them.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from stackwright.portal.models import (
    AdminOptOut,
    AdminOptOuts,
    Error,
    LookupResult,
    OptOutCreate,
    OptOutCreated,
    OptOutStatus,
    RejectBody,
    Releases,
)
from stackwright.portal.responses import SafeJSONResponse
from stackwright.portal.sessions import ADMIN_ACTOR
from stackwright.portal.state import PortalState
from stackwright.portal.validation import STATUSES, USERNAME_RULE, lookup_name, request_id_ok
from stackwright.registry.errors import RegistryError

bearer = HTTPBearer(auto_error=False, description="The portal's admin token.")
NOT_FOUND = {404: {"model": Error}}


def state_of(request: Request) -> PortalState:
    return request.app.state.portal


def require_admin(request: Request, credentials: Annotated[
        HTTPAuthorizationCredentials | None, Depends(bearer)]) -> str:
    if credentials is None or not state_of(request).token_ok(credentials.credentials):
        raise HTTPException(401, "a valid admin token is required (Authorization: Bearer TOKEN)",
                            headers={"WWW-Authenticate": "Bearer"})
    return ADMIN_ACTOR


def registry_refusal(exc: RegistryError) -> HTTPException:
    """A registry refusal as a 400 whose message is one line (it quotes input only through ascii())."""
    return HTTPException(400, str(exc).splitlines()[0][:300])


def build_router() -> APIRouter:
    router = APIRouter(prefix="/api/v1", default_response_class=SafeJSONResponse)

    @router.get("/lookup", response_model=LookupResult, tags=["lookup"],
                responses={400: {"model": Error}, **NOT_FOUND},
                summary="The repositories of a GitHub user in a release (the latest by default).")
    async def lookup(request: Request,
                     username: Annotated[str, Query(max_length=39, description="GitHub login")],
                     version: Annotated[str | None, Query(max_length=64, description="e.g. v0.1.0")] = None
                     ) -> Any:
        state = state_of(request)
        name = lookup_name(username)
        if name is None:
            raise HTTPException(400, f"invalid username: expected {USERNAME_RULE}")
        release = state.catalog.get(version) if version is not None else state.catalog.latest()
        if release is None:
            raise HTTPException(404, "unknown release version" if version is not None else "no release yet")
        index = await state.index(release)
        found = index.lookup(name)
        return SafeJSONResponse({"username": name, "version": release.version,
                                 "repositories": [{"name": r, "files": f} for r, f in found]})

    @router.get("/releases", response_model=Releases, tags=["lookup"], summary="Every release, newest first.")
    async def releases(request: Request) -> Any:
        listed = state_of(request).catalog.releases()[::-1]
        return SafeJSONResponse({"releases": [r.public_json() for r in listed]})

    @router.post("/optout", status_code=202, response_model=OptOutCreated, tags=["opt-out"],
                 responses={400: {"model": Error}},
                 summary="Ask for your repositories (or all of them) to be left out of future releases.")
    async def request_optout(request: Request, body: OptOutCreate) -> Any:
        try:
            created = await state_of(request).call_registry(
                "request_optout", body.username, body.repositories, body.contact, actor="portal")
        except RegistryError as exc:
            raise registry_refusal(exc) from None
        return SafeJSONResponse({"id": created.id, "status": created.status,
                                 "status_url": f"/api/v1/optout/{created.id}",
                                 "challenge": created.challenge}, status_code=202)

    @router.get("/optout/{request_id}", response_model=OptOutStatus, tags=["opt-out"], responses=NOT_FOUND,
                summary="The public status of an opt-out request.")
    async def optout_status(request: Request, request_id: str) -> Any:
        found = await _get(state_of(request), request_id)
        return SafeJSONResponse(found.public_json())

    @router.get("/admin/optouts", response_model=AdminOptOuts, tags=["admin"],
                responses={401: {"model": Error}, 400: {"model": Error}},
                summary="Opt-out requests with their contacts, oldest first.")
    async def admin_list(request: Request, _admin: Annotated[str, Depends(require_admin)],
                         status: str | None = None,
                         limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                         offset: Annotated[int, Query(ge=0)] = 0) -> Any:
        if status is not None and status not in STATUSES:
            raise HTTPException(400, f"unknown status; use one of {', '.join(STATUSES)}")
        listed = await state_of(request).call_registry("list", status=status, limit=limit, offset=offset)
        return SafeJSONResponse({"requests": [r.admin_json(contact=True) for r in listed]})

    @router.post("/admin/optout/{request_id}/verify", response_model=AdminOptOut, tags=["admin"],
                 responses={401: {"model": Error}, 404: {"model": Error}, 409: {"model": Error}},
                 summary="Mark a pending request verified (ownership checked by a maintainer).")
    async def admin_verify(request: Request, request_id: str,
                           admin: Annotated[str, Depends(require_admin)]) -> Any:
        return await _decide(state_of(request), request_id, "verify", actor=admin)

    @router.post("/admin/optout/{request_id}/reject", response_model=AdminOptOut, tags=["admin"],
                 responses={401: {"model": Error}, 404: {"model": Error}, 409: {"model": Error}},
                 summary="Reject a pending request, with the reason the requester will see.")
    async def admin_reject(request: Request, request_id: str, body: RejectBody,
                           admin: Annotated[str, Depends(require_admin)]) -> Any:
        return await _decide(state_of(request), request_id, "reject", actor=admin, reason=body.reason)

    return router


async def _get(state: PortalState, request_id: str) -> Any:
    found = await state.call_registry("get", request_id) if request_id_ok(request_id) else None
    if found is None:
        raise HTTPException(404, "no such opt-out request")
    return found


async def _decide(state: PortalState, request_id: str, method: str, **kwargs: Any) -> Any:
    await _get(state, request_id)
    try:
        decided = await state.call_registry(method, request_id, **kwargs)
    except RegistryError as exc:
        raise HTTPException(409, str(exc).splitlines()[0][:300]) from None
    return SafeJSONResponse(decided.admin_json(contact=True))
