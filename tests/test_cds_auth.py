"""CDS Hooks 2.0 JWT verification with test keys generated at test time (nothing read from disk or network)."""

import base64
import hashlib
import hmac
import json
import logging
import socket
import subprocess
import sys
import time
import urllib.request
import uuid
from typing import Annotated, Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from fastapi import Depends, FastAPI
from fastapi.testclient import TestClient
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from mcrc.api.cds_auth import (
    CdsAuthError,
    CdsAuthSettings,
    IssuerConfig,
    ReplayCache,
    SqliteReplayCache,
    cds_auth_dependency,
    verify_cds_jwt,
)

ISS = "https://ehr.example.org"
OTHER_ISS = "https://other-ehr.example.org"
URL = "http://testserver/cds-services/mcrc-patient-view"
JKU = "https://ehr.example.org/.well-known/jwks.json"
NOW = 1_750_000_000.0


@pytest.fixture(scope="module")
def keys() -> dict[str, Any]:
    return {
        "rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
        "ec384": ec.generate_private_key(ec.SECP384R1()),
        "other_rsa": rsa.generate_private_key(public_exponent=65537, key_size=2048),
    }


def _jwk(public_key: Any, kid: str, alg_cls: Any) -> dict[str, Any]:
    d = json.loads(alg_cls.to_jwk(public_key))
    d["kid"] = kid
    return d


@pytest.fixture(scope="module")
def settings(keys) -> CdsAuthSettings:
    jwks = {
        "keys": [
            _jwk(keys["rsa"].public_key(), "rsa-1", RSAAlgorithm),
            _jwk(keys["ec384"].public_key(), "ec-1", ECAlgorithm),
        ]
    }
    other = {"keys": [_jwk(keys["other_rsa"].public_key(), "o-1", RSAAlgorithm)]}
    return CdsAuthSettings(
        issuers={
            ISS: IssuerConfig(iss=ISS, jwks=jwks, jku_allowlist={JKU}, tenants={"tenant-a"}),
            OTHER_ISS: IssuerConfig(iss=OTHER_ISS, jwks=other),
        }
    )


@pytest.fixture(params=["memory", "sqlite"])
def cache(request, tmp_path) -> ReplayCache | SqliteReplayCache:
    """Every verification test runs with both replay caches: one process's, and the file the workers share."""
    if request.param == "memory":
        return ReplayCache()
    c = SqliteReplayCache(str(tmp_path / "replays.sqlite"), prune_every=1)
    request.addfinalizer(c.close)
    return c


@pytest.fixture(autouse=True)
def no_network(monkeypatch):
    """Any attempt to fetch (a jku, a JWK Set) fails the test."""

    def boom(*a, **k):
        raise AssertionError("network access attempted")

    monkeypatch.setattr(urllib.request, "urlopen", boom)
    monkeypatch.setattr(socket, "create_connection", boom)


def _claims(**over: Any) -> dict[str, Any]:
    c = {
        "iss": ISS,
        "sub": "ehr-client-id",
        "aud": URL,
        "iat": int(NOW),
        "exp": int(NOW) + 120,
        "jti": str(uuid.uuid4()),
    }
    c.update(over)
    return {k: v for k, v in c.items() if v is not None}


def _token(keys, alg: str = "RS256", kid: str = "rsa-1", key: str = "rsa", headers=None, **claims: Any) -> str:
    h = {"kid": kid, "typ": "JWT", **(headers or {})}
    return jwt.encode(_claims(**claims), keys[key], algorithm=alg, headers=h)


def _reason(token: str, settings, cache, url: str = URL, now: float = NOW) -> str:
    with pytest.raises(CdsAuthError) as ei:
        verify_cds_jwt(token, url, settings, cache, now=now)
    if token:
        assert token not in str(ei.value) and token not in repr(ei.value.args)
    return ei.value.reason


def _b64(d: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()


# --- valid tokens -------------------------------------------------------------------------------------


def test_valid_rs256(keys, settings, cache):
    t = _token(keys, tenant="tenant-a")
    claims = verify_cds_jwt(t, URL, settings, cache, now=NOW)
    assert claims["iss"] == ISS and claims["sub"] == "ehr-client-id" and claims["tenant"] == "tenant-a"


def test_valid_es384(keys, settings, cache):
    t = _token(keys, alg="ES384", kid="ec-1", key="ec384")
    assert verify_cds_jwt(t, URL, settings, cache, now=NOW)["aud"] == URL


def test_valid_ps256_and_allowlisted_jku_is_not_fetched(keys, settings, cache):
    t = _token(keys, alg="PS256", headers={"jku": JKU})
    assert verify_cds_jwt(t, URL, settings, cache, now=NOW)["iss"] == ISS


def test_second_issuer_with_its_own_keys(keys, settings, cache):
    t = _token(keys, kid="o-1", key="other_rsa", iss=OTHER_ISS, tenant="anything")  # no tenant allowlist
    assert verify_cds_jwt(t, URL, settings, cache, now=NOW)["iss"] == OTHER_ISS


# --- time ---------------------------------------------------------------------------------------------


def test_expired(keys, settings, cache):
    t = _token(keys, iat=int(NOW) - 200, exp=int(NOW) - 60)
    assert _reason(t, settings, cache) == "expired"


def test_within_leeway_still_accepted(keys, settings, cache):
    t = _token(keys, iat=int(NOW) - 100, exp=int(NOW) - 10)  # leeway 30 s
    verify_cds_jwt(t, URL, settings, cache, now=NOW)


def test_iat_in_future(keys, settings, cache):
    t = _token(keys, iat=int(NOW) + 120, exp=int(NOW) + 240)
    assert _reason(t, settings, cache) == "iat in the future"


def test_lifetime_too_long(keys, settings, cache):
    t = _token(keys, iat=int(NOW), exp=int(NOW) + 3600)
    assert _reason(t, settings, cache) == "lifetime too long"


@pytest.mark.parametrize("missing", ["iss", "sub", "aud", "exp", "iat", "jti"])
def test_required_claims(keys, settings, cache, missing):
    t = _token(keys, **{missing: None})
    assert _reason(t, settings, cache) in {f"missing {missing}", "unknown issuer"}


# --- audience, issuer, tenant -------------------------------------------------------------------------


def test_wrong_audience(keys, settings, cache):
    t = _token(keys, aud="http://testserver/cds-services/other-service")
    assert _reason(t, settings, cache) == "wrong audience"
    t2 = _token(keys)
    assert _reason(t2, settings, cache, url=URL + "/") == "wrong audience"  # exact match only


def test_unknown_issuer(keys, settings, cache):
    t = _token(keys, iss="https://evil.example.org")
    assert _reason(t, settings, cache) == "unknown issuer"


def test_issuer_cannot_use_another_issuers_key(keys, settings, cache):
    t = _token(keys, kid="rsa-1", key="rsa", iss=OTHER_ISS)
    assert _reason(t, settings, cache) == "unknown kid"


def test_tenant_not_allowed(keys, settings, cache):
    t = _token(keys, tenant="tenant-b")
    assert _reason(t, settings, cache) == "tenant not allowed"


# --- algorithm and key attacks ------------------------------------------------------------------------


def test_alg_none_unsigned(settings, cache):
    t = _b64({"alg": "none", "typ": "JWT", "kid": "rsa-1"}) + "." + _b64(_claims()) + "."
    assert _reason(t, settings, cache) == "alg not allowed"


def test_hs256_key_confusion_with_public_key(keys, settings, cache):
    pem = (
        keys["rsa"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    # PyJWT itself refuses to HMAC-sign with a PEM public key, so forge the HS256 signature by hand.
    signing_input = _b64({"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}) + "." + _b64(_claims())
    sig = hmac.new(pem, signing_input.encode(), hashlib.sha256).digest()
    t = signing_input + "." + base64.urlsafe_b64encode(sig).rstrip(b"=").decode()
    assert _reason(t, settings, cache) == "alg not allowed"


def test_alg_not_fitting_key(keys, settings, cache):
    t = _token(keys, alg="ES384", kid="rsa-1", key="ec384")  # EC signature against an RSA kid
    assert _reason(t, settings, cache) == "alg does not fit key"


def test_unknown_kid(keys, settings, cache):
    t = _token(keys, kid="rsa-999")
    assert _reason(t, settings, cache) == "unknown kid"


def test_missing_kid(keys, settings, cache):
    t = jwt.encode(_claims(), keys["rsa"], algorithm="RS256")
    assert _reason(t, settings, cache) == "missing kid"


def test_jku_not_allowlisted_never_fetched(keys, settings, cache):
    t = _token(keys, headers={"jku": "https://attacker.example.com/jwks.json"})
    assert _reason(t, settings, cache) == "jku not allowed"  # no_network fixture fails on any fetch


def test_signed_by_unconfigured_key(keys, settings, cache):
    t = _token(keys, kid="rsa-1", key="other_rsa")
    assert _reason(t, settings, cache) == "bad signature"


def test_tampered_payload(keys, settings, cache):
    t = _token(keys)
    h, _, s = t.split(".")
    forged = h + "." + _b64(_claims(sub="someone-else")) + "." + s
    assert _reason(forged, settings, cache) == "bad signature"


@pytest.mark.parametrize("bad", ["", "abc", "a.b", "a.b.c", "x" * 20000])
def test_malformed(settings, cache, bad):
    assert _reason(bad, settings, cache) == "malformed token"


# --- replay -------------------------------------------------------------------------------------------


def test_replayed_jti(keys, settings, cache):
    t = _token(keys)
    verify_cds_jwt(t, URL, settings, cache, now=NOW)
    assert _reason(t, settings, cache, now=NOW + 1) == "replayed jti"
    # a fresh token reusing the jti is also a replay
    jti = jwt.decode(t, options={"verify_signature": False})["jti"]
    assert _reason(_token(keys, jti=jti), settings, cache, now=NOW + 2) == "replayed jti"


def test_replay_cache_prunes_after_expiry(cache):
    assert cache.check_and_add(ISS, "j1", expiry=NOW + 10, now=NOW)
    assert not cache.check_and_add(ISS, "j1", expiry=NOW + 10, now=NOW + 5)
    assert cache.check_and_add(ISS, "j2", expiry=NOW + 100, now=NOW + 11)  # prunes j1
    assert len(cache) == 1
    assert cache.check_and_add(ISS, "j1", expiry=NOW + 30, now=NOW + 12)  # an expired pair no longer blocks
    assert cache.check_and_add(OTHER_ISS, "j2", expiry=NOW + 30, now=NOW + 12)  # jti is per issuer


def test_replay_cache_full_fails_closed(tmp_path):
    for c in (ReplayCache(max_entries=1), SqliteReplayCache(str(tmp_path / "r.sqlite"), max_entries=1,
                                                             prune_every=1)):
        assert c.check_and_add(ISS, "a", expiry=NOW + 10, now=NOW)
        assert not c.check_and_add(ISS, "b", expiry=NOW + 10, now=NOW)
        assert c.check_and_add(ISS, "b", expiry=NOW + 30, now=NOW + 11)  # "a" expired: room again


def test_sqlite_replay_cache_is_shared_by_instances_on_one_file(tmp_path):
    path = str(tmp_path / "shared.sqlite")
    one, two = SqliteReplayCache(path), SqliteReplayCache(path)
    assert one.check_and_add(ISS, "j", expiry=NOW + 60, now=NOW)
    assert not two.check_and_add(ISS, "j", expiry=NOW + 60, now=NOW + 1)  # another worker: still a replay
    assert two.check_and_add(ISS, "k", expiry=NOW + 60, now=NOW + 1)
    assert not one.check_and_add(ISS, "k", expiry=NOW + 60, now=NOW + 2)
    one.close()
    two.close()


def test_sqlite_replay_cache_waits_briefly_for_a_locked_file_then_fails_closed(tmp_path, caplog):
    import sqlite3

    path = str(tmp_path / "locked.sqlite")
    cache = SqliteReplayCache(path, busy_seconds=0.3)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN EXCLUSIVE")  # another worker in the middle of a write, for too long
    started = time.monotonic()
    with caplog.at_level(logging.ERROR, logger="mcrc.api.cds_auth"):
        assert not cache.check_and_add(ISS, "j", expiry=NOW + 60, now=NOW)  # refused, not raised
    assert 0.3 <= time.monotonic() - started < 2 and "unusable" in caplog.text
    other.execute("COMMIT")
    assert cache.check_and_add(ISS, "j", expiry=NOW + 60, now=NOW)  # the same token, once the file is free
    other.close()
    cache.close()


_RACE = r"""
import sys, time
from mcrc.api.cds_auth import SqliteReplayCache
c = SqliteReplayCache(sys.argv[1], prune_every=50)
start = float(sys.argv[2])
while time.time() < start:
    time.sleep(0.001)
won = [j for j in range(400) if c.check_and_add("iss", f"jti-{j}", expiry=time.time() + 60, now=time.time())]
print(" ".join(map(str, won)))
"""


def test_sqlite_replay_cache_accepts_each_token_once_across_processes(tmp_path):
    """Two processes race over the same 400 token ids on one file: every id is accepted exactly once."""
    path, start = str(tmp_path / "race.sqlite"), time.time() + 1.5
    procs = [subprocess.Popen([sys.executable, "-c", _RACE, path, str(start)], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    won = [[int(x) for x in p.communicate(timeout=60)[0].split()] for p in procs]
    assert all(p.returncode == 0 for p in procs)
    assert sorted(won[0] + won[1]) == list(range(400))  # none twice, none lost


# --- configuration ------------------------------------------------------------------------------------


def test_config_refuses_private_and_symmetric_keys(keys):
    priv = json.loads(RSAAlgorithm.to_jwk(keys["rsa"]))
    priv["kid"] = "p"
    with pytest.raises(ValueError, match="private"):
        IssuerConfig(iss=ISS, jwks={"keys": [priv]})
    with pytest.raises(ValueError, match="only RSA and EC"):
        IssuerConfig(iss=ISS, jwks={"keys": [{"kty": "oct", "kid": "h", "k": "c2VjcmV0"}]})
    with pytest.raises(ValueError, match="differs"):
        jwks = {"keys": [_jwk(keys["rsa"].public_key(), "k", RSAAlgorithm)]}
        CdsAuthSettings(issuers={"x": IssuerConfig(iss=ISS, jwks=jwks)})


def test_config_refuses_a_malformed_public_key(keys):
    """A configured key that is not a usable public key stops the configuration (named by kid), before any
    request: each request then only looks its key up."""
    good = _jwk(keys["rsa"].public_key(), "k", RSAAlgorithm)
    for broken in ({**good, "n": 12345}, {k: v for k, v in good.items() if k != "e"},
                   {"kty": "EC", "kid": "k", "crv": "P-256", "x": "AAAA", "y": "AAAA"}):
        with pytest.raises(ValueError, match=r"kid 'k': not a valid (RSA|EC) public key"):
            IssuerConfig(iss=ISS, jwks={"keys": [broken]})
    assert IssuerConfig(iss=ISS, jwks={"keys": [good]}).key_for("k", "RS256") is not None


# --- through FastAPI ----------------------------------------------------------------------------------


def _app(settings, cache) -> TestClient:
    app = FastAPI()
    auth = cds_auth_dependency(settings, cache, base_url="http://testserver", clock=lambda: NOW)

    @app.post("/cds-services/mcrc-patient-view")
    def service(claims: Annotated[dict, Depends(auth)]) -> dict:
        return {"sub": claims["sub"]}

    return TestClient(app)


def test_fastapi_valid_missing_bad_and_no_token_in_logs(keys, settings, cache, caplog):
    caplog.set_level(logging.DEBUG)
    client = _app(settings, cache)
    good = _token(keys)
    r = client.post("/cds-services/mcrc-patient-view?x=1", json={}, headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 200 and r.json() == {"sub": "ehr-client-id"}

    r = client.post("/cds-services/mcrc-patient-view", json={})
    assert r.status_code == 401 and r.json() == {"detail": "Unauthorized"}
    assert r.headers["www-authenticate"] == "Bearer"

    bad = _token(keys, aud="http://elsewhere/cds-services/mcrc-patient-view")
    r = client.post("/cds-services/mcrc-patient-view", json={}, headers={"Authorization": f"Bearer {bad}"})
    assert r.status_code == 401 and r.json() == {"detail": "Unauthorized"}
    assert bad not in r.text

    r = client.post("/cds-services/mcrc-patient-view", json={}, headers={"Authorization": f"Bearer {good}"})
    assert r.status_code == 401 and r.json() == {"detail": "Unauthorized"}  # replay

    text = caplog.text + "".join(str(rec.__dict__) for rec in caplog.records)
    assert "wrong audience" in text and "replayed jti" in text and "missing bearer token" in text
    for tok in (good, bad):
        assert tok not in text
        assert tok.split(".")[2] not in text  # not even the signature part


def test_fastapi_base_url_fixes_the_audience(keys, settings, cache):
    """A forged Host header cannot move the audience to another server's URL: it comes from base_url only."""
    app = FastAPI()
    auth = cds_auth_dependency(settings, cache, base_url="https://mcrc.example.org/", clock=lambda: NOW)

    @app.post("/cds-services/mcrc-patient-view")
    def service(claims: Annotated[dict, Depends(auth)]) -> dict:
        return {"sub": claims["sub"]}

    client = TestClient(app)
    ok = _token(keys, aud="https://mcrc.example.org/cds-services/mcrc-patient-view")
    r = client.post("/cds-services/mcrc-patient-view", json={}, headers={"Authorization": f"Bearer {ok}"})
    assert r.status_code == 200
    elsewhere = _token(keys)  # aud http://testserver/..., which is what the request URL says
    r = client.post("/cds-services/mcrc-patient-view", json={}, headers={"Authorization": f"Bearer {elsewhere}"})
    assert r.status_code == 401


def test_the_audience_base_is_required(settings, cache):
    """Issue 15: without the server's public URL the audience would follow the Host header; refused."""
    for missing in (None, "", "mcrc.example.org"):
        with pytest.raises((ValueError, TypeError), match=r"public URL|base_url"):
            cds_auth_dependency(settings, cache, base_url=missing)
    with pytest.raises(TypeError):
        cds_auth_dependency(settings, cache)  # type: ignore[call-arg]


def test_a_token_for_another_service_is_refused_whatever_the_host_header(keys, settings, cache):
    """The review's reproduction: a JWT the trusted EHR issued for another service, sent with that service's
    Host header. The audience is mcrc's configured URL, so the Host header changes nothing."""
    app = FastAPI()
    auth = cds_auth_dependency(settings, cache, base_url="https://mcrc.example.org", clock=lambda: NOW)

    @app.post("/cds-services/mcrc-patient-view")
    def service(claims: Annotated[dict, Depends(auth)]) -> dict:
        return {"sub": claims["sub"]}

    client = TestClient(app)
    other = _token(keys, aud="https://other-service.example.org/cds-services/mcrc-patient-view")
    r = client.post("/cds-services/mcrc-patient-view", json={},
                    headers={"Authorization": f"Bearer {other}", "Host": "other-service.example.org"})
    assert r.status_code == 401
