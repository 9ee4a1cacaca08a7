"""Real code for the NER detector: pseudo-labels from the pattern detectors, and people's annotations.

``pseudo_label`` turns ``(id, text)`` pairs into cases whose entities are what :func:`scan` finds for
the classes the patterns know (EMAIL, IP_ADDRESS, KEY, PASSWORD), marked ``"pseudo": true``: a cheap
silver set of real code to mix with the synthetic cases.

``import_annotations`` reads annotations made in the usual tools and gives cases in the format of the
PII development set (``stackwright eval pii --cases``):

- our own JSONL (``{"id", "text", "entities": [{"start", "end", "label", ...}]}``), validated;
- doccano JSONL (``{"text", "label": [[start, end, "LABEL"], ...]}``, or ``"entities"`` as dicts with
  ``start_offset``/``end_offset``/``label``);
- a Label Studio JSON export (a list of tasks with ``data.text`` and ``annotations[].result[].value``
  ``{start, end, labels}``; cancelled annotations are skipped; UTF-16 offsets are converted);
- spaCy-style JSONL (``[text, {"entities": [[start, end, label], ...]}]``).

Label aliases (EMAIL_ADDRESS, IP, IPV4, IPV6, SECRET, API_KEY, PERSON, USER) map to the six classes;
other labels are dropped and counted. Malformed input, offsets outside the text and overlapping spans
raise :class:`AnnotationError` naming the file and line (or task); messages never hold a value.
"""

from __future__ import annotations

import json
import logging
from collections import Counter
from collections.abc import Iterable, Iterator
from itertools import pairwise
from pathlib import Path
from typing import Any

from stackwright.curate.pii.entities import EMAIL, IP_ADDRESS, KEY, LABELS, PASSWORD
from stackwright.curate.pii.evaluate import ALIASES
from stackwright.errors import StackwrightError
from stackwright.files import FileReadError, read_user_text

__all__ = ["PATTERN_LABELS", "AnnotationError", "import_annotations", "pseudo_label"]

log = logging.getLogger(__name__)
PATTERN_LABELS = (EMAIL, IP_ADDRESS, KEY, PASSWORD)
MAX_BYTES = 1 << 30
_BATCH = 64
Span = tuple[object, object, object, dict[str, Any]]  # raw start, end, label and the entity's other fields


class AnnotationError(StackwrightError, ValueError):
    """An annotation file that cannot be imported (the message names the file and line, never a value)."""


# -- pseudo-labels ------------------------------------------------------------------------------------
def _language(name: str, text: str) -> str:
    try:
        from stackwright.curate.languages import detector

        found, _ = detector().language(name, text.encode("utf-8", "surrogatepass"))
    except (ImportError, OSError, ValueError):
        return "Text"
    return found or "Text"


def pseudo_label(texts: Iterable[tuple[str, str]]) -> Iterator[dict[str, Any]]:
    """Cases of real code labelled by the pattern detectors (EMAIL, IP_ADDRESS, KEY, PASSWORD)."""
    from stackwright.curate.pii.scan import scan_many

    batch: list[tuple[str, str]] = []

    def flush() -> Iterator[dict[str, Any]]:
        for (case_id, text), found in zip(batch, scan_many([t for _, t in batch]), strict=True):
            entities = [{"start": e.start, "end": e.end, "label": e.label, "value": text[e.start:e.end]}
                        for e in found if e.label in PATTERN_LABELS]
            yield {"id": case_id, "text": text, "language": _language(case_id, text), "pseudo": True,
                   "source": f"pseudo:{case_id}", "license": "NOASSERTION", "entities": entities}
        batch.clear()

    for case_id, text in texts:
        batch.append((str(case_id), text))
        if len(batch) >= _BATCH:
            yield from flush()
    yield from flush()


# -- import -------------------------------------------------------------------------------------------
def _label(raw: object) -> str:
    name = str(raw).strip().upper().replace("-", "_").replace(" ", "_")
    return ALIASES.get(name, name)


def _offset(value: object, where: str, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnnotationError(f"{where}: entity {what} is not an integer")
    return value


def _utf16_to_index(text: str, units: int) -> int | None:
    """The Python index of a UTF-16 code-unit offset (Label Studio counts like JavaScript)."""
    count = 0
    for i, ch in enumerate(text):
        if count >= units:
            return i if count == units else None
        count += 2 if ord(ch) > 0xFFFF else 1
    return len(text) if count == units else None


def _case(text: object, spans: list[Span], where: str, source: str,
          case_id: str, dropped: Counter[str], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """A validated case from raw ``(start, end, label, flags)`` spans."""
    if not isinstance(text, str):
        raise AnnotationError(f"{where}: no text")
    entities: dict[tuple[int, int, str], dict[str, Any]] = {}
    for n, (raw_start, raw_end, raw_label, flags) in enumerate(spans, start=1):
        start, end = _offset(raw_start, where, f"{n} start"), _offset(raw_end, where, f"{n} end")
        if not 0 <= start < end <= len(text):
            raise AnnotationError(f"{where}: entity {n} has offsets {start}..{end} outside the text "
                                  f"({len(text)} characters) or empty")
        label = _label(raw_label)
        if label not in LABELS:
            dropped[str(raw_label)] += 1
            continue
        if "value" in flags and flags["value"] != text[start:end]:
            raise AnnotationError(f"{where}: entity {n} ({label}) has a value that differs from the text at "
                                  f"{start}..{end}")
        e: dict[str, Any] = {"start": start, "end": end, "label": label, "value": text[start:end]}
        e.update({k: True for k in ("dummy", "example") if flags.get(k) is True})
        if isinstance(flags.get("ip_scope"), str):
            e["ip_scope"] = flags["ip_scope"]
        entities.setdefault((start, end, label), e)
    ordered = sorted(entities.values(), key=lambda e: (e["start"], e["end"]))
    for a, b in pairwise(ordered):
        if b["start"] < a["end"]:
            raise AnnotationError(f"{where}: overlapping entities ({a['label']} at {a['start']}..{a['end']} "
                                  f"and {b['label']} at {b['start']}..{b['end']})")
    case = {"id": case_id, "text": text, "language": "Text", "source": source, "license": "NOASSERTION"}
    case.update({k: v for k, v in (extra or {}).items() if k in ("language", "license") and isinstance(v, str)
                 and v})
    return {**case, "entities": ordered}


def _jsonl_spans(row: object, where: str) -> tuple[object, list[Span]]:
    """The text and raw spans of one JSONL row of our format, doccano or spaCy."""
    if isinstance(row, list):
        if len(row) != 2 or not isinstance(row[1], dict) or not isinstance(row[1].get("entities", []), list):
            raise AnnotationError(f"{where}: not a [text, {{\"entities\": [...]}}] pair")
        raw = row[1].get("entities", [])
        if not all(isinstance(s, list | tuple) and len(s) == 3 for s in raw):
            raise AnnotationError(f"{where}: spaCy entities must be [start, end, label] triples")
        return row[0], [(s, e, lab, {}) for s, e, lab in raw]
    if not isinstance(row, dict):
        raise AnnotationError(f"{where}: not a JSON object")
    text = row.get("text", row.get("data"))
    raw_labels = row.get("label", row.get("labels"))
    if isinstance(raw_labels, list):  # doccano sequence labelling
        raw = raw_labels
        if not all(isinstance(s, list | tuple) and len(s) == 3 for s in raw):
            raise AnnotationError(f"{where}: doccano labels must be [start, end, label] triples")
        return text, [(s, e, lab, {}) for s, e, lab in raw]
    raw = row.get("entities", [])
    if not isinstance(raw, list) or not all(isinstance(e, dict) for e in raw):
        raise AnnotationError(f"{where}: entities must be a list of objects")
    spans = []
    for e in raw:
        if "start_offset" in e:  # doccano's entity dicts
            spans.append((e.get("start_offset"), e.get("end_offset"), e.get("label"), {}))
        else:
            spans.append((e.get("start"), e.get("end"), e.get("label", e.get("type")), e))
    return text, spans


def _label_studio(tasks: list[Any], path: Path, dropped: Counter[str]) -> Iterator[dict[str, Any]]:
    for n, task in enumerate(tasks, start=1):
        where = f"{path}: task {n}"
        data = task.get("data") if isinstance(task, dict) else None
        if not isinstance(data, dict):
            raise AnnotationError(f"{where}: no data.text")
        texts = [v for v in data.values() if isinstance(v, str)]
        text = data["text"] if "text" in data else texts[0] if len(texts) == 1 else None  # one text field
        if not isinstance(text, str):
            raise AnnotationError(f"{where}: no data.text")
        annotations = [a for a in task.get("annotations") or []
                       if isinstance(a, dict) and not a.get("was_cancelled")]
        spans: list[Span] = []
        for result in (annotations[0].get("result") or []) if annotations else []:
            value = result.get("value") if isinstance(result, dict) else None
            if not isinstance(value, dict) or "start" not in value:
                continue  # relations, choices and other result kinds carry no span
            labels = value.get("labels") or value.get("hypertextlabels") or []
            if not isinstance(labels, list) or len(labels) != 1:
                raise AnnotationError(f"{where}: a span needs exactly one label")
            start, end = value.get("start"), value.get("end")
            quoted = value.get("text")
            if isinstance(quoted, str) and isinstance(start, int) and isinstance(end, int) \
                    and text[start:end] != quoted:
                start, end = _utf16_to_index(text, start), _utf16_to_index(text, end)
            spans.append((start, end, labels[0], {"value": quoted} if isinstance(quoted, str) else {}))
        case_id = str(task.get("id", n))
        yield _case(text, spans, where, f"{path.name}:task{n}", case_id, dropped)


def import_annotations(path: Path, dropped: Counter[str] | None = None) -> Iterator[dict[str, Any]]:
    """The cases of an annotation file (our JSONL, doccano, Label Studio or spaCy). Spans with labels
    outside the six classes are dropped and counted per label in ``dropped`` (and logged)."""
    path = Path(path)
    counts: Counter[str] = Counter() if dropped is None else dropped
    try:
        content = read_user_text(path, MAX_BYTES, "annotation file")
    except FileReadError as exc:
        raise AnnotationError(str(exc)) from None
    whole: Any = None
    if content.lstrip().startswith("["):
        try:
            whole = json.loads(content)
        except json.JSONDecodeError:
            whole = None  # JSONL of spaCy pairs, one per line
    if isinstance(whole, list) and (not whole or all(isinstance(t, dict) for t in whole)):
        yield from _label_studio(whole, path, counts)
    else:
        for number, line in enumerate(content.splitlines(), start=1):
            if not line.strip():
                continue
            where = f"{path}:{number}"
            try:
                row = json.loads(line)
            except json.JSONDecodeError as exc:
                raise AnnotationError(f"{where}: not valid JSON ({exc.msg} at column {exc.colno})") from None
            text, spans = _jsonl_spans(row, where)
            extra = row if isinstance(row, dict) else None
            case_id = str(row.get("id", number)) if isinstance(row, dict) else str(number)
            yield _case(text, spans, where, f"{path.name}:{number}", case_id, counts, extra)
    if counts:
        kinds = ", ".join(f"{label}: {n}" for label, n in sorted(counts.items()))
        log.warning("%s: dropped %d spans with labels outside the six classes (%s)", path, counts.total(),
                    kinds)
