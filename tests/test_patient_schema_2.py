"""Patient schema 2 (issue 16): migration 0005 rewrites stored schema-1 patients (SQLite and PostgreSQL), the
schema-1 mapping itself, and the bad treatment histories every entry point refuses with the field's path.

Decision record 0026. The store tests use `tests.stores.backend_url`: each runs on SQLite and, with
MCRC_TEST_POSTGRES set, on PostgreSQL (a schema of its own).
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import logging
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, insert, select, update
from typer.testing import CliRunner

import mcrc
from mcrc.api import Settings, create_app
from mcrc.cli import app as mcrc_app
from mcrc.errors import InputError
from mcrc.patient import is_v1, parse_patient, upgrade_v1
from mcrc.store import Store, StoreError, audit
from mcrc.store.models import AuditEntry, Case
from mcrc.store.states import _case_state
from tests.stores import backend_url, store_with_clinician
from tests.test_audit_chain import _unguard
from tests.test_store import _counts

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "01-sync-low-rectal-resectable.json"
MIGRATION = ("mcrc db upgrade", "system")

# ---- schema-1 documents, as the schema-1 model dumped them (explicit version, no nulls, floats as floats) ----------
_BASE_V1 = {
    "schema_version": "1", "age": 66, "sex": "male", "ecog": 1,
    "primary": {"location": "rectum", "distance_from_anal_verge_cm": 9.0, "ct": "T3", "cn": "N1",
                "diagnosed": "2022-05-09", "status": "resected", "resected_on": "2022-09-26", "emergency": "none"},
    "metastases": [{"organ": "lung", "count": 1, "largest_size": {"value": 15.0, "unit": "mm"}, "bilateral": False,
                    "zone": "outer", "hilar_mediastinal_nodes": False, "lymphangitic": False, "symptomatic": False,
                    "nature_indeterminate": False, "found": "2025-10-05", "resectability": "resectable"}],
    "biomarkers": {"kras": "wild_type", "nras": "wild_type", "braf": "wild_type", "mmr": "proficient",
                   "msi": "stable", "her2": "negative", "specimen": "primary"},
    "cea_ng_ml": 8.7, "fitness": {"fit_for_surgery": True}, "ned": False,
}
# Chemoradiotherapy of the rectal primary (capecitabine with pelvic radiotherapy), then adjuvant CAPOX.
V1_RECTAL = {**_BASE_V1, "id": "v1-rectal", "treatment_history": {
    "courses": [{"setting": "neoadjuvant", "regimen": "CAPECITABINE", "started": "2022-05-30", "ended": "2022-07-08",
                 "outcome": "completed"},
                {"setting": "adjuvant", "regimen": "CAPOX", "started": "2022-10-31", "ended": "2023-03-13",
                 "outcome": "completed"}],
    "procedures": [{"kind": "pelvic_radiotherapy", "date": "2022-06-20"},
                   {"kind": "primary_resection", "date": "2022-09-26", "margin": "R0"}]}}
# Preoperative FOLFOX around a liver resection, SBRT of a lung metastasis, then two palliative lines.
V1_PALLIATIVE = {**_BASE_V1, "id": "v1-palliative", "treatment_history": {
    "courses": [{"setting": "neoadjuvant", "regimen": "FOLFOX", "started": "2023-01-09", "ended": "2023-03-20",
                 "outcome": "response"},
                {"setting": "palliative", "line": 1, "regimen": "FOLFOX_BEV", "started": "2024-02-05",
                 "ended": "2024-09-02", "outcome": "progression", "progression_date": "2024-08-26"},
                {"setting": "palliative", "line": 2, "regimen": "FOLFIRI_BEV", "started": "2024-09-16",
                 "outcome": "intolerance"}],
    "procedures": [{"kind": "liver_resection", "date": "2023-04-17", "margin": "R0"}, {"kind": "lung_sbrt"}]}}
# Valid in schema 1, which compared only a course's end with its start: its progression is dated before its start.
V1_BAD = {**_BASE_V1, "id": "v1-bad", "treatment_history": {
    "courses": [{"setting": "palliative", "regimen": "FOLFOX", "started": "2025-03-01", "outcome": "progression",
                 "progression_date": "2025-01-10"}],
    "procedures": []}}
BAD_PROBLEM = "treatment_history.courses[0]: progression_date (2025-01-10) is before started (2025-03-01)"


def _schema_2(doc: dict) -> dict:
    """The schema-2 patient a store keeps for `doc` (as `Store._validate` stores it)."""
    return parse_patient(upgrade_v1(doc)).model_dump(mode="json", exclude_none=True)


def _patient() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    with backend_url(request.param, tmp_path) as u:
        yield u


def _sql(url: str, *statements) -> None:
    """Run Core statements in one transaction, as someone with the database's password would."""
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            for st in statements:
                conn.execute(st)
    finally:
        eng.dispose()


def _write_as_at_0004(monkeypatch) -> None:
    """Make the store keep schema-1 documents as the code of revision 0004 did.

    That code validated a patient with the schema-1 model and stored the model's dump; today's model upgrades
    schema 1 on input, so `add_case` alone would store schema 2. Only `_validate` is replaced: it keeps the given
    document, which is already in the form the schema-1 model dumped (so the dump would be the same document).
    The case rows, their versions and their audit entries are written by the store's own code, as at 0004."""
    def validate(patient):
        assert isinstance(patient, dict) and is_v1(patient) and patient["schema_version"] == "1"
        return copy.deepcopy(patient), audit.sha256(patient), patient.get("id")

    monkeypatch.setattr(Store, "_validate", staticmethod(validate))


def _store_at_0004(url: str, monkeypatch) -> tuple[Store, dict[str, int]]:
    """A store at revision 0004 holding schema-1 cases with a history (an update, assessments, a decision) and one
    schema-2 case written by today's code."""
    s = Store(url)
    s.upgrade("0004")
    s.add_user("adm", "admin")
    for name, role in (("cli", "clinician"), ("coo", "coordinator"), ("aud", "auditor")):
        s.add_user(name, role, actor="adm")
    with monkeypatch.context() as m:
        _write_as_at_0004(m)
        rectal = s.add_case(V1_RECTAL, user="cli").id
        s.update_case(rectal, {**V1_RECTAL, "cea_ng_ml": 9.1}, expected_version=1, user="cli")
        palliative = s.add_case(V1_PALLIATIVE, user="cli").id
    s.assess(rectal, user="cli")  # the assessments of those days (today's engine reads schema 1 too)
    s.assess(palliative, user="cli")
    s.decide(palliative, strategies=["systemic_therapy"], rationale="third line", concordant=True, user="coo")
    current = s.add_case(_patient(), user="cli").id
    return s, {"rectal": rectal, "palliative": palliative, "current": current}


def _new_entries(s: Store, after: int) -> list[tuple[str, str, str, str, str]]:
    return [(e.action, e.entity, e.entity_id, e.user_name, e.user_role) for e in s.audit_entries("aud")[after:]]


def _found(s: Store) -> list[tuple[int | None, str, str, str]]:
    return [(f.seq, f.entity, f.entity_id, f.code) for f in s.verify_chain().findings]


# ---- migration 0005 --------------------------------------------------------------------------------------------
def test_upgrade_rewrites_schema_1_cases_as_schema_2_and_the_chain_verifies(url, monkeypatch):
    s, ids = _store_at_0004(url, monkeypatch)
    old = {k: s.get_case(i, user="aud") for k, i in ids.items()}
    assert old["rectal"].patient == {**V1_RECTAL, "cea_ng_ml": 9.1} and old["rectal"].schema_version == "1"
    assessments = {k: s.assessments(i, user="aud") for k, i in ids.items()}
    entries = len(s.audit_entries("aud"))
    assert s.verify_chain().ok, s.verify_chain().problems

    s.upgrade()
    assert s.schema_revision() == s.head_revision() == "0007"
    new = {k: s.get_case(i, user="cli") for k, i in ids.items()}
    for key, doc in (("rectal", {**V1_RECTAL, "cea_ng_ml": 9.1}), ("palliative", V1_PALLIATIVE)):
        case = new[key]
        assert case.patient == _schema_2(doc) and case.patient["schema_version"] == case.schema_version == "2"
        assert case.content_hash == audit.sha256(case.patient) != old[key].content_hash
        assert (case.version, case.label, case.deleted) == (old[key].version + 1, old[key].label, False)
    assert new["current"] == old["current"]  # already schema 2: untouched

    rectal, palliative = (new[k].patient["treatment_history"] for k in ("rectal", "palliative"))
    assert [(c["intent"], c.get("stop_reason"), c.get("best_response")) for c in rectal["courses"]] == [
        ("neoadjuvant", "completed", None), ("adjuvant", "completed", None)]  # capecitabine with pelvic RT
    assert rectal["radiotherapy"] == [{"kind": "other", "site": "pelvis", "started": "2022-06-20"}]
    assert [p["kind"] for p in rectal["procedures"]] == ["primary_resection"]
    assert [(c["intent"], c.get("stop_reason"), c.get("best_response")) for c in palliative["courses"]] == [
        ("perioperative", None, "response"), ("palliative", "progression", None), ("palliative", "toxicity", None)]
    assert palliative["courses"][1]["progression_date"] == "2024-08-26"
    assert palliative["radiotherapy"] == [{"kind": "sbrt", "site": "lung"}]

    assert _new_entries(s, entries) == [("case.upgrade", "case", str(ids[k]), *MIGRATION)
                                        for k in ("rectal", "palliative")]
    for key in ("rectal", "palliative"):
        entry = s.audit_entries("aud")[-2 if key == "rectal" else -1]
        with s._read() as session:
            row = session.get(Case, ids[key])
            assert entry.after_hash == audit.sha256(_case_state(row))
        assert entry.before_hash == audit.sha256({**_case_state(row), "version": old[key].version,
                                                  "content_hash": old[key].content_hash, "schema_version": "1"})
    assert s.verify_chain().ok, s.verify_chain().problems
    assert {k: s.assessments(i, user="aud") for k, i in ids.items()} == assessments  # history is not rewritten

    shown = CliRunner().invoke(mcrc_app, ["case", "show", str(ids["rectal"]), "--user", "cli", "--db", url])
    assert shown.exit_code == 0, shown.output
    doc = json.loads(shown.stdout)
    assert doc["patient"] == new["rectal"].patient and (doc["schema_version"], doc["version"]) == ("2", 3)
    assert [a["case_version"] for a in doc["assessments"]] == [2]

    a = s.assess(ids["palliative"], user="cli")  # assessing the upgraded case works, and a decision needs it
    assert a.case_version == new["palliative"].version
    assert a.input_hash == mcrc.assess(new["palliative"].patient).provenance.input_hash
    assert mcrc.Assessment.model_validate(a.assessment).codes() == mcrc.assess(V1_PALLIATIVE).codes()
    s.decide(ids["palliative"], strategies=["systemic_therapy"], rationale="after the upgrade", concordant=True,
             user="coo")
    assert s.verify_chain().ok, s.verify_chain().problems

    entries = len(s.audit_entries("aud"))
    s.upgrade()  # at head: nothing to do
    assert len(s.audit_entries("aud")) == entries
    assert s.add_case({**V1_RECTAL, "id": "new"}, user="cli").schema_version == "2"  # today's writes are schema 2
    s.close()


def test_upgrade_leaves_what_it_must_not_rewrite_and_says_why(url, monkeypatch, caplog):
    """A patient that does not validate after upgrading, a deleted case and a case written around the store stay
    at schema 1; the first gets a `case.upgrade_refused` entry and every one is named in the migration's output."""
    s, ids = _store_at_0004(url, monkeypatch)
    with monkeypatch.context() as m:
        _write_as_at_0004(m)
        bad = s.add_case(V1_BAD, user="cli").id
        gone = s.add_case({**V1_RECTAL, "id": "gone"}, user="cli").id
    s.delete_case(gone, user="coo")
    by_hand = {**V1_RECTAL, "id": "by-hand"}
    with s._read() as session:
        cli = session.execute(select(Case.created_by).where(Case.id == bad)).scalar_one()
    now = dt.datetime.now(dt.UTC)
    _sql(url, insert(Case).values(label="by-hand", patient=by_hand, schema_version="1", version=1, deleted=False,
                                  content_hash=audit.sha256(by_hand), created_by=cli, created_at=now, updated_at=now))
    with s._read() as session:
        unaudited = session.execute(select(Case.id).where(Case.label == "by-hand")).scalar_one()
    assert _found(s) == [(None, "case", str(unaudited), "unaudited")]
    before = {i: s.get_case(i, user="aud") for i in (bad, gone, unaudited)}
    entries = len(s.audit_entries("aud"))

    with caplog.at_level(logging.INFO, logger="mcrc.store.migrations"):
        s.upgrade()
    assert s.schema_revision() == "0007"
    assert {i: s.get_case(i, user="aud") for i in (bad, gone, unaudited)} == before  # all three as they were
    assert _new_entries(s, entries) == [("case.upgrade", "case", str(ids["rectal"]), *MIGRATION),
                                        ("case.upgrade", "case", str(ids["palliative"]), *MIGRATION),
                                        ("case.upgrade_refused", "case", str(bad), *MIGRATION)]
    refused = s.audit_entries("aud")[-1]
    with s._read() as session:
        state = audit.sha256(_case_state(session.get(Case, bad)))
    assert refused.before_hash == refused.after_hash == state  # examined, left as it was
    assert _found(s) == [(None, "case", str(unaudited), "unaudited")]  # nothing new, nothing laundered

    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert warnings == [
        f"migration 0005: case {bad} left at patient schema 1: its upgraded patient is not valid ({BAD_PROBLEM}); "
        "correct it with `mcrc case update` (stored as schema 2)",
        f"migration 0005: case(s) {unaudited} left at patient schema 1: no audit entry vouches for them (written "
        "around the store; see `mcrc audit verify-chain`)"]
    infos = [r.getMessage() for r in caplog.records if r.levelno == logging.INFO]
    assert "migration 0005: 2 case(s) rewritten from patient schema 1 to schema 2" in infos
    assert f"migration 0005: deleted case(s) {gone} kept at patient schema 1 (never changed once deleted)" in infos

    with pytest.raises(InputError) as exc:  # the case left behind says what is wrong with it when used
        s.assess(bad, user="cli")
    assert [str(p) for p in exc.value.problems] == [BAD_PROBLEM]
    fixed = copy.deepcopy(V1_BAD)
    fixed["treatment_history"]["courses"][0]["progression_date"] = "2025-06-10"
    case = s.update_case(bad, fixed, expected_version=1, user="cli")
    assert (case.version, case.schema_version, case.patient) == (2, "2", _schema_2(fixed))
    assert _found(s) == [(None, "case", str(unaudited), "unaudited")]
    s.close()


@pytest.mark.parametrize("guards", ["kept", "taken away"])
def test_upgrade_does_not_bless_earlier_tampering(url, monkeypatch, guards):
    """A schema-1 patient edited behind the log's back before the upgrade: its `case.upgrade` entry starts from a
    state the previous entry did not vouch for, and verify-chain reports the break there (as after `case.update`).
    The guards let the edit through only as the case's next version; without them, the patient JSON alone is
    edited, which only the content hash recomputed from the stored JSON shows."""
    s, ids = _store_at_0004(url, monkeypatch)
    edited = {**V1_PALLIATIVE, "ecog": 0}
    if guards == "kept":
        _sql(url, update(Case).where(Case.id == ids["palliative"]).values(patient=edited, version=Case.version + 1))
    else:
        _unguard(url, "cases")
        _sql(url, update(Case).where(Case.id == ids["palliative"]).values(patient=edited))
    with s._read() as session:
        last = session.execute(select(AuditEntry.seq).where(AuditEntry.entity_id == str(ids["palliative"]),
                                                            AuditEntry.entity == "case")
                               .order_by(AuditEntry.seq.desc()).limit(1)).scalar_one()
    assert _found(s) == [(last, "case", str(ids["palliative"]), "content"),
                         *([(last, "case", str(ids["palliative"]), "changed")] if guards == "kept" else [])]
    s.upgrade()
    upgraded = s.audit_entries("aud")[-1]
    assert (upgraded.action, upgraded.entity_id) == ("case.upgrade", str(ids["palliative"]))
    assert s.get_case(ids["palliative"], user="cli").patient == _schema_2(edited)
    assert _found(s) == [(upgraded.seq, "case", str(ids["palliative"]), "between")]
    s.close()


def test_downgrade_is_refused_once_cases_were_rewritten(url, monkeypatch):
    s, ids = _store_at_0004(url, monkeypatch)
    s.upgrade()
    cases, entries = s.list_cases(user="aud"), len(s.audit_entries("aud"))
    with pytest.raises(StoreError, match=r"refused: migration 0005 rewrote 2 case\(s\) from patient schema 1 to "
                                         rf"schema 2 \(case {ids['rectal']}, {ids['palliative']}\) and schema 2 "
                                         "cannot be written back as schema 1 without loss .*restore the backup"):
        s.downgrade("0004")
    assert s.schema_revision() == "0007"
    assert s.list_cases(user="aud") == cases and len(s.audit_entries("aud")) == entries
    assert s.verify_chain().ok
    s.close()


def test_downgrade_with_nothing_rewritten_and_up_again(url):
    """Schema-2 cases that migration 0005 did not write: the downgrade has nothing to undo."""
    s = Store(url)
    s.upgrade()
    s.add_user("adm", "admin")
    s.add_user("cli", "clinician", actor="adm")
    case = s.add_case(_patient(), user="cli")
    entries = len(s.audit_entries("adm"))
    s.downgrade("0004")
    assert s.schema_revision() == "0004"
    s.upgrade()
    assert s.schema_revision() == "0007" and len(s.audit_entries("adm")) == entries
    assert s.get_case(case.id, user="cli") == case and s.verify_chain().ok
    s.close()


def test_db_upgrade_command_names_the_cases_left_at_schema_1(tmp_path, monkeypatch):
    """What an operator sees: `mcrc db upgrade` succeeds and the migration's warnings reach standard error."""
    url = f"sqlite:///{tmp_path / 'store.db'}"
    s, _ = _store_at_0004(url, monkeypatch)
    with monkeypatch.context() as m:
        _write_as_at_0004(m)
        bad = s.add_case(V1_BAD, user="cli").id
    s.close()
    r = subprocess.run([sys.executable, "-m", "mcrc.cli", "db", "upgrade", "--db", url], capture_output=True,
                       text=True, cwd=ROOT, timeout=120)
    assert r.returncode == 0, r.stderr
    assert "database at schema revision 0007" in r.stdout
    assert f"case {bad} left at patient schema 1" in r.stderr and BAD_PROBLEM in r.stderr
    assert "Traceback" not in r.stderr


# ---- the schema-1 mapping (mcrc.patient.upgrade_v1) ---------------------------------------------------------------
def _v1(courses=None, procedures=None, **extra) -> dict:
    hist = {k: v for k, v in (("courses", courses), ("procedures", procedures)) if v is not None}
    return {"schema_version": "1", "treatment_history": hist, **extra}


@pytest.mark.parametrize(("outcome", "mapped"), [
    ("progression", {"stop_reason": "progression"}), ("completed", {"stop_reason": "completed"}),
    ("intolerance", {"stop_reason": "toxicity"}), ("response", {"best_response": "response"}),
    ("stable", {"best_response": "stable"})])
def test_each_schema_1_outcome(outcome, mapped):
    up = upgrade_v1(_v1([{"setting": "palliative", "regimen": "FOLFOX", "outcome": outcome}]))
    assert up["treatment_history"]["courses"] == [{"intent": "palliative", "regimen": "FOLFOX", **mapped}]
    parse_patient(up)


@pytest.mark.parametrize("setting", ["adjuvant", "conversion", "palliative"])
def test_schema_1_settings_that_keep_their_name(setting):
    up = upgrade_v1(_v1([{"setting": setting, "regimen": "CAPOX"}]))
    assert up["treatment_history"]["courses"] == [{"intent": setting, "regimen": "CAPOX"}]


@pytest.mark.parametrize(("regimen", "procedures", "intent"), [
    ("CAPECITABINE", [{"kind": "pelvic_radiotherapy"}], "neoadjuvant"),
    ("FU_LV", [{"kind": "primary_resection"}, {"kind": "pelvic_radiotherapy", "date": "2023-02-01"}], "neoadjuvant"),
    ("FOLFOX", [{"kind": "pelvic_radiotherapy"}], "perioperative"),  # not a fluoropyrimidine alone
    ("CAPOX", [{"kind": "pelvic_radiotherapy"}], "perioperative"),
    ("CAPECITABINE", [{"kind": "lung_sbrt"}], "perioperative"),  # radiotherapy, but not pelvic
    ("CAPECITABINE", [], "perioperative"),
    ("CAPECITABINE", None, "perioperative"),  # procedures not recorded
])
def test_schema_1_neoadjuvant_is_the_primary_only_with_a_fluoropyrimidine_and_pelvic_radiotherapy(
        regimen, procedures, intent):
    up = upgrade_v1(_v1([{"setting": "neoadjuvant", "regimen": regimen}], procedures))
    assert up["treatment_history"]["courses"] == [{"intent": intent, "regimen": regimen}]
    parse_patient(up)


def test_schema_1_radiotherapy_procedures_become_radiotherapy_courses():
    up = upgrade_v1(_v1(procedures=[{"kind": "liver_resection", "date": "2023-04-17", "margin": "R0"},
                                    {"kind": "pelvic_radiotherapy", "date": "2022-06-20"},
                                    {"kind": "lung_sbrt"}, {"kind": "stent"}]))
    hist = up["treatment_history"]
    assert hist["radiotherapy"] == [{"kind": "other", "site": "pelvis", "started": "2022-06-20"},
                                    {"kind": "sbrt", "site": "lung"}]
    assert hist["procedures"] == [{"kind": "liver_resection", "date": "2023-04-17", "margin": "R0"},
                                  {"kind": "stent"}]
    assert parse_patient(up).treatment_history.radiotherapy[0].started.isoformat() == "2022-06-20"


def test_schema_1_procedure_list_without_radiotherapy_says_none_was_given():
    assert upgrade_v1(_v1(procedures=[{"kind": "primary_resection"}]))["treatment_history"]["radiotherapy"] == []
    assert upgrade_v1(_v1(procedures=[]))["treatment_history"]["radiotherapy"] == []
    assert "radiotherapy" not in upgrade_v1(_v1(courses=[]))["treatment_history"]  # not recorded: unknown
    assert parse_patient(_v1(courses=[])).treatment_history.radiotherapy is None


def test_upgrade_v1_returns_a_new_document():
    doc = _v1([{"setting": "neoadjuvant", "regimen": "FU_LV", "outcome": "completed"}],
              [{"kind": "pelvic_radiotherapy"}])
    kept = copy.deepcopy(doc)
    up = upgrade_v1(doc)
    assert doc == kept and up["schema_version"] == "2"
    assert parse_patient(doc).model_dump(mode="json", exclude_none=True) == parse_patient(up).model_dump(
        mode="json", exclude_none=True)  # the model reads a schema-1 document through the same mapping


@pytest.mark.parametrize(("doc", "v1"), [
    ({"schema_version": "1"}, True),
    ({"schema_version": "1", "treatment_history": {"courses": [{"intent": "palliative"}]}}, True),  # it says so
    ({"schema_version": "2"}, False),
    ({"schema_version": "2", "treatment_history": {"courses": [{"setting": "palliative"}]}}, False),
    ({}, True),
    ({"age": 60, "treatment_history": {"courses": [{"setting": "palliative", "outcome": "stable"}]}}, True),
    ({"treatment_history": {"procedures": [{"kind": "pelvic_radiotherapy"}]}}, True),
    ({"treatment_history": {"courses": [{"intent": "palliative"}]}}, False),
    ({"treatment_history": {"courses": [{"setting": "palliative", "drugs": ["fluorouracil"]}]}}, False),
    ({"treatment_history": {"courses": [{"setting": "palliative", "cycles": 4}]}}, False),
    ({"treatment_history": {"courses": [{"setting": "palliative", "best_response": "stable"}]}}, False),
    ({"treatment_history": {"courses": [{"setting": "palliative", "stop_reason": "completed"}]}}, False),
    ({"treatment_history": {"radiotherapy": []}}, False),
], ids=["explicit-1", "explicit-1-with-v2-fields", "explicit-2", "explicit-2-with-v1-fields", "empty",
        "no-version-v1-fields", "no-version-v1-procedure", "no-version-intent", "no-version-drugs",
        "no-version-cycles", "no-version-best-response", "no-version-stop-reason", "no-version-radiotherapy"])
def test_is_v1(doc, v1):
    assert is_v1(doc) is v1


def test_unknown_schema_1_outcome_is_reported_with_its_path():
    with pytest.raises(InputError) as exc:
        parse_patient(_v1([{"setting": "palliative", "regimen": "FOLFOX", "outcome": "cured"}]))
    assert [p.where for p in exc.value.problems] == ["treatment_history.courses[0].outcome"]


def test_unknown_schema_1_outcome_names_the_value_and_what_is_allowed():
    with pytest.raises(InputError) as exc:
        parse_patient(_v1([{"setting": "palliative", "regimen": "FOLFOX", "outcome": "cured"}]))
    (problem,) = exc.value.problems
    assert "'cured'" in problem.message
    assert all(o in str(problem) for o in ("response", "stable", "progression", "completed", "intolerance"))


def test_schema_1_radiotherapy_procedure_with_an_unknown_key_is_still_refused():
    with pytest.raises(InputError) as exc:
        parse_patient(_v1(procedures=[{"kind": "lung_sbrt", "dat": "2023-01-01"}]))
    assert "treatment_history.procedures[0].dat" in str(exc.value)


def test_schema_1_problems_are_named_by_the_paths_the_sender_wrote():
    with pytest.raises(InputError) as exc:
        parse_patient(_v1([{"setting": "first_line", "regimen": "FOLFOX"}],
                          [{"kind": "stent"}, {"kind": "pelvic_radiotherapy", "date": "2099-01-01"}]))
    assert {p.where for p in exc.value.problems} == {"treatment_history.courses[0].setting",
                                                     "treatment_history.procedures[1].date"}


# ---- bad treatment histories at every entry point (issue 16) -------------------------------------------------------
def _course(**fields) -> dict:
    return {"intent": "palliative", "regimen": "FOLFOX", **fields}


BAD_HISTORIES = [  # (id, courses, field path, pointer, message)
    ("ends-before-start", [_course(started="2025-03-01", ended="2025-01-01")], "treatment_history.courses[0]",
     "/treatment_history/courses/0", "ended (2025-01-01) is before started (2025-03-01)"),
    ("progression-before-start", [_course(started="2025-03-01", progression_date="2025-01-10")],
     "treatment_history.courses[0]", "/treatment_history/courses/0",
     "progression_date (2025-01-10) is before started (2025-03-01)"),
    ("unknown-drug", [{"intent": "palliative", "drugs": ["fluorouracil", "unobtainium"]}],
     "treatment_history.courses[0].drugs", "/treatment_history/courses/0/drugs",
     "unknown drug code(s) 'unobtainium'; allowed: fluorouracil, capecitabine"),
    ("two-ongoing-palliative", [_course(started="2025-01-06", stop_reason="ongoing"),
                                _course(regimen="FOLFIRI", started="2025-06-02", stop_reason="ongoing")],
     "treatment_history", "/treatment_history",
     "courses [0], [1] are all ongoing: one line of therapy for metastatic disease runs at a time"),
    ("regimen-and-drugs", [_course(drugs=["fluorouracil", "oxaliplatin"])], "treatment_history.courses[0]",
     "/treatment_history/courses/0", "give either a regimen code or a list of drugs, not both"),
]


def _bad_patient(courses: list[dict]) -> dict:
    p = _patient()
    p["treatment_history"] = {"courses": courses, "radiotherapy": [], "procedures": []}
    return p


@pytest.mark.parametrize(("courses", "where", "message"), [(c, w, m) for _, c, w, _, m in BAD_HISTORIES],
                         ids=[b[0] for b in BAD_HISTORIES])
def test_recommend_refuses_a_bad_treatment_history(courses, where, message):
    r = subprocess.run([sys.executable, "-m", "mcrc.cli", "recommend", "-"], input=json.dumps(_bad_patient(courses)),
                       capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert r.returncode == 2, r.stdout
    assert f"{where}: {message}" in r.stderr
    assert "Traceback" not in r.stderr and r.stdout == ""


def test_case_add_refuses_a_bad_treatment_history(url, tmp_path):
    store_with_clinician(url)
    with Store(url) as s:
        before = _counts(s)
        for name, courses, where, _, message in BAD_HISTORIES:
            path = tmp_path / f"{name}.json"
            path.write_text(json.dumps(_bad_patient(courses)), encoding="utf-8")
            r = CliRunner().invoke(mcrc_app, ["case", "add", str(path), "--user", "cli", "--db", url])
            assert r.exit_code == 2 and isinstance(r.exception, SystemExit), (name, r.output)
            assert f"{where}: {message}" in r.output, (name, r.output)
            assert "Traceback" not in r.output
        assert _counts(s) == before  # nothing stored, not even an audit entry


def test_api_refuses_a_bad_treatment_history_with_its_pointer(url):
    token = store_with_clinician(url)
    auth = {"Authorization": f"Bearer {token}"}
    with Store(url) as s, TestClient(create_app(Settings(database_url=url, open_assess=True))) as client:
        before = _counts(s)
        for name, courses, where, ptr, message in BAD_HISTORIES:
            for path in ("/api/v1/assess", "/api/v1/cases"):
                r = client.post(path, json=_bad_patient(courses), headers=auth)
                assert r.status_code == 422, (name, path, r.text)
                assert r.headers["content-type"].startswith("application/problem+json")
                (err,) = r.json()["errors"]
                assert (err["field"], err["pointer"]) == (where, ptr), (name, path)
                assert message in err["message"], (name, path, err)
                assert "Traceback" not in r.text
        assert _counts(s) == before
