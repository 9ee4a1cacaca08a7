"""The list of repositories to crawl: one name or URL a line, or JSON lines with host metadata.

A crawl starts from names, as The Stack did. Every entry is checked here, before anything is fetched:
a bad line is counted and reported by its number (the line itself may hold a credential, so its text
is never repeated), and only a list with nothing valid in it stops the crawl.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from stackwright.errors import StackwrightError
from stackwright.files import FileReadError, read_user_text
from stackwright.names import is_login, is_repo_name

_SCP_LIKE = re.compile(r"(?P<user>[A-Za-z0-9._-]+)@(?P<host>[A-Za-z0-9.-]+):(?P<path>[^\s]+)")
_SHA = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")
URL_SCHEMES = ("https", "http", "git", "ssh")
JSON_SUFFIXES = (".jsonl", ".ndjson", ".json")
MAX_LINE = 10_000


class ListError(StackwrightError, ValueError):
    """A list that cannot be used at all (unreadable, or nothing valid in it)."""


@dataclass(frozen=True, slots=True)
class CrawlEntry:
    """One repository to fetch, with what the list says about it."""

    repo: str  # owner/name as the list spells it
    line: int
    url: str | None = None  # fetched from here when given, else from the host template
    stars: int | None = None
    forks: int | None = None
    default_branch: str | None = None
    ref: str | None = None
    license: str | None = None  # the host's license field (SPDX id), if any

    @property
    def key(self) -> str:
        """Names are case-insensitive on hosts: one key per repository."""
        return self.repo.lower()

    @property
    def owner(self) -> str:
        return self.repo.split("/", 1)[0]

    @property
    def name(self) -> str:
        return self.repo.split("/", 1)[1]

    @property
    def wanted_ref(self) -> str | None:
        """What to fetch: the given ref, else the default branch, else the remote's HEAD (None)."""
        return self.ref or self.default_branch

    def metadata(self) -> dict[str, Any]:
        return {"stars": self.stars, "forks": self.forks, "default_branch": self.default_branch,
                "ref": self.ref, "license": self.license}


@dataclass(frozen=True, slots=True)
class BadLine:
    line: int
    reason: str


@dataclass
class Listing:
    entries: list[CrawlEntry] = field(default_factory=list)
    bad: list[BadLine] = field(default_factory=list)
    duplicates: int = 0


def check_repo_name(repo: str) -> str | None:
    """Why ``owner/name`` is not a valid repository name, or None when it is."""
    owner, sep, name = repo.partition("/")
    if not sep or "/" in name:
        return "not owner/name"
    if not is_login(owner):
        return "owner is not a valid name (letters, digits and hyphens, at most 39)"
    if not is_repo_name(name):
        return "repository name is not valid (letters, digits, '.', '-', '_', at most 100)"
    return None


def check_ref(ref: str) -> str | None:
    """Why ``ref`` cannot be fetched safely (git's ref-name rules, no option look-alikes), or None."""
    if _SHA.fullmatch(ref):
        return None
    if (not ref or len(ref) > 255 or ref.startswith(("-", "/")) or ref.endswith(("/", ".", ".lock"))
            or ".." in ref or "//" in ref or "@{" in ref or ref == "@"
            or any(c in ref for c in " ~^:?*[\\") or any(ord(c) < 33 or ord(c) == 127 for c in ref)):
        return "not a valid git ref"
    return None


def repo_from_url(url: str) -> tuple[str | None, str | None]:
    """(owner/name, None) from a repository URL, or (None, why not). The URL may not hold credentials."""
    scp = _SCP_LIKE.fullmatch(url)
    if scp and "://" not in url:
        path = scp.group("path")
    else:
        try:
            parts = urlsplit(url)
        except ValueError:
            return None, "not a URL"
        if parts.scheme.lower() not in URL_SCHEMES:
            return None, f"URL scheme must be one of {', '.join(URL_SCHEMES)}"
        if parts.password is not None or (parts.username and parts.scheme.lower() != "ssh"):
            return None, "URL holds credentials"
        if not parts.hostname or parts.query or parts.fragment:
            return None, "URL needs a host and no query or fragment"
        path = parts.path
    pieces = [p for p in path.strip("/").split("/") if p]
    if len(pieces) < 2:
        return None, "URL path does not end in owner/name"
    owner, name = pieces[-2], pieces[-1].removesuffix(".git")
    repo = f"{owner}/{name}"
    why = check_repo_name(repo)
    return (None, why) if why else (repo, None)


def _count(value: Any, key: str) -> tuple[int | None, str | None]:
    if value is None:
        return None, None
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        return None, f"'{key}' must be a non-negative integer"
    return value, None


def _text(value: Any, key: str) -> tuple[str | None, str | None]:
    if value is None:
        return None, None
    if not isinstance(value, str) or not value.strip() or len(value) > 255:
        return None, f"'{key}' must be a non-empty string"
    return value.strip(), None


def _entry_from_spec(spec: str, line: int) -> tuple[CrawlEntry | None, str | None]:
    if "://" in spec or _SCP_LIKE.fullmatch(spec):
        repo, why = repo_from_url(spec)
        if repo is None:
            return None, why
        return CrawlEntry(repo, line, url=spec), None
    why = check_repo_name(spec.removesuffix(".git"))
    if why:
        return None, why
    return CrawlEntry(spec.removesuffix(".git"), line), None


def _entry_from_json(text: str, line: int) -> tuple[CrawlEntry | None, str | None]:
    try:
        obj = json.loads(text)
    except ValueError:
        return None, "not valid JSON"
    if not isinstance(obj, dict):
        return None, "not a JSON object"
    repo_value, url_value = obj.get("repo"), obj.get("url")
    if url_value is not None:
        if not isinstance(url_value, str):
            return None, "'url' must be a string"
        entry, why = _entry_from_spec(url_value.strip(), line)
        if entry is None:
            return None, why
        if isinstance(repo_value, str) and repo_value.lower() != entry.repo.lower():
            return None, "'repo' does not match the URL"
    elif isinstance(repo_value, str):
        entry, why = _entry_from_spec(repo_value.strip(), line)
        if entry is None or entry.url is not None:
            return None, why or "'repo' must be owner/name (use 'url' for a URL)"
    else:
        return None, "needs 'repo' (owner/name) or 'url'"
    values: dict[str, Any] = {}
    for key, check in (("stars", _count), ("forks", _count), ("default_branch", _text), ("ref", _text),
                       ("license", _text)):
        value, why = check(obj.get(key), key)
        if why:
            return None, why
        values[key] = value
    for key in ("default_branch", "ref"):
        if values[key] is not None and check_ref(values[key]):
            return None, f"'{key}' is not a valid git ref"
    return CrawlEntry(entry.repo, line, entry.url, **values), None


def parse_listing(text: str, as_json: bool | None = None) -> Listing:
    """Entries in list order, one per repository (a repeated name counts as a duplicate)."""
    listing = Listing()
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        if len(line) > MAX_LINE:
            listing.bad.append(BadLine(number, "line too long"))
            continue
        json_line = as_json if as_json is not None else line.startswith("{")
        if json_line:
            entry, why = _entry_from_json(line, number)
        else:
            spec = line.split(" #", 1)[0].strip()
            entry, why = _entry_from_spec(spec, number) if " " not in spec else (None, "more than one field")
        if entry is None:
            listing.bad.append(BadLine(number, why or "invalid"))
            continue
        if entry.key in seen:
            listing.duplicates += 1
            continue
        seen.add(entry.key)
        listing.entries.append(entry)
    return listing


MAX_LIST_BYTES = 1_000_000_000  # a list of some ten million repositories


def read_listing(path: Path) -> Listing:
    """Read and check a list file; raises ListError when it is unreadable or holds nothing valid."""
    try:
        text = read_user_text(path, MAX_LIST_BYTES, "file")
    except FileReadError as exc:
        raise ListError(str(exc)) from None
    as_json = True if path.name.lower().endswith(JSON_SUFFIXES) else None
    listing = parse_listing(text, as_json)
    if not listing.entries:
        if listing.bad:
            first = listing.bad[0]
            raise ListError(f"{path}: no valid repository in {len(listing.bad)} bad line(s); "
                            f"line {first.line}: {first.reason}")
        raise ListError(f"{path}: no repositories listed")
    return listing
