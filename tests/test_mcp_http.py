"""`mcrc mcp --http`: the MCP server over streamable HTTP at /mcp behind the REST API's API tokens and request size
limit, run as a subprocess on a loopback port and driven by the SDK's own streamable HTTP client."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import anyio
import httpx
import httpx2
import pytest
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

import mcrc
from mcrc.knowledge import load_knowledge
from mcrc.mcp import MAX_INPUT_BYTES
from mcrc.store.api import Store
from tests.stores import store_with_clinician

ROOT = Path(__file__).parent.parent
EXAMPLE = ROOT / "examples" / "01-sync-low-rectal-resectable.json"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    """A migrated store with a clinician's token and a revoked one; `mcrc mcp --http` serving it."""
    url = f"sqlite:///{tmp_path_factory.mktemp('mcp-http') / 'store.db'}"
    token = store_with_clinician(url)
    with Store(url) as s:
        revoked = s.create_token("cli", label="revoked")
        s.revoke_token(revoked.record.id, actor="cli")
    port = _free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT / "src"), os.environ.get("PYTHONPATH", "")])}
    proc = subprocess.Popen([sys.executable, "-m", "mcrc.cli", "mcp", "--http", "--port", str(port), "--db", url],
                            cwd=ROOT, env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    _, err = proc.communicate(timeout=10)
                    pytest.fail(f"mcrc mcp --http did not start: {err}")
                time.sleep(0.2)
        yield {"url": f"{base}/mcp", "token": token, "revoked": revoked.token, "proc": proc}
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover
            proc.kill()
            proc.wait(timeout=10)


INIT = {"jsonrpc": "2.0", "id": 1, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}
HEADERS = {"content-type": "application/json", "accept": "application/json, text/event-stream"}


@pytest.mark.parametrize(("auth", "detail"), [
    (None, "an API token is required (Authorization: Bearer TOKEN)"),
    ("Bearer", "an API token is required (Authorization: Bearer TOKEN)"),
    ("Basic dXNlcjpwYXNz", "an API token is required (Authorization: Bearer TOKEN)"),
    ("Bearer mcrc_not_a_token", "the API token is not valid"),
    ("revoked", "the API token is not valid"),
])
def test_http_needs_a_valid_api_token(server, auth, detail):
    headers = dict(HEADERS)
    if auth == "revoked":
        headers["authorization"] = f"Bearer {server['revoked']}"
    elif auth is not None:
        headers["authorization"] = auth
    r = httpx.post(server["url"], json=INIT, headers=headers, timeout=30)
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json" and r.headers["www-authenticate"] == "Bearer"
    assert r.json()["detail"] == detail
    assert r.headers["x-content-type-options"] == "nosniff"  # the API's security headers


def test_http_body_over_the_api_limit_is_413(server):
    body = json.dumps({**INIT, "pad": "x" * MAX_INPUT_BYTES})
    r = httpx.post(server["url"], content=body, headers={**HEADERS, "authorization": f"Bearer {server['token']}"},
                   timeout=30)
    assert r.status_code == 413 and r.json()["detail"] == f"the request body may be at most {MAX_INPUT_BYTES} bytes"


def test_http_sdk_client_with_token_gets_the_engine_answer(server):
    patient = json.loads(EXAMPLE.read_text(encoding="utf-8"))

    async def main():
        async with httpx2.AsyncClient(headers={"Authorization": f"Bearer {server['token']}"}) as http, \
                Client(streamable_http_client(server["url"], http_client=http)) as c:
            tools = await c.list_tools()
            good = await c.call_tool("assess", {"patient": patient})
            bad = await c.call_tool("assess", {"patient": "a 64-year-old with liver metastases"})
            return tools, good, bad

    tools, good, bad = anyio.run(main)
    assert {t.name for t in tools.tools} == {"assess", "explain_row", "search_knowledge", "vocabulary",
                                             "patient_schema"}
    kb = load_knowledge()
    a = mcrc.assess(mcrc.parse_patient(patient), kb=kb, trace=False)
    assert not good.is_error
    assert good.structured_content["assessment"] == a.model_dump(mode="json", exclude={"trace"})
    assert kb.version in good.content[0].text.splitlines()[0]
    assert bad.is_error and "not free text" in bad.content[0].text


def test_http_options_need_http():
    r = subprocess.run([sys.executable, "-m", "mcrc.cli", "mcp", "--port", "9"], capture_output=True, text=True,
                       cwd=ROOT, timeout=60, stdin=subprocess.DEVNULL)
    assert r.returncode == 2 and "go with --http" in r.stderr and r.stdout == ""


def test_token_store_unreadable_is_503_not_a_traceback():
    from sqlalchemy.exc import OperationalError

    from mcrc.mcp import http_app

    def broken(_token: str):
        raise OperationalError("SELECT", {}, Exception("database is locked"))

    async def main():
        transport = httpx.ASGITransport(app=http_app(load_knowledge(), broken))
        async with httpx.AsyncClient(transport=transport, base_url="http://127.0.0.1") as c:
            return await c.post("/mcp", json=INIT, headers={**HEADERS, "authorization": "Bearer mcrc_x"})

    r = anyio.run(main)
    assert r.status_code == 503 and r.json()["detail"] == "cannot read API tokens"
    assert "locked" not in r.text and "Traceback" not in r.text
