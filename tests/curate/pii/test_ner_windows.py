"""How the NER detector cuts a long text into windows and turns tag probabilities back into spans."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from stackwright.curate.pii.entities import EMAIL, IP_ADDRESS, NAME, PASSWORD, USERNAME
from stackwright.curate.pii.ner import TAGS, decode_scores, plan_windows


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


def _scores(tags: list[str], sure: float = 0.9) -> np.ndarray:
    """Tag probabilities with ``sure`` on each token's tag and the rest spread over the others."""
    scores = np.full((len(tags), len(TAGS)), (1 - sure) / (len(TAGS) - 1), dtype=np.float32)
    for k, tag in enumerate(tags):
        scores[k, TAGS.index(tag)] = sure
    return scores


def _pieces(pieces: list[str]) -> tuple[str, list[tuple[int, int]]]:
    offsets, at = [], 0
    for p in pieces:
        offsets.append((at, at + len(p)))
        at += len(p)
    return "".join(pieces), offsets


def _found(tags: list[str], pieces: list[str], labels: frozenset[str] | None = None) -> list[tuple[str, str]]:
    text, offsets = _pieces(pieces)
    return [(text[e.start:e.end], e.label) for e in decode_scores(_scores(tags), offsets, text, TAGS, labels)]


# tokens as a byte-level tokenizer cuts them: the leading space belongs to the word
PIECES = ["author", " =", ' "', " Ada", " Lovelace", '";', " pw", " =", ' "', "hunter", "2", '"', " "]


def test_tags_decode_to_value_spans_without_the_spaces_tokens_carry() -> None:
    tags = ["O", "O", "O", "B-NAME", "I-NAME", "O", "O", "O", "O", "B-PASSWORD", "I-PASSWORD", "O", "O"]
    assert _found(tags, PIECES) == [("Ada Lovelace", NAME), ("hunter2", PASSWORD)]
    # classes not asked for are left out
    assert _found(tags, PIECES, frozenset({PASSWORD})) == [("hunter2", PASSWORD)]


def test_a_word_takes_one_class_from_the_mean_of_its_pieces() -> None:
    # the pieces of one word tagged B- twice, or one piece left O, still give the whole word
    split = ["O", "O", "O", "B-NAME", "I-NAME", "O", "O", "O", "O", "B-PASSWORD", "B-PASSWORD", "O", "O"]
    assert _found(split, PIECES)[1] == ("hunter2", PASSWORD)
    one_o = ["O", "O", "O", "B-NAME", "I-NAME", "O", "O", "O", "O", "B-PASSWORD", "O", "O", "O"]
    text, offsets = _pieces(PIECES)
    scores = _scores(one_o)
    scores[10] = _scores(["O"], sure=0.4)[0]  # an unsure piece: the word's mean still says PASSWORD
    found = decode_scores(scores, offsets, text, TAGS)
    assert [(text[e.start:e.end], e.label) for e in found][1] == ("hunter2", PASSWORD)
    # a word whose pieces disagree takes the class most of its probability is on, never two classes
    mixed = ["O", "O", "O", "B-NAME", "I-NAME", "O", "O", "O", "O", "B-PASSWORD", "B-USERNAME", "O", "O"]
    assert [label for value, label in _found(mixed, PIECES) if value == "hunter2"] in ([PASSWORD], [USERNAME])


def test_words_join_across_at_colon_and_slash_and_names_across_a_space() -> None:
    email = ["x", " =", ' "', "mir", "oslav", "_h", "@", "kade", ".", "net", '"']
    tags = ["O", "O", "O", "B-EMAIL", "I-EMAIL", "I-EMAIL", "O", "I-EMAIL", "O", "I-EMAIL", "O"]
    assert _found(tags, email) == [("miroslav_h@kade.net", EMAIL)]
    address = ["ip", ":", " 2001", ":", "db", "8", "::", "1"]
    tags = ["O", "O", "B-IP_ADDRESS", "O", "I-IP_ADDRESS", "I-IP_ADDRESS", "O", "I-IP_ADDRESS"]
    assert _found(tags, address) == [("2001:db8::1", IP_ADDRESS)]
    # a login and a password in a URL stay apart; two names on two lines are two names
    url = ["redis", "://", "ada", ":", "s3", "Kr", "@", "10", ".", "0", ".", "0", ".", "7"]
    tags = ["O", "O", "B-USERNAME", "O", "B-PASSWORD", "I-PASSWORD", "O", "B-IP_ADDRESS",
            *["I-IP_ADDRESS"] * 6]
    assert _found(tags, url) == [("ada", USERNAME), ("s3Kr", PASSWORD), ("10.0.0.7", IP_ADDRESS)]
    names = ["Ada", " Lovelace", "\n", "Alan", " Turing"]
    assert _found(["B-NAME", "I-NAME", "O", "B-NAME", "I-NAME"], names) == [
        ("Ada Lovelace", NAME), ("Alan Turing", NAME)]
    # a name that starts again (B-) after a space is a second name
    assert _found(["B-NAME", "B-NAME"], ["Ada", " Alan"]) == [("Ada", NAME), ("Alan", NAME)]
