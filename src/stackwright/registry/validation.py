"""What an opt-out request may say: GitHub's naming rules, entry limits, contact length.

Everything is checked before it reaches the database, and every refusal says what was expected.
Values are quoted with ``ascii()`` and cut short so that a refusal message stays one printable line.
"""

from __future__ import annotations

import re
from typing import Any

from stackwright import names
from stackwright.registry.errors import RegistryError

# GitHub's owner and repository name rules (stackwright.names).
LOGIN, REPO_NAME = names.LOGIN, names.REPO_NAME
RELEASE_VERSION = re.compile(r"[A-Za-z0-9][A-Za-z0-9._+-]{0,63}")

MAX_ENTRIES = 1000
MAX_CONTACT = 320
MAX_ACTOR = 200
MAX_REASON = 2000

SCOPE_ALL = "all"
SCOPE_REPOSITORIES = "repositories"
PENDING, VERIFIED, REJECTED, APPLIED = "pending", "verified", "rejected", "applied"
STATUSES = (PENDING, VERIFIED, REJECTED, APPLIED)
MAINTAINER, REPOSITORY_TOKEN = "maintainer", "repository-token"
VERIFIERS = (MAINTAINER, REPOSITORY_TOKEN)


def shown(value: Any) -> str:
    """A value quoted for an error message: ASCII only, at most about 60 characters."""
    text = ascii(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_username(username: Any) -> str:
    if not isinstance(username, str) or not LOGIN.fullmatch(username):
        raise RegistryError(
            f"{shown(username)} is not a GitHub user or organisation name "
            "(letters, digits and single hyphens, at most 39 characters)"
        )
    return username


def check_repositories(username: str, repositories: Any) -> list[str] | None:
    """The lower-cased, sorted, distinct ``owner/name`` entries; None for a whole-owner request."""
    if repositories == SCOPE_ALL:
        return None
    if isinstance(repositories, str) or not isinstance(repositories, list | tuple):
        raise RegistryError('repositories must be a list of repository names or "all"')
    if not repositories:
        raise RegistryError('name at least one repository, or opt out every repository with "all"')
    if len(repositories) > MAX_ENTRIES:
        raise RegistryError(
            f"at most {MAX_ENTRIES} repositories per request, got {len(repositories)}; "
            'opt out every repository with "all" or send several requests'
        )
    owner = username.lower()
    entries: set[str] = set()
    for entry in repositories:
        if not isinstance(entry, str):
            raise RegistryError(f"repository {shown(entry)} is not a name")
        head, slash, name = entry.partition("/")
        if not slash:
            head, name = username, entry
        elif head.lower() != owner:
            raise RegistryError(
                f"repository {shown(entry)} does not belong to {username}: a request may "
                f"only name {username}'s own repositories"
            )
        if not REPO_NAME.fullmatch(name) or name in (".", ".."):
            raise RegistryError(
                f"{shown(entry)} is not a GitHub repository name (letters, digits, '.', "
                "'-' and '_', at most 100 characters)"
            )
        entries.add(f"{owner}/{name.lower()}")
    return sorted(entries)


def check_contact(contact: Any) -> str:
    """Any printable text up to 320 characters (an email address or a URL); stored as given."""
    if not isinstance(contact, str) or not contact.strip():
        raise RegistryError("a contact (an email address or a URL) is required")
    if len(contact) > MAX_CONTACT:
        raise RegistryError(f"the contact is {len(contact)} characters long; at most {MAX_CONTACT}")
    if not contact.isprintable():
        raise RegistryError("the contact holds control characters (line breaks, tabs, ...)")
    return contact


def check_text(value: Any, what: str, limit: int) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RegistryError(f"{what} must not be empty")
    if len(value) > limit:
        raise RegistryError(f"{what} is {len(value)} characters long; at most {limit}")
    return value


def check_status(status: Any) -> str:
    if status not in STATUSES:
        raise RegistryError(f"unknown status {shown(status)}; use one of {', '.join(STATUSES)}")
    return status


def check_verifier(verifier: Any) -> str:
    if verifier not in VERIFIERS:
        raise RegistryError(f"unknown verifier {shown(verifier)}; use one of {', '.join(VERIFIERS)}")
    return verifier


def check_release(version: Any) -> str:
    if not isinstance(version, str) or not RELEASE_VERSION.fullmatch(version):
        raise RegistryError(f"{shown(version)} is not a release version (for example v1.2.0)")
    return version
