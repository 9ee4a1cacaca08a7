"""Single-line infilling, as SantaCoder was evaluated: one line of real code masked, the model fills it
in between its prefix and suffix (FIM), and the generated line is scored by exact match.

Tasks come from the files of a release that the model did not train on: the validation repositories of
its training run (the run's token data records the validation fraction and seed, see
:func:`stackwright.model.corpus.validation_repositories`). A model with no run to tell takes an explicit
``validation`` fraction, or is evaluated on every file and says so (``held_out: false``).

A task set is a function of the release, the languages, the seed, the number of tasks per language and
per file, and the held-out split: each file of a language gets a rank from a hash of the seed and its
name, the files of the lowest ranks are taken, and in each the masked lines are drawn by a generator
seeded from the same hash. Neither the order of the shards nor other files change which lines a file
gives. The set is saved as JSONL (a header line with that identity, then one task a line) and reused
when the same set is asked again; a set made from another release is refused.

Which lines are masked (:func:`candidate_lines`): not blank, not only a comment (nor inside a block
comment, a Python docstring or another string that spans lines), not only brackets and punctuation,
:data:`MIN_CHARS` to :data:`MAX_CHARS` characters with at least :data:`MIN_ALNUM` letters or digits.
The prefix ends with the line's indentation (the cursor where an editor puts it); the expected text
is the rest of the line without trailing whitespace, and the suffix starts where it ends.
"""

from __future__ import annotations

import hashlib
import heapq
import io
import json
import re
import time
import tokenize
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from stackwright.errors import StackwrightError
from stackwright.files import write_atomic
from stackwright.model.corpus import (
    ModelDataError,
    ReleaseCorpus,
    iter_texts,
    repositories,
    validation_repositories,
)
from stackwright.model.runs import RUN_FILE, model_folder, read_run

TASKS_FORMAT = "stackwright-infill-tasks"
TASKS_VERSION = 1  # bump when the choice of lines changes: old task files then no longer match
DEFAULT_LANGUAGES = ("Python", "Java", "JavaScript")
DEFAULT_SEED = 0
DEFAULT_PER_LANGUAGE = 100
DEFAULT_PER_FILE = 1
DEFAULT_MAX_NEW_TOKENS = 64
EVAL_DIR = "eval"
MIN_CHARS, MAX_CHARS, MIN_ALNUM = 8, 100, 5
CONTEXT_CHARS = 16_000  # of prefix and of suffix kept in a task (whole lines); models see less

# GitHub Linguist names, and a few common spellings of them, for --languages.
KNOWN_LANGUAGES = ("Python", "Java", "JavaScript", "TypeScript", "C", "C++", "C#", "Go", "Rust", "Ruby",
                   "PHP", "Shell", "Kotlin", "Scala", "Swift", "Lua", "R", "Julia", "Perl", "Haskell",
                   "SQL", "Dart", "Objective-C", "CSS", "HTML", "Markdown", "Makefile", "Dockerfile")
ALIASES = {"py": "Python", "js": "JavaScript", "ts": "TypeScript", "cpp": "C++", "cxx": "C++",
           "csharp": "C#", "cs": "C#", "golang": "Go", "rs": "Rust", "rb": "Ruby", "sh": "Shell",
           "bash": "Shell", "kt": "Kotlin", "objc": "Objective-C"}
_C_LIKE = {"C", "C++", "C#", "Java", "JavaScript", "TypeScript", "Go", "Rust", "Kotlin", "Scala", "Swift",
           "PHP", "Dart", "Objective-C", "CSS"}
_HASH_COMMENTS = {"Shell", "Ruby", "Perl", "R", "Julia", "Makefile", "Dockerfile", "PHP"}
_DASH_COMMENTS = {"SQL", "Lua", "Haskell"}
_NOT_CODE = {tokenize.STRING, tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
             tokenize.DEDENT, tokenize.ENDMARKER}
_STRINGS = {tokenize.STRING, *(getattr(tokenize, n) for n in ("FSTRING_START", "FSTRING_MIDDLE",
                                                                "FSTRING_END") if hasattr(tokenize, n))}
_PLACEHOLDERS = re.compile("[\ufdd0-\ufdef]")  # the pipeline's special-token characters


class TaskFileError(StackwrightError):
    """A task file that cannot be used: unreadable, not a task set, or made for another release."""


# ---------------------------------------------------------------------------------------------------
# Lines to mask


def _lines(text: str) -> list[str]:
    """The lines of ``text`` split at ``\\n`` only, each with its ``\\n`` (the last one without)."""
    parts = text.split("\n")
    return [p + "\n" for p in parts[:-1]] + ([parts[-1]] if parts[-1] else [])


def _python_code_rows(text: str) -> set[int] | None:
    """0-based lines where Python code starts a token outside strings that span lines (docstrings)
    and comments; None where the text does not tokenize as Python."""
    code: set[int] = set()
    inside: set[int] = set()
    try:
        for tok in tokenize.generate_tokens(io.StringIO(text).readline):
            (srow, _), (erow, _) = tok.start, tok.end
            if tok.type in _STRINGS and erow > srow:
                inside.update(range(srow - 1, erow))
            elif tok.type not in _NOT_CODE and tok.type not in _STRINGS:
                code.add(srow - 1)
    except (tokenize.TokenError, SyntaxError, ValueError):
        return None
    return code - inside


def _comment_pattern(language: str | None) -> re.Pattern[str]:
    if language in _C_LIKE:
        return re.compile(r"/\*.*?(?:\*/|\Z)|//[^\n]*" + (r"|#[^\n]*" if language == "PHP" else ""), re.S)
    if language in _HASH_COMMENTS or language == "Python":
        return re.compile(r"#[^\n]*")
    if language in _DASH_COMMENTS:
        return re.compile(r"--[^\n]*")
    return re.compile(r"(?:#|//|--)[^\n]*")


def _code_rows(text: str, language: str | None) -> set[int]:
    """0-based lines that hold code once comments (and, for Python, docstrings) are taken out."""
    if language == "Python":
        rows = _python_code_rows(text)
        if rows is not None:
            return rows
    stripped = _comment_pattern(language).sub(lambda m: "\n" * m.group().count("\n"), text)
    rows = {i for i, line in enumerate(stripped.split("\n")) if line.strip()}
    if language == "Python":  # did not tokenize: at least no line that opens with a string
        rows = {i for i in rows if not stripped.split("\n")[i].lstrip().startswith(('"', "'"))}
    return rows


def is_maskable(line: str) -> bool:
    """Whether one line's text (no line break) is worth filling in: long enough, not too long, with
    letters or digits rather than only brackets and punctuation, no special-token characters."""
    code = line.strip()
    return (MIN_CHARS <= len(code) <= MAX_CHARS and sum(ch.isalnum() for ch in code) >= MIN_ALNUM
            and not _PLACEHOLDERS.search(code))


def candidate_lines(text: str, language: str | None = None) -> list[int]:
    """0-based indices of the lines of ``text`` that may be masked (see the module); only lines that
    end with a line break, so that the suffix starts with one."""
    lines = _lines(text)
    code = _code_rows(text, language)
    return [i for i, line in enumerate(lines) if i in code and line.endswith("\n") and is_maskable(line)]


def split_at(text: str, index: int, context_chars: int | None = None) -> tuple[str, str, str]:
    """``(prefix, expected, suffix)`` for masking line ``index``: the prefix ends with the line's
    indentation, ``prefix + expected + suffix == text`` (unless ``context_chars`` trims whole lines
    from the far ends of the prefix and the suffix)."""
    lines = _lines(text)
    line = lines[index]
    body = line.rstrip("\n")
    indent = body[: len(body) - len(body.lstrip())]
    expected = body.strip()
    prefix = "".join(lines[:index]) + indent
    suffix = body[len(indent) + len(expected):] + line[len(body):] + "".join(lines[index + 1:])
    if context_chars is not None:
        if len(prefix) > context_chars:
            cut = prefix.find("\n", len(prefix) - context_chars)
            prefix = prefix[cut + 1:] if cut >= 0 else prefix[-context_chars:]
        if len(suffix) > context_chars:
            cut = suffix.rfind("\n", 0, context_chars)
            suffix = suffix[: cut + 1] if cut > 0 else suffix[:context_chars]
    return prefix, expected, suffix


def masked_line(text: str, rng: Any, language: str | None = "Python") -> tuple[str, str, str] | None:
    """One maskable line from the middle half of a file (context on both sides), drawn with ``rng``
    (a numpy Generator), as ``(prefix, expected, suffix)``; None where there is none."""
    n = len(_lines(text))
    middle = [i for i in candidate_lines(text, language) if n // 4 <= i < 3 * n // 4]
    if not middle:
        return None
    return split_at(text, middle[int(rng.integers(len(middle)))])


# ---------------------------------------------------------------------------------------------------
# Languages


def canonical_language(name: str, known: Iterable[str] = ()) -> str | None:
    """The Linguist name for ``name`` (any case, or a common alias), looked up among
    :data:`KNOWN_LANGUAGES` and ``known`` (the release's own); None where it is none of them."""
    key = name.strip().lower()
    for candidate in (*known, *KNOWN_LANGUAGES):
        if candidate.lower() == key:
            return candidate
    return ALIASES.get(key)


def resolve_languages(names: Iterable[str], known: Iterable[str] = ()) -> tuple[str, ...]:
    """Canonical, sorted and without repeats; a TaskFileError names a language no one knows."""
    known = tuple(known)
    found = []
    for name in names:
        canonical = canonical_language(name, known)
        if canonical is None:
            have = ", ".join(known) or "none"
            raise TaskFileError(f"unknown language {name!r} (Linguist names, e.g. Python, Java, JavaScript; "
                                f"the release has {have})")
        found.append(canonical)
    if not found:
        raise TaskFileError("no language given; use e.g. --languages python,java,javascript")
    return tuple(sorted(set(found)))


# ---------------------------------------------------------------------------------------------------
# Held-out repositories


@dataclass(frozen=True)
class HeldOut:
    """The split a model was trained with: the validation fraction and seed given to ``tokenize``,
    and the release it was drawn on (None: the evaluated release itself)."""

    validation: float
    seed: int
    source: str  # run | option
    training_release: str | None = None
    training_path: str | None = None

    def identity(self, release_sha: str) -> dict[str, Any]:
        out: dict[str, Any] = {"validation": self.validation, "seed": self.seed}
        if self.training_release not in (None, release_sha):
            out["training_release"] = self.training_release
        return out


@dataclass(frozen=True)
class ModelRun:
    """What a model's folder says about its training: the run (None for a bare model folder)."""

    model: Path
    run_dir: Path | None
    run: dict[str, Any] | None

    @property
    def release_sha(self) -> str | None:
        return None if self.run is None else self.run.get("identity", {}).get("tokens_release")

    @property
    def release_path(self) -> str | None:
        return None if self.run is None else self.run.get("release", {}).get("path")


def model_run(model: Path) -> ModelRun:
    """The model folder of ``model`` (a run or a model folder) and its run where it has one: the
    folder above the model holding ``run.json``."""
    folder = model_folder(model)
    parent = folder.parent
    run = read_run(parent) if (parent / RUN_FILE).is_file() else None
    return ModelRun(folder, parent if run is not None else None, run)


def model_held_out(info: ModelRun, validation: float | None = None) -> HeldOut | None:
    """The model's held-out split: ``validation`` where given (seed 0, the tokenize default), else
    the run's token data; None for a model with no run to tell."""
    if validation is not None:
        if not 0.0 < validation < 1.0:
            raise TaskFileError("--validation must be above 0 and below 1")
        return HeldOut(float(validation), 0, "option")
    if info.run is None:
        return None
    from stackwright.model.loader import read_token_manifest

    data = str(info.run.get("data", {}).get("path"))
    try:
        manifest = read_token_manifest(Path(data))
    except ModelDataError:
        raise TaskFileError(f"the run's token data {data} is gone, so its held-out repositories cannot be "
                            "told; pass --validation FRACTION (as given to stackwright tokenize)") from None
    if manifest.get("release", {}).get("manifest_sha256") != info.release_sha:
        raise TaskFileError(f"{data} now holds token data of another release than the model's; pass "
                            "--validation FRACTION (as given to stackwright tokenize)")
    config = manifest.get("config", {})
    return HeldOut(float(config.get("validation", 0.0)), int(config.get("seed", 0)), "run",
                   info.release_sha, info.release_path)


def held_out_repositories(corpus: ReleaseCorpus, held: HeldOut) -> frozenset[str]:
    """The repositories of ``corpus`` the model did not train on. On the training release: its
    validation repositories. On another release: every repository but those of the training split
    of the training release (which must still be on disk)."""
    repos = repositories(corpus)
    if held.training_release in (None, corpus.manifest_sha256):
        return validation_repositories(repos, held.validation, held.seed)
    path = Path(str(held.training_path))
    training = _release_if(path, held.training_release)
    if training is None:
        raise TaskFileError(f"the model was trained on another release (manifest sha256 "
                            f"{str(held.training_release)[:12]}...), not found at {path}: evaluate on that "
                            "release, or pass --validation FRACTION")
    trained = set(repositories(training)) - validation_repositories(repositories(training), held.validation,
                                                                       held.seed)
    return frozenset(r for r in repos if r not in trained)


# ---------------------------------------------------------------------------------------------------
# Task sets


@dataclass(frozen=True)
class InfillTask:
    id: str
    language: str
    repo: str
    path: str
    line: int  # 1-based line number in the file
    prefix: str
    expected: str
    suffix: str


@dataclass
class TaskSet:
    """A saved (or just built) set of tasks: its header (identity, counts) and the tasks."""

    path: Path
    header: dict[str, Any]
    tasks: list[InfillTask]
    reused: bool = False

    @property
    def identity(self) -> dict[str, Any]:
        return {k: self.header.get(k) for k in IDENTITY_KEYS}


IDENTITY_KEYS = ("format", "format_version", "release", "languages", "seed", "per_language", "per_file",
                 "held_out")


def task_identity(release_sha: str, languages: Sequence[str], seed: int, per_language: int, per_file: int,
                  held: dict[str, Any] | None) -> dict[str, Any]:
    return {"format": TASKS_FORMAT, "format_version": TASKS_VERSION, "release": release_sha,
            "languages": sorted(languages), "seed": seed, "per_language": per_language, "per_file": per_file,
            "held_out": held}


def fingerprint(identity: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def default_tasks_path(info: ModelRun, identity: dict[str, Any]) -> Path:
    """``RUN/eval/infill-<fingerprint>.jsonl`` (``MODEL/eval/...`` for a model with no run)."""
    return (info.run_dir or info.model) / EVAL_DIR / f"infill-{fingerprint(identity)[:12]}.jsonl"


def _file_key(seed: int, repo: str, path: str) -> bytes:
    return hashlib.blake2b(f"{seed}\0{repo}\0{path}".encode(), digest_size=16).digest()


def build_tasks(corpus: ReleaseCorpus, identity: dict[str, Any], held_repos: frozenset[str] | None, *,
                on_rows: Callable[[int, int], None] | None = None) -> list[InfillTask]:
    """The tasks of ``identity`` from ``corpus`` (only files of ``held_repos`` unless None): per
    language the files of the lowest hash ranks that have a maskable line, up to ``per_file`` lines
    each, ``per_language`` in all. Memory holds at most ``per_language`` files per language."""
    import numpy as np

    seed, per_language, per_file = identity["seed"], identity["per_language"], identity["per_file"]
    kept: dict[str, list[tuple[bytes, str, str, list[tuple[int, str, str, str]]]]] = {
        lang: [] for lang in identity["languages"]}
    done = 0
    for rows in iter_texts(corpus):
        for row in rows:
            language, repo, path = row["language"], str(row["repo"]), str(row["path"])
            heap = kept.get(language) if language else None
            if heap is None or (held_repos is not None and repo not in held_repos) or not row["content"]:
                continue
            key = _file_key(seed, repo, path)
            neg = bytes(255 - b for b in key)  # a max-heap of ranks: the worst kept file on top
            if len(heap) >= per_language and neg < heap[0][0]:
                continue
            text = row["content"]
            lines = candidate_lines(text, language)
            if not lines:
                continue
            rng = np.random.default_rng(int.from_bytes(key, "little"))
            chosen = sorted(int(i) for i in rng.choice(len(lines), size=min(per_file, len(lines)),
                                                       replace=False))
            masks = [(lines[i] + 1, *split_at(text, lines[i], CONTEXT_CHARS)) for i in chosen]
            item = (neg, repo, path, masks)
            if len(heap) < per_language:
                heapq.heappush(heap, item)
            else:
                heapq.heapreplace(heap, item)
        done += len(rows)
        if on_rows is not None:
            on_rows(done, corpus.rows)
    tasks: list[InfillTask] = []
    for language in identity["languages"]:
        files = sorted(kept[language], key=lambda item: item[0], reverse=True)  # lowest rank first
        mine = [(repo, path, *mask) for _, repo, path, masks in files for mask in masks][:per_language]
        tasks += [InfillTask(f"{language}/{n:04d}", language, repo, path, line, prefix, expected, suffix)
                  for n, (repo, path, line, prefix, expected, suffix) in enumerate(mine)]
    return tasks


def save_tasks(path: Path, identity: dict[str, Any], tasks: list[InfillTask], about: dict[str, Any]
               ) -> TaskSet:
    """Write a task set as JSONL, atomically: the header, then one task a line."""
    counts = {lang: sum(t.language == lang for t in tasks) for lang in identity["languages"]}
    header = {**identity, "fingerprint": fingerprint(identity), "created_at": datetime.now(UTC).isoformat(
        timespec="seconds"), "tasks": counts, **about}
    lines = [json.dumps(header, ensure_ascii=False)]
    lines += [json.dumps(asdict(t), ensure_ascii=False) for t in tasks]
    try:
        write_atomic(Path(path), ("\n".join(lines) + "\n").encode("utf-8"))
    except OSError as exc:
        raise TaskFileError(f"cannot write the task set to {path} ({type(exc).__name__}); pass --tasks FILE "
                            "somewhere writable") from None
    return TaskSet(Path(path), header, tasks)


def load_tasks(path: Path) -> TaskSet:
    """A task set saved by :func:`save_tasks`; a TaskFileError when it is not one."""
    path = Path(path)
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0]) if lines else None
        if not isinstance(header, dict) or header.get("format") != TASKS_FORMAT:
            raise ValueError("no header")
        tasks = [InfillTask(**json.loads(line)) for line in lines[1:] if line.strip()]
    except FileNotFoundError:
        raise TaskFileError(f"{path}: no such task file") from None
    except (OSError, UnicodeDecodeError, ValueError, TypeError) as exc:
        raise TaskFileError(f"{path} is not a stackwright infill task file ({type(exc).__name__})") from None
    if header.get("format_version") != TASKS_VERSION:
        raise TaskFileError(f"{path} was made by another version of the task builder (format "
                            f"{header.get('format_version')}); remove it to build the set again")
    return TaskSet(path, header, tasks, reused=True)


def _check_asked(task_set: TaskSet, asked: dict[str, Any], release_sha: str | None) -> None:
    """Refuse a task file of another release, or one that differs from what the options ask."""
    have = task_set.header
    if release_sha is not None and have.get("release") != release_sha:
        raise TaskFileError(f"{task_set.path} was built from another release (manifest sha256 "
                            f"{str(have.get('release'))[:12]}..., this release {release_sha[:12]}...); "
                            "remove it or choose another --tasks")
    for key, value in asked.items():
        if value is not None and have.get(key) != value:
            raise TaskFileError(f"{task_set.path} holds another task set ({key}: {have.get(key)!r} there, "
                                f"{value!r} asked); choose another --tasks or leave the option out")


@dataclass
class PreparedTasks:
    """The tasks to score and what the result says about them."""

    task_set: TaskSet
    held_out: bool
    model: Path


def infill_tasks(model: Path, *, release: Path | None = None, languages: Sequence[str] | None = None,
                 seed: int | None = None, per_language: int | None = None, per_file: int | None = None,
                 validation: float | None = None, tasks_file: Path | None = None,
                 on_rows: Callable[[int, int], None] | None = None) -> PreparedTasks:
    """The task set for ``model``: ``tasks_file`` when it exists (checked against the release and
    the options given), else the saved set of the same identity, else a new one built and saved
    (at ``tasks_file``, or :func:`default_tasks_path`). Options left None take the file's values
    or the defaults."""
    info = model_run(model)
    held = model_held_out(info, validation)
    corpus = ReleaseCorpus.open(release) if release is not None else None
    release_sha = corpus.manifest_sha256 if corpus is not None else info.release_sha
    if (per_language is not None and per_language < 1) or (per_file is not None and per_file < 1):
        raise TaskFileError("--per-language and --per-file must be at least 1")
    known = _release_languages(corpus)
    names = resolve_languages(languages, known) if languages is not None else None
    asked = {"languages": list(names) if names is not None else None, "seed": seed,
             "per_language": per_language, "per_file": per_file}
    if tasks_file is not None and Path(tasks_file).exists():
        task_set = load_tasks(tasks_file)
        _check_asked(task_set, asked, release_sha)
        model_split = held.identity(task_set.header["release"]) if held is not None else None
        same_split = model_split is not None and task_set.header.get("held_out") == model_split
        return PreparedTasks(task_set, same_split, info.model)
    if release_sha is None:
        raise TaskFileError(f"{info.model} records no training run: pass --release (the release to take "
                            "the tasks from)")
    identity = task_identity(release_sha, names or DEFAULT_LANGUAGES, DEFAULT_SEED if seed is None else seed,
                             per_language or DEFAULT_PER_LANGUAGE, per_file or DEFAULT_PER_FILE,
                             held.identity(release_sha) if held is not None else None)
    path = Path(tasks_file) if tasks_file is not None else default_tasks_path(info, identity)
    if path.is_file():
        try:
            saved = load_tasks(path)
        except TaskFileError:
            saved = None
        if saved is not None and saved.identity == identity:
            return PreparedTasks(saved, held is not None, info.model)
    if corpus is None:
        corpus = _training_release(info)
    held_repos = held_out_repositories(corpus, held) if held is not None else None
    started = time.perf_counter()
    tasks = build_tasks(corpus, identity, held_repos, on_rows=on_rows)
    about = {"release_version": corpus.version, "held_out_repositories": None if held_repos is None
             else len(held_repos), "seconds": round(time.perf_counter() - started, 2)}
    return PreparedTasks(save_tasks(path, identity, tasks, about), held is not None, info.model)


def _release_languages(corpus: ReleaseCorpus | None) -> tuple[str, ...]:
    if corpus is None:
        return ()
    from stackwright.release.manifest import read_release_manifest

    counts = read_release_manifest(corpus.path).get("counts", {}).get("language", {})
    return tuple(sorted(str(k) for k in counts))


def _release_if(path: Path, sha256: Any) -> ReleaseCorpus | None:
    """The release at ``path`` when it is there and its manifest has this checksum."""
    try:
        corpus = ReleaseCorpus.open(path)
    except StackwrightError:
        return None
    return corpus if corpus.manifest_sha256 == sha256 else None


def _training_release(info: ModelRun) -> ReleaseCorpus:
    """The release the model was trained on, as its run recorded it (checked by checksum)."""
    path = Path(str(info.release_path))
    corpus = _release_if(path, info.release_sha)
    if corpus is None:
        raise TaskFileError(f"the model's training release is not at {path} any more (or is another release "
                            "now); pass --release")
    return corpus


# ---------------------------------------------------------------------------------------------------
# Scoring


def exact(completion: str, expected: str) -> bool:
    """Exact match after trailing whitespace is stripped from both."""
    return completion.rstrip() == expected.rstrip()


def aggregate(records: list[dict[str, Any]], languages: Sequence[str]) -> dict[str, Any]:
    """Exact match over all tasks and per language (``tasks`` 0 and ``exact_match`` None where a
    language has none)."""
    per: dict[str, Any] = {}
    for language in languages:
        mine = [r for r in records if r["language"] == language]
        hits = sum(bool(r["exact"]) for r in mine)
        per[language] = {"tasks": len(mine), "exact": hits, "exact_match": hits / len(mine) if mine else None}
    hits = sum(bool(r["exact"]) for r in records)
    return {"exact_match": hits / len(records) if records else None, "tasks": len(records), "exact": hits,
            "languages": per}


def score_infill(loaded: Any, prepared: PreparedTasks, *, max_new_tokens: int = DEFAULT_MAX_NEW_TOKENS,
                 out: Path | None = None, on_task: Callable[[int, int], None] | None = None,
                 spm: bool = False) -> dict[str, Any]:
    """Fill every task in greedily and score exact match of the first line generated; ``out`` gets
    one JSON line per task (expected, completion, exact).

    The line is cut here, not by ``complete``'s stop strings: transformers matches those against the
    whole of the new text, and with token healing that begins with the prompt's last token, which in
    these prompts holds the line break before the cursor: a ``"\n"`` stop string ends every
    generation at its first token. Generation runs to ``max_new_tokens`` or end-of-text instead."""
    from stackwright.model.generate import complete

    tasks = prepared.task_set.tasks
    records: list[dict[str, Any]] = []
    started = time.perf_counter()
    if on_task is not None:
        on_task(0, len(tasks))
    for n, task in enumerate(tasks, 1):
        result = complete(loaded, task.prefix, task.suffix, max_new_tokens=max_new_tokens, spm=spm)
        line, newline, _ = result.text.partition("\n")
        records.append({"id": task.id, "language": task.language, "repo": task.repo, "path": task.path,
                        "line": task.line, "expected": task.expected, "completion": line,
                        "exact": exact(line, task.expected), "tokens": result.tokens,
                        "stopped": "line_end" if newline else result.stopped})
        if on_task is not None:
            on_task(n, len(tasks))
    seconds = time.perf_counter() - started
    header = prepared.task_set.header
    summary = aggregate(records, header["languages"])
    if out is not None:
        body = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records)
        write_atomic(Path(out), body.encode("utf-8"))
    return {**summary, "tasks_file": str(prepared.task_set.path), "held_out": prepared.held_out,
            "reused_tasks": prepared.task_set.reused, "model": str(prepared.model),
            "release": header.get("release"), "seed": header.get("seed"),
            "per_language": header.get("per_language"), "per_file": header.get("per_file"),
            "max_new_tokens": max_new_tokens, "fim_layout": "spm" if spm else "psm",
            "seconds": round(seconds, 2),
            "seconds_per_task": round(seconds / len(records), 4) if records else None,
            "out": None if out is None else str(out)}
