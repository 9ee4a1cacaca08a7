"""What a secret value looks like, and what does not: the value checks the secret detectors share.

Shannon entropy as in detect-secrets (base64 > 4.5, hex > 3.0 bits), placeholders (``changeme``,
``xxxx``, ``<password>``), templates and environment lookups, UUIDs, hashes next to ``sha``/``md5``/...,
id-like, word-like and sequential strings, and the variable names that make a value a password or key.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from collections import Counter

__all__ = ["check_generic", "check_high_entropy", "secret_name_kind", "shannon_entropy"]

_PASSWORD_WORDS = r"pass(?:word|wd|phrase|wrd)?|pwd|pw"
_KEY_WORDS = (
    r"secrete?|token|api[_.-]?key|apikey|auth[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret"
    r"|credentials?|auth[_-]?token|secret[_-]?key|license[_-]?key|login"
)
WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
IDENT = WORD | frozenset(".-")
HEXCHARS = "0123456789abcdefABCDEF"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_HASH_WORDS = re.compile(
    r"(?i)sha|md5|hash|checksum|digest|integrity|fingerprint|commit|etag|crc|hex|uuid|guid|hmac|nonce|salt"
)
TEMPLATE = re.compile(
    r"^(?:\$\{|\$\(|\{\{|\{%|%\(|<%|#\{|\$[A-Za-z_]|%[A-Za-z_]+%$|<[^>]*>$|\{[A-Za-z_]+\}$|\[[A-Z_]+\]$)"
    r"|%\(\w+\)[sd]|%[-+ 0#]*\d*(?:\.\d*)?[sdfrxi](?![A-Za-z0-9])|\{\d*\}|^\{[a-z_]+\}|\{[a-z_]+\}$"
    r"|\\[xuU][0-9a-fA-F]"
)
_PLACEHOLDER_WORDS = re.compile(
    r"(?i)^(?:pass(?:word|wd)?|secret|changeme|change_?me|null|none|nil|true|false|undefined|empty"
    r"|todo|test|example|sample|dummy|default|admin|root|user(?:name)?|string|value|required|optional"
    r"|redacted|hidden|removed|your[_-]?\w*|my[_-]?(?:password|secret|token|key)\w*)$"
    r"|(?i:fake|example|dummy|placeholder|changeme|redacted|insert|replace|your[_-]|xxxx|\*\*\*|\.\.\.)"
)
_CODE = re.compile(
    r"(?:[A-Za-z_$][\w$]*\.)*[A-Za-z_$][\w$]*(?:\(.*|\[.*)?[;,]?|(?:os\.|process\.|ENV\[|getenv).*"
)
_PROVIDER_PREFIX = re.compile(
    r"xox|xapp-|gh[pousr]_|github_pat_|gl(?:pat|ptt|dt|imt|agent|oas|rt|sa|c)[-_]|AKIA|ASIA|AIza|hf_|api_org_"
    r"|npm_|sk-|[rs]k_live|dapi|pplx-|ico-|sgp_|SG\.|hv[sb]\.|ntn_|pypi-"
)
_SEQUENCES = (
    "abcdefghijklmnopqrstuvwxyz",
    "0123456789",
    "qwertyuiopasdfghjklzxcvbnm",
)


def shannon_entropy(value: str, charset: str | None = None) -> float:
    """Shannon entropy in bits per character (over ``charset`` characters only when given)."""
    if charset is not None:
        value = "".join(c for c in value if c in charset)
    if not value:
        return 0.0
    n = len(value)
    return -sum(c / n * math.log2(c / n) for c in Counter(value).values())


def placeholder_chars(value: str) -> bool:
    """``xxxx``, ``****``, one repeated character making up most of it."""
    if not value:
        return True
    low = value.lower()
    top = Counter(low).most_common(1)[0][1]
    if len(value) >= 8 and top / len(value) > 0.6:
        return True
    return low.count("x") >= max(6, len(value) // 2) or "xxxxx" in low or "*" * 3 in low


def placeholder(value: str) -> bool:
    """Placeholder characters or words (``changeme``, ``your_token``, ``<password>``, ``fake``...)."""
    return placeholder_chars(value) or bool(_PLACEHOLDER_WORDS.search(value))


def _wordy(value: str) -> bool:
    """Made of dictionary-like lowercase runs (identifiers, CSS classes): not generated."""
    return sum(len(w) for w in re.findall(r"[a-z]{4,}", value)) > 0.4 * len(value)


def _sequential(value: str) -> bool:
    low = value.lower()
    for seq in _SEQUENCES:
        for i in range(len(seq) - 5):
            if seq[i : i + 6] in low:
                return True
    return False


def _near_hash_word(text: str, start: int) -> bool:
    return bool(_HASH_WORDS.search(text, max(0, start - 80), start))


# A digest that names its algorithm: Subresource Integrity / npm ``integrity`` (``sha512-<base64>``), go.sum
# ``h1:<base64>``, ``sha256:<hex>`` (Docker, OCI), ``md5=``...: a hash of public content, never a key.
_ALGORITHM_DIGEST = re.compile(
    r"(?i)^(?:sha(?:1|224|256|384|512)|md5|blake2[bs]?|h1)[-:=][A-Za-z0-9+/=_-]{16,}$"
)


def _is_hash(value: str, text: str, start: int) -> bool:
    if _ALGORITHM_DIGEST.match(value):
        return True
    return len(value) in (32, 40, 64, 128) and bool(_HEX.fullmatch(value)) and _near_hash_word(text, start)


def mixed_case_hex(value: str) -> bool:
    """Hexadecimal in one case but for one or two letters (``acdeFf05b1a6...``): an edited or mistyped
    value. Hex keys and digests are written in one case; values drawn from ``[a-fA-F0-9]`` mix the cases
    evenly (a third of the letters or so), and those stay candidates."""
    if len(value) < 16 or not _HEX.fullmatch(value):
        return False
    upper = sum(c.isupper() for c in value)
    lower = sum(c.islower() for c in value)
    return upper + lower >= 8 and 0 < min(upper, lower) <= 2


_RUN_CLASSES = ("0123456789", "abcdefghijklmnopqrstuvwxyz", "qwertyuiopasdfghjklzxcvbnm")


def sequential_fraction(value: str) -> float:
    """The share of ``value`` in runs of 4+ consecutive characters of the alphabet, the digits or a keyboard
    row, either way (``abcdef0123456789``, ``klmnopqrstuvwx``, ``qwerty``): what people type as filler.
    Random strings almost never have such runs (a run of 4 is a chance of 1 in 36^3 per position)."""
    low = value.lower()
    covered = [False] * len(low)
    for i in range(len(low) - 3):
        window = low[i : i + 4]
        for seq in _RUN_CLASSES:
            if window in seq or window[::-1] in seq:
                for j in range(i, i + 4):
                    covered[j] = True
                break
    return sum(covered) / len(low) if low else 0.0


def _random_enough(value: str) -> bool:
    """The detect-secrets thresholds: hex > 3.0 bits, base64 > 4.5 bits (scaled down for short values)."""
    if _HEX.fullmatch(value):
        if value.isdigit():
            return False
        return len(value) >= 16 and shannon_entropy(value) > 3.0
    ent = shannon_entropy(value)
    # 4.5 bits is out of reach for short strings: demand most of the possible entropy instead.
    limit = min(4.5, 0.85 * math.log2(len(value))) if len(value) < 40 else 4.5
    return ent > limit


def mixed(value: str) -> bool:
    """Letters and digits (or two letter cases and a symbol): what a generated key looks like."""
    has_digit = any(c.isdigit() for c in value)
    has_alpha = any(c.isalpha() for c in value)
    has_upper = any(c.isupper() for c in value)
    has_lower = any(c.islower() for c in value)
    symbol = any(not c.isalnum() and c not in "_-. " for c in value)
    classes = has_digit + has_upper + has_lower + symbol
    return (has_digit and has_alpha) or classes >= 3


def _token_like(value: str, text: str, start: int) -> bool:
    """A generic key value: long enough, not a hash/word/id, looks random."""
    if _PROVIDER_PREFIX.match(value):
        return False  # a provider format: its own rule decides
    if len(value) < 12 or " " in value or "://" in value or placeholder(value) or TEMPLATE.search(value):
        return False
    if _UUID.fullmatch(value):
        return True  # a UUID assigned to a token/secret name is a credential (Heroku, Snyk, ...)
    if _is_hash(value, text, start) or _sequential(value) or _wordy(value) or _identifier_like(value):
        return False
    if mixed_case_hex(value):
        return False
    if not mixed(value) or re.fullmatch(r"[\w-]+(?:\.[\w-]+)+", value):
        return False
    if _HEX.fullmatch(value) and len(value) < 32:
        return False
    return (len(value) >= 16 and shannon_entropy(value) >= 3.0) or (len(value) >= 8 and _random_enough(value))


def _classes(value: str) -> int:
    return (
        any(c.isdigit() for c in value)
        + any(c.isupper() for c in value)
        + any(c.islower() for c in value)
        + any(not c.isalnum() and c not in "_-. " for c in value)
    )


def password_like(value: str) -> bool:
    if len(value) < 6 or len(value) > 200 or placeholder(value) or TEMPLATE.search(value):
        return False
    if len(value) >= 12 and sequential_fraction(value) >= 0.6:
        return False  # long counting filler (``abcdef0123456789...``); short dummies (``12345678``) stay
    if " " in value or _PROVIDER_PREFIX.match(value):
        return False
    return _classes(value) >= 2


def _secretish(value: str) -> bool:
    """A value for a key-like name that is not random but password-like: punctuation and letters."""
    if _wordy(value) or re.fullmatch(r"[^@\s]+@[\w-]+(?:\.[\w-]+)+", value):
        return False
    return password_like(value) and any(not c.isalnum() and c not in "_-./: " for c in value)


_WORDISH = re.compile(r"[A-Z]?[a-z]{2,}|[A-Z]{2,6}(?![a-z])")


def _identifier_like(value: str) -> bool:
    """``PyUnicode_AsUTF8AndSize``, ``X-Amz-Content-SHA256``, ``PKCS7_ISSUER_AND_SERIAL``: made of words."""
    letters = sum(c.isalpha() for c in value)
    words = _WORDISH.findall(value)
    if letters < 6 or len(words) < 2 or sum(len(w) for w in words) < 0.75 * letters:
        return False
    return bool(re.search(r"[-_./]", value)) or (len(words) >= 3 and min(len(w) for w in words) >= 4)


_NAME_DENY = re.compile(
    r"(?i)(?:^|[_.-])(?:name|names|length|len|size|url|uri|path|file|dir|type|id|ids|count|field|label"
    r"|version|format|prefix|suffix|header|endpoint|policy|rule|hint|regex|pattern|expires?|ttl|max|min"
    r"|config|template|fmt|re|range|kind|mode|env|var)$"
    r"|public|sequence|schema|bucket|vault_name|(?:^|[_.-])(?:is|has|use|enable|require)[_A-Z]"
    r"|(?:Name|Length|Url|Uri|Path|File|Type|Id|Count|Field|Label|Version|Format|Enabled|Required)$"
)


def _name_before(text: str, pos: int) -> str:
    i = pos
    while i > 0 and (text[i - 1].isalnum() or text[i - 1] in "_.-"):
        i -= 1
    return text[i:pos]


_WORD_START = r"(?:^|(?<=[^A-Za-z])|(?<=[a-z])(?=[A-Z]))"
_PASSWORD_NAME = re.compile(_WORD_START + r"(?i:" + _PASSWORD_WORDS + r")(?![a-z])")
_KEY_NAME = re.compile(_WORD_START + r"(?i:" + _KEY_WORDS + r")")
_STRONG_KEY_NAME = re.compile(r"(?i)secret|private[_-]?key|api[_-]?key|apikey|token")
_KEY_SUFFIX = re.compile(r"(?:[a-z_.-]|^)(?:key|KEY|Key)$")


def secret_name_kind(name: str) -> str | None:
    """``password`` / ``key`` for a secret-like variable name, None for names like ``secret_length``."""
    if _NAME_DENY.search(name):
        return None
    if _PASSWORD_NAME.search(name):
        return "password"
    if _STRONG_KEY_NAME.search(name):
        return "key!"
    if _KEY_NAME.search(name) or _KEY_SUFFIX.search(name):
        return "key"
    return None



def b64json(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, binascii.Error):
        return b""


def _assigned_name(text: str, quote: int) -> str:
    i = quote
    while i > 0 and text[i - 1] in " \t:=>@":
        i -= 1
    if i > 0 and text[i - 1] in "\"'":
        i -= 1
    return _name_before(text, i)


def _file_has_hashes(text: str) -> bool:
    """BigCode's file-level filter: a text that talks about hashes often holds hex digests, not keys."""
    lines = text.count("\n") + 1
    return len(_HASH_WORDS.findall(text[:200_000])) > max(2, lines // 50)


def check_high_entropy(value: str, text: str, start: int) -> bool:
    if _PROVIDER_PREFIX.match(value) or _UUID.search(value) or placeholder(value) or mixed_case_hex(value):
        return False
    if _is_hash(value, text, start) or _wordy(value) or _sequential(value) or _identifier_like(value):
        return False
    name = _assigned_name(text, start - 1)
    if name and _NAME_DENY.search(name):
        return False
    if _HEX.fullmatch(value):
        letters = sum(c.isalpha() for c in value)
        if letters < 0.15 * len(value) or _near_hash_word(text, start) or _file_has_hashes(text):
            return False
    elif not (
        any(c.isdigit() for c in value)
        and any(c.isupper() for c in value)
        and any(c.islower() for c in value)
    ):
        return False  # identifiers, words, paths
    if "." in value and re.fullmatch(r"[\w-]+(?:\.[\w-]+)+", value):
        return False  # dotted names: modules, hosts, versions
    return _random_enough(value)


_NOT_PASSPHRASE = re.compile(
    r"(?i)\b(?:pass(?:word|wd|phrase)?|secret|token|key|your|enter|please|here|type|invalid|wrong|incorrect"
    r"|required|missing|must|should|cannot|can't|not|error|failed)\b"
)


def _passphrase(value: str) -> bool:
    """A quoted value of a few words assigned to a password or secret name (``"correct horse battery
    staple"``), not a message about one (``"Wrong password"``, ``"Enter your token"``)."""
    words = value.split()
    if not 2 <= len(words) <= 6 or not 8 <= len(value) <= 64 or value.rstrip()[-1] in ":?.!)":
        return False
    return not (placeholder(value) or TEMPLATE.search(value) or _NOT_PASSPHRASE.search(value))


def check_generic(kind: str | None, value: str, text: str, start: int, quoted: bool) -> bool:
    if kind is None:
        return False
    if not quoted:
        if _CODE.fullmatch(value) and not (mixed(value) and any(c.isdigit() for c in value)):
            return False
        if re.fullmatch(r"[A-Za-z_]\w*(?:\.\w+)+", value) or ("_" in value and _CODE.fullmatch(value)):
            return False
        if "=" in value or _identifier_like(value):
            return False
        if re.search(r"[(\[]|\.\w+\(|^(?:os|process|env|ENV|System|config|settings)\.", value):
            return False
    if quoted and " " in value.strip() and kind in ("password", "key!"):
        return _passphrase(value)
    if kind == "password":
        return password_like(value)
    return _token_like(value, text, start) or (quoted and kind == "key!" and _secretish(value))


