"""The web pages against the real app and a real SQLite store: sign-in, CSRF, the patient form and its
validation (same problems as the API), the assessment page, decisions, PDF and friendly error pages."""

from __future__ import annotations

import datetime as dt
import http.server
import json
import logging
import re
import threading
from pathlib import Path
from types import SimpleNamespace

import pytest
from fastapi.testclient import TestClient

import mcrc
from mcrc.api import Settings, create_app
from mcrc.store.api import Store
from mcrc.store.errors import StoreConflict
from mcrc.web import form as pform
from mcrc.web.pdf import BASE_URL, AppAssetFetcher, html_to_pdf
from tests.pdf_pages import pdf_pages

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
USERS = {"cli": "clinician", "coo": "coordinator", "aud": "auditor"}


def _example(name: str) -> dict:
    return json.loads((EXAMPLES / name).read_text(encoding="utf-8"))


@pytest.fixture
def env(tmp_path):
    """A migrated store with users, their tokens and two cases (one assessed, one not)."""
    url = f"sqlite:///{tmp_path / 'web.db'}"
    tokens: dict[str, str] = {}
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        for name, role in USERS.items():
            s.add_user(name, role, actor="adm")
            tokens[name] = s.create_token(name, label="tests").token
        first = s.add_case(_example("44-rectal-resectable-liver.json"), "coo")
        s.assess(first.id, "coo")
        second = s.add_case(_example("16-referral-many-unknowns.json"), "coo")
    return {"url": url, "tokens": tokens, "cases": (first.id, second.id)}


def _client(env) -> TestClient:
    return TestClient(create_app(Settings(database_url=env["url"], secret_key="test-secret")))


def _csrf(html: str) -> str:
    m = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert m, "page has no CSRF field"
    return m.group(1)


def _login(c: TestClient, token: str) -> None:
    csrf = _csrf(c.get("/login").text)
    r = c.post("/login", data={"token": token, "csrf_token": csrf, "next": "/"}, follow_redirects=False)
    assert r.status_code == 303, r.text


@pytest.fixture
def coo(env):
    with _client(env) as c:
        _login(c, env["tokens"]["coo"])
        yield c


def _friendly(r, status: int) -> str:
    assert r.status_code == status, r.text[:500]
    assert r.headers["content-type"].startswith("text/html")
    assert "Traceback" not in r.text and 'File "' not in r.text
    assert f'data-status="{status}"' in r.text
    return r.text


# ---- sign-in and session ---------------------------------------------------------------------------
@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/"), ("GET", "/cases/new"), ("GET", "/cases/1/edit"), ("GET", "/cases/1/pdf"),
    ("GET", "/cases/1?x=1"), ("POST", "/cases"), ("POST", "/cases/1/edit"), ("POST", "/cases/1/decisions"),
])
def test_every_case_page_sends_a_stranger_to_sign_in(env, method, path):
    """Nothing of a case is shown or changed without a signed-in user: each page answers a redirect to the
    sign-in page that comes back to it (and never a 500 or the page itself)."""
    with _client(env) as c:
        r = c.request(method, path, follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/login?next=" + path.replace("?", "%3F").replace("=", "%3D")


def test_pages_need_sign_in_and_redirect_back(env):
    with _client(env) as c:
        r = c.get("/cases/1", follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/login?next=/cases/1"
        page = c.get(r.headers["location"])
        assert 'name="next" value="/cases/1"' in page.text
        r = c.post("/login", data={"token": env["tokens"]["cli"], "csrf_token": _csrf(page.text), "next": "/cases/1"},
                   follow_redirects=False)
        assert r.headers["location"] == "/cases/1"
        cookie = r.headers["set-cookie"]
        assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict") and "Path=/" in cookie
        assert env["tokens"]["cli"] not in cookie
        assert c.get("/").status_code == 200


def test_wrong_token_is_refused_and_never_logged_or_echoed(env, caplog):
    caplog.set_level(logging.DEBUG)
    secret = "mcrc_this-is-not-a-valid-token-0123456789"
    with _client(env) as c:
        r = c.post("/login", data={"token": secret, "csrf_token": _csrf(c.get("/login").text)})
        assert r.status_code == 401 and "not valid" in r.text and secret not in r.text
        _login(c, env["tokens"]["cli"])
    assert secret not in caplog.text and env["tokens"]["cli"] not in caplog.text


def test_login_never_redirects_off_site(env):
    with _client(env) as c:
        page = c.get("/login?next=//evil.example/x")
        assert 'value="/"' in page.text
        r = c.post("/login", data={"token": env["tokens"]["cli"], "csrf_token": _csrf(page.text),
                                   "next": "https://evil.example/"}, follow_redirects=False)
        assert r.headers["location"] == "/"


def test_forged_or_foreign_session_cookie_is_ignored(env):
    with _client(env) as c:
        _login(c, env["tokens"]["coo"])
        good = c.cookies.get("mcrc_session")
    body, mac = good.rsplit(".", 1)
    with _client(env) as c:
        c.cookies.set("mcrc_session", body + "." + mac[:-2] + ("AA" if not mac.endswith("AA") else "BB"))
        assert c.get("/", follow_redirects=False).status_code == 303
    other = TestClient(create_app(Settings(database_url=env["url"], secret_key="another-secret")))
    with other as c:
        c.cookies.set("mcrc_session", good)
        assert c.get("/", follow_redirects=False).status_code == 303


def test_a_deactivated_user_is_signed_out_on_the_next_request(env):
    with _client(env) as c:
        _login(c, env["tokens"]["cli"])
        assert c.get("/").status_code == 200
        with Store(env["url"]) as s:
            s.deactivate_user("cli", actor="adm")
        assert c.get("/", follow_redirects=False).status_code == 303


def test_logout_needs_csrf_and_ends_the_session(coo):
    _friendly(coo.post("/logout", data={}), 403)
    assert coo.get("/", follow_redirects=False).status_code == 200
    r = coo.post("/logout", data={"csrf_token": _csrf(coo.get("/").text)}, follow_redirects=False)
    assert r.status_code == 303
    assert coo.get("/", follow_redirects=False).status_code == 303


def test_logout_ends_copies_of_the_cookie_and_other_browsers_too(env):
    """Signing out ends the session on the server: a copy of the cookie (another tab, a stolen copy) and the
    user's other browsers are signed out too, the sign-out is audited, and signing in again at once works."""
    from mcrc.web.session import COOKIE

    with _client(env) as a, _client(env) as b:
        _login(a, env["tokens"]["coo"])
        _login(b, env["tokens"]["coo"])
        copy = a.cookies[COOKIE]
        r = a.post("/logout", data={"csrf_token": _csrf(a.get("/").text)}, follow_redirects=False)
        assert r.status_code == 303
        with _client(env) as thief:
            thief.cookies.set(COOKIE, copy)
            assert thief.get("/", follow_redirects=False).status_code == 303
        assert b.get("/cases/1", follow_redirects=False).headers["location"] == "/login?next=/cases/1"
        _login(a, env["tokens"]["coo"])  # a new session, issued after the sign-out
        assert a.get("/", follow_redirects=False).status_code == 200
    with Store(env["url"]) as s:
        assert [e.action for e in s.audit_entries("adm") if e.action == "user.sign_out"] == ["user.sign_out"]


# ---- CSRF ------------------------------------------------------------------------------------------
def test_form_posts_without_or_with_a_wrong_csrf_token_get_403(env, coo):
    case_id = env["cases"][0]
    good = _csrf(coo.get("/cases/new").text)
    for data in ({}, {"csrf_token": "wrong"}, {"csrf_token": good[:-1]}):
        text = _friendly(coo.post("/cases", data={**data, "age": "60"}), 403)
        assert "CSRF" in text
        _friendly(coo.post(f"/cases/{case_id}/decisions", data={**data, "rationale": "x", "concordant": "yes"}), 403)
        assert coo.post("/cases/validate", data={"age": "60"},
                        headers={"X-CSRF-Token": data.get("csrf_token", "")}).status_code == 403
    with Store(env["url"]) as s:
        assert len(s.list_cases("coo")) == 2 and not s.decisions(case_id, "coo")  # nothing was written
    # the login form is protected too, and a token from another session does not work here
    with _client(env) as other:
        foreign = _csrf(other.get("/login").text)
    with _client(env) as c:
        c.get("/login")
        _friendly(c.post("/login", data={"token": env["tokens"]["coo"], "csrf_token": foreign}), 403)


def test_signing_in_rotates_the_csrf_token(env):
    with _client(env) as c:
        before = _csrf(c.get("/login").text)
        _login(c, env["tokens"]["coo"])
        after = _csrf(c.get("/cases/new").text)
        assert before != after
        _friendly(c.post("/cases", data={"csrf_token": before, "age": "60"}), 403)


# ---- patient form ------------------------------------------------------------------------------------
def test_form_to_draft_leaves_blank_fields_unknown():
    form = {"age": "61", "sex": "", "ecog": " ", "primary.location": "sigmoid_colon", "primary.ct": "",
            "metastases[0].organ": "liver", "metastases[0].count": "", "metastases[0].largest_size.value": "",
            "metastases[0].largest_size.unit": "", "metastases[1].organ": "", "biomarkers.kras": "",
            "fitness.fit_for_surgery": "false", "_list.treatment_history.courses": "none",
            "_list.treatment_history.procedures": ""}
    assert pform.form_to_draft(form) == {
        "schema_version": "2", "age": 61, "primary": {"location": "sigmoid_colon"}, "metastases": [{"organ": "liver"}],
        "treatment_history": {"courses": []}, "fitness": {"fit_for_surgery": False}}
    assert pform.form_to_draft({}) == {"schema_version": "2"}  # the form is schema 2: radiotherapy stays unknown


def _generic(path: str) -> str:
    """A concrete field path with each row number replaced by its depth's placeholder."""
    depth = iter(range(len(pform.INDEXES)))
    return re.sub(r"\[\d+\]", lambda _: f"[{pform.INDEXES[next(depth)]}]", path)


def test_form_covers_every_patient_field_and_round_trips_every_example():
    def paths(schema_model, prefix=""):
        out = set()
        for spec in schema_model:
            out.add(spec.path)
            out |= paths(spec.children)
        return out

    shown = paths(pform.SPEC)
    for example in sorted(EXAMPLES.glob("*.json")):
        data = json.loads(example.read_text(encoding="utf-8"))
        values = pform.draft_to_form(data)
        generic = {_generic(k.removeprefix(pform.LIST_STATE)) for k in values}
        assert generic <= shown, example.name
        expected = mcrc.parse_patient(data).model_dump(mode="json", exclude_none=True)
        assert mcrc.parse_patient(pform.form_to_draft(values)).model_dump(mode="json", exclude_none=True) == expected


def _validate(c: TestClient, data: dict) -> dict:
    csrf = _csrf(c.get("/cases/new").text)
    r = c.post("/cases/validate", data=data, headers={"X-CSRF-Token": csrf})
    assert r.status_code == 200, r.text
    return r.json()


@pytest.mark.parametrize("fields", [
    {"age": "150"},
    {"ecog": "7", "primary.location": "rectum", "primary.distance_from_anal_verge_cm": "45"},
    {"metastases[0].organ": "lung", "metastases[0].pci": "3", "metastases[1].count": "2"},
    {"primary.location": "sigmoid_colon", "primary.distance_from_anal_verge_cm": "5"},
    {"biomarkers.kras": "wild_type", "biomarkers.kras_variant": "G12C", "ned_date": "2999-01-01"},
    {"metastases[0].organ": "liver", "metastases[0].largest_size.value": "-2", "metastases[0].largest_size.unit": "mm",
     "treatment_history.courses[0].setting": "palliative", "treatment_history.courses[0].regimen": "NOPE"},
])
def test_validation_gives_the_apis_problems(env, coo, fields):
    body = _validate(coo, fields)
    api = TestClient(create_app(Settings(database_url=env["url"])))
    r = api.post("/api/v1/assess", json=body["draft"], headers={"Authorization": f"Bearer {env['tokens']['coo']}"})
    assert r.status_code == 422
    assert body["problem"] == r.json()
    assert body["problem"]["errors"], "each case here is invalid"


def test_validation_of_a_valid_draft_and_of_malformed_json(coo):
    ok = _validate(coo, pform.draft_to_form(_example("01-sync-low-rectal-resectable.json")))
    assert ok["problem"] is None and ok["draft"]["primary"]["location"] == "rectum"
    bad = _validate(coo, {"mode": "json", "patient_json": '{"age": 60,'})
    assert bad["problem"]["status"] == 400 and bad["problem"]["errors"][0]["message"].startswith("malformed JSON")


def test_validation_needs_a_signed_in_user(env):
    with _client(env) as c:
        csrf = _csrf(c.get("/login").text)
        assert c.post("/cases/validate", data={"age": "60"}, headers={"X-CSRF-Token": csrf}).status_code == 401


def test_create_case_from_the_form_stores_only_what_was_filled(env, coo):
    page = coo.get("/cases/new")
    assert 'data-path="metastases[0].organ"' in page.text and "<template" in page.text
    fields = {"csrf_token": _csrf(page.text), "id": "web-new", "age": "66", "primary.location": "sigmoid_colon",
              "primary.status": "in_place", "metastases[0].organ": "liver", "metastases[0].count": "2",
              "metastases[0].resectability": "resectable", "biomarkers.kras": "", "ecog": ""}
    r = coo.post("/cases", data=fields, follow_redirects=False)
    assert r.status_code == 303
    case_id = int(r.headers["location"].rsplit("/", 1)[1])
    with Store(env["url"]) as s:
        stored = s.get_case(case_id, "coo").patient
    assert stored == {"schema_version": "2", "id": "web-new", "age": 66,
                      "primary": {"location": "sigmoid_colon", "status": "in_place"},
                      "metastases": [{"organ": "liver", "count": 2, "resectability": "resectable"}]}
    page = coo.get(f"/cases/{case_id}")
    assert page.status_code == 200 and "Path through the decision tables" in page.text


def test_invalid_form_is_shown_again_with_messages_next_to_the_fields(coo):
    csrf = _csrf(coo.get("/cases/new").text)
    r = coo.post("/cases", data={"csrf_token": csrf, "age": "12", "primary.location": "rectum",
                                 "metastases[0].organ": "lung", "metastases[0].pci": "5"})
    text = _friendly_form(r)
    # in the form's words with the allowed range, not the validator's (decision record 0040)
    field = re.search(r'<div class="field invalid" data-path="age">.*?</div>', text, re.S)
    assert field and "must be from 18 to 110 (got 12)" in field.group(0) and 'value="12"' in field.group(0)
    row = re.search(r'<p class="err"[^>]*data-err-for="metastases\[0\]"[^>]*>(.*?)</p>', text, re.S)
    assert row and ("Peritoneal Cancer Index (PCI) belongs only to peritoneum sites; this row is lung: clear it or "
                    "change the organ") in row.group(1)
    # the refused PCI stays shown on the lung row (so it can be cleared); other organs' empty fields are hidden
    assert re.search(r'<div class="field" data-path="metastases\[0\]\.pci" data-organs="peritoneum">', text)
    assert re.search(r'<div class="field organ-hidden" data-path="metastases\[0\]\.bilobar" data-organs="liver">',
                     text)
    assert re.search(r'<div class="field" data-path="metastases\[0\]\.zone" data-organs="lung">', text)
    assert 'value="rectum" selected' in text  # what was typed is kept


def _friendly_form(r) -> str:
    assert r.status_code == 422 and r.headers["content-type"].startswith("text/html")
    assert "Traceback" not in r.text
    return r.text


def test_create_case_in_json_mode(env, coo):
    csrf = _csrf(coo.get("/cases/new").text)
    patient = _example("32-palliative-first-line-left-ras-wild-type.json")
    r = coo.post("/cases", data={"csrf_token": csrf, "mode": "json", "patient_json": json.dumps(patient),
                                 "age": "30"}, follow_redirects=False)  # JSON mode ignores the fields
    assert r.status_code == 303
    bad = coo.post("/cases", data={"csrf_token": csrf, "mode": "json", "patient_json": "{nope"})
    assert bad.status_code == 422 and "malformed JSON" in bad.text


def test_clinician_may_create_but_auditor_may_not(env):
    with _client(env) as c:
        _login(c, env["tokens"]["aud"])
        csrf = _csrf(c.get("/cases/new").text)
        text = _friendly(c.post("/cases", data={"csrf_token": csrf, "age": "60"}), 403)
        assert "not allowed to create case" in text


def test_edit_a_case_makes_a_new_version_and_a_stale_form_gets_409(env, coo):
    case_id = env["cases"][1]
    page = coo.get(f"/cases/{case_id}/edit").text
    with Store(env["url"]) as s:
        before = s.get_case(case_id, "coo")
    values = pform.draft_to_form({k: v for k, v in before.patient.items() if k != "schema_version"})
    assert f'name="age" aria-describedby="err-age" type="text" inputmode="numeric" value="{values["age"]}"' in page
    assert f'name="_version" value="{before.version}"' in page
    changed = {**values, "age": "", "sex": "female", "csrf_token": _csrf(page), "_version": str(before.version)}
    r = coo.post(f"/cases/{case_id}/edit", data=changed, follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == f"/cases/{case_id}"
    with Store(env["url"]) as s:
        after = s.get_case(case_id, "coo")
    assert after.version == before.version + 1
    assert "age" not in after.patient and after.patient["sex"] == "female"  # cleared means unknown
    text = _friendly(coo.post(f"/cases/{case_id}/edit", data={**changed, "sex": "male"}), 409)
    assert "changed by someone else" in text
    with Store(env["url"]) as s:
        assert s.get_case(case_id, "coo").patient["sex"] == "female"  # nothing overwritten
    assert coo.get(f"/cases/{case_id}").status_code == 200
    with Store(env["url"]) as s:
        assert s.assessments(case_id, "coo")[-1].case_version == after.version


def test_edit_shows_problems_in_the_form(env, coo):
    case_id = env["cases"][0]
    page = coo.get(f"/cases/{case_id}/edit").text
    r = coo.post(f"/cases/{case_id}/edit", data={"csrf_token": _csrf(page), "_version": "1", "ecog": "9"})
    text = _friendly_form(r)
    assert "Edit case" in text and "must be from 0 to 4 (got 9)" in text
    _friendly(coo.post(f"/cases/{case_id}/edit", data={"csrf_token": _csrf(page), "ecog": "1"}), 422)


# ---- assessment page ---------------------------------------------------------------------------------
def test_assessment_page_shows_every_part_with_expandable_citations(env, coo):
    case_id = env["cases"][0]
    with Store(env["url"]) as s:
        a = mcrc.Assessment.model_validate(s.assessments(case_id, "coo")[-1].assessment)
    text = coo.get(f"/cases/{case_id}").text
    assert a.goal.label in text
    for s in a.strategies:
        assert f'data-strategy="{s.id}"' in text
    assert text.count('<svg xmlns="http://www.w3.org/2000/svg" class="timeline"') == len(a.strategies)
    assert text.count('class="flowchart"') == 1
    for section in (a.regimens, a.warnings, a.tests, a.prognosis, a.evidence):
        for item in section:
            assert f'data-code="{item.code}"' in text
    assert "Sources side by side" in text and "sources differ" in text and "newer evidence" in text
    assert text.count('<details class="cite">') >= len(a.regimens) + len(a.strategies)
    for row in a.fired_rows():
        assert f'href="/kb#row-{row}"' in text
    assert "Missing information and what it would change" in text and "tumour_burden" in text
    # no inline script or style anywhere (the CSP forbids them)
    assert not re.search(r"<script(?![^>]*\bsrc=)", text) and " style=" not in text and "<style" not in text


def test_opening_an_unassessed_case_assesses_it_once(env, coo):
    case_id = env["cases"][1]
    with Store(env["url"]) as s:
        assert s.assessments(case_id, "coo") == []
    assert coo.get(f"/cases/{case_id}").status_code == 200
    assert coo.get(f"/cases/{case_id}").status_code == 200
    with Store(env["url"]) as s:
        assert len(s.assessments(case_id, "coo")) == 1


def test_auditor_sees_an_unassessed_case_without_assessing_it(env):
    case_id = env["cases"][1]
    with _client(env) as c:
        _login(c, env["tokens"]["aud"])
        text = c.get(f"/cases/{case_id}").text
    assert "has not been assessed yet" in text
    with Store(env["url"]) as s:
        assert s.assessments(case_id, "coo") == []


def test_kb_page_has_an_anchor_and_citations_for_every_row(coo):
    text = coo.get("/kb").text
    kb = mcrc.load_knowledge()
    for t in kb.tables:
        for r in t.rows:
            assert f'id="row-{r.id}"' in text
    row = kb.rows["lung.emergency.urgent"]
    block = re.search(r'id="row-lung.emergency.urgent".*?</article>', text, re.S).group(0)
    assert row.citations[0].where in block and row.title in block


# ---- decisions ---------------------------------------------------------------------------------------
def test_record_a_decision_and_see_it(env, coo):
    case_id = env["cases"][0]
    page = coo.get(f"/cases/{case_id}").text
    sid = re.search(r'name="strategy" value="([^"]+)"', page).group(1)
    r = coo.post(f"/cases/{case_id}/decisions", data={"csrf_token": _csrf(page), "strategy": sid,
                                                      "concordant": "yes", "rationale": "Board agrees."},
                 follow_redirects=False)
    assert r.status_code == 303
    with Store(env["url"]) as s:
        (d,) = s.decisions(case_id, "coo")
        a = mcrc.Assessment.model_validate(s.assessments(case_id, "coo")[-1].assessment)
    chosen = next(x for x in a.strategies if x.id == sid)
    assert d.strategy_codes == list(dict.fromkeys(c for st in chosen.steps for c in (st.code, *st.regimens)))
    assert d.concordant and d.rationale == "Board agrees." and d.decided_by == "coo"
    assert "Board agrees." in coo.get(f"/cases/{case_id}").text


def test_decision_problems_are_shown_on_the_page(env, coo):
    case_id = env["cases"][0]
    csrf = _csrf(coo.get(f"/cases/{case_id}").text)
    r = coo.post(f"/cases/{case_id}/decisions", data={"csrf_token": csrf, "concordant": "no", "rationale": ""})
    assert r.status_code == 422
    assert "Reason for deviating: choose one" in r.text and "Chosen: tick at least one strategy" in r.text
    # a regimen alone leaves the recommended strategy out: the reason in words is needed (decision record 0040)
    r = coo.post(f"/cases/{case_id}/decisions", data={"csrf_token": csrf, "regimen": "FOLFOX", "concordant": "no",
                                                      "deviation": "patient_preference", "rationale": "Declined.",
                                                      "deviation_text": "Declines surgery."},
                 follow_redirects=False)
    assert r.status_code == 303
    with Store(env["url"]) as s:
        (d,) = s.decisions(case_id, "coo")
    assert d.strategy_codes == ["FOLFOX"] and d.deviation_code == "patient_preference" and not d.concordant


def test_a_clinician_may_not_record_a_decision(env):
    case_id = env["cases"][0]
    with _client(env) as c:
        _login(c, env["tokens"]["cli"])
        csrf = _csrf(c.get(f"/cases/{case_id}").text)
        text = _friendly(c.post(f"/cases/{case_id}/decisions",
                                data={"csrf_token": csrf, "regimen": "FOLFOX", "concordant": "yes", "rationale": "x"}),
                         403)
    assert "not allowed to decide" in text


# ---- errors ------------------------------------------------------------------------------------------
def test_friendly_error_pages(env, coo, monkeypatch):
    _friendly(coo.get("/cases/999"), 404)
    _friendly(coo.get("/cases/abc"), 404)
    _friendly(coo.get("/cases/999/pdf"), 404)
    store = coo.app.state.store

    def conflict(case_id, user):
        raise StoreConflict(case_id, 1, 2)

    monkeypatch.setattr(store, "assess", conflict)
    text = _friendly(coo.get(f"/cases/{env['cases'][1]}"), 409)
    assert "changed by someone else" in text

    def boom(user):
        raise RuntimeError("secret internal detail")

    monkeypatch.setattr(store, "list_cases", boom)
    text = _friendly(coo.get("/"), 500)
    assert "secret internal detail" not in text and "RuntimeError" not in text
    # the API keeps answering problem+json
    assert coo.get("/api/v1/nope").headers["content-type"].startswith("application/problem+json")




# ---- PDF -----------------------------------------------------------------------------------------------
def test_pdf_of_a_case_has_pages_and_pictures(env, coo):
    case_id = env["cases"][0]
    r = coo.get(f"/cases/{case_id}/pdf")
    assert r.status_code == 200 and r.headers["content-type"] == "application/pdf"
    assert r.content.startswith(b"%PDF-")
    assert pdf_pages(r.content) >= 2
    assert "attachment" in r.headers["content-disposition"]


def test_pdf_html_contains_the_pictures_and_the_stylesheets_are_served(env, coo):
    from weasyprint import HTML

    case_id = env["cases"][0]
    web = coo.app.state.web
    with Store(env["url"]) as s:
        a = mcrc.Assessment.model_validate(s.assessments(case_id, "coo")[-1].assessment)
    ctx = web.assessment_context(a, pdf=True)
    html = web.env.get_template("pdf.html").render(
        case=SimpleNamespace(id=case_id, label="x", version=1), stale=False, decisions=[],
        record=SimpleNamespace(created_at="2026-01-01T00:00", kb_version="k", engine_version="e"),
        user=SimpleNamespace(name="coo"), generated=dt.datetime(2026, 1, 1), **ctx)
    fetcher = AppAssetFetcher()
    doc = HTML(string=html, base_url=BASE_URL, url_fetcher=fetcher).render()
    assert len(doc.pages) >= 2
    assert sorted(fetcher.served) == ["pictures.css", "print.css", "web.css"] and fetcher.refused == 0

    def svg_boxes(box):
        n = 1 if type(getattr(box, "replacement", None)).__name__ == "SVGImage" else 0
        return n + sum(svg_boxes(c) for c in getattr(box, "children", []))

    drawn = sum(svg_boxes(p._page_box) for p in doc.pages)
    # the full trace (in parts no taller than a page) and one timeline per strategy; the decision path is HTML
    assert drawn == len(ctx["flowchart"]) + len(a.strategies) and len(ctx["flowchart"]) >= 1
    assert 'class="decision-path"' in html


class _Counter(http.server.BaseHTTPRequestHandler):
    hits = 0

    def do_GET(self):
        type(self).hits += 1
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"body{color:red}")

    def log_message(self, *args):
        pass


def test_pdf_fetcher_refuses_every_other_url_without_touching_it(tmp_path, caplog):
    server = http.server.HTTPServer(("127.0.0.1", 0), _Counter)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    secret_file = tmp_path / "secret.css"
    secret_file.write_text("body{color:red}", encoding="utf-8")
    port = server.server_address[1]
    urls = [f"http://127.0.0.1:{port}/a.css?token=SECRET1", f"https://127.0.0.1:{port}/b.png?token=SECRET2",
            secret_file.as_uri(), "https://mcrc-app.invalid/static/../../etc/passwd",
            "https://mcrc-app.invalid/other/web.css", "https://evil.example/static/web.css",
            "https://mcrc-app.invalid/static/web.css?SECRET3", "ftp://127.0.0.1/SECRET4",
            "https://mcrc-app.invalid/static/nope.css"]
    html = ("<html><head>" + "".join(f'<link rel="stylesheet" href="{u}">' for u in urls)
            + '<link rel="stylesheet" href="/static/web.css"></head><body><p>x</p>'
            + f'<img src="http://127.0.0.1:{port}/img.png?token=SECRET5"></body></html>')
    caplog.set_level(logging.DEBUG)
    fetcher = AppAssetFetcher()
    try:
        pdf = html_to_pdf(html, fetcher)
    finally:
        server.shutdown()
    assert pdf.startswith(b"%PDF-")
    assert _Counter.hits == 0, "the fetcher contacted a server"
    assert fetcher.served == ["web.css"] and fetcher.refused == len(urls) + 1
    ours = [r.getMessage() for r in caplog.records if r.name == "mcrc.web.pdf"]
    assert len(ours) == len(urls) + 1 and all("refused" in m for m in ours)
    everything = [r.getMessage() for r in caplog.records]  # WeasyPrint's own messages included
    assert any(r.name == "weasyprint" for r in caplog.records)
    for secret in ("SECRET", "127.0.0.1", "evil.example", "passwd", str(tmp_path)):
        assert not any(secret in m for m in everything), secret


# ---- lesions listed one by one: a repeated group inside a metastasis row (decision record 0036) -------------------
LESIONS_PATIENT = {"metastases": [
    {"organ": "liver", "count": 2, "bilobar": True, "disappeared_count": 1},
    {"organ": "lung", "lesions": [
        {"size": {"value": 12, "unit": "mm"}, "zone": "outer", "side": "right", "suitable_for_resection": True},
        {"zone": "inner", "suitable_for_resection": False}]}],
    "treatment_history": {"courses": [{"intent": "conversion", "regimen": "FOLFOX", "stop_reason": "ongoing"}]}}


def test_form_round_trips_lesions_listed_one_by_one():
    values = pform.draft_to_form(LESIONS_PATIENT)
    assert values["metastases[1].lesions[1].zone"] == "inner"
    assert values["metastases[1].lesions[0].suitable_for_resection"] == "true"
    assert pform.row_counts(values)["metastases[1].lesions"] == 2
    assert "metastases[0].lesions" not in pform.row_counts(values)
    draft = pform.form_to_draft(values)
    assert mcrc.parse_patient(draft).model_dump(mode="json", exclude_none=True) == \
        mcrc.parse_patient(LESIONS_PATIENT).model_dump(mode="json", exclude_none=True)
    spec = {s.name: s for s in pform.SPEC}["metastases"]
    lesions = {s.name: s for s in spec.children}["lesions"]
    assert (spec.index, lesions.index) == ("__i__", "__j__")  # an outer row number never fills the inner rows'
    assert lesions.children[0].path == "metastases[__i__].lesions[__j__].size"


def test_form_shows_listed_lesions_and_places_their_problems(coo):
    csrf = _csrf(coo.get("/cases/new").text)
    values = pform.draft_to_form(LESIONS_PATIENT)
    values["metastases[1].lesions[1].zone"] = "central"
    values["metastases[1].count"] = "3"
    text = _friendly_form(coo.post("/cases", data={"csrf_token": csrf, **values}))
    field = re.search(r'<div class="field invalid" data-path="metastases\[1\]\.lesions\[1\]\.zone" '
                      r'data-organs="lung">.*?</div>', text, re.S)
    assert field and ("&#39;central&#39; is not one of the choices; choose one of: outer, middle, inner, "
                      "perivascular") in field.group(0)
    assert 'name="metastases[1].lesions[0].size.value"' in text and 'value="12"' in text
    # each lung row carries its own template for a further lesion, with the inner placeholder kept
    assert 'data-repeat="metastases[1].lesions" data-index="__j__"' in text
    assert 'name="metastases[1].lesions[__j__].zone"' in text
    body = _validate(coo, {**values, "metastases[1].lesions[1].zone": "inner"})
    assert any("count is 3 but lesions lists 2" in e["message"] for e in body["problem"]["errors"])
