"""The store's unit of work: one engine, its read and write transactions (with the audit appender), who may do what.

Every write runs in one transaction together with its audit entry (both or neither). Writers
serialise on the audit head row (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE), so
the chain never forks; a busy database is waited for and retried, never half-written.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, Self, TypeVar

from sqlalchemy import select, text
from sqlalchemy.exc import DataError, OperationalError
from sqlalchemy.orm import Session

import mcrc
from mcrc.knowledge import KnowledgeBase
from mcrc.knowledge.reviews import ReviewBook
from mcrc.store import audit
from mcrc.store.db import WRITE, database_url, make_engine
from mcrc.store.errors import StoreError, StoreForbidden, StoreNotFound
from mcrc.store.models import AuditEntry, AuditHead, User
from mcrc.store.records import TokenUser
from mcrc.store.refusals import _refused

T = TypeVar("T")

# What each role may do. Reading the audit log is for auditors and admins; only a coordinator
# records an MDT decision; the auditor never writes.
PERMISSIONS: dict[str, frozenset[str]] = {
    "read_case": frozenset({"clinician", "coordinator", "auditor", "admin"}),
    "read_deleted_case": frozenset({"auditor", "admin"}),
    "create_case": frozenset({"clinician", "coordinator"}),
    "update_case": frozenset({"clinician", "coordinator"}),
    "delete_case": frozenset({"coordinator", "admin"}),
    "assess_case": frozenset({"clinician", "coordinator"}),
    "decide": frozenset({"coordinator"}),
    "read_audit": frozenset({"auditor", "admin"}),
    "manage_users": frozenset({"admin"}),
    "manage_tokens": frozenset({"admin"}),  # anyone's tokens; every user manages their own
    # clinical review of knowledge-base rows (issue 17): only clinicians say a row is right or raise a concern;
    # everyone signed in may read the marks (decision record 0029)
    "review_row": frozenset({"clinician"}),
    "read_reviews": frozenset({"clinician", "coordinator", "auditor", "admin"}),
}
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class _Chain:
    """The audit appender of one write transaction (the head row is already locked)."""

    def __init__(self, session: Session, head: AuditHead):
        self.session, self.head = session, head

    def append(self, user: User, action: str, entity: str, entity_id: Any,
               before: dict[str, Any] | None, after: dict[str, Any] | None) -> AuditEntry:
        seq = self.head.seq + 1
        fields = dict(seq=seq, recorded=_now(), user_name=user.name, user_role=user.role, action=action,
                      entity=entity, entity_id=str(entity_id),
                      before_hash=audit.sha256(before) if before is not None else None,
                      after_hash=audit.sha256(after) if after is not None else None, prev_hash=self.head.entry_hash)
        entry = AuditEntry(**fields, entry_hash=audit.entry_hash(**fields))
        self.session.add(entry)
        self.head.seq, self.head.entry_hash = seq, entry.entry_hash
        return entry


class StoreBase:
    """The engine and the transactions every part of the store works in (`Store` puts the parts together)."""

    def __init__(self, url: str | None = None, *, echo: bool = False, knowledge: KnowledgeBase | None = None,
                 token_cache_seconds: float = 0.0, review_cache_seconds: float = 0.0):
        self.url = database_url(url)
        self.token_cache_seconds = token_cache_seconds  # 0: every token is read from the store each time
        # how long the review status of the rows is used without asking the store whether marks were added (0: ask
        # each time; marks made through this Store object count at once)
        self.review_cache_seconds = review_cache_seconds
        self._book: tuple[Any, ReviewBook, float] | None = None  # (state of the marks, book, monotonic time checked)
        self._book_lock = threading.Lock()
        self._token_cache: dict[str, tuple[TokenUser, float]] = {}  # digest -> (user, monotonic expiry)
        self._token_lock = threading.Lock()
        self._knowledge = knowledge  # None: the packaged knowledge base (mcrc.load_knowledge)
        self.engine = make_engine(self.url, echo=echo)
        self._write_engine = self.engine.execution_options(**{WRITE: True})
        self.backend = self.engine.dialect.name

    def close(self) -> None:
        self.engine.dispose()

    @property
    def knowledge(self) -> KnowledgeBase:
        """The knowledge base this store assesses with (and compares stored assessments against)."""
        return self._knowledge or mcrc.load_knowledge()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- transactions -------------------------------------------------------------------------
    def _checkpoint(self, stage: str) -> None:
        """A seam for crash tests: called inside write transactions ('entity_written', 'audit_written')."""

    def _write(self, fn: Callable[[Session, _Chain], T], attempts: int = 8) -> T:
        for attempt in range(attempts):
            try:
                with Session(self._write_engine, expire_on_commit=False) as s, s.begin():
                    head = s.execute(select(AuditHead).where(AuditHead.id == 1).with_for_update()).scalar_one()
                    result = fn(s, _Chain(s, head))
                    s.flush()
                    self._checkpoint("audit_written")
                return result
            except (DataError, OverflowError) as exc:  # a value the database will not take is bad input
                raise _refused(exc, writing=True) from None
            except OperationalError as exc:
                code = getattr(exc.orig, "sqlstate", None)
                busy = code in _RETRY_SQLSTATES or "locked" in str(exc.orig) or "busy" in str(exc.orig)
                if not busy or attempt == attempts - 1:
                    raise StoreError(f"database error: {exc.orig}") from None
                time.sleep(0.05 * (attempt + 1))
        raise AssertionError("unreachable")  # pragma: no cover

    @contextmanager
    def _read(self) -> Iterator[Session]:
        """A read session; a value the database cannot even compare (e.g. a NUL in a name) is bad input."""
        with Session(self.engine, expire_on_commit=False) as s:
            try:
                yield s
            except (DataError, OverflowError) as exc:
                raise _refused(exc, writing=False) from None

    # ---- who may do what ---------------------------------------------------------------------
    @staticmethod
    def _user(s: Session, name: str) -> User:
        user = s.execute(select(User).where(User.name == name)).scalar_one_or_none()
        if user is None:
            raise StoreNotFound(f"no user {name!r} (an admin adds users: `mcrc user add NAME --role ROLE`)")
        if user.deactivated_at is not None:
            raise StoreNotFound(f"user {name!r} is deactivated")
        return user

    @staticmethod
    def _allow(user: User, permission: str, target: str) -> None:
        if user.role not in PERMISSIONS[permission]:
            raise StoreForbidden(user.name, user.role, permission.replace("_", " "), target)

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
