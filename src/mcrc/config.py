"""Server configuration: an optional TOML file, then MCRC_* environment variables, then command-line flags.

`load_config(path, env, overrides)` validates everything with pydantic and answers a `ServeConfig`
(`.settings()` is the `Settings` that `mcrc.api.create_app` takes; `.host` and `.port` are for uvicorn). A wrong file or
variable is a `ConfigError` that names the key and where it came from (`mcrc.toml: port`,
`MCRC_PORT`), and never echoes a value: the database URL may carry a password and the secret key is
secret, so neither appears in messages, in `repr()` or in logs.

The file has flat keys (every key is optional; unknown keys are refused):

    database_url = "sqlite:///mcrc.db"
    secret_key = "..."                      # >= 32 characters; unset: a random key per process
    public_url = "https://mcrc.example.org"  # required with cds_issuers: the CDS Hooks JWT audience
    open_assess = false
    max_body_bytes = 1000000
    token_cache_seconds = 5                 # how long a resolved API token and the review marks are trusted (0: never)
    workers = 1                             # server processes (mcrc serve); set to the number of cores
    replay_cache = "replays.db"             # SQLite file of seen CDS JWT ids; unset: in memory (1 worker) or
                                            # a private temporary file shared by the workers
    cds_issuers = "cds-issuers.json"        # the MCRC_CDS_ISSUERS JSON file, relative to this file
    host = "127.0.0.1"
    port = 8000

`cds_issuers` may instead be an inline array of tables with the keys of that JSON file's issuers
(`iss`, `jwks` or `jwks_file`, `jku_allowlist`, `tenants`).
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from mcrc.errors import InputError, Problem

ENV = {
    "database_url": "MCRC_DATABASE_URL",
    "secret_key": "MCRC_SECRET_KEY",
    "public_url": "MCRC_PUBLIC_URL",
    "open_assess": "MCRC_OPEN_ASSESS",
    "max_body_bytes": "MCRC_MAX_BODY_BYTES",
    "token_cache_seconds": "MCRC_TOKEN_CACHE_SECONDS",
    "workers": "MCRC_WORKERS",
    "replay_cache": "MCRC_REPLAY_CACHE",
    "cds_issuers": "MCRC_CDS_ISSUERS",
    "host": "MCRC_HOST",
    "port": "MCRC_PORT",
}
CONFIG_ENV = "MCRC_CONFIG"
MIN_SECRET_CHARS = 32


class ConfigError(InputError):
    headline = "invalid configuration"


PUBLIC_URL_SETTING = "public_url (MCRC_PUBLIC_URL, mcrc serve --public-url)"
PUBLIC_URL_NEEDED = (
    "required when CDS Hooks issuers are configured (cds_issuers / MCRC_CDS_ISSUERS): it is the audience every "
    "CDS Hooks JWT must name. Without it the audience would be read from the request's Host header, so a token "
    "an EHR issued for another service could be replayed here. Set it to the URL the EHR calls, e.g. "
    "https://mcrc.example.org (make run sets http://HOST:PORT)"
)


@dataclass(frozen=True)
class Settings:
    """What `mcrc.api.create_app` takes (ServeConfig.settings() builds it from the file, environment and flags)."""

    database_url: str | None = None  # None: MCRC_DATABASE_URL or sqlite:///mcrc.db (as the Store decides)
    open_assess: bool = False
    cds: Any = None  # mcrc.http.cds_trust.CdsAuthSettings: mounts the CDS Hooks services when set
    public_url: str | None = None  # the URL EHRs call: the CDS Hooks JWT audience (required with `cds`), card links
    secret_key: str | None = None  # signs web session cookies and CSRF tokens; None: a random key per process
    max_body_bytes: int = 1_000_000  # larger request bodies are refused with 413
    token_cache_seconds: float = 5.0  # a resolved API token is trusted this long (0: read the store every time)
    replay_cache: str | None = None  # SQLite file of seen CDS JWT ids, shared by workers; None: in memory

    def __repr__(self) -> str:
        """Secrets masked: a database password and the secret key never reach a log or a traceback."""
        url = None
        if self.database_url is not None:
            try:
                url = make_url(self.database_url).render_as_string(hide_password=True)
            except Exception:  # an unparsable URL is shown not at all rather than maybe with its password
                url = "***"
        return (f"Settings(database_url={url!r}, open_assess={self.open_assess}, cds={'on' if self.cds else 'off'}, "
                f"public_url={self.public_url!r}, secret_key={'***' if self.secret_key else None}, "
                f"max_body_bytes={self.max_body_bytes}, token_cache_seconds={self.token_cache_seconds}, "
                f"replay_cache={self.replay_cache!r})")


class IssuerEntry(BaseModel):
    """One trusted CDS Client, as in the MCRC_CDS_ISSUERS JSON file."""

    model_config = ConfigDict(extra="forbid")

    iss: str = Field(min_length=1)
    jwks: dict[str, Any] | None = None
    jwks_file: str | None = None
    jku_allowlist: list[str] = Field(default_factory=list)
    tenants: list[str] | None = None


class ServeConfig(BaseModel):
    """Validated server settings. Secrets are `SecretStr` or masked in `repr`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    database_url: SecretStr | None = None
    secret_key: SecretStr | None = None
    public_url: str | None = None
    open_assess: bool = False
    max_body_bytes: Annotated[int, Field(ge=1024, le=1_000_000_000)] = 1_000_000
    token_cache_seconds: Annotated[float, Field(ge=0, le=300)] = 5.0
    workers: Annotated[int, Field(ge=1, le=64)] = 1
    replay_cache: str | None = Field(None, min_length=1)
    cds_issuers: str | list[IssuerEntry] | None = None
    host: str = Field("127.0.0.1", min_length=1)
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    base_dir: Path = Field(Path("."), exclude=True)  # where relative file names in the config are resolved

    @field_validator("database_url")
    @classmethod
    def _url(cls, v: SecretStr | None) -> SecretStr | None:
        if v is None:
            return None
        try:
            make_url(v.get_secret_value())
        except ArgumentError:
            raise ValueError("not a database URL (e.g. sqlite:///mcrc.db or postgresql+psycopg://u@host/db)") \
                from None
        return v

    @field_validator("secret_key")
    @classmethod
    def _secret(cls, v: SecretStr | None) -> SecretStr | None:
        if v is not None and len(v.get_secret_value()) < MIN_SECRET_CHARS:
            raise ValueError(f"must be at least {MIN_SECRET_CHARS} characters (e.g. python -c "
                             "'import secrets; print(secrets.token_urlsafe(32))')")
        return v

    @field_validator("public_url")
    @classmethod
    def _public(cls, v: str | None) -> str | None:
        if v is None:
            return None
        if not v.startswith(("http://", "https://")) or any(c in v for c in " ?#"):
            raise ValueError("must be an http(s) URL without query or fragment, e.g. https://mcrc.example.org")
        return v.rstrip("/")

    def safe_database_url(self) -> str | None:
        """The database URL with any password hidden (for messages)."""
        if self.database_url is None:
            return None
        return make_url(self.database_url.get_secret_value()).render_as_string(hide_password=True)

    def __repr_args__(self):
        for key, value in super().__repr_args__():
            yield key, (self.safe_database_url() if key == "database_url" else value)

    def cds_settings(self):
        """The CDS Hooks issuers (None: CDS Hooks not mounted). Keys are read from local files only."""
        from mcrc.http.cds_trust import CdsAuthSettings, IssuerConfig

        if self.cds_issuers is None:
            return None
        if isinstance(self.cds_issuers, str):
            path = self.base_dir / self.cds_issuers
            entries, where = _issuer_file(path), str(path)
            base = path.parent
        else:
            entries, where, base = self.cds_issuers, "cds_issuers", self.base_dir
        issuers = {}
        for i, e in enumerate(entries):
            if (e.jwks is None) == (e.jwks_file is None):
                raise ConfigError([Problem(f"{where}: issuers[{i}]", "give exactly one of jwks and jwks_file")])
            try:
                jwks = e.jwks if e.jwks is not None else _strict_json((base / e.jwks_file).read_bytes())
                issuers[e.iss] = IssuerConfig(e.iss, jwks, set(e.jku_allowlist),
                                              set(e.tenants) if e.tenants else None)
            except (OSError, ValueError) as exc:
                raise ConfigError([Problem(f"{where}: issuers[{i}]", f"cannot use this issuer: {exc}")]) from None
        if not issuers:
            raise ConfigError([Problem(where, "no issuers configured")])
        return CdsAuthSettings(issuers=issuers)

    def settings(self) -> Settings:
        """The `Settings` for `create_app`. CDS Hooks without `public_url` is refused: the JWT
        audience would then come from the request's Host header, which the caller chooses (decision 0025)."""
        if self.cds_issuers is not None and self.public_url is None:
            raise ConfigError([Problem(PUBLIC_URL_SETTING, PUBLIC_URL_NEEDED)])
        return Settings(database_url=self.database_url.get_secret_value() if self.database_url else None,
                        open_assess=self.open_assess, cds=self.cds_settings(), public_url=self.public_url,
                        secret_key=self.secret_key.get_secret_value() if self.secret_key else None,
                        max_body_bytes=self.max_body_bytes, token_cache_seconds=self.token_cache_seconds,
                        replay_cache=str(self.base_dir / self.replay_cache) if self.replay_cache else None)


def _strict_json(data: bytes) -> Any:
    """The strict reader of every entry point; its refusal as a ValueError naming the first problem."""
    from mcrc import strictjson
    from mcrc.errors import InputError

    try:
        return strictjson.loads(data)
    except InputError as exc:
        raise ValueError("; ".join(str(p) for p in exc.problems)) from None


def _issuer_file(path: Path) -> list[IssuerEntry]:
    try:
        doc = _strict_json(path.read_bytes())
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read the CDS issuer file: {exc.strerror}")]) from None
    except ValueError as exc:
        raise ConfigError([Problem(str(path), f"not valid JSON: {exc}")]) from None
    if not isinstance(doc, dict) or not isinstance(doc.get("issuers"), list):
        raise ConfigError([Problem(str(path), 'expected {"issuers": [...]}')])
    try:
        return [IssuerEntry.model_validate(item) for item in doc["issuers"]]
    except ValidationError as exc:
        raise ConfigError(_problems(exc, lambda k: f"{path}: issuers.{k}")) from None


def _where(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _problems(exc: ValidationError, origin) -> list[Problem]:
    """One Problem per error, naming the key and its origin; the offending value is never repeated."""
    out = []
    for e in exc.errors(include_input=False, include_url=False):
        loc = tuple(e.get("loc", ()))
        # a union (str | list) reports each branch: keep only the key
        loc = tuple(p for p in loc if not (isinstance(p, str) and ("[" in p or p in ("str", "list"))))
        msg = "unknown key" if e.get("type") == "extra_forbidden" else str(e.get("msg", "invalid"))
        out.append(Problem(origin(_where(loc)), msg))
    return out


def read_file(path: Path) -> dict[str, Any]:
    """The keys of a TOML config file, or ConfigError (unreadable, not TOML)."""
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except OSError as exc:
        raise ConfigError([Problem(str(path), f"cannot read the configuration file: {exc.strerror}")]) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([Problem(str(path), f"not valid TOML: {exc}")]) from None


def load_config(path: Path | str | None = None, env: Mapping[str, str] | None = None,
                overrides: Mapping[str, Any] | None = None) -> ServeConfig:
    """Defaults < file (`path`, else $MCRC_CONFIG) < environment < `overrides` (command-line flags; None
    values are ignored). Raises ConfigError listing every bad key with its origin."""
    env = {} if env is None else env
    path = path or env.get(CONFIG_ENV) or None
    values: dict[str, Any] = {}
    origin: dict[str, str] = {}
    base = Path(".")
    if path is not None:
        path = Path(path)
        base = path.parent
        data = read_file(path)
        unknown = [k for k in data if k not in ENV]
        if unknown:
            raise ConfigError([Problem(f"{path}: {k}", "unknown key", ", ".join(ENV)) for k in unknown])
        for key, value in data.items():
            values[key], origin[key] = value, f"{path}: {key}"
    for key, var in ENV.items():
        if env.get(var) not in (None, ""):
            values[key], origin[key] = env[var], var
    for key, value in (overrides or {}).items():
        if value is not None:
            values[key], origin[key] = value, f"--{key.replace('_', '-')}"
    try:
        return ServeConfig.model_validate({**values, "base_dir": base})
    except ValidationError as exc:
        def named(where: str) -> str:
            head, _, rest = where.partition(".")
            head, bracket, tail = head.partition("[")
            src = origin.get(head, f"{path}: {head}" if path else head)
            return src + (f"[{tail}" if bracket else "") + (f".{rest}" if rest else "")
        raise ConfigError(_problems(exc, named)) from None
