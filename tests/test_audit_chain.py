"""Tampering with the case store behind its back, and exactly what `verify_chain` reports (both backends).

Each test changes the database the way someone with its password could (plain SQL, guards dropped where
they stand in the way) and asserts the findings: which record (kind and id), which audit entry, what kind
of contradiction. The fixtures `url` and `store` are those of test_store.py (SQLite and PostgreSQL).
"""

from __future__ import annotations

import pytest
from sqlalchemy import create_engine, delete, select, text, update

from mcrc.store import Store
from mcrc.store.models import AssessmentRow, AuditEntry, Case, Decision
from tests import test_store as base

url, store = base.url, base.store  # the same fixtures: every test runs on SQLite and on PostgreSQL
_patient = base._patient


def _sql(url: str, *statements) -> None:
    """Run statements (text or Core) in one transaction, as someone with the database's password would."""
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            for st in statements:
                conn.execute(text(st) if isinstance(st, str) else st)
    finally:
        eng.dispose()


def _found(store: Store) -> list[tuple[int | None, str, str, str]]:
    return [(f.seq, f.entity, f.entity_id, f.code) for f in store.verify_chain().findings]


def _last(store: Store, entity: str, entity_id: int) -> int:
    """The seq of the last audit entry of an entity."""
    with store._read() as s:
        return s.execute(select(AuditEntry.seq).where(AuditEntry.entity == entity,
                                                      AuditEntry.entity_id == str(entity_id))
                         .order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()


@pytest.fixture
def history(store):
    """A case updated once, assessed twice, with a decision; a second case; tokens. The chain verifies."""
    p = _patient()
    case = store.add_case(p, user="cli")
    first = store.assess(case.id, user="cli")
    p["metastases"][0]["lymphangitic"] = True
    store.update_case(case.id, p, expected_version=1, user="cli")
    second = store.assess(case.id, user="cli")
    decision = store.decide(case.id, strategies=["systemic_therapy"], rationale="Lymphangitic spread",
                            concordant=True, user="coo", participants={"coordinator": ["coo"]})
    other = store.add_case({**_patient(), "id": "other"}, user="cli2")
    store.assess(other.id, user="cli2")
    token = store.create_token("cli", label="laptop")
    revoked = store.create_token("coo", label="old")
    store.revoke_token(revoked.record.id, actor="coo")
    assert store.verify_chain().ok, store.verify_chain().problems
    return {"case": case.id, "assessments": [first.id, second.id], "decision": decision.id, "other": other.id,
            "token": token.record.id, "revoked": revoked.record.id}


# ---- the four tamperings the chain missed before issue 15 ------------------------------------------
def test_edited_patient_json(store, url, history):
    case = history["case"]
    p = store.get_case(case, user="cli").patient
    p["ecog"] = 3
    _sql(url, update(Case).where(Case.id == case).values(patient=p))
    assert _found(store) == [(_last(store, "case", case), "case", str(case), "content")]


def test_edited_assessment_json(store, url, history):
    aid = history["assessments"][0]
    stored = store.assessments(history["case"], user="cli")[0].assessment
    stored["goal"]["code"] = "palliative"
    _sql(url, update(AssessmentRow).where(AssessmentRow.id == aid).values(assessment=stored))
    assert _found(store) == [(_last(store, "assessment", aid), "assessment", str(aid), "content")]


def test_case_deleted_with_its_assessments_and_decisions(store, url, history):
    case = history["case"]
    _sql(url, delete(Decision).where(Decision.case_id == case),
         delete(AssessmentRow).where(AssessmentRow.case_id == case), delete(Case).where(Case.id == case))
    a1, a2 = history["assessments"]
    assert _found(store) == sorted([
        (_last(store, "case", case), "case", str(case), "gone"),
        (_last(store, "assessment", a1), "assessment", str(a1), "gone"),
        (_last(store, "assessment", a2), "assessment", str(a2), "gone"),
        (_last(store, "decision", history["decision"]), "decision", str(history["decision"]), "gone"),
    ])


# ---- records --------------------------------------------------------------------------------------
def test_json_edit_then_a_real_update_is_not_laundered(store, url, history):
    """The next write through the store starts from the edited JSON: the break between the two entries stays."""
    case = history["other"]
    p = store.get_case(case, user="cli").patient
    edited = {**p, "ecog": 4}
    _sql(url, update(Case).where(Case.id == case).values(patient=edited))
    created = _last(store, "case", case)
    store.update_case(case, {**p, "ecog": 2}, expected_version=1, user="cli")  # row and column agree again
    assert _found(store) == [(_last(store, "case", case), "case", str(case), "between")]
    assert created < _last(store, "case", case)


def test_content_hash_is_stable_on_both_backends(store):
    """The hash of the stored patient JSON read back equals the one computed before writing (PostgreSQL's
    JSONB reorders keys and rewrites numbers; the canonical form and the bounded values make that invisible)."""
    from mcrc.store import audit

    p = _patient()
    p["id"] = "Zoë, née 李"  # non-ASCII
    p["primary"]["distance_from_anal_verge_cm"] = 1e-07  # JSON "1e-07"; JSONB prints 0.0000001
    p["metastases"][0]["largest_size"] = {"value": 12.5, "unit": "mm"}
    case = store.add_case(p, user="cli")
    if store.backend == "postgresql":  # JSONB really does keep its own key order
        with store.engine.connect() as conn:
            keys = conn.execute(text("SELECT jsonb_object_keys(patient) FROM cases WHERE id = :i"),
                                {"i": case.id}).scalars().all()
        assert keys != sorted(keys)  # so the hash cannot rely on the order it wrote
    stored = store.get_case(case.id, user="cli")
    assert audit.sha256(stored.patient) == stored.content_hash == case.content_hash
    assessment = store.assess(case.id, user="cli")
    with store._read() as s:
        row = s.get(AssessmentRow, assessment.id)
        assert audit.sha256(row.assessment) == row.content_hash
    assert store.verify_chain().ok
