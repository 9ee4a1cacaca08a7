"""Test isolation: no test reads or writes the user's opt-out registry or data folder."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True, scope="session")
def _isolated_data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Builds use the default registry file when it exists: point the data folder (inherited by the
    ``stackwright`` subprocesses) at an empty temporary folder for the whole run."""
    saved = {name: os.environ.get(name) for name in ("STACKWRIGHT_DATA", "STACKWRIGHT_REGISTRY")}
    data = tmp_path_factory.mktemp("stackwright-data")
    os.environ["STACKWRIGHT_DATA"] = str(data)
    os.environ.pop("STACKWRIGHT_REGISTRY", None)
    yield data
    for name, value in saved.items():
        if value is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = value


from model_fixtures import release, tiny_model, tokenizer, train_tokens  # noqa: E402,F401  (shared fixtures)
