"""StarCoder's special tokens, with exactly its strings and ids 0..18, and the metadata star buckets."""

from __future__ import annotations

EOT = "<|endoftext|>"  # beginning, end and unknown: documents are separated by it
FIM_PREFIX = "<fim_prefix>"
FIM_MIDDLE = "<fim_middle>"
FIM_SUFFIX = "<fim_suffix>"
FIM_PAD = "<fim_pad>"
FILENAME = "<filename>"
GH_STARS = "<gh_stars>"
REPONAME = "<reponame>"

# In id order: a trained tokenizer gives token i the i-th string.
SPECIAL_TOKENS: tuple[str, ...] = (
    EOT,
    FIM_PREFIX,
    FIM_MIDDLE,
    FIM_SUFFIX,
    FIM_PAD,
    FILENAME,
    GH_STARS,
    "<issue_start>",
    "<issue_comment>",
    "<issue_closed>",
    "<jupyter_start>",
    "<jupyter_text>",
    "<jupyter_code>",
    "<jupyter_output>",
    "<empty_output>",
    "<commit_before>",
    "<commit_msg>",
    "<commit_after>",
    REPONAME,
)

# Star buckets of the metadata prefix: 0, 1-10, 10-100, 100-1000, 1000+.
_STAR_EDGES = ((0, "0"), (10, "1-10"), (100, "10-100"), (1000, "100-1000"))


def star_bucket(stars: int | None) -> str:
    """The ``<gh_stars>`` value for a repository's star count (unknown counts as 0)."""
    n = max(0, int(stars or 0))
    if n == 0:
        return "0"
    for edge, label in _STAR_EDGES[1:]:
        if n < edge:
            return label
    return "1000+"
