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

import hashlib
import re
from collections import OrderedDict
from dataclasses import dataclass

import numpy as np

from stackwright.curate.licenses.database import NOTICE, TEXT, LicenseIndex, ids_digest, load_index
from stackwright.curate.licenses.families import Named, absorb_references, drop_incorporated
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
    join_spdx,
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


# Words that restrict: text inserted inside a matched license that holds one changes its terms.
RESTRICTIVE_WORDS = frozenset({
    "not", "no", "prohibited", "prohibit", "restrict", "restricted", "restriction", "restrictions",
    "commercial", "noncommercial", "evil", "military", "terminate", "termination", "fee", "fees",
    "royalty", "royalties", "pay", "payment", "only", "except", "unless", "revoke", "forbidden", "must",
    "shall", "require", "required", "requires",
})

NEGATIONS = frozenset({"not", "no", "never", "neither"})

# Words of a grant or a condition: a reference that loses a run of text holding one of these in the
# matched region was cut down, and the verdict is NOASSERTION.
LOST_WORDS = frozenset({
    "use", "copy", "modify", "merge", "publish", "distribute", "sublicense", "sell", "redistribute",
    "redistribution", "redistributions", "permission", "permitted", "granted", "grant", "patent",
    "royalty", "irrevocable", "perpetual", "worldwide", "commercial",
})


# Scoping idioms around a license ("unless otherwise noted, ...", "except where otherwise stated")
# and lead-ins ("is provided under the terms below") that hold a term word but set no term.
_NEUTRAL_IDIOMS = re.compile(
    r"\b(?:(?:unless|except)(?: (?:where|as|when|if))? otherwise"
    r" (?:noted|stated|specified|indicated|mentioned|marked|declared|licensed)|(?:is|are) provided under)\b"
)


@dataclass(frozen=True)
class MatcherSettings:
    max_chars: int = 400_000  # longer texts are not license files (the longest licenses are ~100 KB)
    min_containment: float = 0.80  # share of a reference's bigrams found in the text
    min_dice: float = 0.80  # similarity of the located region and the reference
    min_phrase_relevance: int = 90  # ScanCode relevance of short references matched as phrases
    max_unexplained_run: int = 60  # tokens of unexplained text tolerated in one run
    max_candidates: int = 20
    max_region_tries: int = 5
    sure_dice: float = 0.985
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
        # Each license's own full text ("gpl-3.0.LICENSE"), by key: text next to a match that is
        # part of the matched license's own text is explained by it (see ``_extend``).
        self._full_text = {r.name[: -len(".LICENSE")]: i for i, r in enumerate(self.index.refs)
                           if r.name.endswith(".LICENSE")}

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
        # License files repeat byte for byte across repositories and forks: cache by the raw text
        # (not the normalised one, so that reported line numbers stay right).
        key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            return cached
        tokens, lines = tokenize(text)
        if not tokens:
            found = TextDetection(NOASSERTION, reason=NO_MATCH)
        else:
            found = self._detect_tokens(tokens, lines)
        self._cache[key] = found
        if len(self._cache) > self.settings.cache_size:
            self._cache.popitem(last=False)
        return found

    # -- matching --------------------------------------------------------------------------------
    def _detect_tokens(self, tokens: list[str], lines: list[int]) -> TextDetection:
        index = self.index
        ids = index.token_ids(tokens)
        # A text with a word no reference has cannot be one of them exactly.
        exact = None if (ids == index.unknown_token).any() else index.exact.get(ids_digest(ids))
        if exact is not None:
            ref = index.refs[exact]
            match = self._match(_Found(exact, 0, len(tokens), 1.0), lines)
            if ref.kind in (TEXT, NOTICE) or ref.relevance >= self.settings.min_phrase_relevance:
                return TextDetection(match.spdx, (match,), extra={"exact": True})
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
            inserted |= self._has_terms(tokens, hit, ids, bigrams) or self._lost_terms(hit, bigrams)
        for hit in found:
            self._extend(hit, tokens, bigrams, matched)
        found.extend(self._phrases(ids, matched))
        if not found:
            return TextDetection(NOASSERTION, reason=NO_MATCH)
        found.sort(key=lambda f: f.start)
        matches = tuple(self._match(f, lines) for f in found)
        if inserted or self._unexplained_terms(tokens, matched):
            return TextDetection(NOASSERTION, matches, reason=UNMATCHED_TEXT)
        # Several licenses found in one text all apply, less the references a full text of the same
        # family explains (a title or notice above the license it names).
        named = [Named(m.spdx, self.index.refs[f.ref].kind == TEXT, self._has_version(f.ref))
                 for f, m in zip(found, matches, strict=True)]
        kept = drop_incorporated([spdx for spdx in absorb_references(named) if spdx is not None])
        return TextDetection(join_spdx(kept, "AND"), matches)

    def _has_version(self, ref: int) -> bool:
        words = self.index.words
        return any(words[i][:1].isdigit() for i in self.index.ref_tokens(ref).tolist() if i < len(words))

    def _extend(self, hit: _Found, tokens: list[str], bigrams: np.ndarray, matched: np.ndarray) -> None:
        """Mark as explained the text on either side of ``hit`` that is part of its license's own full
        text (the GPL's last paragraph, which names the Lesser GPL, after a GPL text matched without
        it): runs of at least three bigrams of that text, across gaps of at most two bigrams that
        add no restrictive word. The matched region itself is unchanged."""
        index = self.index
        keys = [k for k in re.findall(r"[\w.+\-]+", index.refs[hit.ref].expression)
                if k.lower() not in ("and", "or", "with") and k in self._full_text]
        if not keys or bigrams.size == 0:
            return
        present = np.zeros(bigrams.size, dtype=bool)
        for key in keys:
            present |= _member(bigrams, index.ref_bigrams(self._full_text[key]))
        restrictive = np.fromiter((t in RESTRICTIVE_WORDS for t in tokens), dtype=bool, count=len(tokens))
        _grow(hit.end - 1, present, matched, restrictive)
        # Backwards: the same walk on reversed views (token i is token n-1-i, bigram b is n-2-b).
        _grow(matched.size - 1 - hit.start, present[::-1], matched[::-1], restrictive[::-1])

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
        lengths = index.inv_off[pos[present] + 1] - starts
        total = int(lengths.sum())
        if total == 0:
            return None
        # All posting lists at once: each list's start repeated over its length, plus 0, 1, 2, ...
        offsets = np.cumsum(lengths) - lengths
        postings = index.inv_refs[np.repeat(starts - offsets, lengths) + np.arange(total)]
        hits = np.bincount(postings, minlength=len(index.refs))
        estimate = hits / np.maximum(index.inv_count, 1)
        eligible = np.nonzero(estimate >= s.min_containment * 0.75)[0]
        if eligible.size == 0:
            return None
        if eligible.size > s.max_candidates:
            proxy = 2 * hits[eligible] - index.inv_count[eligible]  # shared less missing, as below
            eligible = eligible[np.argsort(-proxy, kind="stable")[: s.max_candidates]]
        # The reference explaining the most text wins; then the closest; then one on the SPDX list.
        ranked: list[tuple[int, float, bool, int]] = []
        for ref in eligible.tolist():
            rb = index.ref_bigrams(ref)
            shared = int(np.count_nonzero(_member(rb, query)))
            containment = shared / rb.size
            if containment >= s.min_containment:
                # Shared bigrams less the reference's missing ones: a longer variant of the license
                # ranks first only if its extra text is there.
                ranked.append((2 * shared - rb.size, containment, bool(index.listed[ref]), -ref))
        ranked.sort(reverse=True)
        # Each of the leading candidates is located in the text; the one whose region it explains
        # best wins: bigrams in common, less those only in the region and those only in the
        # reference (so a longer reference wins only if the extra text is really there).
        best: tuple[int, float, int, int, int] | None = None
        for *_, neg_ref in ranked[: s.max_region_tries]:
            ref = -neg_ref
            rb = index.ref_bigrams(ref)
            inside = np.nonzero(active & _member(bigrams, rb))[0]
            if inside.size == 0:
                continue
            start, end = _trim(inside, *_locate(inside, rb.size))
            region_set = np.unique(bigrams[start:end][active[start:end]])
            shared = int(np.count_nonzero(_member(rb, region_set)))
            dice = 2.0 * shared / (rb.size + region_set.size)
            if dice < s.min_dice:
                continue
            score = 3 * shared - rb.size - region_set.size
            if best is None or (score, dice) > (best[0], best[1]):
                best = (score, dice, ref, int(start), int(end))
            if dice >= s.sure_dice and best[2] == ref:
                break  # the leading candidate fits its region almost exactly: no other can do better
        if best is None:
            return None
        _, dice, ref, start, end = best
        return _Found(ref, start, end + 1, dice)

    def _has_terms(self, tokens: list[str], hit: _Found, ids: np.ndarray, bigrams: np.ndarray) -> bool:
        """Whether words the reference does not have were inserted inside the matched region."""
        rb = self.index.ref_bigrams(hit.ref)
        span = bigrams[hit.start:hit.end - 1]
        known = _member(span, rb)
        explained = np.zeros(hit.end - hit.start, dtype=bool)
        explained[:-1] |= known
        explained[1:] |= known
        # One inserted negation is enough to turn a grant or condition around ("shall not be included").
        return (_runs_have_terms(tokens, hit.start, explained, min_run=2, max_run=10**9,
                                 terms=RESTRICTIVE_WORDS)
                or _runs_have_terms(tokens, hit.start, explained, min_run=1, max_run=10**9, terms=NEGATIONS))

    def _lost_terms(self, hit: _Found, bigrams: np.ndarray) -> bool:
        """Whether words of the reference's terms are missing from the matched region (a grant cut
        down, a condition removed). Text just outside the region counts as present: where two
        licenses that share a header follow each other (GPL-3.0, then LGPL-3.0), the first one's region
        may take in the second one's header."""
        index = self.index
        ref_ids = index.ref_tokens(hit.ref).astype(np.int64)
        ref_bigrams = index.bigram_ids(ref_ids)
        margin = self.settings.max_unexplained_run
        near = bigrams[max(0, hit.start - margin):hit.end - 1 + margin]
        present = _member(ref_bigrams, np.unique(near))
        explained = np.zeros(ref_ids.size, dtype=bool)
        explained[:-1] |= present
        explained[1:] |= present
        if explained.all():
            return False
        words = index.words
        tokens = [words[i] if i < len(words) else "" for i in ref_ids.tolist()]
        return _runs_have_terms(tokens, 0, explained, min_run=4, max_run=10**9, terms=LOST_WORDS)

    def _unexplained_terms(self, tokens: list[str], matched: np.ndarray) -> bool:
        explained = matched.copy()
        if not explained.all():
            _mark_idioms(tokens, explained)
        return _runs_have_terms(tokens, 0, explained, min_run=3, max_run=self.settings.max_unexplained_run)

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


def _member(values: np.ndarray, sorted_unique: np.ndarray) -> np.ndarray:
    """``np.isin`` for a sorted array without duplicates (binary search, no sorting)."""
    if sorted_unique.size == 0:
        return np.zeros(values.size, dtype=bool)
    idx = np.searchsorted(sorted_unique, values)
    idx[idx >= sorted_unique.size] = 0
    return sorted_unique[idx] == values


def _trim(positions: np.ndarray, start: int, end: int, solid: int = 3) -> tuple[int, int]:
    """Shrink a region to begin and end with ``solid`` consecutive matching bigrams, so common
    phrases at the edge of the next text are not taken in."""
    inside = positions[(positions >= start) & (positions <= end)]
    if inside.size < solid:
        return start, end
    runs = inside[solid - 1:] - inside[: inside.size - solid + 1] == solid - 1
    firsts = np.nonzero(runs)[0]
    if firsts.size == 0:
        return start, end
    return int(inside[firsts[0]]), int(inside[firsts[-1] + solid - 1])


def _runs_have_terms(tokens: list[str], offset: int, explained: np.ndarray, min_run: int,
                     max_run: int, terms: frozenset[str] = TERM_WORDS) -> bool:
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
        if len(run) >= min_run and terms.intersection(run):
            return True
        i = j
    return False


def _grow(frontier: int, present: np.ndarray, matched: np.ndarray, restrictive: np.ndarray) -> None:
    """From the last explained token ``frontier``, mark the tokens that follow as explained while they
    form runs of at least three ``present`` bigrams, each starting within two bigrams of the last one;
    a skipped token that is restrictive, or one already matched, ends the walk."""
    f = frontier
    while True:
        start = next((b for b in range(f, f + 3) if b + 3 <= present.size and present[b:b + 3].all()), None)
        if start is None or restrictive[f + 1:start].any():
            return
        end = start
        while end < present.size and present[end]:
            end += 1
        segment = matched[f + 1:end + 1]  # tokens f+1 .. end (the last present bigram's second token)
        if segment.any():
            matched[f + 1:f + 1 + int(np.argmax(segment))] = True
            return
        matched[f + 1:end + 1] = True
        f = end


def _mark_idioms(tokens: list[str], explained: np.ndarray) -> None:
    """Mark the words of neutral scoping idioms (:data:`_NEUTRAL_IDIOMS`) as explained."""
    text = " ".join(tokens)
    if "otherwise" not in text and "provided under" not in text:
        return
    starts = np.cumsum([0] + [len(t) + 1 for t in tokens[:-1]])
    for found in _NEUTRAL_IDIOMS.finditer(text):
        first = int(np.searchsorted(starts, found.start(), side="right")) - 1
        last = int(np.searchsorted(starts, found.end() - 1, side="right")) - 1
        explained[first:last + 1] = True


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
