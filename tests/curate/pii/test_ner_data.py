"""Synthetic NER training data (ner_data, ner_templates) and the import of pseudo-labels and annotations."""

from __future__ import annotations

import base64
import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from stackwright.curate.pii.entities import EMAIL, IP_ADDRESS, KEY, LABELS, NAME, PASSWORD, USERNAME
from stackwright.curate.pii.evaluate import read_cases, score_cases
from stackwright.curate.pii.ner_data import (
    ROLE_ACCOUNTS,
    TEMPLATES,
    Doc,
    Gen,
    generate,
    ip_scope,
    write_cases,
)
from stackwright.curate.pii.ner_import import AnnotationError, import_annotations, pseudo_label
from stackwright.curate.pii.ner_templates import NEGATIVE_ONLY
from stackwright.curate.pii.scan import scan_many

Case = dict[str, Any]


@pytest.fixture(scope="module")
def cases() -> list[Case]:
    return list(generate(2000, seed=0))


def _entities(case: Case) -> list[dict[str, Any]]:
    return case["entities"]


def test_every_entity_is_exact_sorted_and_disjoint(cases: list[Case]) -> None:
    for case in cases:
        assert set(case) == {"id", "text", "language", "source", "license", "entities"}
        assert case["source"].startswith("synthetic:") and case["license"] == "CC0-1.0" and case["language"]
        assert 5 <= case["text"].count("\n") <= 40
        end = 0
        for e in _entities(case):
            assert e["label"] in LABELS
            assert case["text"][e["start"]:e["end"]] == e["value"]
            assert e["value"] and e["value"] == e["value"].strip()
            assert e["start"] >= end, case["id"]
            end = e["end"]
            assert set(e) <= {"start", "end", "label", "value", "dummy", "example", "ip_scope"}
            if e["label"] == IP_ADDRESS:
                assert e["ip_scope"] == ip_scope(e["value"])


def test_the_same_seed_gives_the_same_cases() -> None:
    first = list(generate(60, seed=7))
    assert first == list(generate(60, seed=7))
    assert first != list(generate(60, seed=8))
    # Two generators consumed in turns still give their own seed's cases.
    a, b = generate(60, seed=7), generate(60, seed=8)
    interleaved = [x for pair in zip(a, b, strict=True) for x in pair][::2]
    assert interleaved == first


def test_labels_are_well_represented_and_a_quarter_has_none(cases: list[Case]) -> None:
    counts = Counter(e["label"] for case in cases for e in _entities(case))
    assert all(counts[label] >= 100 for label in LABELS), counts
    assert sum(not case["entities"] for case in cases) >= 0.25 * len(cases)
    flags = Counter(k for case in cases for e in _entities(case) for k in ("dummy", "example") if e.get(k))
    assert flags["dummy"] >= 50 and flags["example"] >= 50
    assert len({case["source"] for case in cases}) >= 40


def test_every_template_writes_entities_only_in_positive_cases() -> None:
    gen = Gen(seed=3)
    for name, build in TEMPLATES.items():
        found = 0
        for index in range(15):
            gen.reset(index)
            gen.neg = True
            doc = Doc()
            assert isinstance(build(gen, doc), str)
            assert doc.entities == [], name
            if name not in NEGATIVE_ONLY:
                gen.reset(index)
                gen.neg = False
                doc = Doc()
                build(gen, doc)
                found += len(doc.entities)
        assert name in NEGATIVE_ONLY or found > 0, name


def test_role_accounts_are_never_usernames(cases: list[Case]) -> None:
    usernames = [e["value"] for case in cases for e in _entities(case) if e["label"] == USERNAME]
    assert usernames and not [u for u in usernames if u.lower() in ROLE_ACCOUNTS]
    texts = "\n".join(case["text"] for case in cases)
    assert "root" in texts and "postgres" in texts  # role accounts do occur, unlabelled


def test_placeholders_and_templates_are_never_inside_an_entity(cases: list[Case]) -> None:
    markers = ("${", "{{", "<password>", "[PASSWORD]", "YOUR_API_KEY", "os.environ", "process.env",
               "secretKeyRef", "AKIAZZZZ", "{Client Secret}")
    texts = "\n".join(case["text"] for case in cases)
    assert all(m in texts for m in markers)
    for case in cases:
        for e in _entities(case):
            assert not any(m in e["value"] for m in markers), (case["id"], e["label"])


def test_names_are_never_organisation_placeholders(cases: list[Case]) -> None:
    names = {e["value"] for case in cases for e in _entities(case) if e["label"] == NAME}
    assert not names & {"Your Name", "First Last", "Example User", "Mailer Daemon", "The Authors"}
    assert any(not n.isascii() for n in names)  # several locales


def test_generated_emails_and_addresses_are_realistic(cases: list[Case]) -> None:
    found = scan_many([case["text"] for case in cases])
    emails = hits = ips = ip_hits = 0
    for case, entities in zip(cases, found, strict=True):
        spans = {(e.start, e.end) for e in entities if e.label == EMAIL}
        starts = {e.start for e in entities if e.label == IP_ADDRESS}
        for e in _entities(case):
            if e["label"] == EMAIL and not e.get("example"):
                emails += 1
                hits += (e["start"], e["end"]) in spans
            elif e["label"] == IP_ADDRESS:
                ips += 1
                ip_hits += e["start"] in starts
    assert emails >= 100 and hits >= 0.9 * emails, (hits, emails)
    assert ips >= 100 and ip_hits >= 0.9 * ips, (ip_hits, ips)


def test_kubernetes_secret_data_passwords_are_base64() -> None:
    checked = 0
    for case in generate(3000, seed=5):
        if case["source"] != "synthetic:k8s_secret":
            continue
        text = case["text"]
        for e in _entities(case):
            before = text[:e["start"]]
            if e["label"] == PASSWORD and before.rfind("\ndata:") > before.rfind("stringData:"):
                assert base64.b64decode(e["value"], validate=True)
                checked += 1
    assert checked >= 20


def test_private_keys_are_bodies_only(cases: list[Case]) -> None:
    bodies = [e["value"] for case in cases for e in _entities(case)
              if e["label"] == KEY and len(e["value"]) > 150 and "PRIVATE KEY-----" in case["text"]]
    assert bodies
    for body in bodies:
        assert "-----" not in body and "Proc-Type" not in body
        assert body[0].isalnum() and body[-1] not in "\n\\"


def test_write_cases_writes_a_file_the_scorer_and_the_importer_read(tmp_path: Path) -> None:
    path = tmp_path / "out" / "ner.jsonl"
    counts = write_cases(path, 300, seed=2)
    assert counts["cases"] == 300 and set(counts) == {*LABELS, "cases"}
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 300
    assert sum(len(json.loads(line)["entities"]) for line in lines) == sum(counts[label] for label in LABELS)
    assert len(read_cases(path)) == 300
    result = score_cases(path)
    assert {EMAIL, IP_ADDRESS} <= set(result["per_label"])
    imported = list(import_annotations(path))
    assert [c["entities"] for c in imported] == [json.loads(line)["entities"] for line in lines]


# -- pseudo-labels and imports ------------------------------------------------------------------------
def test_pseudo_labels_are_the_pattern_detectors_classes() -> None:
    token = "ghp_" + "aB3dE6gH9jK2mN5pQ8sT1vW4yZ7bC0eF3hJ6"
    text = (f'EMAIL = "jane.roe@mailbox.org"\nHOST = "93.184.216.34"\nGITHUB_TOKEN = "{token}"\n'
            "__author__ = 'Jane Roe'\n")
    out = list(pseudo_label([("src/settings.py", text), ("empty.txt", "nothing here")]))
    assert [c["source"] for c in out] == ["pseudo:src/settings.py", "pseudo:empty.txt"]
    assert all(c["pseudo"] is True for c in out) and out[1]["entities"] == []
    labels = [e["label"] for e in out[0]["entities"]]
    assert EMAIL in labels and IP_ADDRESS in labels and KEY in labels and NAME not in labels
    for e in out[0]["entities"]:
        assert text[e["start"]:e["end"]] == e["value"]


TEXT = "From: Ana Silva <ana.silva@mailbox.org>\nhost = 10.1.2.3\npassword = 'Tr0ub4dor&3'\n"
SPANS = [(6, 15, "PERSON"), (17, 38, "EMAIL_ADDRESS"), (47, 55, "IPV4"), (68, 79, "PASSWORD")]
EXPECTED = [(6, 15, NAME), (17, 38, EMAIL), (47, 55, IP_ADDRESS), (68, 79, PASSWORD)]


def _write(path: Path, rows: list[Any]) -> Path:
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


def _spans(case: Case) -> list[tuple[int, int, str]]:
    return [(e["start"], e["end"], e["label"]) for e in case["entities"]]


def test_spans_of_the_example() -> None:
    values = [TEXT[s:e] for s, e, _ in SPANS]
    assert values == ["Ana Silva", "ana.silva@mailbox.org", "10.1.2.3", "Tr0ub4dor&3"]


def test_import_of_our_own_format(tmp_path: Path) -> None:
    entities = [{"start": s, "end": e, "label": lab, "value": TEXT[s:e]} for s, e, lab in SPANS]
    entities[1]["example"] = True
    row = {"id": "a", "text": TEXT, "language": "Email", "entities": entities}
    cases = list(import_annotations(_write(tmp_path / "ours.jsonl", [row])))
    assert _spans(cases[0]) == EXPECTED and cases[0]["entities"][1]["example"] is True
    assert cases[0]["source"] == "ours.jsonl:1" and cases[0]["id"] == "a" and cases[0]["language"] == "Email"


def test_import_of_doccano_both_shapes(tmp_path: Path) -> None:
    rows = [{"id": 1, "text": TEXT, "label": [[s, e, lab] for s, e, lab in SPANS]},
            {"id": 2, "text": TEXT, "entities": [{"start_offset": s, "end_offset": e, "label": lab}
                                                 for s, e, lab in reversed(SPANS)]}]
    cases = list(import_annotations(_write(tmp_path / "doccano.jsonl", rows)))
    assert len(cases) == 2 and _spans(cases[0]) == EXPECTED and _spans(cases[1]) == EXPECTED
    assert cases[1]["source"] == "doccano.jsonl:2"


def test_import_of_label_studio(tmp_path: Path) -> None:
    text = "😀 " + TEXT  # an astral character: Label Studio counts UTF-16 units

    def result(s: int, e: int, lab: str) -> dict[str, Any]:
        return {"type": "labels", "value": {"start": s + 3, "end": e + 3, "text": TEXT[s:e], "labels": [lab]}}

    tasks = [{"id": 9, "data": {"text": text}, "annotations": [
        {"was_cancelled": True, "result": [result(0, 4, "NAME")]},
        {"result": [result(s, e, lab) for s, e, lab in SPANS]}]}]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    cases = list(import_annotations(path))
    assert [(s - 2, e - 2, lab) for s, e, lab in _spans(cases[0])] == EXPECTED
    assert cases[0]["entities"][0]["value"] == "Ana Silva" and cases[0]["id"] == "9"


def test_import_of_spacy_pairs_and_unknown_labels(tmp_path: Path) -> None:
    entities = [[s, e, lab] for s, e, lab in SPANS] + [[0, 4, "HEADER"]]
    rows = [[TEXT, {"entities": entities}], ["no entities", {}]]
    dropped: Counter[str] = Counter()
    cases = list(import_annotations(_write(tmp_path / "spacy.jsonl", rows), dropped))
    assert _spans(cases[0]) == EXPECTED and cases[1]["entities"] == [] and dropped == {"HEADER": 1}


@pytest.mark.parametrize(("row", "needle"), [
    ({"text": TEXT, "entities": [{"start": 68, "end": 200, "label": "PASSWORD"}]}, "outside the text"),
    ({"text": TEXT, "entities": [{"start": 17, "end": 38, "label": "EMAIL"},
                                 {"start": 20, "end": 30, "label": "KEY"}]}, "overlapping"),
    ({"text": TEXT, "entities": [{"start": 68, "end": 79, "label": "PASSWORD", "value": "hunter2-xyz"}]},
     "differs"),
    ({"text": TEXT, "label": [[68, "79", "PASSWORD"]]}, "not an integer"),
    ({"entities": []}, "no text"),
])
def test_malformed_annotations_name_the_line_not_the_value(tmp_path: Path, row: dict[str, Any],
                                                           needle: str) -> None:
    good = {"text": "fine", "entities": []}
    path = _write(tmp_path / "bad.jsonl", [good, good, row])
    with pytest.raises(AnnotationError) as info:
        list(import_annotations(path))
    message = str(info.value)
    assert "bad.jsonl:3:" in message and needle in message
    assert "Tr0ub4dor" not in message and "hunter2" not in message and "mailbox" not in message


def test_malformed_label_studio_task_names_the_task(tmp_path: Path) -> None:
    tasks = [{"data": {"text": TEXT}, "annotations": []},
             {"data": {"text": TEXT}, "annotations": [{"result": [
                 {"value": {"start": 68, "end": 79, "text": "Tr0ub4dor&4", "labels": ["PASSWORD"]}}]}]}]
    path = tmp_path / "ls.json"
    path.write_text(json.dumps(tasks), encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"ls\.json: task 2") as info:
        list(import_annotations(path))
    assert "Tr0ub4dor" not in str(info.value)


def test_invalid_json_line_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "broken.jsonl"
    path.write_text('{"text": "ok", "entities": []}\n{"text": "Tr0ub4dor&3", \n', encoding="utf-8")
    with pytest.raises(AnnotationError, match=r"broken\.jsonl:2: not valid JSON") as info:
        list(import_annotations(path))
    assert "Tr0ub4dor" not in str(info.value)
    with pytest.raises(AnnotationError, match="no such"):
        list(import_annotations(tmp_path / "missing.jsonl"))
