"""Provider key formats (``ghp_``, ``AKIA``, ``xox``, JWTs, PEM private keys...) and the trigger scanners.

Each rule is found from a literal trigger, then matched (anchored) at the trigger, or a few characters
before it when ``back`` names the characters a value may start with, and checked by a validator.
A rule's expression is compiled the first time one of its triggers is seen, so a process pays only for
the formats its texts come near.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from stackwright.curate.pii.secret_structures import jwt_header_ok, pem_body_ok
from stackwright.curate.pii.secret_values import (
    HEXCHARS,
    TEMPLATE,
    placeholder,
    placeholder_chars,
    shannon_entropy,
)
from stackwright.curate.pii.triggers import Trigger, TriggerScanner

# ----------------------------------------------------------------------------------------------------
# Provider rules: found from a literal trigger, then matched (anchored) at the trigger, or a few
# characters before it when ``back`` names the characters a value may start with.


class Rule:
    """A provider format: its expression (compiled on first use), where its value may start relative to
    the trigger, and its validator."""

    __slots__ = ("_rx", "back", "back_max", "check", "name", "pattern")

    def __init__(self, name: str, pattern: str, back: str, back_max: int,
                 check: Callable[[str, str, int], bool]) -> None:
        self.name = name
        self.pattern = pattern
        self.back = back  # characters to step back over from the trigger to the value's start
        self.back_max = back_max
        self.check = check
        self._rx: re.Pattern[str] | None = None

    @property
    def rx(self) -> re.Pattern[str]:
        if self._rx is None:
            self._rx = re.compile(self.pattern)
        return self._rx


def _default_check(value: str, text: str, start: int) -> bool:
    body = value.split("_", 1)[-1] if "_" in value[:12] else value
    return not placeholder_chars(body) and shannon_entropy(body) >= 3.0


def _always(value: str, text: str, start: int) -> bool:
    return True


def _check_private_key(value: str, text: str, start: int) -> bool:
    return pem_body_ok(value)


def _check_slack(value: str, text: str, start: int) -> bool:
    body = value.split("-", 1)[1]
    return len(body) >= 80 or (len(body) >= 24 and bool(re.match(r"(?:\d-)?\d{6,}-", body)))


def _check_artifactory(value: str, text: str, start: int) -> bool:
    if start > 0 and text[start - 1] not in " \t\r\n=:\"'":
        return False
    return not (value.isalpha() and sum(c.isupper() for c in value[2:]) >= 2)


def _check_jwt(value: str, text: str, start: int) -> bool:
    return jwt_header_ok(value)


def _check_aws(value: str, text: str, start: int) -> bool:
    """The format is strong enough alone, but for the placeholders: ``AKIAXXXXXXXX...``, and the
    documentation convention of AWS (every example key id in its docs and SDKs ends in ``EXAMPLE``)."""
    return "XXXX" not in value and not value.endswith("EXAMPLE")


def _check_octopus(value: str, text: str, start: int) -> bool:
    return any(c.isdigit() for c in value) and _default_check(value, text, start)


def check_url_password(value: str, text: str, start: int) -> bool:
    low = value.lower()
    return not (
        TEMPLATE.search(value)
        or low in {"password", "pass", "pwd", "secret"}
        or placeholder(value)
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
    ("mailchimp-key", ("-us",), r"[0-9a-f]{32}-us\d{1,2}(?![A-Za-z0-9_])", HEXCHARS, 32, _default_check),
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
        check_url_password,
    ),
]

# Rules whose value must not continue a word on its left.
BOUNDED = frozenset(
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
PASSWORD_RULES = frozenset({"url-password"})
BY_TRIGGER: dict[str, list[Rule]] = {}
for _name, _triggers, _pattern, _back, _back_max, _check in _P:
    _rule = Rule(_name, _pattern, _back, _back_max, _check)
    for _t in _triggers:
        BY_TRIGGER.setdefault(_t, []).append(_rule)

# Triggers of one or two characters (``M``, ``AC``, ``|``) would stop the scan at every capital letter or
# pipe of a text: they must be followed by the start of their format (checked in the same pass; the
# rule's own expression decides). Each names what all the rules of that trigger need.
_CONTEXT = {
    "M": "[A-Za-z0-9_-]{23}",  # discord-token
    "N": "[A-Za-z0-9_-]{23}",
    "O": "[A-Za-z0-9_-]{23}",
    "AC": "[a-f0-9]{32}",  # twilio-key
    "SK": "[a-f0-9]{32}",
    "AP": "[0-9A-F][a-zA-Z0-9]{8}",  # artifactory-key
    "|": "[A-Za-z0-9_-]{27}",  # facebook-app-token
}

# The two trigger passes (see triggers.py): provider literals, quotes before a long base64-ish value,
# curl's -u and the short literals with their context; secret-like words, ASCII case-insensitively.
_LITERALS = sorted((t for t in BY_TRIGGER if t not in _CONTEXT), key=len, reverse=True)
QUOTES = ('"', "'", "`")
_CURL = ("-u[ \t]", "--user[ \t]")
PROVIDER_SCANNER = TriggerScanner(
    [Trigger("|".join(re.escape(t) for t in _LITERALS))]
    + [Trigger(q, ahead="[A-Za-z0-9+/=_.-]{20}", consume=1) for q in QUOTES]
    + [Trigger(c) for c in _CURL]
    + [Trigger(re.escape(t), ahead=ahead, consume=len(t)) for t, ahead in _CONTEXT.items()]
)
QUOTE_INDEX = {1 + i: q for i, q in enumerate(QUOTES)}
CURL_INDEX = frozenset(range(1 + len(QUOTES), 1 + len(QUOTES) + len(_CURL)))
WORD_SCANNER = TriggerScanner(
    [Trigger("pass|pwd|secret|token|key|auth|credential|login|clou|sumo|access|sourcegraph")], caseless=True
)
