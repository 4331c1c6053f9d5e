"""The CDS Clients this server trusts: each issuer's locally configured public keys (never fetched), and the error a
token that fails them raises. The configuration builds them; mcrc.api.cds_auth verifies tokens against them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from jwt.algorithms import get_default_algorithms

ALLOWED_ALGS: frozenset[str] = frozenset({"RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256", "PS384"})
_KTY_FOR_ALG = {a: ("EC" if a.startswith("ES") else "RSA") for a in ALLOWED_ALGS}
_CRV_FOR_ALG = {"ES256": "P-256", "ES384": "P-384", "ES512": "P-521"}
_PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})


class CdsAuthError(Exception):
    """The token is not acceptable. `reason` is a fixed short string; the token is never stored here."""

    def __init__(self, reason: str, *, iss: str | None = None, jti: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.iss = iss  # unverified, for logging only
        self.jti = jti  # unverified, for logging only


@dataclass(frozen=True)
class _Key:
    kid: str
    kty: str
    crv: str | None
    alg: str | None  # the JWK's own `alg`, if it names one
    key: Any  # the public key object, built once from the JWK when the issuer is configured


@dataclass(frozen=True)
class IssuerConfig:
    """One trusted CDS Client: its `iss`, its public JWK Set (configured locally, never fetched)."""

    iss: str
    jwks: dict[str, Any]
    jku_allowlist: set[str] = field(default_factory=set)
    tenants: set[str] | None = None  # None: any tenant (or none) is accepted
    _keys: dict[str, _Key] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        keys = self.jwks.get("keys") if isinstance(self.jwks, dict) else None
        if not isinstance(keys, list) or not keys:
            raise ValueError(f"issuer {self.iss!r}: jwks must be a JWK Set with a non-empty 'keys' list")
        parsed: dict[str, _Key] = {}
        for k in keys:
            if not isinstance(k, dict):
                raise ValueError(f"issuer {self.iss!r}: every JWK must be an object")
            kid, kty = k.get("kid"), k.get("kty")
            if not isinstance(kid, str) or not kid:
                raise ValueError(f"issuer {self.iss!r}: every JWK needs a 'kid'")
            if kid in parsed:
                raise ValueError(f"issuer {self.iss!r}: duplicate kid {kid!r}")
            if kty not in ("RSA", "EC"):
                raise ValueError(f"issuer {self.iss!r}: kid {kid!r}: only RSA and EC public keys are accepted")
            if _PRIVATE_JWK_MEMBERS & k.keys():
                raise ValueError(f"issuer {self.iss!r}: kid {kid!r}: private key material in the JWK Set")
            if k.get("use", "sig") != "sig" or ("key_ops" in k and "verify" not in k["key_ops"]):
                raise ValueError(f"issuer {self.iss!r}: kid {kid!r}: key is not for signature verification")
            alg = k.get("alg")
            if alg is not None and alg not in ALLOWED_ALGS:
                raise ValueError(f"issuer {self.iss!r}: kid {kid!r}: alg {alg!r} is not allowed")
            try:  # built here, once: a malformed key stops the configuration, not each request
                key = get_default_algorithms()["ES256" if kty == "EC" else "RS256"].from_jwk(dict(k))
            except Exception:
                raise ValueError(f"issuer {self.iss!r}: kid {kid!r}: not a valid {kty} public key") from None
            parsed[kid] = _Key(kid=kid, kty=kty, crv=k.get("crv"), alg=alg, key=key)
        object.__setattr__(self, "_keys", parsed)

    def key_for(self, kid: str, alg: str) -> Any:
        """The verification key for this `kid` and `alg`, or CdsAuthError."""
        k = self._keys.get(kid)
        if k is None:
            raise CdsAuthError("unknown kid")
        if k.kty != _KTY_FOR_ALG[alg] or (k.alg is not None and k.alg != alg):
            raise CdsAuthError("alg does not fit key")
        if k.kty == "EC" and k.crv != _CRV_FOR_ALG[alg]:
            raise CdsAuthError("alg does not fit key")
        return k.key


@dataclass(frozen=True)
class CdsAuthSettings:
    issuers: dict[str, IssuerConfig]
    max_lifetime_s: int = 300
    leeway_s: int = 30

    def __post_init__(self) -> None:
        for name, cfg in self.issuers.items():
            if name != cfg.iss:
                raise ValueError(f"issuer key {name!r} differs from its IssuerConfig.iss {cfg.iss!r}")
