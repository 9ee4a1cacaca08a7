"""Keys and passwords in source text, by regular expressions (BigCode's detect-secrets set, made fast).

Two scans over the whole text, each a single compiled alternation of literals (so ``re`` skips to the
candidates in C): one for provider prefixes (``ghp_``, ``xox``, ``AKIA``, ``eyJ``, ``://``, quotes...)
and one, over an ASCII-lowercased copy, for secret-like words (``pass``, ``secret``, ``token``, ``key``,
``auth``...). Each candidate is then matched by its rule's anchored regex and checked by a small
validator: placeholders, templates, environment lookups, UUIDs, hashes next to ``sha``/``md5``/...,
id-like and sequential strings, Shannon entropy as in detect-secrets (base64 > 4.5, hex > 3.0 bits).
Spans cover the secret VALUE only, never the variable name; ``detail`` names the rule that fired.
"""

from __future__ import annotations

import base64
import binascii
import json
import math
import re
from collections import Counter
from collections.abc import Callable
from typing import NamedTuple

from stackwright.curate.pii.entities import KEY, PASSWORD, Entity
from stackwright.curate.pii.triggers import Trigger, TriggerScanner

__all__ = ["find_secrets", "shannon_entropy"]

_PASSWORD_WORDS = r"pass(?:word|wd|phrase|wrd)?|pwd|pw"
_KEY_WORDS = (
    r"secrete?|token|api[_.-]?key|apikey|auth[_-]?key|access[_-]?key|private[_-]?key|client[_-]?secret"
    r"|credentials?|auth[_-]?token|secret[_-]?key|license[_-]?key|login"
)
_WORD = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_")
_IDENT = _WORD | frozenset(".-")
_HEXCHARS = "0123456789abcdefABCDEF"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
_HEX = re.compile(r"[0-9a-fA-F]+")
_HASH_WORDS = re.compile(
    r"(?i)sha|md5|hash|checksum|digest|integrity|fingerprint|commit|etag|crc|hex|uuid|guid|hmac|nonce|salt"
)
_TEMPLATE = re.compile(
    r"^(?:\$\{|\$\(|\{\{|\{%|%\(|<%|#\{|\$[A-Za-z_]|%[A-Za-z_]+%$|<[^>]*>$|\{[A-Za-z_]+\}$|\[[A-Z_]+\]$)"
    r"|%\(\w+\)[sd]|%[-+ 0#]*\d*(?:\.\d*)?[sdfrxi]|\{\d*\}|^\{[a-z_]+\}|\{[a-z_]+\}$|\\[xuU][0-9a-fA-F]"
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


def _placeholder_chars(value: str) -> bool:
    """``xxxx``, ``****``, one repeated character making up most of it."""
    if not value:
        return True
    low = value.lower()
    top = Counter(low).most_common(1)[0][1]
    if len(value) >= 8 and top / len(value) > 0.6:
        return True
    return low.count("x") >= max(6, len(value) // 2) or "xxxxx" in low or "*" * 3 in low


def _placeholder(value: str) -> bool:
    """Placeholder characters or words (``changeme``, ``your_token``, ``<password>``, ``fake``...)."""
    return _placeholder_chars(value) or bool(_PLACEHOLDER_WORDS.search(value))


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


def _is_hash(value: str, text: str, start: int) -> bool:
    return len(value) in (32, 40, 64, 128) and bool(_HEX.fullmatch(value)) and _near_hash_word(text, start)


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


def _mixed(value: str) -> bool:
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
    if len(value) < 12 or " " in value or "://" in value or _placeholder(value) or _TEMPLATE.search(value):
        return False
    if _UUID.fullmatch(value):
        return True  # a UUID assigned to a token/secret name is a credential (Heroku, Snyk, ...)
    if _is_hash(value, text, start) or _sequential(value) or _wordy(value) or _identifier_like(value):
        return False
    if not _mixed(value) or re.fullmatch(r"[\w-]+(?:\.[\w-]+)+", value):
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


def _password_like(value: str) -> bool:
    if len(value) < 6 or len(value) > 200 or _placeholder(value) or _TEMPLATE.search(value):
        return False
    if " " in value or _PROVIDER_PREFIX.match(value):
        return False
    return _classes(value) >= 2


def _secretish(value: str) -> bool:
    """A value for a key-like name that is not random but password-like: punctuation and letters."""
    if _wordy(value) or re.fullmatch(r"[^@\s]+@[\w-]+(?:\.[\w-]+)+", value):
        return False
    return _password_like(value) and any(not c.isalnum() and c not in "_-./: " for c in value)


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


def _secret_name_kind(name: str) -> str | None:
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


# ----------------------------------------------------------------------------------------------------
# Provider rules: found from a literal trigger, then matched (anchored) at the trigger, or a few
# characters before it when ``back`` names the characters a value may start with.


class _Rule(NamedTuple):
    name: str
    rx: re.Pattern[str]
    back: str  # characters to step back over from the trigger to the value's start
    back_max: int
    check: Callable[[str, str, int], bool]


def _default_check(value: str, text: str, start: int) -> bool:
    body = value.split("_", 1)[-1] if "_" in value[:12] else value
    return not _placeholder_chars(body) and shannon_entropy(body) >= 3.0


def _always(value: str, text: str, start: int) -> bool:
    return True


def _check_private_key(value: str, text: str, start: int) -> bool:
    return bool(value.strip())


def _check_slack(value: str, text: str, start: int) -> bool:
    body = value.split("-", 1)[1]
    return len(body) >= 80 or (len(body) >= 24 and bool(re.match(r"(?:\d-)?\d{6,}-", body)))


def _check_artifactory(value: str, text: str, start: int) -> bool:
    if start > 0 and text[start - 1] not in " \t\r\n=:\"'":
        return False
    return not (value.isalpha() and sum(c.isupper() for c in value[2:]) >= 2)


def _b64json(part: str) -> bytes:
    try:
        return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))
    except (ValueError, binascii.Error):
        return b""


def _check_jwt(value: str, text: str, start: int) -> bool:
    """A header that decodes to a JSON object, or at least starts like one (``{"alg":...`` with a damaged
    tail still is a token; random base64 that happens to start with ``eyJ`` is not)."""
    raw = _b64json(value.split(".", 1)[0])
    try:
        return isinstance(json.loads(raw), dict)
    except ValueError:
        return raw.startswith(b'{"') and raw[2:3].isalpha()


def _check_aws(value: str, text: str, start: int) -> bool:
    """The format is strong enough alone; only the ``X`` placeholder (``AKIAXXXXXXXX...``) is no key."""
    return "XXXX" not in value


def _check_octopus(value: str, text: str, start: int) -> bool:
    return any(c.isdigit() for c in value) and _default_check(value, text, start)


def _check_url_password(value: str, text: str, start: int) -> bool:
    low = value.lower()
    return not (
        _TEMPLATE.search(value)
        or low in {"password", "pass", "pwd", "secret"}
        or _placeholder(value)
        or value.startswith(("$", "%"))
        or (value.isdigit() and len(value) <= 5)
    )


_P: list[tuple[str, tuple[str, ...], str, str, int, Callable[[str, str, int], bool]]] = [
    # name, triggers, pattern (group "v" = value, else all), back chars, back max, check
    (
        "private-key",
        ("-----BEGIN",),
        r"-----BEGIN[A-Z0-9 ]{0,30}PRIVATE KEY(?: BLOCK)?-----(?P<v>(?:(?!-----)[\s\S]){1,20000}?)"
        r"-----END[A-Z0-9 ]{0,30}PRIVATE KEY",
        "",
        0,
        _check_private_key,
    ),
    (
        "aws-access-key",
        ("AKIA", "ASIA", "ABIA", "ACCA"),
        r"A[KSBC][IC]A[A-Z0-9]{16}(?![A-Za-z0-9])",
        "",
        0,
        _check_aws,
    ),
    (
        "github-token",
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
        r"(?:gh[pousr]_[A-Za-z0-9]{36,251}|github_pat_[A-Za-z0-9_]{82})(?![A-Za-z0-9_])",
        "",
        0,
        _default_check,
    ),
    (
        "gitlab-token",
        ("glpat-", "glptt-", "gldt-", "glimt-", "glagent-", "gloas-", "glrt-", "glcbt-", "GR1348941"),
        r"(?:glpat-[\w-]{20,22}|glptt-[\w-]{40}|gldt-[\w-]{20,}|glimt-[\w-]{25}|glagent-[\w-]{50,1024}"
        r"|gloas-[\w-]{64}|glrt-[\w-]{20,}|glcbt-[\w-]{20,}|GR1348941[\w-]{20,50})(?![\w-])",
        "",
        0,
        _default_check,
    ),
    ("slack-token", ("xox",), r"xox(?:[abposr]|e\.xox[bp]|e)-[A-Za-z0-9-]{8,}", "", 0, _check_slack),
    ("slack-app-token", ("xapp-",), r"xapp-\d-[A-Z0-9]+-\d+-[a-z0-9]{20,}", "", 0, _default_check),
    (
        "slack-webhook",
        ("hooks.slack.com/",),
        r"(?:https?://)?hooks\.slack\.com/(?:services|workflows)/[A-Za-z0-9+/_]{20,}",
        "htps:/",
        8,
        _always,
    ),
    (
        "stripe-key",
        ("sk_live_", "rk_live_", "sk_prod_", "rk_prod_"),
        r"[rs]k_(?:live|prod)_[A-Za-z0-9]{20,247}(?![A-Za-z0-9_])",
        "",
        0,
        _default_check,
    ),
    ("google-api-key", ("AIzaSy",), r"AIzaSy[0-9A-Za-z_-]{33}(?![\w-])", "", 0, _default_check),
    ("azure-storage-key", ("AccountKey=",), r"AccountKey=(?P<v>[A-Za-z0-9+/=]{80,100})", "", 0, _always),
    (
        "azure-client-secret",
        ("Q~",),
        r"(?<![\w.~-])[A-Za-z0-9_~.]{3}\dQ~[A-Za-z0-9_~.-]{31,34}(?![\w.~-])",
        "",
        4,
        _default_check,
    ),
    (
        "discord-token",
        ("M", "N", "O"),
        r"[MNO][\w-]{23,25}\.[\w-]{6}\.[\w-]{27,38}(?![\w-])",
        "",
        0,
        _default_check,
    ),
    ("npm-token", ("npm_",), r"npm_[A-Za-z0-9]{36}(?![A-Za-z0-9_])", "", 0, _default_check),
    (
        "npm-auth-token",
        (":_authToken=",),
        r"//[\w.-]+(?::\d+)?(?:/[\w.-]*)*/:_authToken=[ \t]*(?P<v>[\w-]{20,})",
        "",
        200,
        _always,
    ),
    ("twilio-key", ("AC", "SK"), r"(?:AC|SK)[a-f0-9]{32}(?![A-Za-z0-9_])", "", 0, _default_check),
    ("sendgrid-key", ("SG.",), r"SG\.[\w-]{22}\.[\w-]{43}(?![\w-])", "", 0, _default_check),
    ("mailchimp-key", ("-us",), r"[0-9a-f]{32}-us\d{1,2}(?![A-Za-z0-9_])", _HEXCHARS, 32, _default_check),
    (
        "artifactory-key",
        ("AKC", "AP"),
        r"(?:AKC[a-zA-Z0-9]{10,}|AP[\dABCDEF][a-zA-Z0-9]{8,})(?![A-Za-z0-9])",
        "",
        0,
        _check_artifactory,
    ),
    (
        "softlayer-url",
        ("api.softlayer.com/",),
        r"api\.softlayer\.com/soap/v3(?:\.1)?/(?P<v>[a-z0-9]{64})",
        "",
        0,
        _always,
    ),
    (
        "huggingface-token",
        ("hf_", "api_org_"),
        r"(?:hf_|api_org_)[A-Za-z]{34}(?![A-Za-z0-9_])",
        "",
        0,
        _default_check,
    ),
    (
        "openai-key",
        ("sk-",),
        r"sk-(?:proj-|svcacct-|admin-)?[\w-]{20,}T3BlbkFJ[\w-]{20,}(?![\w-])",
        "",
        0,
        _default_check,
    ),
    (
        "anthropic-key",
        ("sk-ant-",),
        r"sk-ant-(?:api|admin)\d\d-[\w-]{80,100}AA(?![\w-])",
        "",
        0,
        _default_check,
    ),
    (
        "prefixed-token",
        ("ops_eyJ", "sntrys_eyJ", "glc_eyJ"),
        r"(?:ops|sntrys|glc)_eyJ[A-Za-z0-9+/=_-]{60,}",
        "",
        0,
        _default_check,
    ),
    (
        "jwt",
        ("eyJ",),
        r"(?<![A-Za-z0-9_-])eyJ[A-Za-z0-9_-]{8,}={0,2}\.eyJ[A-Za-z0-9_-]{8,}={0,2}(?:\.[A-Za-z0-9_-]*)?",
        "",
        0,
        _check_jwt,
    ),
    ("pypi-token", ("pypi-AgE",), r"pypi-AgE[A-Za-z0-9_-]{100,}", "", 0, _default_check),
    (
        "age-secret-key",
        ("AGE-SECRET-KEY-1",),
        r"AGE-SECRET-KEY-1[QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L]{58}",
        "",
        0,
        _always,
    ),
    ("notion-token", ("ntn_",), r"ntn_\d{11}[A-Za-z0-9]{35}(?![A-Za-z0-9_])", "", 0, _default_check),
    ("vault-token", ("hvs.", "hvb."), r"hv[sb]\.[\w-]{90,}", "", 0, _default_check),
    ("databricks-token", ("dapi",), r"dapi[a-f0-9]{32}(?:-\d)?(?![A-Za-z0-9_])", "", 0, _default_check),
    ("perplexity-key", ("pplx-",), r"pplx-[A-Za-z0-9]{48}(?![A-Za-z0-9_])", "", 0, _default_check),
    ("scalingo-token", ("tk-us-",), r"tk-us-[\w-]{48}(?![\w-])", "", 0, _default_check),
    ("heroku-key", ("HRKU-AA",), r"HRKU-AA[\w-]{58}(?![\w-])", "", 0, _default_check),
    ("atlassian-token", ("ATATT3",), r"ATATT3[A-Za-z0-9_=-]{186}", "", 0, _default_check),
    ("flyio-token", ("FlyV1 fm",), r"FlyV1 (?P<v>fm\d[ar]?_[A-Za-z0-9+/=_]{100,})", "", 0, _default_check),
    (
        "square-token",
        ("sq0csp-", "sq0atp-", "EAAA"),
        r"(?:sq0csp-[0-9A-Za-z\\_-]{43}|sq0atp-[0-9A-Za-z_-]{22}|EAAA[\w+=-]{60})",
        "",
        0,
        _default_check,
    ),
    ("facebook-token", ("EAAM", "EAAC"), r"EAA[MC][A-Za-z0-9]{100,}", "", 0, _default_check),
    (
        "sourcegraph-token",
        ("sgp_",),
        r"sgp_(?:[a-fA-F0-9]{16}_|local_)?[a-fA-F0-9]{40}(?![A-Za-z0-9_])",
        "",
        0,
        _default_check,
    ),
    (
        "grafana-token",
        ("glsa_",),
        r"glsa_[A-Za-z0-9]{32}_[A-Fa-f0-9]{8}(?![A-Za-z0-9_])",
        "",
        0,
        _default_check,
    ),
    (
        "terraform-token",
        (".atlasv1.",),
        r"[A-Za-z0-9]{14}\.atlasv1\.[A-Za-z0-9_=-]{60,70}(?![\w=-])",
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789",
        14,
        _default_check,
    ),
    ("infracost-token", ("ico-",), r"ico-[A-Za-z0-9]{32}(?![A-Za-z0-9_])", "", 0, _default_check),
    ("telegram-token", (":AA",), r"\d{8,10}:AA[\w-]{33}(?![\w-])", "0123456789", 10, _default_check),
    ("intra42-secret", ("s-s4t2",), r"s-s4t2(?:ud|af)-[a-f0-9]{64}(?![A-Za-z0-9_])", "", 0, _default_check),
    ("cloudflare-ca-key", ("v1.0-",), r"v1\.0-[a-f0-9]{24}-[a-f0-9]{146}\b", "", 0, _default_check),
    (
        "onepassword-key",
        ("A3-",),
        r"A3-[A-Z0-9]{6}-(?:[A-Z0-9]{11}|[A-Z0-9]{6}-[A-Z0-9]{5})(?:-[A-Z0-9]{5}){3}\b",
        "",
        0,
        _default_check,
    ),
    (
        "sidekiq-secret",
        ("__CONTRIBSYS__COM",),
        r"__CONTRIBSYS__COM[ \t]*[:=][ \t]*[\"']?(?P<v>[a-f0-9]{8}:[a-f0-9]{8})",
        "",
        0,
        _always,
    ),
    (
        "aws-bedrock-key",
        ("ABSKQmVkcm9ja0FQSUtleS", "bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t"),
        r"ABSKQmVkcm9ja0FQSUtleS[A-Za-z0-9+/]{100,}={0,2}|bedrock-api-key-YmVkcm9jay5hbWF6b25hd3MuY29t[\w+/=&%-]*",
        "",
        0,
        _always,
    ),
    ("facebook-app-token", ("|",), r"\d{15,16}\|[\w-]{27}(?![\w-])", "0123456789", 16, _default_check),
    ("octopus-deploy-key", ("API-",), r"API-[A-Z0-9]{26}(?![\w-])", "", 0, _check_octopus),
    (
        "url-password",
        ("://",),
        r"://[^\s:@/'\"`<>]*:(?P<v>[^\s:@/'\"`<>]+)@(?=[\w\[])",
        "",
        0,
        _check_url_password,
    ),
]

# Rules whose value must not continue a word on its left.
_BOUNDED = frozenset(
    name
    for name, *_ in _P
    if name
    not in {
        "url-password",
        "sidekiq-secret",
        "azure-storage-key",
        "npm-auth-token",
        "softlayer-url",
        "slack-webhook",
        "flyio-token",
        "private-key",
    }
)
_PASSWORD_RULES = frozenset({"url-password"})
_BY_TRIGGER: dict[str, list[_Rule]] = {}
for _name, _triggers, _pattern, _back, _back_max, _check in _P:
    for _t in _triggers:
        _BY_TRIGGER.setdefault(_t, []).append(_Rule(_name, re.compile(_pattern), _back, _back_max, _check))

# The two trigger passes (see triggers.py): provider literals, quotes before a long base64-ish value and
# curl's -u; secret-like words, ASCII case-insensitively.
_LITERALS = sorted(_BY_TRIGGER, key=len, reverse=True)
_QUOTES = ('"', "'", "`")
_CURL = ("-u[ \t]", "--user[ \t]")
_PROVIDER_SCANNER = TriggerScanner(
    [Trigger("|".join(re.escape(t) for t in _LITERALS))]
    + [Trigger(q, ahead="[A-Za-z0-9+/=_.-]{20}", consume=1) for q in _QUOTES]
    + [Trigger(c) for c in _CURL]
)
_QUOTE_INDEX = {1 + i: q for i, q in enumerate(_QUOTES)}
_WORD_SCANNER = TriggerScanner(
    [Trigger("pass|pwd|secret|token|key|auth|credential|login|clou|sumo|access|sourcegraph")], caseless=True
)
_QUOTED_VALUE = re.compile(r"[A-Za-z0-9+/=_.-]{20,1000}")
_CURL_USER = re.compile(r"(?:-u|--user)[ \t]+[\"']?(?P<u>[^\s\"':]*)[\"']?:[\"']?(?P<v>[^\s\"']*)")
_ASSIGN_VALUE = re.compile(
    r"(?:\[\w*\])?[\"'`]?[ \t]*(?P<op>[:=!]{1,4}>?|,|[ \t](?=[ \t]*[\"'`A-Za-z0-9]))[ \t]*@?"
    r"(?:(?P<q>[\"'`])(?P<qv>[^\"'`\n]{1,300})(?P=q)|(?P<uv>[^\s\"'`;,)]{1,300}))"
)
_HEADER_VALUE = re.compile(
    r"[\"']?[ \t]*:[ \t]*[\"']?(?P<s>(?i:basic|bearer|token|api-token)[ \t]+)?"
    r"(?P<v>[A-Za-z0-9_~+/.-]{8,}={0,2})"
)
_HEADER_NAMES = frozenset(
    {
        "authorization",
        "x-api-key",
        "api-key",
        "apikey",
        "api-token",
        "auth-token",
        "token",
        "private-token",
        "x-auth-token",
    }
)
_XML_VALUE = re.compile(r"\"[ \t]+value=\"(?P<v>[^\"]+)\"")
_COMPARED = re.compile(r"(?P<q>[\"'])(?P<v>[^\"'\n]{6,200})(?P=q)[ \t]*[!=]==?[ \t]*$")
_IBM_IAM_NAME = re.compile(r"(?i)(?:ibm|iam|cloud).*(?:key|pwd|password|pass|token)$")
_IBM_COS_NAME = re.compile(r"(?i)secret[_-]?(?:access[_-]?)?key$")
_CLOUDANT_NAME = re.compile(
    r"(?i)^[-\"']*(?:cloudant|clou|cl)[_-]?(?:api[_-]?)?(?:key|pwd|pw|password|pass|token)$"
)
_SOFTLAYER_NAME = re.compile(
    r"(?i)(?:softlayer|^[-\"']*sl)[_-]?(?:api[_-]?)?(?:key|pwd|password|pass|token)$"
)
_AWS_NAME = re.compile(r"(?i)aws.*(?:secret|key|token)")
_SOURCEGRAPH_VALUE = re.compile(r"(?:sgp_(?:[a-fA-F0-9]{16}_|local_)?)?[a-fA-F0-9]{40}")
_SUMO_NAME = re.compile(r"(?i)sumo.*(?:id|key)$")


def _check_header(scheme: str, value: str) -> bool:
    if scheme.strip().lower() == "basic":
        try:
            decoded = base64.b64decode(value + "=" * (-len(value) % 4)).decode("utf-8", "replace")
        except (ValueError, binascii.Error):
            return False
        return ":" in decoded and not decoded.startswith("{")
    if _placeholder(value) or _TEMPLATE.search(value):
        return False
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


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


def _check_high_entropy(value: str, text: str, start: int) -> bool:
    if _PROVIDER_PREFIX.match(value) or _UUID.search(value) or _placeholder(value):
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
    return not (_placeholder(value) or _TEMPLATE.search(value) or _NOT_PASSPHRASE.search(value))


def _check_generic(kind: str | None, value: str, text: str, start: int, quoted: bool) -> bool:
    if kind is None:
        return False
    if not quoted:
        if _CODE.fullmatch(value) and not (_mixed(value) and any(c.isdigit() for c in value)):
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
        return _password_like(value)
    return _token_like(value, text, start) or (quoted and kind == "key!" and _secretish(value))


def _keyword(text: str, ns: int, ne: int) -> tuple[int, int, str, str] | None:
    """The secret assigned to (or compared with) the identifier ``text[ns:ne]``, if any."""
    name = text[ns:ne]
    n = len(text)
    if ns >= 5 and text[ns - 5 : ns] == 'key="':
        m = _XML_VALUE.match(text, ne)
        if m and _SECRET_NAME.search(name) and _password_like(m.group("v")):
            return m.start("v"), m.end("v"), PASSWORD, "xml-key-value"
        return None
    low = name.lower().strip("-\"'")
    if low in _HEADER_NAMES and (ns == 0 or text[ns - 1] in " \t\r\n\"'"):
        m = _HEADER_VALUE.match(text, ne)
        if m and _check_header(m.group("s") or "", m.group("v")):
            return m.start("v"), m.end("v"), KEY, "auth-header"
    m = _ASSIGN_VALUE.match(text, ne)
    if m is not None:
        quoted = m.group("q") is not None
        vs, ve = m.span("qv") if quoted else m.span("uv")
        value = text[vs:ve]
        if _IBM_IAM_NAME.search(name) and re.fullmatch(r"[A-Za-z0-9_-]{44}", value):
            return vs, ve, KEY, "ibm-cloud-iam"
        if _IBM_COS_NAME.search(name) and re.fullmatch(r"[a-f0-9]{48}", value):
            return vs, ve, KEY, "ibm-cos-hmac"
        if _CLOUDANT_NAME.search(name) and re.fullmatch(r"[0-9a-f]{64}|[a-z]{24}", value):
            return vs, ve, KEY, "cloudant"
        if _SOFTLAYER_NAME.search(name) and re.fullmatch(r"[A-Za-z0-9]{64}", value):
            return vs, ve, KEY, "softlayer"
        if (
            _AWS_NAME.search(name)
            and re.fullmatch(r"[A-Za-z0-9/+]{40}", value)
            and not _placeholder_chars(value)
        ):
            return vs, ve, KEY, "aws-secret-key"
        if "sourcegraph" in name.lower() and _SOURCEGRAPH_VALUE.fullmatch(value):
            return vs, ve, KEY, "sourcegraph-token"
        if _SUMO_NAME.search(name) and re.fullmatch(r"su[A-Za-z0-9]{12}|[A-Za-z0-9]{64}", value):
            if not _placeholder_chars(value) and _mixed(value):
                return vs, ve, KEY, "sumologic-key"
        op = m.group("op").strip()
        name_quoted = ns > 0 and ne < n and text[ns - 1] in "\"'" and text[ne] == text[ns - 1]
        if op and (op != "," or (name_quoted and quoted)):
            kind = _secret_name_kind(name)
            if _check_generic(kind, value, text, vs, quoted):
                return vs, ve, (PASSWORD if kind == "password" else KEY), "assignment"
    c = _COMPARED.search(text, max(0, ns - 250), ns)
    if c is not None:
        kind = _secret_name_kind(name)
        if _check_generic(kind, c.group("v"), text, c.start("v"), True):
            return c.start("v"), c.end("v"), (PASSWORD if kind == "password" else KEY), "compared"
    return None


_SECRET_NAME = re.compile(r"(?i)password|passwd|secret|token|apikey|api_key|credential")


_K8S_SECRET = re.compile(r"(?m)^[ \t]*kind:[ \t]*[\"']?[Ss]ecret[\"']?[ \t]*$")
_K8S_DATA = re.compile(r"(?m)^(?P<ind>[ \t]*)(?:data|stringData):[ \t]*$")
_K8S_ENTRY = re.compile(
    r"(?P<ind>[ \t]+)[\"']?[\w.-]+[\"']?:[ \t]*(?:(?P<block>[|>][-+]?)[ \t]*\n[ \t]+)?"
    r"(?P<v>[A-Za-z0-9+/=_-]{8,})[ \t]*$",
    re.M,
)


def _kubernetes_secrets(text: str) -> list[tuple[int, int, int, str, str]]:
    """Values under ``data:`` of a Kubernetes ``kind: Secret`` manifest: base64 of the secret itself."""
    found = []
    for d in _K8S_DATA.finditer(text):
        outer = len(d.group("ind").expandtabs())
        pos = d.end() + 1
        while pos < len(text):
            m = _K8S_ENTRY.match(text, pos)
            line_end = text.find("\n", pos)
            line_end = len(text) if line_end < 0 else line_end
            line = text[pos:line_end]
            if line.strip() and len(line) - len(line.lstrip()) <= outer:
                break  # the block ended
            if m is not None:
                raw = _b64json(m.group("v").replace("+", "-").replace("/", "_"))
                if len(raw.rstrip(b"\n")) >= 6 and not _placeholder_chars(m.group("v")):
                    found.append((m.start("v"), 0, m.end("v"), KEY, "kubernetes-secret"))
                line_end = m.end()
            pos = line_end + 1
    return found


def find_secrets(text: str) -> list[Entity]:
    """KEY and PASSWORD spans of ``text`` (the value only), sorted and non-overlapping."""
    found: list[tuple[int, int, int, str, str]] = []  # start, priority, end, label, detail
    n = len(text)
    for hit, hit_end, index in _PROVIDER_SCANNER.scan(text):
        if index in _QUOTE_INDEX:
            lit = _QUOTE_INDEX[index]
            m = _QUOTED_VALUE.match(text, hit + 1)
            if m and m.end() < n and text[m.end()] == lit and _check_high_entropy(m.group(), text, m.start()):
                found.append((m.start(), 2, m.end(), KEY, "high-entropy"))
            continue
        lit = text[hit:hit_end]
        if index > len(_QUOTES):
            m = _CURL_USER.match(text, hit)
            if m is None:
                continue
            vs, ve = m.span("v") if m.group("v") else m.span("u")
            value, user = text[vs:ve], m.group("u")
            if (user == value and m.group("v")) or len(value) < 5 or "<" in m.group(0):
                continue
            if not m.group("v") and not _password_like(user):
                continue
            if _TEMPLATE.search(user) or not _check_url_password(value, text, vs):
                continue
            found.append((vs, 1, ve, PASSWORD, "curl-user"))
            continue
        for rule in _BY_TRIGGER[lit]:
            start = hit
            if rule.back:
                low_limit = max(0, hit - rule.back_max - 1)
                while start > low_limit and text[start - 1] in rule.back:
                    start -= 1
            elif rule.back_max:
                start = max(0, hit - rule.back_max)
            m = (
                rule.rx.search(text, start, min(n, hit + 25000))
                if rule.back_max and not rule.back
                else (rule.rx.match(text, start))
            )
            if m is None or m.start() > hit:
                continue
            vs, ve = m.span("v") if "v" in rule.rx.groupindex else m.span()
            if rule.name in _BOUNDED and vs > 0 and text[vs - 1] in _WORD:
                continue
            if rule.check(text[vs:ve], text, vs):
                found.append((vs, 0, ve, PASSWORD if rule.name in _PASSWORD_RULES else KEY, rule.name))
                break
    if "kind:" in text and _K8S_SECRET.search(text):
        found.extend(_kubernetes_secrets(text))
    done = -1
    for ns, ne, _index in _WORD_SCANNER.scan(text):
        if ns < done:
            continue
        while ns > 0 and text[ns - 1] in _IDENT:
            ns -= 1
        while ne < n and text[ne] in _IDENT:
            ne += 1
        done = ne
        hit = _keyword(text, ns, ne)
        if hit is not None:
            found.append((hit[0], 1, hit[1], hit[2], hit[3]))
    found.sort()
    out: list[Entity] = []
    last_end = -1
    for start, _prio, end, label, detail in found:
        if start >= last_end and end > start:
            out.append(Entity(start, end, label, detail))
            last_end = end
    return out
