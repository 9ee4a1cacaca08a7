"""Trigger scanning: where any of a detector's trigger patterns occur, in one pass over the text.

The secret detectors first find cheap literal triggers (``ghp_``, ``AKIA``, a quote followed by 20
base64 characters, ``password``...) and only then run a rule's anchored expression at each trigger.
Finding the triggers is most of the work, so it runs on Hyperscan (Intel's multi-pattern regex engine,
the ``hyperscan`` package) when it is installed: all patterns in one compiled database, one SIMD pass
over the UTF-8 bytes. The compiled database is kept in the user's cache folder for the next process
(``pattern_cache``). Without it, the same patterns run as one Python ``re`` alternation.

Both engines return exactly what ``re.finditer`` over the alternation returns: leftmost matches, the
first alternative (then the longest) winning at a position, scanning on after each match. Hyperscan
reports every match, overlapping ones included, so the ``re`` semantics are rebuilt from its reports.
A trigger may require a context it does not consume (``ahead``: a lookahead in ``re``; in Hyperscan it
is matched and ``consume``, the fixed length of the trigger itself, says where scanning goes on).
A caseless scanner matches ASCII letters in either case (its patterns are written in lower case).
"""

from __future__ import annotations

import os
import re
from typing import Any, NamedTuple

__all__ = ["Trigger", "TriggerScanner", "hyperscan_available"]


class Trigger(NamedTuple):
    pattern: str  # regular expression, in the common subset of Python re and Hyperscan
    ahead: str = ""  # context that must follow, not consumed
    consume: int = 0  # with ``ahead``: the fixed length of what ``pattern`` matches


def hyperscan_available() -> bool:
    if os.environ.get("STACKWRIGHT_NO_HYPERSCAN"):
        return False
    try:
        import hyperscan  # noqa: F401
    except ImportError:
        return False
    return True


class TriggerScanner:
    """``scan(text)`` -> ``[(start, end, index)]``: the non-overlapping matches of the triggers, in order,
    with ``end`` the end of what the match consumed and ``index`` the trigger's position in the list."""

    def __init__(self, triggers: list[Trigger], *, caseless: bool = False, engine: str | None = None) -> None:
        if any(t.ahead and not t.consume for t in triggers):
            raise ValueError("a trigger with a context (ahead) needs its own fixed length (consume)")
        self.triggers = triggers
        self.caseless = caseless
        self.engine = engine or ("hyperscan" if hyperscan_available() else "re")
        # One plain alternation (named groups would cost re its literal prefix scan), and each trigger
        # on its own to tell which alternative matched.
        # Compiled on first use: with Hyperscan they are never needed.
        self._sources = [t.pattern + (f"(?={t.ahead})" if t.ahead else "") for t in triggers]
        self._re: re.Pattern[str] | None = None
        self._each: list[re.Pattern[str]] = []
        self._hs: Any = None
        self._scratch: Any = None

    def scan(self, text: str) -> list[tuple[int, int, int]]:
        if self.engine == "hyperscan":
            return self._scan_hyperscan(text)
        if self._re is None:
            self._re = re.compile("|".join(self._sources))
            self._each = [re.compile(source) for source in self._sources]
        haystack = _ascii_lower(text) if self.caseless else text
        out = []
        single = len(self._each) == 1
        for m in self._re.finditer(haystack):
            start = m.start()
            index = 0 if single else next(i for i, rx in enumerate(self._each) if rx.match(haystack, start))
            out.append((start, m.end(), index))
        return out

    def _database(self) -> tuple[Any, Any]:
        if self._hs is None:
            import hyperscan

            from stackwright.curate.pii.pattern_cache import cached_database

            flag = hyperscan.HS_FLAG_SOM_LEFTMOST | (hyperscan.HS_FLAG_CASELESS if self.caseless else 0)
            expressions = [(t.pattern + t.ahead).encode() for t in self.triggers]
            flags = [flag] * len(self.triggers)

            def compile_db() -> Any:
                db = hyperscan.Database()
                db.compile(expressions=expressions, ids=list(range(len(expressions))),
                           elements=len(expressions), flags=flags)
                return db

            db = cached_database(expressions, flags, compile_db)
            self._hs, self._scratch = db, hyperscan.Scratch(db)
        return self._hs, self._scratch

    def starts(self, text: str) -> list[int] | None:
        """Every position where some trigger's match starts, overlapping matches included (sorted,
        unique); None without Hyperscan, where this would cost a regex attempt at every position."""
        if self.engine != "hyperscan":
            return None
        data, hits = self._hits(text)
        if not hits:
            return []
        found = sorted({start for start, _i, _e in hits})
        if len(data) != len(text):
            to_char = _char_offsets(data, found)
            found = [to_char[s] for s in found]
        return found

    def _hits(self, text: str) -> tuple[bytes, list[tuple[int, int, int]]]:
        db, scratch = self._database()
        data = text.encode("utf-8", "surrogatepass")
        hits: list[tuple[int, int, int]] = []

        def on_match(index: int, start: int, end: int, flags: int, context: Any) -> None:
            hits.append((start, index, -end))

        db.scan(data, match_event_handler=on_match, scratch=scratch)
        return data, hits

    def _scan_hyperscan(self, text: str) -> list[tuple[int, int, int]]:
        data, hits = self._hits(text)
        if not hits:
            return []
        hits.sort()  # by start, then trigger order, then the longest match
        out = []
        cursor = 0
        for start, index, neg_end in hits:
            if start < cursor:
                continue
            consume = self.triggers[index].consume
            end = start + consume if consume else -neg_end
            cursor = max(end, start + 1)
            out.append((start, end, index))
        if len(data) != len(text):
            to_char = _char_offsets(data, [o for start, end, _ in out for o in (start, end)])
            out = [(to_char[start], to_char[end], index) for start, end, index in out]
        return out


_LOWER = {c: c + 32 for c in range(ord("A"), ord("Z") + 1)}


def _ascii_lower(text: str) -> str:
    return text.lower() if text.isascii() else text.translate(_LOWER)


_CONTINUATION = bytes(range(0x80, 0xC0))


def _char_offsets(data: bytes, offsets: list[int]) -> dict[int, int]:
    """The character offset of each byte offset of UTF-8 ``data`` (characters are the bytes that are not
    continuation bytes; counted segment by segment in C, between the sorted offsets)."""
    out: dict[int, int] = {}
    chars = previous = 0
    for offset in sorted(set(offsets)):
        segment = data[previous:offset]
        chars += len(segment.translate(None, _CONTINUATION))
        out[offset] = chars
        previous = offset
    return out
