"""Find PII and secrets in a text, and redact them.

``scan`` runs the detectors (emails, IP addresses, keys and passwords; each one compiled expression
run once over the whole text) and resolves overlaps by priority: a key or password wins over an
email or address it overlaps (``postgres://user:secret@db.example.com`` is a password, not an
email).

``redact`` replaces each entity the policy redacts with a placeholder (``<EMAIL>``) or a synthetic
value in BigCode's style: an email becomes an address at example.com, an IP address a private
address of the same family, a key a random string of the same length and alphabet. The same value
gets the same replacement within a file. Replacements are derived from a keyed hash whose key is a
digest of the original file, so they are deterministic (the same input gives the same dataset on
any executor) but cannot be used to test guesses of the original value from the redacted file.
"""

from __future__ import annotations

import hashlib
import hmac
import string
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING

from stackwright.curate.pii.entities import EMAIL, IP_ADDRESS, KEY, NAME, PASSWORD, USERNAME, Entity
from stackwright.curate.pii.network import REDACTED_SCOPES, find_emails, find_ips

if TYPE_CHECKING:  # the settings (pydantic) are loaded when given or needed: a tenth of a second of start-up
    from stackwright.config import PiiConfig

_PRIORITY = {KEY: 0, PASSWORD: 1, EMAIL: 2, IP_ADDRESS: 3, NAME: 4, USERNAME: 5}


# More detectors (the NER model): a factory of the configuration that returns a function of a batch of
# texts, giving the entities of each; registered under the name ``PiiConfig.detectors`` lists.
Detector = Callable[[Sequence[str]], list[list[Entity]]]
DETECTORS: dict[str, Callable[[PiiConfig], Detector]] = {}  # name -> factory


Factory = Callable[["PiiConfig"], Detector]


def register_detector(name: str) -> Callable[[Factory], Factory]:
    def deco(factory: Factory) -> Factory:
        DETECTORS[name] = factory
        return factory

    return deco


@register_detector("ner")
def _ner(config: PiiConfig) -> Detector:
    """The NER model of ``ner_model``, adding the classes of ``ner_labels`` (patterns win on formats they
    know: an NER span that overlaps a pattern entity is dropped)."""
    from stackwright.curate.pii.ner import load_ner

    if config.ner_model is None:
        raise ValueError("the ner detector needs a model: set [build.pii] ner_model "
                         "(stackwright pii train-ner)")
    path = config.ner_model
    if not (path / "config.json").is_file():
        raise ValueError(f"{path}: not a NER model folder (train one with stackwright pii train-ner)")
    labels = tuple(config.ner_labels)
    return lambda texts: load_ner(path, batch_size=config.ner_batch_size, labels=labels).predict(texts)


def extra_detectors(config: PiiConfig) -> list[Detector]:
    """The registered detectors the configuration asks for (a clear error for unknown names)."""
    unknown = [name for name in config.detectors if name not in DETECTORS]
    if unknown:
        known = ", ".join(sorted(DETECTORS)) or "none registered"
        raise ValueError(f"unknown PII detector(s) {', '.join(unknown)}; available: {known}")
    return [DETECTORS[name](config) for name in config.detectors]


def _default_config() -> PiiConfig:
    from stackwright.config import PiiConfig

    return PiiConfig()


def scan(text: str, config: PiiConfig | None = None) -> list[Entity]:
    """Every entity in ``text``, sorted by position, without overlaps."""
    return scan_many([text], config)[0]


def scan_many(texts: Sequence[str], config: PiiConfig | None = None) -> list[list[Entity]]:
    """:func:`scan` of each text; the extra detectors run once over the whole batch."""
    from stackwright.curate.pii.secrets import find_secrets

    # No settings: the defaults (PiiConfig's redacted IP scopes, no extra detector), without loading them.
    scopes = REDACTED_SCOPES if config is None else frozenset(config.ip_redact_scopes)
    found = [resolve_overlaps([*find_secrets(t), *find_emails(t), *find_ips(t, scopes)]) for t in texts]
    for detector in extra_detectors(config) if config is not None and config.detectors else ():
        for i, extra in enumerate(detector(texts)):
            kept = [e for e in resolve_overlaps(extra)
                    if all(e.end <= c.start or e.start >= c.end for c in found[i])]
            if kept:
                found[i] = sorted([*found[i], *kept], key=lambda e: e.start)
    return found


def resolve_overlaps(entities: Iterable[Entity]) -> list[Entity]:
    """Keep the higher-priority (then longer) entity where two overlap."""
    chosen: list[Entity] = []
    for e in sorted(entities, key=lambda e: (_PRIORITY.get(e.label, 9), -(e.end - e.start), e.start)):
        if all(e.end <= c.start or e.start >= c.end for c in chosen):
            chosen.append(e)
    return sorted(chosen, key=lambda e: e.start)


def _mode(config: PiiConfig, label: str) -> str:
    return {EMAIL: config.email, IP_ADDRESS: config.ip_address, KEY: config.key,
            PASSWORD: config.password, NAME: config.name, USERNAME: config.username}.get(label, "placeholder")


def redact(text: str, entities: list[Entity], config: PiiConfig | None = None) -> tuple[str, Counter[str]]:
    """The text with the entities the policy redacts replaced; counts of replaced entities by class."""
    config = config or _default_config()
    key = hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=32).digest()
    parts: list[str] = []
    counts: Counter[str] = Counter()
    memo: dict[tuple[str, str], str] = {}
    last = 0
    for e in entities:
        mode = _mode(config, e.label)
        if not e.redact or mode == "keep":
            continue
        value = text[e.start:e.end]
        replacement = memo.get((e.label, value))
        if replacement is None:
            replacement = f"<{e.label}>" if mode == "placeholder" else _synthetic(e.label, value, key)
            memo[(e.label, value)] = replacement
        parts.append(text[last:e.start])
        parts.append(replacement)
        last = e.end
        counts[e.label] += 1
    parts.append(text[last:])
    return "".join(parts), counts


def _stream(key: bytes, label: str, value: str) -> bytes:
    return hmac.new(key, f"{label}\0{value}".encode("utf-8", "surrogatepass"), hashlib.sha256).digest()


_ALNUM = string.ascii_letters + string.digits
_HEX = "0123456789abcdef"


def _synthetic(label: str, value: str, key: bytes) -> str:
    digest = _stream(key, label, value)
    if label == EMAIL:
        local = "".join(_ALNUM[b % 36].lower() for b in digest[:8])
        return f"{local}@example.com"
    if label == IP_ADDRESS:
        if ":" in value.split("/")[0].split("%")[0]:
            groups = [f"{int.from_bytes(digest[i:i + 2], 'big'):x}" for i in range(0, 8, 2)]
            return "fd00:" + ":".join(groups) + "::1"
        return f"10.{digest[0]}.{digest[1]}.{max(1, digest[2] % 255)}"
    # Keys and passwords: the same length and alphabet (hex stays hex), so code and configs keep shape.
    alphabet = _HEX if value and all(c in "0123456789abcdefABCDEF" for c in value) else _ALNUM
    out = []
    block = digest
    counter = 0
    while len(out) < max(len(value), 8):
        for b in block:
            out.append(alphabet[b % len(alphabet)])
        counter += 1
        block = hashlib.sha256(digest + counter.to_bytes(4, "big")).digest()
    return "".join(out[:len(value) or 8])
