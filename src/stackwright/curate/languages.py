"""Language detection with GitHub Linguist's rules (go-enry), and the language selection step.

For each file: the Linguist language name, its type (programming, markup, data, prose) and the
vendored / generated / documentation / dotfile flags.

Fast path: where a file's name or extension maps to exactly one language in enry's own data, and the
content has no shebang or editor modeline (which Linguist lets override the extension), that language
is certain and no content is examined; enry's candidates per name and extension are memoised, so the
path-only answer is a dictionary lookup. Everything else (``.h``, ``.m``, ``.pl``, ``.ts``, ``.md``,
files without an extension, ...) goes to enry's full strategy chain on name and content: modelines,
shebang, heuristics, then its classifier. The extension-only call (``get_language_by_extension``)
is never used: it answers a single language even when an extension is shared (``.rs`` is
RenderScript there).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from stackwright.config import BuildConfig, LanguageConfig
from stackwright.errors import StackwrightError
from stackwright.files import read_limited, walk_files
from stackwright.pipeline.step import StepStats, register_step
from stackwright.records import (
    CONTENT,
    IS_DOCUMENTATION,
    IS_DOTFILE,
    IS_GENERATED,
    IS_VENDORED,
    LANGUAGE,
    LANGUAGE_TYPE,
    PATH,
    with_columns,
)
from stackwright.sources.base import TOO_LARGE

FILENAME = "filename"
EXTENSION = "extension"
CONTENT_METHOD = "content"
NONE = "none"

MEMO_LIMIT = 100_000  # memoised names and extensions (a crawl has few distinct ones)
HEAD_BYTES = 4096  # where shebangs and modelines are looked for
MAX_CONTENT_BYTES = 64 * 1024  # enry's heuristics and classifier read at most this much


@dataclass(frozen=True, slots=True)
class LanguageGuess:
    language: str | None
    type: str | None
    vendored: bool = False
    generated: bool = False
    documentation: bool = False
    dotfile: bool = False
    method: str = NONE

    def to_json(self, path: str) -> dict[str, Any]:
        return {"path": path, "language": self.language, "type": self.type, "vendored": self.vendored,
                "generated": self.generated, "documentation": self.documentation, "dotfile": self.dotfile}


class LanguageDetectionError(StackwrightError, RuntimeError):
    """go-enry cannot be loaded."""


class LanguageDetector:
    """go-enry with memoised candidates; one per process."""

    def __init__(self) -> None:
        try:
            import enry
            from enry._c_enry import ffi
            from enry.definitions import lib
            from enry.utils import go_str_slice_to_py
        except (ImportError, OSError) as exc:  # pragma: no cover - a broken install
            raise LanguageDetectionError(f"language detection needs enry-python (go-enry): {exc}") from None
        self._enry = enry
        self._lib = lib
        self._null = ffi.NULL
        self._slice = go_str_slice_to_py
        self._by_name: dict[str, tuple[str, ...]] = {}
        self._by_ext: dict[str, tuple[str, ...]] = {}
        self._types: dict[str, str | None] = {}

    # -- enry's data, memoised ---------------------------------------------------------------
    def _name_candidates(self, name: str) -> tuple[str, ...]:
        found = self._by_name.get(name)
        if found is None:
            encoded = name.encode("utf-8", "surrogateescape")
            raw = self._lib.GetLanguagesByFilename(encoded, b"", 0, self._null)
            found = tuple(self._slice(self._lib, raw))
            if len(self._by_name) < MEMO_LIMIT:
                self._by_name[name] = found
        return found

    def _ext_candidates(self, name: str) -> tuple[str, ...]:
        dot = name.find(".", 1)
        key = name[dot:].lower() if dot > 0 else ""
        if not key:
            return ()
        found = self._by_ext.get(key)
        if found is None:
            encoded = key.encode("utf-8", "surrogateescape")
            raw = self._lib.GetLanguagesByExtension(encoded, b"", 0, self._null)
            found = tuple(self._slice(self._lib, raw))
            if len(self._by_ext) < MEMO_LIMIT:
                self._by_ext[key] = found
        return found

    def language_type(self, language: str | None) -> str | None:
        if not language:
            return None
        if language not in self._types:
            value = self._enry.get_language_type(language)
            self._types[language] = value if value and value != "unknown" else None
        return self._types[language]

    # -- detection ---------------------------------------------------------------------------
    def by_path(self, path: str) -> tuple[str | None, str]:
        """The certain answer from the path alone, ``(language, method)``; ``(None, "none")`` when the
        path leaves a choice (the content decides then)."""
        name = path.rsplit("/", 1)[-1]
        named = self._name_candidates(name)
        if len(named) == 1:
            return named[0], FILENAME
        if named:
            return None, NONE
        by_ext = self._ext_candidates(name)
        if len(by_ext) == 1:
            return by_ext[0], EXTENSION
        return None, NONE

    def language(self, path: str, content: bytes) -> tuple[str | None, str]:
        """The language of a file from its name and content, ``(language, method)``."""
        head = content[:HEAD_BYTES]
        if not (head.startswith(b"#!") or _has_modeline(head, content)):
            language, method = self.by_path(path)
            if language is not None:
                return language, method
        found = self._enry.get_language(path, content[:MAX_CONTENT_BYTES])
        return (found or None), (CONTENT_METHOD if found else NONE)

    def detect(self, path: str, content: bytes | str) -> LanguageGuess:
        data = content.encode("utf-8", "surrogateescape") if isinstance(content, str) else content
        language, method = self.language(path, data)
        enry = self._enry
        return LanguageGuess(
            language=language,
            type=self.language_type(language),
            vendored=bool(enry.is_vendor(path)),
            generated=bool(enry.is_generated(path, data[:MAX_CONTENT_BYTES])),
            documentation=bool(enry.is_documentation(path)),
            dotfile=bool(enry.is_dot_file(path)),
            method=method,
        )


MAX_DETECT_BYTES = 10_000_000  # what `lang detect` reads of a file; larger files are noted too_large


def detect_paths(paths: Iterable[Path], on_unreadable: Callable[[Path, OSError], None] | None = None
                 ) -> Iterator[tuple[LanguageGuess, dict[str, Any]]]:
    """The guess and its JSON record for every file named or below the folders named (``.git`` and
    symbolic links skipped). A file that cannot be read is reported to ``on_unreadable`` and left out."""
    found = detector()
    for path in walk_files(paths):
        try:
            data, too_large = read_limited(path, MAX_DETECT_BYTES)
        except OSError as exc:
            if on_unreadable is not None:
                on_unreadable(path, exc)
            continue
        guess = found.detect(str(path), data)
        record = guess.to_json(str(path))
        if too_large:
            record["note"] = TOO_LARGE
        yield guess, record


def _has_modeline(head: bytes, content: bytes) -> bool:
    """A Vim or Emacs modeline can sit in the first or last lines."""
    tail = content[-1024:] if len(content) > HEAD_BYTES else b""
    for part in (head, tail):
        if b"-*-" in part or b"vim:" in part or b"vi:" in part or b"ex:" in part or b"vim60:" in part:
            return True
    return False


_DETECTOR: LanguageDetector | None = None


def detector() -> LanguageDetector:
    global _DETECTOR
    if _DETECTOR is None:
        _DETECTOR = LanguageDetector()
    return _DETECTOR


@dataclass(frozen=True)
class AnnotateLanguages:
    """Adds ``language``, ``language_type`` and the vendored/generated/documentation/dotfile flags."""

    name: str = "languages"

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        n = batch.num_rows
        columns: dict[str, list[Any]] = {k: [] for k in (LANGUAGE, LANGUAGE_TYPE, IS_VENDORED, IS_GENERATED,
                                                         IS_DOCUMENTATION, IS_DOTFILE)}
        if n:
            found = detector()
            for path, content in zip(batch.column(PATH).to_pylist(), batch.column(CONTENT).to_pylist(),
                                     strict=True):
                guess = found.detect(path, content)
                columns[LANGUAGE].append(guess.language)
                columns[LANGUAGE_TYPE].append(guess.type)
                columns[IS_VENDORED].append(guess.vendored)
                columns[IS_GENERATED].append(guess.generated)
                columns[IS_DOCUMENTATION].append(guess.documentation)
                columns[IS_DOTFILE].append(guess.dotfile)
        return with_columns(batch, columns)


@dataclass(frozen=True)
class LanguageFilter:
    """Keeps the selected languages; drops vendored and generated files (each counted by reason)."""

    settings: LanguageConfig = field(default_factory=LanguageConfig)
    name: str = "language_filter"

    def process(self, batch: pa.RecordBatch, stats: StepStats) -> pa.RecordBatch:
        if LANGUAGE not in batch.schema.names:
            raise ValueError("language_filter needs the languages step before it")
        if batch.num_rows == 0:
            return batch
        s = self.settings
        languages = batch.column(LANGUAGE).to_pylist()
        types = batch.column(LANGUAGE_TYPE).to_pylist()
        vendored = batch.column(IS_VENDORED).to_pylist()
        generated = batch.column(IS_GENERATED).to_pylist()
        keep: list[bool] = []
        for language, kind, is_vendored, is_generated in zip(languages, types, vendored, generated,
                                                             strict=True):
            reason = None
            if language is None:
                reason = "language:unknown"
            elif not selected(language, kind, s):
                reason = "language:not_selected"
            elif s.drop_vendored and is_vendored:
                reason = "language:vendored"
            elif s.drop_generated and is_generated:
                reason = "language:generated"
            if reason is not None:
                stats.drop(reason)
            keep.append(reason is None)
        return batch.filter(pa.array(keep, pa.bool_()))


def selected(language: str | None, language_type: str | None, settings: LanguageConfig) -> bool:
    """Whether the language selection keeps a language (ignoring the vendored/generated flags)."""
    if language is None or language in settings.exclude:
        return False
    return language in settings.languages or language_type in settings.types


@register_step("languages")
def _make_annotate(config: BuildConfig | None = None) -> AnnotateLanguages:
    return AnnotateLanguages()


@register_step("language_filter")
def _make_filter(config: BuildConfig | None = None) -> LanguageFilter:
    return LanguageFilter(config.languages if config is not None else LanguageConfig())

