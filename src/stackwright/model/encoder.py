"""A StarEncoder-style code encoder: a BERT encoder over the project's tokenizer.

StarEncoder is a 125M-parameter BERT (12 layers, width 768, 12 heads, context 1024) trained on code
with masked language modelling and next-sentence prediction, over StarCoder's tokenizer with four
tokens added: ``[PAD]``, ``[SEP]``, ``[CLS]`` and ``[MASK]``. The ``base`` preset is that shape; ``tiny``
trains in minutes on two CPU cores. The encoder's tokenizer is the project tokenizer (the one the code
model uses) with the same four tokens after its vocabulary, so a folder is a plain Hugging Face model
(``AutoModelForMaskedLM``, ``AutoTokenizer``) and the tokenizer wraps a text as ``[CLS] text [SEP]``.

Next-sentence prediction is left out: RoBERTa showed that dropping it matches or improves downstream
results, and the tasks an encoder serves here (token classification for PII, embeddings of one file)
read single segments; a pair objective would spend half of every sample on a binary label.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from stackwright.model.corpus import ModelDataError
from stackwright.model.tokenizer import TOKENIZER_FILE, CodeTokenizer
from stackwright.model.tokens import EOT

PAD, SEP, CLS, MASK = "[PAD]", "[SEP]", "[CLS]", "[MASK]"
ENCODER_TOKENS = (PAD, SEP, CLS, MASK)
ENCODER_INFO = "encoder.json"


@dataclass(frozen=True)
class EncoderPreset:
    name: str
    layers: int
    hidden: int
    heads: int
    intermediate: int
    context: int
    batch_size: int
    learning_rate: float
    warmup_steps: int
    max_steps: int
    description: str = ""

    def model_config(self, vocab_size: int, pad: int, *, dropout: float = 0.1) -> Any:
        """The ``BertConfig`` of this preset for a tokenizer of ``vocab_size`` ids."""
        from transformers import BertConfig

        return BertConfig(
            vocab_size=vocab_size, hidden_size=self.hidden, num_hidden_layers=self.layers,
            num_attention_heads=self.heads, intermediate_size=self.intermediate,
            max_position_embeddings=self.context, type_vocab_size=2, pad_token_id=pad,
            hidden_dropout_prob=dropout, attention_probs_dropout_prob=dropout, hidden_act="gelu")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


ENCODER_PRESETS: dict[str, EncoderPreset] = {p.name: p for p in (
    EncoderPreset("tiny", layers=4, hidden=256, heads=4, intermediate=1024, context=512, batch_size=16,
                  learning_rate=5e-4, warmup_steps=50, max_steps=1000,
                  description="about 5M parameters at an 8k vocabulary: minutes on two CPU cores"),
    EncoderPreset("base", layers=12, hidden=768, heads=12, intermediate=3072, context=1024, batch_size=256,
                  learning_rate=2e-4, warmup_steps=2_000, max_steps=100_000,
                  description="StarEncoder's shape: 12 layers, width 768, 12 heads, context 1024 (125M at "
                              "StarCoder's 49k vocabulary)"),
)}


def get_encoder_preset(name: str) -> EncoderPreset:
    try:
        return ENCODER_PRESETS[name]
    except KeyError:
        raise ModelDataError(f"unknown encoder preset {name!r}; use one of {', '.join(ENCODER_PRESETS)}"
                             ) from None


def encoder_tokenizer(source: Path, out: Path, context: int) -> Any:
    """Write into ``out`` the project tokenizer at ``source`` with the encoder's four tokens added (ids
    after the vocabulary) and the ``[CLS] $A [SEP]`` template; return the ``tokenizers.Tokenizer``."""
    from tokenizers import AddedToken
    from tokenizers.processors import TemplateProcessing
    from transformers import PreTrainedTokenizerFast

    base = CodeTokenizer(source)  # a clear error for a folder that is not a stackwright tokenizer
    tok = base.tokenizer
    tok.encode_special_tokens = False  # saved as Hugging Face reads it: "[MASK]" in a prompt is the token
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in ENCODER_TOKENS])
    ids = {t: tok.token_to_id(t) for t in ENCODER_TOKENS}
    tok.post_processor = TemplateProcessing(
        single=f"{CLS} $A {SEP}", pair=f"{CLS} $A {SEP} $B:1 {SEP}:1",
        special_tokens=[(CLS, ids[CLS]), (SEP, ids[SEP])])
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok, unk_token=EOT, pad_token=PAD, sep_token=SEP, cls_token=CLS, mask_token=MASK,
        model_max_length=context, clean_up_tokenization_spaces=False)
    Path(out).mkdir(parents=True, exist_ok=True)
    fast.save_pretrained(str(out))
    return tok


@dataclass(frozen=True)
class EncoderTokens:
    """The ids an encoder uses beside the text's own."""

    pad: int
    sep: int
    cls: int
    mask: int
    vocab_size: int
    # Ids a masked position may be replaced with at random: the text tokens, not the special ones.
    first_text_id: int

    @classmethod
    def of(cls, folder: Path) -> EncoderTokens:
        """The ids of the encoder tokenizer in ``folder`` (an encoder or NER model folder)."""
        tok = load_tokenizer(folder)
        ids = [tok.token_to_id(t) for t in ENCODER_TOKENS]
        if any(i is None for i in ids):
            raise ModelDataError(f"{folder}: not an encoder tokenizer (no {', '.join(ENCODER_TOKENS)})")
        from stackwright.model.tokens import SPECIAL_TOKENS

        return cls(*ids, vocab_size=tok.get_vocab_size(), first_text_id=len(SPECIAL_TOKENS))


def load_tokenizer(folder: Path) -> Any:
    """The ``tokenizers.Tokenizer`` of an encoder or NER folder; special-token strings in a file
    are text, as the code model reads them."""
    from tokenizers import Tokenizer

    path = Path(folder) / TOKENIZER_FILE
    if not path.is_file():
        raise ModelDataError(f"{folder} is not an encoder folder (no {TOKENIZER_FILE})")
    tok = Tokenizer.from_file(str(path))
    tok.encode_special_tokens = True
    return tok


def read_info(folder: Path) -> dict[str, Any]:
    path = Path(folder) / ENCODER_INFO
    if not path.is_file():
        raise ModelDataError(f"{folder} is not an encoder folder (no {ENCODER_INFO}; train one with "
                             "stackwright encoder train)")
    return json.loads(path.read_text(encoding="utf-8"))
