"""The model tests need the model extra; their fixtures live in ``tests/model_fixtures.py``."""

import pytest

pytest.importorskip("tokenizers")
pytest.importorskip("transformers")
