"""The whole answer as one FHIR R4B Bundle an EHR can file: plans, warnings, questions (decision record 0044).

Shape (one conventional resource per kind of statement, all `status` draft/preliminary/requested: a proposal
for the MDT, never an order):

* the recommended strategy: a CarePlan with `intent` proposal, one coded activity per step of that strategy
  only (`detail.kind` MedicationRequest for systemic steps, the regimen options as `productCodeableConcept`;
  ServiceRequest otherwise), `instantiatesUri` naming the knowledge-base row it follows, the goal, citations,
  assumptions, branches and currency as notes (those of `careplan` in write.py);
* each alternative strategy: a CarePlan with `intent` option, same shape;
* each warning: a DetectedIssue whose `severity` is the vocabulary's (safety high, caution moderate, note
  low; decision record 0038), its citation in `detail`, the row in `reference`;
* each unknown to settle at the board (the branches: the facts that change the answer most): a Task (`intent`
  proposal, `status` requested) whose description is the question in clinical words and whose `input`s are the
  answers each value would give; the other unknown facts are one note of the recommended plan;
* the assumptions of a provisional answer stay notes of the plans (they are not findings about the patient, so
  no Observation is invented for them).

Every resource validates with fhir.resources; references between them are `urn:uuid:` full URLs, derived from
the input hash so that the same answer gives the same Bundle.
"""

from __future__ import annotations

import uuid
from typing import Any

from mcrc.engine.assessment import Assessment, StrategyOut
from mcrc.fhir.write import CODE_SYSTEM, _cite, _concept, careplan
from mcrc.knowledge.model import KnowledgeBase
from mcrc.render.structure import severity_of

_SYSTEMIC = {"systemic", "perioperative"}
SEVERITY = {"safety": "high", "caution": "moderate", "note": "low"}


def _urn(seed: str, *parts: object) -> str:
    return "urn:uuid:" + str(uuid.uuid5(uuid.NAMESPACE_URL, "mcrc:" + seed + ":" + ":".join(map(str, parts))))


def _row_uri(base: str | None, row: str) -> str:
    return f"{base.rstrip('/')}/kb#row-{row}" if base else f"{CODE_SYSTEM}/row/{row}"


def _regimen_labels(a: Assessment, codes: list[str]) -> dict[str, str]:
    by = {r.code: r.label for r in a.regimens}
    return {c: by.get(c, c) for c in codes}


def _strategy_plan(a: Assessment, s: StrategyOut, n: int, patient_ref: str, base: str | None,
                   intent: str) -> dict[str, Any]:
    from fhir.resources.R4B.careplan import CarePlan

    activities = []
    for i, step in enumerate(s.steps, 1):
        detail: dict[str, Any] = {
            "kind": "MedicationRequest" if step.action_class in _SYSTEMIC else "ServiceRequest",
            "code": _concept(step.code, step.label), "status": "not-started",
            "description": f"Step {i} of {len(s.steps)}: {step.label}",
        }
        if step.regimens:
            labels = _regimen_labels(a, step.regimens)
            detail["productCodeableConcept"] = {
                "coding": [{"system": CODE_SYSTEM, "code": c, "display": lab} for c, lab in labels.items()],
                "text": " or ".join(labels.values())}
        act: dict[str, Any] = {"detail": detail}
        if step.note:
            act["progress"] = [{"text": step.note}]
        activities.append(act)
    name = s.label or " -> ".join(st.label for st in s.steps)
    title = ("Recommended: " if intent == "proposal" else f"Alternative {n}: ") + name
    plan: dict[str, Any] = {
        "resourceType": "CarePlan", "status": "draft", "intent": intent, "title": title[:250],
        "subject": {"reference": patient_ref}, "instantiatesUri": [_row_uri(base, s.row)],
        "description": f"{name} (knowledge base {a.provenance.kb_version})",
        "note": [{"text": f"Cited: {_cite(s.citations)}"}],
    }
    if activities:
        plan["activity"] = activities
    return CarePlan.model_validate(plan).model_dump(mode="json", exclude_none=True)


def _issue(kb: KnowledgeBase, w: Any, patient_ref: str, base: str | None) -> dict[str, Any]:
    from fhir.resources.R4B.detectedissue import DetectedIssue

    issue: dict[str, Any] = {
        "resourceType": "DetectedIssue", "status": "preliminary", "code": _concept(w.code, w.label),
        "severity": SEVERITY[severity_of(kb, w.code)], "patient": {"reference": patient_ref},
        "detail": f"{w.label}. Cited: {_cite(w.citations)}",
    }
    if w.rows:
        issue["reference"] = _row_uri(base, w.rows[0])
    return DetectedIssue.model_validate(issue).model_dump(mode="json", exclude_none=True)


def _task(text: str, inputs: list[str], fact: str, patient_ref: str, focus: str) -> dict[str, Any]:
    from fhir.resources.R4B.task import Task

    task: dict[str, Any] = {
        "resourceType": "Task", "status": "requested", "intent": "proposal",
        "code": _concept("settle-fact", "Settle at the tumour board"), "description": f"{text} (fact {fact})",
        "for": {"reference": patient_ref}, "focus": {"reference": focus},
    }
    if inputs:
        task["input"] = [{"type": {"text": "if"}, "valueString": line} for line in inputs]
    return Task.model_validate(task).model_dump(mode="json", exclude_none=True)


def answer_bundle(a: Assessment, patient_ref: str, kb: KnowledgeBase | None = None,
                  base_url: str | None = None) -> dict[str, Any]:
    """The answer as a Bundle (type collection): the recommended CarePlan first (the `careplan` of write.py,
    with its rows named), the alternatives, the DetectedIssues, the Tasks to settle."""
    from fhir.resources.R4B.bundle import Bundle

    from mcrc.knowledge import load_knowledge
    from mcrc.render.outline import shown
    from mcrc.render.summary import branch_lines

    kb = kb or load_knowledge()
    view = shown(a)
    seed = a.provenance.input_hash or a.patient_id or "answer"
    main = careplan(a, patient_ref)
    if view.strategies:  # the plan's activities are the recommended strategy's steps; alternatives are plans
        first = _strategy_plan(view, view.strategies[0], 0, patient_ref, base_url, "proposal")
        main["activity"] = first.get("activity", [])
        main["instantiatesUri"] = first["instantiatesUri"]
        main["title"] = first["title"]
    main_url = _urn(seed, "plan", 0)
    entries = [{"fullUrl": main_url, "resource": main}]
    issues = [_issue(kb, w, patient_ref, base_url) for w in view.warnings]
    for n, s in enumerate(view.strategies[1:], 1):
        entries.append({"fullUrl": _urn(seed, "plan", n),
                        "resource": _strategy_plan(view, s, n, patient_ref, base_url, "option")})
    issue_urls = [_urn(seed, "issue", i) for i in range(len(issues))]
    entries += [{"fullUrl": u, "resource": r} for u, r in zip(issue_urls, issues, strict=True)]
    if issue_urls:
        main["supportingInfo"] = [{"reference": u} for u in issue_urls]
    branched = {b.fact for b in view.branches}
    tasks = [_task(b.question, branch_lines(b), b.fact, patient_ref, main_url) for b in view.branches]
    entries += [{"fullUrl": _urn(seed, "task", i), "resource": t} for i, t in enumerate(tasks)]
    rest = [u.description for u in view.unknown_facts if u.fact not in branched]
    if rest:  # one note, not a Task each: dozens of Tasks would bury the few that change the answer
        main.setdefault("note", []).append({"text": f"Also unknown ({len(rest)}): " + "; ".join(rest)})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": entries}
    return Bundle.model_validate(bundle).model_dump(mode="json", exclude_none=True)


__all__ = ["SEVERITY", "answer_bundle"]
