"""The CDS Hooks demo in one step (issue 21 item 3): `make run`'s demo issuer, the printed `mcrc cds demo-call`
command against a really started server, and a card set a clinician would not find noisy."""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from mcrc.api.cds_demo import DEMO_ISSUER, DemoError, demo_call, ensure_demo_issuer
from mcrc.config import load_config

ROOT = Path(__file__).resolve().parent.parent
FHIR = ROOT / "examples" / "fhir"
MCRC = str(Path(sys.executable).parent / "mcrc")
BUNDLES = sorted(FHIR.glob("*.json"))
_RANK = {"critical": 0, "warning": 1, "info": 2}


def _app(tmp: Path, url: str = "http://testserver") -> TestClient:
    from mcrc.api import Settings, create_app

    issuer = ensure_demo_issuer(tmp)
    cfg = load_config(env={"MCRC_CDS_ISSUERS": str(issuer.issuers_file)})
    app = create_app(Settings(database_url=f"sqlite:///{tmp / 'store.db'}", cds=cfg.cds_settings(), public_url=url))
    return TestClient(app, raise_server_exceptions=False)


def test_demo_issuer_is_private_kept_and_trusted_only_for_its_own_key(tmp_path):
    first = ensure_demo_issuer(tmp_path / "data")
    assert first.created and stat.S_IMODE(first.key_file.stat().st_mode) == 0o600
    key = first.key_file.read_bytes()
    doc = json.loads(first.issuers_file.read_text())
    (issuer,) = doc["issuers"]
    assert issuer["iss"] == DEMO_ISSUER
    (jwk,) = issuer["jwks"]["keys"]
    assert "d" not in jwk and jwk["kty"] == "EC"  # only the public half is written for the server
    again = ensure_demo_issuer(tmp_path / "data")
    assert not again.created and again.key_file.read_bytes() == key  # kept: a running server keeps trusting it
    # the server's own configuration reader accepts the issuer file
    settings = load_config(env={"MCRC_CDS_ISSUERS": str(first.issuers_file)}).cds_settings()
    assert DEMO_ISSUER in settings.issuers


@pytest.mark.parametrize("bundle", BUNDLES, ids=[b.stem for b in BUNDLES])
def test_demo_patient_view_answers_every_sample_record_with_cards_ordered_by_indicator(tmp_path, bundle):
    with _app(tmp_path) as client:
        cards = demo_call("http://testserver", "patient-view", bundle, tmp_path, client=client)
    assert cards, bundle.name
    ranks = [_RANK[c["indicator"]] for c in cards]
    assert ranks == sorted(ranks), [c["indicator"] for c in cards]
    summaries = [c["summary"] for c in cards]
    assert len(set(summaries)) == len(summaries)  # one card per finding


def test_demo_order_select_for_a_ras_mutant_tumour_gives_the_one_relevant_card(tmp_path):
    """Cetuximab for a KRAS-mutant tumour: the anti-EGFR rule forbids it; the rechallenge rules (which would only
    matter for an anti-EGFR the patient may have) add nothing and are not shown."""
    with _app(tmp_path) as client:
        cards = demo_call("http://testserver", "order-select", FHIR / "05-rectal-peritoneal.json", tmp_path,
                          order="cetuximab 400 mg/m2", client=client)
    assert [c["indicator"] for c in cards] == ["critical"], [c["summary"] for c in cards]
    assert "no_anti_egfr_unless_ras_wild_type" in cards[0]["detail"]
    assert "rechallenge" not in json.dumps(cards)


def test_order_select_still_warns_where_a_rule_may_apply(tmp_path):
    """The filter drops only cards on orders already forbidden: cetuximab for a RAS wild-type tumour whose
    anti-EGFR history is unknown still gets the rechallenge check."""
    bundle = json.loads((FHIR / "02-left-colon-ras-wt-liver.json").read_text())
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "List"]  # history unknown
    unknown = tmp_path / "02-history-unknown.json"
    unknown.write_text(json.dumps(bundle))
    with _app(tmp_path) as client:
        cards = demo_call("http://testserver", "order-select", unknown, tmp_path, order="cetuximab", client=client)
    assert all(c["indicator"] != "critical" for c in cards)
    assert any("rechallenge" in c["summary"].lower() or "rechallenge" in c["detail"].lower() for c in cards)


def test_an_issuer_the_server_does_not_trust_is_refused_with_a_clear_message(tmp_path):
    with _app(tmp_path / "server") as client:
        ensure_demo_issuer(tmp_path / "other")  # another key pair, same issuer name: its signature fails
        with pytest.raises(DemoError, match="401; the server does not trust the demo issuer"):
            demo_call("http://testserver", "patient-view", BUNDLES[0], tmp_path / "other", client=client)


@pytest.mark.parametrize(("content", "message"), [
    ("{", "not JSON"),
    ('{"resourceType": "Patient", "id": "x"}', "not a FHIR Bundle"),
    ('{"resourceType": "Bundle", "type": "collection", "entry": []}', "exactly one Patient"),
])
def test_bad_bundle_files_are_refused_before_any_call(tmp_path, content, message):
    ensure_demo_issuer(tmp_path)
    f = tmp_path / "b.json"
    f.write_text(content)
    with pytest.raises(DemoError, match=message):
        demo_call("http://127.0.0.1:9", "patient-view", f, tmp_path)


def test_bad_hook_and_missing_order_are_refused(tmp_path):
    with pytest.raises(DemoError, match="unknown hook"):
        demo_call("http://127.0.0.1:9", "encounter-start", BUNDLES[0], tmp_path)
    with pytest.raises(DemoError, match="order-select needs --order"):
        demo_call("http://127.0.0.1:9", "order-select", BUNDLES[0], tmp_path)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_make_run_flow_prints_a_command_that_works_against_a_fresh_server(tmp_path):
    """What `make run` does, really started: seed a fresh store, set up the demo issuer, serve with it; then the
    command demo-setup printed, run as printed (with this test's port and data folder), gets cards."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    db = f"sqlite:///{tmp_path / 'store.db'}"
    data = tmp_path / "data"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCRC_")}
    subprocess.run([MCRC, "demo", "seed", str(ROOT / "examples"), "--db", db], env=env, check=True,
                   capture_output=True, cwd=ROOT)
    setup = subprocess.run([MCRC, "cds", "demo-setup", "--data-dir", str(data), "--url", base], env=env,
                           capture_output=True, text=True, cwd=ROOT)
    assert setup.returncode == 0, setup.stderr
    (command,) = [ln.strip() for ln in setup.stdout.splitlines() if "mcrc cds demo-call" in ln]
    proc = subprocess.Popen([MCRC, "serve", "--db", db, "--port", str(port), "--public-url", base],
                            env=env | {"MCRC_CDS_ISSUERS": str(data / "cds-issuers.json")}, cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{base}/api/v1/ready", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        services = httpx.get(f"{base}/cds-services", timeout=10).json()["services"]
        assert {s["hook"] for s in services} == {"patient-view", "order-select"}
        argv = command.split()
        argv[0] = MCRC  # the printed path is relative to the project root
        call = subprocess.run(argv, env=env, capture_output=True, text=True, cwd=ROOT, timeout=120)
        assert call.returncode == 0, call.stderr
        assert "1. " in call.stdout and ("INFO" in call.stdout or "WARNING" in call.stdout), call.stdout
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def test_demo_call_command_reports_an_unreachable_server_without_a_traceback(tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCRC_")}
    subprocess.run([MCRC, "cds", "demo-setup", "--data-dir", str(tmp_path)], env=env, check=True,
                   capture_output=True)
    r = subprocess.run([MCRC, "cds", "demo-call", "patient-view", str(BUNDLES[0]), "--url",
                        f"http://127.0.0.1:{_free_port()}", "--data-dir", str(tmp_path)], env=env,
                       capture_output=True, text=True)
    assert r.returncode == 2 and "cannot reach" in r.stderr and "Traceback" not in r.stderr
