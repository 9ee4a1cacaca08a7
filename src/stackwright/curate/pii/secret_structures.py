"""Secrets recognised by their structure rather than one expression: what the format itself says.

* JSON Web Keys (RFC 7517/7518): in a key object (one with a ``kty`` member) the private members
  (``d``, ``p``, ``q``, ``dp``, ``dq``, ``qi``, and ``k`` of a symmetric key) are secrets; the public ones
  (``n``, ``e``, ``x``, ``y``, ``crv``, ``kid``, ``x5c``...) are not, however random they look.
* A JWT written as adjacent string literals (``"eyJ...."`` ``"eyJ...."`` ``"sig"``: implicit
  concatenation, ``+``, line continuations, comments between): one token, one span; its header must
  decode to JSON, as a token's does.
* A PEM private key body: base64 lines (RFC 1421 headers, escaped newlines and literal joins allowed);
  a block whose body is not base64 (``anything``, ``...``) holds no key.
"""

from __future__ import annotations

import base64
import binascii
import json
import re

__all__ = ["joined_jwt", "jwk_private_members", "jwk_public_member", "jwt_header_ok", "pem_body_ok"]

_JWK_PRIVATE = frozenset({"d", "p", "q", "dp", "dq", "qi", "k"})
_JWK_PUBLIC = frozenset({"n", "e", "x", "y", "crv", "kid", "x5c", "x5t", "x5t#S256", "x5u", "alg", "use"})
_KTY = re.compile(r"[\"']kty[\"']\s*:")
_JWK_MEMBER = re.compile(
    r"[\"'](?P<m>d|p|q|dp|dq|qi|k)[\"']\s*:\s*(?P<q>[\"'])(?P<v>[A-Za-z0-9_-]{4,})(?P=q)"
)
_MEMBER_BEFORE = re.compile(r"[\"'](?P<m>[\w#]{1,8})[\"']\s*:\s*$")


def _is_jwk(text: str) -> bool:
    return "kty" in text and bool(_KTY.search(text))


def jwk_private_members(text: str) -> list[tuple[int, int]]:
    """Spans of the private members' values of the JSON Web Keys in ``text``."""
    if not _is_jwk(text):
        return []
    return [m.span("v") for m in _JWK_MEMBER.finditer(text) if m.group("m") in _JWK_PRIVATE]


def jwk_public_member(text: str, value_start: int) -> bool:
    """Whether the quoted value starting at ``value_start`` is a public member of a JSON Web Key."""
    if not _is_jwk(text):
        return False
    m = _MEMBER_BEFORE.search(text, max(0, value_start - 24), value_start - 1)
    return m is not None and m.group("m") in _JWK_PUBLIC


def _b64decode(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, binascii.Error):
        return b""


_JSON_START = re.compile(rb'\{\s*"[A-Za-z_]{2,}"\s*:')  # {"alg": ...


def jwt_header_ok(token: str) -> bool:
    """A header that decodes to a JSON object, or whose first bytes at least are JSON text (a token with a
    damaged tail: ``{"alg":`` and then noise); random base64 that happens to start with ``eyJ`` decodes to
    ``{"`` and then noise at once."""
    raw = _b64decode(token.split(".", 1)[0])
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return _JSON_START.match(raw) is not None


# Between two literals: spaces, newlines, ``+``, ``\`` continuations, comments to the end of a line, and a
# string prefix (b, r, f, u) before the next quote.
_GLUE = re.compile(r"(?:\s|\+|\\\n|#[^\n]*|//[^\n]*)*(?:[bBrRuUfF]{1,2})?")
_JOINED_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}={0,2}\.[A-Za-z0-9_-]+={0,2}\.[A-Za-z0-9_-]*")


def joined_jwt(text: str, value_start: int, max_parts: int = 8) -> tuple[int, int] | None:
    """The span of a JWT that starts a string literal at ``value_start`` and goes on in the literals after
    it; None when the literal is not followed by more of the token."""
    quote = text[value_start - 1] if value_start > 0 else ""
    if quote not in "\"'`":
        return None
    parts: list[str] = []
    pos, end = value_start, value_start
    for _ in range(max_parts):
        close = text.find(quote, pos)
        if close < 0 or "\n" in text[pos:close]:
            break
        parts.append(text[pos:close])
        end = close
        glue = _GLUE.match(text, close + 1)
        nxt = glue.end() if glue else close + 1
        if nxt >= len(text) or text[nxt] != quote:
            break
        pos = nxt + 1
    if len(parts) < 2:
        return None
    joined = "".join(parts)
    m = _JOINED_JWT.fullmatch(joined)
    if m is None or not jwt_header_ok(joined):
        return None
    return value_start, end


_PEM_HEADER = re.compile(r"(?m)^[ \t]*[A-Za-z-]+:[^\n]*$")  # Proc-Type:, DEK-Info: (RFC 1421)
_PEM_NOISE = re.compile(r"\\[nr]|[\"'`+,\s]|\\$")


def pem_body_ok(body: str) -> bool:
    """A private key block's body is base64 text: at least 16 characters (a placeholder word such as
    ``anything`` or ``...`` is no key; detect-secrets' fixtures shorten keys to a sentence)."""
    core = _PEM_NOISE.sub("", _PEM_HEADER.sub("", body.replace("\\n", "\n")))
    if len(core) < 16:
        return False
    b64 = sum(c.isalnum() or c in "+/=" for c in core)
    return b64 >= 0.95 * len(core)
