"""The REST API slice: stateless assess, reference data, health, cases with tokens and roles."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from mcrc.api import Settings, create_app
from mcrc.store.api import Store

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "01-sync-low-rectal-resectable.json"
PROBLEM = "application/problem+json"
USERS = {"cli": "clinician", "coo": "coordinator", "aud": "auditor"}


TOKENS: dict[str, str] = {}  # user name -> raw token, filled by the db_url fixture


def _auth(name: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKENS[name]}"}


@pytest.fixture
def patient() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


@pytest.fixture
def db_url(tmp_path) -> str:
    url = f"sqlite:///{tmp_path / 'api.db'}"
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        for name, role in [*USERS.items(), ("gone", "clinician")]:
            s.add_user(name, role, actor="adm")
            TOKENS[name] = s.create_token(name, label="tests").token
        s.deactivate_user("gone", actor="adm")  # "gone" keeps a token that must no longer work
        TOKENS["revoked"] = (t := s.create_token("cli", label="revoked")).token
        s.revoke_token(t.record.id, actor="cli")
    return url


def _client(db_url: str, open_assess: bool = False) -> TestClient:
    return TestClient(create_app(Settings(database_url=db_url, open_assess=open_assess)))


@pytest.fixture
def client(db_url):
    with _client(db_url, open_assess=True) as c:
        yield c


def _is_problem(r, status: int) -> dict:
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith(PROBLEM)
    body = r.json()
    assert body["status"] == status and body["type"] and body["title"] and body["detail"]
    assert "Traceback" not in r.text
    return body


# ---- stateless -----------------------------------------------------------------------------------
def test_assess_valid_patient(client, patient):
    r = client.post("/api/v1/assess", json=patient)
    assert r.status_code == 200, r.text
    a = r.json()
    assert a["goal"]["code"] and a["goal"]["citations"]
    assert a["strategies"]
    assert all(c["source"] and c["where"] for s in a["strategies"] for c in s["citations"])
    assert a["provenance"]["newer_evidence"] == "shown"


def test_assess_evidence_false_hides_newer_evidence(client, patient):
    r = client.post("/api/v1/assess?evidence=false", json=patient)
    assert r.status_code == 200, r.text
    assert r.json()["provenance"]["newer_evidence"] != "shown"


def test_assess_leaves_the_trace_out_unless_asked(client, patient):
    plain = client.post("/api/v1/assess", json=patient).json()
    r = client.post("/api/v1/assess?trace=true", json=patient)
    assert r.status_code == 200, r.text
    full = r.json()
    assert "trace" not in plain and full["trace"]
    assert {k: v for k, v in full.items() if k != "trace"} == plain  # the same answer, the trace added
    fired = {row["row"] for t in full["trace"] for row in t["rows"] if row["result"] == "fired"}
    assert fired == {x["row"] for x in plain["rationale"]}  # the trace's fired rows are the rationale's
    assert len(r.content) > 2 * len(json.dumps(plain))
    _is_problem(client.post("/api/v1/assess?trace=maybe", json=patient), 422)


def test_assess_invalid_patient_gives_field_path(client, patient):
    patient["ecog"] = 9
    body = _is_problem(client.post("/api/v1/assess", json=patient), 422)
    (err,) = body["errors"]
    assert err["field"] == "ecog" and err["pointer"] == "/ecog" and "4" in err["message"]


def test_assess_malformed_json_is_400(client):
    r = client.post("/api/v1/assess", content=b'{"ecog": ', headers={"Content-Type": "application/json"})
    _is_problem(r, 400)


def test_assess_needs_token_unless_open(db_url, patient):
    with _client(db_url, open_assess=False) as c:
        r = c.post("/api/v1/assess", json=patient)
        _is_problem(r, 401)
        assert r.headers["www-authenticate"] == "Bearer"
        assert c.post("/api/v1/assess", json=patient, headers=_auth("aud")).status_code == 200


# ---- reference and operations --------------------------------------------------------------------
def test_kb_and_vocab(client):
    kb = client.get("/api/v1/kb").json()
    assert kb["version"] and kb["tables"]
    rows = [r for t in kb["tables"] for r in t["rows"]]
    assert rows and all(r["id"] and r["title"] for r in rows)
    assert any(r["citations"] for r in rows)
    vocab = client.get("/api/v1/vocab").json()
    assert {"regimens", "goals", "warnings"} <= set(vocab)
    assert any(t["code"] == "ned" for t in vocab["goals"])


def test_health_and_ready(client):
    assert client.get("/api/v1/health").json() == {"status": "ok"}
    assert client.get("/api/v1/ready").json() == {"status": "ready"}


def test_ready_fails_on_a_store_not_upgraded(tmp_path):
    with _client(f"sqlite:///{tmp_path / 'empty.db'}") as c:
        _is_problem(c.get("/api/v1/ready"), 503)
        assert c.get("/api/v1/health").status_code == 200


# ---- cases -----------------------------------------------------------------------------------------
def test_cases_need_a_valid_token(client, patient):
    _is_problem(client.get("/api/v1/cases"), 401)
    _is_problem(client.get("/api/v1/cases", headers={"Authorization": "Bearer wrong"}), 401)
    _is_problem(client.get("/api/v1/cases", headers=_auth("gone")), 401)
    _is_problem(client.get("/api/v1/cases", headers=_auth("revoked")), 401)
    _is_problem(client.get("/api/v1/cases", headers={"Authorization": "Basic " + TOKENS["cli"]}), 401)
    assert client.get("/api/v1/cases", headers=_auth("cli")).status_code == 200
    _is_problem(client.post("/api/v1/cases", json=patient), 401)


def test_auditor_may_not_create_a_case(client, patient):
    body = _is_problem(client.post("/api/v1/cases", json=patient, headers=_auth("aud")), 403)
    assert "auditor" in body["detail"]
    assert client.get("/api/v1/cases", headers=_auth("aud")).json() == []


def test_unknown_case_is_404(client):
    _is_problem(client.get("/api/v1/cases/999", headers=_auth("cli")), 404)
    _is_problem(client.post("/api/v1/cases/999/assess", headers=_auth("cli")), 404)


def test_create_read_assess_case(client, patient):
    r = client.post("/api/v1/cases", json=patient, headers=_auth("cli"))
    assert r.status_code == 201, r.text
    case = r.json()
    assert case["version"] == 1 and r.headers["location"] == f"/api/v1/cases/{case['id']}"
    got = client.get(f"/api/v1/cases/{case['id']}", headers=_auth("aud"))
    assert got.status_code == 200 and got.json()["patient"]["ecog"] == patient["ecog"]
    assert [c["id"] for c in client.get("/api/v1/cases", headers=_auth("coo")).json()] == [case["id"]]
    _is_problem(client.post(f"/api/v1/cases/{case['id']}/assess", headers=_auth("aud")), 403)
    r = client.post(f"/api/v1/cases/{case['id']}/assess", headers=_auth("coo"))
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["case_id"] == case["id"] and stored["case_version"] == 1
    assert stored["assessment"]["goal"]["citations"]


def test_create_case_with_invalid_patient(client, patient):
    patient["ecog"] = "bad"
    body = _is_problem(client.post("/api/v1/cases", json=patient, headers=_auth("cli")), 422)
    assert [e["field"] for e in body["errors"]] == ["ecog"]
    _is_problem(client.post("/api/v1/cases", content=b"[", headers={**_auth("cli"),
                                                                     "Content-Type": "application/json"}), 400)


def test_bad_path_parameter_is_problem(client):
    _is_problem(client.get("/api/v1/cases/abc", headers=_auth("cli")), 404)  # not a case path at all
    body = _is_problem(client.get("/api/v1/cases/99999999999", headers=_auth("cli")), 422)  # beyond any id
    assert body["errors"][0]["field"] == "case_id"


def test_405_names_every_method_of_the_path(client):
    """Issue 15: Starlette named only the first route's methods (Allow: GET on /cases, which POST serves too)."""
    r = client.request("OPTIONS", "/api/v1/cases", headers=_auth("cli"))
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    r = client.put("/api/v1/cases/reassess-stale", headers=_auth("cli"))  # was read as a case id: a 400
    assert r.status_code == 405 and r.headers["allow"] == "POST"
    r = client.request("PATCH", "/api/v1/cases/1/decisions", headers=_auth("cli"))
    assert r.status_code == 405 and r.headers["allow"] == "GET, POST"
    # routes of included routers (FHIR, extraction) are named too: they answered an empty Allow
    for path in ("/api/v1/fhir/assess", "/api/v1/extract"):
        r = client.request("PATCH", path, headers=_auth("cli"))
        assert r.status_code == 405 and r.headers["allow"] == "POST", path


# ---- OpenAPI -------------------------------------------------------------------------------------
def test_openapi_declares_problem_responses(client):
    spec = client.get("/openapi.json").json()
    assert "Problem" in spec["components"]["schemas"] and "Patient" in spec["components"]["schemas"]
    expected = {
        ("/api/v1/assess", "post"): {"400", "401", "422"},
        ("/api/v1/cases", "get"): {"401", "403"},
        ("/api/v1/cases", "post"): {"400", "401", "403", "422"},
        ("/api/v1/cases/{case_id}", "get"): {"401", "403", "404"},
        ("/api/v1/cases/{case_id}/assess", "post"): {"401", "403", "404", "409"},
        ("/api/v1/cases/{case_id}", "put"): {"400", "401", "403", "404", "412", "413", "422", "428", "500"},
        ("/api/v1/cases/{case_id}", "delete"): {"401", "403", "404", "412", "500"},
        ("/api/v1/cases/{case_id}/decisions", "post"): {"400", "401", "403", "404", "413", "422", "500"},
        ("/api/v1/cases/{case_id}/assessments/diff", "get"): {"401", "403", "404", "422"},
        ("/api/v1/ready", "get"): {"503", "500"},
    }
    for (path, method), codes in expected.items():
        declared = spec["paths"][path][method]["responses"]
        assert codes <= set(declared), (path, method, set(declared))
        for code in codes:
            assert PROBLEM in declared[code]["content"]
    body = spec["paths"]["/api/v1/assess"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert body == {"$ref": "#/components/schemas/Patient"}
    refs = {m.group(1) for m in re.finditer(r'"#/components/schemas/([^"]+)"', json.dumps(spec))}
    assert refs <= set(spec["components"]["schemas"])


# ---- update, delete, assessments, diff, decisions -------------------------------------------------
def _new_case(client, patient) -> dict:
    r = client.post("/api/v1/cases", json=patient, headers=_auth("cli"))
    assert r.status_code == 201, r.text
    return r.json()


def test_update_needs_the_current_etag(client, patient):
    case = _new_case(client, patient)
    url = f"/api/v1/cases/{case['id']}"
    got = client.get(url, headers=_auth("cli"))
    assert got.headers["etag"] == '"1"'
    patient["ecog"] = 2
    _is_problem(client.put(url, json=patient, headers=_auth("cli")), 428)
    bad = _is_problem(client.put(url, json=patient, headers={**_auth("cli"), "If-Match": "yesterday"}), 422)
    assert bad["errors"][0]["field"] == "if-match"  # the OpenAPI pattern, checked by the server
    r = client.put(url, json=patient, headers={**_auth("cli"), "If-Match": got.headers["etag"]})
    assert r.status_code == 200, r.text
    assert r.json()["version"] == 2 and r.headers["etag"] == '"2"' and r.json()["patient"]["ecog"] == 2
    patient["ecog"] = 3  # a second editor still holding version 1 overwrites nothing
    body = _is_problem(client.put(url, json=patient, headers={**_auth("coo"), "If-Match": '"1"'}), 412)
    assert "version 1" in body["detail"] and "version 2" in body["detail"]
    assert client.get(url, headers=_auth("cli")).json()["patient"]["ecog"] == 2
    _is_problem(client.put(url, json=patient, headers={**_auth("aud"), "If-Match": '"2"'}), 403)
    patient["ecog"] = 9
    body = _is_problem(client.put(url, json=patient, headers={**_auth("cli"), "If-Match": '"2"'}), 422)
    assert body["errors"][0]["pointer"] == "/ecog"
    _is_problem(client.put("/api/v1/cases/999", json=patient | {"ecog": 1},
                           headers={**_auth("cli"), "If-Match": '"1"'}), 404)


def test_soft_delete(client, patient):
    case = _new_case(client, patient)
    url = f"/api/v1/cases/{case['id']}"
    _is_problem(client.delete(url, headers=_auth("cli")), 403)  # clinicians do not delete
    _is_problem(client.delete(url, headers={**_auth("coo"), "If-Match": '"7"'}), 412)
    r = client.delete(url, headers={**_auth("coo"), "If-Match": '"1"'})
    assert r.status_code == 204 and r.content == b""
    _is_problem(client.get(url, headers=_auth("cli")), 404)
    assert client.get("/api/v1/cases", headers=_auth("cli")).json() == []
    assert client.get(url, headers=_auth("aud")).json()["deleted"] is True  # auditors still see it
    _is_problem(client.delete(url, headers=_auth("coo")), 404)


def test_assessments_diff_and_decisions(client, patient):
    case = _new_case(client, patient)
    base = f"/api/v1/cases/{case['id']}"
    decision = {"strategies": ["systemic_therapy"], "rationale": "as assessed", "concordant": True,
                "participants": {"clinician": ["cli"]}, "meeting_date": "2026-11-30"}
    body = _is_problem(client.post(f"{base}/decisions", json=decision, headers=_auth("coo")), 409)
    assert "assess it" in body["detail"]  # well formed, but no assessment of the current version yet: a state
    assert client.post(f"{base}/assess", headers=_auth("cli")).status_code == 201
    body = _is_problem(client.get(f"{base}/assessments/diff", headers=_auth("cli")), 409)  # only one so far
    assert "a diff needs two" in body["detail"]

    patient["ecog"] = 3
    assert client.put(base, json=patient, headers={**_auth("cli"), "If-Match": '"1"'}).status_code == 200
    assert client.post(f"{base}/assess", headers=_auth("cli")).status_code == 201
    history = client.get(f"{base}/assessments", headers=_auth("aud")).json()
    assert [a["case_version"] for a in history] == [1, 2] and history[1]["assessment"]["goal"]["code"]
    diff = client.get(f"{base}/assessments/diff", headers=_auth("aud")).json()
    assert diff["from"]["case_version"] == 1 and diff["to"]["case_version"] == 2
    assert diff["from"]["assessment_id"] == history[0]["id"] and diff["to"]["assessment_id"] == history[1]["id"]
    assert diff["changed"] == bool(diff["sections"])
    old, new = (h["assessment"] for h in history)
    assert (old["goal"]["code"] != new["goal"]["code"]) == ("goal" in diff["sections"])

    _is_problem(client.post(f"{base}/decisions", json=decision, headers=_auth("cli")), 403)  # coordinators only
    r = client.post(f"{base}/decisions", json=decision, headers=_auth("coo"))
    assert r.status_code == 201, r.text
    d = r.json()
    assert d["assessment_id"] == history[1]["id"] and d["decided_by"] == "coo" and d["meeting_date"] == "2026-11-30"
    bad = {**decision, "strategies": ["no_such_code"], "concordant": False}
    body = _is_problem(client.post(f"{base}/decisions", json=bad, headers=_auth("coo")), 422)
    assert {e["field"] for e in body["errors"]} == {"strategies[0]", "deviation"}  # both, in one answer
    assert {e["pointer"] for e in body["errors"]} == {"/strategies/0", "/deviation"}
    body = _is_problem(client.post(f"{base}/decisions", json={**decision, "extra": 1}, headers=_auth("coo")), 422)
    assert body["errors"][0]["field"] == "extra"
    assert [x["id"] for x in client.get(f"{base}/decisions", headers=_auth("aud")).json()] == [d["id"]]
    _is_problem(client.get("/api/v1/cases/999/decisions", headers=_auth("aud")), 404)


def test_reassess_stale_over_http(client, patient):
    case = _new_case(client, patient)
    assert client.post(f"/api/v1/cases/{case['id']}/assess", headers=_auth("cli")).status_code == 201
    r = client.post("/api/v1/cases/reassess-stale", headers=_auth("cli"))
    assert r.status_code == 200 and r.json() == []  # assessed with the knowledge base in use: nothing stale
    _is_problem(client.post("/api/v1/cases/reassess-stale", headers=_auth("aud")), 403)


def test_authenticate_is_the_one_token_check(client):
    auth = client.app.state.authenticate
    who = auth(TOKENS["coo"])
    assert (who.name, who.role) == ("coo", "coordinator")
    assert auth(TOKENS["gone"]) is None and auth(TOKENS["revoked"]) is None and auth("mcrc_nope") is None
