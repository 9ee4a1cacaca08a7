from pathlib import Path

import pytest

from stackwright.config import BuildConfig, ConfigError, load_build_config


def test_defaults_match_the_stack() -> None:
    config = BuildConfig()
    assert config.read.max_file_size == 1_000_000
    assert config.read.binary_probe_bytes == 8192
    assert config.executor == "local"


def test_file_then_flags(tmp_path: Path) -> None:
    path = tmp_path / "build.toml"
    path.write_text('[build]\nworkers = 3\nshard_size = 1000\n[build.read]\nmax_file_size = 50\nrev = "v1"\n')
    config = load_build_config(path, workers=None, read__max_file_size=70)
    assert config.workers == 3 and config.shard_size == 1000
    assert config.read.max_file_size == 70 and config.read.rev == "v1"


def test_fingerprint_ignores_how_the_build_runs() -> None:
    a = load_build_config(None, workers=1, executor="local")
    b = load_build_config(None, workers=2, executor="ray")
    c = load_build_config(None, read__max_file_size=10)
    assert a.content_fingerprint() == b.content_fingerprint() != c.content_fingerprint()


@pytest.mark.parametrize(
    ("text", "message"),
    [("workers = [", "not valid"), ("colour = 1", "colour"), ("[read]\nmax_file_size = -1", "max_file_size")],
)
def test_bad_files_give_one_clear_error(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=message):
        load_build_config(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_build_config(tmp_path / "nope.toml")
