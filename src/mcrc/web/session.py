"""Signed session cookies and CSRF tokens bound to them (HMAC-SHA256, standard library only).

The cookie holds a random nonce, the signed-in user's name (or none) and when it was issued (to the
microsecond: signing out ends the cookies issued until that instant, and signing in again a moment later
must not fall before it); never the API token. The CSRF token of a session is an HMAC of its nonce, so a
page of one session cannot be replayed into another, and signing in (a new nonce) invalidates tokens
issued before.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import math
import secrets
import time
from dataclasses import dataclass

COOKIE = "mcrc_session"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
MAX_AGE = 12 * 3600  # a working day; then sign in again


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True)
class WebSession:
    nonce: str
    user: str | None
    issued: float  # seconds since the epoch


class Signer:
    """Signs and reads session cookies and derives CSRF tokens with one secret key."""

    def __init__(self, secret_key: str | None):
        self._key = hashlib.sha256((secret_key or secrets.token_hex(32)).encode("utf-8")).digest()

    def _mac(self, purpose: str, data: str) -> str:
        return _b64(hmac.new(self._key, f"{purpose}\x00{data}".encode(), hashlib.sha256).digest())

    def new(self, user: str | None = None) -> WebSession:
        return WebSession(nonce=secrets.token_urlsafe(18), user=user, issued=time.time())

    def dump(self, s: WebSession) -> str:
        body = _b64(json.dumps({"n": s.nonce, "u": s.user, "t": s.issued}, separators=(",", ":")).encode())
        return f"{body}.{self._mac('session', body)}"

    def load(self, cookie: str | None) -> WebSession | None:
        """The session in a cookie, or None if it is absent, forged, malformed or expired."""
        if not cookie or "." not in cookie:
            return None
        body, mac = cookie.rsplit(".", 1)
        if not hmac.compare_digest(mac, self._mac("session", body)):
            return None
        try:
            data = json.loads(_unb64(body))
            s = WebSession(nonce=str(data["n"]), user=data["u"], issued=float(data["t"]))
        except (ValueError, KeyError, TypeError):
            return None
        if not math.isfinite(s.issued):
            return None
        if s.user is not None and not isinstance(s.user, str):
            return None
        if time.time() - s.issued > MAX_AGE:
            return None
        return s

    def seal(self, purpose: str, data: str) -> str:
        """A MAC of `data` for `purpose` (e.g. a draft the page carries for one user), checked by `sealed`."""
        return self._mac(purpose, data)

    def sealed(self, purpose: str, data: str, mac: str | None) -> bool:
        return bool(mac) and hmac.compare_digest(str(mac), self._mac(purpose, data))

    def csrf(self, s: WebSession) -> str:
        return self._mac("csrf", s.nonce)

    def csrf_ok(self, s: WebSession | None, token: str | None) -> bool:
        return bool(s is not None and token and hmac.compare_digest(token, self.csrf(s)))
