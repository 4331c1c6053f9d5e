"""The record of which fields of a case came from report text (issue 22 item 2, decision record 0046): written with
the case version and an `extraction.confirm` audit entry naming the confirming user, origins computed by the store
(a changed, cleared or moved field is the clinician's), guarded, checked by verify-chain, on SQLite and PostgreSQL."""

from __future__ import annotations

import copy

import pytest
from sqlalchemy import create_engine, text

from mcrc.store import StoreInvalid
from mcrc.store.errors import StoreError
from tests import test_audit_chain as chain
from tests import test_store as base

url, store = base.url, base.store  # SQLite and PostgreSQL (MCRC_TEST_POSTGRES)


def _src(doc: str, sentence: str, start: int = 0) -> dict:
    return {"document": doc, "start": start, "end": start + len(sentence), "sentence": sentence,
            "confidence": "explicit", "rule": "r", "text": sentence}


# the shape `mcrc.extract` answers (and the web page carries): a draft, each filled leaf's source, the conflicts
DRAFT = {
    "documents": [{"name": "path.txt", "type": "pathology"}, {"name": "ct.txt", "type": "radiology"}],
    "patient": {"biomarkers": {"nras": "wild_type", "mmr": "proficient"}, "ecog": 1,
                "metastases": [{"organ": "lung", "count": 3, "largest_size": {"value": 2.3, "unit": "cm"}},
                               {"organ": "liver", "count": 2}]},
    "provenance": {
        "biomarkers.nras": _src("path.txt", "NRAS wild-type."),
        "biomarkers.mmr": _src("path.txt", "MLH1, PMS2, MSH2 and MSH6 retained.", 16),
        "ecog": _src("ct.txt", "ECOG 1."),
        "metastases[0].organ": _src("ct.txt", "Three pulmonary nodules.", 8),
        "metastases[0].count": _src("ct.txt", "Three pulmonary nodules.", 8),
        "metastases[0].largest_size.value": _src("ct.txt", "The largest measures 2.3 cm.", 30),
        "metastases[0].largest_size.unit": _src("ct.txt", "The largest measures 2.3 cm.", 30),
        "metastases[1].organ": _src("ct.txt", "Two liver lesions.", 60),
        "metastases[1].count": _src("ct.txt", "Two liver lesions.", 60),
    },
    "conflicts": [{"field": "biomarkers.kras", "reason": "different values",
                   "values": [{"value": "wild_type", **_src("path.txt", "KRAS wild-type.")},
                              {"value": "mutant", **_src("ct.txt", "KRAS G12D.")}]}],
}


def _origins(record) -> dict[str, tuple[str, object]]:
    return {f["field"]: (f["origin"], f["value"]) for f in record.fields}


def test_a_case_saved_from_a_draft_records_every_field_and_who_confirmed_it(store):
    saved = copy.deepcopy(DRAFT["patient"])
    saved["biomarkers"]["kras"] = "mutant"  # the clinician settles the conflict
    saved["age"] = 64  # and adds what the reports did not say
    case = store.add_case(saved, "cli", extraction=DRAFT)
    [rec] = store.extractions(case.id, "aud")
    assert (rec.case_id, rec.case_version, rec.confirmed_by) == (case.id, 1, "cli")
    assert rec.documents == DRAFT["documents"]
    assert _origins(rec) == {**{p: ("extracted", v) for p, v in (
        ("biomarkers.nras", "wild_type"), ("biomarkers.mmr", "proficient"), ("ecog", 1),
        ("metastases[0].organ", "lung"), ("metastases[0].count", 3), ("metastases[0].largest_size.value", 2.3),
        ("metastases[0].largest_size.unit", "cm"), ("metastases[1].organ", "liver"), ("metastases[1].count", 2))},
        "biomarkers.kras": ("conflict", "mutant")}
    ecog = next(f for f in rec.fields if f["field"] == "ecog")
    assert ecog["extracted"] == {"value": 1, "document": "ct.txt", "start": 0, "end": 7, "sentence": "ECOG 1.",
                                 "confidence": "explicit"}
    kras = next(f for f in rec.fields if f["field"] == "biomarkers.kras")
    assert [(v["value"], v["document"]) for v in kras["conflict"]] == [("wild_type", "path.txt"), ("mutant", "ct.txt")]
    # the audit entry names the confirming user and follows the case's own entry; the chain holds
    entries = store.audit_entries("aud")
    assert [(e.action, e.entity, e.user_name, e.user_role) for e in entries[-2:]] == [
        ("case.create", "case", "cli", "clinician"), ("extraction.confirm", "extraction", "cli", "clinician")]
    assert entries[-1].entity_id == str(rec.id)
    assert store.verify_chain().ok


def test_changed_cleared_and_moved_fields_are_the_clinicians(store):
    saved = copy.deepcopy(DRAFT["patient"])
    saved["ecog"] = 2  # changed
    del saved["biomarkers"]["mmr"]  # cleared
    saved["metastases"].reverse()  # rows swapped: same counts would not make them the report's rows
    saved["metastases"][0]["count"] = 3  # liver row now at index 0 with the lung row's count
    case = store.add_case(saved, "coo", extraction=DRAFT)
    [rec] = store.extractions(case.id, "coo")
    origins = _origins(rec)
    assert origins["ecog"] == ("clinician", 2)
    assert origins["biomarkers.mmr"] == ("clinician", None)
    assert origins["biomarkers.nras"] == ("extracted", "wild_type")
    # metastases[0] is now the liver row: its organ differs from the draft's, so nothing in it counts as extracted,
    # not even the count that happens to equal the lung row's 3
    assert origins["metastases[0].organ"] == ("clinician", "liver")
    assert origins["metastases[0].count"] == ("clinician", 3)
    assert origins["metastases[1].organ"] == ("clinician", "lung")
    ecog = next(f for f in rec.fields if f["field"] == "ecog")
    assert ecog["extracted"]["value"] == 1 and ecog["value"] == 2  # what was proposed stays beside it
    assert rec.confirmed_by == "coo"


def test_an_update_from_a_draft_records_the_new_version(store):
    case = store.add_case({"ecog": 0}, "cli")
    assert store.extractions(case.id, "cli") == []
    new = store.update_case(case.id, DRAFT["patient"], expected_version=1, user="cli2", extraction=DRAFT)
    [rec] = store.extractions(case.id, "cli")
    assert (rec.case_version, rec.confirmed_by) == (new.version, "cli2")
    assert store.audit_entries("aud")[-1].action == "extraction.confirm" and store.verify_chain().ok


def test_a_malformed_draft_is_refused_and_nothing_is_written(store):
    before = base._counts(store)
    for bad, where in ((["x"], "extraction"), ({**DRAFT, "documents": []}, "extraction.documents"),
                       ({**DRAFT, "provenance": {"ecog": {"document": "a"}}}, "extraction.provenance.ecog"),
                       ({**DRAFT, "provenance": {"no such path!": _src("a", "b")}},
                        "extraction.provenance.no such path!"),
                       ({**DRAFT, "conflicts": [{"values": []}]}, "extraction.conflicts")):
        with pytest.raises(StoreInvalid) as exc:
            store.add_case(DRAFT["patient"], "cli", extraction=bad)
        assert [p.where for p in exc.value.problems] == [where]
    assert base._counts(store) == before


def test_records_are_never_changed_or_deleted_and_a_change_behind_the_store_is_found(store, url):
    case = store.add_case(DRAFT["patient"], "cli", extraction=DRAFT)
    [rec] = store.extractions(case.id, "cli")
    statements = [(f"UPDATE case_extractions SET case_version = 9 WHERE id = {rec.id}", "never changed"),
                  (f"DELETE FROM case_extractions WHERE id = {rec.id}", "never deleted")]
    if store.backend == "postgresql":
        statements.append(("TRUNCATE case_extractions", "never truncated"))
    eng = create_engine(url)
    try:
        for sql, message in statements:
            with pytest.raises(Exception, match=message), eng.begin() as conn:
                conn.execute(text(sql))
    finally:
        eng.dispose()
    assert store.verify_chain().ok
    chain._unguard(url, "case_extractions")
    chain._sql(url, f"UPDATE case_extractions SET fields = '[]' WHERE id = {rec.id}")
    assert chain._found(store) == [(chain._last(store, "extraction", rec.id), "extraction", str(rec.id), "changed")]


def test_downgrade_below_0007_is_refused_while_records_exist(store):
    store.downgrade("0006")
    assert "case_extractions" not in store.tables()
    store.upgrade()
    store.add_case(DRAFT["patient"], "cli", extraction=DRAFT)
    with pytest.raises(StoreError, match="below 0007 would delete"):
        store.downgrade("0006")
    assert store.schema_revision() == "0007" and "case_extractions" in store.tables()
