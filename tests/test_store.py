"""The case store on both backends: SQLite (always) and PostgreSQL (MCRC_TEST_POSTGRES; required in CI)."""

from __future__ import annotations

import datetime as dt
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

import mcrc
from mcrc.errors import InputError
from mcrc.knowledge import default_data_dir, load_knowledge_dir
from mcrc.store import Store, StoreConflict, StoreForbidden, StoreInvalid, StoreNotFound
from mcrc.store.api import token_digest
from mcrc.store.cli import store_app
from mcrc.store.models import ApiToken, AssessmentRow, AuditEntry, Base, Case, Decision, MdtMeeting, User

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "01-sync-low-rectal-resectable.json"
PY = sys.executable
ENV = {**os.environ, "PYTHONPATH": str(ROOT / "src")}


def _patient() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


# ---- backends -----------------------------------------------------------------------------------
@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'store.db'}"
        return
    base = os.environ.get("MCRC_TEST_POSTGRES")
    if not base:
        if os.environ.get("CI"):
            pytest.fail("MCRC_TEST_POSTGRES is not set in CI: the PostgreSQL store tests must run there")
        pytest.skip("MCRC_TEST_POSTGRES not set (PostgreSQL store tests run in CI)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    u = make_url(base)
    yield u.update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(hide_password=False)
    with admin.connect() as conn:
        conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
    admin.dispose()


@pytest.fixture
def store(url):
    s = Store(url)
    s.upgrade()
    s.add_user("adm", "admin")  # the first user needs no admin
    for name, role in (("cli", "clinician"), ("cli2", "clinician"), ("coo", "coordinator"), ("aud", "auditor")):
        s.add_user(name, role, actor="adm")
    yield s
    s.close()


def _counts(store: Store) -> dict[str, int]:
    with store._read() as s:
        return {m.__tablename__: s.execute(select(func.count()).select_from(m)).scalar_one()
                for m in (User, Case, AssessmentRow, MdtMeeting, Decision, AuditEntry)}


# ---- behaviour ----------------------------------------------------------------------------------
def test_add_assess_decide_diff_round_trip(store):
    p = _patient()
    case = store.add_case(p, user="cli")
    assert (case.version, case.label, case.deleted) == (1, p["id"], False)
    first = store.assess(case.id, user="cli")
    assert first.kb_version == mcrc.assess(p).provenance.kb_version
    assert mcrc.Assessment.model_validate(first.assessment).codes() == mcrc.assess(p).codes()

    p["metastases"][0]["lymphangitic"] = True  # new CT: lymphangitic spread
    updated = store.update_case(case.id, p, expected_version=1, user="cli")
    assert updated.version == 2 and updated.content_hash != case.content_hash
    second = store.assess(case.id, user="cli")
    assert [a.id for a in store.assessments(case.id, user="aud")] == [first.id, second.id]

    diff = store.diff(case.id, user="cli")
    assert diff["changed"] and diff["from"]["assessment_id"] == first.id and diff["to"]["case_version"] == 2
    assert "no_local_lung_treatment" in diff["sections"]["warnings"]["added"]
    assert "resect_lung_metastases" in diff["sections"]["strategies"]["removed"]

    d = store.decide(case.id, strategies=["systemic_therapy"], rationale="Lymphangitic spread: no local treatment",
                     concordant=True, user="coo", participants={"clinician": ["cli"], "coordinator": ["coo"]})
    assert d.assessment_id == second.id and d.concordant and d.deviation_code is None
    d2 = store.decide(case.id, strategies=["systemic_therapy"], rationale="Patient declines doublet",
                      concordant=False, deviation="patient_preference", deviation_text="wants oral therapy",
                      user="coo")
    assert [x.id for x in store.decisions(case.id, user="aud")] == [d.id, d2.id]

    report = store.verify_chain()
    assert report.ok, report.problems
    bundle = store.export_audit_fhir(user="aud")
    events = [e["resource"] for e in bundle["entry"]]
    assert bundle["resourceType"] == "Bundle" and all(e["resourceType"] == "AuditEvent" for e in events)
    assert [e["action"] for e in events[-6:]] == ["C", "C", "U", "C", "C", "C"]
    last = events[-1]
    assert last["outcome"] == "0" and last["agent"][0]["who"]["identifier"]["value"] == "coo"
    assert last["agent"][0]["requestor"] is True and last["recorded"].endswith("Z")
    assert last["entity"][0]["what"]["identifier"] == {"system": "urn:mcrc:decision", "value": str(d2.id)}
    assert last["type"]["code"] == "rest"


def test_sqlite_durability_settings(tmp_path):
    s = Store(f"sqlite:///{tmp_path / 'p.db'}")
    with s.engine.connect() as conn:
        pragmas = {p: conn.exec_driver_sql(f"PRAGMA {p}").scalar()
                   for p in ("journal_mode", "synchronous", "foreign_keys", "busy_timeout")}
    assert pragmas == {"journal_mode": "wal", "synchronous": 2, "foreign_keys": 1, "busy_timeout": 30000}
    s.close()


def test_audit_chain_detects_tampering(store, url):
    case = store.add_case(_patient(), user="cli")
    store.assess(case.id, user="cli")
    assert store.verify_chain().ok
    target = store.verify_chain().entries - 1  # the case.create entry
    eng = create_engine(url)
    with eng.begin() as conn, pytest.raises(Exception, match="append-only"):  # the database refuses...
        conn.execute(text("UPDATE audit_log SET user_name = 'mallory' WHERE seq = :s"), {"s": target})
    with eng.begin() as conn:  # ...so the attacker first removes the guard
        if store.backend == "postgresql":
            conn.execute(text("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only"))
        else:
            conn.execute(text("DROP TRIGGER audit_log_no_update"))
        conn.execute(text("UPDATE audit_log SET user_name = 'mallory' WHERE seq = :s"), {"s": target})
    report = store.verify_chain()
    assert not report.ok and report.first_broken == target
    assert [(f.seq, f.entity, f.code) for f in report.findings] == [(target, "audit", "altered")]

    with eng.begin() as conn:  # rewriting a case behind the store's back is caught as well
        conn.execute(text("UPDATE audit_log SET user_name = 'cli' WHERE seq = :s"), {"s": target})
    assert store.verify_chain().ok
    with eng.begin() as conn, pytest.raises(Exception, match="a change is the next version"):
        conn.execute(text("UPDATE cases SET content_hash = 'x' WHERE id = :c"), {"c": case.id})
    with eng.begin() as conn:
        if store.backend == "postgresql":
            conn.execute(text("ALTER TABLE cases DISABLE TRIGGER cases_next_version"))
        else:
            conn.execute(text("DROP TRIGGER cases_next_version"))
        conn.execute(text("UPDATE cases SET content_hash = 'x' WHERE id = :c"), {"c": case.id})
    report = store.verify_chain()
    assert [(f.seq, f.entity, f.entity_id, f.code) for f in report.findings] == [
        (target, "case", str(case.id), "content"), (target, "case", str(case.id), "changed")]
    eng.dispose()


def test_optimistic_locking_conflict_overwrites_nothing(store):
    case = store.add_case(_patient(), user="cli")
    mine, theirs = _patient(), _patient()
    mine["ecog"], theirs["ecog"] = 1, 2
    store.update_case(case.id, mine, expected_version=case.version, user="cli")
    before = _counts(store)
    with pytest.raises(StoreConflict, match="version 1, the store has version 2") as exc:
        store.update_case(case.id, theirs, expected_version=case.version, user="cli2")
    assert isinstance(exc.value, mcrc.McrcError)
    assert store.get_case(case.id, user="cli").patient["ecog"] == 1
    assert _counts(store) == before


def test_role_refusals_write_nothing(store):
    case = store.add_case(_patient(), user="cli")
    store.assess(case.id, user="cli")
    before = _counts(store)
    refusals = [
        lambda: store.add_case(_patient(), user="aud"),
        lambda: store.update_case(case.id, _patient(), expected_version=1, user="aud"),
        lambda: store.assess(case.id, user="aud"),
        lambda: store.decide(case.id, strategies=["systemic_therapy"], rationale="r", concordant=True, user="cli"),
        lambda: store.delete_case(case.id, user="cli"),
        lambda: store.export_audit_fhir(user="cli"),
        lambda: store.audit_entries(user="coo"),
        lambda: store.add_user("eve", "admin", actor="cli"),
        lambda: store.list_cases(user="cli", include_deleted=True),
    ]
    for attempt in refusals:
        with pytest.raises(StoreForbidden, match="nothing was written"):
            attempt()
    with pytest.raises(StoreNotFound):
        store.add_case(_patient(), user="nobody")
    assert _counts(store) == before and store.verify_chain().ok


def test_soft_delete(store):
    case = store.add_case(_patient(), user="cli")
    gone = store.delete_case(case.id, user="coo", expected_version=1)
    assert gone.deleted and gone.version == 2
    assert store.list_cases(user="cli") == []
    with pytest.raises(StoreNotFound):
        store.get_case(case.id, user="cli")
    with pytest.raises(StoreNotFound):
        store.update_case(case.id, _patient(), expected_version=2, user="cli")
    with pytest.raises(StoreNotFound):
        store.assess(case.id, user="cli")
    assert store.get_case(case.id, user="aud").deleted  # kept for the auditors
    assert [c.id for c in store.list_cases(user="aud", include_deleted=True)] == [case.id]
    assert store.verify_chain().ok


def test_invalid_requests_write_nothing(store):
    case = store.add_case(_patient(), user="cli")
    before = _counts(store)
    with pytest.raises(mcrc.InputError) as exc:
        store.add_case({"age": 5, "primary": {"location": "elbow"}}, user="cli")
    assert {p.where for p in exc.value.problems} >= {"age", "primary.location"}
    with pytest.raises(mcrc.InputError):
        store.update_case(case.id, {"ecog": 9}, expected_version=1, user="cli")
    with pytest.raises(StoreNotFound):
        store.assess(12345, user="cli")
    with pytest.raises(StoreInvalid, match="assess it before"):
        store.decide(case.id, strategies=["systemic_therapy"], rationale="r", concordant=True, user="coo")
    with pytest.raises(StoreInvalid) as exc:
        store.decide(case.id, strategies=["no_such_code"], rationale=" ", concordant=False, deviation="whim",
                     user="coo", participants={"janitor": ["x"]})
    assert {p.where for p in exc.value.problems} == {"strategy", "rationale", "deviation", "participants"}
    with pytest.raises(StoreInvalid):
        store.add_user("x", "superuser", actor="adm")
    with pytest.raises(StoreInvalid, match="diff needs two"):
        store.diff(case.id, user="cli")
    assert _counts(store) == before


def test_values_the_database_refuses_are_input_errors(store, monkeypatch):
    """A NUL in any text, an id beyond 64 bits: StoreInvalid (422 / exit 2) on both backends, nothing written."""
    case = store.add_case(_patient(), user="cli")
    store.assess(case.id, user="cli")
    nul = _patient()
    nul["id"] = "pt\x00-1"
    doc = store.export_case(case.id, user="cli")
    doc["patient"]["id"] = "pt\x00-1"
    del doc["case"]["content_hash"]
    before = _counts(store)
    attempts = [
        ("id", lambda: store.add_case(nul, user="cli")),
        ("id", lambda: store.update_case(case.id, nul, expected_version=1, user="cli")),
        ("patient.id", lambda: store.import_case(doc, user="cli")),
        ("rationale", lambda: store.decide(case.id, strategies=["systemic_therapy"], rationale="ok\x00",
                                           concordant=True, user="coo")),
        ("deviation_text", lambda: store.decide(case.id, strategies=["systemic_therapy"], rationale="r",
                                                concordant=False, deviation="other", deviation_text="\x00",
                                                user="coo")),
        ("participants.clinician[1]", lambda: store.decide(case.id, strategies=["systemic_therapy"], rationale="r",
                                                           concordant=True, user="coo",
                                                           participants={"clinician": ["cli", "a\x00"]})),
        ("label", lambda: store.create_token("cli", label="lap\x00top")),
        ("name", lambda: store.add_user("ev\x00e", "clinician", actor="adm")),
    ]
    for where, attempt in attempts:
        with pytest.raises(InputError) as exc:  # the Patient model refuses a control character in a patient
            attempt()                            # first; the store refuses the NUL in every other text itself
        assert [p.where for p in exc.value.problems] == [where], exc.value.problems
        patient = where in ("id", "patient.id")
        assert ("control character" if patient else "NUL character") in str(exc.value)
        assert isinstance(exc.value, StoreInvalid) or patient
    for attempt in (lambda: store.get_case(2**70, user="cli"), lambda: store.revoke_token(-(2**70), actor="cli"),
                    lambda: store.delete_case(2**64, user="coo")):
        with pytest.raises(StoreInvalid, match="outside the range the database can store"):
            attempt()
    assert _counts(store) == before

    # The database's own refusal, should a value get past the store's checks (and the Patient model's: a Python
    # caller's model_construct skips validation): still an input error.
    from mcrc.patient import Patient

    nul = Patient.model_construct(**{**mcrc.parse_patient(_patient()).__dict__, "id": "pt\x00-1"})
    monkeypatch.setattr("mcrc.store.cases._nul_problems", lambda **_: [])  # the case's patient
    monkeypatch.setattr("mcrc.store.decisions._nul_problems", lambda **_: [])  # the decision's texts
    if store.backend == "postgresql":
        with pytest.raises(StoreInvalid, match=r"cannot store \(a NUL, U\+0000\).*nothing was written"):
            store.add_case(nul, user="cli")
        with pytest.raises(StoreInvalid, match="NUL"):
            store.decide(case.id, strategies=["systemic_therapy"], rationale="r", concordant=True, user="coo",
                         participants={"clinician": ["a\x00"]})  # refused inside the JSONB value
        with pytest.raises(StoreInvalid, match="NUL"):
            store.get_case(case.id, user="c\x00li")  # a read
        assert _counts(store) == before
    else:  # SQLite keeps a NUL; the store's own check above is what makes both backends agree
        assert store.add_case(nul, user="cli").label == "pt\x00-1"


def test_a_nul_is_refused_before_the_store_and_by_the_store(store, url):
    """Issue 15: the API's strict reader answers 400 naming the field; a Patient built around validation (a
    Python caller's model_construct) is still refused by the store itself, on both backends; nothing stored."""
    from fastapi.testclient import TestClient

    from mcrc.api import Settings, create_app
    from mcrc.patient import Patient

    token = store.create_token("cli").token
    before = _counts(store)
    p = _patient()
    p["id"] = "pt\x00-1"  # valid JSON ("\u0000"), which no database keeps everywhere
    with TestClient(create_app(Settings(database_url=url)), raise_server_exceptions=False) as client:
        r = client.post("/api/v1/cases", json=p, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 400, r.text
    assert [(e["pointer"], e["field"]) for e in r.json()["errors"]] == [("/id", "id")]
    unvalidated = Patient.model_construct(**{**mcrc.parse_patient(_patient()).__dict__, "id": "pt\x00-1"})
    with pytest.raises(StoreInvalid) as exc:
        store.add_case(unvalidated, user="cli")
    assert [p.where for p in exc.value.problems] == ["id"] and "NUL" in exc.value.problems[0].message
    assert _counts(store) == before


# ---- export, import, re-assessment ----------------------------------------------------------------
def test_export_import_round_trip(store):
    p = _patient()
    case = store.add_case(p, user="cli")
    store.assess(case.id, user="cli")
    p["metastases"][0]["lymphangitic"] = True
    store.update_case(case.id, p, expected_version=1, user="cli")
    store.assess(case.id, user="cli")
    store.decide(case.id, strategies=["systemic_therapy"], rationale="Lymphangitic spread", concordant=True,
                 user="coo", participants={"coordinator": ["coo"]})
    doc = json.loads(json.dumps(store.export_case(case.id, user="aud")))  # plain JSON all the way
    assert doc["format"] == "mcrc.case-export/1" and doc["exported_by"] == "aud"
    assert doc["case"]["id"] == case.id and doc["case"]["version"] == 2 and "patient" not in doc["case"]
    assert doc["patient"] == store.get_case(case.id, user="cli").patient
    assert [(a["case_version"], a["kb_version"], a["engine_version"]) for a in doc["assessments"]] == [
        (1, store.knowledge.version, "0.1.0"), (2, store.knowledge.version, "0.1.0")]
    mcrc.Assessment.model_validate(doc["assessments"][-1]["assessment"])
    assert doc["decisions"][0]["strategy_codes"] == ["systemic_therapy"] and doc["decisions"][0]["decided_by"] == "coo"

    before = _counts(store)
    copy = store.import_case(doc, user="cli2")
    assert copy.id != case.id and copy.version == 1 and copy.label == p["id"]
    assert copy.patient == doc["patient"] and copy.content_hash == doc["case"]["content_hash"]
    assert _counts(store)["cases"] == before["cases"] + 1 and _counts(store)["audit_log"] == before["audit_log"] + 1
    again = store.export_case(copy.id, user="cli")
    assert again["patient"] == doc["patient"] and again["assessments"] == [] and again["decisions"] == []
    entry = store.audit_entries(user="aud")[-1]
    assert (entry.action, entry.entity, entry.entity_id, entry.user_name) == ("case.import", "case", str(copy.id),
                                                                            "cli2")
    assert entry.before_hash is not None  # the hash of the note of the source
    event = store.export_audit_fhir(user="aud")["entry"][-1]["resource"]
    assert event["action"] == "C" and event["subtype"][0]["code"] == "create"
    assert store.verify_chain().ok


def test_import_validates_the_whole_document_and_writes_nothing(store):
    case = store.add_case(_patient(), user="cli")
    store.assess(case.id, user="cli")
    good = store.export_case(case.id, user="cli")
    before = _counts(store)

    def edited(**changes):
        doc = json.loads(json.dumps(good))
        for key, value in changes.items():
            if value is None:
                doc.pop(key)
            else:
                doc[key] = value
        return doc

    tampered = edited()
    tampered["patient"]["ecog"] = 2  # valid patient, but not the one exported
    no_hash = edited(patient=tampered["patient"])
    del no_hash["case"]["content_hash"]
    bad = {
        "not an object": ([good], {"(document)"}),
        "wrong format": (edited(format="mcrc.case-export/99"), {"format"}),
        "no format": (edited(format=None), {"format"}),
        "no case metadata": (edited(case=None), {"case"}),
        "invalid patient": (edited(patient={"age": 5, "primary": {"location": "elbow"}}),
                            {"patient.age", "patient.primary.location", "patient"}),
        "edited patient": (tampered, {"patient"}),
        "assessments not a list": (edited(assessments={}), {"assessments"}),
        "assessment incomplete": (edited(assessments=[{"kb_version": "x"}]), {"assessments[0]"}),
        "not an assessment": (edited(assessments=[{**good["assessments"][0], "assessment": {"goal": 3}}]),
                              {"assessments[0].assessment"}),
        "decision incomplete": (edited(decisions=[{"rationale": "r"}]), {"decisions[0]"}),
    }
    for name, (doc, where) in bad.items():
        with pytest.raises(StoreInvalid) as exc:
            store.import_case(doc, user="cli")
        assert isinstance(exc.value, mcrc.InputError), name
        assert {p.where for p in exc.value.problems} <= where and exc.value.problems, (name, exc.value.problems)
    with pytest.raises(StoreForbidden):
        store.import_case(good, user="aud")
    with pytest.raises(StoreNotFound):
        store.import_case(good, user="nobody")
    assert _counts(store) == before
    assert store.import_case(no_hash, user="cli").patient["ecog"] == 2  # an edited patient without the hash is fine


@pytest.fixture(scope="module")
def old_kb(tmp_path_factory):
    """The packaged knowledge base with an edit: another version, the same answers."""
    root = tmp_path_factory.mktemp("kb") / "data"
    shutil.copytree(default_data_dir(), root)
    sources = root / "sources.yaml"
    sources.write_text(sources.read_text(encoding="utf-8") + "\n# an earlier edition\n", encoding="utf-8")
    return load_knowledge_dir(root)


def test_reassess_stale_after_knowledge_change(store, url, old_kb, monkeypatch):
    assert old_kb.version != store.knowledge.version
    old = Store(url, knowledge=old_kb)  # the store as it assessed before the knowledge base changed
    ids = {}
    for name in ("changed", "same", "current", "deleted", "never"):
        p = _patient()
        p["id"] = name
        ids[name] = store.add_case(p, user="cli").id
    for name in ("changed", "same", "deleted"):
        assert old.assess(ids[name], user="cli").kb_version == old_kb.version
    store.assess(ids["current"], user="cli")
    store.delete_case(ids["deleted"], user="coo")
    p = _patient()
    p["id"], p["metastases"][0]["lymphangitic"] = "changed", True  # and the case changed since
    store.update_case(ids["changed"], p, expected_version=1, user="cli")
    old.close()

    assert store.stale_cases(user="cli") == [ids["changed"], ids["same"]]
    with pytest.raises(StoreForbidden):
        store.reassess_stale(user="aud")
    before = _counts(store)
    results = dict(store.reassess_stale(user="cli"))
    assert list(results) == [ids["changed"], ids["same"]]
    assert _counts(store)["assessments"] == before["assessments"] + 2
    assert _counts(store)["audit_log"] == before["audit_log"] + 2
    changed, same = results[ids["changed"]], results[ids["same"]]
    assert changed["from"]["kb_version"] == old_kb.version and changed["to"]["kb_version"] == store.knowledge.version
    assert changed["changed"] and "no_local_lung_treatment" in changed["sections"]["warnings"]["added"]
    assert "resect_lung_metastases" in changed["sections"]["strategies"]["removed"]
    assert not same["changed"] and same["sections"] == {}
    assert changed == store.diff(ids["changed"], user="cli")  # the same diff logic
    assert len(store.assessments(ids["current"], user="cli")) == 1  # up to date: left alone
    assert len(store.assessments(ids["deleted"], user="aud")) == 1 and store.assessments(ids["never"], user="cli") == []
    assert store.reassess_stale(user="cli") == []  # nothing stale any more
    assert store.verify_chain().ok

    monkeypatch.setattr("mcrc.store.assessments.ENGINE_VERSION", "9.9.9")  # a new engine makes every assessment stale
    assert store.stale_cases(user="cli") == [ids["changed"], ids["same"], ids["current"]]


# ---- reliability --------------------------------------------------------------------------------
_CRASH_CHILD = """
import sys, time
from mcrc.store import Store
stage = sys.argv[3]
class Crashing(Store):
    def _checkpoint(self, where):
        if where == stage:
            print("READY", flush=True)
            time.sleep(60)
Crashing(sys.argv[1]).assess(int(sys.argv[2]), user="cli")
"""


@pytest.mark.parametrize("stage", ["entity_written", "audit_written"])
def test_sigkill_mid_write_leaves_both_or_neither(store, url, stage):
    case = store.add_case(_patient(), user="cli")
    before = _counts(store)
    child = subprocess.Popen([PY, "-c", _CRASH_CHILD, url, str(case.id), stage], env=ENV,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline()
        assert line.strip() == "READY", child.stderr.read()
        os.kill(child.pid, signal.SIGKILL)
        child.wait(timeout=10)
    finally:
        if child.poll() is None:
            child.kill()
    assert child.returncode == -signal.SIGKILL
    store.close()
    reopened = Store(url)  # "after restart"
    assert _counts(reopened) == before  # neither the assessment nor its audit entry
    assert reopened.verify_chain().ok
    assert reopened.assess(case.id, user="cli").case_id == case.id  # the store is usable, no lock left
    assert reopened.verify_chain().ok
    reopened.close()


_WRITER = """
import json, sys
from mcrc.store import Store
s = Store(sys.argv[1])
p = json.loads(open(sys.argv[2]).read())
for i in range(int(sys.argv[4])):
    p["id"] = f"w{sys.argv[3]}-{i}"
    s.add_case(p, user="cli")
"""


def test_concurrent_writers_lose_nothing(store, url):
    procs, per = 4, 5
    children = [subprocess.Popen([PY, "-c", _WRITER, url, str(EXAMPLE), str(w), str(per)], env=ENV,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for w in range(procs)]
    results = [(c.wait(timeout=60), c.stderr.read()) for c in children]
    for c in children:
        c.stdout.close()
        c.stderr.close()
    assert all(rc == 0 for rc, _ in results), results
    labels = sorted(c.label for c in store.list_cases(user="aud"))
    assert labels == sorted(f"w{w}-{i}" for w in range(procs) for i in range(per))
    report = store.verify_chain()
    assert report.ok, report.problems


def test_migrations_upgrade_from_empty_and_back(url):
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    s = Store(url)
    assert s.tables() == [] and s.schema_revision() is None
    s.upgrade()
    assert s.schema_revision() == s.head_revision() == "0007"
    assert set(s.tables()) >= {"users", "cases", "assessments", "mdt_meetings", "decisions", "audit_log",
                               "api_tokens"}
    with s.engine.connect() as conn:  # the migration builds exactly what the models describe
        assert compare_metadata(MigrationContext.configure(conn), Base.metadata) == []
    s.upgrade()  # idempotent
    s.downgrade("base")
    assert s.tables() == ["alembic_version"]
    s.upgrade()
    s.add_user("a", "admin")
    assert s.verify_chain().ok
    s.close()


def test_migration_0002_keeps_data_of_0001(url):
    s = Store(url)
    s.upgrade("0001")
    with s.engine.begin() as conn:  # a user written by the 0001 code (the models are newer)
        conn.execute(text("INSERT INTO users (name, role, created_at) VALUES ('a', 'admin', CURRENT_TIMESTAMP)"))
    s.upgrade()
    assert s.resolve_token("nothing") is None
    new = s.create_token("a")
    assert s.resolve_token(new.token) == ("a", "admin")
    # the user went in by hand, without the entry the store writes: verify-chain reports it, and only it
    assert [(f.seq, f.entity, f.entity_id, f.code) for f in s.verify_chain().findings] == [
        (None, "user", "1", "unaudited")]
    s.downgrade("0001")
    assert "api_tokens" not in s.tables()
    s.close()


def test_migration_0003_keeps_users_and_sessions_end_per_user(url):
    s = Store(url)
    s.upgrade("0002")
    with s.engine.begin() as conn:  # users written by the 0002 code (the models are newer)
        conn.execute(text("INSERT INTO users (name, role, created_at) VALUES ('a', 'admin', CURRENT_TIMESTAMP)"))
        conn.execute(text("INSERT INTO users (name, role, created_at) VALUES ('b', 'clinician', CURRENT_TIMESTAMP)"))
    s.upgrade()
    before = dt.datetime.now(dt.UTC)
    ended = s.end_sessions("b")
    with s.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT name, sessions_ended_at FROM users")).all())
    assert rows["a"] is None and rows["b"] is not None and ended >= before  # one user's sign-out, not everyone's
    assert [e.action for e in s.audit_entries("a")][-1] == "user.sign_out"
    # both went in by hand; b's sign-out is audited from then on, a has no entry at all
    assert [(f.seq, f.entity, f.entity_id, f.code) for f in s.verify_chain().findings] == [
        (None, "user", "1", "unaudited")]
    s.downgrade("0002")
    with s.engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM users")).scalar_one() == 2
    s.close()


# ---- API tokens ---------------------------------------------------------------------------------
def test_tokens_are_stored_hashed_resolved_and_revoked(store):
    new = store.create_token("cli", label="laptop")
    assert new.token.startswith("mcrc_") and len(new.token) > 40
    assert new.token not in repr(new)
    assert store.resolve_token(new.token) == ("cli", "clinician")
    with store._read() as s:
        row = s.execute(select(ApiToken)).scalar_one()
    assert row.digest == token_digest(new.token) != new.token  # only the digest is kept
    for bad in ("", "x" * 2000, new.token + "x", new.token[:-1], token_digest(new.token)):
        assert store.resolve_token(bad) is None
    other = store.create_token("cli")
    assert other.token != new.token
    listed = store.list_tokens("cli")
    assert [(t.id, t.label, t.revoked_at) for t in listed] == [(new.record.id, "laptop", None),
                                                                (other.record.id, None, None)]
    assert new.token not in repr(listed) and row.digest not in repr(listed)

    revoked = store.revoke_token(new.record.id, actor="cli")
    assert revoked.revoked_at is not None and store.resolve_token(new.token) is None
    assert store.resolve_token(other.token) == ("cli", "clinician")
    with pytest.raises(StoreInvalid, match="already revoked"):
        store.revoke_token(new.record.id, actor="cli")
    actions = [e.action for e in store.audit_entries("aud")]
    assert actions[-3:] == ["token.create", "token.create", "token.revoke"]
    assert store.verify_chain().ok


def test_token_resolutions_are_cached_briefly_and_dropped_on_revocation(store, url):
    """A resolved token is trusted for `token_cache_seconds` (no store read per request); a revocation or a
    deactivation through the same Store ends it at once, one by another process only when the entry expires."""
    tok = store.create_token("cli")
    assert store.resolve_token(tok.token) == ("cli", "clinician")
    store.revoke_token(tok.record.id, actor="cli")
    assert store.resolve_token(tok.token) is None  # same Store: at once, cache or not

    other = Store(url, token_cache_seconds=0.3)  # e.g. the server, while the CLI revokes
    try:
        tok2 = store.create_token("cli")
        assert other.resolve_token(tok2.token) == ("cli", "clinician")
        store.revoke_token(tok2.record.id, actor="cli")
        assert other.resolve_token(tok2.token) == ("cli", "clinician")  # within the window: still trusted
        time.sleep(0.35)
        assert other.resolve_token(tok2.token) is None  # the window is over: read again, refused

        tok3 = store.create_token("coo", actor="adm")
        assert other.resolve_token(tok3.token) == ("coo", "coordinator")
        other.deactivate_user("coo", actor="adm")  # through `other` itself: at once
        assert other.resolve_token(tok3.token) is None
    finally:
        other.close()
    uncached = Store(url, token_cache_seconds=0)
    try:
        tok4 = store.create_token("cli2", actor="adm")
        assert uncached.resolve_token(tok4.token) == ("cli2", "clinician")
        store.revoke_token(tok4.record.id, actor="adm")
        assert uncached.resolve_token(tok4.token) is None  # no cache: every call reads the store
        assert uncached.resolve_token("not-a-token") is None and not uncached._token_cache
    finally:
        uncached.close()


def test_token_permissions_and_deactivated_users(store, url):
    mine = store.create_token("cli")
    before = _counts(store)
    with pytest.raises(StoreForbidden):
        store.create_token("coo", actor="cli")  # only an admin makes tokens for someone else
    with pytest.raises(StoreForbidden):
        store.list_tokens("coo", actor="cli")
    with pytest.raises(StoreNotFound):
        store.revoke_token(mine.record.id, actor="cli2")  # another clinician's token is not disclosed
    with pytest.raises(StoreNotFound):
        store.create_token("nobody")
    with pytest.raises(StoreInvalid):
        store.create_token("cli", label="x" * 65)
    with pytest.raises(StoreForbidden):
        store.deactivate_user("cli", actor="coo")
    assert _counts(store) == before and store.resolve_token(mine.token) is not None

    by_admin = store.create_token("coo", actor="adm", label="for coo")
    assert store.list_tokens("coo", actor="adm")[0].label == "for coo"
    store.revoke_token(by_admin.record.id, actor="adm")
    store.deactivate_user("cli", actor="adm")
    assert store.resolve_token(mine.token) is None  # a deactivated user's tokens stop working
    with pytest.raises(StoreNotFound, match="deactivated"):
        store.add_case(_patient(), user="cli")
    with pytest.raises(StoreInvalid):
        store.deactivate_user("adm", actor="adm")
    assert store.verify_chain().ok

    eng = create_engine(url)  # un-revoking a token behind the store's back is refused, and caught if forced
    unrevoke = text("UPDATE api_tokens SET revoked_at = NULL WHERE id = :i").bindparams(i=by_admin.record.id)
    with eng.begin() as conn, pytest.raises(Exception, match="a token is only ever revoked, once"):
        conn.execute(unrevoke)
    with eng.begin() as conn:
        if store.backend == "postgresql":
            conn.execute(text("ALTER TABLE api_tokens DISABLE TRIGGER api_tokens_revoke_only"))
        else:
            conn.execute(text("DROP TRIGGER api_tokens_revoke_only"))
        conn.execute(unrevoke)
    eng.dispose()
    report = store.verify_chain()
    assert [(f.entity, f.entity_id, f.code) for f in report.findings] == [("token", str(by_admin.record.id),
                                                                          "changed")]


def test_cli_tokens(store, url):
    r = _cli(url, "user", "token", "create", "cli", "--label", "ci")
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    assert store.resolve_token(token) == ("cli", "clinician")
    r = _cli(url, "user", "token", "list", "cli", "--format", "json")
    assert r.exit_code == 0 and token not in r.output
    (listed,) = json.loads(r.output)
    assert listed["label"] == "ci" and listed["revoked_at"] is None
    assert _cli(url, "user", "token", "revoke", str(listed["id"]), "--user", "aud").exit_code == 2
    r = _cli(url, "user", "token", "revoke", str(listed["id"]), "--user", "cli")
    assert r.exit_code == 0 and store.resolve_token(token) is None
    assert _cli(url, "user", "token", "create", "nobody").exit_code == 2
    assert _cli(url, "user", "deactivate", "cli2", "--user", "adm").exit_code == 0
    assert _cli(url, "user", "token", "create", "cli2").exit_code == 2


# ---- CLI ----------------------------------------------------------------------------------------
def _cli(url, *args, input=None):
    return CliRunner().invoke(store_app, [*args, "--db", url], input=input)


def test_cli_round_trip_and_bad_input(store, url, tmp_path):
    ok = _cli(url, "case", "add", str(EXAMPLE), "--user", "cli")
    assert ok.exit_code == 0, ok.output
    before = _counts(store)
    bad = tmp_path / "bad.json"
    bad.write_text('{"age": 5}', encoding="utf-8")
    for args in (["case", "add", str(bad), "--user", "cli"],
                 ["case", "add", str(tmp_path / "missing.json"), "--user", "cli"],
                 ["case", "add", str(EXAMPLE), "--user", "aud"],
                 ["case", "add", str(EXAMPLE), "--user", "nobody"],
                 ["case", "show", "999", "--user", "cli"],
                 ["decide", "1", "--strategy", "systemic_therapy", "--rationale", "r", "--not-concordant",
                  "--user", "coo"],
                 ["decide", "1", "-s", "systemic_therapy", "--rationale", "r", "--concordant", "-p", "x",
                  "--user", "coo"]):
        r = _cli(url, *args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output and "error:" in r.output
    assert _counts(store) == before
    assert _cli(url, "case", "assess", "1", "--user", "cli").exit_code == 0
    r = _cli(url, "decide", "1", "-s", "systemic_therapy", "--rationale", "ok", "--concordant", "-p",
             "clinician:cli", "--user", "coo")
    assert r.exit_code == 0, r.output
    r = _cli(url, "audit", "export", "--user", "aud")
    assert r.exit_code == 0 and json.loads(r.output)["entry"][-1]["resource"]["action"] == "C"
    assert _cli(url, "audit", "verify-chain").exit_code == 0


def test_cli_export_import_reassess_stale(store, url, tmp_path, old_kb):
    assert _cli(url, "case", "add", str(EXAMPLE), "--user", "cli").exit_code == 0
    old = Store(url, knowledge=old_kb)
    old.assess(1, user="cli")
    old.close()
    r = _cli(url, "case", "export", "1", "--user", "cli")
    assert r.exit_code == 0, r.output
    doc = json.loads(r.output)
    assert doc["format"] == "mcrc.case-export/1" and doc["assessments"][0]["kb_version"] == old_kb.version
    exported = tmp_path / "case1.json"
    exported.write_text(r.output, encoding="utf-8")

    before = _counts(store)
    wrong = tmp_path / "wrong.json"
    wrong.write_text(json.dumps({**doc, "format": "other"}), encoding="utf-8")
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", encoding="utf-8")
    for args in (["case", "import", str(wrong), "--user", "cli"],
                 ["case", "import", str(broken), "--user", "cli"],
                 ["case", "import", str(tmp_path / "missing.json"), "--user", "cli"],
                 ["case", "import", str(exported), "--user", "aud"],
                 ["case", "export", "999", "--user", "cli"],
                 ["case", "reassess-stale", "--user", "aud"]):
        r = _cli(url, *args)
        assert r.exit_code == 2, (args, r.output)
        assert "Traceback" not in r.output and "error:" in r.output
    assert _counts(store) == before

    r = _cli(url, "case", "import", str(exported), "--user", "cli2")
    assert r.exit_code == 0 and "case 2 imported from case 1" in r.output, r.output
    r = _cli(url, "case", "reassess-stale", "--user", "cli")
    assert r.exit_code == 0, r.output
    assert "1 stale case(s) re-assessed" in r.output
    assert f"case 1: knowledge base {old_kb.version} -> {store.knowledge.version}: no change" in r.output
    r = _cli(url, "case", "reassess-stale", "--user", "cli", "--json")
    assert r.exit_code == 0 and json.loads(r.output) == []


def test_cli_module_entry_point(tmp_path):
    db = f"sqlite:///{tmp_path / 'cli.db'}"
    run = [PY, "-m", "mcrc.store.cli"]
    r = subprocess.run([*run, "case", "list", "--user", "x", "--db", db], env=ENV, capture_output=True, text=True)
    assert r.returncode == 5 and "mcrc db upgrade" in r.stderr and "Traceback" not in r.stderr
    r = subprocess.run([*run, "demo", "seed", str(ROOT / "examples"), "--db", db], env=ENV, capture_output=True,
                       text=True)
    assert r.returncode == 0, r.stderr
    n = len(list((ROOT / "examples").glob("*.json")))
    assert f"seeded {n} new case(s)" in r.stdout
    # a clinician's token and a coordinator's (who alone records decisions), each on its own line saying which
    tokens = {line.split(" ")[3]: line.rsplit(": ", 1)[1].strip()
              for line in r.stdout.splitlines() if line.startswith("API token of ")}
    assert set(tokens) == {"demo-clinician", "demo-coordinator"}
    assert "cannot record decisions" in r.stdout and "records the board's decisions" in r.stdout
    with Store(db) as s:
        assert s.resolve_token(tokens["demo-clinician"]) == ("demo-clinician", "clinician")
        assert s.resolve_token(tokens["demo-coordinator"]) == ("demo-coordinator", "coordinator")
    r = subprocess.run([*run, "case", "add", "-", "--user", "demo-clinician", "--db", db], input="{not json",
                       env=ENV, capture_output=True, text=True)
    assert r.returncode == 2 and "Traceback" not in r.stderr
