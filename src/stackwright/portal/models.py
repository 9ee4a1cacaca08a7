"""The JSON API's request and response bodies (what /openapi.json documents)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from stackwright.portal.validation import MAX_CONTACT, MAX_REASON


class Error(BaseModel):
    detail: str


class LookupRepository(BaseModel):
    name: str = Field(description="owner/name")
    files: int = Field(description="Files of the repository in the release.")


class LookupResult(BaseModel):
    username: str = Field(description="The looked-up GitHub login, lower-cased.")
    version: str = Field(description="The release looked in.")
    repositories: list[LookupRepository]


class ReleaseInfo(BaseModel):
    version: str
    created_at: str | None
    rows: int = Field(description="Files in the release.")
    repositories: int


class Releases(BaseModel):
    releases: list[ReleaseInfo] = Field(description="Newest first.")


class OptOutCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(max_length=39, description="Your GitHub login.")
    repositories: list[str] | Literal["all"] = Field(
        description='Repository names (name or owner/name, your own) or "all".')
    contact: str = Field(max_length=MAX_CONTACT,
                         description="An email address or URL to reach you (seen by maintainers only).")


class OptOutCreated(BaseModel):
    id: str
    status: str
    status_url: str
    challenge: str = Field(description="Put this token in a .stackwright-optout file at the root of one of "
                                       "the repositories to prove ownership.")


class OptOutStatus(BaseModel):
    id: str
    username: str
    scope: str
    entries: list[str]
    status: str
    verifier: str | None
    created_at: str
    updated_at: str
    applied_release: str | None
    reason: str | None


class AdminOptOut(OptOutStatus):
    challenge: str
    decided_by: str | None
    contact: str


class AdminOptOuts(BaseModel):
    requests: list[AdminOptOut]


class RejectBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    reason: str = Field(min_length=1, max_length=MAX_REASON)
