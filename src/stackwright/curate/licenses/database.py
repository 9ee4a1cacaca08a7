"""The reference licenses and rules, from ScanCode's license database (``licensedcode-data``).

The database has about 2,300 licenses (key, SPDX id, category, text) and 35,000 rules (texts,
notices, references and tags, each with a license expression). Parsing it takes seconds, so the
compiled index (token ids, bigram sets, an inverted index) is cached on disk, keyed by the data
release, in ``$STACKWRIGHT_CACHE`` or ``~/.cache/stackwright``.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import importlib.util
import os
import pickle
import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import yaml

from stackwright.curate.licenses.normalize import EQUIVALENT_WORDS, tokenize
from stackwright.errors import StackwrightError
from stackwright.files import atomic_path

INDEX_FORMAT = 10
# Bigrams that occur in more references than this are left out of the inverted index (they are
# still compared when candidates are scored): "of the", "the software", ...
MAX_POSTINGS = 1500
# References shorter than this (in tokens) are matched as exact phrases, not by similarity.
MIN_SIMILARITY_TOKENS = 12

TEXT, NOTICE, REFERENCE, TAG = "text", "notice", "reference", "tag"


class LicenseDataError(StackwrightError, RuntimeError):
    """The license database is missing or unreadable."""


@dataclass(frozen=True, slots=True)
class LicenseInfo:
    key: str
    spdx: str
    name: str
    category: str  # ScanCode's category: Permissive, Copyleft, Copyleft Limited, ...
    is_exception: bool


@dataclass(frozen=True, slots=True)
class Reference:
    """A license text or rule to match against."""

    name: str  # file name in the database: "mit.LICENSE", "mit_12.RULE"
    expression: str  # ScanCode expression ("mit", "mit OR apache-2.0")
    kind: str  # text, notice, reference or tag
    relevance: int
    length: int  # tokens


class _Vocabulary(dict):
    """Token -> id; a word no reference has gets the one "unknown" id (looked up in C by map)."""

    unknown = 0

    def __missing__(self, key: str) -> int:
        return self.unknown


def data_dir() -> Path:
    """The folder holding ``licenses/`` and ``rules/`` (from licensedcode-data or scancode-toolkit)."""
    override = os.environ.get("STACKWRIGHT_LICENSE_DATA")
    candidates: list[Path] = [Path(override)] if override else []
    spec = importlib.util.find_spec("licensedcode")
    if spec is not None:
        candidates += [Path(p) / "data" for p in (spec.submodule_search_locations or [])]
    for path in candidates:
        if (path / "licenses").is_dir() and (path / "rules").is_dir():
            return path
    raise LicenseDataError(
        "ScanCode's license database is not installed: pip install licensedcode-data"
    )


def data_version() -> str:
    for dist in ("licensedcode-data", "scancode-toolkit"):
        try:
            return f"{dist}-{importlib.metadata.version(dist)}"
        except importlib.metadata.PackageNotFoundError:
            continue
    return "unknown"


def cache_dir() -> Path:
    root = os.environ.get("STACKWRIGHT_CACHE")
    if root:
        return Path(root)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "stackwright"


def _front_matter(path: Path) -> tuple[dict, str]:
    raw = path.read_text(encoding="utf-8", errors="replace")
    if raw.startswith("---"):
        parts = raw[3:].split("\n---", 1)
        if len(parts) == 2:
            head = parts[0]
            body = parts[1].split("\n", 1)[1] if "\n" in parts[1] else ""
            try:
                meta = yaml.load(head, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)) or {}
            except yaml.YAMLError:
                meta = {}
            return (meta if isinstance(meta, dict) else {}), body
    return {}, raw


def reference_text(key: str) -> str:
    """The reference text of license ``key`` ("mit", "bsd-new") as the license database ships it."""
    path = data_dir() / "licenses" / f"{key}.LICENSE"
    if not path.is_file():
        raise KeyError(f"no license {key!r} in the license database")
    return _front_matter(path)[1].strip() + "\n"


def _yes(value: object) -> bool:
    return value is True or str(value).lower() in {"yes", "true"}


_KEY_TOKEN = re.compile(r"[A-Za-z0-9.+\-_]+")
_OPERATORS = {"and": "AND", "or": "OR", "with": "WITH"}


class LicenseIndex:
    """Licenses by key and SPDX id, and the reference texts as arrays ready for matching."""

    def __init__(self, state: dict) -> None:
        self.version: str = state["version"]
        self.licenses: dict[str, LicenseInfo] = state["licenses"]
        self.refs: list[Reference] = state["refs"]
        self.words: list[str] = state["words"]
        self.vocab: dict[str, int] = _Vocabulary((w, i) for i, w in enumerate(self.words))
        self.vocab.unknown = len(self.words)  # type: ignore[attr-defined]
        for variant, canonical in EQUIVALENT_WORDS.items():
            if canonical in self.vocab:
                self.vocab[variant] = self.vocab[canonical]
        self.unknown_token = len(self.words)
        self.tok_off: np.ndarray = state["tok_off"]
        self.tokens: np.ndarray = state["tokens"]
        self.bg_off: np.ndarray = state["bg_off"]
        self.bigrams: np.ndarray = state["bigrams"]
        self.inv_keys: np.ndarray = state["inv_keys"]
        self.inv_off: np.ndarray = state["inv_off"]
        self.inv_refs: np.ndarray = state["inv_refs"]
        self.exact: dict[bytes, int] = state["exact"]
        self.phrases: dict[tuple[int, int], list[int]] = state["phrases"]
        self.inv_count: np.ndarray = state["inv_count"]  # indexed bigrams per reference
        self.listed: np.ndarray = state["listed"]  # the reference's license is on the SPDX list
        self.by_spdx: dict[str, str] = {}
        for info in self.licenses.values():
            self.by_spdx.setdefault(info.spdx.lower(), info.key)
        for alias, key in state["spdx_aliases"].items():
            self.by_spdx.setdefault(alias.lower(), key)

    # -- tokens and bigrams ------------------------------------------------------------------
    def token_ids(self, tokens: list[str]) -> np.ndarray:
        return np.array(list(map(self.vocab.__getitem__, tokens)), dtype=np.int64)

    def bigram_ids(self, ids: np.ndarray) -> np.ndarray:
        """Bigram ids (one per position but the last) of a token id array."""
        if ids.size < 2:
            return np.empty(0, dtype=np.int64)
        return ids[:-1] * (self.unknown_token + 1) + ids[1:]

    def ref_tokens(self, ref: int) -> np.ndarray:
        return self.tokens[self.tok_off[ref]:self.tok_off[ref + 1]]

    def ref_bigrams(self, ref: int) -> np.ndarray:
        return self.bigrams[self.bg_off[ref]:self.bg_off[ref + 1]]

    # -- expressions -------------------------------------------------------------------------
    def spdx_of_key(self, key: str) -> str:
        info = self.licenses.get(key)
        if info is None:
            return f"LicenseRef-scancode-{key}"
        return info.spdx

    def to_spdx(self, expression: str) -> str:
        """A ScanCode expression ("mit OR apache-2.0") with SPDX ids ("MIT OR Apache-2.0")."""
        out = []
        for part in re.split(r"(\s+|\(|\))", expression):
            if not part or part.isspace():
                continue
            if part in "()":
                out.append(part)
            elif part.lower() in _OPERATORS:
                out.append(_OPERATORS[part.lower()])
            else:
                out.append(self.spdx_of_key(part))
        text = " ".join(out)
        return text.replace("( ", "(").replace(" )", ")")

    def key_of_spdx(self, spdx_id: str) -> str | None:
        return self.by_spdx.get(spdx_id.lower())


def _compile(root: Path, version: str) -> dict:
    licenses: dict[str, LicenseInfo] = {}
    spdx_aliases: dict[str, str] = {}
    texts: list[tuple[Reference, list[str]]] = []
    for path in sorted((root / "licenses").glob("*.LICENSE")):
        meta, body = _front_matter(path)
        key = str(meta.get("key") or path.stem)
        spdx = str(meta.get("spdx_license_key") or f"LicenseRef-scancode-{key}")
        licenses[key] = LicenseInfo(
            key=key,
            spdx=spdx,
            name=str(meta.get("name") or key),
            category=str(meta.get("category") or "Unstated License"),
            is_exception=_yes(meta.get("is_exception")),
        )
        for alias in meta.get("other_spdx_license_keys") or []:
            spdx_aliases[str(alias)] = key
        if _yes(meta.get("is_deprecated")) or _yes(meta.get("is_unknown")) or _yes(meta.get("is_generic")):
            continue
        tokens, _ = tokenize(body)
        if len(tokens) >= 2:
            texts.append((Reference(path.name, key, TEXT, 100, len(tokens)), tokens))
    _merge_translations(licenses)
    for path in sorted((root / "rules").glob("*.RULE")):
        meta, body = _front_matter(path)
        if _yes(meta.get("is_false_positive")) or _yes(meta.get("is_deprecated")):
            continue
        expression = meta.get("license_expression")
        if not expression:
            continue
        if _yes(meta.get("is_license_text")):
            kind = TEXT
        elif _yes(meta.get("is_license_notice")):
            kind = NOTICE
        elif _yes(meta.get("is_license_reference")):
            kind = REFERENCE
        elif _yes(meta.get("is_license_tag")):
            kind = TAG
        else:  # intros and clues say too little on their own
            continue
        tokens, _ = tokenize(body)
        if len(tokens) < 2:
            continue
        relevance = int(meta.get("relevance") or 100)
        texts.append((Reference(path.name, str(expression), kind, relevance, len(tokens)), tokens))

    eq = EQUIVALENT_WORDS
    texts = [(ref, [eq.get(t, t) for t in tokens]) for ref, tokens in texts]
    words: dict[str, int] = {}
    for _, tokens in texts:
        for t in tokens:
            if t not in words:
                words[t] = len(words)
    base = len(words) + 1
    refs: list[Reference] = []
    tok_parts: list[np.ndarray] = []
    bg_parts: list[np.ndarray] = []
    exact: dict[bytes, int] = {}
    phrases: dict[tuple[int, int], list[int]] = {}
    similarity: list[int] = []
    for i, (ref, tokens) in enumerate(texts):
        ids = np.array([words[t] for t in tokens], dtype=np.int32).astype(np.int64)
        refs.append(ref)
        tok_parts.append(ids)
        bg_parts.append(np.unique(ids[:-1] * base + ids[1:]))
        digest = ids_digest(ids)
        # Identical texts: prefer a license on the SPDX list over a LicenseRef.
        if digest not in exact or (not _listed(texts[exact[digest]][0], licenses) and _listed(ref, licenses)):
            exact[digest] = i
        if ref.length >= MIN_SIMILARITY_TOKENS:
            similarity.append(i)
        else:
            phrases.setdefault((int(ids[0]), int(ids[1])), []).append(i)
    tok_off = np.zeros(len(refs) + 1, dtype=np.int64)
    tok_off[1:] = np.cumsum([p.size for p in tok_parts])
    bg_off = np.zeros(len(refs) + 1, dtype=np.int64)
    bg_off[1:] = np.cumsum([p.size for p in bg_parts])
    # Inverted index over the references matched by similarity.
    keys = np.concatenate([bg_parts[i] for i in similarity])
    owners = np.concatenate([np.full(bg_parts[i].size, i, dtype=np.int32) for i in similarity])
    order = np.argsort(keys, kind="stable")
    keys, owners = keys[order], owners[order]
    uniq, starts, counts = np.unique(keys, return_index=True, return_counts=True)
    keep = counts <= MAX_POSTINGS
    inv_keys = uniq[keep]
    kept_starts, kept_counts = starts[keep], counts[keep]
    inv_off = np.zeros(inv_keys.size + 1, dtype=np.int64)
    inv_off[1:] = np.cumsum(kept_counts)
    take = np.concatenate([np.arange(s, s + c) for s, c in zip(kept_starts, kept_counts, strict=True)])
    inv_refs = owners[take] if take.size else np.empty(0, dtype=np.int32)
    return {
        "version": version,
        "licenses": licenses,
        "spdx_aliases": spdx_aliases,
        "refs": refs,
        "words": list(words),
        "tok_off": tok_off,
        "tokens": np.concatenate(tok_parts).astype(np.int32),
        "bg_off": bg_off,
        "bigrams": np.concatenate(bg_parts),
        "inv_keys": inv_keys,
        "inv_off": inv_off,
        "inv_refs": inv_refs.astype(np.int32),
        "exact": exact,
        "phrases": phrases,
        "inv_count": np.bincount(inv_refs, minlength=len(refs)).astype(np.int32),
        "listed": np.array([_listed(r, licenses) or " " in r.expression for r in refs], dtype=bool),
    }


_LANGUAGE_SUFFIX = re.compile(r"^(?P<base>.+)-(?:fr|en|de|es|it|pt|ja|zh|ru|nl|ko|pl)$")


def _merge_translations(licenses: dict[str, LicenseInfo]) -> None:
    """A translation ScanCode keeps apart ("cecill-2.1-fr") is the SPDX license of its base key."""
    for key, info in list(licenses.items()):
        match = _LANGUAGE_SUFFIX.match(key)
        base = licenses.get(match.group("base")) if match else None
        listed_base = base is not None and not base.spdx.startswith("LicenseRef-")
        if base is not None and listed_base and info.spdx.startswith("LicenseRef-"):
            licenses[key] = LicenseInfo(key, base.spdx, info.name, base.category, info.is_exception)


def _listed(ref: Reference, licenses: dict[str, LicenseInfo]) -> bool:
    info = licenses.get(ref.expression)
    return info is not None and not info.spdx.startswith("LicenseRef-")


def ids_digest(ids: np.ndarray) -> bytes:
    """The key of a normalised text (as token ids) in the exact-match table."""
    return hashlib.blake2b(ids.astype(np.int32).tobytes(), digest_size=16).digest()


@lru_cache(maxsize=1)
def load_index() -> LicenseIndex:
    """The compiled index, from the cache or compiled now (a few seconds) and cached."""
    root = data_dir()
    version = data_version()
    stamp = hashlib.sha256(f"{INDEX_FORMAT}\0{version}\0{root}".encode()).hexdigest()[:16]
    path = cache_dir() / f"license-index-{stamp}.pickle"
    try:
        with open(path, "rb") as fh:
            state = pickle.load(fh)
        if state.get("format") == INDEX_FORMAT:
            return LicenseIndex(state)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, KeyError, TypeError):
        pass
    state = _compile(root, version)
    state["format"] = INDEX_FORMAT
    try:
        with atomic_path(path) as tmp, open(tmp, "wb") as fh:
            pickle.dump(state, fh, protocol=pickle.HIGHEST_PROTOCOL)
    except OSError:
        pass  # a read-only home still works, only slower to start
    return LicenseIndex(state)
