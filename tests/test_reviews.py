"""Clinical review status of the rows (issue 17): reviews.yaml, the clinicians' marks in the store (audited, guarded,
on SQLite and PostgreSQL), the export a knowledge maintainer merges, the REST endpoints, the web form, and the status
in every renderer (JSON, text, Markdown, web, PDF, CDS Hooks card, FHIR CarePlan).

The honest starting state is "not clinically reviewed": the project itself marks no row reviewed.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pytest
import yaml
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from typer.testing import CliRunner

import mcrc
from mcrc.api import Settings, create_app
from mcrc.api.cdshooks import Links, build_cards
from mcrc.errors import KnowledgeError
from mcrc.fhir.write import careplan
from mcrc.knowledge import load_knowledge
from mcrc.knowledge.loader import load_knowledge_dir
from mcrc.knowledge.reviews import (
    REVIEWS_FILE,
    ReviewEntry,
    dump_reviews,
    effective,
    export_entries,
)
from mcrc.render import render_json, render_markdown, render_text
from mcrc.render.outline import NOT_REVIEWED_TEXT
from mcrc.store import Store, StoreForbidden, StoreInvalid
from mcrc.store.errors import StoreError
from tests import test_audit_chain as chain
from tests import test_store as base
from tests.kbcopy import LUNG, kb_copy

url, store = base.url, base.store  # SQLite and PostgreSQL (MCRC_TEST_POSTGRES)

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "01-sync-low-rectal-resectable.json"
ROW = "lung.goal.curable"  # the goal row of the example
STRATEGY_ROW = "lung.route.table2_rectal_advanced"  # its strategies' row
TODAY = dt.datetime.now(dt.UTC).date().isoformat()  # a mark's date is its UTC day
REVIEWED = f"reviewed by clinician on {TODAY}"


def _patient() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def _entry(row: str = ROW, **kw) -> dict:
    kb = load_knowledge()
    data = {"row": row, "status": "reviewed", "role": "medical oncologist", "reviewer": "Dr A",
            "date": dt.date(2026, 11, 2), "kb_version": kb.version, "row_version": kb.rows[ROW].version}
    return {**data, **kw}


def _kb_with_reviews(tmp_path: Path, entries: list[dict] | str, edits: list | None = None) -> Path:
    root = kb_copy(tmp_path, edits or [])
    body = entries if isinstance(entries, str) else yaml.safe_dump({"reviews": entries}, sort_keys=False)
    (root / REVIEWS_FILE).write_text(body, encoding="utf-8")
    return root


# ---- the knowledge base: the honest starting state, row versions, reviews.yaml -------------------------------
def test_the_project_marks_no_row_reviewed():
    kb = load_knowledge()
    data = yaml.safe_load((ROOT / "src/mcrc/knowledge/data" / REVIEWS_FILE).read_text(encoding="utf-8"))
    assert data == {"reviews": []}
    assert kb.review_book.counts() == {"reviewed": 0, "concern": 0, "earlier_version": 0}
    for path in sorted((ROOT / "examples").glob("*.json")):
        a = mcrc.assess(json.loads(path.read_text(encoding="utf-8")))
        doc = json.loads(render_json(a))
        items = [doc["goal"]] if doc["goal"] else []
        items += [i for name in ("first_steps", "strategies", "local_treatment", "regimens", "warnings", "tests",
                                 "workup", "prognosis", "followup", "considerations", "referrals", "evidence")
                  for i in doc[name]]
        items += [v for t in doc["positions"] for v in t["views"]]
        assert items and {i["review"] for i in items} == {"not_reviewed"}, path.name
        assert set(doc["reviews"]) == {r["row"] for r in doc["rationale"]}
        assert {r["status"] for r in doc["reviews"].values()} == {"not_reviewed"}
        assert doc["provenance"]["reviews_from"] == ["knowledge"]


def test_every_row_has_a_version_that_changes_with_the_row_only(tmp_path):
    kb = load_knowledge()
    versions = kb.row_versions()
    assert all(re.fullmatch(r"[0-9a-f]{12}", v) for v in versions.values())
    assert len(set(versions.values())) == len(versions)
    assert load_knowledge_dir().row_versions() == versions  # stable from one load to the next
    changed = load_knowledge_dir(kb_copy(tmp_path, [
        (LUNG, "note: When every lesion can be treated radically the aim is NED",
         "note: When every lesion can be treated radically the goal is NED")])).row_versions()
    assert {r for r in versions if versions[r] != changed[r]} == {ROW}
    # reviews.yaml is not knowledge: adding a review changes neither the knowledge base's version nor a row's
    other = load_knowledge_dir(_kb_with_reviews(tmp_path / "b", [_entry()]))
    assert other.version == kb.version and other.row_versions() == versions


def test_a_review_in_the_file_shows_and_a_stale_one_does_not(tmp_path):
    kb = load_knowledge_dir(_kb_with_reviews(tmp_path, [_entry()]))
    a = mcrc.assess(_patient(), kb=kb)
    assert a.goal.review == "reviewed" and a.reviews[ROW].status == "reviewed"
    assert a.reviews[ROW].role == "medical oncologist" and a.reviews[ROW].source == "knowledge"
    assert "(reviewed by medical oncologist on 2026-11-02)" in render_markdown(a)
    assert all(s.review == "not_reviewed" for s in a.strategies)
    # the row changes after its review: the review is of an earlier version; the row is not clinically reviewed
    stale = load_knowledge_dir(_kb_with_reviews(tmp_path / "b", [_entry()], [
        (LUNG, "note: When every lesion can be treated radically the aim is NED",
         "note: When every lesion can be treated radically the goal is NED")]))
    b = mcrc.assess(_patient(), kb=stale)
    assert b.goal.review == "not_reviewed"
    assert b.reviews[ROW].status == "earlier_version" and b.reviews[ROW].earlier_status == "reviewed"
    md = render_markdown(b)
    goal_line = next(line for line in md.splitlines() if line.startswith("- Cure intent"))
    assert goal_line.endswith(f"({NOT_REVIEWED_TEXT})")
    assert "reviewed only on an earlier version of the row" in md


@pytest.mark.parametrize(("entry", "where", "message"), [
    (_entry(row="lung.goal.curabel"), "reviews.0.row", "no row 'lung.goal.curabel'"),
    (_entry(status="approved"), "reviews.0.status", "unknown status 'approved'"),
    (_entry(status="concern"), "reviews.0.comment", "is required with a concern"),
    (_entry(date="2026-13-01"), "reviews.0.date", "is not a date"),
    (_entry(row_version="abc"), "reviews.0.row_version", "12 hexadecimal digits"),
    ({k: v for k, v in _entry().items() if k != "role"}, "reviews.0.role", "is required"),
    (_entry(signed=True), "reviews.0", "unknown key(s): signed"),
])
def test_reviews_yaml_is_checked_with_file_line_and_key(tmp_path, entry, where, message):
    root = _kb_with_reviews(tmp_path, [entry])
    with pytest.raises(KnowledgeError) as exc:
        load_knowledge_dir(root)
    problems = [str(p) for p in exc.value.problems]
    assert any(REVIEWS_FILE + ":" in p and f"({where})" in p and message in p for p in problems), problems


def test_the_same_review_twice_is_refused(tmp_path):
    with pytest.raises(KnowledgeError, match=r"the same review of lung\.goal\.curable appears twice"):
        load_knowledge_dir(_kb_with_reviews(tmp_path, [_entry(), _entry()]))


def test_effective_status_latest_wins_a_concern_wins_the_same_day():
    v = "0123456789ab"

    def e(status, day, **kw):
        return ReviewEntry(row=ROW, status=status, role="surgeon", reviewer="x", date=dt.date(2026, 1, day),
                           kb_version="k" * 12, row_version=kw.pop("version", v),
                           comment="why" if status == "concern" else None, **kw)

    assert effective([], v).status == "not_reviewed"
    assert effective([e("reviewed", 1), e("concern", 2)], v).status == "concern"
    assert effective([e("concern", 1), e("reviewed", 2)], v).status == "reviewed"
    assert effective([e("reviewed", 3), e("concern", 3)], v).status == "concern"
    old = effective([e("reviewed", 5, version="ffffffffffff")], v)
    assert old.status == "earlier_version" and old.earlier_status == "reviewed"
    # a review of the current version counts, whatever came later on an earlier one
    assert effective([e("reviewed", 1), e("concern", 9, version="ffffffffffff")], v).status == "reviewed"


# ---- the store: marks, roles, audit, guards ------------------------------------------------------------------
def test_a_clinician_marks_rows_and_every_mark_is_audited(store):
    r1 = store.mark_row(ROW, "reviewed", "cli")
    r2 = store.mark_row(STRATEGY_ROW, "concern", "cli2", "  Table 2 says this only for T4 tumours.  ")
    assert (r1.row, r1.status, r1.reviewer, r1.role, r1.date, r1.comment) == (ROW, "reviewed", "cli", "clinician",
                                                                               TODAY, None)
    assert r2.comment == "Table 2 says this only for T4 tumours."
    kb = store.knowledge
    assert r1.row_version == kb.rows[ROW].version and r1.kb_version == kb.version
    assert [m.id for m in store.reviews("aud")] == [r1.id, r2.id]
    assert [m.id for m in store.reviews(row=ROW)] == [r1.id]
    log = store.audit_entries("aud")
    assert [(e.action, e.entity, e.entity_id, e.user_name) for e in log[-2:]] == [
        ("review.create", "review", str(r1.id), "cli"), ("review.create", "review", str(r2.id), "cli2")]
    report = store.verify_chain()
    assert report.ok, report.findings
    book = store.review_book()
    assert book.sources == ("knowledge", "store")
    assert book.get(ROW).status == "reviewed" and book.get(STRATEGY_ROW).status == "concern"
    assert book.get("lung.goal.incurable").status == "not_reviewed"


@pytest.mark.parametrize("user", ["coo", "aud", "adm"])
def test_only_clinicians_mark_rows(store, user):
    before = base._counts(store)
    with pytest.raises(StoreForbidden, match="not allowed to review row"):
        store.mark_row(ROW, "reviewed", user)
    assert base._counts(store) == before and store.reviews() == []


def test_a_bad_mark_is_refused_naming_every_field(store):
    before = base._counts(store)
    with pytest.raises(StoreInvalid) as exc:
        store.mark_row("lung.goal.curabel", "approved", "cli", "x" * 3000)
    assert {p.where for p in exc.value.problems} == {"row", "status", "comment"}
    with pytest.raises(StoreInvalid) as exc:
        store.mark_row(ROW, "concern", "cli", "   ")
    assert [(p.where, "required with a concern" in p.message) for p in exc.value.problems] == [("comment", True)]
    with pytest.raises(StoreInvalid, match="control character"):
        store.mark_row(ROW, "concern", "cli", "bad\x07bell")
    assert base._counts(store) == before and store.reviews() == []


def test_marks_are_never_changed_or_deleted_and_a_change_behind_the_store_is_found(store, url):
    mark = store.mark_row(STRATEGY_ROW, "concern", "cli", "Check Table 2")
    statements = [(f"UPDATE row_reviews SET status = 'reviewed' WHERE id = {mark.id}", "never changed"),
                  (f"DELETE FROM row_reviews WHERE id = {mark.id}", "never deleted")]
    if store.backend == "postgresql":
        statements.append(("TRUNCATE row_reviews", "never truncated"))
    eng = create_engine(url)
    try:
        for sql, message in statements:
            with pytest.raises(Exception, match=message), eng.begin() as conn:
                conn.execute(text(sql))
    finally:
        eng.dispose()
    assert store.verify_chain().ok
    chain._unguard(url, "row_reviews")
    chain._sql(url, f"UPDATE row_reviews SET comment = 'All fine' WHERE id = {mark.id}")
    assert chain._found(store) == [(chain._last(store, "review", mark.id), "review", str(mark.id), "changed")]


def test_downgrade_below_0006_is_refused_while_marks_exist(store):
    store.downgrade("0005")  # no marks yet: the table goes
    assert "row_reviews" not in store.tables()
    book = store.review_book(fresh=True)  # a store before 0006 holds no marks: the knowledge file's statuses
    assert book.sources == ("knowledge",) and book.get(ROW).status == "not_reviewed"
    store.upgrade()
    store.mark_row(ROW, "reviewed", "cli")
    with pytest.raises(StoreError, match="export them first"):
        store.downgrade("0005")
    assert "row_reviews" in store.tables() and len(store.reviews()) == 1


def test_a_mark_on_a_row_that_changed_since_counts_for_nothing(store, url, tmp_path):
    store.mark_row(ROW, "reviewed", "cli")
    changed = load_knowledge_dir(kb_copy(tmp_path, [
        (LUNG, "note: When every lesion can be treated radically the aim is NED",
         "note: When every lesion can be treated radically the goal is NED")]))
    with Store(url, knowledge=changed) as later:
        rv = later.review_book().get(ROW)
        assert rv.status == "earlier_version" and rv.reviewer == "cli"
        a = mcrc.assess(_patient(), kb=changed, reviews=later.review_book())
        assert a.goal.review == "not_reviewed"
        assert render_text(a, width=200).count(REVIEWED) == 0
        # marked again on its new version, it counts
        later.mark_row(ROW, "reviewed", "cli2")
        assert later.review_book().get(ROW).status == "reviewed"


def test_export_round_trips_through_the_reviews_yaml_loader(store, tmp_path):
    store.mark_row(ROW, "reviewed", "cli")
    store.mark_row(ROW, "reviewed", "cli")  # clicked twice: one review in the file
    store.mark_row(STRATEGY_ROW, "concern", "cli2", 'Table 2: "advanced" means T4?\nSee the footnote.')
    kb = store.knowledge
    marks = [m.entry() for m in store.reviews()]
    entries, gone = export_entries(kb.review_book.entries, marks, kb.row_versions())
    assert len(entries) == 2 and gone == []
    root = _kb_with_reviews(tmp_path, dump_reviews(entries, "# exported\n"))
    merged = load_knowledge_dir(root)
    assert [e.as_yaml_entry() for e in merged.review_book.entries] == [e.as_yaml_entry() for e in entries]
    ours = store.review_book()
    for row in (ROW, STRATEGY_ROW):
        theirs = merged.review_book.get(row)
        assert (theirs.status, theirs.role, theirs.reviewer, theirs.date, theirs.comment, theirs.source) == (
            ours.get(row).status, ours.get(row).role, ours.get(row).reviewer, ours.get(row).date,
            ours.get(row).comment, "knowledge")
    # once merged, exporting again gives nothing new; the merged file with --merged is the same entries
    assert export_entries(merged.review_book.entries, marks, kb.row_versions()) == ([], [])
    again, _ = export_entries(merged.review_book.entries, marks, kb.row_versions(), merged=True)
    assert [e.as_yaml_entry() for e in again] == [e.as_yaml_entry() for e in entries]
    # a row no longer in the knowledge base is left out (the loader would refuse it), and said
    versions = {k: v for k, v in kb.row_versions().items() if k != STRATEGY_ROW}
    kept, gone = export_entries((), marks, versions)
    assert [e.row for e in kept] == [ROW] and [e.row for e in gone] == [STRATEGY_ROW]


def test_cli_lists_and_exports_the_marks(store, url, tmp_path):
    from mcrc.cli import app

    runner = CliRunner()
    r = runner.invoke(app, ["kb", "reviews", "list", "--db", url])
    assert r.exit_code == 0, r.output
    assert "0 of" in r.output and "every other row is not clinically reviewed" in r.output
    store.mark_row(ROW, "reviewed", "cli")
    store.mark_row(STRATEGY_ROW, "concern", "cli", "Check Table 2")
    r = runner.invoke(app, ["kb", "reviews", "list", "--db", url])
    assert r.exit_code == 0, r.output
    assert f"{ROW} [{store.knowledge.rows[ROW].version}]: reviewed by cli (clinician) on {TODAY}" in r.output
    assert "CONCERN raised by cli (clinician)" in r.output and "Check Table 2" in r.output
    r = runner.invoke(app, ["kb", "reviews", "list", "--db", url, "--json", "--all"])
    doc = json.loads(r.output)
    assert len(doc["rows"]) == len(store.knowledge.rows) and doc["rows"][ROW]["status"] == "reviewed"
    target = tmp_path / "marks.yaml"
    r = runner.invoke(app, ["kb", "reviews", "export", "--db", url, "-o", str(target)])
    assert r.exit_code == 0, r.output
    text_ = target.read_text(encoding="utf-8")
    assert text_.startswith("# Clinical review marks made in the mcrc app")
    merged = load_knowledge_dir(_kb_with_reviews(tmp_path, text_))
    assert merged.review_book.get(ROW).status == "reviewed"
    assert merged.review_book.get(STRATEGY_ROW).comment == "Check Table 2"
    r = runner.invoke(app, ["kb", "reviews", "export", "--db", url])  # standard output
    assert r.exit_code == 0 and "row: lung.goal.curable" in r.output
    r = runner.invoke(app, ["kb", "reviews", "list", "--file-only"])
    assert r.exit_code == 0 and "0 of" in r.output and "reviews.yaml only" in r.output


def test_cli_kb_show_prints_the_row_version_and_its_review():
    from mcrc.cli import app

    r = CliRunner().invoke(app, ["kb", "show", ROW])
    assert r.exit_code == 0, r.output
    assert f"version: {load_knowledge().rows[ROW].version}" in r.output
    assert "clinical review: not clinically reviewed" in r.output


# ---- every renderer ----------------------------------------------------------------------------------------------
def _renderings(a) -> dict[str, str]:
    cards = build_cards(a, Links("https://mcrc.example"), [], "p1")
    return {
        "json": render_json(a),
        "text": render_text(a, width=200),
        "markdown": render_markdown(a),
        "cds card": json.dumps(cards, ensure_ascii=False),
        "fhir careplan": json.dumps(careplan(a, "Patient/p1"), ensure_ascii=False),
    }


def test_every_renderer_shows_not_reviewed_then_the_mark(store):
    a = mcrc.assess(_patient(), kb=store.knowledge, reviews=store.review_book())
    for name, out in _renderings(a).items():
        if name == "json":
            doc = json.loads(out)
            assert doc["goal"]["review"] == "not_reviewed" and doc["reviews"][ROW]["status"] == "not_reviewed"
        else:
            assert NOT_REVIEWED_TEXT in out and "reviewed by" not in out, name
    store.mark_row(ROW, "reviewed", "cli")
    store.mark_row(STRATEGY_ROW, "concern", "cli", "Check Table 2")
    b = mcrc.assess(_patient(), kb=store.knowledge, reviews=store.review_book())
    for name, out in _renderings(b).items():
        if name == "json":
            doc = json.loads(out)
            assert doc["goal"]["review"] == "reviewed" and doc["provenance"]["reviews_from"] == ["knowledge", "store"]
            assert {k: doc["reviews"][ROW][k] for k in ("status", "role", "reviewer", "date", "source")} == {
                "status": "reviewed", "role": "clinician", "reviewer": "cli", "date": TODAY, "source": "store"}
            assert {s["review"] for s in doc["strategies"]} == {"concern"}
            assert doc["reviews"][STRATEGY_ROW]["comment"] == "Check Table 2"
        else:
            assert REVIEWED in out, name
            assert f"CONCERN raised by clinician on {TODAY}" in out, name
            assert NOT_REVIEWED_TEXT in out, name  # the other rows stay not clinically reviewed
    assert "Check Table 2" in _renderings(b)["markdown"] and "Check Table 2" in _renderings(b)["cds card"]


def test_an_assessment_stored_earlier_shows_the_status_as_it_is_now(store):
    case = store.add_case(_patient(), user="cli")
    record = store.assess(case.id, user="cli")
    assert record.assessment["goal"]["review"] == "not_reviewed"
    store.mark_row(ROW, "reviewed", "cli")
    from mcrc.engine.reviewed import apply_reviews

    kept = mcrc.Assessment.model_validate(record.assessment)
    now = apply_reviews(kept, store.review_book(fresh=True))
    assert now.goal.review == "reviewed" and REVIEWED in render_markdown(now)
    assert store.assess(case.id, user="cli").assessment["goal"]["review"] == "reviewed"


# ---- REST ----------------------------------------------------------------------------------------------------
PROBLEM = "application/problem+json"


@pytest.fixture
def api(tmp_path):
    db = f"sqlite:///{tmp_path / 'api.db'}"
    tokens = {}
    with Store(db) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        tokens["adm"] = s.create_token("adm").token
        for name, role in (("cli", "clinician"), ("coo", "coordinator"), ("aud", "auditor")):
            s.add_user(name, role, actor="adm")
            tokens[name] = s.create_token(name).token
    with TestClient(create_app(Settings(database_url=db, token_cache_seconds=30))) as c:
        yield c, {n: {"Authorization": f"Bearer {t}"} for n, t in tokens.items()}


def _problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    return r.json()


def test_api_a_clinician_marks_a_row_and_the_answer_shows_it(api):
    c, auth = api
    a = c.post("/api/v1/assess", json=_patient(), headers=auth["cli"]).json()
    assert a["goal"]["review"] == "not_reviewed"
    r = c.post("/api/v1/kb/reviews", json={"row": ROW, "status": "reviewed"}, headers=auth["cli"])
    assert r.status_code == 201, r.text
    mark = r.json()
    assert (mark["row"], mark["status"], mark["reviewer"], mark["role"], mark["date"]) == (
        ROW, "reviewed", "cli", "clinician", TODAY)
    r = c.post("/api/v1/kb/reviews", json={"row": STRATEGY_ROW, "status": "concern", "comment": "Check Table 2"},
               headers=auth["cli"])
    assert r.status_code == 201, r.text
    a = c.post("/api/v1/assess", json=_patient(), headers=auth["cli"]).json()  # at once, despite the cache
    assert a["goal"]["review"] == "reviewed" and a["reviews"][ROW]["date"] == TODAY
    assert {s["review"] for s in a["strategies"]} == {"concern"}
    for user in ("cli", "coo", "aud", "adm"):  # every role reads the marks
        doc = c.get("/api/v1/kb/reviews", headers=auth[user]).json()
        assert [m["row"] for m in doc["marks"]] == [ROW, STRATEGY_ROW]
        assert doc["rows"][ROW]["status"] == "reviewed" and doc["rows"]["lung.goal.incurable"]["status"] == \
            "not_reviewed"
        assert doc["reviews_from"] == ["knowledge", "store"]


@pytest.mark.parametrize("user", ["coo", "aud", "adm"])
def test_api_other_roles_may_not_mark(api, user):
    c, auth = api
    body = _problem(c.post("/api/v1/kb/reviews", json={"row": ROW, "status": "reviewed"}, headers=auth[user]), 403)
    assert "not allowed to review row" in body["detail"]
    assert c.get("/api/v1/kb/reviews", headers=auth["cli"]).json()["marks"] == []


def test_api_needs_a_token(api):
    c, _ = api
    _problem(c.post("/api/v1/kb/reviews", json={"row": ROW, "status": "reviewed"}), 401)
    _problem(c.get("/api/v1/kb/reviews"), 401)


@pytest.mark.parametrize(("body", "field", "message"), [
    ({"row": ROW, "status": "approved"}, "status", "'approved' is not allowed"),
    ({"row": ROW}, "status", "is required"),
    ({"row": ROW, "status": "concern"}, "comment", "required"),
    ({"row": ROW, "status": "concern", "comment": "   "}, "comment", "pattern"),
    ({"row": ROW, "status": "concern", "comment": "x" * 2001}, "comment", "at most 2000"),
    ({"row": "lung.goal.curabel", "status": "reviewed"}, "row", "is not a row of the knowledge base"),
    ({"row": ROW, "status": "reviewed", "signed": True}, "signed", "Extra inputs"),
])
def test_api_a_bad_mark_is_422_naming_the_field(api, body, field, message):
    c, auth = api
    doc = _problem(c.post("/api/v1/kb/reviews", json=body, headers=auth["cli"]), 422)
    assert [e["field"] for e in doc["errors"]] == [field], doc
    assert message in doc["errors"][0]["message"], doc
    assert c.get("/api/v1/kb/reviews", headers=auth["cli"]).json()["marks"] == []


def test_openapi_documents_the_review_endpoints(api):
    c, _ = api
    spec = c.get("/openapi.json").json()
    post = spec["paths"]["/api/v1/kb/reviews"]["post"]
    get = spec["paths"]["/api/v1/kb/reviews"]["get"]
    assert {"201", "401", "403", "422"} <= set(post["responses"]) and {"200", "401", "403"} <= set(get["responses"])
    for code in ("401", "403", "422"):
        assert PROBLEM in post["responses"][code]["content"]
    assert "ReviewRecord" in json.dumps(post["responses"]["201"]) and "ReviewsOut" in json.dumps(get["responses"])


# ---- web -----------------------------------------------------------------------------------------------------
@pytest.fixture
def web(tmp_path):
    db = f"sqlite:///{tmp_path / 'web.db'}"
    tokens = {}
    with Store(db) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        for name, role in (("cli", "clinician"), ("coo", "coordinator")):
            s.add_user(name, role, actor="adm")
            tokens[name] = s.create_token(name).token
        case = s.add_case(_patient(), "coo")
        s.assess(case.id, "coo")
    app = create_app(Settings(database_url=db, secret_key="test-secret"))
    return app, tokens, case.id


def _csrf(html: str) -> str:
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def _signed_in(app, token: str) -> TestClient:
    c = TestClient(app)
    r = c.post("/login", data={"token": token, "csrf_token": _csrf(c.get("/login").text), "next": "/"},
               follow_redirects=False)
    assert r.status_code == 303, r.text
    return c


def test_web_kb_page_form_marks_a_row_and_the_case_page_shows_it(web):
    app, tokens, case_id = web
    with TestClient(app) as anon:
        page = anon.get("/kb").text
        assert "Clinicians sign in to mark rows" in page and "data-review-form" not in page
        assert "0 of" in page and page.count('data-review="not_reviewed"') == len(load_knowledge().rows)
    with _signed_in(app, tokens["coo"]) as coo:
        page = coo.get("/kb").text
        assert "data-review-form" not in page and "Only clinicians mark rows" in page
        r = coo.post("/kb/reviews", data={"row": ROW, "status": "reviewed", "csrf_token": _csrf(page)})
        assert r.status_code == 403 and "not allowed to review row" in r.text
        case_page = coo.get(f"/cases/{case_id}").text
        assert 'data-review="not_reviewed"' in case_page and "reviewed by clinician" not in case_page
    with _signed_in(app, tokens["cli"]) as cli:
        page = cli.get("/kb").text
        assert f'data-review-form="{ROW}"' in page
        r = cli.post("/kb/reviews", data={"row": ROW, "status": "reviewed", "comment": ""})  # no CSRF token
        assert r.status_code == 403 and "CSRF" in r.text
        r = cli.post("/kb/reviews", data={"row": ROW, "status": "concern", "comment": " ", "csrf_token": _csrf(page)})
        assert r.status_code == 422 and "required with a concern" in r.text
        r = cli.post("/kb/reviews", data={"row": ROW, "status": "reviewed", "comment": "", "csrf_token": _csrf(page),
                                          "next": f"/kb#row-{ROW}"}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == f"/kb#row-{ROW}"
        page = cli.get("/kb").text
        row = page[page.index(f'id="row-{ROW}"'):]
        assert re.search(rf"Clinically reviewed</strong> by cli \(clinician\) on <time datetime=\"{TODAY}\"",
                         row[:row.index("</article>")])
        assert "1 of" in page
    with _signed_in(app, tokens["coo"]) as coo:  # the answer stored before the mark shows it now
        case_page = coo.get(f"/cases/{case_id}").text
        goal = case_page[case_page.index('id="goal"'):]
        goal = goal[:goal.index("</section>")]
        assert 'data-review="reviewed"' in goal and REVIEWED in goal
        pdf = coo.get(f"/cases/{case_id}/pdf")
        assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")


def test_pdf_shows_the_review_status(web):
    from types import SimpleNamespace

    from weasyprint import HTML

    from mcrc.web.pdf import BASE_URL, AppAssetFetcher

    app, _, case_id = web
    with TestClient(app):
        store = app.state.store
        store.mark_row(ROW, "reviewed", "cli")
        a = mcrc.Assessment.model_validate(store.assessments(case_id, "coo")[-1].assessment)
        w = app.state.web
        html = w.env.get_template("pdf.html").render(
            case=SimpleNamespace(id=case_id, label="x", version=1), stale=False, decisions=[],
            record=SimpleNamespace(created_at="2026-01-01T00:00", kb_version="k", engine_version="e"),
            user=SimpleNamespace(name="coo"), generated=dt.datetime(2026, 1, 1), **w.assessment_context(a, pdf=True))
        doc = HTML(string=html, base_url=BASE_URL, url_fetcher=AppAssetFetcher()).render()

    def texts(box):
        yield getattr(box, "text", "") or ""
        for child in getattr(box, "children", []):
            yield from texts(child)

    printed = " ".join(t for p in doc.pages for t in texts(p._page_box))
    printed = re.sub(r"\s+", " ", printed)
    assert REVIEWED in printed and NOT_REVIEWED_TEXT in printed
