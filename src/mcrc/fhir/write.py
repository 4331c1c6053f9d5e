"""Write an Assessment back to the EHR as a draft FHIR R4B CarePlan (a proposal for the MDT)."""

from __future__ import annotations

from typing import Any

from mcrc.engine.assessment import Assessment, CitationOut

CODE_SYSTEM = "https://mcrc.example/fhir/CodeSystem/mcrc"  # mcrc's own step, strategy and regimen codes


def _cite(citations: list[CitationOut]) -> str:
    return "; ".join(f"{c.source} {c.where}" + (f" ({c.footnote})" if c.footnote else "") for c in citations)


def _concept(code: str, label: str) -> dict[str, Any]:
    return {"coding": [{"system": CODE_SYSTEM, "code": code, "display": label}], "text": label}


def careplan(assessment: Assessment, patient_ref: str) -> dict:
    """A CarePlan (status draft, intent proposal): one activity per strategy step, citations as notes, each note
    saying whether the rows behind it were clinically reviewed."""
    from fhir.resources.R4B.careplan import CarePlan

    from mcrc.render.outline import review_marker

    def reviewed(status: str, rows: list[str]) -> str:
        return f" [{review_marker(assessment, status, rows)}]"

    activities: list[dict[str, Any]] = []
    notes: list[dict[str, Any]] = []
    for strategy in assessment.strategies:
        name = strategy.label or strategy.id
        notes.append({"text": f"Strategy {strategy.id} ({name}), row {strategy.row}: {_cite(strategy.citations)}"
                                  + reviewed(strategy.review, [strategy.row])})
        for i, step in enumerate(strategy.steps, 1):
            detail: dict[str, Any] = {
                "kind": "ServiceRequest", "code": _concept(step.code, step.label), "status": "not-started",
                "description": f"Strategy {strategy.id} step {i}: {step.label}",
            }
            if step.regimens:
                detail["productCodeableConcept"] = {
                    "coding": [{"system": CODE_SYSTEM, "code": r} for r in step.regimens],
                    "text": " or ".join(step.regimens)}
            activity: dict[str, Any] = {"detail": detail}
            if step.note:
                activity["progress"] = [{"text": step.note}]
            activities.append(activity)
    for section in ("regimens", "warnings", "tests"):
        for item in getattr(assessment, section):
            notes.append({"text": f"{section[:-1]} {item.code} ({item.label}): {_cite(item.citations)}"
                                  + reviewed(item.review, item.rows)})
    plan: dict[str, Any] = {
        "resourceType": "CarePlan", "status": "draft", "intent": "proposal",
        "title": "mcrc tumour board proposal", "subject": {"reference": patient_ref},
        "description": (f"Goal: {assessment.goal.label}" if assessment.goal else "Goal: not determined")
        + f" (knowledge base {assessment.provenance.kb_version})",
    }
    if assessment.goal:
        notes.insert(0, {"text": f"goal {assessment.goal.code} ({assessment.goal.label}): "
                                 f"{_cite(assessment.goal.citations)}"
                                 + reviewed(assessment.goal.review, assessment.goal.rows)})
    if activities:
        plan["activity"] = activities
    if notes:
        plan["note"] = notes
    return CarePlan.model_validate(plan).model_dump(mode="json", exclude_none=True)
