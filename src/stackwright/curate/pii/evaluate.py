"""Score PII detection the way BigCode scored StarPII: a prediction matches a reference entity of
the same label when they overlap by more than 80% of both spans; precision, recall, F1 per label.
IP spans are compared by their address part (a CIDR ``/prefix`` or IPv6 ``%zone`` is ignored)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from stackwright.config import PiiConfig
from stackwright.curate.pii.entities import EMAIL, IP_ADDRESS, KEY, NAME, PASSWORD, USERNAME, Entity
from stackwright.curate.pii.network import ip_scope as ip_scope_of
from stackwright.curate.pii.scan import scan_many
from stackwright.errors import StackwrightError

ALIASES = {"EMAIL_ADDRESS": EMAIL, "IP": IP_ADDRESS, "IPV4": IP_ADDRESS, "IPV6": IP_ADDRESS, "SECRET": KEY,
           "API_KEY": KEY, "PERSON": NAME, "USER": USERNAME}
SCORED = (EMAIL, IP_ADDRESS, KEY, PASSWORD, NAME, USERNAME)


def matches(a: tuple[int, int], b: tuple[int, int]) -> bool:
    overlap = max(0, min(a[1], b[1]) - max(a[0], b[0]))
    return overlap > 0.8 * (a[1] - a[0]) and overlap > 0.8 * (b[1] - b[0])


def _address_span(text: str, start: int, end: int) -> tuple[int, int]:
    """An IP span by its address part: annotators differ on whether a CIDR's ``/prefix`` or an IPv6
    ``%zone`` belongs to the span, so neither is required nor penalised."""
    value = text[start:end]
    cut = min((i for i in (value.find("/"), value.find("%")) if i > 0), default=len(value))
    return start, start + cut


def _label(entity: dict[str, Any]) -> str:
    raw = str(entity.get("label") or entity.get("type"))
    return ALIASES.get(raw, raw)


def _redacted_reference(entity: dict[str, Any], text: str) -> bool:
    """Whether the default policy should redact a reference address: its scope (given, or computed from
    its text when the case gives none) or the scope of the IPv4 address it embeds is global."""
    scopes = {entity.get("ip_scope"), entity.get("embedded_ipv4_scope")}
    if entity.get("ip_scope") is None:
        value = text[int(entity["start"]) : int(entity["end"])]
        scopes.add(ip_scope_of(value.split("/")[0].split("%")[0]))
    return "global" in scopes


class CasesError(StackwrightError, ValueError):
    """A cases file that cannot be scored."""


def read_cases(path: Path) -> list[dict[str, Any]]:
    """The cases of a JSONL file (a CasesError names the first line that is not a case)."""
    if not path.is_file():
        raise CasesError(f"{path}: no such file")
    cases = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not line.strip():
            continue
        try:
            case = json.loads(line)
            if not isinstance(case["text"], str):
                raise TypeError
        except (ValueError, KeyError, TypeError):
            raise CasesError(f"{path}:{number}: not a JSON object with a text") from None
        cases.append(case)
    return cases


def score_cases(path: Path, ip_scope: str = "all", config: PiiConfig | None = None) -> dict[str, Any]:
    """Score the detectors ``config`` runs (the pattern detectors by default) on the cases in ``path``."""
    if ip_scope not in ("all", "redacted"):
        raise CasesError("--ip-scope must be all or redacted")
    cases = read_cases(path)
    predictions: list[list[Entity]] = []
    for i in range(0, len(cases), 64):
        predictions.extend(scan_many([c["text"] for c in cases[i : i + 64]], config))
    return {"cases": str(path), **score_predictions(cases, predictions, ip_scope)}


def _flagged(entity: dict[str, Any]) -> bool:
    """A reference a strict scorer may drop: a reserved or placeholder email domain (``example``) or a
    trivially guessable password or key (``dummy``)."""
    return bool(entity.get("example") or entity.get("dummy"))


def score_predictions(cases: list[dict[str, Any]], predictions: list[list[Entity]], ip_scope: str = "all"
                      ) -> dict[str, Any]:
    """Precision, recall and F1 per label of ``predictions`` (one entity list per case), two ways:
    ``per_label`` counts every reference; ``without_flagged`` drops the references flagged ``example``
    or ``dummy`` together with the predictions that match them (neither found nor missed)."""
    counts = {label: {"tp": 0, "reference": 0, "predicted": 0} for label in SCORED}
    strict = {label: {"tp": 0, "reference": 0, "predicted": 0} for label in SCORED}
    flagged_counts = dict.fromkeys(SCORED, 0)
    for case, found in zip(cases, predictions, strict=True):
        text = case["text"]
        reference: dict[str, list[tuple[int, int, bool]]] = {label: [] for label in SCORED}
        for e in case.get("entities") or []:
            label = _label(e)
            if label not in reference:
                continue
            if label == IP_ADDRESS and ip_scope == "redacted" and not _redacted_reference(e, text):
                continue
            span = (int(e["start"]), int(e["end"]))
            span = _address_span(text, *span) if label == IP_ADDRESS else span
            reference[label].append((*span, _flagged(e)))
        predicted: dict[str, list[tuple[int, int]]] = {label: [] for label in SCORED}
        for e in found:
            if e.label in predicted and (e.label != IP_ADDRESS or ip_scope == "all" or e.redact):
                span = (e.start, e.end)
                predicted[e.label].append(_address_span(text, *span) if e.label == IP_ADDRESS else span)
        if case.get("spans_given") is False and isinstance(case.get("expected_count"), int):
            # A case that states only how many entities of one class the text holds: scored by count.
            label = _label({"type": case.get("entity_type")})
            if label in counts:
                n = len(predicted[label])
                for c in (counts[label], strict[label]):
                    c["tp"] += min(n, case["expected_count"])
                    c["reference"] += case["expected_count"]
                    c["predicted"] += n
            continue
        for label in SCORED:
            used: dict[int, bool] = {}  # prediction -> the flag of the reference it matched
            for *ref, flagged in reference[label]:
                for i, pred in enumerate(predicted[label]):
                    if i not in used and matches(pred, (ref[0], ref[1])):
                        used[i] = flagged
                        counts[label]["tp"] += 1
                        strict[label]["tp"] += not flagged
                        break
            n_flagged = sum(flagged for *_, flagged in reference[label])
            flagged_counts[label] += n_flagged
            counts[label]["reference"] += len(reference[label])
            counts[label]["predicted"] += len(predicted[label])
            strict[label]["reference"] += len(reference[label]) - n_flagged
            strict[label]["predicted"] += len(predicted[label]) - sum(used.values())
    return {"ip_scope": ip_scope, "rule": "overlap > 80% of both spans", "per_label": _per_label(counts),
            "without_flagged": _per_label(strict, {k: v for k, v in flagged_counts.items() if v})}


def _per_label(counts: dict[str, dict[str, int]], flagged: dict[str, int] | None = None
               ) -> dict[str, dict[str, Any]]:
    per_label: dict[str, dict[str, Any]] = {}
    for label, c in counts.items():
        if not c["reference"] and not c["predicted"] and not (flagged or {}).get(label):
            continue
        precision = c["tp"] / c["predicted"] if c["predicted"] else (1.0 if not c["reference"] else 0.0)
        recall = c["tp"] / c["reference"] if c["reference"] else 1.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_label[label] = {"precision": round(precision, 4), "recall": round(recall, 4),
                            "f1": round(f1, 4), "true_positives": c["tp"], "reference": c["reference"],
                            "predicted": c["predicted"]}
        if flagged is not None:
            per_label[label]["flagged_dropped"] = flagged.get(label, 0)
    return per_label
