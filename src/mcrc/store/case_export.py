"""A case as a JSON document with its assessments and decisions (`mcrc.case-export/1`), and importing one."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

import mcrc
from mcrc.errors import InputError, Problem
from mcrc.patient import Patient
from mcrc.store import audit
from mcrc.store.assessments import AssessmentsMixin
from mcrc.store.base import _Chain, _now
from mcrc.store.decisions import DecisionsMixin
from mcrc.store.errors import StoreInvalid
from mcrc.store.models import AssessmentRow, Decision, MdtMeeting, User
from mcrc.store.records import CaseRecord

EXPORT_FORMAT = "mcrc.case-export/1"



class CaseExportMixin(AssessmentsMixin, DecisionsMixin):
    """Export a case with its history; import an export as a new case (the history is checked, not copied)."""

    def export_case(self, case_id: int, user: str) -> dict[str, Any]:
        """One case as a JSON document: the validated patient, case metadata, every assessment (with its
        knowledge-base and engine versions) and every decision. `import_case` reads it back."""
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            case = self._case_record(self._case(s, case_id, u))
            rows = s.execute(select(AssessmentRow).where(AssessmentRow.case_id == case_id)
                             .order_by(AssessmentRow.id)).scalars()
            assessments = [self._assessment_record(r).__dict__ for r in rows]
            q = (select(Decision, MdtMeeting.held_on, User.name).join(MdtMeeting).join(User)
                 .where(Decision.case_id == case_id).order_by(Decision.id))
            decisions = [self._decision_record(d, held, by).__dict__ for d, held, by in s.execute(q)]
            return {
                "format": EXPORT_FORMAT,
                "exported_at": audit.utc_text(_now()),
                "exported_by": u.name,
                "case": {k: v for k, v in case.__dict__.items() if k != "patient"},
                "patient": case.patient,
                "assessments": assessments,
                "decisions": decisions,
            }

    @staticmethod
    def _import_problems(data: Any) -> tuple[list[Problem], Patient | None]:
        """Every problem of an export document (nothing is written unless there are none)."""
        if not isinstance(data, dict):
            return [Problem("(document)", f"expected a JSON object, got {type(data).__name__}")], None
        problems: list[Problem] = []
        if data.get("format") != EXPORT_FORMAT:
            problems.append(Problem("format", f"{data.get('format')!r} is not a case export format", EXPORT_FORMAT))
        meta = data.get("case")
        if not isinstance(meta, dict) or not isinstance(meta.get("id"), int):
            problems.append(Problem("case", "expected the exported case's metadata (an object with its id)"))
            meta = {}
        patient = None
        try:
            patient = mcrc.parse_patient(data.get("patient"))
        except InputError as exc:
            problems += [Problem(f"patient.{p.where}", p.message, p.allowed) for p in exc.problems]
        if patient is not None and meta.get("content_hash") is not None:
            digest = audit.sha256(patient.model_dump(mode="json", exclude_none=True))
            if digest != meta["content_hash"]:
                problems.append(Problem("patient", "does not match case.content_hash (changed after export?); "
                                                   "remove case.content_hash to import an edited patient"))
        for key, required in (("assessments", ("kb_version", "engine_version", "assessment")),
                              ("decisions", ("strategy_codes", "rationale", "concordant"))):
            items = data.get(key, [])
            if not isinstance(items, list):
                problems.append(Problem(key, "expected a list"))
                continue
            for i, item in enumerate(items):
                missing = [f for f in required if not isinstance(item, dict) or f not in item]
                if missing:
                    problems.append(Problem(f"{key}[{i}]", f"missing {', '.join(missing)}"))
                elif key == "assessments":
                    try:
                        mcrc.Assessment.model_validate(item["assessment"])
                    except ValidationError as exc:
                        problems.append(Problem(f"{key}[{i}].assessment",
                                                f"not an Assessment ({exc.error_count()} error(s))"))
        return problems, patient

    def import_case(self, data: Any, user: str) -> CaseRecord:
        """Validate a `mcrc.case-export/1` document as a whole (StoreInvalid listing every problem, nothing
        written) and register its patient as a new case at version 1. The history in the document
        (assessments, decisions) is validated but not copied: assess the new case here. Audited as
        `case.import` (a FHIR create) whose before-hash is that of a note of the source."""
        problems, patient = self._import_problems(data)
        if problems or patient is None:
            raise StoreInvalid(problems)
        payload, digest, label = self._validate(patient)
        meta = data["case"]
        source = {"format": data["format"], "source_case_id": meta["id"], "source_version": meta.get("version"),
                  "source_content_hash": meta.get("content_hash"), "exported_at": data.get("exported_at"),
                  "document_hash": audit.sha256(data)}

        def work(s: Session, chain: _Chain) -> CaseRecord:
            return self._create_case(s, chain, user, payload, digest, label, "case.import", {"imported_from": source})

        return self._write(work)
