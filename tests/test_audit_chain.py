"""Tampering with the case store behind its back, and exactly what `verify_chain` reports (both backends).

Each test changes the database the way someone with its password could (plain SQL, guards dropped where
they stand in the way) and asserts the findings: which record (kind and id), which audit entry, what kind
of contradiction. The fixtures `url` and `store` are those of test_store.py (SQLite and PostgreSQL).
"""

from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import create_engine, delete, insert, select, text, update

from mcrc.store import Store, audit
from mcrc.store import base as store_base
from mcrc.store.models import ApiToken, AssessmentRow, AuditEntry, Case, Decision, User
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
    _unguard(url, "cases")
    _sql(url, update(Case).where(Case.id == case).values(patient=p))
    assert _found(store) == [(_last(store, "case", case), "case", str(case), "content")]


def test_edited_assessment_json(store, url, history):
    aid = history["assessments"][0]
    stored = store.assessments(history["case"], user="cli")[0].assessment
    stored["goal"]["code"] = "palliative"
    _unguard(url, "assessments")
    _sql(url, update(AssessmentRow).where(AssessmentRow.id == aid).values(assessment=stored))
    assert _found(store) == [(_last(store, "assessment", aid), "assessment", str(aid), "content")]


def test_case_deleted_with_its_assessments_and_decisions(store, url, history):
    case = history["case"]
    _unguard(url, "decisions", "assessments", "cases")
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
    _unguard(url, "cases")
    _sql(url, update(Case).where(Case.id == case).values(patient=edited))
    created = _last(store, "case", case)
    store.update_case(case, {**p, "ecog": 2}, expected_version=1, user="cli")  # row and column agree again
    assert _found(store) == [(_last(store, "case", case), "case", str(case), "between")]
    assert created < _last(store, "case", case)


def test_content_hash_is_stable_on_both_backends(store):
    """The hash of the stored patient JSON read back equals the one computed before writing (PostgreSQL's
    JSONB reorders keys and rewrites numbers; the canonical form and the bounded values make that invisible)."""
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


def _unguard(url: str, *tables: str) -> None:
    """Take away the database's guards on `tables`, as their owner can (PostgreSQL: disable the triggers;
    SQLite: drop them), so that what verify_chain sees is tested on its own."""
    eng = create_engine(url)
    try:
        with eng.begin() as conn:
            for table in tables:
                if eng.dialect.name == "postgresql":
                    conn.execute(text(f"ALTER TABLE {table} DISABLE TRIGGER USER"))
                    continue
                names = conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = :t"),
                                     {"t": table}).scalars().all()
                for name in names:
                    conn.execute(text(f"DROP TRIGGER {name}"))
    finally:
        eng.dispose()


def _user_id(store: Store, name: str) -> int:
    with store._read() as s:
        return s.execute(select(User.id).where(User.name == name)).scalar_one()


# ---- users, tokens, decisions, meetings -------------------------------------------------------------
def test_user_role_changed(store, url, history):
    cli = _user_id(store, "cli")
    _unguard(url, "users")
    _sql(url, "UPDATE users SET role = 'admin' WHERE name = 'cli'")
    assert _found(store) == [(_last(store, "user", cli), "user", str(cli), "changed")]


@pytest.mark.parametrize("change", [
    "UPDATE users SET name = 'cli3' WHERE name = 'cli'",  # whose tokens and entries these are
    "UPDATE users SET deactivated_at = CURRENT_TIMESTAMP WHERE name = 'cli'",  # locked out behind the log
    "UPDATE users SET sessions_ended_at = CURRENT_TIMESTAMP WHERE name = 'cli'",  # a sign-out nobody made
])
def test_user_changed(store, url, history, change):
    cli = _user_id(store, "cli")
    _unguard(url, "users")
    _sql(url, change)
    assert _found(store) == [(_last(store, "user", cli), "user", str(cli), "changed")]


def test_user_reactivated_or_sign_out_undone(store, url, history):
    store.deactivate_user("cli2", actor="adm")
    store.end_sessions("coo")  # the cookies issued before now stop counting...
    cli2, coo = _user_id(store, "cli2"), _user_id(store, "coo")
    _unguard(url, "users")
    _sql(url, "UPDATE users SET deactivated_at = NULL WHERE name = 'cli2'",
         "UPDATE users SET sessions_ended_at = NULL WHERE name = 'coo'")  # ...and would count again
    assert _found(store) == sorted([(_last(store, "user", cli2), "user", str(cli2), "changed"),
                                    (_last(store, "user", coo), "user", str(coo), "changed")])


def test_user_token_and_case_inserted_around_the_store(store, url, history):
    _sql(url, "INSERT INTO users (name, role, created_at) VALUES ('mallory', 'admin', CURRENT_TIMESTAMP)")
    mallory = _user_id(store, "mallory")
    _sql(url, text("INSERT INTO api_tokens (digest, user_id, label, created_at) "
                   "VALUES (:d, :u, 'x', CURRENT_TIMESTAMP)").bindparams(d="ab" * 32, u=mallory))
    p = store.get_case(history["case"], user="cli")
    _sql(url, insert(Case).values(label="forged", patient=p.patient, schema_version=p.schema_version,
                                  content_hash=p.content_hash, version=1, deleted=False, created_by=mallory,
                                  created_at=dt.datetime.now(dt.UTC), updated_at=dt.datetime.now(dt.UTC)))
    with store._read() as s:
        token = s.execute(select(ApiToken.id).where(ApiToken.user_id == mallory)).scalar_one()
        forged = s.execute(select(Case.id).where(Case.label == "forged")).scalar_one()
    assert _found(store) == [(None, "user", str(mallory), "unaudited"), (None, "token", str(token), "unaudited"),
                             (None, "case", str(forged), "unaudited")]


def test_token_unrevoked(store, url, history):
    tid = history["revoked"]
    _unguard(url, "api_tokens")
    _sql(url, text("UPDATE api_tokens SET revoked_at = NULL WHERE id = :i").bindparams(i=tid))
    assert _found(store) == [(_last(store, "token", tid), "token", str(tid), "changed")]


@pytest.mark.parametrize("change", [
    "UPDATE decisions SET rationale = 'Patient wanted surgery' WHERE id = :i",
    "UPDATE decisions SET concordant = NOT concordant, deviation_code = 'other' WHERE id = :i",
    "UPDATE mdt_meetings SET held_on = '2020-01-01' WHERE id = (SELECT meeting_id FROM decisions WHERE id = :i)",
])
def test_decision_or_its_meeting_edited(store, url, history, change):
    did = history["decision"]
    _unguard(url, "decisions", "mdt_meetings")
    _sql(url, text(change).bindparams(i=did))
    assert _found(store) == [(_last(store, "decision", did), "decision", str(did), "changed")]


# ---- the log itself -------------------------------------------------------------------------------
@pytest.mark.parametrize("column, value", [("user_name", "'mallory'"), ("user_role", "'admin'"),
                                           ("recorded", "CURRENT_TIMESTAMP"), ("action", "'case.read'"),
                                           ("after_hash", "NULL")])
def test_audit_entry_edited(store, url, history, column, value):
    target = _last(store, "case", history["case"])
    _unguard(url, "audit_log")
    _sql(url, f"UPDATE audit_log SET {column} = {value} WHERE seq = {target}")
    found = _found(store)
    assert found[0] == (target, "audit", str(target), "altered")
    if column == "after_hash":  # the case's state is no longer the one its last entry names
        assert found[1:] == [(target, "case", str(history["case"]), "changed")]
    else:
        assert found[1:] == []


def test_audit_entry_hash_rewritten(store, url, history):
    target = _last(store, "case", history["case"])
    _unguard(url, "audit_log")
    _sql(url, f"UPDATE audit_log SET entry_hash = '{'f' * 64}' WHERE seq = {target}")
    assert _found(store) == [(target, "audit", str(target), "altered"), (target + 1, "audit", str(target + 1), "link")]


def test_audit_rows_deleted(store, url, history):
    middle = _last(store, "decision", history["decision"])
    end = store.verify_chain().entries
    _unguard(url, "audit_log")
    _sql(url, f"DELETE FROM audit_log WHERE seq = {middle}")
    assert _found(store) == [(middle + 1, "audit", str(middle + 1), "gap"),
                             (None, "decision", str(history["decision"]), "unaudited")]
    _sql(url, f"DELETE FROM audit_log WHERE seq = {end}")  # the last one: the token revocation
    assert _found(store) == [(middle + 1, "audit", str(middle + 1), "gap"),
                             (end - 1, "token", str(history["revoked"]), "changed"),  # its revocation is gone
                             (end, "audit_head", "1", "head"),
                             (None, "decision", str(history["decision"]), "unaudited")]


# ---- stores written before schema 0004 -------------------------------------------------------------
def _old_shapes(monkeypatch) -> None:
    """Make the store write user and decision entries as the 0003 code did (their old, differing shapes)."""
    real = store_base._Chain.append

    def append(self, user, action, entity, entity_id, before, after):
        if entity == "user":
            keep = ("id", "name") if action == "user.sign_out" else ("id", "name", "role")
            old_before = {k: before[k] for k in ("id", "name", "role")} if action == "user.deactivate" else None
            before, after = old_before, {k: after[k] for k in keep}
            if action == "user.deactivate":
                after["deactivated"] = True
        elif entity == "decision":
            after = {k: v for k, v in after.items() if k != "meeting_date"}
        return real(self, user, action, entity, entity_id, before, after)

    monkeypatch.setattr(store_base._Chain, "append", append)


def _store_at_0003(url: str, monkeypatch) -> tuple[Store, dict[str, int]]:
    """A store at revision 0003 with the history the 0003 code would have written, and a user added by hand."""
    s = Store(url)
    s.upgrade("0003")
    with monkeypatch.context() as m:
        _old_shapes(m)
        s.add_user("adm", "admin")
        for name, role in (("cli", "clinician"), ("coo", "coordinator"), ("out", "clinician"),
                           ("gone", "clinician")):
            s.add_user(name, role, actor="adm")
        s.end_sessions("out")  # last entry: user.sign_out {id, name}, no role
        s.end_sessions("gone")
        s.deactivate_user("gone", actor="adm")  # sign_out {id, name} then deactivate {id, name, role}: shapes differ
        case = s.add_case(_patient(), user="cli")
        s.assess(case.id, user="cli")
        d = s.decide(case.id, strategies=["systemic_therapy"], rationale="r", concordant=True, user="coo")
        tok = s.create_token("cli")
        s.revoke_token(tok.record.id, actor="cli")
    _sql(url, "INSERT INTO users (name, role, created_at) VALUES ('byhand', 'auditor', CURRENT_TIMESTAMP)")
    ids = {name: _user_id(s, name) for name in ("adm", "cli", "coo", "out", "gone", "byhand")}
    return s, {**ids, "case": case.id, "decision": d.id}


def test_upgrade_from_0003_rebaselines_and_the_chain_verifies(url, monkeypatch):
    s, ids = _store_at_0003(url, monkeypatch)
    entries = s.verify_chain().entries
    s.upgrade()
    assert s.schema_revision() == "0007"
    log = s.audit_entries("adm")
    new = [(e.action, e.entity, e.entity_id, e.user_name, e.user_role) for e in log[entries:]]
    audited = [ids[n] for n in ("adm", "cli", "coo", "out", "gone")]  # not byhand: it has no entry to continue
    assert new == [("schema.upgrade", "schema", "0004", "mcrc db upgrade", "system"),
                   *[("user.rebaseline", "user", str(i), "mcrc db upgrade", "system") for i in audited],
                   ("decision.rebaseline", "decision", str(ids["decision"]), "mcrc db upgrade", "system")]
    assert all(e.before_hash and e.after_hash for e in log[entries + 1:])
    assert _found(s) == [(None, "user", str(ids["byhand"]), "unaudited")]

    # from now on roles and meeting dates are covered, for users and decisions recorded before the upgrade too
    s.end_sessions("cli")
    _unguard(url, "users", "mdt_meetings")
    _sql(url, "UPDATE users SET role = 'admin' WHERE name IN ('out', 'cli')",
         "UPDATE mdt_meetings SET held_on = '2020-01-01'")
    assert _found(s) == [(_last(s, "user", ids["out"]), "user", str(ids["out"]), "changed"),
                         (_last(s, "decision", ids["decision"]), "decision", str(ids["decision"]), "changed"),
                         (_last(s, "user", ids["cli"]), "user", str(ids["cli"]), "changed"),
                         (None, "user", str(ids["byhand"]), "unaudited")]
    s.close()


def test_upgrade_from_0003_does_not_bless_earlier_tampering(url, monkeypatch):
    """A row changed before the upgrade: its re-baselining entry starts from a state the old entry did not vouch
    for, and verify-chain reports the break there. What an old entry never recorded cannot be checked."""
    s, ids = _store_at_0003(url, monkeypatch)
    _sql(url, "UPDATE users SET role = 'admin' WHERE name IN ('cli', 'out')",  # cli's entry has its role, out's not
         "UPDATE users SET deactivated_at = NULL WHERE name = 'gone'",
         "UPDATE decisions SET rationale = 'edited'")
    s.upgrade()
    rebaselined = {(e.entity, e.entity_id): e.seq for e in s.audit_entries("adm") if e.action.endswith(".rebaseline")}
    assert _found(s) == [(rebaselined[("user", str(ids["cli"]))], "user", str(ids["cli"]), "between"),
                         (rebaselined[("user", str(ids["gone"]))], "user", str(ids["gone"]), "between"),
                         (rebaselined[("decision", str(ids["decision"]))], "decision", str(ids["decision"]),
                          "between"),
                         (None, "user", str(ids["byhand"]), "unaudited")]  # nothing about out: see the docstring
    s.close()


# ---- the database's guards (migration 0004) ---------------------------------------------------------
GUARDED = [  # what the store never does, as SQL; and what the refusal says
    ("DELETE FROM decisions WHERE id = {decision}", "decisions: never deleted"),
    ("UPDATE decisions SET rationale = 'x' WHERE id = {decision}", "decisions: never changed"),
    ("DELETE FROM assessments WHERE id = {a1}", "assessments: never deleted"),
    ("UPDATE assessments SET kb_version = 'x' WHERE id = {a1}", "assessments: never changed"),
    ("DELETE FROM cases WHERE id = {other}", "cases: never deleted"),
    ("UPDATE cases SET content_hash = 'x' WHERE id = {case}", "cases: a change is the next version"),
    ("UPDATE cases SET deleted = NOT deleted, version = version + 1 WHERE id = {deleted}", "never of a deleted case"),
    ("UPDATE cases SET created_by = 1, version = version + 1 WHERE id = {case}", "never of its id, author"),
    ("UPDATE mdt_meetings SET held_on = '2020-01-01'", "mdt_meetings: never changed"),
    ("DELETE FROM mdt_meetings", "mdt_meetings: never deleted"),
    ("UPDATE users SET role = 'admin' WHERE name = 'cli'", "users: a name or role never changes"),
    ("UPDATE users SET name = 'mallory' WHERE name = 'cli'", "users: a name or role never changes"),
    ("UPDATE users SET deactivated_at = NULL WHERE name = 'cli2'", "a deactivation is final"),
    ("DELETE FROM users WHERE name = 'aud'", "users: never deleted"),
    ("UPDATE api_tokens SET revoked_at = NULL WHERE id = {revoked}", "a token is only ever revoked, once"),
    ("UPDATE api_tokens SET user_id = 1 WHERE id = {token}", "a token is only ever revoked, once"),
    ("DELETE FROM api_tokens WHERE id = {token}", "api_tokens: never deleted"),
    ("UPDATE audit_head SET seq = seq - 1", "audit_head: only moves forward"),
    ("DELETE FROM audit_head", "audit_head: one row"),
    ("INSERT INTO audit_head (id, seq, entry_hash) VALUES (2, 0, 'x')", "audit_head: one row"),
    ("UPDATE audit_log SET user_name = 'mallory' WHERE seq = 3", "append-only"),
    ("DELETE FROM audit_log WHERE seq = 3", "append-only"),
]


def test_guards_refuse_what_the_store_never_does(store, url, history):
    deleted = store.add_case({**_patient(), "id": "gone"}, user="cli").id
    store.delete_case(deleted, user="coo")
    store.deactivate_user("cli2", actor="adm")
    ids = {**history, "a1": history["assessments"][0], "deleted": deleted}
    statements = [(sql.format(**ids), message) for sql, message in GUARDED]
    if store.backend == "postgresql":  # row triggers do not see TRUNCATE; statement triggers do
        statements += [(f"TRUNCATE {t} CASCADE", "never truncated") for t in ("audit_log", "cases", "users")]
    before = base._counts(store)
    eng = create_engine(url)
    try:
        for sql, message in statements:
            with pytest.raises(Exception, match=f"refused: .*{message}|{message}") as exc, eng.begin() as conn:
                conn.execute(text(sql))
            assert "refused" in str(exc.value) or "append-only" in str(exc.value), sql
    finally:
        eng.dispose()
    assert base._counts(store) == before and store.verify_chain().ok


def test_what_the_guards_let_through_the_chain_finds(store, url, history):
    """The guards stop what the store never does; a change the store could make, made behind it, is the chain's."""
    case, cli = history["case"], _user_id(store, "cli")
    _sql(url, f"UPDATE cases SET label = 'renamed', version = version + 1 WHERE id = {case}",
         "UPDATE users SET sessions_ended_at = CURRENT_TIMESTAMP WHERE name = 'cli'")
    assert _found(store) == [(_last(store, "user", cli), "user", str(cli), "changed"),
                             (_last(store, "case", case), "case", str(case), "changed")]


def _guards(url: str) -> set[str]:
    eng = create_engine(url)
    try:
        with eng.connect() as conn:
            if eng.dialect.name == "postgresql":
                q = "SELECT tgname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid " \
                    "WHERE NOT tgisinternal AND c.relnamespace = to_regnamespace(current_schema())"
            else:
                q = "SELECT name FROM sqlite_master WHERE type = 'trigger'"
            return set(conn.execute(text(q)).scalars())
    finally:
        eng.dispose()


def test_migration_0004_down_and_up_again_with_data(store, url, history):
    guards = _guards(url)
    assert {"cases_no_delete", "users_fixed", "audit_head_forward"} <= guards
    store.downgrade("0003")
    assert _guards(url) == {g for g in guards if g.startswith("audit_log_") and g != "audit_log_no_truncate"}
    store.end_sessions("coo")  # written at 0003 by the current code: the new shapes
    assert store.verify_chain().ok
    store.upgrade()
    assert _guards(url) == guards
    markers = [e.seq for e in store.audit_entries("adm") if e.action == "schema.upgrade"]
    assert len(markers) == 1  # the store was made at 0004; this is the second upgrade's
    assert store.verify_chain().ok
    with pytest.raises(Exception, match="decisions: never deleted"):
        _sql(url, "DELETE FROM decisions")


# ---- anchors: heads kept outside the database ---------------------------------------------------------
def _cli(url, *args):
    return base._cli(url, *args)


def _anchor(url, path) -> str:
    r = _cli(url, "audit", "head", "--append", str(path))
    assert r.exit_code == 0, r.output
    return r.stdout.strip()


def test_audit_head_prints_and_appends_the_head(store, url, history, tmp_path):
    heads = tmp_path / "heads.txt"
    first = _anchor(url, heads)
    head = store.audit_head()
    assert first == head.line == (f"mcrc-audit-head seq={head.seq} entry_hash={head.entry_hash} "
                                  f"recorded={head.recorded}")
    assert head.seq == store.verify_chain().entries and head.recorded.endswith("Z")
    assert store.audit_entries("aud")[-1].entry_hash == head.entry_hash
    store.create_token("cli")
    second = _anchor(url, heads)
    assert heads.read_text(encoding="utf-8") == f"{first}\n{second}\n"  # appended, never rewritten
    r = _cli(url, "audit", "verify-chain", "--anchor", str(heads))
    assert r.exit_code == 0 and f"{head.seq + 1} entries; 2 anchored head(s) found in it" in r.output, r.output


def test_anchor_finds_a_rolled_back_head(store, url, history, tmp_path):
    """The last writes removed together with their entries, the head set back: the database agrees with itself,
    only the head kept outside shows it."""
    heads = tmp_path / "heads.txt"
    before = store.audit_head()
    tok = store.create_token("coo", label="mine")
    store.revoke_token(tok.record.id, actor="coo")
    kept = store.audit_head()
    _anchor(url, heads)
    _unguard(url, "audit_log", "audit_head", "api_tokens")
    _sql(url, f"DELETE FROM api_tokens WHERE id = {tok.record.id}", f"DELETE FROM audit_log WHERE seq > {before.seq}",
         f"UPDATE audit_head SET seq = {before.seq}, entry_hash = '{before.entry_hash}'")
    assert store.verify_chain().ok  # undetectable from inside
    report = store.verify_chain(audit.parse_anchors(heads.read_text(encoding="utf-8"), "heads.txt"))
    assert [(f.seq, f.entity, f.entity_id, f.code) for f in report.findings] == [
        (kept.seq, "anchor", "heads.txt line 1", "anchor")]
    assert f"is beyond the end of the log (entry {before.seq})" in report.findings[0].reason
    r = _cli(url, "audit", "verify-chain", "--anchor", str(heads))
    assert r.exit_code == 1 and f"entry {kept.seq}: anchor {heads} line 1: entry {kept.seq}, anchored at" in r.output


def test_anchor_finds_a_log_rewritten_with_recomputed_hashes(store, url, history, tmp_path):
    heads = tmp_path / "heads.txt"
    _anchor(url, heads)
    last = store.audit_entries("aud")[-1]
    fields = dict(seq=last.seq, recorded=last.recorded, user_name="mallory", user_role=last.user_role,
                  action=last.action, entity=last.entity, entity_id=last.entity_id, before_hash=last.before_hash,
                  after_hash=last.after_hash, prev_hash=last.prev_hash)
    forged = audit.entry_hash(**fields)
    _unguard(url, "audit_log", "audit_head")
    _sql(url, f"UPDATE audit_log SET user_name = 'mallory', entry_hash = '{forged}' WHERE seq = {last.seq}",
         f"UPDATE audit_head SET entry_hash = '{forged}'")
    assert store.verify_chain().ok  # a consistent rewrite: only an anchor can tell
    found = store.verify_chain(audit.parse_anchors(heads.read_text(encoding="utf-8"), "heads.txt")).findings
    assert [(f.seq, f.entity, f.code) for f in found] == [(last.seq, "anchor", "anchor")]
    assert "another hash: the log was rewritten" in found[0].reason


def test_anchor_finds_a_truncated_store(store, url, history, tmp_path):
    """Everything deleted, the head back at the start: an empty store verifies, the anchor does not."""
    heads = tmp_path / "heads.txt"
    _anchor(url, heads)
    tables = ("decisions", "mdt_meetings", "assessments", "cases", "api_tokens", "audit_log", "audit_head", "users")
    _unguard(url, *tables)
    _sql(url, *[f"DELETE FROM {t}" for t in tables if t not in ("audit_head", "users")],
         f"UPDATE audit_head SET seq = 0, entry_hash = '{'0' * 64}'",
         "DELETE FROM users")
    assert store.verify_chain().ok and store.verify_chain().entries == 0
    r = _cli(url, "audit", "verify-chain", "--anchor", str(heads))
    assert r.exit_code == 1 and "the log was truncated or its head rolled back" in r.output


def test_anchor_files_that_are_not(store, url, tmp_path):
    bad = tmp_path / "bad.txt"
    bad.write_text("# kept by the MDT coordinator\nmcrc-audit-head seq=1 entry_hash=xyz recorded=now\n",
                   encoding="utf-8")
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n", encoding="utf-8")
    for path, message in ((bad, "line 2: is not a head written by `mcrc audit head`"), (empty, "holds no head"),
                          (tmp_path / "missing.txt", "no such file")):
        r = _cli(url, "audit", "verify-chain", "--anchor", str(path))
        assert r.exit_code == 2 and message in r.output and "Traceback" not in r.output, r.output
    r = _cli(url, "audit", "head", "--append", str(tmp_path / "no" / "dir" / "heads.txt"))
    assert r.exit_code == 2 and "cannot append" in r.output


def test_audit_head_refuses_a_head_the_log_does_not_hold(store, url):
    _unguard(url, "audit_head")
    _sql(url, "UPDATE audit_head SET entry_hash = 'x'")
    assert not store.audit_head().in_log
    r = _cli(url, "audit", "head")
    assert r.exit_code == 1 and "which the log does not hold" in r.output and r.stdout == ""


# ---- the command line -----------------------------------------------------------------------------
def test_cli_verify_chain_prints_every_finding(store, url, history):
    cli, case = _user_id(store, "cli"), history["case"]
    _unguard(url, "users", "cases")
    _sql(url, "UPDATE users SET role = 'admin' WHERE name = 'cli'",
         f"UPDATE cases SET label = 'x' WHERE id = {case}",
         "INSERT INTO users (name, role, created_at) VALUES ('mallory', 'admin', CURRENT_TIMESTAMP)")
    r = _cli(url, "audit", "verify-chain")
    assert r.exit_code == 1, r.output
    lines = [line.strip() for line in r.output.splitlines()]
    assert lines[0] == "audit chain BROKEN: 3 finding(s), first broken first"
    assert lines[1:] == [
        f"- entry {_last(store, 'user', cli)}: user {cli}: is not in the state its last audit entry recorded "
        "(changed behind the log's back)",
        f"- entry {_last(store, 'case', case)}: case {case}: is not in the state its last audit entry recorded "
        "(changed behind the log's back)",
        f"- no entry: user {_user_id(store, 'mallory')}: has no audit entry (written around the store)"]
