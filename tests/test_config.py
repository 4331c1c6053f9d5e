"""Server configuration: TOML file, MCRC_* environment, flags; validation errors name the key, never the secret."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm
from typer.testing import CliRunner

from mcrc.cli import app as mcrc_app
from mcrc.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[1]
SECRET = "s3cret-" + "k" * 40
DB_PASSWORD = "hunter2-db-password"


def _write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def jwks() -> dict:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
    return {"keys": [{**jwk, "kid": "k1"}]}


def test_defaults_without_file_or_env():
    cfg = load_config(None, {})
    s = cfg.settings()
    assert (cfg.host, cfg.port) == ("127.0.0.1", 8000)
    assert s.database_url is None and s.secret_key is None and s.cds is None and not s.open_assess
    assert s.max_body_bytes == 1_000_000 and s.token_cache_seconds == 5.0


def test_file_then_env_then_flags(tmp_path):
    f = _write(tmp_path / "mcrc.toml", f'''
database_url = "sqlite:///{tmp_path}/file.db"
secret_key = "{SECRET}"
public_url = "https://mcrc.example.org/"
open_assess = true
max_body_bytes = 2048
token_cache_seconds = 0
host = "0.0.0.0"
port = 9000
''')
    cfg = load_config(f, {})
    s = cfg.settings()
    assert s.database_url == f"sqlite:///{tmp_path}/file.db" and s.secret_key == SECRET
    assert s.public_url == "https://mcrc.example.org" and s.open_assess and s.max_body_bytes == 2048
    assert s.token_cache_seconds == 0
    assert (cfg.host, cfg.port) == ("0.0.0.0", 9000)

    env = {"MCRC_PORT": "9100", "MCRC_OPEN_ASSESS": "0", "MCRC_DATABASE_URL": "sqlite:///env.db",
           "MCRC_TOKEN_CACHE_SECONDS": "2.5"}
    cfg = load_config(f, env)
    assert cfg.settings().token_cache_seconds == 2.5
    assert cfg.port == 9100 and not cfg.open_assess and cfg.settings().database_url == "sqlite:///env.db"
    assert cfg.host == "0.0.0.0"  # not overridden

    cfg = load_config(f, env, {"port": 9200, "host": None, "open_assess": True})
    assert (cfg.host, cfg.port, cfg.open_assess) == ("0.0.0.0", 9200, True)

    cfg = load_config(None, {"MCRC_CONFIG": str(f)})  # the file may be named by MCRC_CONFIG
    assert cfg.port == 9000


def test_unknown_keys_are_refused_by_name(tmp_path):
    f = _write(tmp_path / "mcrc.toml", 'prot = 8000\ndatabase_url = "sqlite:///x.db"\nbase_dir = "/"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(f, {})
    where = [p.where for p in exc.value.problems]
    assert where == [f"{f}: prot", f"{f}: base_dir"]
    assert all(p.message == "unknown key" and "port" in p.allowed for p in exc.value.problems)


@pytest.mark.parametrize(("text", "env", "where", "says"), [
    ("port = 70000", {}, "{f}: port", "less than or equal to 65535"),
    ("port = 80", {"MCRC_PORT": "eighty"}, "MCRC_PORT", "integer"),
    ("max_body_bytes = 10", {}, "{f}: max_body_bytes", "greater than or equal to 1024"),
    ("token_cache_seconds = -1", {}, "{f}: token_cache_seconds", "greater than or equal to 0"),
    ("", {"MCRC_TOKEN_CACHE_SECONDS": "soon"}, "MCRC_TOKEN_CACHE_SECONDS", "number"),
    ('public_url = "ftp://x"', {}, "{f}: public_url", "http(s) URL"),
    ('database_url = "not a url"', {}, "{f}: database_url", "not a database URL"),
    ("open_assess = 3", {}, "{f}: open_assess", "boolean"),
    ('host = ""', {}, "{f}: host", "at least 1 character"),
])
def test_bad_values_name_the_key_and_origin(tmp_path, text, env, where, says):
    f = _write(tmp_path / "mcrc.toml", text + "\n")
    with pytest.raises(ConfigError) as exc:
        load_config(f, env)
    (p,) = exc.value.problems
    assert p.where == where.format(f=f) and says in p.message, p


def test_secrets_never_in_errors_or_repr(tmp_path):
    short = "tooshort-secret"
    with pytest.raises(ConfigError) as exc:
        load_config(None, {"MCRC_SECRET_KEY": short})
    assert "MCRC_SECRET_KEY" in str(exc.value) and short not in str(exc.value)

    url = f"postgresql+psycopg://mcrc:{DB_PASSWORD}@127.0.0.1:5432/mcrc"
    cfg = load_config(None, {"MCRC_SECRET_KEY": SECRET, "MCRC_DATABASE_URL": url})
    for text in (repr(cfg), str(cfg), repr(cfg.settings()), str(cfg.settings()), cfg.model_dump_json()):
        assert SECRET not in text and DB_PASSWORD not in text, text
    assert "127.0.0.1" in repr(cfg) and "127.0.0.1" in repr(cfg.settings())
    assert cfg.settings().secret_key == SECRET and DB_PASSWORD in cfg.settings().database_url


def test_not_toml_and_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(_write(tmp_path / "bad.toml", "port = = 1"), {})
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "absent.toml", {})


def test_cds_issuers_file_relative_to_the_config(tmp_path, jwks):
    (tmp_path / "conf").mkdir()
    _write(tmp_path / "conf" / "ehr-jwks.json", json.dumps(jwks))
    _write(tmp_path / "conf" / "issuers.json", json.dumps(
        {"issuers": [{"iss": "https://ehr.example.org", "jwks_file": "ehr-jwks.json", "tenants": ["t1"]}]}))
    f = _write(tmp_path / "conf" / "mcrc.toml", 'cds_issuers = "issuers.json"\npublic_url = "https://mcrc.test"\n')
    cds = load_config(f, {}).settings().cds
    assert set(cds.issuers) == {"https://ehr.example.org"}
    assert cds.issuers["https://ehr.example.org"].tenants == {"t1"}
    # the same file through MCRC_CDS_ISSUERS, as before the configuration file existed
    cds = load_config(None, {"MCRC_CDS_ISSUERS": str(tmp_path / "conf" / "issuers.json"),
                             "MCRC_PUBLIC_URL": "https://mcrc.test"}).settings().cds
    assert set(cds.issuers) == {"https://ehr.example.org"}


def test_cds_issuers_inline_and_their_errors(tmp_path, jwks):
    _write(tmp_path / "jwks.json", json.dumps(jwks))
    f = _write(tmp_path / "mcrc.toml", 'public_url = "https://mcrc.test"\n[[cds_issuers]]\n'
                                       'iss = "https://ehr.example.org"\njwks_file = "jwks.json"\njku_allowlist = []\n')
    assert set(load_config(f, {}).settings().cds.issuers) == {"https://ehr.example.org"}

    f = _write(tmp_path / "typo.toml", '[[cds_issuers]]\niss = "https://a"\njwks_fil = "x.json"\n')
    with pytest.raises(ConfigError) as exc:
        load_config(f, {})
    assert any(p.where == f"{f}: cds_issuers[0].jwks_fil" and p.message == "unknown key"
               for p in exc.value.problems), exc.value.problems

    f = _write(tmp_path / "nokey.toml", 'public_url = "https://mcrc.test"\n[[cds_issuers]]\niss = "https://a"\n')
    with pytest.raises(ConfigError, match="exactly one of jwks and jwks_file"):
        load_config(f, {}).settings()
    _write(tmp_path / "private.json", json.dumps({"keys": [{**jwks["keys"][0], "d": "private"}]}))
    f = _write(tmp_path / "private.toml",
               'public_url = "https://mcrc.test"\n[[cds_issuers]]\niss = "https://a"\njwks_file = "private.json"\n')
    with pytest.raises(ConfigError, match="private key material"):
        load_config(f, {}).settings()
    with pytest.raises(ConfigError, match="cannot read the CDS issuer file"):
        load_config(None, {"MCRC_CDS_ISSUERS": str(tmp_path / "absent.json"),
                           "MCRC_PUBLIC_URL": "https://mcrc.test"}).settings()


def test_cds_hooks_refuse_to_start_without_public_url(tmp_path, jwks, monkeypatch):
    """Issue 15: with issuers but no public_url the JWT audience would come from the Host header; refused at
    start-up with a message naming the setting, from the API and from `mcrc serve`."""
    _write(tmp_path / "jwks.json", json.dumps(jwks))
    _write(tmp_path / "issuers.json", json.dumps({"issuers": [{"iss": "https://ehr", "jwks_file": "jwks.json"}]}))
    env = {"MCRC_CDS_ISSUERS": str(tmp_path / "issuers.json")}
    with pytest.raises(ConfigError) as exc:
        load_config(None, env).settings()
    (problem,) = exc.value.problems
    assert problem.where.startswith("public_url (MCRC_PUBLIC_URL") and "Host header" in problem.message
    assert load_config(None, env | {"MCRC_PUBLIC_URL": "http://127.0.0.1:8000"}).settings().cds is not None
    monkeypatch.delenv("MCRC_CONFIG", raising=False)
    monkeypatch.delenv("MCRC_PUBLIC_URL", raising=False)
    monkeypatch.setenv("MCRC_CDS_ISSUERS", env["MCRC_CDS_ISSUERS"])
    r = CliRunner().invoke(mcrc_app, ["serve", "--db", f"sqlite:///{tmp_path / 'x.db'}"])
    assert r.exit_code == 2 and "public_url" in r.output and "Traceback" not in r.output


def test_serve_refuses_a_bad_configuration_without_traceback(tmp_path, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    monkeypatch.delenv("MCRC_CONFIG", raising=False)
    f = _write(tmp_path / "mcrc.toml", f'secret_key = "{SECRET}"\nport = 0\n')
    r = CliRunner().invoke(mcrc_app, ["serve", "--config", str(f)])
    assert r.exit_code == 2 and "port" in r.output and "Traceback" not in r.output
    assert SECRET not in r.output and SECRET not in caplog.text
    monkeypatch.setenv("MCRC_SECRET_KEY", "tiny-secret-value")
    r = CliRunner().invoke(mcrc_app, ["serve", "--db", "sqlite:///x.db"])
    assert r.exit_code == 2 and "MCRC_SECRET_KEY" in r.output and "tiny-secret-value" not in r.output


def test_example_configuration_file_is_valid():
    cfg = load_config(ROOT / "examples" / "mcrc.toml", {})
    assert cfg.settings().max_body_bytes == cfg.max_body_bytes
