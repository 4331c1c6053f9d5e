"""`mcrc serve --workers 2`, really started: what the workers must share, they share.

A CDS Hooks JWT replayed on fresh connections (which the kernel hands to either worker) is accepted once; a
web session signed by one worker is honoured by the other; the stateless API answers from both.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from tests.stores import store_with_clinician

ROOT = Path(__file__).resolve().parent.parent
ISS = "https://ehr.workers.test"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _workers(pid: int) -> list[int]:
    """The worker processes (multiprocessing's resource tracker is a child too, but no worker)."""
    out = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True).stdout.split()
    return [int(p) for p in out if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("workers")
    url = f"sqlite:///{tmp / 'store.db'}"
    token = store_with_clinician(url)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key())) | {"kid": "w-1"}
    (tmp / "issuers.json").write_text(json.dumps({"issuers": [{"iss": ISS, "jwks": {"keys": [jwk]}}]}))
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    env = {k: v for k, v in os.environ.items() if not k.startswith("MCRC_")}
    env |= {"MCRC_CDS_ISSUERS": str(tmp / "issuers.json"), "MCRC_PUBLIC_URL": base}
    proc = subprocess.Popen([str(Path(sys.executable).parent / "mcrc"), "serve", "--db", url, "--port", str(port),
                             "--workers", "2"], env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert proc.poll() is None, proc.stderr.read()
            assert time.monotonic() < deadline, "the server did not start"
            try:
                if httpx.get(f"{base}/api/v1/ready", timeout=1).status_code == 200 and len(_workers(proc.pid)) >= 2:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.3)
        # both workers answering: each has run its start-up (knowledge base, warm-up) once it accepts
        _until_both_answer(proc.pid, base)
        yield {"base": base, "token": token, "key": key, "pid": proc.pid}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()


def _cpu(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def _until_both_answer(pid: int, base: str) -> None:
    """Send work on fresh connections until each worker has spent CPU on it (so both are serving)."""
    workers = _workers(pid)
    before = {w: _cpu(w) for w in workers}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with ThreadPoolExecutor(8) as ex:
            list(ex.map(lambda _: httpx.get(f"{base}/api/v1/kb", timeout=30).status_code, range(16)))
        if all(_cpu(w) > before[w] for w in workers):
            return
    pytest.fail("one of the two workers never answered")


def test_the_parent_runs_two_workers(server):
    assert len(_workers(server["pid"])) == 2


def test_a_cds_jwt_replayed_to_either_worker_is_accepted_once(server):
    bundle = json.loads((ROOT / "examples" / "fhir" / "02-left-colon-ras-wt-liver.json").read_text())
    service = f"{server['base']}/cds-services/mcrc-patient-view"
    now = int(time.time())
    tok = jwt.encode({"iss": ISS, "sub": "ehr", "aud": service, "iat": now, "exp": now + 120,
                      "jti": str(uuid.uuid4())}, server["key"], algorithm="RS256", headers={"kid": "w-1"})
    body = {"hook": "patient-view", "hookInstance": str(uuid.uuid4()),
            "context": {"userId": "Practitioner/1", "patientId": "fhir-02"}, "prefetch": {"bundle": bundle}}

    def call(_: int) -> int:
        with httpx.Client(timeout=30) as c:  # a fresh connection each time
            return c.post(service, json=body, headers={"Authorization": f"Bearer {tok}"}).status_code

    workers = _workers(server["pid"])
    before = {w: _cpu(w) for w in workers}
    with ThreadPoolExecutor(8) as ex:
        codes = list(ex.map(call, range(40)))
    assert sorted(codes) == [200] + [401] * 39
    assert all(_cpu(w) > before[w] for w in workers)  # both workers saw the token


def test_a_web_session_from_one_worker_is_honoured_by_the_other(server):
    base = server["base"]
    with httpx.Client(base_url=base, timeout=30) as c:
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', c.get("/login").text).group(1)
        r = c.post("/login", data={"token": server["token"], "csrf_token": csrf, "next": "/"})
        assert r.status_code == 303, r.text
        cookies = dict(c.cookies)

    def page(_: int) -> int:
        with httpx.Client(base_url=base, cookies=cookies, timeout=30) as fresh:
            return fresh.get("/").status_code  # 303 to /login if this worker could not verify the cookie

    with ThreadPoolExecutor(8) as ex:
        assert set(ex.map(page, range(30))) == {200}
