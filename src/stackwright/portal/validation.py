"""What the portal accepts as a username to look up and a release version to ask for.

Opt-out requests are validated by the registry itself (:mod:`stackwright.registry.validation`, which
imports no database code), so the portal and the ``optout`` commands refuse exactly the same input.
Names follow :mod:`stackwright.names`.
"""

from __future__ import annotations

import re

from stackwright.registry.validation import (
    LOGIN,
    MAX_CONTACT,
    MAX_ENTRIES,
    MAX_REASON,
    REPO_NAME,
    STATUSES,
)

__all__ = ["LOGIN", "MAX_CONTACT", "MAX_ENTRIES", "MAX_REASON", "REPO_NAME", "STATUSES", "lookup_name",
           "request_id_ok"]

# Request ids are secrets.token_urlsafe output; anything else cannot name a request.
REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
USERNAME_RULE = "a GitHub user or organisation name: letters, digits and hyphens, at most 39 characters"


def lookup_name(username: str | None) -> str | None:
    """The lower-cased name to look up, or None when ``username`` is not a GitHub login.

    Checked before lower-casing: ``str.lower`` maps a few non-ASCII letters (the Kelvin sign) to ASCII.
    """
    if not username or not LOGIN.fullmatch(username):
        return None
    return username.lower()


def request_id_ok(request_id: str) -> bool:
    return bool(REQUEST_ID.fullmatch(request_id))
