"""Evaluation: HumanEval pass@k in a sandbox, fill-in-the-middle exact match, perplexity.

Planned modules: ``sandbox.py`` (generated programs under resource limits, no network),
``humaneval.py``, ``infill.py`` and ``perplexity.py``. Benchmark problems come from
``stackwright.evalsets``, the loader decontamination uses too.
"""
