"""POST /api/v1/assess through the thin handler (mcrc.api.fast_assess) answers exactly as the declared FastAPI route.

Two apps on one store: `fast` as `create_app` builds it, `declared` with the route's own FastAPI app put back.
Every example and every error case is sent to both; status, headers and body bytes must be the same. A spy on
the fallback proves which calls the thin handler served itself (otherwise the comparison could not fail).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from sqlalchemy.exc import OperationalError

import mcrc
from mcrc.api import Settings, create_app
from mcrc.api.fast_assess import FastAssess
from mcrc.errors import McrcError
from mcrc.store.api import Store

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.json"))
FIXTURE = Path(__file__).resolve().parent / "fixtures" / "openapi-assess-operation.json"
PATH = "/api/v1/assess"
LIMIT = 20_000  # above every example (the largest is under 10 kB), below the oversize cases
JSON = {"Content-Type": "application/json"}


def _route(app) -> APIRoute:
    return next(r for r in app.router.routes if isinstance(r, APIRoute) and r.path == PATH)


class _Spy:
    """Counts the calls the thin handler hands to the declared route."""

    def __init__(self, app):
        self.app, self.calls = app, 0

    async def __call__(self, scope, receive, send):
        self.calls += 1
        await self.app(scope, receive, send)


@pytest.fixture(scope="module")
def tokens(tmp_path_factory) -> tuple[str, dict[str, str]]:
    url = f"sqlite:///{tmp_path_factory.mktemp('fast') / 'api.db'}"
    out: dict[str, str] = {}
    with Store(url) as s:
        s.upgrade()
        s.add_user("adm", "admin")
        for name, role in (("cli", "clinician"), ("aud", "auditor"), ("gone", "clinician")):
            s.add_user(name, role, actor="adm")
            out[name] = s.create_token(name, label="tests").token
        s.deactivate_user("gone", actor="adm")
        out["revoked"] = (t := s.create_token("cli", label="revoked")).token
        s.revoke_token(t.record.id, actor="cli")
    return url, out


def _pair(url: str, open_assess: bool):
    fast = create_app(Settings(database_url=url, open_assess=open_assess, max_body_bytes=LIMIT))
    declared = create_app(Settings(database_url=url, open_assess=open_assess, max_body_bytes=LIMIT))
    handler = _route(fast).app
    assert isinstance(handler, FastAssess)
    spy = handler.fallback = _Spy(handler.fallback)
    _route(declared).app = _route(declared).app.fallback  # the FastAPI route as it was
    return fast, declared, spy


@pytest.fixture(scope="module")
def apps(tokens):
    fast, declared, spy = _pair(tokens[0], open_assess=False)
    with TestClient(fast, raise_server_exceptions=False) as f, TestClient(declared, raise_server_exceptions=False) as d:
        yield f, d, spy


@pytest.fixture(scope="module")
def open_apps(tokens):
    fast, declared, spy = _pair(tokens[0], open_assess=True)
    with TestClient(fast, raise_server_exceptions=False) as f, TestClient(declared, raise_server_exceptions=False) as d:
        yield f, d, spy


def _same(pair, method: str = "POST", url: str = PATH, *, fast_path: bool | None = True, **kw):
    """Send one request to both apps; assert the same status, headers and bytes; the fast app's response.
    `fast_path`: whether the thin handler must answer it itself (True), hand it to the route (False), or either."""
    f, d, spy = pair
    before = spy.calls
    content = kw.pop("content", None)  # a function making a fresh stream for each app, or bytes
    a = f.request(method, url, content=content() if callable(content) else content, **kw)
    if fast_path is not None:
        assert (spy.calls == before) is fast_path, f"fast path {'not ' if fast_path else ''}taken for {url}"
    b = d.request(method, url, content=content() if callable(content) else content, **kw)
    assert a.status_code == b.status_code, (a.text[:300], b.text[:300])
    assert a.headers.multi_items() == b.headers.multi_items()
    assert a.content == b.content
    return a


def _auth(tokens, name: str = "cli") -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens[1][name]}"}


def _example(name: str = "01-sync-low-rectal-resectable") -> dict:
    return json.loads((ROOT / "examples" / f"{name}.json").read_text(encoding="utf-8"))


# ---- every example -------------------------------------------------------------------------------------------
def test_every_example_gives_the_same_answer_bytes(apps, tokens):
    assert len(EXAMPLES) > 50
    for path in EXAMPLES:
        r = _same(apps, content=path.read_bytes(), headers=_auth(tokens) | JSON)
        assert r.status_code == 200, (path.name, r.text[:300])
        assert r.headers["content-type"] == "application/json" and "trace" not in r.json()
        assert r.json()["provenance"]["input_hash"]


def test_every_example_without_a_token_when_open(open_apps):
    for path in EXAMPLES:
        assert _same(open_apps, content=path.read_bytes(), headers=JSON).status_code == 200, path.name


def test_query_parameters_go_to_the_declared_route(apps, tokens):
    body = json.dumps(_example()).encode()
    for query, status in (("trace=true", 200), ("evidence=false", 200), ("trace=true&evidence=true", 200),
                          ("trace=maybe", 422), ("evidence=perhaps", 422), ("unknown=1", 200),
                          ("trace=true&trace=false", 200)):
        r = _same(apps, url=f"{PATH}?{query}", fast_path=False, content=body, headers=_auth(tokens) | JSON)
        assert r.status_code == status, (query, r.text[:300])
    assert "trace" in _same(apps, url=f"{PATH}?trace=true", fast_path=False, content=body,
                            headers=_auth(tokens) | JSON).json()


# ---- errors --------------------------------------------------------------------------------------------------
def _patched(doc: dict, **changes) -> bytes:
    return json.dumps(doc | changes).encode()


def _bodies() -> dict[str, tuple[bytes, int]]:
    """Bad (and borderline) bodies: name -> (bytes, the status both must give)."""
    p = _example()
    text = json.dumps(p)
    no_organ = json.loads(text)
    del no_organ["metastases"][0]["organ"]
    v1 = json.loads(text) | {"schema_version": "1"}
    return {
        "malformed": (b'{"ecog": ', 400),
        "empty": (b"", 400),
        "a list": (b"[]", 422),
        "a string": (b'"patient"', 422),
        "null": (b"null", 422),
        "wrong type (text for a number)": (_patched(p, ecog="two"), 422),
        "wrong type (number as text)": (_patched(p, age="58"), 422),
        "wrong type (boolean for text)": (_patched(p, sex=True), 422),
        "out of range": (_patched(p, ecog=9), 422),
        "missing required field": (json.dumps(no_organ).encode(), 422),
        "unknown field": (_patched(p, favourite_colour="blue"), 422),
        "unknown nested field": (_patched(p, primary=p["primary"] | {"grade": 3}), 422),
        "not allowed value": (_patched(p, sex="x"), 422),
        "future date": (_patched(p, primary=p["primary"] | {"diagnosed": "2999-01-01"}), 422),
        "said to be schema 1": (json.dumps(v1).encode(), 200),
        "NaN": (text.replace('"age": 58', '"age": NaN').encode(), 400),
        "Infinity": (text.replace('"age": 58', '"age": Infinity').encode(), 400),
        "huge number": (text.replace('"age": 58', '"age": 1e999').encode(), 400),
        "17-digit integer": (text.replace('"age": 58', '"age": 12345678901234567').encode(), 400),
        "duplicate key": (text.replace('"age": 58', '"age": 58, "age": 59').encode(), 400),
        "NUL escaped in text": (_patched(p, id="a\u0000b"), 400),
        "DEL in text": (_patched(p, id="a\x7fb"), 400),
        "lone surrogate": (text.replace('"id": "01', '"id": "\\ud800 01').encode(), 400),
        "too deep": (b"[" * 100 + b"]" * 100, 400),
        "invalid UTF-8": (text.encode()[:20] + b"\xff\xfe" + text.encode()[20:], 400),
        "UTF-16": (text.encode("utf-16"), 400),
        "byte-order mark then a patient": (b"\xef\xbb\xbf" + text.encode(), 200),
        "trailing garbage": (text.encode() + b" x", 400),
        "two documents": (text.encode() + text.encode(), 400),
    }


@pytest.mark.parametrize("name", list(_bodies()))
def test_bad_bodies_give_the_same_problem(apps, tokens, name):
    body, status = _bodies()[name]
    r = _same(apps, content=body, headers=_auth(tokens) | JSON)
    assert r.status_code == status, (name, r.text[:300])
    if status != 200:
        assert r.headers["content-type"] == "application/problem+json" and r.json()["status"] == status


@pytest.mark.parametrize("content_type", [None, "text/plain", "application/x-www-form-urlencoded",
                                          "application/json; charset=utf-8", "application/xml"])
def test_any_content_type_is_read_as_before(apps, tokens, content_type):
    headers = _auth(tokens) | ({"Content-Type": content_type} if content_type else {})
    assert _same(apps, content=json.dumps(_example()).encode(), headers=headers).status_code == 200


# case -> (headers, status); the cases in NO_CREDENTIALS are, for the bearer scheme, no token given at all
NO_CREDENTIALS = {"no header", "empty header", "other scheme", "scheme only", "blank token"}
AUTH_CASES = {
    "no header": ([], 401),
    "empty header": ([("Authorization", "")], 401),
    "other scheme": ([("Authorization", "Basic Y2xpOnB3")], 401),
    "scheme only": ([("Authorization", "Bearer")], 401),
    "blank token": ([("Authorization", "Bearer    ")], 401),
    "unknown token": ([("Authorization", "Bearer not-a-token")], 401),
    "revoked token": ([("Authorization", "Bearer {revoked}")], 401),
    "deactivated user": ([("Authorization", "Bearer {gone}")], 401),
    "lower-case scheme": ([("Authorization", "bearer {cli}")], 200),
    "token with spaces around": ([("Authorization", "Bearer   {cli}  ")], 200),
    "auditor": ([("Authorization", "Bearer {aud}")], 200),
    "two headers, valid first": ([("Authorization", "Bearer {cli}"), ("Authorization", "Bearer x")], 200),
    "two headers, invalid first": ([("Authorization", "Bearer x"), ("Authorization", "Bearer {cli}")], 401),
}


@pytest.mark.parametrize("case", list(AUTH_CASES))
def test_tokens_are_checked_the_same_way(apps, open_apps, tokens, case):
    given, status = AUTH_CASES[case]
    headers = [(k, v.format(**tokens[1])) for k, v in given] + [("Content-Type", "application/json")]
    body = json.dumps(_example()).encode()
    r = _same(apps, content=body, headers=headers)
    assert r.status_code == status, (case, r.text[:300])
    if status == 401:
        assert r.headers["www-authenticate"] == "Bearer"
    # open assess: no token is fine, a token given must still be valid
    r = _same(open_apps, content=body, headers=headers)
    assert r.status_code == (200 if case in NO_CREDENTIALS else status), case


def test_the_order_of_checks_is_kept(apps, tokens):
    """The route reads the body before the caller, and the caller before the patient's validation."""
    assert _same(apps, content=b'{"ecog": ', headers=JSON).status_code == 400  # malformed, no token: 400
    assert _same(apps, content=b"[1, 2", headers={"Authorization": "Bearer x"}).status_code == 400
    r = _same(apps, content=_patched(_example(), ecog=9), headers=JSON)  # a patient refused, no token: 401
    assert r.status_code == 401


def test_other_methods_are_405_with_the_same_allow(apps, tokens):
    for method in ("GET", "PUT", "DELETE", "PATCH"):
        r = _same(apps, method, fast_path=None, headers=_auth(tokens))
        assert r.status_code == 405 and r.headers["allow"] == "POST"


def test_oversize_bodies_are_413(apps, tokens):
    big = _patched(_example(), id="x" * LIMIT)
    r = _same(apps, content=big, headers=_auth(tokens) | JSON, fast_path=None)  # refused before any route
    assert r.status_code == 413

    def chunks(total: int):
        yield b'{"schema_version": "2", "id": "'
        yield from [b"y" * 1000] * (total // 1000)
        yield b'"}'

    r = _same(apps, content=lambda: chunks(LIMIT + 2000), headers=_auth(tokens) | JSON)  # streamed, no length
    assert r.status_code == 413
    good = json.dumps(_example()).encode()
    r = _same(apps, content=lambda: iter([good[:100], good[100:2000], good[2000:]]), headers=_auth(tokens) | JSON)
    assert r.status_code == 200  # a streamed body under the limit is read whole


def test_failures_give_the_same_problem(apps, tokens, monkeypatch):
    body = json.dumps(_example()).encode()
    for fast_app in (apps[0].app, apps[1].app):  # both apps read tokens from their own store object
        monkeypatch.setattr(fast_app.state.store, "resolve_token",
                            lambda *a, **k: (_ for _ in ()).throw(OperationalError("select", {}, Exception("down"))))
    r = _same(apps, content=body, headers=_auth(tokens) | JSON)
    assert r.status_code == 503 and r.json()["detail"] == "the case store cannot answer now"
    monkeypatch.undo()

    def refuse(*a, **k):
        raise McrcError("no answer")

    monkeypatch.setattr(mcrc, "assess", refuse)
    assert _same(apps, content=body, headers=_auth(tokens) | JSON).status_code == 500

    def crash(*a, **k):
        raise RuntimeError("an internal detail")

    monkeypatch.setattr(mcrc, "assess", crash)
    r = _same(apps, content=body, headers=_auth(tokens) | JSON)
    assert r.status_code == 500 and "internal detail" not in r.text


# ---- OpenAPI -------------------------------------------------------------------------------------------------
def test_openapi_is_the_declared_routes(apps):
    """The document is generated from the declared route, as before the thin handler: the whole document equals
    the declared app's, and the operation equals the one saved from the app before this change."""
    fast, declared, _ = apps
    spec = fast.get("/openapi.json").json()
    assert spec == declared.get("/openapi.json").json()
    assert spec["paths"][PATH] == json.loads(FIXTURE.read_text(encoding="utf-8"))
