"""Prompts as the engine takes them: token ids that fit the context, FIM laid out as in training.

Editors send prompts in three shapes: a prefix and a suffix (``suffix`` in the OpenAI API,
``input_prefix``/``input_suffix`` for llama.cpp, ``segments`` for Tabby), or one text in which the
client wrote the FIM layout itself with the model's token strings (llm-vscode sends
``<fim_prefix>…<fim_suffix>…<fim_middle>`` to TGI's ``/generate``). Both become the same ids through
:func:`stackwright.model.fim.fim_ids`, the builder the training samples came from, after budgeting
as editor clients do (the end of the prefix and the start of the suffix are kept). The layout sent to
the model is PSM (StarCoder's inference prompt) or, with ``spm``, SPM: our models learn both (half of
the FIM samples each), and a small one fills in far better from SPM, where the middle follows the
prefix as in left-to-right text; SPM also keeps the cache of a prompt whose prefix grows as the user
types (the suffix comes first and stays the same).

Special-token strings elsewhere in a text (``<filename>``, ``<|endoftext|>``) are the tokens, as a
Hugging Face tokenizer reads them; the placeholder characters that stand for special tokens inside
stackwright are removed from client text, so no client can smuggle one in another way.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from stackwright.model.fim import fim_ids, unpermute_text
from stackwright.model.generate import LoadedModel, budget, take_back
from stackwright.model.tokenizer import SPECIAL_BASE, special
from stackwright.model.tokens import SPECIAL_TOKENS

FIM_OVERHEAD = 3  # <fim_prefix>, <fim_suffix>, <fim_middle>
_PLACEHOLDERS = re.compile(f"[{chr(SPECIAL_BASE)}-{chr(SPECIAL_BASE + len(SPECIAL_TOKENS) - 1)}]")
_SPECIAL_STRINGS = re.compile("|".join(re.escape(t) for t in sorted(SPECIAL_TOKENS, key=len, reverse=True)))


class PromptError(ValueError):
    """A prompt that cannot be served (empty, or no room left in the context)."""


@dataclass(frozen=True)
class Prompt:
    ids: list[int]
    heal: str  # text of the prompt token taken back for token healing ("" for none)
    fim: bool
    truncated: bool  # part of the prefix or suffix did not fit and was left out
    max_new_tokens: int


def clean(text: str) -> str:
    """Client text without stackwright's special-token placeholder characters."""
    return _PLACEHOLDERS.sub("", text)


def _with_specials(text: str) -> str:
    """Special-token strings written as the placeholders that encode to the tokens."""
    return _SPECIAL_STRINGS.sub(lambda m: special(m.group()), text)


def split_fim(text: str) -> tuple[str, str] | None:
    """(prefix, suffix) of a text in the PSM inference layout, None for any other text."""
    parts = unpermute_text(text)
    if parts is None or parts[3] or parts[1]:
        return None
    return parts[0], parts[2]


def build_prompt(loaded: LoadedModel, prompt: str, suffix: str | None, max_new_tokens: int, *,
                 heal: bool = True, spm: bool = False) -> Prompt:
    """Token ids for continuing ``prompt`` (``suffix`` None) or filling between ``prompt`` and
    ``suffix``. ``max_new_tokens`` is lowered to what the context allows beside a short prompt."""
    context = loaded.context
    if max_new_tokens >= context - FIM_OVERHEAD - 1:
        max_new_tokens = max(1, context // 2)
    room = context - max_new_tokens
    prompt = clean(prompt)
    if suffix is None:
        parts = split_fim(prompt)
        if parts is not None:
            prompt, suffix = parts
    tok = loaded.tokenizer
    if suffix is not None:
        prefix_ids, suffix_ids = tok.encode([_with_specials(prompt), _with_specials(clean(suffix))])
        kept_prefix, kept_suffix = budget(prefix_ids, suffix_ids, room - FIM_OVERHEAD)
        truncated = len(kept_prefix) < len(prefix_ids) or len(kept_suffix) < len(suffix_ids)
        # The cursor usually sits where training text had no token boundary (after the "\n" of
        # "\n    "): the prefix's last token goes back into the middle, which must spell it first.
        kept_prefix, healed = take_back(loaded, kept_prefix) if heal else (kept_prefix, "")
        return Prompt(fim_ids(kept_prefix, [], kept_suffix, spm=spm), healed, True, truncated, max_new_tokens)
    ids = tok.encode([_with_specials(prompt)])[0]
    if not ids:
        raise PromptError("the prompt is empty")
    kept, healed = take_back(loaded, ids[-room:]) if heal else (ids[-room:], "")
    return Prompt(kept, healed, False, len(kept) + bool(healed) < len(ids), max_new_tokens)
