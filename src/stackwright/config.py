"""One settings model for a build: defaults, then a TOML/JSON file, then command-line flags."""

from __future__ import annotations

import hashlib
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_serializer

from stackwright.errors import StackwrightError

MB = 1_000_000


class ConfigError(StackwrightError, ValueError):
    """A configuration file or value that cannot be used; the message is shown to the user."""


class ReadConfig(BaseModel):
    """Rules every source applies when it turns files into records."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_file_size: int = Field(1 * MB, gt=0, description="files larger than this (bytes) are skipped")
    binary_probe_bytes: int = Field(8192, gt=0, description="a NUL byte in this prefix means binary")
    max_depth: int = Field(64, gt=0, description="deepest directory level walked in a repository")
    rev: str = Field("HEAD", description="revision read from git repositories")
    layout: Literal["auto", "repos", "repo"] = Field(
        "auto", description="a directory or archive holds several repositories (repos) or is one (repo)"
    )
    max_archive_bytes: int = Field(
        20_000 * MB, gt=0, description="stop reading an archive after this many uncompressed bytes"
    )
    max_archive_members: int = Field(1_000_000, gt=0, description="stop after this many members")
    max_compression_ratio: float = Field(
        200.0, gt=1, description="skip archive members that expand more than this (zip bombs)"
    )


LicenseCategory = Literal["permissive", "weak-copyleft", "copyleft", "proprietary-or-restricted",
                          "no-license", "unknown"]


class LicenseConfig(BaseModel):
    """How repositories' licenses are detected and which categories a build keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    permissive: list[str] | None = Field(
        None, description="SPDX ids counted as permissive (default: The Stack's list plus 0BSD, BSL-1.0, ...)"
    )
    keep: list[LicenseCategory] = Field(
        default_factory=lambda: ["permissive"], description="license categories the license_filter step keeps"
    )
    backend: Literal["fast", "fast+scancode", "scancode"] = Field(
        "fast", description="fast matcher, with ScanCode for texts it cannot match, or ScanCode alone"
    )
    scancode_timeout: float = Field(10.0, gt=0, description="seconds ScanCode may spend on one file")


# Languages kept by default besides every programming and markup language: the data and prose
# formats The Stack and StarCoder trained on (configuration, notebooks' text, documentation).
DEFAULT_EXTRA_LANGUAGES = ("JSON", "JSON with Comments", "JSON5", "YAML", "TOML", "INI", "XML", "SQL",
                           "Markdown", "reStructuredText", "AsciiDoc", "Protocol Buffer", "GraphQL",
                           "Dockerfile", "Makefile", "CMake")


class LanguageConfig(BaseModel):
    """Which files the language_filter step keeps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: list[Literal["programming", "markup", "data", "prose"]] = Field(
        default_factory=lambda: ["programming", "markup"],
        description="GitHub Linguist language types kept",
    )
    languages: list[str] = Field(
        default_factory=lambda: list(DEFAULT_EXTRA_LANGUAGES),
        description="Linguist language names kept whatever their type",
    )
    exclude: list[str] = Field(default_factory=list, description="Linguist language names dropped")
    drop_vendored: bool = Field(True, description="drop vendored files (node_modules/, third_party/, ...)")
    drop_generated: bool = Field(True, description="drop files enry recognises as generated")


class QualityThresholds(BaseModel):
    """StarCoder's line and character filters; a value of None turns that filter off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_line_length: int | None = Field(1000, gt=0, description="longest line, in characters")
    max_mean_line_length: float | None = Field(100.0, gt=0, description="mean line length")
    min_alphanum_fraction: float | None = Field(0.25, ge=0, le=1, description="alphanumeric share")


class QualityConfig(BaseModel):
    """The StarCoder quality filters (REFERENCE §3), with per-extension overrides."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: QualityThresholds = QualityThresholds()
    overrides: dict[str, QualityThresholds] = Field(
        default_factory=dict, description="thresholds by extension (without the dot), replacing the defaults"
    )
    xml_header: bool = Field(True, description="drop files with '<?xml version=' in the first 100 characters")
    html_min_visible_fraction: float | None = Field(0.2, ge=0, le=1, description="HTML visible-text share")
    html_min_visible_chars: int | None = Field(100, ge=0, description="HTML visible-text length")
    data_min_chars: int | None = Field(50, ge=0, description="JSON/YAML files shorter than this are dropped")
    data_max_chars: int | None = Field(5000, gt=0, description="JSON/YAML files longer than this are dropped")
    auto_generated: bool = Field(True, description="drop files marked auto-generated near the top")
    min_chars: int = Field(10, ge=0, description="files with fewer non-blank characters are dropped")


class DedupConfig(BaseModel):
    """Exact and near (MinHash LSH) deduplication, REFERENCE §4 defaults."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    exact: bool = Field(True, description="remove files whose content is byte-identical to a kept one")
    near: bool = Field(True, description="remove near-duplicates found by MinHash LSH")
    ngram: int = Field(5, ge=1, description="word n-grams (tokens split on [^A-Za-z_0-9])")
    num_perm: int = Field(256, ge=8, le=4096, description="MinHash permutations")
    threshold: float = Field(0.7, gt=0, lt=1, description="Jaccard similarity of near-duplicates")
    bands: int | None = Field(None, ge=1, description="LSH bands (default: chosen from the threshold)")
    rows: int | None = Field(None, ge=1, description="rows per band (default: chosen from the threshold)")
    min_tokens: int = Field(5, ge=1, description="files with fewer tokens are not near-deduplicated")
    verify: bool = Field(False, description="check candidate pairs' exact Jaccard before joining them")
    seed: int = Field(42, description="seed of the hash permutations")


PiiMode = Literal["synthetic", "placeholder", "keep"]


class PiiConfig(BaseModel):
    """PII and secret redaction (the ``pii`` step)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: PiiMode = Field("synthetic", description="synthetic: a consistent fake address, or <EMAIL>")
    ip_address: PiiMode = Field("synthetic", description="synthetic: a private address of the same family")
    key: PiiMode = Field("synthetic", description="synthetic: a random string of the same length")
    password: PiiMode = Field("placeholder", description="placeholder: <PASSWORD>")
    ip_redact_scopes: list[str] = Field(
        default_factory=lambda: ["global"],
        description="IP scopes redacted (private, loopback, documentation, dns, ... are kept by default)",
    )
    name: PiiMode = Field("placeholder", description="NAME entities of model-based detectors: <NAME>")
    username: PiiMode = Field("placeholder", description="USERNAME entities of model-based detectors")
    detectors: list[str] = Field(
        default_factory=list,
        description="extra detectors registered by name: ner (a model from stackwright pii train-ner)",
    )
    ner_model: Path | None = Field(None, description="the NER model folder the ner detector runs")
    ner_labels: list[str] = Field(
        default_factory=lambda: ["NAME", "USERNAME", "PASSWORD"],
        description="classes taken from the NER model (patterns win on the formats they know)",
    )
    ner_batch_size: int = Field(16, ge=1, description="windows of 512 tokens per NER forward pass")

    @field_serializer("ner_model")
    def _ner_model_as_text(self, ner_model: Path | None) -> str | None:
        return None if ner_model is None else str(ner_model)


class DecontaminateConfig(BaseModel):
    """Benchmark texts whose files the ``decontaminate`` step removes (see curate.decontaminate)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    benchmarks: list[str] = Field(
        default_factory=lambda: ["humaneval"], description="built-in benchmarks (humaneval)"
    )
    files: list[Path] = Field(
        default_factory=list, description="extra benchmarks: JSONL files, or text files of one snippet each"
    )
    fields: list[str] = Field(
        default_factory=list, description="JSONL fields holding benchmark text (default: every string field)"
    )
    min_chars: int = Field(
        50, ge=1, description="snippets shorter than this after whitespace normalisation are not matched"
    )

    @field_serializer("files")
    def _files_as_text(self, files: list[Path]) -> list[str]:
        return [str(f) for f in files]


class OptOutConfig(BaseModel):
    """The opt-out registry a build honours (the ``optout`` step; see stackwright.registry).

    ``registry`` is a database URL. None means ``$STACKWRIGHT_REGISTRY`` when set, else the default
    SQLite file (``$STACKWRIGHT_DATA/registry.sqlite``, or ``~/.local/share/stackwright/registry.sqlite``)
    when it exists, else no opt-outs. A registry that is configured but cannot be read fails the build.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    registry: str | None = Field(None, description="opt-out registry URL (sqlite:///PATH, postgresql://...)")

    @field_serializer("registry")
    def _registry_without_password(self, registry: str | None) -> str | None:
        # Dumped configs go into manifests and fingerprints: never with a database password.
        if registry is None:
            return None
        from stackwright.registry.location import safe_url

        return safe_url(registry)


class BuildConfig(BaseModel):
    """Everything that decides the content of a built dataset, plus how it is executed."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    read: ReadConfig = ReadConfig()
    shard_size: int = Field(64 * MB, gt=0, description="input bytes per shard (one Parquet file)")
    batch_rows: int = Field(2048, gt=0, description="rows per Arrow batch and Parquet row group")
    batch_bytes: int = Field(32 * MB, gt=0, description="content bytes per Arrow batch")
    compression_level: int = Field(3, ge=1, le=22, description="zstd level of the Parquet shards")
    steps: list[str] = Field(
        default_factory=lambda: ["optout", "drop_empty", "licenses", "license_filter", "languages",
                                 "language_filter", "quality", "decontaminate", "pii"],
        description="curation steps, in order",
    )
    licenses: LicenseConfig = LicenseConfig()
    languages: LanguageConfig = LanguageConfig()
    quality: QualityConfig = QualityConfig()
    dedup: DedupConfig = DedupConfig()
    pii: PiiConfig = PiiConfig()
    decontaminate: DecontaminateConfig = DecontaminateConfig()
    optout: OptOutConfig = OptOutConfig()
    executor: Literal["local", "ray"] = "local"
    workers: int = Field(default_factory=lambda: max(1, os.cpu_count() or 1), gt=0)
    ray_address: str | None = None

    def content_fingerprint(self) -> str:
        """Hash of the settings that decide the output bytes (not how the build is executed)."""
        data = self.model_dump(exclude={"executor", "workers", "ray_address"})
        return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


def _read_file(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    try:
        if path.suffix == ".json":
            data = json.loads(text)
        else:
            data = tomllib.loads(text)
    except (ValueError, tomllib.TOMLDecodeError) as exc:
        kind = "JSON" if path.suffix == ".json" else "TOML"
        raise ConfigError(f"config file {path} is not valid {kind}: {exc}") from None
    # A file may hold the build table at top level or under [build].
    if isinstance(data, dict) and isinstance(data.get("build"), dict):
        data = data["build"]
    if not isinstance(data, dict):
        raise ConfigError(f"config file {path} must hold a table of settings")
    return data


def _merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def load_build_config(path: Path | None = None, **overrides: Any) -> BuildConfig:
    """Defaults, then the file (if any), then the overrides that are not None.

    Overrides of a section's settings are given as ``<section>__<name>`` (``read__rev``,
    ``dedup__threshold``): the command line wins over the file, the file over the defaults.
    """
    data: dict[str, Any] = _read_file(path) if path is not None else {}
    flat: dict[str, Any] = {}
    for key, value in overrides.items():
        if value is None:
            continue
        section, _, name = key.partition("__")
        if name:
            flat.setdefault(section, {})[name] = value
        else:
            flat[key] = value
    data = _merge(data, flat)
    try:
        return BuildConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in exc.errors()
        )
        raise ConfigError(f"invalid build configuration: {problems}") from None
