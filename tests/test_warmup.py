"""The start-up warm-up: the request paths run once before `gc.freeze()`, so what they build lazily is frozen.

Measured in a fresh interpreter (in this one, earlier tests have long since built everything): the objects a
first CDS Hooks call leaves behind, with the warm-up and, as the control that shows the check can fail,
without it.
"""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import mcrc
from mcrc.api.warmup import synthetic_bundle, warm_up
from mcrc.fhir import read

ROOT = Path(__file__).resolve().parent.parent

_FIRST_CALL = r'''
import gc, json, sys, time, uuid
from pathlib import Path
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from fastapi.testclient import TestClient
import mcrc.api.warmup as warmup
if sys.argv[1] == "off":
    warmup.warm_up = lambda kb, with_cds: None
from mcrc.api.app import Settings, create_app
from mcrc.api.cds_auth import CdsAuthSettings, IssuerConfig
key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "k1"}
cds = CdsAuthSettings(issuers={"https://ehr.test": IssuerConfig("https://ehr.test", {"keys": [jwk]}, set(), None)})
app = create_app(Settings(database_url=f"sqlite:///{sys.argv[2]}", cds=cds, public_url="http://testserver"))
bundle = json.loads(Path(sys.argv[3]).read_text())
now = int(time.time())
tok = jwt.encode({"iss": "https://ehr.test", "sub": "ehr", "aud": "http://testserver/cds-services/mcrc-patient-view",
                  "iat": now, "exp": now + 60, "jti": str(uuid.uuid4())}, key, algorithm="RS256",
                 headers={"kid": "k1"})
with TestClient(app) as c:
    c.get("/cds-services"); c.get("/api/v1/health")  # the client's own first-call objects
    gc.collect(); before = len(gc.get_objects())
    r = c.post("/cds-services/mcrc-patient-view", headers={"Authorization": f"Bearer {tok}"},
               json={"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
                     "context": {"userId": "Practitioner/1", "patientId": "fhir-02"}, "prefetch": {"bundle": bundle}})
    assert r.status_code == 200 and r.json()["cards"], r.text
    gc.collect(); print(len(gc.get_objects()) - before)
'''


def _first_call_growth(mode: str, tmp_path: Path) -> int:
    out = subprocess.run([sys.executable, "-c", _FIRST_CALL, mode, str(tmp_path / f"{mode}.db"),
                          str(ROOT / "examples" / "fhir" / "02-left-colon-ras-wt-liver.json")],
                         capture_output=True, text=True, timeout=120, cwd=ROOT)
    assert out.returncode == 0, out.stderr[-2000:]
    return int(out.stdout.strip().splitlines()[-1])


def test_a_first_cds_call_leaves_little_outside_the_frozen_generation(tmp_path):
    warmed, cold = _first_call_growth("on", tmp_path), _first_call_growth("off", tmp_path)
    # With the warm-up, little remains (~600 objects: the kept answer is bytes); without it, the lazily built
    # FHIR models, serialisers and caches as well (~16,000 here).
    assert warmed < 5_000, warmed
    assert cold > 3 * warmed, (cold, warmed)


def test_the_synthetic_record_walks_the_reader_and_engine_paths():
    result = read.read_bundle(synthetic_bundle())
    p = result.patient
    assert p.primary.location == "sigmoid_colon" and p.primary.status == "resected"
    assert [m.organ for m in p.metastases] == ["lung"]
    assert p.biomarkers.kras == "wild_type" and p.ecog == 0 and p.cea_ng_ml == 12.0
    assert [c.regimen for c in p.treatment_history.courses] == ["CAPOX"]
    assert [pr.kind for pr in p.treatment_history.procedures] == ["primary_resection"]
    assert any("AllergyIntolerance" in u for u in result.unmapped)  # the skip path too
    a = mcrc.assess(p, kb=mcrc.load_knowledge())
    assert a.trace and a.tests  # rows evaluated, cards with orderable tests to build


def test_warm_up_keeps_nothing_in_the_answer_cache_and_never_raises(caplog):
    from mcrc.api import cdshooks

    cdshooks._ANSWERS.clear()
    warm_up(mcrc.load_knowledge(), with_cds=True)
    assert len(cdshooks._ANSWERS) == 0
    with caplog.at_level(logging.WARNING, logger="mcrc.api.warmup"):
        warm_up(object(), with_cds=True)  # not a knowledge base: logged, not raised
    assert "warm-up skipped" in caplog.text
    assert json.dumps(synthetic_bundle())  # plain JSON, no patient data
