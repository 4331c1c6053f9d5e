"""CDS Hooks 2.0 service (discovery, patient-view, feedback) with JWTs signed by test keys made at test time."""

import json
import time
import uuid
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI
from fastapi.testclient import TestClient
from jwt.algorithms import RSAAlgorithm

from mcrc.api.cds_auth import CdsAuthSettings, IssuerConfig, ReplayCache
from mcrc.api.cdshooks import SERVICE_ID, cds_router

ISS = "https://ehr.example.org"
BASE = "http://testserver"
SERVICE_URL = f"{BASE}/cds-services/{SERVICE_ID}"
FEEDBACK_URL = f"{SERVICE_URL}/feedback"
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
    app.include_router(cds_router(settings, ReplayCache(), page_url="https://mcrc.example.org/cases"))
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


def test_discovery_lists_the_service_without_auth(client):
    r = client.get("/cds-services")
    assert r.status_code == 200
    (svc,) = r.json()["services"]
    assert svc["id"] == SERVICE_ID and svc["hook"] == "patient-view"
    assert svc["title"] and svc["description"]
    assert "{{context.patientId}}" in svc["prefetch"]["bundle"]


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
        assert c["links"] == [{"label": "Full mcrc assessment", "url": "https://mcrc.example.org/cases",
                               "type": "absolute"}]
        uuid.UUID(c["uuid"])
    main = cards[0]
    assert any(h in main["detail"] for h in ("**Goal**", "**Strategies", "**Referrals**"))
    # citations (source, where) appear in the detail
    assert any(src in main["detail"] for src in main["source"]["label"][len("mcrc: "):].split(", "))
    assert len({c["uuid"] for c in cards}) == len(cards)


def test_warning_indicator_and_missing_tests_card(client, key):
    bundle = _bundle(EXAMPLES[0])  # 01: liquid-biopsy warning, missing tests
    r = client.post(f"/cds-services/{SERVICE_ID}", json=_request(bundle, _patient_id(bundle)), headers=_auth(key))
    cards = r.json()["cards"]
    assert cards[0]["indicator"] == "warning"
    assert any(c["summary"].startswith(("1 test", "2 tests", "3 tests")) and c["indicator"] == "info"
               for c in cards[1:])
    assert any(c["indicator"] == "warning" and "Liquid biopsy" in c["detail"] for c in cards[1:])


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


def test_not_json_is_400(client, key):
    r = client.post(f"/cds-services/{SERVICE_ID}", content=b"{nope", headers=_auth(key))
    assert r.status_code == 400


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
    from mcrc.api.cdshooks import build_cards

    examples = Path(__file__).resolve().parents[1] / "examples"
    emergency = mcrc.assess(json.loads((examples / "08-obstructing-sigmoid-emergency.json").read_text()))
    assert build_cards(emergency, "/cases")[0]["indicator"] == "critical"
    a = mcrc.assess(json.loads((examples / "02-sync-sigmoid-colon-resectable.json").read_text()))
    main = build_cards(a, "/cases")[0]
    assert len(main["summary"]) < 140 and main["summary"].startswith(a.goal.label[:40])
    detail = main["detail"]
    positions = [detail.index(f"{n}. ") for n in range(1, len(a.strategies) + 1)]
    assert positions == sorted(positions)
    assert f"{a.strategies[0].citations[0].source}, {a.strategies[0].citations[0].where}" in detail



def test_cds_services_are_mounted_in_the_api_app(tmp_path):
    from fastapi.testclient import TestClient

    from mcrc.api.app import Settings, create_app
    from mcrc.api.cds_auth import CdsAuthSettings, IssuerConfig
    from mcrc.store import Store

    Store(f"sqlite:///{tmp_path / 'api.db'}").upgrade()
    key = _rsa_jwk_for_mount()
    cds = CdsAuthSettings(issuers={"https://ehr.test": IssuerConfig("https://ehr.test", {"keys": [key]})})
    app = create_app(Settings(database_url=f"sqlite:///{tmp_path / 'api.db'}", cds=cds))
    with TestClient(app) as client:
        r = client.get("/cds-services")
        assert r.status_code == 200
        assert [s["id"] for s in r.json()["services"]] == ["mcrc-patient-view"]
        assert client.post("/cds-services/mcrc-patient-view", json={}).status_code == 401


def _rsa_jwk_for_mount() -> dict:
    import json as _json

    from cryptography.hazmat.primitives.asymmetric import rsa
    from jwt.algorithms import RSAAlgorithm

    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = _json.loads(RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update(kid="mount-test", alg="RS256", use="sig")
    return jwk
