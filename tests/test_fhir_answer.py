"""The answer as one FHIR Bundle (issue 21 item 2): the recommended plan, the alternatives, the warnings, the
questions to settle, each a validated resource that says what the Assessment says."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fhir.resources.R4B.bundle import Bundle

from mcrc.engine import assess
from mcrc.fhir.answer import SEVERITY, answer_bundle
from mcrc.knowledge import load_knowledge
from mcrc.patient import parse_patient_json
from mcrc.render.outline import shown
from mcrc.render.summary import branch_lines, safety_codes

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))


def _assess(path: Path):
    return assess(parse_patient_json(path.read_bytes()))


def _by_type(b: dict, kind: str) -> list[dict]:
    return [e["resource"] for e in b["entry"] if e["resource"]["resourceType"] == kind]


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_answers_a_valid_bundle_that_says_what_the_assessment_says(path):
    kb = load_knowledge()
    a = _assess(path)
    b = answer_bundle(a, "Patient/p", kb, base_url="https://mcrc.example.org")
    Bundle.model_validate(b)
    view = shown(a)
    plans = _by_type(b, "CarePlan")
    # the recommended plan first, then one option plan per alternative strategy, in the answer's order
    assert plans[0]["intent"] == "proposal"
    assert [p["intent"] for p in plans[1:]] == ["option"] * (len(view.strategies) - 1)
    if view.strategies:
        first = view.strategies[0]
        codes = [act["detail"]["code"]["coding"][0]["code"] for act in plans[0].get("activity", [])]
        assert codes == [st.code for st in first.steps]
        assert plans[0]["instantiatesUri"] == [f"https://mcrc.example.org/kb#row-{first.row}"]
        for plan, s in zip(plans[1:], view.strategies[1:], strict=True):
            assert [act["detail"]["code"]["coding"][0]["code"] for act in plan["activity"]] == \
                [st.code for st in s.steps]
            for act, st in zip(plan["activity"], s.steps, strict=True):
                got = [c["code"] for c in act["detail"].get("productCodeableConcept", {}).get("coding", [])]
                assert got == st.regimens
    # every warning is a DetectedIssue, a safety rule's with severity high
    issues = _by_type(b, "DetectedIssue")
    assert [i["code"]["coding"][0]["code"] for i in issues] == [w.code for w in view.warnings]
    for i, w in zip(issues, view.warnings, strict=True):
        assert i["severity"] == SEVERITY[kb.vocabulary.get("warnings", w.code).severity]
        assert w.label in i["detail"]
        if w.code in safety_codes(kb) - {c.code for c in kb.caveats}:  # a safety invariant's warning is high
            assert i["severity"] == "high"
    # every branch is a Task whose inputs are its outcomes
    tasks = _by_type(b, "Task")
    assert [t["description"].split(" (fact ")[0] for t in tasks] == [br.question for br in view.branches]
    for t, br in zip(tasks, view.branches, strict=True):
        assert len(t["input"]) == len(branch_lines(br))
    # references inside the Bundle resolve
    urls = {e["fullUrl"] for e in b["entry"]}
    refs = [r["reference"] for r in plans[0].get("supportingInfo", [])] + [t["focus"]["reference"] for t in tasks]
    assert all(r in urls for r in refs)


def test_the_same_answer_gives_the_same_bundle():
    a = _assess(EXAMPLES[0])
    assert json.dumps(answer_bundle(a, "Patient/p")) == json.dumps(answer_bundle(a, "Patient/p"))


def test_a_provisional_answer_says_so_and_lists_its_assumptions():
    path = next(p for p in EXAMPLES if p.name.startswith("79-"))
    a = _assess(path)
    assert a.provisional is not None
    plan = _by_type(answer_bundle(a, "Patient/p"), "CarePlan")[0]
    assert plan["description"].startswith("PROVISIONAL")
    notes = " ".join(n["text"] for n in plan["note"])
    for x in a.provisional.assumptions:
        assert x.assumed in notes
