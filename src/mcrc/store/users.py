"""Users (who they are, their role, their sign-out) and their API tokens."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import secrets
import time
from typing import Any

from sqlalchemy import bindparam, func, select
from sqlalchemy.orm import Session

from mcrc.errors import Problem
from mcrc.store import audit
from mcrc.store.base import PERMISSIONS, StoreBase, _Chain, _now
from mcrc.store.errors import StoreInvalid, StoreNotFound
from mcrc.store.models import ROLES, ApiToken, User
from mcrc.store.records import NewToken, TokenRecord, TokenUser
from mcrc.store.refusals import _nul_problems
from mcrc.store.states import _token_state, _user_state

TOKEN_PREFIX = "mcrc_"  # makes a leaked token easy to recognise (secret scanners, logs)
MAX_TOKEN_CHARS = 512  # longer bearer values are refused before hashing
# Store(token_cache_seconds=N): how long a resolved token is trusted without reading the store again (the
# server sets it; decision 0020). Revocations and deactivations made through the same Store object take effect
# at once; those made by another process (the CLI, another server worker) once the entry is N seconds old.
_TOKEN_CACHE_MAX = 4096


def token_digest(raw: str) -> str:
    """The sha256 hex digest under which a raw API token is stored (the raw token never is)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


# Built once: every authenticated request runs it, and building a statement costs more than executing it.
_RESOLVE_TOKEN = (select(ApiToken.digest, ApiToken.revoked_at, User.name, User.role, User.deactivated_at)
                  .join(User, User.id == ApiToken.user_id).where(ApiToken.digest == bindparam("digest")))


class UsersMixin(StoreBase):
    """Users and their API tokens: add, deactivate, sign out; create, list, revoke and resolve tokens."""

    def add_user(self, name: str, role: str, actor: str | None = None) -> dict[str, Any]:
        """Add a user. The first user of an empty store needs no actor; afterwards only an admin adds users."""
        problems = []
        if role not in ROLES:
            problems.append(Problem("role", f"'{role}' is not a role", ", ".join(ROLES)))
        if not name or len(name) > 64 or name.strip() != name:
            problems.append(Problem("name", "a user name is 1-64 characters without surrounding spaces"))
        problems += _nul_problems(name=name)
        if problems:
            raise StoreInvalid(problems)

        def work(s: Session, chain: _Chain) -> dict[str, Any]:
            if s.execute(select(func.count()).select_from(User)).scalar_one() == 0:
                by = User(name=name, role=role, created_at=_now())
            elif actor is None:
                raise StoreInvalid([Problem("actor", "required: an admin adds users")])
            else:
                by = self._user(s, actor)
                self._allow(by, "manage_users", f"user {name!r}")
            if s.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
                raise StoreInvalid([Problem("name", f"user {name!r} already exists")])
            user = User(name=name, role=role, created_at=_now(), deactivated_at=None, sessions_ended_at=None)
            s.add(user)
            s.flush()
            chain.append(by if by.id else user, "user.create", "user", user.id, None, _user_state(user))
            return {"id": user.id, "name": name, "role": role}

        return self._write(work)

    def ensure_user(self, name: str, role: str) -> None:
        """Add the user if absent (bootstrap for demos and tests; audited as the user itself)."""
        with self._read() as s:
            if s.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
                return

        def work(s: Session, chain: _Chain) -> None:
            if s.execute(select(User).where(User.name == name)).scalar_one_or_none() is not None:
                return
            user = User(name=name, role=role, created_at=_now(), deactivated_at=None, sessions_ended_at=None)
            s.add(user)
            s.flush()
            chain.append(user, "user.create", "user", user.id, None, _user_state(user))

        self._write(work)

    def deactivate_user(self, name: str, actor: str) -> dict[str, Any]:
        """An admin deactivates a user: its tokens stop working and it can no longer act; its history stays."""

        def work(s: Session, chain: _Chain) -> dict[str, Any]:
            by = self._user(s, actor)
            self._allow(by, "manage_users", f"user {name!r}")
            user = self._user(s, name)
            if user.id == by.id:
                raise StoreInvalid([Problem("name", "an admin cannot deactivate itself")])
            before = _user_state(user)
            user.deactivated_at = _now()
            s.flush()
            chain.append(by, "user.deactivate", "user", user.id, before, _user_state(user))
            return {"id": user.id, "name": user.name, "role": user.role}

        try:
            return self._write(work)
        finally:
            self._forget_tokens()

    def end_sessions(self, name: str) -> dt.datetime:
        """The user signs out of the web page: every session cookie of theirs issued until now stops counting, in
        every browser (cookies are signed, not stored, so this instant is what the web page checks). Audited."""

        def work(s: Session, chain: _Chain) -> dt.datetime:
            user = self._user(s, name)
            before = _user_state(user)
            user.sessions_ended_at = ended = _now()
            s.flush()
            chain.append(user, "user.sign_out", "user", user.id, before, _user_state(user))
            return ended

        return self._write(work)

    # ---- API tokens ---------------------------------------------------------------------------
    @staticmethod
    def _token_record(t: ApiToken, owner: str) -> TokenRecord:
        return TokenRecord(id=t.id, user=owner, label=t.label, created_at=audit.utc_text(t.created_at),
                           revoked_at=audit.utc_text(t.revoked_at) if t.revoked_at else None)

    def _owner_or_admin(self, s: Session, owner: str, actor: str | None, what: str) -> tuple[User, User]:
        """The token owner and the acting user; acting for someone else takes the manage_tokens permission."""
        user = self._user(s, owner)
        by = user if actor is None or actor == owner else self._user(s, actor)
        if by.id != user.id:
            self._allow(by, "manage_tokens", what)
        return user, by

    def create_token(self, user: str, label: str | None = None, actor: str | None = None) -> NewToken:
        """Make a random API token for `user` (by itself, or by an admin). Only its digest is stored; the raw
        token in the result is the one copy there will ever be."""
        if label is not None and (len(label) > 64 or not label.strip()):
            raise StoreInvalid([Problem("label", "a token label is 1-64 characters")])
        if problems := _nul_problems(label=label):
            raise StoreInvalid(problems)
        raw = TOKEN_PREFIX + secrets.token_urlsafe(32)

        def work(s: Session, chain: _Chain) -> NewToken:
            owner, by = self._owner_or_admin(s, user, actor, f"tokens of {user!r}")
            t = ApiToken(digest=token_digest(raw), user_id=owner.id, label=label, created_at=_now())
            s.add(t)
            s.flush()
            chain.append(by, "token.create", "token", t.id, None, _token_state(t))
            return NewToken(self._token_record(t, owner.name), raw)

        return self._write(work)

    def list_tokens(self, user: str, actor: str | None = None) -> list[TokenRecord]:
        """The tokens of `user`, revoked ones included (never the token or its digest)."""
        with self._read() as s:
            owner, _ = self._owner_or_admin(s, user, actor, f"tokens of {user!r}")
            rows = s.execute(select(ApiToken).where(ApiToken.user_id == owner.id).order_by(ApiToken.id)).scalars()
            return [self._token_record(t, owner.name) for t in rows]

    def revoke_token(self, token_id: int, actor: str) -> TokenRecord:
        """Revoke a token at once (its owner or an admin); revoking twice is refused, not ignored."""

        def work(s: Session, chain: _Chain) -> TokenRecord:
            by = self._user(s, actor)
            t = s.get(ApiToken, token_id)
            owner = s.get(User, t.user_id) if t is not None else None
            if t is None or owner is None or (owner.id != by.id and by.role not in PERMISSIONS["manage_tokens"]):
                raise StoreNotFound(f"no token {token_id} of yours")  # others' token ids are not disclosed
            if t.revoked_at is not None:
                raise StoreInvalid([Problem("token", f"token {token_id} is already revoked")])
            before = _token_state(t)
            t.revoked_at = _now()
            s.flush()
            chain.append(by, "token.revoke", "token", t.id, before, _token_state(t))
            return self._token_record(t, owner.name)

        try:
            return self._write(work)
        finally:
            self._forget_tokens()

    def resolve_token(self, raw: str) -> TokenUser | None:
        """The active user a raw bearer token stands for, or None (unknown, revoked, or user deactivated)."""
        if not raw or len(raw) > MAX_TOKEN_CHARS:
            return None
        digest = token_digest(raw)
        now = time.monotonic()
        with self._token_lock:
            hit = self._token_cache.get(digest)
        if hit is not None and hit[1] > now:
            return hit[0]
        with self.engine.connect() as conn:
            row = conn.execute(_RESOLVE_TOKEN, {"digest": digest}).one_or_none()
        if row is None or not hmac.compare_digest(row.digest, digest):
            return None
        if row.revoked_at is not None or row.deactivated_at is not None:
            return None
        who = TokenUser(row.name, row.role)
        if self.token_cache_seconds > 0:  # only valid tokens are kept: unknown ones cannot fill the cache
            with self._token_lock:
                if len(self._token_cache) >= _TOKEN_CACHE_MAX:
                    self._token_cache.clear()
                self._token_cache[digest] = (who, now + self.token_cache_seconds)
        return who

    def _forget_tokens(self) -> None:
        """Drop every cached token resolution (after a revocation or a deactivation)."""
        with self._token_lock:
            self._token_cache.clear()
