"""The fast license text matcher: exact hash, then bigram similarity against ScanCode's references.

For one text:
1. normalise (SPDX matching guidelines) and look the whole text up by hash;
2. otherwise find the reference with the most word bigrams in common (candidates come from an
   inverted index of rare bigrams), locate the region of the text it explains (the densest window),
   and accept it when the reference is almost fully contained (``min_containment``) and the region
   is close to it (Dice coefficient of bigram sets, ``min_dice``); repeat on what is left, so a file
   holding several licenses gets them all;
3. find short notices and references ("Licensed under the MIT license") as exact phrases;
4. judge what no reference explains: text with license-like terms (shall, must, commercial, ...)
   inserted in or around a matched license means a modified or custom license, so the verdict is
   NOASSERTION, never the license it resembles.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from stackwright.curate.licenses.database import NOTICE, TEXT, LicenseIndex, load_index, text_digest
from stackwright.curate.licenses.model import (
    BINARY,
    EMPTY,
    NO_MATCH,
    NOASSERTION,
    TOO_LARGE,
    UNDECODABLE,
    UNMATCHED_TEXT,
    LicenseMatch,
    TextDetection,
)
from stackwright.curate.licenses.normalize import tokenize

# Words that make unexplained text a license term rather than a title, a pointer or a credit.
TERM_WORDS = frozenset({
    "shall", "must", "not", "prohibited", "prohibit", "restrict", "restricted", "restriction",
    "restrictions", "commercial", "noncommercial", "evil", "military", "terminate", "termination",
    "fee", "fees", "royalty", "royalties", "forbidden", "pay", "payment", "require", "required",
    "requires", "only", "except", "unless", "provided", "condition", "conditions", "revoke",
    "permission", "permitted", "allowed", "grant", "granted", "liable", "warranty", "may",
})


@dataclass(frozen=True)
class MatcherSettings:
    max_chars: int = 400_000  # longer texts are not license files (the longest licenses are ~100 KB)
    min_containment: float = 0.80  # share of a reference's bigrams found in the text
    min_dice: float = 0.80  # similarity of the located region and the reference
    min_phrase_relevance: int = 90  # ScanCode relevance of short references matched as phrases
    max_unexplained_run: int = 60  # tokens of unexplained text tolerated in one run
    max_candidates: int = 40
    max_rounds: int = 12
    cache_size: int = 20_000


@dataclass
class _Found:
    ref: int
    start: int  # token range [start, end)
    end: int
    score: float


class TextMatcher:
    """Detects the licenses in one text. Reusable and cheap after the index is loaded."""

    def __init__(self, index: LicenseIndex | None = None, settings: MatcherSettings | None = None) -> None:
        self.index = index or load_index()
        self.settings = settings or MatcherSettings()
        self._cache: OrderedDict[bytes, TextDetection] = OrderedDict()

    # -- entry points ----------------------------------------------------------------------------
    def detect_bytes(self, data: bytes) -> TextDetection:
        if not data.strip():
            return TextDetection(NOASSERTION, reason=EMPTY)
        if len(data) > self.settings.max_chars * 4:
            return TextDetection(NOASSERTION, reason=TOO_LARGE)
        if b"\x00" in data[:8192]:
            return TextDetection(NOASSERTION, reason=BINARY)
        text = decode_license_bytes(data)
        if text is None:
            return TextDetection(NOASSERTION, reason=UNDECODABLE)
        return self.detect(text)

    def detect(self, text: str) -> TextDetection:
        if not text.strip():
            return TextDetection(NOASSERTION, reason=EMPTY)
        if len(text) > self.settings.max_chars:
            return TextDetection(NOASSERTION, reason=TOO_LARGE)
        if "\x00" in text[:8192]:
            return TextDetection(NOASSERTION, reason=BINARY)
        tokens, lines = tokenize(text)
        if not tokens:
            return TextDetection(NOASSERTION, reason=NO_MATCH)
        digest = text_digest(tokens)
        cached = self._cache.get(digest)
        if cached is None:
            cached = self._detect_tokens(tokens, lines, digest)
            self._cache[digest] = cached
            if len(self._cache) > self.settings.cache_size:
                self._cache.popitem(last=False)
        else:
            self._cache.move_to_end(digest)
        return cached

    # -- matching --------------------------------------------------------------------------------
    def _detect_tokens(self, tokens: list[str], lines: list[int], digest: bytes) -> TextDetection:
        index = self.index
        exact = index.exact.get(digest)
        if exact is not None:
            ref = index.refs[exact]
            match = self._match(_Found(exact, 0, len(tokens), 1.0), lines)
            if ref.kind in (TEXT, NOTICE) or ref.relevance >= self.settings.min_phrase_relevance:
                return TextDetection(match.spdx, (match,), extra={"exact": True})
        ids = index.token_ids(tokens)
        bigrams = index.bigram_ids(ids)
        matched = np.zeros(len(tokens), dtype=bool)
        found: list[_Found] = []
        inserted = False
        for _ in range(self.settings.max_rounds):
            hit = self._best_similar(bigrams, matched)
            if hit is None:
                break
            found.append(hit)
            matched[hit.start:hit.end] = True
            inserted |= self._has_terms(tokens, hit, ids, bigrams)
        found.extend(self._phrases(ids, matched))
        if not found:
            return TextDetection(NOASSERTION, reason=NO_MATCH)
        found.sort(key=lambda f: f.start)
        matches = tuple(self._match(f, lines) for f in found)
        if inserted or self._unexplained_terms(tokens, matched):
            return TextDetection(NOASSERTION, matches, reason=UNMATCHED_TEXT)
        return TextDetection(_combine([m.spdx for m in matches]), matches)

    def _best_similar(self, bigrams: np.ndarray, matched: np.ndarray) -> _Found | None:
        index = self.index
        s = self.settings
        if bigrams.size == 0:
            return None
        active = ~(matched[:-1] | matched[1:])
        if not active.any():
            return None
        query = np.unique(bigrams[active])
        # Candidates: references sharing the most indexed (rare enough) bigrams.
        pos = np.searchsorted(index.inv_keys, query)
        pos[pos >= index.inv_keys.size] = 0
        present = index.inv_keys[pos] == query
        starts = index.inv_off[pos[present]]
        ends = index.inv_off[pos[present] + 1]
        if starts.size == 0:
            return None
        postings = np.concatenate([index.inv_refs[a:b] for a, b in zip(starts, ends, strict=True)])
        if postings.size == 0:
            return None
        hits = np.bincount(postings, minlength=len(index.refs))
        estimate = hits / np.maximum(index.inv_count, 1)
        eligible = np.nonzero(estimate >= s.min_containment * 0.75)[0]
        if eligible.size == 0:
            return None
        if eligible.size > s.max_candidates:
            eligible = eligible[np.argsort(-hits[eligible], kind="stable")[: s.max_candidates]]
        # The reference explaining the most text wins; then the closest; then one on the SPDX list.
        best: tuple[int, float, bool, int] | None = None
        for ref in eligible.tolist():
            rb = index.ref_bigrams(ref)
            shared = int(np.intersect1d(rb, query, assume_unique=True).size)
            containment = shared / rb.size
            if containment < s.min_containment:
                continue
            key = (shared, containment, bool(index.listed[ref]), -ref)
            if best is None or key > best:
                best = key
        if best is None:
            return None
        ref = -best[3]
        rb = index.ref_bigrams(ref)
        inside = np.nonzero(active & np.isin(bigrams, rb))[0]
        if inside.size == 0:
            return None
        start, end = _locate(inside, rb.size)
        region = bigrams[start:end][active[start:end]]
        region_set = np.unique(region)
        shared = int(np.intersect1d(rb, region_set, assume_unique=True).size)
        dice = 2.0 * shared / (rb.size + region_set.size)
        if dice < s.min_dice:
            return None
        return _Found(ref, int(start), int(end) + 1, dice)

    def _has_terms(self, tokens: list[str], hit: _Found, ids: np.ndarray, bigrams: np.ndarray) -> bool:
        """Whether words the reference does not have were inserted inside the matched region."""
        rb = self.index.ref_bigrams(hit.ref)
        span = bigrams[hit.start:hit.end - 1]
        known = np.isin(span, rb)
        explained = np.zeros(hit.end - hit.start, dtype=bool)
        explained[:-1] |= known
        explained[1:] |= known
        return _runs_have_terms(tokens, hit.start, explained, min_run=2, max_run=10**9)

    def _unexplained_terms(self, tokens: list[str], matched: np.ndarray) -> bool:
        return _runs_have_terms(tokens, 0, matched, min_run=3, max_run=self.settings.max_unexplained_run)

    def _phrases(self, ids: np.ndarray, matched: np.ndarray) -> list[_Found]:
        index = self.index
        s = self.settings
        out: list[_Found] = []
        n = ids.size
        seq = ids.tolist()
        i = 0
        while i < n - 1:
            if matched[i]:
                i += 1
                continue
            candidates = index.phrases.get((seq[i], seq[i + 1]))
            best: int | None = None
            if candidates:
                for ref in candidates:
                    r = index.refs[ref]
                    if r.relevance < s.min_phrase_relevance or i + r.length > n:
                        continue
                    if best is not None and r.length <= index.refs[best].length:
                        continue
                    if matched[i:i + r.length].any():
                        continue
                    if seq[i:i + r.length] == index.ref_tokens(ref).tolist():
                        best = ref
            if best is None:
                i += 1
                continue
            length = index.refs[best].length
            out.append(_Found(best, i, i + length, 1.0))
            matched[i:i + length] = True
            i += length
        return out

    def _match(self, found: _Found, lines: list[int]) -> LicenseMatch:
        ref = self.index.refs[found.ref]
        return LicenseMatch(
            spdx=self.index.to_spdx(ref.expression),
            key=ref.expression,
            rule=ref.name,
            score=found.score,
            start_line=lines[found.start],
            end_line=lines[max(found.start, found.end - 1)],
        )


def _locate(positions: np.ndarray, ref_bigrams: int, gap: int = 8) -> tuple[int, int]:
    """The span of text a reference explains: the first and last of its bigram positions.

    Positions are split into clusters wherever ``gap`` tokens pass without one; the densest cluster
    is grown with neighbouring clusters while they are dense and the span stays near the
    reference's size, so a license next to another one does not swallow its common phrases.
    """
    breaks = np.nonzero(np.diff(positions) > gap)[0]
    starts = np.concatenate([[0], breaks + 1])
    ends = np.concatenate([breaks + 1, [positions.size]])
    sizes = ends - starts
    best = int(np.argmax(sizes))
    lo, hi = best, best
    limit = int(ref_bigrams * 1.3) + 10
    count = int(sizes[best])
    while True:
        grown = False
        for side in (-1, 1):
            j = lo - 1 if side < 0 else hi + 1
            if j < 0 or j >= sizes.size:
                continue
            a = positions[starts[min(lo, j)]]
            b = positions[ends[max(hi, j)] - 1]
            span = b - a + 1
            if span > limit or count + sizes[j] < 0.5 * span:
                continue
            count += int(sizes[j])
            lo, hi = min(lo, j), max(hi, j)
            grown = True
        if not grown:
            break
    return int(positions[starts[lo]]), int(positions[ends[hi] - 1])


def _runs_have_terms(tokens: list[str], offset: int, explained: np.ndarray, min_run: int,
                     max_run: int) -> bool:
    """Whether an unexplained run of tokens is long, or holds license terms."""
    n = explained.size
    i = 0
    while i < n:
        if explained[i]:
            i += 1
            continue
        j = i
        while j < n and not explained[j]:
            j += 1
        run = tokens[offset + i:offset + j]
        if len(run) > max_run:
            return True
        if len(run) >= min_run and TERM_WORDS.intersection(run):
            return True
        i = j
    return False


def _combine(expressions: list[str]) -> str:
    """Several licenses found in one text all apply: AND of the distinct ones, in order."""
    seen: list[str] = []
    for e in expressions:
        if e not in seen:
            seen.append(e)
    if len(seen) == 1:
        return seen[0]
    return " AND ".join(f"({e})" if " OR " in e else e for e in seen)


_BOM = re.compile("^\ufeff")


def decode_license_bytes(data: bytes) -> str | None:
    """UTF-8 (or UTF-16 with a BOM), else the charset detector's best guess; None when undecodable."""
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            return None
    try:
        return _BOM.sub("", data.decode("utf-8"))
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None or best.encoding is None:
        return None
    try:
        return data.decode(best.encoding)
    except (UnicodeDecodeError, LookupError):
        return None
