"""A training document as text: the optional metadata prefix, then the file's content.

StarCoder put ``<reponame>{repo}``, ``<filename>{path}`` and ``<gh_stars>{bucket}`` before a file, each
independently with probability 0.2, in that order, then a newline, so that the model can be
conditioned on them at inference and does not depend on them.
"""

from __future__ import annotations

import hashlib

import numpy as np

from stackwright.model.tokens import FILENAME, GH_STARS, REPONAME, star_bucket

METADATA_RATE = 0.2


def document_rng(seed: int, *keys: str) -> np.random.Generator:
    """A generator that depends only on the seed and the document's identity (repo, path): the same
    document gets the same draws in any process, in any order."""
    digest = hashlib.blake2b("\0".join((str(seed), *keys)).encode("utf-8", "surrogatepass"), digest_size=16)
    return np.random.default_rng(int.from_bytes(digest.digest(), "little"))


def render(content: str, repo: str, path: str, stars: int | None, rng: np.random.Generator,
           metadata_rate: float = METADATA_RATE, marks: tuple[str, str, str] = (REPONAME, FILENAME, GH_STARS)
           ) -> str:
    """The document's text with the metadata prefix the draws choose (none, some or all three);
    ``marks`` write the three tokens (their strings, or the pipeline's placeholders)."""
    reponame, filename, gh_stars = marks
    parts = []
    if rng.random() < metadata_rate:
        parts.append(f"{reponame}{repo}")
    if rng.random() < metadata_rate:
        parts.append(f"{filename}{path}")
    if rng.random() < metadata_rate:
        parts.append(f"{gh_stars}{star_bucket(stars)}")
    return "".join(parts) + "\n" + content if parts else content
