"""Keys and passwords in source text, by regular expressions (BigCode's detect-secrets set, made fast).

Two scans over the whole text, each a single compiled alternation of literals (so ``re`` skips to the
candidates in C): one for provider prefixes (``ghp_``, ``xox``, ``AKIA``, ``eyJ``, ``://``, quotes...;
the formats are in ``secret_formats``) and one, over an ASCII-lowercased copy, for secret-like words
(``pass``, ``secret``, ``token``, ``key``, ``auth``...). Each candidate is then matched by its rule's
anchored regex and checked by a small validator (``secret_values``): placeholders, templates,
environment lookups, UUIDs, hashes next to ``sha``/``md5``/..., id-like and sequential strings, Shannon
entropy as in detect-secrets (base64 > 4.5, hex > 3.0 bits). Spans cover the secret VALUE only, never
the variable name; ``detail`` names the rule that fired.
"""

from __future__ import annotations

import base64
import binascii
import re

from stackwright.curate.pii.entities import KEY, PASSWORD, Entity
from stackwright.curate.pii.secret_formats import (
    BOUNDED,
    BY_TRIGGER,
    CURL_INDEX,
    PASSWORD_RULES,
    PROVIDER_SCANNER,
    QUOTE_INDEX,
    WORD_SCANNER,
    check_url_password,
)
from stackwright.curate.pii.secret_structures import joined_jwt, jwk_private_members, jwk_public_member
from stackwright.curate.pii.secret_values import (
    IDENT,
    TEMPLATE,
    WORD,
    b64json,
    check_generic,
    check_high_entropy,
    mixed,
    password_like,
    placeholder,
    placeholder_chars,
    secret_name_kind,
    shannon_entropy,
)

__all__ = ["find_secrets", "shannon_entropy"]

_QUOTED_VALUE = re.compile(r"[A-Za-z0-9+/=_.-]{20,1000}")
_CURL_USER = re.compile(r"(?:-u|--user)[ \t]+[\"']?(?P<u>[^\s\"':]*)[\"']?:[\"']?(?P<v>[^\s\"']*)")
_ASSIGN_VALUE = re.compile(
    r"(?:\[\w*\])?[\"'`]?[ \t]*(?P<op>[:=!]{1,4}>?|,|[ \t](?=[ \t]*[\"'`A-Za-z0-9]))"
    r"(?:(?<=,)[ \t]*\r?\n)?[ \t]*@?"  # a call's next argument may be on the next line
    r"(?:(?P<q>[\"'`])(?P<qv>[^\"'`\n]{1,300})(?P=q)|(?P<uv>[^\s\"'`;,)]{1,300}))"
)
_HEADER_VALUE = re.compile(
    r"[\"']?[ \t]*:[ \t]*[\"']?(?P<s>(?i:basic|bearer|token|api-token)[ \t]+)?"
    r"(?P<v>[A-Za-z0-9_~+/.-]{8,}={0,2})"
)
_HEADER_NAMES = frozenset(
    {
        "authorization",
        "proxy-authorization",
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
    if placeholder(value) or TEMPLATE.search(value):
        return False
    return any(c.isdigit() for c in value) and any(c.isalpha() for c in value)


def _keyword(text: str, ns: int, ne: int) -> tuple[int, int, str, str] | None:
    """The secret assigned to (or compared with) the identifier ``text[ns:ne]``, if any."""
    name = text[ns:ne]
    n = len(text)
    if ns >= 5 and text[ns - 5 : ns] == 'key="':
        m = _XML_VALUE.match(text, ne)
        value = m.group("v") if m else ""
        if m and _SECRET_NAME.search(name) and password_like(value):
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
            and not placeholder_chars(value)
        ):
            return vs, ve, KEY, "aws-secret-key"
        if "sourcegraph" in name.lower() and _SOURCEGRAPH_VALUE.fullmatch(value):
            return vs, ve, KEY, "sourcegraph-token"
        if _SUMO_NAME.search(name) and re.fullmatch(r"su[A-Za-z0-9]{12}|[A-Za-z0-9]{64}", value):
            if not placeholder_chars(value) and mixed(value):
                return vs, ve, KEY, "sumologic-key"
        op = m.group("op").strip()
        name_quoted = ns > 0 and ne < n and text[ns - 1] in "\"'" and text[ne] == text[ns - 1]
        if op and (op != "," or (name_quoted and quoted)):
            kind = secret_name_kind(name)
            if check_generic(kind, value, text, vs, quoted):
                return vs, ve, (PASSWORD if kind == "password" else KEY), "assignment"
    c = _COMPARED.search(text, max(0, ns - 250), ns)
    if c is not None:
        kind = secret_name_kind(name)
        if check_generic(kind, c.group("v"), text, c.start("v"), True):
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
                raw = b64json(m.group("v").replace("+", "-").replace("/", "_"))
                if len(raw.rstrip(b"\n")) >= 6 and not placeholder_chars(m.group("v")):
                    found.append((m.start("v"), 0, m.end("v"), KEY, "kubernetes-secret"))
                line_end = m.end()
            pos = line_end + 1
    return found


def find_secrets(text: str) -> list[Entity]:
    """KEY and PASSWORD spans of ``text`` (the value only), sorted and non-overlapping."""
    found: list[tuple[int, int, int, str, str]] = []  # start, priority, end, label, detail
    n = len(text)
    for hit, hit_end, index in PROVIDER_SCANNER.scan(text):
        if index in QUOTE_INDEX:
            lit = QUOTE_INDEX[index]
            m = _QUOTED_VALUE.match(text, hit + 1)
            if m and m.group().startswith("eyJ"):
                joined = joined_jwt(text, m.start())
                if joined is not None:
                    found.append((joined[0], 0, joined[1], KEY, "jwt"))
                    continue
            if m and m.end() < n and text[m.end()] == lit and check_high_entropy(m.group(), text, m.start()):
                if not jwk_public_member(text, m.start()):
                    found.append((m.start(), 2, m.end(), KEY, "high-entropy"))
            continue
        lit = text[hit:hit_end]
        if index in CURL_INDEX:
            m = _CURL_USER.match(text, hit)
            if m is None:
                continue
            vs, ve = m.span("v") if m.group("v") else m.span("u")
            value, user = text[vs:ve], m.group("u")
            if (user == value and m.group("v")) or len(value) < 5 or "<" in m.group(0):
                continue
            if not m.group("v") and not password_like(user):
                continue
            if TEMPLATE.search(user) or not check_url_password(value, text, vs):
                continue
            found.append((vs, 1, ve, PASSWORD, "curl-user"))
            continue
        for rule in BY_TRIGGER[lit]:
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
            if rule.name in BOUNDED and vs > 0 and text[vs - 1] in WORD:
                continue
            if rule.check(text[vs:ve], text, vs):
                found.append((vs, 0, ve, PASSWORD if rule.name in PASSWORD_RULES else KEY, rule.name))
                break
    found.extend((vs, 0, ve, KEY, "jwk-private-member") for vs, ve in jwk_private_members(text))
    if "kind:" in text and _K8S_SECRET.search(text):
        found.extend(_kubernetes_secrets(text))
    done = -1
    for ns, ne, _index in WORD_SCANNER.scan(text):
        if ns < done:
            continue
        while ns > 0 and text[ns - 1] in IDENT:
            ns -= 1
        while ne < n and text[ne] in IDENT:
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
