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
    r"(?P<zone>%[\w.]+)?(?P<prefix>/\d{1,3})?(?![\w:])"
    r"|(?<![\w.])(?=\d{1,3}\.\d)(?P<v4>" + _IPV4 + r")(?P<prefix4>/\d{1,2})?(?![\w]|\.\d+\.)"
)
_VERSION_WORDS = re.compile(r"(?i)\b(?:version|ver|v|release|rev)\b")
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


def find_emails(text: str) -> list[Entity]:
    """What ``_EMAIL.finditer`` finds, tried only at each ``@``: a match must start where the run of
    local-part characters before the ``@`` starts (its look-behind refuses any other start)."""
    out: list[Entity] = []
    at = text.find("@")
    cursor = 0
    while at >= 0:
        start = at
        while start > cursor and at - start <= 64 and text[start - 1] in _LOCAL_CHARS:
            start -= 1
        if at - start <= 64 and start < at:
            m = _EMAIL.match(text, start)
            if m is not None:
                out.append(Entity(m.start(), m.end(), EMAIL, "email"))
                cursor = m.end()
        at = text.find("@", max(at + 1, cursor))
    return out


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
    if "." not in text and ":" not in text:
        return []
    out: list[Entity] = []
    for m in _ip_matches(text):
        v6 = m.group("v6")
        value = v6 if v6 is not None else m.group("v4")
        if not any(c.isdigit() for c in value) and value != "::":
            continue  # BigCode: an address has a digit ("::" aside, the unspecified address)
        if v6 is not None and value.endswith(":") and not value.endswith("::"):
            value = value[:-1]  # "fe80::1:" at the end of a sentence
        scope = ip_scope(value)
        if scope is None:
            continue
        if v6 is None and (_DATE_LIKE.match(value) or _looks_like_version(text, m.start(), m.end())):
            continue
        end = m.start() + len(value) + len(m.group("zone") or "") + len(m.group("prefix") or "") \
            if v6 is not None else m.end()
        out.append(Entity(m.start(), end, IP_ADDRESS, scope, scope in redact_scopes))
    return out


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
