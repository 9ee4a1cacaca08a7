"""Loading a trained model and sampling from it: left to right, or filling in the middle.

The FIM prompt is laid out as the training data was (:func:`stackwright.model.fim.fim_ids`);
generation stops at end-of-text, which ends the middle of a FIM sample as it ends a document.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stackwright.model.corpus import ModelDataError
from stackwright.model.fim import fim_ids
from stackwright.model.runs import model_folder
from stackwright.model.tokenizer import CodeTokenizer, visible
from stackwright.model.tokens import EOT, SPECIAL_TOKENS


@dataclass
class LoadedModel:
    folder: Path
    model: Any
    tokenizer: CodeTokenizer
    _texts: list[str] | None = None

    @property
    def context(self) -> int:
        return int(self.model.config.n_positions)


def load_model(path: Path, *, device: str | None = None) -> LoadedModel:
    """The model of a run folder or model folder with its tokenizer, checked to belong together."""
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    import torch
    from transformers import AutoConfig, AutoModelForCausalLM

    folder = model_folder(path)
    try:
        config = AutoConfig.from_pretrained(folder)
    except (OSError, ValueError) as exc:
        raise ModelDataError(f"{folder}/config.json is not a model configuration ({type(exc).__name__})"
                             ) from None
    tokenizer = CodeTokenizer(folder)
    if config.vocab_size != tokenizer.vocab_size:
        raise ModelDataError(f"the tokenizer in {folder} has {tokenizer.vocab_size:,} tokens and the model "
                             f"{config.vocab_size:,}: they do not belong together")
    try:
        model = AutoModelForCausalLM.from_pretrained(folder)
    except Exception as exc:  # safetensors, torch and transformers raise their own
        raise ModelDataError(f"{folder}: the weights could not be loaded ({type(exc).__name__})") from None
    model.to(device or ("cuda" if torch.cuda.is_available() else "cpu")).eval()
    return LoadedModel(folder, model, tokenizer)


def budget(prefix: list[int], suffix: list[int], room: int) -> tuple[list[int], list[int]]:
    """Fit a FIM prompt's parts into ``room`` tokens as editor clients do: the end of the prefix and
    the start of the suffix are kept, the suffix given at most a quarter when both are long."""
    if len(prefix) + len(suffix) <= room:
        return prefix, suffix
    keep_suffix = min(len(suffix), max(room // 4, room - len(prefix)))
    keep_prefix = room - keep_suffix
    return (prefix[len(prefix) - keep_prefix:] if keep_prefix else []), suffix[:keep_suffix]


@dataclass(frozen=True)
class Completion:
    text: str
    tokens: int
    stopped: str  # eot | stop | length
    prompt_tokens: int


def complete(loaded: LoadedModel, prompt: str, suffix: str | None = None, *, max_new_tokens: int = 64,
             temperature: float = 0.0, top_p: float = 1.0, seed: int = 0, stop: tuple[str, ...] = (),
             repetition_penalty: float = 1.0, heal: bool = True, spm: bool = False) -> Completion:
    """Continue ``prompt``, or with ``suffix`` fill the middle between them; greedy at temperature 0.
    The text ends before the first of the ``stop`` strings (``"\n"`` for a single line).

    ``heal``: the prompt's last token is taken back and the first generated token must begin with
    its text (token healing). A prompt cut at a line end or between words otherwise ends on a token
    boundary the model rarely saw there (``"\n"`` alone where training had ``"\n    "``).
    ``spm``: the FIM prompt in SPM order (suffix first) instead of PSM."""
    import torch

    tok = loaded.tokenizer
    room = loaded.context - max_new_tokens
    if room < 4:
        raise ModelDataError(f"--max-new-tokens {max_new_tokens} leaves no room for a prompt in a context of "
                             f"{loaded.context}")
    if suffix is None:
        prefix_ids, suffix_ids = tok.encode([prompt])[0][-room:], []
    else:
        prefix_ids, suffix_ids = budget(*tok.encode([prompt, suffix]), room - 3)
    prefix_ids, healed = take_back(loaded, prefix_ids) if heal else (prefix_ids, "")
    ids = prefix_ids if suffix is None else fim_ids(prefix_ids, [], suffix_ids, spm=spm)
    eot = SPECIAL_TOKENS.index(EOT)
    torch.manual_seed(seed)
    device = next(loaded.model.parameters()).device
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {
        "do_sample": False}
    processors = None
    if healed:
        from transformers import LogitsProcessorList

        processors = LogitsProcessorList([_FirstTokenStartsWith(loaded, healed, len(ids))])
    with torch.no_grad():
        out = loaded.model.generate(torch.tensor([ids], device=device), max_new_tokens=max_new_tokens,
                                    eos_token_id=eot, pad_token_id=eot, repetition_penalty=repetition_penalty,
                                    logits_processor=processors,
                                    stopping_criteria=_stops(tok, stop, len(ids), [healed]), **sampling)
    return _finish(tok, out[0, len(ids):].tolist(), eot, healed, stop, len(ids))


def sample(loaded: LoadedModel, prompts: list[str], *, n: int = 1, max_new_tokens: int = 128,
           temperature: float = 0.2, top_p: float = 0.95, stop: tuple[str, ...] = (), seed: int = 0,
           batch_size: int = 16, heal: bool = True,
           on_batch: Callable[[int], None] | None = None) -> list[list[Completion]]:
    """``n`` continuations of every prompt, generated ``batch_size`` rows at a time (left-padded, the
    rows of one prompt side by side); greedy at temperature 0. Each text ends before the first of
    ``stop``. Token healing per row as in :func:`complete`. ``on_batch(rows)`` after each batch."""
    import torch

    tok = loaded.tokenizer
    room = loaded.context - max_new_tokens
    if room < 4:
        raise ModelDataError(f"--max-new-tokens {max_new_tokens} leaves no room for a prompt in a context of "
                             f"{loaded.context}")
    eot = SPECIAL_TOKENS.index(EOT)
    rows: list[tuple[list[int], str]] = []
    for ids in tok.encode(prompts) if prompts else []:
        ids, healed = take_back(loaded, ids[-room:]) if heal else (ids[-room:], "")
        rows.extend([(ids, healed)] * n)
    device = next(loaded.model.parameters()).device
    sampling = {"do_sample": True, "temperature": temperature, "top_p": top_p} if temperature > 0 else {
        "do_sample": False}
    done: list[Completion] = []
    for start in range(0, len(rows), max(1, batch_size)):
        batch = rows[start:start + max(1, batch_size)]
        width = max(len(ids) for ids, _ in batch)
        input_ids = torch.full((len(batch), width), eot, dtype=torch.long)
        mask = torch.zeros((len(batch), width), dtype=torch.long)
        for i, (ids, _) in enumerate(batch):
            input_ids[i, width - len(ids):] = torch.tensor(ids, dtype=torch.long)
            mask[i, width - len(ids):] = 1
        processors = None
        if any(h for _, h in batch):
            from transformers import LogitsProcessorList

            processors = LogitsProcessorList([_RowsStartWith(loaded, [h for _, h in batch], width)])
        torch.manual_seed(seed + start)
        with torch.no_grad():
            out = loaded.model.generate(input_ids.to(device), attention_mask=mask.to(device),
                                        max_new_tokens=max_new_tokens, eos_token_id=eot, pad_token_id=eot,
                                        logits_processor=processors,
                                        stopping_criteria=_stops(tok, stop, width, [h for _, h in batch]),
                                        **sampling)
        for (ids, healed), row in zip(batch, out[:, width:].tolist(), strict=True):
            done.append(_finish(tok, row, eot, healed, stop, len(ids)))
        if on_batch is not None:
            on_batch(len(batch))
    return [done[i * n:(i + 1) * n] for i in range(len(prompts))]


def _finish(tok: CodeTokenizer, new: list[int], eot: int, healed: str, stop: tuple[str, ...], prompt: int
            ) -> Completion:
    stopped = "length"
    if eot in new:
        new, stopped = new[:new.index(eot)], "eot"
    text = visible(tok.decode(new))
    if healed:
        text = text[len(healed):] if text.startswith(healed) else text
    cut = min((i for i in (text.find(s) for s in stop) if i >= 0), default=-1)
    if cut >= 0:
        text, stopped = text[:cut], "stop"
    return Completion(text, len(new), stopped, prompt)


def take_back(loaded: LoadedModel, ids: list[int]) -> tuple[list[int], str]:
    """Token healing's first half: the prompt without its last token and that token's text, which
    the generated text must begin with (nothing is taken from a one-token prompt or a special token)."""
    if len(ids) > 1 and ids[-1] >= len(SPECIAL_TOKENS):
        return ids[:-1], token_texts(loaded)[ids[-1]]
    return ids, ""


def token_texts(loaded: LoadedModel) -> list[str]:
    """The text of every token id alone (special tokens as placeholders), computed once."""
    if loaded._texts is None:
        decode = loaded.tokenizer.decode
        loaded._texts = [decode([i]) for i in range(loaded.tokenizer.vocab_size)]
    return loaded._texts


class _FirstTokenStartsWith:
    """Logits processor: at the first generated position only tokens whose text begins with
    ``text`` remain possible."""

    def __init__(self, loaded: LoadedModel, text: str, prompt_length: int) -> None:
        import torch

        allowed = [i for i, t in enumerate(token_texts(loaded)) if t.startswith(text)]
        self.mask = torch.full((loaded.model.config.vocab_size,), float("-inf"))
        self.mask[allowed] = 0.0
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if input_ids.shape[1] == self.prompt_length:
            return scores + self.mask.to(scores.device)
        return scores


class _RowsStartWith:
    """Logits processor for a batch: at the first generated position, row ``i`` may only take tokens
    whose text begins with ``texts[i]`` (no constraint where it is empty)."""

    def __init__(self, loaded: LoadedModel, texts: list[str], prompt_length: int) -> None:
        import torch

        vocab = loaded.model.config.vocab_size
        self.mask = torch.zeros((len(texts), vocab))
        masks: dict[str, Any] = {}
        for i, text in enumerate(texts):
            if text:
                if text not in masks:
                    masks[text] = _FirstTokenStartsWith(loaded, text, prompt_length).mask
                self.mask[i] = masks[text]
        self.prompt_length = prompt_length

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        if input_ids.shape[1] == self.prompt_length:
            return scores + self.mask.to(scores.device)
        return scores


def _stops(tok: CodeTokenizer, stop: tuple[str, ...], start: int, healed: list[str]) -> Any:
    """A stopping criterion for ``stop`` strings, or None. transformers' own ``stop_strings`` would
    match inside the healed token (a stop of ``"\n"`` in a regenerated ``"\n    "``): this one looks
    only at the text after the healed part, row by row."""
    if not stop:
        return None
    from transformers import StoppingCriteria, StoppingCriteriaList

    class _StopAfterHealing(StoppingCriteria):
        def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
            import torch

            done = []
            for row, heal in zip(input_ids[:, start:].tolist(), healed, strict=True):
                text = visible(tok.decode(row))
                if heal and text.startswith(heal):
                    text = text[len(heal):]
                done.append(any(s in text for s in stop))
            return torch.tensor(done, dtype=torch.bool, device=input_ids.device)

    return StoppingCriteriaList([_StopAfterHealing()])
