"""Model commands (tokenizer, tokenize, train, generate, finetune, encoder): the model half's seat.

Its commands arrive with the model stages; they import torch and transformers inside their bodies.
"""

from __future__ import annotations

import typer

app = typer.Typer()
