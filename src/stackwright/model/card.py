"""The model card a training run writes beside its model (``README.md``, as the Hub shows it).

In the spirit of BigCode's OpenRAIL-M cards: what the model is for and not for, the use restrictions
that travel with it, and facts from the run rather than prose: the release it was trained on (its
version, licenses and the opt-outs it honoured), the tokens seen, the hardware, and the final losses
against the unigram entropy of the validation tokens.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackwright.files import write_atomic

CARD = "README.md"
EVALUATION_START = "<!-- stackwright:evaluation -->"
EVALUATION_END = "<!-- /stackwright:evaluation -->"


def release_facts(release: dict[str, Any]) -> dict[str, Any]:
    """What the card says about the training release: version, files, licenses, opt-outs; from the
    release's manifest where it is still on disk."""
    facts = {"version": release.get("version"), "path": release.get("path"), "rows": release.get("rows"),
             "content_bytes": release.get("content_bytes"), "manifest_sha256": release.get("manifest_sha256")}
    try:
        manifest = json.loads((Path(str(release.get("path"))) / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return facts
    licenses = manifest.get("counts", {}).get("license", {})
    optouts = manifest.get("optouts") or {}
    build = optouts.get("build") or {}
    facts.update({
        "repositories": manifest.get("repositories"),
        "licenses": dict(sorted(((k, int(v.get("files", 0))) for k, v in licenses.items()),
                                key=lambda kv: -kv[1])),
        "optouts": {"entries": int(optouts.get("entries") or 0) + int(build.get("entries") or 0),
                    "removed": {**(optouts.get("removed") or {}), **{
                        f"build_{k}": v for k, v in (build.get("removed") or {}).items()}}},
        "pii_redacted": manifest.get("pii") or {},
    })
    return facts


def _fmt(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"


def write_model_card(folder: Path, run: dict[str, Any], result: dict[str, Any], rows: list[dict[str, Any]]
                     ) -> None:
    plan = run.get("plan", {})
    preset = plan.get("preset", {})
    release = run.get("release", {})
    device = result.get("device", {})
    licenses = release.get("licenses") or {}
    optouts = release.get("optouts") or {}
    entropy, val = result.get("unigram_entropy"), result.get("val_loss")
    below = f" ({1 - val / entropy:.0%} below it)" if entropy and val is not None else ""
    license_lines = "\n".join(f"| {name} | {files:,} |" for name, files in list(licenses.items())[:15]) or (
        "| (the release records no licenses: it was built without the license steps) | |"
        if "licenses" in release else "| (the release manifest was not found) | |")
    removed = ", ".join(f"{k}: {v}" for k, v in (optouts.get("removed") or {}).items() if v) or "none"
    hardware = f"{device.get('processes', 1)} x {device.get('name') or device.get('kind')}"
    shape = (f"GPTBigCode, multi-query attention, {preset.get('n_layer')} layers, width "
             f"{preset.get('n_embd')}, {preset.get('n_head')} heads, inner {preset.get('n_inner')}")
    release_line = (f"{release.get('version')} ({release.get('rows') or 0:,} files, "
                    f"{(release.get('content_bytes') or 0) / 1e6:,.1f} MB, "
                    f"{release.get('repositories') or '?'} repositories)")
    batch = (f"{plan.get('batch_size')} sequences per step ({plan.get('micro_batch_size')} per pass, "
             f"{plan.get('accumulation')} accumulated)")
    optimizer = (f"AdamW {tuple(preset.get('betas', ()))}, peak learning rate {plan.get('learning_rate')}, "
                 f"{plan.get('warmup_steps')} warmup steps, cosine to a tenth, weight decay "
                 f"{preset.get('weight_decay')}, gradient clipping {preset.get('grad_clip')}")
    card = f"""---
license: bigcode-openrail-m
library_name: transformers
pipeline_tag: text-generation
tags: [code, gpt_bigcode, stackwright, fill-in-the-middle]
---

# {Path(str(result.get('run', 'model'))).name}: a {preset.get('name', '?')} GPTBigCode code model

A GPTBigCode model (multi-query attention, learned absolute positions) pretrained with stackwright
on permissively licensed code, with fill-in-the-middle.

## Model summary

| | |
|---|---|
| architecture | {shape} |
| parameters | {result.get('parameters', 0):,} |
| context | {run.get('data', {}).get('seq_len')} tokens trained (positions up to {preset.get('context')}) |
| tokenizer | byte-level BPE with StarCoder's special tokens, {run.get('tokenizer', '?')} |
| objective | next token, with FIM (PSM and SPM) as the token data was made |

## Intended use

Code completion and infilling in the languages of its training release, for research, for
developing code assistants and for evaluating training recipes. Prompts in FIM form:
`<fim_prefix>PREFIX<fim_suffix>SUFFIX<fim_middle>`, generation until `<|endoftext|>`.

## Limitations

Generated code can be wrong, insecure, or copied from the training data: check it before use, and
check suggestions against the release's attribution index (`stackwright serve --release`), which
names the repository and license a verbatim match comes from. The model knows only the languages
and libraries of its release; it has no notion of truth outside code, and small models repeat
themselves. It was not trained to follow instructions or to refuse harmful requests.

## Use restrictions

In the spirit of the BigCode OpenRAIL-M license: do not use the model or its derivatives to break
the law, to harm people, to generate or spread personal information about individuals, to make
malware, or for decisions that affect people's rights without human review. Pass these restrictions
on to anyone you share the model or a modification of it with, and give each modification (fine-tunes
and adapters included) a card like this one.

## Training data

| | |
|---|---|
| release | {release_line} |
| release manifest sha256 | `{release.get('manifest_sha256')}` |
| opt-outs honoured | {optouts.get('entries', 0)} registry entries; removed: {removed} |
| PII redacted | {', '.join(f'{k}: {v}' for k, v in (release.get('pii_redacted') or {}).items()) or 'none'} |

Licenses of the training files:

| license | files |
|---|---|
{license_lines}

## Training

| | |
|---|---|
| steps | {result.get('step')} of {result.get('horizon')} ({result.get('stopped')}) |
| tokens seen | {result.get('tokens', 0):,} |
| batch | {batch} |
| optimizer | {optimizer} |
| precision | {plan.get('precision')} |
| hardware | {hardware} |
| time | {result.get('seconds', 0):,.0f} s, {result.get('tokens_per_second', 0):,.0f} tokens/s |

## Evaluation

| | nats per token |
|---|---|
| final training loss | {_fmt(result.get('train_loss'))} |
| validation loss (held-out repositories) | {_fmt(val)}{below} |
| unigram entropy of the validation tokens | {_fmt(entropy)} |

{EVALUATION_START}
{EVALUATION_END}

## How to use

```python
from transformers import AutoModelForCausalLM, AutoTokenizer

tok = AutoTokenizer.from_pretrained("PATH")
model = AutoModelForCausalLM.from_pretrained("PATH")
ids = tok("<fim_prefix>def add(a, b):\\n    <fim_suffix>\\n<fim_middle>", return_tensors="pt").input_ids
print(tok.decode(model.generate(ids, max_new_tokens=32)[0][ids.shape[1]:]))
```

or `stackwright generate PATH --prompt 'def add(a, b):' --suffix '\\n'`.
"""
    write_atomic(Path(folder) / CARD, card.encode())

