"""Assessments of a case's versions, the diff between two of them, and re-assessing stale ones."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session

import mcrc
from mcrc.engine import ENGINE_VERSION
from mcrc.errors import Problem
from mcrc.store import audit
from mcrc.store.base import _Chain, _now
from mcrc.store.cases import CasesMixin
from mcrc.store.errors import StoreConflict, StoreNotFound, StoreNotReady
from mcrc.store.models import AssessmentRow, Case
from mcrc.store.records import AssessmentRecord
from mcrc.store.reviews import ReviewsMixin
from mcrc.store.states import _assessment_state

DIFF_SECTIONS = ("goal", "first_steps", "strategies", "local_treatment", "regimens", "warnings", "tests", "workup",
                 "prognosis", "followup", "considerations", "referrals", "evidence", "current_standard")


class AssessmentsMixin(CasesMixin, ReviewsMixin):
    """Assessments: assess a case as it stands (older answers are kept), list them, diff the newest two."""

    @staticmethod
    def _assessment_record(a: AssessmentRow) -> AssessmentRecord:
        return AssessmentRecord(id=a.id, case_id=a.case_id, case_version=a.case_version, kb_version=a.kb_version,
                                engine_version=a.engine_version, input_hash=a.input_hash,
                                created_at=audit.utc_text(a.created_at), assessment=a.assessment)

    def assess(self, case_id: int, user: str) -> AssessmentRecord:
        """Assess the case as it stands and store the answer as a new assessment (older ones are kept)."""
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "assess_case", f"case {case_id}")
            case = self._case(s, case_id, u)
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is deleted")
            patient, version = case.patient, case.version
        # outside the transaction: may take a moment on first use
        a = mcrc.assess(patient, kb=self.knowledge, reviews=self.review_book(fresh=True))
        data = a.model_dump(mode="json")

        def work(s: Session, chain: _Chain) -> AssessmentRecord:
            u = self._user(s, user)
            case = self._case(s, case_id, u, lock=True)
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is deleted")
            if case.version != version:
                raise StoreConflict(case_id, version, case.version)
            row = AssessmentRow(case_id=case_id, case_version=version, assessment=data,
                                content_hash=audit.sha256(data), kb_version=a.provenance.kb_version,
                                engine_version=a.provenance.engine_version,
                                input_hash=a.provenance.input_hash or "", created_by=u.id, created_at=_now())
            s.add(row)
            s.flush()
            self._checkpoint("entity_written")
            chain.append(u, "assessment.create", "assessment", row.id, None, _assessment_state(row))
            return self._assessment_record(row)

        return self._write(work)

    def assessments(self, case_id: int, user: str) -> list[AssessmentRecord]:
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            self._case(s, case_id, u)
            rows = s.execute(select(AssessmentRow).where(AssessmentRow.case_id == case_id)
                             .order_by(AssessmentRow.id)).scalars()
            return [self._assessment_record(r) for r in rows]

    def diff(self, case_id: int, user: str) -> dict[str, Any]:
        """What the newest assessment adds or removes compared with the one before, per section."""
        history = self.assessments(case_id, user)
        if len(history) < 2:
            raise StoreNotReady([Problem(f"case {case_id}", f"has {len(history)} assessment(s); a diff needs two "
                                                           "(run `mcrc case assess` again after a change)")])
        return self._diff(case_id, history[-2], history[-1])

    @staticmethod
    def _diff(case_id: int, old: AssessmentRecord, new: AssessmentRecord) -> dict[str, Any]:
        a_old, a_new = (mcrc.Assessment.model_validate(x.assessment) for x in (old, new))
        sections = {}
        for name in DIFF_SECTIONS:
            before, after = a_old.codes(name), a_new.codes(name)
            if before != after:
                sections[name] = {"added": sorted(after - before), "removed": sorted(before - after)}
        return {
            "case_id": case_id,
            "from": {"assessment_id": old.id, "case_version": old.case_version, "kb_version": old.kb_version,
                     "engine_version": old.engine_version, "created_at": old.created_at},
            "to": {"assessment_id": new.id, "case_version": new.case_version, "kb_version": new.kb_version,
                   "engine_version": new.engine_version, "created_at": new.created_at},
            "changed": bool(sections),
            "sections": sections,
        }

    def stale_cases(self, user: str) -> list[int]:
        """Non-deleted cases whose newest assessment came from another knowledge-base or engine version.

        Cases never assessed are not stale (there is nothing to re-assess; `mcrc case assess` them)."""
        kb_version = self.knowledge.version
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "assess_case", "stale cases")
            latest = (select(AssessmentRow.case_id, func.max(AssessmentRow.id).label("id"))
                      .group_by(AssessmentRow.case_id).subquery())
            q = (select(AssessmentRow.case_id).join(latest, AssessmentRow.id == latest.c.id)
                 .join(Case, Case.id == AssessmentRow.case_id).where(Case.deleted.is_(False))
                 .where(or_(AssessmentRow.kb_version != kb_version, AssessmentRow.engine_version != ENGINE_VERSION))
                 .order_by(AssessmentRow.case_id))
            return list(s.execute(q).scalars())

    def reassess_stale(self, user: str) -> list[tuple[int, dict[str, Any]]]:
        """Assess every stale case again (one transaction per case, with its audit entry) and return, per
        case, the diff from its stale assessment to the new one. Safe to run again after a failure: cases
        already re-assessed are no longer stale; a case deleted meanwhile is skipped."""
        results = []
        for case_id in self.stale_cases(user):
            try:
                old = self.assessments(case_id, user)[-1]
                new = self.assess(case_id, user)
            except StoreNotFound:  # deleted since the list was read
                continue
            results.append((case_id, self._diff(case_id, old, new)))
        return results
