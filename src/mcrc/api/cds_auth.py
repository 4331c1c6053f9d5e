"""CDS Hooks 2.0 JWT verification (CDS Hooks 2.0.1 "Trusting CDS Clients" and its security best practices).

A CDS Client (the EHR) sends `Authorization: Bearer <JWT>`. `verify_cds_jwt` accepts the token only if:

* it is a compact JWS no larger than `MAX_TOKEN_BYTES`, `typ` (if present) is `JWT`;
* `alg` is asymmetric (`ALLOWED_ALGS`); `none` and every HMAC alg are refused before any key is looked at;
* its `iss` names an issuer configured in `CdsAuthSettings.issuers` (the unverified header and payload are
  read only to pick that issuer and key);
* the header's `kid` selects a key of that issuer's **locally configured** JWK Set whose `kty` (and `crv`)
  fit the `alg`; a `jku` header, if present, must be on the issuer's `jku_allowlist` and is **never
  fetched**: keys only ever come from the configured JWK Set;
* the signature verifies (PyJWT, with exactly that key and alg);
* `iss`, `sub`, `aud`, `exp`, `iat`, `jti` are present; `aud` equals the URL that was called (a string, or a
  list containing it); `exp` is in the future, `iat` not in the future (both with `leeway_s`), `nbf` (if
  present) has passed, `exp - iat <= max_lifetime_s` and `exp <= now + max_lifetime_s + leeway_s`;
* `tenant` (if present) is on the issuer's tenant allowlist when one is configured;
* the (`iss`, `jti`) pair has not been seen before; it is remembered until `exp` (+ leeway).

Every failure raises one `CdsAuthError` whose `reason` is a fixed short string (for tests and logs);
neither the exception nor anything logged ever carries the token. `cds_auth_dependency` turns this into
a FastAPI dependency answering a bare 401. The trusted issuers and their keys are in `mcrc.http.cds_trust`.
"""

from __future__ import annotations

import heapq
import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from typing import Any

import jwt
from fastapi import HTTPException, Request

from mcrc.http.cds_trust import ALLOWED_ALGS, CdsAuthError, CdsAuthSettings, IssuerConfig

__all__ = ["ALLOWED_ALGS", "MAX_TOKEN_BYTES", "REQUIRED_CLAIMS", "CdsAuthError", "CdsAuthSettings", "Claims",
           "IssuerConfig", "ReplayCache", "Replays", "SqliteReplayCache", "cds_auth_dependency", "verify_cds_jwt"]

log = logging.getLogger("mcrc.api.cds_auth")

REQUIRED_CLAIMS = ("iss", "sub", "aud", "exp", "iat", "jti")
MAX_TOKEN_BYTES = 16 * 1024
_MAX_JTI_LEN = 256

Claims = dict[str, Any]


class ReplayCache:
    """Seen (iss, jti) pairs until their expiry; thread-safe, pruned on every insert.

    `max_entries` bounds memory: when full (after pruning) new tokens are refused (fail closed).
    Only tokens whose signature and claims verified are ever added.
    """

    def __init__(self, max_entries: int = 100_000) -> None:
        self._lock = threading.Lock()
        self._seen: dict[tuple[str, str], float] = {}
        self._heap: list[tuple[float, tuple[str, str]]] = []
        self.max_entries = max_entries

    def _prune(self, now: float) -> None:
        while self._heap and self._heap[0][0] <= now:
            expiry, key = heapq.heappop(self._heap)
            if self._seen.get(key) == expiry:
                del self._seen[key]

    def check_and_add(self, iss: str, jti: str, expiry: float, now: float) -> bool:
        """Remember (iss, jti) until `expiry`; False if it is already remembered (a replay) or the cache is full."""
        key = (iss, jti)
        with self._lock:
            self._prune(now)
            if key in self._seen:
                return False
            if len(self._seen) >= self.max_entries:
                return False
            self._seen[key] = expiry
            heapq.heappush(self._heap, (expiry, key))
            return True

    def __len__(self) -> int:
        with self._lock:
            return len(self._seen)


class SqliteReplayCache:
    """The replay cache shared by the processes of one server (`mcrc serve --workers N`): a SQLite file.

    Same contract as `ReplayCache`: `check_and_add` is atomic across processes (one INSERT ... ON CONFLICT in
    its own transaction), so a token sent to two workers at once is accepted by exactly one. Expired entries
    are deleted every `prune_every` insertions (by an index on expiry); when the file holds `max_entries`
    unexpired entries at that moment, new tokens are refused until some expire (fail closed). Writes are not
    synced to disk: like the in-memory cache, the content matters only while the server runs (tokens live
    minutes), and a sync per CDS call would cost milliseconds.

    Workers write to the file at the same moments now and then. SQLite's own busy handler would then sleep
    for a whole millisecond or more (stalling that worker's event loop), so a locked write is retried here
    after 0.1 ms, doubling up to 2 ms, for at most `busy_seconds`; after that the token is refused.
    """

    def __init__(self, path: str, max_entries: int = 100_000, prune_every: int = 2048,
                 busy_seconds: float = 5.0) -> None:
        self.path, self.max_entries, self.prune_every, self.busy_seconds = path, max_entries, prune_every, busy_seconds
        self._lock = threading.Lock()
        self._conn = sqlite3.connect(path, timeout=0, isolation_level=None, check_same_thread=False)
        self._run("PRAGMA journal_mode = WAL")
        self._run("PRAGMA synchronous = OFF")
        self._run("CREATE TABLE IF NOT EXISTS seen (iss TEXT NOT NULL, jti TEXT NOT NULL, expiry REAL NOT NULL, "
                  "PRIMARY KEY (iss, jti)) WITHOUT ROWID")
        self._run("CREATE INDEX IF NOT EXISTS seen_expiry ON seen (expiry)")
        self._since_prune = prune_every  # prune (and count) on the first insertion
        self._full = False

    def _run(self, sql: str, params: tuple = ()) -> Any:
        deadline, pause = time.monotonic() + self.busy_seconds, 0.0001
        while True:
            try:
                return self._conn.execute(sql, params)
            except sqlite3.OperationalError as exc:
                if ("locked" not in str(exc) and "busy" not in str(exc)) or time.monotonic() > deadline:
                    raise
                time.sleep(pause)
                pause = min(pause * 2, 0.002)

    def check_and_add(self, iss: str, jti: str, expiry: float, now: float) -> bool:
        """Remember (iss, jti) until `expiry`; False if another call (in any process) already did, if full, or
        if the file stayed locked for `busy_seconds` (fail closed)."""
        with self._lock:
            try:
                if self._since_prune >= self.prune_every:
                    self._run("DELETE FROM seen WHERE expiry <= ?", (now,))
                    self._full = self._run("SELECT count(*) FROM seen").fetchone()[0] >= self.max_entries
                    self._since_prune = 0
                if self._full:
                    self._since_prune = self.prune_every  # look again next time: entries expire
                    return False
                # A row left by an expired token does not block the pair (as in the in-memory cache, which prunes).
                cur = self._run("INSERT INTO seen (iss, jti, expiry) VALUES (?, ?, ?) ON CONFLICT (iss, jti) "
                                "DO UPDATE SET expiry = excluded.expiry WHERE seen.expiry <= ?",
                                (iss, jti, expiry, now))
            except sqlite3.OperationalError as exc:
                log.error("CDS replay cache %s unusable (%s): token refused", self.path, exc)
                return False
            self._since_prune += 1
            return cur.rowcount == 1

    def __len__(self) -> int:
        with self._lock:
            return self._run("SELECT count(*) FROM seen").fetchone()[0]

    def close(self) -> None:
        with self._lock:
            self._conn.close()


Replays = ReplayCache | SqliteReplayCache  # either keeps a verified token's (iss, jti) until it expires


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


def _short(v: Any) -> str | None:
    """A log-safe rendering of an unverified claim value."""
    if not isinstance(v, str):
        return None
    return v[:80].encode("unicode_escape").decode("ascii")


def verify_cds_jwt(
    token: str, audience_url: str, settings: CdsAuthSettings, cache: Replays, now: float | None = None
) -> Claims:
    """The verified claims of a CDS Hooks JWT sent to `audience_url`, or CdsAuthError (see the module doc)."""
    now = time.time() if now is None else now
    if not isinstance(token, str) or not token or len(token) > MAX_TOKEN_BYTES or token.count(".") != 2:
        raise CdsAuthError("malformed token")
    try:  # one unverified parse gives the header and the payload (only to pick the issuer and its key)
        parts = jwt.decode_complete(token, options={"verify_signature": False})
        header, unverified = parts["header"], parts["payload"]
    except Exception as e:
        raise CdsAuthError("malformed token") from e
    if not isinstance(unverified, dict) or not isinstance(header, dict):
        raise CdsAuthError("malformed token")
    iss, jti = unverified.get("iss"), unverified.get("jti")
    u_iss, u_jti = _short(iss), _short(jti)

    def fail(reason: str) -> CdsAuthError:
        return CdsAuthError(reason, iss=u_iss, jti=u_jti)

    alg = header.get("alg")
    if alg not in ALLOWED_ALGS:
        raise fail("alg not allowed")
    if header.get("typ", "JWT") != "JWT":
        raise fail("typ not allowed")
    if "crit" in header:
        raise fail("crit header not supported")
    if not isinstance(iss, str) or iss not in settings.issuers:
        raise fail("unknown issuer")
    issuer = settings.issuers[iss]
    jku = header.get("jku")
    if jku is not None and jku not in issuer.jku_allowlist:
        raise fail("jku not allowed")  # and never fetched either way
    if "jwk" in header or "x5u" in header or "x5c" in header:
        raise fail("embedded or remote key not allowed")
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise fail("missing kid")
    try:
        key = issuer.key_for(kid, alg)
    except CdsAuthError as e:
        raise fail(e.reason) from None

    try:
        claims = jwt.decode(
            token,
            key=key,
            algorithms=[alg],
            options={
                "verify_signature": True,
                "verify_exp": False,  # time, audience and issuer are checked below against `now`
                "verify_iat": False,
                "verify_nbf": False,
                "verify_aud": False,
                "verify_iss": False,
                "require": [],
            },
        )
    except jwt.InvalidSignatureError:
        raise fail("bad signature") from None
    except Exception:
        raise fail("invalid token") from None

    for name in REQUIRED_CLAIMS:
        if claims.get(name) in (None, ""):
            raise fail(f"missing {name}")
    if claims["iss"] != iss:
        raise fail("unknown issuer")
    if not isinstance(claims["sub"], str):
        raise fail("bad sub")
    aud = claims["aud"]
    if not (aud == audience_url or (isinstance(aud, list) and audience_url in aud)):
        raise fail("wrong audience")
    exp, iat, nbf = claims["exp"], claims["iat"], claims.get("nbf")
    if not _is_number(exp) or not _is_number(iat) or (nbf is not None and not _is_number(nbf)):
        raise fail("bad time claim")
    leeway = settings.leeway_s
    if exp <= now - leeway:
        raise fail("expired")
    if iat > now + leeway:
        raise fail("iat in the future")
    if nbf is not None and nbf > now + leeway:
        raise fail("not yet valid")
    if exp - iat > settings.max_lifetime_s or exp > now + settings.max_lifetime_s + leeway:
        raise fail("lifetime too long")
    tenant = claims.get("tenant")
    if tenant is not None and issuer.tenants is not None and tenant not in issuer.tenants:
        raise fail("tenant not allowed")
    if not isinstance(claims["jti"], str) or len(claims["jti"]) > _MAX_JTI_LEN:
        raise fail("bad jti")
    if not cache.check_and_add(iss, claims["jti"], float(exp) + leeway, now):
        raise fail("replayed jti")
    return claims


def cds_auth_dependency(
    settings: CdsAuthSettings,
    cache: Replays,
    *,
    base_url: str,
    clock: Callable[[], float] = time.time,
) -> Callable[[Request], Claims]:
    """A FastAPI dependency: the verified claims, or a bare 401 (`WWW-Authenticate: Bearer`).

    The audience is `base_url` (the server's public URL, e.g. "https://mcrc.example.org") + the request path.
    It is required: taken from the request instead, it would follow the `Host` header, which the caller
    chooses, and a token the EHR issued for another service could be sent here with that service's Host.
    """
    if not isinstance(base_url, str) or not base_url.startswith(("http://", "https://")):
        raise ValueError("CDS Hooks need the server's public URL (public_url) as the JWT audience base")
    base = base_url.rstrip("/")

    async def dependency(request: Request) -> Claims:
        # async: verification is CPU-only (local keys, in-memory replay cache), so it runs on the event loop
        # instead of paying a worker-thread round trip per call
        audience = base + request.url.path
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        try:
            if scheme.lower() != "bearer" or not token.strip():
                raise CdsAuthError("missing bearer token")
            return verify_cds_jwt(token.strip(), audience, settings, cache, now=clock())
        except CdsAuthError as e:
            log.warning("CDS Hooks JWT rejected: %s (iss=%r jti=%r)", e.reason, e.iss, e.jti)
            raise HTTPException(status_code=401, detail=None, headers={"WWW-Authenticate": "Bearer"}) from None

    return dependency
