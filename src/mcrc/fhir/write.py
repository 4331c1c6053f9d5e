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
    saying whether the rows behind it were clinically reviewed. An approved newer option that differs from the
    guideline answer (the current standard) is the first note, never an activity; the guideline currency (newer
    editions known of the sources behind the answer) the last notes. Where presumptions were used the plan is the
    provisional answer: its description says so and its first notes state each assumption and the strict answer;
    the branches on what is still unknown follow the strategies' notes."""
    from fhir.resources.R4B.careplan import CarePlan

    from mcrc.render.outline import (
        SCOPE_TEXT,
        branch_lines,
        currency_cites,
        currency_text,
        current_standard_head,
        current_standard_lines,
        review_marker,
        shown,
    )

    full, assessment = assessment, shown(assessment)

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
    notes += [{"text": f"To settle at this board: {b.question} " + "; ".join(branch_lines(b))}
              for b in assessment.branches]
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
    if full.provisional is not None:
        assumed = "; ".join(x.assumed for x in full.provisional.assumptions)
        plan["description"] = f"PROVISIONAL (assumes: {assumed}). " + plan["description"]
    if assessment.goal:
        notes.insert(0, {"text": f"goal {assessment.goal.code} ({assessment.goal.label}): "
                                 f"{_cite(assessment.goal.citations)}"
                                 + reviewed(assessment.goal.review, assessment.goal.rows)})
    # an approved newer option that differs from the guideline answer comes first, beside (not in) the activities
    notes[:0] = [{"text": f"Current standard (newer evidence, beside the guideline answer, not in it): "
                          f"{current_standard_head(cs)}. " + " ".join(f"{line[0].upper()}{line[1:]}."
                                                                        for line in current_standard_lines(cs))
                          + f" Cited: {_cite(cs.citations)}" + reviewed(cs.review, cs.rows)}
                 for cs in assessment.current_standard]
    if full.provisional is not None:  # the assumptions lead: every note after them rests on them
        strict_goal = f"; goal: {full.goal.label}" if full.goal else ""
        notes[:0] = [{"text": f"Provisional answer, assumed: {x.assumed}. {x.reason}"
                              + (f" Cited: {_cite(x.citations)}" if x.citations else "")}
                     for x in full.provisional.assumptions] + [
            {"text": f"Strict answer, nothing assumed: {SCOPE_TEXT[full.scope.status]}{strict_goal}."}]
    notes += [{"text": f"Guideline currency: {currency_text(c)}"
                       + (f" Cited: {_cite(currency_cites(c))}" if c.newer else "")}
              for c in assessment.currency]
    if activities:
        plan["activity"] = activities
    if notes:
        plan["note"] = notes
    return CarePlan.model_validate(plan).model_dump(mode="json", exclude_none=True)
