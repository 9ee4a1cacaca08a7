"""Serving: a code-completion server with fill-in-the-middle for editors, and attribution of its output.

Planned modules: ``engine.py`` (the batching loop, KV cache and adapters), ``api.py`` (``create_app``,
as the portal has) and ``playground/``. Prompts are built with the same FIM builder the training data
used (``stackwright.model.fim``).
"""
