"""Cases (versions of a patient, soft deletes) and the extraction records of versions saved from report text."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

import mcrc
from mcrc.errors import InputError
from mcrc.patient import Patient
from mcrc.store import audit
from mcrc.store import extraction as xrecord
from mcrc.store.base import PERMISSIONS, StoreBase, _Chain, _now
from mcrc.store.errors import StoreConflict, StoreInvalid, StoreNotFound
from mcrc.store.models import Case, CaseExtraction, User
from mcrc.store.records import CaseRecord, ExtractionRecord
from mcrc.store.refusals import _nul_problems
from mcrc.store.states import _case_state, _extraction_state


class CasesMixin(StoreBase):
    """Cases: add, update, delete (soft), read and list; and which fields of a version came from report text."""

    @staticmethod
    def _validate(patient: Patient | dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
        p = patient if isinstance(patient, Patient) else mcrc.parse_patient(patient)
        data = p.model_dump(mode="json", exclude_none=True)
        if problems := _nul_problems(**data):
            raise StoreInvalid(problems)
        return data, audit.sha256(data), p.id

    @staticmethod
    def _case_record(c: Case) -> CaseRecord:
        return CaseRecord(id=c.id, label=c.label, version=c.version, patient=c.patient,
                          schema_version=c.schema_version, content_hash=c.content_hash, deleted=c.deleted,
                          created_at=audit.utc_text(c.created_at), updated_at=audit.utc_text(c.updated_at))

    def _case(self, s: Session, case_id: int, user: User, *, lock: bool = False) -> Case:
        q = select(Case).where(Case.id == case_id)
        case = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
        if case is None or (case.deleted and user.role not in PERMISSIONS["read_deleted_case"]):
            raise StoreNotFound(f"no case {case_id}")
        return case

    def _create_case(self, s: Session, chain: _Chain, user: str, data: dict, digest: str, label: str | None,
                     action: str, before: Any) -> CaseRecord:
        """A new case at version 1 and its audit entry (`case.create` or `case.import`)."""
        u = self._user(s, user)
        self._allow(u, "create_case", "a case")
        now = _now()
        case = Case(label=label, patient=data, schema_version=data["schema_version"], content_hash=digest,
                    version=1, deleted=False, created_by=u.id, created_at=now, updated_at=now)
        s.add(case)
        s.flush()
        self._checkpoint("entity_written")
        chain.append(u, action, "case", case.id, before, _case_state(case))
        return self._case_record(case)

    def _draft_shown(self, extraction: Any) -> dict[str, Any] | None:
        """The draft extraction filled, checked, its patient dumped as a stored patient is (to compare values)."""
        if extraction is None:
            return None
        x = dict(xrecord.checked(extraction))
        try:
            x["patient"] = self._validate(x["patient"])[0]
        except InputError:
            x["patient"] = dict(x["patient"])  # compared as shown; extraction's drafts validate
        return x

    def _record_extraction(self, s: Session, chain: _Chain, u: User, case: Case, data: dict[str, Any],
                           extraction: dict[str, Any] | None) -> None:
        """The extraction record of the version just written and its `extraction.confirm` entry (who, when)."""
        if extraction is None:
            return
        x = CaseExtraction(case_id=case.id, case_version=case.version,
                           documents=[{"name": d["name"], "type": d["type"]} for d in extraction["documents"]],
                           fields=xrecord.fields(data, extraction), confirmed_by=u.id, confirmed_at=_now())
        s.add(x)
        s.flush()
        chain.append(u, "extraction.confirm", "extraction", x.id, None, _extraction_state(x))

    def add_case(self, patient: Patient | dict[str, Any], user: str, extraction: Any = None) -> CaseRecord:
        """Validate the patient (InputError if invalid) and register a new case at version 1. `extraction`: the
        draft report text filled, as shown to the user ({documents, patient, provenance, conflicts}, as
        `mcrc.extract` answers it): the version is recorded with which fields came from it (decision record
        0046)."""
        data, digest, label = self._validate(patient)
        shown = self._draft_shown(extraction)

        def work(s: Session, chain: _Chain) -> CaseRecord:
            rec = self._create_case(s, chain, user, data, digest, label, "case.create", None)
            if shown is not None:
                u = self._user(s, user)
                self._record_extraction(s, chain, u, s.get(Case, rec.id), data, shown)
            return rec

        return self._write(work)

    def update_case(self, case_id: int, patient: Patient | dict[str, Any], expected_version: int,
                    user: str, extraction: Any = None) -> CaseRecord:
        """Replace the patient of a case; StoreConflict if the case is no longer at `expected_version`.
        `extraction` as for `add_case`."""
        data, digest, label = self._validate(patient)
        shown = self._draft_shown(extraction)

        def work(s: Session, chain: _Chain) -> CaseRecord:
            u = self._user(s, user)
            case = self._case(s, case_id, u, lock=True)
            self._allow(u, "update_case", f"case {case_id}")
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is deleted")
            if case.version != expected_version:
                raise StoreConflict(case_id, expected_version, case.version)
            before = _case_state(case, audit.sha256(case.patient))
            case.patient, case.content_hash, case.label = data, digest, label
            case.schema_version, case.version, case.updated_at = data["schema_version"], case.version + 1, _now()
            s.flush()
            chain.append(u, "case.update", "case", case.id, before, _case_state(case))
            self._record_extraction(s, chain, u, case, data, shown)
            return self._case_record(case)

        return self._write(work)

    def delete_case(self, case_id: int, user: str, expected_version: int | None = None) -> CaseRecord:
        """Soft delete: the case stays (for audit) but disappears from lists and refuses changes."""

        def work(s: Session, chain: _Chain) -> CaseRecord:
            u = self._user(s, user)
            case = self._case(s, case_id, u, lock=True)
            self._allow(u, "delete_case", f"case {case_id}")
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is already deleted")
            if expected_version is not None and case.version != expected_version:
                raise StoreConflict(case_id, expected_version, case.version)
            before = _case_state(case, audit.sha256(case.patient))
            case.deleted, case.deleted_at, case.version = True, _now(), case.version + 1
            case.updated_at = case.deleted_at
            s.flush()
            chain.append(u, "case.delete", "case", case.id, before, _case_state(case))
            return self._case_record(case)

        return self._write(work)

    def get_case(self, case_id: int, user: str) -> CaseRecord:
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            return self._case_record(self._case(s, case_id, u))

    def extractions(self, case_id: int, user: str) -> list[ExtractionRecord]:
        """The extraction records of a case, oldest first (one per version saved from report text)."""
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            self._case(s, case_id, u)
            q = (select(CaseExtraction, User.name).join(User, User.id == CaseExtraction.confirmed_by)
                 .where(CaseExtraction.case_id == case_id).order_by(CaseExtraction.id))
            return [ExtractionRecord(id=x.id, case_id=x.case_id, case_version=x.case_version, documents=x.documents,
                                     fields=x.fields, confirmed_by=name, confirmed_at=audit.utc_text(x.confirmed_at))
                    for x, name in s.execute(q)]

    def list_cases(self, user: str, include_deleted: bool = False) -> list[CaseRecord]:
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", "cases")
            if include_deleted:
                self._allow(u, "read_deleted_case", "deleted cases")
            q = select(Case).order_by(Case.id)
            if not include_deleted:
                q = q.where(Case.deleted.is_(False))
            return [self._case_record(c) for c in s.execute(q).scalars()]
