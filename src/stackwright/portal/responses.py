"""JSON that is safe even where a browser might be talked into reading it as HTML.

Every ``<``, ``>`` and ``&`` is written as a ``\\u00XX`` escape (still the same JSON value), so a
username or reason such as ``<script>`` never appears literally in any response body.
"""

from __future__ import annotations

import json
from typing import Any

from fastapi.responses import JSONResponse

_ESCAPES = str.maketrans({"<": "\\u003c", ">": "\\u003e", "&": "\\u0026"})


def safe_json(content: Any) -> bytes:
    text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return text.translate(_ESCAPES).encode("utf-8")


class SafeJSONResponse(JSONResponse):
    def render(self, content: Any) -> bytes:
        return safe_json(content)
