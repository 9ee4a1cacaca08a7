"""Email addresses and IP addresses, with BigCode's filters and a scope for every address.

Emails: the BigScience/BigCode expression's shape (local part, ``@``, dotted domain with a
top-level domain of letters), found in one pass.

IP addresses: IPv4 and IPv6 candidates (with an optional ``/prefix`` or ``%zone``) from one
expression, then BigCode's filters: a candidate must contain a digit, must not look like a date or a
version string (``1.2.3.4`` next to "version"/"v" words, unless "dns" or "server" is near), and must
parse (``ipaddress``). Each address gets a scope: global, private, loopback, link_local,
documentation, unspecified, multicast, reserved, broadcast, dns (a popular public resolver).
Only global addresses are redacted by default.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterator

from stackwright.curate.pii.entities import EMAIL, IP_ADDRESS, Entity
from stackwright.curate.pii.triggers import Trigger, TriggerScanner

_EMAIL = re.compile(
    r"(?<![\w.%+\-])[A-Za-z0-9](?:[A-Za-z0-9._%+\-]{0,62}[A-Za-z0-9_%+\-])?"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,24}(?![\w\-])"
)
_IPV4 = r"(?:\d{1,3}\.){3}\d{1,3}"
_HEX = r"[0-9A-Fa-f]{0,4}"
# Permissive shapes: anything that might be an address is parsed by ``ipaddress`` afterwards.
_IP = re.compile(
    r"(?<![\w:.])(?=[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:)"  # cheap rejection at most positions
    r"(?P<v6>(?:" + _HEX + r":){2,6}" + _IPV4 + r"|(?:" + _HEX + r":){2,7}" + _HEX + r")"
    r"(?P<zone>%[\w.]+)?(?P<prefix>/\d{1,3})?(?![\w:]|\.\d)"
    r"|(?<![\w.])(?=\d{1,3}\.\d)(?P<v4>" + _IPV4 + r")(?P<prefix4>/\d{1,2})?(?![\w]|\.\d)"
)
# BigCode's version words, and the other names of dotted numbers: OIDs, changelog and section numbers.
_VERSION_WORDS = re.compile(r"(?i)version|\b(?:ver|v|release|rev|oid|changes in|section|chapter)\b"
                            r"|objectidentifier|§")
_SERVER_WORDS = re.compile(r"(?i)dns|server")
_DATE_LIKE = re.compile(r"^\d{1,4}[.\-/]\d{1,2}[.\-/]\d{1,4}$")
# Popular public resolvers: detected, not redacted (BigCode's list and the usual suspects).
PUBLIC_DNS = frozenset({
    "8.8.8.8", "8.8.4.4", "1.1.1.1", "1.0.0.1", "9.9.9.9", "149.112.112.112", "208.67.222.222",
    "208.67.220.220", "76.76.19.19", "64.6.64.6", "64.6.65.6", "2001:4860:4860::8888",
    "2001:4860:4860::8844", "2606:4700:4700::1111", "2606:4700:4700::1001",
})
REDACTED_SCOPES = frozenset({"global"})


_LOCAL_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789._%+-")


def _email_candidates(text: str) -> list[tuple[int, int]]:
    """The spans ``_EMAIL.finditer`` finds, tried only at each ``@``: a match must start where the run of
    local-part characters before the ``@`` starts (its look-behind refuses any other start)."""
    out: list[tuple[int, int]] = []
    at = text.find("@")
    cursor = 0
    while at >= 0:
        start = at
        while start > cursor and at - start <= 64 and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        if at - start <= 64 and start < at:
            m = _EMAIL.match(text, start)
            if m is not None:
                out.append(m.span())
                cursor = m.end()
        at = text.find("@", max(at + 1, cursor))
    return out


def find_emails(text: str) -> list[Entity]:
    """Email addresses, plain and obfuscated (``jane at example dot org``, ``jane%40example.org``), less
    what has an address's shape but is not one (:func:`not_an_address`)."""
    spans = [s for s in _email_candidates(text) if not not_an_address(text, *s)]
    obfuscated = obfuscated_emails(text)
    if obfuscated:
        spans = sorted([*spans, *(o for o in obfuscated
                                  if all(o[1] <= s[0] or o[0] >= s[1] for s in spans))])
    return [Entity(start, end, EMAIL, "email") for start, end in spans]


# Headers and fields whose values are message ids, not mailboxes: ``Message-ID: <uuid@host>``.
_ID_FIELD = re.compile(r"(?i)(?<![A-Za-z])(?:(?:resent-)?message[-_ ]?id|content[-_ ]?id|msg[-_ ]?id"
                       r"|in[-_]reply[-_]to|references)")
# What may stand between the field name and the id: separators, quotes, string escapes and
# concatenation, and other ids of the same field (``References: <a@b> <c@d>``).
_ID_GAP = re.compile(r"""(?:[\s:="'+,;\\]|\\[rnt]|<[^<>\s]*>)*<?\Z""")
# A URL's authority up to the user info: ``scheme://user:`` (then the password) or ``scheme://``.
_USERINFO = re.compile(r"[A-Za-z][\w+.\-]*://(?:[^\s/@:]*:)?\Z")
_SCP_PATH = re.compile(r":[\w~.\-]*/")  # git@github.com:owner/repo.git: an SSH address, not a mailbox
_MACHINE_ID = re.compile(r"[0-9A-Fa-f._\-]{16,}")


def not_an_address(text: str, start: int, end: int) -> bool:
    """Whether an email-shaped span is something else: a message id (after a ``Message-ID`` or
    ``Content-ID`` field, or a local part of 16+ hex digits such as a UUID), the user info of a URL
    (``https://user:secret@host``: a credential) or of an scp-style SSH address
    (``git@github.com:owner/repo``), or a masked value (``xxxx@xxxx.com``)."""
    value = text[start:end]
    local = value[:value.index("@")]
    before = text[max(0, start - 200):start]
    if _USERINFO.search(before[-120:]) or _SCP_PATH.match(text, end):
        return True
    if _MACHINE_ID.fullmatch(local) and sum(c.isdigit() for c in local) >= 4:
        return True
    letters = [c for c in value[:value.rindex(".")] if c.isalnum()]  # the top-level domain aside
    if sum(c in "xX" for c in letters) >= 0.8 * len(letters):
        return True
    ends = [m.end() for m in _ID_FIELD.finditer(before)]
    return bool(ends) and _ID_GAP.match(before, ends[-1]) is not None


_DOT = r"(?:\s*(?:\[dot\]|\(dot\)|\{dot\}|<dot>)\s*| dot | DOT |\.)"
_LOCAL = r"(?<![\w.+\-])[A-Za-z0-9][\w.+\-]{0,63}"
_TLD = r"[A-Za-z]{2,24}(?![\w\-])"
# Each form: its at-sign markers, the local part that ends where a marker starts, the domain that
# starts where it ends.
_OBFUSCATED = [
    # local [at] domain.tld, local (at) domain (dot) tld, ...
    (("[at]", "(at)", "{at}", "<at>", "[AT]", "(AT)", "{AT}", "<AT>"), re.compile(_LOCAL + r"\s*\Z"),
     re.compile(r"\s*(?:[A-Za-z0-9][A-Za-z0-9\-]*" + _DOT + r")+" + _TLD, re.IGNORECASE)),
    # local at domain dot tld (the spelled-out dots keep "look at example.com" out)
    ((" at ", " AT "), re.compile(_LOCAL + r"(?:(?: dot | DOT )[\w+\-]+)*\Z"),
     re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9\-]*(?: dot | DOT ))+" + _TLD)),
    # percent-encoded or HTML-entity at signs
    (("%40", "&#64;", "&#x40;", "&#X40;"), re.compile(_LOCAL + r"\Z"),
     re.compile(r"(?:[A-Za-z0-9][A-Za-z0-9\-]*\.)+" + _TLD)),
]


# One pass finds every form's marker: (?i) [at] (at) {at} <at>, " dot ", %40, &#64;, &#x40;.
_MARKS = TriggerScanner([Trigger(r"[\[({<]at[\])}>]"), Trigger(r" dot "), Trigger(r"%40|&#x?(?:64|40);")],
                        caseless=True)


def obfuscated_emails(text: str) -> list[tuple[int, int]]:
    """Spans of addresses written around spam filters or encoded. One trigger pass finds the markers;
    the domain is matched after an at-sign marker and the local part before it."""
    if "at" not in text and "AT" not in text and "%40" not in text and "&#" not in text:
        return []
    hits = _MARKS.scan(text)
    if not hits:
        return []
    spans: list[tuple[int, int]] = []
    (_, local1, domain1), (_, local2, domain2), (_, local3, domain3) = _OBFUSCATED
    for start, end, index in hits:
        if index == 0:
            _join(text, start, end, local1, domain1, spans)
        elif index == 2:
            _join(text, start, end, local3, domain3, spans)
    if any(index == 1 for _s, _e, index in hits):  # "local at domain dot tld"
        for marker in (" at ", " AT "):
            at = text.find(marker)
            while at >= 0:
                _join(text, at, at + len(marker), local2, domain2, spans)
                at = text.find(marker, at + len(marker))
    return sorted(set(spans))


def _join(text: str, start: int, end: int, local: re.Pattern[str], domain: re.Pattern[str],
          spans: list[tuple[int, int]]) -> None:
    tail = domain.match(text, end)
    head = local.search(text, max(0, start - 200), start) if tail is not None else None
    if head is not None and tail is not None:
        spans.append((head.start(), tail.end()))


# Where an address can start: the look-aheads of the two branches of _IP (for Hyperscan's pass).
_IP_STARTS = TriggerScanner([Trigger(r"[0-9A-Fa-f]{0,4}:[0-9A-Fa-f]{0,4}:"), Trigger(r"\d{1,3}\.\d")])


def _ip_matches(text: str) -> Iterator[re.Match[str]]:
    """``_IP.finditer(text)``, with Hyperscan tried only where an address can start: every match starts
    where a branch's look-ahead holds and no word character, ``:`` or ``.`` precedes, that is at the
    leftmost start of a trigger match."""
    starts = _IP_STARTS.starts(text)
    if starts is None:
        yield from _IP.finditer(text)
        return
    cursor = 0
    for start in starts:
        if start < cursor:
            continue
        m = _IP.match(text, start)
        if m is not None:
            yield m
            cursor = m.end()


def find_ips(text: str, redact_scopes: frozenset[str] = REDACTED_SCOPES) -> list[Entity]:
    """IP addresses: the address alone (a CIDR's ``/prefix`` and an IPv6 ``%zone`` are not part of the
    span), less netmasks, ``0.x.y.z`` version-like numbers, dates and BigCode's version strings."""
    if "." not in text and ":" not in text:
        return []
    out: list[Entity] = []
    for m in _ip_matches(text):
        v6 = m.group("v6")
        value = v6 if v6 is not None else m.group("v4")
        if value == "::":
            if not _bare_unspecified(text, m.start()):
                continue  # reStructuredText's "::", C++'s "::", ...
        elif not any(c.isdigit() for c in value) or (v6 is not None and _slice_like(value)):
            continue  # BigCode: an address has a digit ("::" aside, the unspecified address)
        if v6 is not None and value.endswith(":") and not value.endswith("::"):
            value = value[:-1]  # "fe80::1:" at the end of a sentence
        scope = ip_scope(value)
        if scope is None or _netmask(value):
            continue
        if v6 is None and (_DATE_LIKE.match(value) or (value.startswith("0.") and value != "0.0.0.0")
                           or _REQUIREMENT.search(text, max(0, m.start() - 3), m.start()) is not None
                           or _looks_like_version(text, m.start(), m.end())):
            continue  # 0.0.0.0/8 holds no address a program names, but "0.8.10.3" is a version
        out.append(Entity(m.start(), m.start() + len(value), IP_ADDRESS, scope, scope in redact_scopes))
    return out


# Words that make a bare "::" read as an address on its line ("bind to ::", host="::").
_ADDRESS_WORDS = re.compile(r"(?i)(?<![a-z])(?:hosts?|addr|address(?:es)?|bind|listen(?:ing)?|ip|ipv6|inet6?"
                            r"|server|socket|interfaces?|unspecified)(?![a-z_])")
_REQUIREMENT = re.compile(r"(?:[<>=~!]=|[<>^~])\s*\Z")  # "pkg>=3.10.0.0", "^1.2.3.4": a version
_SLICE_LIKE = re.compile(r"\d{0,3}::\d{1,3}|\d{1,3}::")


def _bare_unspecified(text: str, start: int) -> bool:
    """Whether a bare ``::`` is the unspecified address: the start of a prefix (``::/0``), a bracketed
    host (``[::]``), or quoted or standing alone on a line that speaks of addresses (``bind("::", 80)``,
    ``listen on :: or 0.0.0.0``). Not a slice (``a[::2]``), a separator (``Language :: Python``,
    ``s.split("::")``, C++'s ``std::``) or reStructuredText's ``text::``."""
    before = text[start - 1] if start else ""
    after = text[start + 2:start + 3]
    if after == "/" or (before == "[" and after == "]"):
        return True
    line = text[text.rfind("\n", 0, start) + 1:start + 60].split("\n", 1)[0]
    if not _ADDRESS_WORDS.search(line):
        return False
    quoted = before in ("\"", "'", "`") and after == before
    alone = before in ("", " ", "\t", "\n", "=") and after in ("", " ", "\t", ",", ";", ")")
    return quoted or alone


def _slice_like(value: str) -> bool:
    """``1::2``, ``::3``, ``0::`` : a Python or NumPy slice has the shape of a compressed IPv6 address of
    one or two short decimal groups; the loopback ``::1`` is kept."""
    return value != "::1" and _SLICE_LIKE.fullmatch(value) is not None


def _netmask(value: str) -> bool:
    """A netmask: ones then zeros, starting with a full first group (``255.255.255.0``,
    ``ffff:ffff:ffff:ffff::``); the broadcast and all-ones addresses are addresses."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return False
    bits = address.max_prefixlen
    n = int(address)
    if n == (1 << bits) - 1 or n >> (bits - 8) != 0xFF:
        return False
    inverted = ~n & ((1 << bits) - 1)
    return inverted & (inverted + 1) == 0


def _looks_like_version(text: str, start: int, end: int) -> bool:
    """BigCode's rule: an x.y.z.w with a version word just before it is a version, unless "dns" or
    "server" is within 100 characters."""
    before = text[max(0, start - 20):start]
    if not _VERSION_WORDS.search(before):
        return False
    around = text[max(0, start - 100):end + 100]
    return not _SERVER_WORDS.search(around)


def ip_scope(value: str) -> str | None:
    """The scope of an address, or None when it does not parse."""
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        return None
    if str(address) in PUBLIC_DNS or value in PUBLIC_DNS:
        return "dns"
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if address.is_unspecified:
        return "unspecified"
    if address.is_loopback:
        return "loopback"
    if address.is_link_local:
        return "link_local"
    if isinstance(address, ipaddress.IPv4Address) and address == ipaddress.IPv4Address("255.255.255.255"):
        return "broadcast"
    if address.is_multicast:
        return "multicast"
    if _documentation(address):
        return "documentation"
    if address.is_private:
        return "private"
    if address.is_reserved:
        return "reserved"
    if address.is_global:
        return "global"
    return "reserved"


_DOC_NETS = [ipaddress.ip_network(n) for n in ("192.0.2.0/24", "198.51.100.0/24", "203.0.113.0/24",
                                                "2001:db8::/32")]


def _documentation(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return any(address.version == n.version and address in n for n in _DOC_NETS)
