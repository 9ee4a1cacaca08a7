"""GitHub's naming rules for owners and repositories, in one place: crawl lists, opt-out lists and
requests, the portal's look-ups and the release index all accept and refuse the same names.

An owner (user or organisation) is 1 to 39 letters, digits and hyphens, not starting with a hyphen.
GitHub now also refuses new logins with two hyphens in a row or a hyphen at the end, but some older
accounts have them, and their owners must be able to find and remove their code, so names that may
exist are accepted. A repository name is 1 to 100 letters, digits, ".", "-" and "_", and not "." or
"..". Both are safe as folder names. Check a name before lower-casing it: ``str.lower`` maps a few
non-ASCII letters (the Kelvin sign) to ASCII ones.
"""

from __future__ import annotations

import re

LOGIN = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,38}")
REPO_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")


def is_login(name: object) -> bool:
    return isinstance(name, str) and LOGIN.fullmatch(name) is not None


def is_repo_name(name: object) -> bool:
    return isinstance(name, str) and REPO_NAME.fullmatch(name) is not None and name not in (".", "..")
