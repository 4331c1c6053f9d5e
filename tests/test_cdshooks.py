"""CDS Hooks 2.0 services (discovery, patient-view, order-select, feedback) with JWTs signed by test keys.

The FHIR-server fallback is tested against a small real FHIR server (a FastAPI app answering reads and
searches from an example Bundle, with paging, a bearer-token check and switchable failures) reached over
httpx.ASGITransport.
"""

from __future__ import annotations

import copy
import datetime as dt
import gc
import json
import logging
import pickle
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi.testclient import TestClient
from fhir.resources.R4B.servicerequest import ServiceRequest
from jwt.algorithms import RSAAlgorithm

import mcrc
from mcrc.api.cds_auth import CdsAuthSettings, IssuerConfig, ReplayCache
from mcrc.api.cdshooks import ORDER_SELECT_ID, PATIENT_VIEW_ID, SERVICE_ID, cds_router
from mcrc.fhir.orders import DraftOrder, check_orders, option_gaps
from mcrc.fhir.read import content_digest, read_bundle
from tests.kbcopy import kb_copy

ISS = "https://ehr.example.org"
BASE = "http://testserver"
SERVICE_URL = f"{BASE}/cds-services/{SERVICE_ID}"
FEEDBACK_URL = f"{SERVICE_URL}/feedback"
EXAMPLES_ROOT = Path(__file__).resolve().parents[1] / "examples"
EXAMPLES = sorted((Path(__file__).resolve().parents[1] / "examples" / "fhir").glob("*.json"))


@pytest.fixture(scope="module")
def key() -> Any:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture
def client(key) -> TestClient:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = "rsa-1"
    settings = CdsAuthSettings(issuers={ISS: IssuerConfig(iss=ISS, jwks={"keys": [jwk]})})
    app = FastAPI()
    app.include_router(cds_router(settings, ReplayCache(), base_url="http://testserver",
                                  public_url="https://mcrc.example.org"))
    return TestClient(app, raise_server_exceptions=False)


def _auth(key, aud: str = SERVICE_URL) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": ISS, "sub": "ehr-client", "aud": aud, "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}
    return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm="RS256", headers={"kid": "rsa-1"})}


def _bundle(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text())


def _patient_id(bundle: dict[str, Any]) -> str:
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def _request(bundle: Any = None, patient_id: str = "p1") -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "patient-view",
        "hookInstance": str(uuid.uuid4()),
        "fhirServer": "https://ehr.example.org/fhir",
        "context": {"userId": "Practitioner/1", "patientId": patient_id},
    }
    if bundle is not None:
        body["prefetch"] = {"bundle": bundle}
    return body


def test_discovery_lists_both_services_without_auth(client):
    r = client.get("/cds-services")
    assert r.status_code == 200
    services = r.json()["services"]
    assert [(s["id"], s["hook"]) for s in services] == [(SERVICE_ID, "patient-view"),
                                                        ("mcrc-order-select", "order-select")]
    for svc in services:
        assert svc["title"] and svc["description"]
        assert svc["prefetch"]["patient"] == "Patient/{{context.patientId}}"
        for key in ("conditions", "observations", "procedures", "medicationStatements", "medicationRequests"):
            assert svc["prefetch"][key].endswith("?patient={{context.patientId}}")


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_valid_call_returns_cited_cards(client, key, path):
    bundle = _bundle(path)
    r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(bundle, _patient_id(bundle)), headers=_auth(key))
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    assert cards
    for c in cards:
        assert 0 < len(c["summary"]) < 140
        assert c["indicator"] in ("info", "warning", "critical")
        assert c["source"]["label"].startswith("mcrc: ")
        assert c["source"]["url"].startswith("https://mcrc.example.org/kb")
        urls = [lk["url"] for lk in c["links"]]
        assert urls[:2] == ["https://mcrc.example.org/", "https://mcrc.example.org/cases/new"]
        assert all(lk["type"] == "absolute" for lk in c["links"])
        uuid.UUID(c["uuid"])
    # the answer's card (after the current-standard card, when an approved newer option differs)
    main = next(c for c in cards if any(h in c["detail"] for h in ("**Goal**", "**Strategies", "**Referrals**")))
    # citations (source, where) appear in the detail
    assert any(src in main["detail"] for src in main["source"]["label"][len("mcrc: "):].split(", "))
    assert len({c["uuid"] for c in cards}) == len(cards)


def test_missing_tests_card(client, key):
    bundle = _bundle(EXAMPLES[0])  # 01: HER2 and metastasis-tissue testing still missing
    r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(bundle, _patient_id(bundle)), headers=_auth(key))
    cards = r.json()["cards"]
    answer = mcrc.assess(read_bundle(bundle).patient)
    assert cards[0]["indicator"] == ("warning" if answer.warnings else "info")
    assert any(c["summary"].startswith(("1 test", "2 tests", "3 tests")) and c["indicator"] == "info"
               for c in cards[1:])


@pytest.mark.parametrize("name, indicator", [("07-lymphangitic-carcinomatosis", "warning"),
                                             ("08-obstructing-sigmoid-emergency", "critical"),
                                             ("17-liver-only-three-resectable", None)])
def test_main_card_indicator_follows_the_answer(name, indicator):
    from mcrc.api.cdshooks import Links, build_cards

    a = mcrc.assess(mcrc.Patient.model_validate_json((EXAMPLES_ROOT / f"{name}.json").read_text()))
    expected = indicator or ("warning" if a.warnings else "info")
    assert build_cards(a, Links("https://mcrc.example.org"))[0]["indicator"] == expected
    if indicator == "warning":  # the warning itself is spelt out on a card of its own
        assert any(c["indicator"] == "warning" and a.warnings[0].label in c["detail"]
                   for c in build_cards(a, Links("https://mcrc.example.org"))[1:])


def test_missing_prefetch_is_412(client, key):
    r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(None), headers=_auth(key))
    assert r.status_code == 412


@pytest.mark.parametrize("bad", [
    {"resourceType": "Patient", "id": "x"},
    {"resourceType": "Bundle", "type": "collection", "entry": "not-a-list"},
    {"resourceType": "Bundle", "type": "nonsense", "entry": [{"resource": {"resourceType": "Observation"}}]},
    "a string",
    [1, 2],
])
def test_malformed_bundle_is_400(client, key, bad):
    r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(bad), headers=_auth(key))
    assert r.status_code == 400, r.text
    assert "Traceback" not in r.text


def test_bundle_for_another_patient_is_400(client, key):
    r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(_bundle(EXAMPLES[1]), "someone-else"),
                    headers=_auth(key))
    assert r.status_code == 400


@pytest.mark.parametrize("body", [
    {"hook": "order-select", "hookInstance": "x", "context": {"patientId": "p"}},
    {"hook": "patient-view", "context": {"patientId": "p"}},
    {"hook": "patient-view", "hookInstance": "x", "context": {}},
])
def test_bad_request_fields_are_400(client, key, body):
    r = client.post(f"/cds-services/{SERVICE_ID}", json=body, headers=_auth(key))
    assert r.status_code == 400


@pytest.mark.parametrize("content", [b"{nope", b'{"hook": NaN}', b"\xff\xfe{}", b"[]", b"", b"[" * 1000 + b"]" * 1000,
                                     b'{"hook": "patient-view", "hook": "order-select"}', b'{"hook": "a\\u0000"}'])
def test_not_json_is_400(client, key, content):
    """Only a strict JSON object is read (no NaN, UTF-8), with the same message every time."""
    r = client.post(f"/cds-services/{SERVICE_ID}", content=content, headers=_auth(key))
    assert r.status_code == 400
    detail = r.json()["detail"]
    assert detail.startswith("request body is not JSON mcrc accepts: ") or detail == "request body must be a " \
        "JSON object"
    if content == b'{"hook": NaN}':
        assert "NaN is not a JSON number" in detail


def test_no_token_is_401(client):
    r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(_bundle(EXAMPLES[1])))
    assert r.status_code == 401
    assert r.headers["www-authenticate"] == "Bearer"


def test_token_for_other_url_is_401(client, key):
    r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(_bundle(EXAMPLES[1])),
                    headers=_auth(key, aud=FEEDBACK_URL))
    assert r.status_code == 401


def test_feedback_is_200(client, key):
    body = {"feedback": [{"card": str(uuid.uuid4()), "outcome": "accepted",
                          "acceptedSuggestions": [{"id": str(uuid.uuid4())}],
                          "outcomeTimestamp": "2024-01-01T12:00:00Z"}]}
    r = client.post(f"/cds-services/{SERVICE_ID}/feedback", json=body, headers=_auth(key, aud=FEEDBACK_URL))
    assert r.status_code == 200


def test_feedback_needs_auth_and_valid_body(client, key):
    body = {"feedback": [{"card": "c", "outcome": "accepted", "outcomeTimestamp": "2024-01-01T12:00:00Z"}]}
    assert client.post(f"/cds-services/{SERVICE_ID}/feedback", json=body).status_code == 401
    r = client.post(f"/cds-services/{SERVICE_ID}/feedback", json={"feedback": [{"outcome": "maybe"}]},
                    headers=_auth(key, aud=FEEDBACK_URL))
    assert r.status_code == 400


def test_build_cards_critical_for_emergency_and_strategies_in_order():
    import mcrc
    from mcrc.api.cdshooks import Links, build_cards

    examples = Path(__file__).resolve().parents[1] / "examples"
    emergency = mcrc.assess(json.loads((examples / "08-obstructing-sigmoid-emergency.json").read_text()))
    assert build_cards(emergency, Links("https://m.example"))[0]["indicator"] == "critical"
    a = mcrc.assess(json.loads((examples / "02-sync-sigmoid-colon-resectable.json").read_text()))
    main = build_cards(a, Links("https://m.example"))[0]
    assert len(main["summary"]) < 140 and main["summary"].startswith(a.goal.label[:40])
    detail = main["detail"]
    positions = [detail.index(f"{n}. ") for n in range(1, len(a.strategies) + 1)]
    assert positions == sorted(positions)
    assert f"{a.strategies[0].citations[0].source}, {a.strategies[0].citations[0].where}" in detail



def test_cds_services_are_mounted_in_the_api_app(tmp_path):
    from fastapi.testclient import TestClient

    from mcrc.api.app import Settings, create_app
    from mcrc.api.cds_auth import CdsAuthSettings, IssuerConfig
    from mcrc.config import ConfigError
    from mcrc.store import Store

    Store(f"sqlite:///{tmp_path / 'api.db'}").upgrade()
    key = _rsa_jwk_for_mount()
    cds = CdsAuthSettings(issuers={"https://ehr.test": IssuerConfig("https://ehr.test", {"keys": [key]})})
    with pytest.raises(ConfigError, match="public_url"):  # issue 15: never the Host header as the audience
        create_app(Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", cds=cds))
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", cds=cds, public_url="http://testserver"))
    with TestClient(app) as client:
        r = client.get("/cds-services")
        assert r.status_code == 200
        assert [s["id"] for s in r.json()["services"]] == ["mcrc-patient-view", "mcrc-order-select"]
        assert client.post("/cds-services/mcrc-patient-view", json={}).status_code == 401


def _rsa_jwk_for_mount() -> dict:
    import json as _json

    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = _json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="mount-test", alg="RS256", use="sig")
    return jwk


# ==== order-select and the FHIR-server fallback ====================================================
FHIR_BASE = "https://fhir.example.org/r4"
TOKEN = "fhir-access-token-s3cret"
RXNORM = "http://www.nlm.nih.gov/research/umls/rxnorm"


def _fhir_example(name: str) -> dict[str, Any]:
    return json.loads((EXAMPLES_ROOT / "fhir" / f"{name}.json").read_text())


def _pid(bundle: dict[str, Any]) -> str:
    return next(e["resource"]["id"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")


def _without(bundle: dict[str, Any], *ids: str) -> dict[str, Any]:
    b = copy.deepcopy(bundle)
    b["entry"] = [e for e in b["entry"] if e["resource"].get("id") not in ids]
    return b


# ---- a small FHIR server ----------------------------------------------------------------------------
class FhirServer:
    """Answers `GET Patient/{id}` and `GET {type}?patient=` from one Bundle, `page_size` entries a page."""

    def __init__(self, bundle: dict[str, Any], page_size: int = 3, mode: str = "ok"):
        self.resources = [e["resource"] for e in bundle["entry"]]
        self.page_size, self.mode = page_size, mode
        self.requests: list[tuple[str, str | None]] = []  # (url, Authorization header)
        app = FastAPI()

        @app.get("/r4/Patient/{pid}")
        def read(pid: str, request: Request) -> Any:
            if (bad := self._check(request)) is not None:
                return bad
            found = [r for r in self.resources if r["resourceType"] == "Patient" and r["id"] == pid]
            return found[0] if found else JSONResponse({"resourceType": "OperationOutcome"}, status_code=404)

        @app.get("/r4/{rtype}")
        def search(rtype: str, patient: str, request: Request, page: int = 0) -> Any:
            if (bad := self._check(request)) is not None:
                return bad
            matches = [r for r in self.resources if r["resourceType"] == rtype]
            chunk = matches[page * self.page_size:(page + 1) * self.page_size]
            body: dict[str, Any] = {"resourceType": "Bundle", "type": "searchset", "total": len(matches),
                                    "entry": [{"resource": r, "search": {"mode": "match"}} for r in chunk]}
            if (page + 1) * self.page_size < len(matches):
                base = "https://elsewhere.example.net/r4" if self.mode == "offsite-next" else FHIR_BASE
                body["link"] = [{"relation": "next", "url": f"{base}/{rtype}?patient={patient}&page={page + 1}"}]
            return body

        self.app = app

    def _check(self, request: Request) -> Any:
        self.requests.append((str(request.url), request.headers.get("authorization")))
        if self.mode == "error":
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=500)
        if request.headers.get("authorization") != f"Bearer {TOKEN}":
            return JSONResponse({"resourceType": "OperationOutcome"}, status_code=401)
        if self.mode == "not-json":
            return JSONResponse("<html>", status_code=200)
        if self.mode == "nan":  # JSON to a lenient reader only
            return Response(b'{"resourceType": "Bundle", "type": "searchset", "total": NaN}',
                            media_type="application/fhir+json")
        return None

    def transport(self) -> httpx.AsyncBaseTransport:
        return httpx.ASGITransport(app=self.app)

    def searched(self) -> list[str]:
        return sorted({u.split("/r4/")[1].split("?")[0].split("/")[0] for u, _ in self.requests})


# ---- the CDS service under test ---------------------------------------------------------------------
def _app(key: Any, transport: httpx.AsyncBaseTransport | None = None, kb: Any = None) -> TestClient:
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    jwk["kid"] = "k1"
    settings = CdsAuthSettings(issuers={ISS: IssuerConfig(iss=ISS, jwks={"keys": [jwk]})})
    app = FastAPI()
    app.include_router(cds_router(settings, ReplayCache(), base_url="http://testserver",
                                  public_url="https://mcrc.example.org", transport=transport,
                                  kb=kb))
    return TestClient(app, raise_server_exceptions=False)


def _jwt_for(key: Any, service: str, jti: str | None = None) -> dict[str, str]:
    now = int(time.time())
    claims = {"iss": ISS, "sub": "ehr", "aud": f"http://testserver/cds-services/{service}", "iat": now,
              "exp": now + 60, "jti": jti or str(uuid.uuid4())}
    return {"Authorization": "Bearer " + jwt.encode(claims, key, algorithm="RS256", headers={"kid": "k1"})}


def _med(mid: str, *, rxnorm: str | None = None, text: str | None = None) -> dict[str, Any]:
    cc: dict[str, Any] = {}
    if rxnorm:
        cc["coding"] = [{"system": RXNORM, "code": rxnorm}]
    if text:
        cc["text"] = text
    return {"resource": {"resourceType": "MedicationRequest", "id": mid, "status": "draft", "intent": "order",
                         "subject": {"reference": "Patient/x"}, "medicationCodeableConcept": cc}}


def _order_call(record: dict[str, Any] | None, meds: list[dict[str, Any]], selections: list[str],
                pid: str, server: bool = False) -> dict[str, Any]:
    body: dict[str, Any] = {
        "hook": "order-select", "hookInstance": str(uuid.uuid4()),
        "context": {"userId": "Practitioner/1", "patientId": pid, "selections": selections,
                    "draftOrders": {"resourceType": "Bundle", "type": "collection", "entry": meds}},
    }
    if record is not None:
        body["prefetch"] = {"bundle": record}
    if server:
        body["fhirServer"] = FHIR_BASE
        body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": "Bearer", "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "mcrc"}
    return body


def _post(client: TestClient, key: Any, service: str, body: Any) -> httpx.Response:
    return client.post(f"/cds-services/{service}", json=body, headers=_jwt_for(key, service))


# ---- order-select ----------------------------------------------------------------------------------
def test_anti_egfr_for_a_ras_mutant_tumour_is_critical_with_a_delete_suggestion(key):
    record = _fhir_example("05-rectal-peritoneal")  # KRAS mutant
    body = _order_call(record, [_med("cetux", rxnorm="318341", text="Cetuximab 400 mg/m2 IV")],
                       ["MedicationRequest/cetux"], _pid(record))
    r = _post(_app(key), key, ORDER_SELECT_ID, body)
    assert r.status_code == 200, r.text
    cards = r.json()["cards"]
    card = next(c for c in cards if "no_anti_egfr_unless_ras_wild_type" in c["detail"])
    assert card["indicator"] == "critical" and len(card["summary"]) < 140
    assert "kras = mutant" in card["detail"] or "ras = mutant" in card["detail"]
    assert card["source"]["label"].startswith("mcrc safety rule: cvir-2019-palliative, Table 3")
    assert card["source"]["url"].startswith("https://mcrc.example.org/kb#row-")
    (delete,) = card["suggestions"]
    assert delete["isRecommended"] is True
    assert delete["actions"] == [{"type": "delete", "resourceId": "MedicationRequest/cetux",
                                  "description": "Remove Cetuximab 400 mg/m2 IV from the draft orders"}]
    uuid.UUID(delete["uuid"])
    assert card["selectionBehavior"] == "at-most-one"
    assert cards[0]["indicator"] == "critical"  # critical cards come first


def test_anti_egfr_with_ras_unknown_is_a_warning_that_offers_the_ras_test(key):
    record = _without(_fhir_example("02-left-colon-ras-wt-liver"), "fhir-02-kras", "fhir-02-nras")
    body = _order_call(record, [_med("pani", text="Panitumumab 6 mg/kg")], ["MedicationRequest/pani"],
                       _pid(record))
    cards = _post(_app(key), key, ORDER_SELECT_ID, body).json()["cards"]
    card = next(c for c in cards if "no_anti_egfr_unless_ras_wild_type" in c["detail"])
    assert card["indicator"] == "warning"
    assert "ras" in card["detail"] and "unknown" in card["detail"]
    test, delete = card["suggestions"]
    assert test["label"].startswith("Order KRAS and NRAS mutation testing")
    (action,) = test["actions"]
    assert action["type"] == "create"
    sr = ServiceRequest.model_validate(action["resource"])
    assert sr.subject.reference == f"Patient/{_pid(record)}" and sr.code.coding[0].code == "ras_testing"
    assert delete["actions"][0]["type"] == "delete" and delete.get("isRecommended") is False
    assert card["selectionBehavior"] == "at-most-one"


def test_checkpoint_inhibitor_needs_dmmr(key):
    client = _app(key)
    pmmr = _fhir_example("02-left-colon-ras-wt-liver")
    body = _order_call(pmmr, [_med("pembro", rxnorm="1547545", text="Pembrolizumab")], ["MedicationRequest/pembro"],
                       _pid(pmmr))
    cards = _post(client, key, ORDER_SELECT_ID, body).json()["cards"]
    assert any(c["indicator"] == "critical" and "checkpoint_only_dmmr" in c["detail"] for c in cards)
    dmmr = _fhir_example("04-dmmr-caecum")
    body = _order_call(dmmr, [_med("pembro", rxnorm="1547545", text="Pembrolizumab")], ["MedicationRequest/pembro"],
                       _pid(dmmr))
    cards = _post(client, key, ORDER_SELECT_ID, body).json()["cards"]
    assert not any("checkpoint_only_dmmr" in c["detail"] for c in cards)


def test_a_combination_split_over_two_orders_is_judged_as_one_regimen(key):
    record = _fhir_example("02-left-colon-ras-wt-liver")  # RAS wild-type: cetuximab alone is allowed
    meds = [_med("cetux", text="cetuximab"), _med("bev", text="bevacizumab 5 mg/kg")]
    client = _app(key)
    alone = _post(client, key, ORDER_SELECT_ID,
                  _order_call(record, meds[:1], ["MedicationRequest/cetux"], _pid(record))).json()["cards"]
    assert not any(c["indicator"] == "critical" for c in alone)
    both = _post(client, key, ORDER_SELECT_ID,
                 _order_call(record, meds, ["MedicationRequest/cetux"], _pid(record))).json()["cards"]
    card = next(c for c in both if "no_anti_egfr_with_anti_vegf" in c["detail"])
    assert card["indicator"] == "critical"


def test_kras_g12c_exception_lets_the_inhibitor_pair_pass(key):
    record = _fhir_example("03-right-colon-kras-g12c-after-two-lines")
    meds = [_med("soto", text="Sotorasib 960 mg"), _med("pani", rxnorm="263034")]
    cards = _post(_app(key), key, ORDER_SELECT_ID,
                  _order_call(record, meds, ["MedicationRequest/soto", "MedicationRequest/pani"],
                              _pid(record))).json()["cards"]
    assert not any(c["indicator"] == "critical" for c in cards)
    # the same pair for a KRAS-mutant tumour that is not G12C is critical on both rules
    other = _fhir_example("05-rectal-peritoneal")
    cards = _post(_app(key), key, ORDER_SELECT_ID,
                  _order_call(other, meds, ["MedicationRequest/soto", "MedicationRequest/pani"],
                              _pid(other))).json()["cards"]
    critical = " ".join(c["detail"] for c in cards if c["indicator"] == "critical")
    assert "no_anti_egfr_unless_ras_wild_type" in critical and "kras_g12c_inhibitor_only_g12c" in critical


def test_unrecognised_and_unselected_orders(key):
    record = _fhir_example("02-left-colon-ras-wt-liver")
    client = _app(key)
    cards = _post(client, key, ORDER_SELECT_ID,
                  _order_call(record, [_med("x", text="Mystery infusion")], ["MedicationRequest/x"],
                              _pid(record))).json()["cards"]
    assert [c["indicator"] for c in cards] == ["info"] and "not recognised" in cards[0]["summary"]
    # only a non-medication order selected: nothing to judge, no record needed
    body = _order_call(None, [_med("cetux", text="cetuximab")], ["ServiceRequest/1"], _pid(record))
    r = _post(client, key, ORDER_SELECT_ID, body)
    assert r.status_code == 200 and r.json() == {"cards": []}


def test_the_findings_come_from_the_knowledge_base_not_from_code(tmp_path, key):
    """Drop the anti-EGFR invariant from a copy of the knowledge base: the critical card goes with it."""
    from mcrc.knowledge import load_knowledge_dir

    text = (Path(mcrc.knowledge.default_data_dir()) / "safety.yaml").read_text()
    start = text.index("  - id: no_anti_egfr_unless_ras_wild_type")
    end = text.index("  - id: no_anti_egfr_with_anti_vegf")
    kb = load_knowledge_dir(kb_copy(tmp_path, [("safety.yaml", text[start:end], "")]))
    record = _fhir_example("05-rectal-peritoneal")
    body = _order_call(record, [_med("cetux", rxnorm="318341")], ["MedicationRequest/cetux"], _pid(record))
    cards = _post(_app(key, kb=kb), key, ORDER_SELECT_ID, body).json()["cards"]
    assert not any("no_anti_egfr_unless_ras_wild_type" in c["detail"] for c in cards)
    assert any("no_anti_egfr_unless_ras_wild_type" in c["detail"] for c in
               _post(_app(key), key, ORDER_SELECT_ID, body).json()["cards"])


def test_option_gap_when_no_cited_regimen_holds_the_ordered_class():
    kb = mcrc.load_knowledge()
    patient = json.loads((EXAMPLES_ROOT / "32-palliative-first-line-left-ras-wild-type.json").read_text())
    a = mcrc.assess(patient)
    assert a.regimens
    folfox_cetux = [DraftOrder("MedicationRequest/1", "FOLFOX", frozenset({"fluorouracil", "oxaliplatin"}), True),
                    DraftOrder("MedicationRequest/2", "cetuximab", frozenset({"cetuximab"}), True)]
    assert option_gaps(kb, a, folfox_cetux) == []
    fruq = [DraftOrder("MedicationRequest/3", "fruquintinib", frozenset({"fruquintinib"}), True)]
    (gap,) = option_gaps(kb, a, fruq)
    assert gap.classes == ["vegfr_inhibitor"]
    facts = mcrc.derive_facts(mcrc.parse_patient(patient), kb.definitions)
    assert [f.invariant.id for f in check_orders(kb, facts, folfox_cetux) if f.severity == "critical"] == []


@pytest.mark.parametrize("body, why", [
    ({"hook": "order-select", "hookInstance": "h", "context": {"patientId": "p", "selections": ["MedicationRequest/1"],
                                                             "draftOrders": {"resourceType": "Patient"}}},
     "draftOrders"),
    ({"hook": "order-select", "hookInstance": "h", "context": {"patientId": "p", "draftOrders": {
        "resourceType": "Bundle", "type": "collection"}}}, "selections"),
    ({"hook": "order-select", "hookInstance": "h", "context": {"patientId": "p", "selections": ["MedicationRequest/1"],
                                                             "draftOrders": {"resourceType": "Bundle",
                                                                             "type": "collection",
                                                                             "entry": [{"resource": 7}]}}},
     "draftOrders"),
    ({"hook": "patient-view", "hookInstance": "h", "context": {"patientId": "p"}}, "hook"),
    ({"hook": "order-select", "hookInstance": "h", "context": {"patientId": "../../etc", "selections": ["a"]}},
     "patientId"),
])
def test_malformed_order_select_is_400(key, body, why):
    r = _post(_app(key), key, ORDER_SELECT_ID, body)
    assert r.status_code == 400 and why in r.text


def test_order_select_needs_a_fresh_valid_token(key):
    client = _app(key)
    record = _fhir_example("05-rectal-peritoneal")
    body = _order_call(record, [_med("cetux", rxnorm="318341")], ["MedicationRequest/cetux"], _pid(record))
    assert client.post(f"/cds-services/{ORDER_SELECT_ID}", json=body).status_code == 401
    headers = _jwt_for(key, ORDER_SELECT_ID, jti="once")
    assert client.post(f"/cds-services/{ORDER_SELECT_ID}", json=body, headers=headers).status_code == 200
    assert client.post(f"/cds-services/{ORDER_SELECT_ID}", json=body, headers=headers).status_code == 401
    wrong_aud = _jwt_for(key, PATIENT_VIEW_ID)
    assert client.post(f"/cds-services/{ORDER_SELECT_ID}", json=body, headers=wrong_aud).status_code == 401


# ---- FHIR-server fallback ----------------------------------------------------------------------------
def _view_call(pid: str, prefetch: dict[str, Any] | None = None, server: bool = True,
               token_type: str = "Bearer", fhir_server: str = FHIR_BASE) -> dict[str, Any]:
    body: dict[str, Any] = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                            "context": {"userId": "Practitioner/1", "patientId": pid}}
    if prefetch is not None:
        body["prefetch"] = prefetch
    if server:
        body["fhirServer"] = fhir_server
        body["fhirAuthorization"] = {"access_token": TOKEN, "token_type": token_type, "expires_in": 300,
                                     "scope": "patient/*.read", "subject": "mcrc"}
    return body


def _searchset(bundle: dict[str, Any], rtype: str) -> dict[str, Any]:
    return {"resourceType": "Bundle", "type": "searchset",
            "entry": [{"resource": e["resource"]} for e in bundle["entry"] if e["resource"]["resourceType"] == rtype]}


def test_without_prefetch_the_server_is_read_with_paging_and_gives_the_same_cards(key, caplog):
    caplog.set_level(logging.DEBUG)
    record = _fhir_example("03-right-colon-kras-g12c-after-two-lines")
    # the server fallback searches every resource type the reader uses, the history Lists (decision 0041) too
    pid = _pid(record)
    server = FhirServer(record, page_size=8)  # pages followed, within the 5-page cap
    client = _app(key, transport=server.transport())
    via_server = _post(client, key, PATIENT_VIEW_ID, _view_call(pid))
    assert via_server.status_code == 200, via_server.text
    via_prefetch = _post(client, key, PATIENT_VIEW_ID, _view_call(pid, {"bundle": record}, server=False))
    strip = [(c["summary"], c["indicator"]) for c in via_prefetch.json()["cards"]]
    assert [(c["summary"], c["indicator"]) for c in via_server.json()["cards"]] == strip
    assert server.searched() == ["Condition", "List", "MedicationAdministration", "MedicationRequest",
                                 "MedicationStatement", "Observation", "Patient", "Procedure"]
    assert any("page=1" in u for u, _ in server.requests)  # a next link was followed
    assert all(auth == f"Bearer {TOKEN}" for _, auth in server.requests)
    assert all(u.startswith(FHIR_BASE) for u, _ in server.requests)
    assert TOKEN not in caplog.text


def test_only_missing_prefetch_keys_are_fetched(key):
    record = _fhir_example("02-left-colon-ras-wt-liver")
    pid = _pid(record)
    patient = next(e["resource"] for e in record["entry"] if e["resource"]["resourceType"] == "Patient")
    server = FhirServer(record)
    prefetch = {"patient": patient, "conditions": _searchset(record, "Condition"), "observations": None,
                "procedures": {"resourceType": "OperationOutcome", "issue": []}}
    r = _post(_app(key, transport=server.transport()), key, PATIENT_VIEW_ID, _view_call(pid, prefetch))
    assert r.status_code == 200, r.text
    assert server.searched() == ["List", "MedicationAdministration", "MedicationRequest", "MedicationStatement",
                                 "Observation", "Procedure"]


def test_page_cap_is_reported_on_the_cards(key):
    record = _fhir_example("02-left-colon-ras-wt-liver")
    server = FhirServer(record, page_size=1)  # more Observations than 5 pages of 1
    r = _post(_app(key, transport=server.transport()), key, PATIENT_VIEW_ID, _view_call(_pid(record)))
    assert r.status_code == 200
    assert any("observations: only the first 5 pages were read" in c["detail"] for c in r.json()["cards"])


def test_order_select_falls_back_to_the_server(key):
    record = _fhir_example("05-rectal-peritoneal")
    server = FhirServer(record)
    body = _order_call(None, [_med("cetux", rxnorm="318341")], ["MedicationRequest/cetux"], _pid(record),
                       server=True)
    cards = _post(_app(key, transport=server.transport()), key, ORDER_SELECT_ID, body).json()["cards"]
    assert any(c["indicator"] == "critical" and "no_anti_egfr_unless_ras_wild_type" in c["detail"] for c in cards)


@pytest.mark.parametrize("mode, token, detail", [
    ("error", TOKEN, "answered 500"),
    ("ok", "wrong", "refused the access token"),
    ("offsite-next", TOKEN, "outside its own base URL"),
    ("not-json", TOKEN, "not a FHIR resource"),
    ("nan", TOKEN, "answer is not JSON"),
])
def test_server_failures_are_412_without_the_token(key, caplog, mode, token, detail):
    caplog.set_level(logging.DEBUG)
    record = _fhir_example("02-left-colon-ras-wt-liver")
    server = FhirServer(record, page_size=2, mode=mode)
    body = _view_call(_pid(record))
    body["fhirAuthorization"]["access_token"] = token
    r = _post(_app(key, transport=server.transport()), key, PATIENT_VIEW_ID, body)
    assert r.status_code == 412 and detail in r.text, r.text
    assert TOKEN not in caplog.text and TOKEN not in r.text
    if mode == "offsite-next":
        assert not any("elsewhere" in u for u, _ in server.requests)


def test_unreachable_server_is_412(key):
    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("connection refused", request=request)

    record = _fhir_example("02-left-colon-ras-wt-liver")
    r = _post(_app(key, transport=httpx.MockTransport(refuse)), key, PATIENT_VIEW_ID, _view_call(_pid(record)))
    assert r.status_code == 412 and "could not be reached" in r.text


def test_no_prefetch_and_no_server_is_412_but_optional_keys_may_be_missing(key):
    record = _fhir_example("02-left-colon-ras-wt-liver")
    pid = _pid(record)
    client = _app(key)
    assert _post(client, key, PATIENT_VIEW_ID, _view_call(pid, server=False)).status_code == 412
    patient = next(e["resource"] for e in record["entry"] if e["resource"]["resourceType"] == "Patient")
    prefetch = {"patient": patient, "conditions": _searchset(record, "Condition"),
                "observations": _searchset(record, "Observation")}
    r = _post(client, key, PATIENT_VIEW_ID, _view_call(pid, prefetch, server=False))
    assert r.status_code == 200
    assert any("procedures not provided" in c["detail"] for c in r.json()["cards"])
    # fhirServer alone (no fhirAuthorization) does not allow reading it
    no_auth = _view_call(pid)
    del no_auth["fhirAuthorization"]
    assert _post(client, key, PATIENT_VIEW_ID, no_auth).status_code == 412


@pytest.mark.parametrize("fhir_server, token_type", [
    ("http://fhir.example.org/r4", "Bearer"),
    ("https://user:pw@fhir.example.org/r4", "Bearer"),
    (FHIR_BASE, "MAC"),
    ("fhir.example.org", "Bearer"),
])
def test_unsafe_fhir_server_fields_are_400(key, fhir_server, token_type):
    record = _fhir_example("02-left-colon-ras-wt-liver")
    body = _view_call(_pid(record), fhir_server=fhir_server, token_type=token_type)
    r = _post(_app(key), key, PATIENT_VIEW_ID, body)
    assert r.status_code == 400, r.text
    assert TOKEN not in r.text


def test_documented_example_requests_work(key):
    """The request files under examples/fhir/cds (used in docs/cds-hooks.md) give the documented answers."""
    cds = EXAMPLES_ROOT / "fhir" / "cds"
    order = json.loads((cds / "order-select-cetuximab-kras-mutant.json").read_text())
    r = _post(_app(key), key, ORDER_SELECT_ID, order)
    assert r.status_code == 200, r.text
    (card,) = [c for c in r.json()["cards"] if c["indicator"] == "critical"]
    assert "MedicationRequest/draft-cetuximab" in json.dumps(card["suggestions"])
    assert "draft-folfox" not in json.dumps(card["suggestions"])
    view = json.loads((cds / "patient-view-server-fallback.json").read_text())
    record = _fhir_example("05-rectal-peritoneal")
    view["fhirServer"] = FHIR_BASE
    view["fhirAuthorization"]["access_token"] = TOKEN
    r = _post(_app(key, transport=FhirServer(record).transport()), key, PATIENT_VIEW_ID, view)
    assert r.status_code == 200 and r.json()["cards"]


# ---- answers reused for a record sent again ------------------------------------------------------
def _strip_uuids(cards: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = copy.deepcopy(cards)
    for c in out:
        c.pop("uuid", None)
        for s in c.get("suggestions", []):
            s.pop("uuid", None)
    return out


def test_a_record_sent_again_gets_the_same_cards_with_fresh_uuids_and_a_changed_one_a_new_answer(client, key):
    from mcrc.api import cdshooks

    cdshooks._ANSWERS.clear()
    cdshooks._PATIENT_VIEW_CARDS.clear()
    bundle = _bundle(EXAMPLES_ROOT / "fhir" / "02-left-colon-ras-wt-liver.json")
    pid = _patient_id(bundle)

    def call(b: dict[str, Any], patient_id: str = pid) -> httpx.Response:
        return client.post(f"/cds-services/{SERVICE_ID}", json=_request(b, patient_id), headers=_auth(key))

    first = call(bundle).json()["cards"]
    assert len(cdshooks._ANSWERS) == 1
    again = call(copy.deepcopy(bundle)).json()["cards"]
    assert len(cdshooks._ANSWERS) == 1 and len(cdshooks._PATIENT_VIEW_CARDS) == 1  # the same content: kept
    assert _strip_uuids(again) == _strip_uuids(first)
    assert not {c["uuid"] for c in first} & {c["uuid"] for c in again}  # suggestions and cards are new each call

    # the same record for another patient id is refused, kept answer or not
    assert call(bundle, "someone-else").status_code == 400

    # KRAS now mutant: a different digest, a different answer (no anti-EGFR option any more)
    changed = copy.deepcopy(bundle)
    kras = next(e["resource"] for e in changed["entry"] if e["resource"]["id"].endswith("kras"))
    kras["valueCodeableConcept"] = {"coding": [{"system": "http://loinc.org", "code": "LA9633-4",
                                                "display": "Present"}]}
    third = call(changed).json()["cards"]
    assert len(cdshooks._ANSWERS) == 2
    kb = mcrc.load_knowledge()  # the key: the record, the day, the knowledge base and its rows' review status
    today, version, reviews = dt.date.today().isoformat(), kb.version, kb.review_book.version
    kept = [pickle.loads(cdshooks._ANSWERS.get((content_digest(b), today, version, reviews)))
            for b in (bundle, changed)]
    assert [r.patient.biomarkers.kras for r, _ in kept] == ["wild_type", "mutant"]
    assert kept[0][1].facts != kept[1][1].facts
    cdshooks._ANSWERS.clear()
    cdshooks._PATIENT_VIEW_CARDS.clear()
    assert _strip_uuids(call(changed).json()["cards"]) == _strip_uuids(third)  # as a fresh reading gives


def test_a_record_that_fails_is_never_kept(client, key):
    from mcrc.api import cdshooks

    cdshooks._ANSWERS.clear()
    cdshooks._PATIENT_VIEW_CARDS.clear()
    bad = _bundle(EXAMPLES_ROOT / "fhir" / "02-left-colon-ras-wt-liver.json")
    bad["entry"][0]["resource"]["birthDate"] = "not a date"
    for _ in range(2):
        r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(bad, _patient_id(bad)), headers=_auth(key))
        assert r.status_code == 400
    assert len(cdshooks._ANSWERS) == 0 and len(cdshooks._PATIENT_VIEW_CARDS) == 0


def test_kept_answers_stay_out_of_the_garbage_collectors_reach(client, key):
    """Kept answers are bytes: records never seen before add (almost) no objects the collector must walk. Kept
    as object graphs they added ~800 each, and 256 of them made every full collection take ~120 ms."""
    from mcrc.api import cdshooks

    cdshooks._ANSWERS.clear()
    cdshooks._PATIENT_VIEW_CARDS.clear()
    base = _bundle(EXAMPLES_ROOT / "fhir" / "02-left-colon-ras-wt-liver.json")
    pid = _patient_id(base)

    def call(i: int) -> None:
        b = copy.deepcopy(base)
        b["entry"][0]["resource"]["identifier"] = [{"system": "urn:test", "value": str(i)}]
        r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(b, pid), headers=_auth(key))
        assert r.status_code == 200, r.text

    call(-1)  # first-call objects of the client and the app
    gc.collect()
    before = len(gc.get_objects())
    for i in range(40):
        call(i)
    gc.collect()
    assert len(cdshooks._ANSWERS) == 41 and len(cdshooks._PATIENT_VIEW_CARDS) == 41
    assert len(gc.get_objects()) - before < 40 * 25, len(gc.get_objects()) - before
