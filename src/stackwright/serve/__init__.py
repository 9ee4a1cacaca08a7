"""Serving: a code-completion server with fill-in-the-middle for editors, and attribution of its output.

``engine`` (continuous batching with a KV cache, prefix reuse, deadlines, cancellation), ``prompts``
(FIM prompts from the training data's builder, budgeted like editor clients do), ``attribution``
(suggestions checked against the release's attribution index), ``service`` and ``api`` (the OpenAI,
TGI, llama.cpp and Tabby routes, ``create_app``), ``metrics`` (Prometheus) and ``playground/``.
"""
