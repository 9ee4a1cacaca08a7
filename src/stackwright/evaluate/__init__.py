"""Evaluation of trained models: HumanEval pass@k in a sandbox, fill-in-the-middle exact match, perplexity.

- ``infill.py``: SantaCoder's single-line infilling. Task sets of masked lines from the files of a
  release the model did not train on (its run's validation repositories), saved as JSONL and reused;
  greedy FIM completions scored by exact match, per language.
- ``perplexity.py``: mean next-token loss, perplexity and bits per byte on a token folder, computed as
  the training loop computes its validation loss; token data of another tokenizer is refused.
- ``report.py``: ``record_evaluation`` keeps ``evaluation.json`` beside the model and rewrites the
  model card's evaluation section (between the markers of :mod:`stackwright.model.card`) as a table of
  every evaluation recorded.
- ``sandbox.py`` and ``humaneval.py``: generated programs run under resource limits, no network,
  scored with the unbiased pass@k estimator. Benchmark problems come from ``stackwright.evalsets``,
  the loader decontamination uses too.

This package reads releases and token data only through :mod:`stackwright.model` and release manifests;
torch and transformers are imported inside the functions that run a model.
"""
