"""How the NER detector cuts a long text into windows and turns BIO tags back into character spans."""

from __future__ import annotations

import itertools

import pytest

from stackwright.curate.pii.entities import NAME, PASSWORD
from stackwright.curate.pii.ner import TAGS, decode_tags, plan_windows


@pytest.mark.parametrize("length", [1, 100, 510, 511, 700, 1019, 1020, 5000])
def test_windows_cover_the_text_and_their_owned_ranges_tile_it(length: int) -> None:
    windows = plan_windows(0, length, 510, 128)
    assert windows[0].start == 0 and windows[-1].stop == length
    assert all(w.stop - w.start <= 510 for w in windows)
    owned = [i for w in windows for i in range(w.own_start, w.own_stop)]
    assert owned == list(range(length))  # every token tagged once, by one window
    for w in windows:
        assert w.start <= w.own_start < w.own_stop <= w.stop
    for a, b in itertools.pairwise(windows):
        assert a.stop - b.start >= 128  # neighbours overlap by at least the overlap
        # a token is tagged where it has context on both sides (away from its window's edges)
        assert a.own_stop - b.start >= 64 or b.start == 0


def test_bio_tags_decode_to_value_spans_without_the_spaces_tokens_carry() -> None:
    text = 'author = " Ada Lovelace"; pw = "hunter2" '
    # tokens as a byte-level tokenizer cuts them: the leading space belongs to the word
    pieces = ["author", " =", ' "', " Ada", " Lovelace", '";', " pw", " =", ' "', "hunter", "2", '"', " "]
    offsets, at = [], 0
    for p in pieces:
        offsets.append((at, at + len(p)))
        at += len(p)
    assert at == len(text)
    tags = ["O", "O", "O", "B-NAME", "I-NAME", "O", "O", "O", "O", "B-PASSWORD", "I-PASSWORD", "O", "O"]
    assert set(tags) <= set(TAGS)
    found = decode_tags(tags, offsets, text)
    assert [(text[e.start:e.end], e.label) for e in found] == [("Ada Lovelace", NAME), ("hunter2", PASSWORD)]
    # a B- token touching the entity before it continues it (one word in pieces), as does a name's next
    # word after a space
    split = ["O", "O", "O", "B-NAME", "B-NAME", "O", "O", "O", "O", "B-PASSWORD", "B-PASSWORD", "O", "O"]
    assert [(text[e.start:e.end], e.label) for e in decode_tags(split, offsets, text)] == [
        ("Ada Lovelace", NAME), ("hunter2", PASSWORD)]
    # an I- tag with no B- before it, or after another class, starts an entity of its own
    loose = ["O", "O", "O", "I-NAME", "I-PASSWORD", *["O"] * 8]
    assert [(text[e.start:e.end], e.label) for e in decode_tags(loose, offsets, text)] == [
        ("Ada", NAME), ("Lovelace", PASSWORD)]
    # classes not asked for are left out
    assert [e.label for e in decode_tags(tags, offsets, text, frozenset({PASSWORD}))] == [PASSWORD]
