"""Opt-outs applied to a release: whose code must not be in it.

For now the list is a text file, one entry per line: ``owner`` (every repository of that GitHub user
or organisation) or ``owner/repo``, with ``#`` comments, matched case-insensitively, as GitHub names
are. A registry of opt-out requests will later provide the same :class:`OptOuts` interface, so the
release writer only ever asks ``excludes(repo)`` and ``describe()``.

Every line is validated against GitHub's naming rules: a list that says something unexpected (a URL,
a path, a wildcard) is refused with its line number rather than silently matching nothing.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from stackwright.files import FileReadError, decode_user_text, read_user_bytes
from stackwright.names import is_login, is_repo_name
from stackwright.registry.optout_set import NO_OPTOUTS as NO_ENTRIES
from stackwright.registry.optout_set import OptOutSet
from stackwright.release.manifest import ReleaseError

MAX_LIST_BYTES = 64_000_000
# Only ASCII blanks are trimmed: Unicode spaces (U+2028, U+00A0, ...) make a line invalid, not shorter.
_BLANK = " \t\r"


class OptOuts(Protocol):
    """What the release writer needs from a source of opt-outs."""

    def excludes(self, repo: str) -> bool: ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class OptOutList:
    """Opt-outs read from a text file (see the module docstring for the format): the same owners and
    repositories, matched the same way, as the registry's verified set."""

    source: str | None = None  # the list file's name
    sha256: str | None = None
    optouts: OptOutSet = NO_ENTRIES

    @property
    def entries(self) -> int:
        return len(self.optouts)

    def excludes(self, repo: str) -> bool:
        return self.optouts.matches(repo)

    def describe(self) -> dict[str, Any]:
        return {"source": self.source, "sha256": self.sha256, "entries": self.entries}


NO_OPTOUTS = OptOutList()


def parse_entry(text: str, where: str) -> tuple[str, str | None]:
    """(owner, repo or None) of one opt-out entry, lower-cased; a ReleaseError naming ``where``."""
    # Checked before lower-casing: str.lower() maps some non-ASCII letters (the Kelvin sign) to ASCII.
    owner, slash, name = text.strip(_BLANK).partition("/")
    if not is_login(owner):
        raise ReleaseError(
            f"{where}: {ascii(text.strip(_BLANK))[:80]} is not a GitHub user or organisation "
            "name (expected owner or owner/repo)"
        )
    owner, name = owner.lower(), name.lower()
    if not slash:
        return owner, None
    if not is_repo_name(name):
        raise ReleaseError(
            f"{where}: {ascii(text.strip(_BLANK))[:80]} is not a GitHub repository "
            "(expected owner or owner/repo)"
        )
    return owner, f"{owner}/{name}"


def read_optout_list(path: Path) -> OptOutList:
    """Parse an opt-out list file; any line that is not a valid entry is an error with its number."""
    try:
        data = read_user_bytes(path, MAX_LIST_BYTES, "opt-out list")
        text = decode_user_text(data, path, "opt-out list")
    except FileReadError as exc:
        raise ReleaseError(str(exc)) from None
    owners: set[str] = set()
    repos: set[str] = set()
    # Only "\n" ends a line: any other control character is part of a line, and refused there.
    for number, line in enumerate(text.split("\n"), start=1):
        content = line.split("#", 1)[0]
        if not content.strip(_BLANK):
            continue
        owner, repo = parse_entry(content, f"{path} line {number}")
        if repo is None:
            owners.add(owner)
        else:
            repos.add(repo)
    entries = OptOutSet(frozenset(owners), frozenset(repos))
    return OptOutList(path.name, hashlib.sha256(data).hexdigest(), entries)
