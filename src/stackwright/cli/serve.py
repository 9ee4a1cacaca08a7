"""Serving commands (``stackwright serve``): the completion server's seat.

Its commands arrive with the server; they import the model stack inside their bodies.
"""

from __future__ import annotations

import typer

app = typer.Typer()
