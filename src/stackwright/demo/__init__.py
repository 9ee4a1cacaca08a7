"""The end-to-end demo on an embedded default: this machine's Python installation, no network.

``stackwright demo`` runs the whole lifecycle into one folder (``stackwright-demo``): a dataset built
from the installed code and its release v0.1.0 (:mod:`.dataset`); an opt-out filed, verified and
applied in release v0.2.0 through the demo's own registry (:mod:`.consent`); a tokenizer, packed
tokens and the ``tiny`` model trained for a few minutes (:mod:`.model`); HumanEval and FIM infilling
on bounded samples, recorded in the model card (:mod:`.evaluation`); and one FIM completion served
over loopback with its attribution check (:mod:`.serving`). :mod:`.lifecycle` runs the stages in
order and :mod:`.stages` makes a rerun resume the ones that finished on the same inputs.

Nothing here imports torch or transformers at import time: the model stages import them when they run.
"""

from __future__ import annotations

from stackwright.demo.dataset import DEMO_RELEASE, DemoResult
from stackwright.demo.lifecycle import SKIPPABLE, STAGES, DemoOptions, LifecycleResult, run_lifecycle
from stackwright.demo.stages import DemoError, StageReport
from stackwright.evaluate.infill import masked_line  # the line the demo serves and infilling masks

__all__ = ["DEMO_RELEASE", "SKIPPABLE", "STAGES", "DemoError", "DemoOptions", "DemoResult", "LifecycleResult",
           "StageReport", "masked_line", "run_lifecycle"]
