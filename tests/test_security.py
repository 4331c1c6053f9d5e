"""Security basics of the whole app: body size limit, security headers, no stack traces, no secret in any log."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import mcrc
from mcrc.api import Settings, create_app
from mcrc.api.security import CSP, SecurityMiddleware
from mcrc.config import load_config
from mcrc.store.api import Store
from tests.stores import store_with_clinician

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "01-sync-low-rectal-resectable.json"
PROBLEM = "application/problem+json"
LIMIT = 4096
SECRET_KEY = "web-secret-" + "q" * 40


@pytest.fixture
def env(tmp_path):
    url = f"sqlite:///{tmp_path / 'sec.db'}"
    return url, store_with_clinician(url)


@pytest.fixture
def client(env):
    url, _ = env
    app = create_app(Settings(database_url=url, max_body_bytes=LIMIT, secret_key=SECRET_KEY))
    with TestClient(app, raise_server_exceptions=False) as c:
        yield c


def _auth(env) -> dict[str, str]:
    return {"Authorization": f"Bearer {env[1]}"}


def _patient() -> dict:
    return json.loads(EXAMPLE.read_text(encoding="utf-8"))


def _has_security_headers(r, cache: bool = False) -> None:
    assert r.headers["content-security-policy"] == CSP
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["x-frame-options"] == "DENY"
    if not cache:
        assert r.headers["cache-control"] == "no-store"


def _case_count(env) -> int:
    with Store(env[0]) as s:
        return len(s.list_cases("cli"))


# ---- body size ------------------------------------------------------------------------------------
def test_declared_body_over_the_limit_is_413_and_never_reaches_the_route(client, env):
    big = _patient() | {"padding_note": "x" * LIMIT}
    r = client.post("/api/v1/cases", content=json.dumps(big).encode(), headers={**_auth(env),
                                                                               "Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"].startswith(PROBLEM)
    assert r.json()["status"] == 413 and str(LIMIT) in r.json()["detail"]
    _has_security_headers(r)
    assert _case_count(env) == 0
    ok = client.post("/api/v1/cases", json=_patient(), headers=_auth(env))  # under the limit: accepted
    assert ok.status_code == 201, ok.text


def test_streamed_body_without_content_length_is_counted(client, env):
    chunks = [b'{"age": 60, "padding": "', *([b"y" * 1000] * 6), b'"}']

    def stream():
        yield from chunks

    r = client.post("/api/v1/cases", content=stream(), headers={**_auth(env), "Content-Type": "application/json"})
    assert r.status_code == 413 and r.headers["content-type"].startswith(PROBLEM), r.text
    assert _case_count(env) == 0
    r = client.post("/api/v1/assess", content=stream(), headers={**_auth(env), "Content-Type": "application/json"})
    assert r.status_code == 413
    small = [json.dumps(_patient()).encode()]
    r = client.post("/api/v1/assess", content=iter(small), headers={**_auth(env), "Content-Type": "application/json"})
    assert r.status_code == 200, r.text


async def _asgi(app, headers: list[tuple[bytes, bytes]], body: bytes = b"") -> tuple[int, dict, bytes]:
    sent: list[dict] = []
    messages = [{"type": "http.request", "body": body, "more_body": False}]

    async def receive():
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(m):
        sent.append(m)

    await app({"type": "http", "method": "POST", "path": "/api/v1/assess", "headers": headers}, receive, send)
    start = sent[0]
    return start["status"], dict(start["headers"]), b"".join(m.get("body", b"") for m in sent[1:])


def test_malformed_content_length_is_400():
    import asyncio

    reached = []

    async def inner(scope, receive, send):  # pragma: no cover - must not be reached
        reached.append(scope)

    mw = SecurityMiddleware(inner, max_body_bytes=100)
    for bad in (b"abc", b"-5", b"1e3"):
        status, headers, body = asyncio.run(_asgi(mw, [(b"content-length", bad)]))
        assert status == 400 and headers[b"content-type"] == PROBLEM.encode()
        assert json.loads(body)["status"] == 400
    assert reached == []


# ---- headers --------------------------------------------------------------------------------------
def test_security_headers_everywhere(client, env):
    for r in (client.get("/api/v1/health"), client.get("/api/v1/cases"),  # 200 and 401
              client.get("/api/v1/cases/1", headers=_auth(env)),          # 404 problem
              client.get("/openapi.json"), client.get("/no/such/page")):
        _has_security_headers(r)
    for path in ("/", "/login", "/cases/new"):  # the web pages, when installed, carry the same headers
        r = client.get(path)
        if r.status_code != 404:
            _has_security_headers(r)


def test_swagger_ui_from_a_cdn_is_not_served(client):
    assert client.get("/docs").status_code == 404 and client.get("/redoc").status_code == 404
    spec = client.get("/openapi.json")
    assert spec.status_code == 200 and spec.json()["paths"]


# ---- no stack traces ------------------------------------------------------------------------------
def test_injected_failure_is_a_bare_500(client, env, monkeypatch, caplog):
    def boom(*a, **k):
        raise RuntimeError("internal detail that must stay on the server")

    monkeypatch.setattr(mcrc, "assess", boom)
    caplog.set_level(logging.ERROR, logger="mcrc.api")
    r = client.post("/api/v1/assess", json=_patient(), headers=_auth(env))
    assert r.status_code == 500 and r.headers["content-type"].startswith(PROBLEM)
    assert set(r.json()) == {"type", "title", "status", "detail"}
    assert "Traceback" not in r.text and "internal detail" not in r.text and "RuntimeError" not in r.text
    _has_security_headers(r)
    assert "internal detail" in caplog.text  # the operator still learns what happened


# ---- secrets never logged -------------------------------------------------------------------------
def test_tokens_and_secrets_never_logged(env, tmp_path, caplog, monkeypatch):
    url, token = env
    caplog.set_level(logging.DEBUG)  # every logger, every level
    db_password = "pw-never-logged-123"
    cfg = load_config(None, {"MCRC_SECRET_KEY": SECRET_KEY, "MCRC_PUBLIC_URL": "http://testserver",
                             "MCRC_DATABASE_URL": f"postgresql+psycopg://u:{db_password}@127.0.0.1:1/x"})
    logging.getLogger("mcrc").info("configuration: %r / %s", cfg, cfg.settings())

    app = create_app(Settings(database_url=url, secret_key=SECRET_KEY, public_url="http://testserver"))
    with TestClient(app, raise_server_exceptions=False) as c:
        assert app.state.authenticate(token).name == "cli"
        assert app.state.authenticate(token + "tampered") is None
        bad = "mcrc_" + "B" * 43
        assert c.get("/api/v1/cases", headers={"Authorization": f"Bearer {bad}"}).status_code == 401
        assert c.get("/api/v1/cases", headers={"Authorization": f"Bearer {token}"}).status_code == 200
        assert c.post("/api/v1/assess", json=_patient(), headers={"Authorization": f"Bearer {bad}"}).status_code \
            == 401
        login = c.get("/login")
        if login.status_code == 200:  # the web page's sign-in form posts the token (with its CSRF field)
            import re

            csrf = re.search(r'name="csrf[^"]*" value="([^"]+)"', login.text)
            form = {"token": bad} | ({"csrf_token": csrf.group(1)} if csrf else {})
            c.post("/login", data=form)
            c.post("/login", data=form | {"token": token})
    text = caplog.text
    for secret in (token, bad, SECRET_KEY, db_password):
        assert secret not in text
