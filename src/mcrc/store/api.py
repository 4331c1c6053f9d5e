"""The case store: cases, versioned assessments, MDT decisions and a hash-chained audit log.

Every write runs in one transaction together with its audit entry (both or neither). Writers
serialise on the audit head row (SQLite: BEGIN IMMEDIATE; PostgreSQL: SELECT ... FOR UPDATE), so
the chain never forks; a busy database is waited for and retried, never half-written.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.resources import files
from typing import Any, NamedTuple, TypeVar

from pydantic import ValidationError
from sqlalchemy import bindparam, func, inspect, or_, select, text
from sqlalchemy.exc import DataError, DBAPIError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session

import mcrc
from mcrc.engine import ENGINE_VERSION
from mcrc.errors import InputError, Problem
from mcrc.knowledge import KnowledgeBase
from mcrc.knowledge.reviews import MAX_COMMENT, ReviewBook, ReviewEntry, build_book
from mcrc.patient import Patient
from mcrc.store import audit
from mcrc.store import extraction as xrecord
from mcrc.store.db import WRITE, database_url, make_engine
from mcrc.store.errors import StoreConflict, StoreError, StoreForbidden, StoreInvalid, StoreNotFound, StoreNotReady
from mcrc.store.models import (
    DEVIATION_REASONS,
    GENESIS_HASH,
    PARTICIPANT_ROLES,
    REVIEW_MARKS,
    ROLES,
    ApiToken,
    AssessmentRow,
    AuditEntry,
    AuditHead,
    Case,
    CaseExtraction,
    Decision,
    MdtMeeting,
    RowReviewMark,
    User,
)

T = TypeVar("T")
log = logging.getLogger("mcrc.store")

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
DIFF_SECTIONS = ("goal", "first_steps", "strategies", "local_treatment", "regimens", "warnings", "tests", "workup",
                 "prognosis", "followup", "considerations", "referrals", "evidence", "current_standard")
_RETRY_SQLSTATES = {"40001", "40P01"}  # serialization failure, deadlock
EXPORT_FORMAT = "mcrc.case-export/1"
TOKEN_PREFIX = "mcrc_"  # makes a leaked token easy to recognise (secret scanners, logs)
MAX_TOKEN_CHARS = 512  # longer bearer values are refused before hashing
# Store(token_cache_seconds=N): how long a resolved token is trusted without reading the store again (the
# server sets it; decision 0020). Revocations and deactivations made through the same Store object take effect
# at once; those made by another process (the CLI, another server worker) once the entry is N seconds old.
_TOKEN_CACHE_MAX = 4096


def token_digest(raw: str) -> str:
    """The sha256 hex digest under which a raw API token is stored (the raw token never is)."""
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _nul_paths(obj: Any, path: str = "") -> Iterator[str]:
    """Where a NUL character hides in a JSON-like value (PostgreSQL stores no NUL in text or JSONB)."""
    if isinstance(obj, str):
        if "\x00" in obj:
            yield path or "(value)"
    elif isinstance(obj, dict):
        for key, value in obj.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in str(key):
                yield where
            yield from _nul_paths(value, where)
    elif isinstance(obj, list | tuple):
        for i, value in enumerate(obj):
            yield from _nul_paths(value, f"{path}[{i}]")


def _nul_problems(**named: Any) -> list[Problem]:
    """One problem per text with a NUL character, on either backend (SQLite would store it, PostgreSQL not)."""
    return [Problem(where, "contains a NUL character (U+0000), which the store does not keep")
            for name, value in named.items() for where in _nul_paths(value, name)]


# SQLSTATEs of PostgreSQL's data exceptions (class 22) that name what was wrong with a value.
_REFUSALS = {"22P05": "a text contains a character the database cannot store (a NUL, U+0000)",
             "22001": "a text is longer than the database column allows",
             "22003": "a number is outside the range the database can store",
             "22P02": "a value is not in a form the database accepts",
             "22007": "a date or time is not in a form the database accepts",
             "22008": "a date or time is out of range"}


def _refused(exc: DBAPIError | OverflowError, writing: bool) -> StoreInvalid:
    """A value the database refused, as an input error (a write's transaction is rolled back: nothing written).

    Only the primary message is kept: PostgreSQL's detail and context lines can quote the stored data. SQLite's
    driver refuses integers beyond 64 bits itself, with a plain OverflowError."""
    if isinstance(exc, OverflowError):
        primary, code = str(exc), "22003"
    else:
        orig = exc.orig
        primary = getattr(getattr(orig, "diag", None), "message_primary", None) or str(orig).splitlines()[0]
        code = getattr(orig, "sqlstate", None) or ""
    if "NUL" in primary or "\\u0000" in primary:
        code = "22P05"
    message = f"{_REFUSALS.get(code, 'the database refused a value')} ({primary})"
    return StoreInvalid([Problem("(value)", message + ("; nothing was written" if writing else ""))])


@dataclass(frozen=True)
class CaseRecord:
    id: int
    label: str | None
    version: int
    patient: dict[str, Any]
    schema_version: str
    content_hash: str
    deleted: bool
    created_at: str
    updated_at: str


@dataclass(frozen=True)
class AssessmentRecord:
    id: int
    case_id: int
    case_version: int
    kb_version: str
    engine_version: str
    input_hash: str
    created_at: str
    assessment: dict[str, Any]


@dataclass(frozen=True)
class DecisionRecord:
    id: int
    case_id: int
    assessment_id: int
    meeting_date: str
    strategy_codes: list[str]
    rationale: str
    concordant: bool
    deviation_code: str | None
    deviation_text: str | None
    participants: dict[str, list[str]]
    decided_by: str
    created_at: str


@dataclass(frozen=True)
class ReviewRecord:
    """A clinician's review mark of a knowledge-base row, as the store keeps it (`date` is the UTC day)."""

    id: int
    row: str
    status: str
    comment: str | None
    reviewer: str
    role: str
    date: str
    created_at: str
    kb_version: str
    row_version: str

    def entry(self) -> ReviewEntry:
        """The mark as a review entry of the knowledge base's format (`reviews.yaml`)."""
        return ReviewEntry(row=self.row, status=self.status, role=self.role,  # type: ignore[arg-type]
                           reviewer=self.reviewer, date=dt.date.fromisoformat(self.date), kb_version=self.kb_version,
                           row_version=self.row_version, comment=self.comment, source="store")


@dataclass(frozen=True)
class ExtractionRecord:
    """Which fields of a case version came from report text and who confirmed them (decision record 0046)."""

    id: int
    case_id: int
    case_version: int
    documents: list[dict[str, Any]]
    fields: list[dict[str, Any]]  # {field, origin (extracted, clinician, conflict), value, extracted | conflict}
    confirmed_by: str
    confirmed_at: str


@dataclass(frozen=True)
class TokenRecord:
    """What the store keeps about a token: never the token, not even its digest."""

    id: int
    user: str
    label: str | None
    created_at: str
    revoked_at: str | None


@dataclass(frozen=True)
class NewToken:
    """A token just created: `token` is the only copy of the raw value, shown once."""

    record: TokenRecord
    token: str = field(repr=False)


class TokenUser(NamedTuple):
    name: str
    role: str


@dataclass(frozen=True)
class HeadRecord:
    """The head of the audit chain: the last entry's seq, hash and time. `in_log` is False when the log holds no
    such entry (the head does not match it: verify-chain says more)."""

    seq: int
    entry_hash: str
    recorded: str | None
    in_log: bool

    @property
    def line(self) -> str:
        """The head as one line to keep outside the database (`mcrc audit verify-chain --anchor` reads it)."""
        return audit.anchor_line(self.seq, self.entry_hash, self.recorded)


@dataclass(frozen=True)
class Finding:
    """One contradiction between the database and its audit log: which record, which entry, what.

    `code` is one of: gap, link, altered (an entry); head (the head row); anchor (a head kept outside the
    database); content (stored JSON against its hash); changed, between (a record against its entries); gone
    (a record with entries but no row); unaudited (a row no entry vouches for)."""

    seq: int | None  # the audit entry contradicted; None for a row that no entry vouches for
    entity: str  # case, assessment, decision, token, user, review, extraction; audit, audit_head or anchor (the log)
    entity_id: str
    code: str
    reason: str

    def __str__(self) -> str:
        where = f"entry {self.seq}" if self.seq is not None else "no entry"
        return f"{where}: {self.entity} {self.entity_id}: {self.reason}"


@dataclass(frozen=True)
class ChainReport:
    """Every finding of `Store.verify_chain`, first broken first (rows no entry vouches for come last)."""

    entries: int
    findings: list[Finding] = field(default_factory=list)
    anchors: int = 0  # heads kept outside the database that were checked

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first_broken(self) -> int | None:
        return self.findings[0].seq if self.findings else None

    @property
    def reason(self) -> str | None:
        return str(self.findings[0]) if self.findings else None

    @property
    def problems(self) -> list[str]:
        return [str(f) for f in self.findings]

    def __str__(self) -> str:
        if self.ok:
            kept = f"; {self.anchors} anchored head(s) found in it" if self.anchors else ""
            return f"audit chain intact: {self.entries} entries{kept}"
        return f"audit chain BROKEN: {len(self.findings)} finding(s), the first: {self.findings[0]}"


def _case_state(c: Case, content_hash: str | None = None) -> dict[str, Any]:
    """What a case entry vouches for. Before a change, pass the hash recomputed from the stored patient JSON: an
    edit of the JSON alone then shows as a break between the previous entry and this one (not laundered)."""
    return {"id": c.id, "version": c.version, "deleted": c.deleted, "content_hash": content_hash or c.content_hash,
            "schema_version": c.schema_version, "label": c.label}


def _assessment_state(a: AssessmentRow) -> dict[str, Any]:
    return {"id": a.id, "case_id": a.case_id, "case_version": a.case_version, "content_hash": a.content_hash,
            "kb_version": a.kb_version, "engine_version": a.engine_version, "input_hash": a.input_hash}


def _decision_state(d: Decision, held_on: dt.date | None) -> dict[str, Any]:
    """What a decision entry vouches for, with the date of its meeting (moving a meeting changes what the decision
    says; meetings have no entries of their own). Entries before schema 0004 lack the date (see verify_chain)."""
    return {"id": d.id, "case_id": d.case_id, "assessment_id": d.assessment_id, "meeting_id": d.meeting_id,
            "meeting_date": held_on.isoformat() if held_on else None,
            "strategy_codes": list(d.strategy_codes), "rationale": d.rationale, "concordant": d.concordant,
            "deviation_code": d.deviation_code, "deviation_text": d.deviation_text,
            "participants": d.participants, "decided_by": d.decided_by}


def _review_state(m: RowReviewMark) -> dict[str, Any]:
    """What a review entry vouches for: the whole mark, its time included (when a row was reviewed is part of what
    the review says)."""
    return {"id": m.id, "row_id": m.row_id, "row_version": m.row_version, "kb_version": m.kb_version,
            "status": m.status, "comment": m.comment, "user_id": m.user_id, "role": m.role,
            "created_at": audit.utc_text(m.created_at)}


def _extraction_state(x: CaseExtraction) -> dict[str, Any]:
    """What an extraction entry vouches for: the whole record, its time included."""
    return {"id": x.id, "case_id": x.case_id, "case_version": x.case_version, "documents": x.documents,
            "fields": x.fields, "confirmed_by": x.confirmed_by, "confirmed_at": audit.utc_text(x.confirmed_at)}


def _token_state(t: ApiToken) -> dict[str, Any]:
    return {"id": t.id, "user_id": t.user_id, "label": t.label, "digest": t.digest, "revoked": t.revoked_at is not None}


def _user_state(u: User) -> dict[str, Any]:
    """What every user entry vouches for (create, deactivate, sign_out, rebaseline: one shape). The sign-out instant
    is part of it: moving it back would revive session cookies issued before the sign-out."""
    return {"id": u.id, "name": u.name, "role": u.role, "deactivated": u.deactivated_at is not None,
            "sessions_ended": audit.utc_text(u.sessions_ended_at) if u.sessions_ended_at else None}


# Built once: every authenticated request runs it, and building a statement costs more than executing it.
_RESOLVE_TOKEN = (select(ApiToken.digest, ApiToken.revoked_at, User.name, User.role, User.deactivated_at)
                  .join(User, User.id == ApiToken.user_id).where(ApiToken.digest == bindparam("digest")))

# Kinds of record the audit log vouches for, and those whose entries changed shape in schema 0004 (entries before the
# last `schema.upgrade` entry are not compared with the shape of the entries after it; see verify_chain).
_KINDS = ("user", "token", "case", "assessment", "decision", "review", "extraction")
_RESHAPED = frozenset({"user", "decision"})
SCHEMA_ENTITY = "schema"  # entries the migrations write (`schema.upgrade`), not about any record


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


class Store:
    """Small public API over the case store. `url`: SQLAlchemy URL (default MCRC_DATABASE_URL or sqlite:///mcrc.db)."""

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

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    # ---- schema -------------------------------------------------------------------------------
    def _alembic_config(self):
        from alembic.config import Config

        cfg = Config()
        cfg.set_main_option("script_location", str(files("mcrc.store") / "migrations"))
        cfg.set_main_option("sqlalchemy.url", self.url.replace("%", "%%"))
        return cfg

    def upgrade(self, revision: str = "head") -> None:
        """Apply the migrations (alembic upgrade) on this store's database."""
        from alembic import command

        cfg = self._alembic_config()
        with self._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    def downgrade(self, revision: str) -> None:
        from alembic import command

        cfg = self._alembic_config()
        with self._write_engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, revision)

    def schema_revision(self) -> str | None:
        from alembic.runtime.migration import MigrationContext

        with self.engine.connect() as conn:
            return MigrationContext.configure(conn).get_current_revision()

    def head_revision(self) -> str:
        from alembic.script import ScriptDirectory

        return ScriptDirectory.from_config(self._alembic_config()).get_current_head()

    def require_current(self) -> None:
        """Raise StoreError unless the schema is at the newest migration."""
        try:
            current = self.schema_revision()
        except DBAPIError as exc:
            raise StoreError(f"cannot open the database {self._safe_url()}: {exc.orig}") from None
        if current != self.head_revision():
            raise StoreError(f"the database {self._safe_url()} is at schema revision {current or '(empty)'}, "
                             f"not {self.head_revision()}: run `mcrc db upgrade`")

    def _safe_url(self) -> str:
        return self.engine.url.render_as_string(hide_password=True)

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

    # ---- users --------------------------------------------------------------------------------
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

    # ---- cases --------------------------------------------------------------------------------
    @staticmethod
    def _validate(patient: Patient | dict[str, Any]) -> tuple[dict[str, Any], str, str | None]:
        p = patient if isinstance(patient, Patient) else mcrc.parse_patient(patient)
        data = p.model_dump(mode="json", exclude_none=True)
        if problems := _nul_problems(**data):
            raise StoreInvalid(problems)
        return data, audit.sha256(data), p.id

    @staticmethod
    def _case_record(c: Case) -> CaseRecord:
        return CaseRecord(id=c.id, label=c.label, version=c.version, patient=c.patient,
                          schema_version=c.schema_version, content_hash=c.content_hash, deleted=c.deleted,
                          created_at=audit.utc_text(c.created_at), updated_at=audit.utc_text(c.updated_at))

    def _case(self, s: Session, case_id: int, user: User, *, lock: bool = False) -> Case:
        q = select(Case).where(Case.id == case_id)
        case = s.execute(q.with_for_update() if lock else q).scalar_one_or_none()
        if case is None or (case.deleted and user.role not in PERMISSIONS["read_deleted_case"]):
            raise StoreNotFound(f"no case {case_id}")
        return case

    def _create_case(self, s: Session, chain: _Chain, user: str, data: dict, digest: str, label: str | None,
                     action: str, before: Any) -> CaseRecord:
        """A new case at version 1 and its audit entry (`case.create` or `case.import`)."""
        u = self._user(s, user)
        self._allow(u, "create_case", "a case")
        now = _now()
        case = Case(label=label, patient=data, schema_version=data["schema_version"], content_hash=digest,
                    version=1, deleted=False, created_by=u.id, created_at=now, updated_at=now)
        s.add(case)
        s.flush()
        self._checkpoint("entity_written")
        chain.append(u, action, "case", case.id, before, _case_state(case))
        return self._case_record(case)

    def _draft_shown(self, extraction: Any) -> dict[str, Any] | None:
        """The draft extraction filled, checked, its patient dumped as a stored patient is (to compare values)."""
        if extraction is None:
            return None
        x = dict(xrecord.checked(extraction))
        try:
            x["patient"] = self._validate(x["patient"])[0]
        except InputError:
            x["patient"] = dict(x["patient"])  # compared as shown; extraction's drafts validate
        return x

    def _record_extraction(self, s: Session, chain: _Chain, u: User, case: Case, data: dict[str, Any],
                           extraction: dict[str, Any] | None) -> None:
        """The extraction record of the version just written and its `extraction.confirm` entry (who, when)."""
        if extraction is None:
            return
        x = CaseExtraction(case_id=case.id, case_version=case.version,
                           documents=[{"name": d["name"], "type": d["type"]} for d in extraction["documents"]],
                           fields=xrecord.fields(data, extraction), confirmed_by=u.id, confirmed_at=_now())
        s.add(x)
        s.flush()
        chain.append(u, "extraction.confirm", "extraction", x.id, None, _extraction_state(x))

    def add_case(self, patient: Patient | dict[str, Any], user: str, extraction: Any = None) -> CaseRecord:
        """Validate the patient (InputError if invalid) and register a new case at version 1. `extraction`: the
        draft report text filled, as shown to the user ({documents, patient, provenance, conflicts}, as
        `mcrc.extract` answers it): the version is recorded with which fields came from it (decision record
        0046)."""
        data, digest, label = self._validate(patient)
        shown = self._draft_shown(extraction)

        def work(s: Session, chain: _Chain) -> CaseRecord:
            rec = self._create_case(s, chain, user, data, digest, label, "case.create", None)
            if shown is not None:
                u = self._user(s, user)
                self._record_extraction(s, chain, u, s.get(Case, rec.id), data, shown)
            return rec

        return self._write(work)

    def update_case(self, case_id: int, patient: Patient | dict[str, Any], expected_version: int,
                    user: str, extraction: Any = None) -> CaseRecord:
        """Replace the patient of a case; StoreConflict if the case is no longer at `expected_version`.
        `extraction` as for `add_case`."""
        data, digest, label = self._validate(patient)
        shown = self._draft_shown(extraction)

        def work(s: Session, chain: _Chain) -> CaseRecord:
            u = self._user(s, user)
            case = self._case(s, case_id, u, lock=True)
            self._allow(u, "update_case", f"case {case_id}")
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is deleted")
            if case.version != expected_version:
                raise StoreConflict(case_id, expected_version, case.version)
            before = _case_state(case, audit.sha256(case.patient))
            case.patient, case.content_hash, case.label = data, digest, label
            case.schema_version, case.version, case.updated_at = data["schema_version"], case.version + 1, _now()
            s.flush()
            chain.append(u, "case.update", "case", case.id, before, _case_state(case))
            self._record_extraction(s, chain, u, case, data, shown)
            return self._case_record(case)

        return self._write(work)

    def delete_case(self, case_id: int, user: str, expected_version: int | None = None) -> CaseRecord:
        """Soft delete: the case stays (for audit) but disappears from lists and refuses changes."""

        def work(s: Session, chain: _Chain) -> CaseRecord:
            u = self._user(s, user)
            case = self._case(s, case_id, u, lock=True)
            self._allow(u, "delete_case", f"case {case_id}")
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is already deleted")
            if expected_version is not None and case.version != expected_version:
                raise StoreConflict(case_id, expected_version, case.version)
            before = _case_state(case, audit.sha256(case.patient))
            case.deleted, case.deleted_at, case.version = True, _now(), case.version + 1
            case.updated_at = case.deleted_at
            s.flush()
            chain.append(u, "case.delete", "case", case.id, before, _case_state(case))
            return self._case_record(case)

        return self._write(work)

    def get_case(self, case_id: int, user: str) -> CaseRecord:
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            return self._case_record(self._case(s, case_id, u))

    def extractions(self, case_id: int, user: str) -> list[ExtractionRecord]:
        """The extraction records of a case, oldest first (one per version saved from report text)."""
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            self._case(s, case_id, u)
            q = (select(CaseExtraction, User.name).join(User, User.id == CaseExtraction.confirmed_by)
                 .where(CaseExtraction.case_id == case_id).order_by(CaseExtraction.id))
            return [ExtractionRecord(id=x.id, case_id=x.case_id, case_version=x.case_version, documents=x.documents,
                                     fields=x.fields, confirmed_by=name, confirmed_at=audit.utc_text(x.confirmed_at))
                    for x, name in s.execute(q)]

    def list_cases(self, user: str, include_deleted: bool = False) -> list[CaseRecord]:
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", "cases")
            if include_deleted:
                self._allow(u, "read_deleted_case", "deleted cases")
            q = select(Case).order_by(Case.id)
            if not include_deleted:
                q = q.where(Case.deleted.is_(False))
            return [self._case_record(c) for c in s.execute(q).scalars()]

    # ---- assessments --------------------------------------------------------------------------
    @staticmethod
    def _assessment_record(a: AssessmentRow) -> AssessmentRecord:
        return AssessmentRecord(id=a.id, case_id=a.case_id, case_version=a.case_version, kb_version=a.kb_version,
                                engine_version=a.engine_version, input_hash=a.input_hash,
                                created_at=audit.utc_text(a.created_at), assessment=a.assessment)

    def assess(self, case_id: int, user: str) -> AssessmentRecord:
        """Assess the case as it stands and store the answer as a new assessment (older ones are kept)."""
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "assess_case", f"case {case_id}")
            case = self._case(s, case_id, u)
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is deleted")
            patient, version = case.patient, case.version
        # outside the transaction: may take a moment on first use
        a = mcrc.assess(patient, kb=self.knowledge, reviews=self.review_book(fresh=True))
        data = a.model_dump(mode="json")

        def work(s: Session, chain: _Chain) -> AssessmentRecord:
            u = self._user(s, user)
            case = self._case(s, case_id, u, lock=True)
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is deleted")
            if case.version != version:
                raise StoreConflict(case_id, version, case.version)
            row = AssessmentRow(case_id=case_id, case_version=version, assessment=data,
                                content_hash=audit.sha256(data), kb_version=a.provenance.kb_version,
                                engine_version=a.provenance.engine_version,
                                input_hash=a.provenance.input_hash or "", created_by=u.id, created_at=_now())
            s.add(row)
            s.flush()
            self._checkpoint("entity_written")
            chain.append(u, "assessment.create", "assessment", row.id, None, _assessment_state(row))
            return self._assessment_record(row)

        return self._write(work)

    def assessments(self, case_id: int, user: str) -> list[AssessmentRecord]:
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            self._case(s, case_id, u)
            rows = s.execute(select(AssessmentRow).where(AssessmentRow.case_id == case_id)
                             .order_by(AssessmentRow.id)).scalars()
            return [self._assessment_record(r) for r in rows]

    def diff(self, case_id: int, user: str) -> dict[str, Any]:
        """What the newest assessment adds or removes compared with the one before, per section."""
        history = self.assessments(case_id, user)
        if len(history) < 2:
            raise StoreNotReady([Problem(f"case {case_id}", f"has {len(history)} assessment(s); a diff needs two "
                                                           "(run `mcrc case assess` again after a change)")])
        return self._diff(case_id, history[-2], history[-1])

    @staticmethod
    def _diff(case_id: int, old: AssessmentRecord, new: AssessmentRecord) -> dict[str, Any]:
        a_old, a_new = (mcrc.Assessment.model_validate(x.assessment) for x in (old, new))
        sections = {}
        for name in DIFF_SECTIONS:
            before, after = a_old.codes(name), a_new.codes(name)
            if before != after:
                sections[name] = {"added": sorted(after - before), "removed": sorted(before - after)}
        return {
            "case_id": case_id,
            "from": {"assessment_id": old.id, "case_version": old.case_version, "kb_version": old.kb_version,
                     "engine_version": old.engine_version, "created_at": old.created_at},
            "to": {"assessment_id": new.id, "case_version": new.case_version, "kb_version": new.kb_version,
                   "engine_version": new.engine_version, "created_at": new.created_at},
            "changed": bool(sections),
            "sections": sections,
        }

    def stale_cases(self, user: str) -> list[int]:
        """Non-deleted cases whose newest assessment came from another knowledge-base or engine version.

        Cases never assessed are not stale (there is nothing to re-assess; `mcrc case assess` them)."""
        kb_version = self.knowledge.version
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "assess_case", "stale cases")
            latest = (select(AssessmentRow.case_id, func.max(AssessmentRow.id).label("id"))
                      .group_by(AssessmentRow.case_id).subquery())
            q = (select(AssessmentRow.case_id).join(latest, AssessmentRow.id == latest.c.id)
                 .join(Case, Case.id == AssessmentRow.case_id).where(Case.deleted.is_(False))
                 .where(or_(AssessmentRow.kb_version != kb_version, AssessmentRow.engine_version != ENGINE_VERSION))
                 .order_by(AssessmentRow.case_id))
            return list(s.execute(q).scalars())

    def reassess_stale(self, user: str) -> list[tuple[int, dict[str, Any]]]:
        """Assess every stale case again (one transaction per case, with its audit entry) and return, per
        case, the diff from its stale assessment to the new one. Safe to run again after a failure: cases
        already re-assessed are no longer stale; a case deleted meanwhile is skipped."""
        results = []
        for case_id in self.stale_cases(user):
            try:
                old = self.assessments(case_id, user)[-1]
                new = self.assess(case_id, user)
            except StoreNotFound:  # deleted since the list was read
                continue
            results.append((case_id, self._diff(case_id, old, new)))
        return results

    # ---- export and import --------------------------------------------------------------------
    def export_case(self, case_id: int, user: str) -> dict[str, Any]:
        """One case as a JSON document: the validated patient, case metadata, every assessment (with its
        knowledge-base and engine versions) and every decision. `import_case` reads it back."""
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            case = self._case_record(self._case(s, case_id, u))
            rows = s.execute(select(AssessmentRow).where(AssessmentRow.case_id == case_id)
                             .order_by(AssessmentRow.id)).scalars()
            assessments = [self._assessment_record(r).__dict__ for r in rows]
            q = (select(Decision, MdtMeeting.held_on, User.name).join(MdtMeeting).join(User)
                 .where(Decision.case_id == case_id).order_by(Decision.id))
            decisions = [self._decision_record(d, held, by).__dict__ for d, held, by in s.execute(q)]
            return {
                "format": EXPORT_FORMAT,
                "exported_at": audit.utc_text(_now()),
                "exported_by": u.name,
                "case": {k: v for k, v in case.__dict__.items() if k != "patient"},
                "patient": case.patient,
                "assessments": assessments,
                "decisions": decisions,
            }

    @staticmethod
    def _import_problems(data: Any) -> tuple[list[Problem], Patient | None]:
        """Every problem of an export document (nothing is written unless there are none)."""
        if not isinstance(data, dict):
            return [Problem("(document)", f"expected a JSON object, got {type(data).__name__}")], None
        problems: list[Problem] = []
        if data.get("format") != EXPORT_FORMAT:
            problems.append(Problem("format", f"{data.get('format')!r} is not a case export format", EXPORT_FORMAT))
        meta = data.get("case")
        if not isinstance(meta, dict) or not isinstance(meta.get("id"), int):
            problems.append(Problem("case", "expected the exported case's metadata (an object with its id)"))
            meta = {}
        patient = None
        try:
            patient = mcrc.parse_patient(data.get("patient"))
        except InputError as exc:
            problems += [Problem(f"patient.{p.where}", p.message, p.allowed) for p in exc.problems]
        if patient is not None and meta.get("content_hash") is not None:
            digest = audit.sha256(patient.model_dump(mode="json", exclude_none=True))
            if digest != meta["content_hash"]:
                problems.append(Problem("patient", "does not match case.content_hash (changed after export?); "
                                                   "remove case.content_hash to import an edited patient"))
        for key, required in (("assessments", ("kb_version", "engine_version", "assessment")),
                              ("decisions", ("strategy_codes", "rationale", "concordant"))):
            items = data.get(key, [])
            if not isinstance(items, list):
                problems.append(Problem(key, "expected a list"))
                continue
            for i, item in enumerate(items):
                missing = [f for f in required if not isinstance(item, dict) or f not in item]
                if missing:
                    problems.append(Problem(f"{key}[{i}]", f"missing {', '.join(missing)}"))
                elif key == "assessments":
                    try:
                        mcrc.Assessment.model_validate(item["assessment"])
                    except ValidationError as exc:
                        problems.append(Problem(f"{key}[{i}].assessment",
                                                f"not an Assessment ({exc.error_count()} error(s))"))
        return problems, patient

    def import_case(self, data: Any, user: str) -> CaseRecord:
        """Validate a `mcrc.case-export/1` document as a whole (StoreInvalid listing every problem, nothing
        written) and register its patient as a new case at version 1. The history in the document
        (assessments, decisions) is validated but not copied: assess the new case here. Audited as
        `case.import` (a FHIR create) whose before-hash is that of a note of the source."""
        problems, patient = self._import_problems(data)
        if problems or patient is None:
            raise StoreInvalid(problems)
        payload, digest, label = self._validate(patient)
        meta = data["case"]
        source = {"format": data["format"], "source_case_id": meta["id"], "source_version": meta.get("version"),
                  "source_content_hash": meta.get("content_hash"), "exported_at": data.get("exported_at"),
                  "document_hash": audit.sha256(data)}

        def work(s: Session, chain: _Chain) -> CaseRecord:
            return self._create_case(s, chain, user, payload, digest, label, "case.import", {"imported_from": source})

        return self._write(work)

    # ---- decisions ----------------------------------------------------------------------------
    def decide(self, case_id: int, *, strategies: Iterable[str], rationale: str, concordant: bool, user: str,
               deviation: str | None = None, deviation_text: str | None = None,
               participants: dict[str, list[str]] | None = None,
               meeting_date: dt.date | None = None) -> DecisionRecord:
        """Record the MDT's decision on the case's newest assessment (coordinators only)."""
        codes = list(strategies)
        problems = self._decision_problems(codes, rationale, concordant, deviation, participants or {},
                                           deviation_text)
        if problems:
            raise StoreInvalid(problems)
        held_on = meeting_date or _now().date()

        def work(s: Session, chain: _Chain) -> DecisionRecord:
            u = self._user(s, user)
            self._allow(u, "decide", f"case {case_id}")
            case = self._case(s, case_id, u, lock=True)
            if case.deleted:
                raise StoreNotFound(f"case {case_id} is deleted")
            last = s.execute(select(AssessmentRow).where(AssessmentRow.case_id == case_id)
                             .order_by(AssessmentRow.id.desc()).limit(1)).scalar_one_or_none()
            if last is None or last.case_version != case.version:
                raise StoreNotReady([Problem(f"case {case_id}", "has no assessment of its current version; "
                                                               "assess it before recording a decision")])
            meeting = s.execute(select(MdtMeeting).where(MdtMeeting.held_on == held_on)).scalar_one_or_none()
            if meeting is None:
                meeting = MdtMeeting(held_on=held_on, created_at=_now())
                s.add(meeting)
                s.flush()
            d = Decision(case_id=case_id, meeting_id=meeting.id, assessment_id=last.id, strategy_codes=codes,
                         rationale=rationale, concordant=concordant, deviation_code=deviation,
                         deviation_text=deviation_text, participants=participants or {}, decided_by=u.id,
                         created_at=_now())
            s.add(d)
            s.flush()
            self._checkpoint("entity_written")
            chain.append(u, "decision.create", "decision", d.id, None, _decision_state(d, held_on))
            return self._decision_record(d, held_on, u.name)

        return self._write(work)

    @staticmethod
    def _decision_problems(codes: list[str], rationale: str, concordant: bool, deviation: str | None,
                           participants: dict[str, list[str]], deviation_text: str | None = None) -> list[Problem]:
        problems: list[Problem] = []
        vocab = mcrc.load_knowledge().vocabulary.terms
        known = set(vocab["actions"]) | set(vocab["regimens"])
        if not codes:
            problems.append(Problem("strategy", "at least one chosen strategy code is required"))
        for code in codes:
            if code not in known:
                problems.append(Problem("strategy", f"'{code}' is not an action or regimen code",
                                        "see `mcrc vocab`"))
        if not rationale or not rationale.strip():
            problems.append(Problem("rationale", "a free-text rationale is required"))
        if concordant and deviation:
            problems.append(Problem("deviation", "a concordant decision has no deviation reason"))
        if not concordant and not deviation:
            problems.append(Problem("deviation", "required when the decision is not concordant",
                                    ", ".join(DEVIATION_REASONS)))
        if deviation and deviation not in DEVIATION_REASONS:
            problems.append(Problem("deviation", f"'{deviation}' is not a deviation reason",
                                    ", ".join(DEVIATION_REASONS)))
        for role in participants:
            if role not in PARTICIPANT_ROLES:
                problems.append(Problem("participants", f"'{role}' is not a participant role",
                                        ", ".join(PARTICIPANT_ROLES)))
        problems += _nul_problems(rationale=rationale, deviation_text=deviation_text, participants=participants)
        return problems

    @staticmethod
    def _decision_record(d: Decision, held_on: dt.date, by: str) -> DecisionRecord:
        return DecisionRecord(id=d.id, case_id=d.case_id, assessment_id=d.assessment_id,
                              meeting_date=held_on.isoformat(), strategy_codes=list(d.strategy_codes),
                              rationale=d.rationale, concordant=d.concordant, deviation_code=d.deviation_code,
                              deviation_text=d.deviation_text, participants=d.participants, decided_by=by,
                              created_at=audit.utc_text(d.created_at))

    def decisions(self, case_id: int, user: str) -> list[DecisionRecord]:
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_case", f"case {case_id}")
            self._case(s, case_id, u)
            q = (select(Decision, MdtMeeting.held_on, User.name).join(MdtMeeting).join(User)
                 .where(Decision.case_id == case_id).order_by(Decision.id))
            return [self._decision_record(d, held, by) for d, held, by in s.execute(q)]

    # ---- clinical review of knowledge-base rows (issue 17) -------------------------------------
    def _review_problems(self, row: Any, status: Any, comment: Any) -> tuple[list[Problem], str | None]:
        """Every problem of a review mark (row, status, comment), and the comment as kept."""
        problems: list[Problem] = []
        rows = self.knowledge.rows
        if not isinstance(row, str) or row not in rows:
            import difflib

            close = difflib.get_close_matches(str(row), list(rows), n=3)
            problems.append(Problem("row", f"no row {row!r} in the knowledge base",
                                    ", ".join(close) if close else "a row id from `mcrc kb` or GET /api/v1/kb"))
        if status not in REVIEW_MARKS:
            problems.append(Problem("status", f"{status!r} is not a review status", ", ".join(REVIEW_MARKS)))
        kept: str | None = None
        if comment is not None and not isinstance(comment, str):
            problems.append(Problem("comment", "must be text"))
        elif isinstance(comment, str) and comment.strip():
            kept = comment.strip()
            if len(kept) > MAX_COMMENT:
                problems.append(Problem("comment", f"is {len(kept):,} characters; at most {MAX_COMMENT:,}"))
            elif re.search(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]", kept):
                problems.append(Problem("comment", "contains a control character (only tab and line breaks are kept)"))
        if status == "concern" and kept is None and not any(p.where == "comment" for p in problems):
            problems.append(Problem("comment", "is required with a concern: say what may be wrong with the row"))
        return problems, kept

    def mark_row(self, row: str, status: str, user: str, comment: str | None = None) -> ReviewRecord:
        """A clinician marks a knowledge-base row `reviewed`, or raises a `concern` (comment required), against the
        row's current version and the knowledge base's. Audited (`review.create`); StoreForbidden for any other role,
        StoreInvalid (nothing written) for an unknown row, status or a bad comment."""
        kb = self.knowledge

        def work(s: Session, chain: _Chain) -> ReviewRecord:
            u = self._user(s, user)
            self._allow(u, "review_row", f"row {row!r} of the knowledge base")
            problems, kept = self._review_problems(row, status, comment)
            if problems:
                raise StoreInvalid(problems)
            m = RowReviewMark(row_id=row, row_version=kb.rows[row].version, kb_version=kb.version, status=status,
                              comment=kept, user_id=u.id, role=u.role, created_at=_now())
            s.add(m)
            s.flush()
            self._checkpoint("entity_written")
            chain.append(u, "review.create", "review", m.id, None, _review_state(m))
            return self._review_record(m, u.name)

        try:
            return self._write(work)
        finally:
            with self._book_lock:
                self._book = None  # the next answer reads the marks again

    @staticmethod
    def _review_record(m: RowReviewMark, by: str) -> ReviewRecord:
        created = audit.utc_text(m.created_at)
        return ReviewRecord(id=m.id, row=m.row_id, status=m.status, comment=m.comment, reviewer=by, role=m.role,
                            date=created[:10], created_at=created, kb_version=m.kb_version, row_version=m.row_version)

    def _review_records(self, s: Session, row: str | None = None) -> list[ReviewRecord]:
        q = select(RowReviewMark, User.name).join(User, User.id == RowReviewMark.user_id).order_by(RowReviewMark.id)
        if row is not None:
            q = q.where(RowReviewMark.row_id == row)
        return [self._review_record(m, name) for m, name in s.execute(q)]

    def reviews(self, user: str | None = None, row: str | None = None) -> list[ReviewRecord]:
        """The review marks made in the app, oldest first (of one row, or all). With `user`, as that user (any
        role may read them); without, as the system (the command line: whoever can open the database)."""
        with self._read() as s:
            if user is not None:
                self._allow(self._user(s, user), "read_reviews", "review marks")
            return self._review_records(s, row)

    def review_book(self, fresh: bool = False) -> ReviewBook:
        """The review status of every row: the knowledge base's review file and the marks made in the app.

        Built again only when marks were added (their count and last id change: marks are never changed or
        deleted); the store is asked at most every `review_cache_seconds` unless `fresh`. When the store cannot
        be read, the knowledge file's statuses are returned (`sources` then says so: the answer shows it) and the
        store is asked again after `review_cache_seconds`."""
        kb = self.knowledge
        now = time.monotonic()
        with self._book_lock:
            kept = self._book
        if kept is not None and kept[1].kb_version == kb.version and not fresh \
                and now - kept[2] < self.review_cache_seconds:
            return kept[1]
        try:
            with self._read() as s:
                state = tuple(s.execute(select(func.count(), func.max(RowReviewMark.id))).one())
                if kept is not None and kept[0] == state and kept[1].kb_version == kb.version:
                    book = kept[1]
                else:
                    marks = [r.entry() for r in self._review_records(s)]
                    book = build_book(kb.version, kb.row_versions(), [*kb.review_book.entries, *marks],
                                      sources=("knowledge", "store"))
        except SQLAlchemyError as exc:
            state, book = None, kb.review_book
            if self._has_review_table():
                log.warning("review marks of the case store could not be read (%s); answers show the knowledge "
                            "base's review file only", type(exc).__name__)
            else:  # a store before schema 0006 holds no marks (a server refuses it; a migration may still assess)
                log.debug("the case store has no review marks table (schema before 0006)")
        with self._book_lock:
            self._book = (state, book, now)
        return book

    def _has_review_table(self) -> bool:
        """Whether the store's schema has the review marks (True when that cannot be told: the store is down)."""
        try:
            with self.engine.connect() as conn:
                return inspect(conn).has_table(RowReviewMark.__tablename__)
        except SQLAlchemyError:
            return True

    # ---- audit --------------------------------------------------------------------------------
    def audit_entries(self, user: str) -> list[AuditEntry]:
        with self._read() as s:
            u = self._user(s, user)
            self._allow(u, "read_audit", "the audit log")
            return list(s.execute(select(AuditEntry).order_by(AuditEntry.seq)).scalars())

    def export_audit_fhir(self, user: str) -> dict[str, Any]:
        """The audit log as a FHIR R4 Bundle (type collection) of AuditEvent resources."""
        return audit.audit_bundle(self.audit_entries(user))

    def audit_head(self) -> HeadRecord:
        """The head of the audit chain, to keep outside the database: a later check against it finds a log that
        was truncated, rolled back or rewritten up to it, which the database alone cannot show."""
        with self._read() as s:
            head = s.get(AuditHead, 1)
            if head is None:
                return HeadRecord(0, GENESIS_HASH, None, False)
            if head.seq == 0:  # an empty log
                return HeadRecord(0, head.entry_hash, None, head.entry_hash == GENESIS_HASH)
            entry = s.get(AuditEntry, head.seq)
            if entry is None or entry.entry_hash != head.entry_hash:
                return HeadRecord(head.seq, head.entry_hash, None, False)
            return HeadRecord(head.seq, head.entry_hash, audit.utc_text(entry.recorded), True)

    @contextmanager
    def _snapshot(self) -> Iterator[Session]:
        """One consistent view of every table for a check that reads several (a writer committing in between
        would look like a row written around the store). SQLite's read transaction already is one."""
        engine = self.engine
        if self.backend == "postgresql":
            engine = engine.execution_options(isolation_level="REPEATABLE READ")
        with Session(engine) as s, s.begin():
            yield s

    @staticmethod
    def _records(s: Session) -> Iterator[tuple[str, str, dict[str, Any], str | None]]:
        """(kind, id, state, content problem or None) of every row the audit log vouches for. The content hash
        of a case or an assessment is recomputed from its stored JSON (canonical JSON: PostgreSQL's JSONB
        reorders keys, which the sorted canonical form does not see)."""
        def stream(q):
            return s.execute(q.execution_options(yield_per=200)).scalars()

        for u in stream(select(User)):
            yield "user", str(u.id), _user_state(u), None
        for t in stream(select(ApiToken)):
            yield "token", str(t.id), _token_state(t), None
        for c in stream(select(Case)):
            edited = audit.sha256(c.patient) != c.content_hash
            yield ("case", str(c.id), _case_state(c),
                   "its patient JSON does not match its content hash" if edited else None)
        for a in stream(select(AssessmentRow)):
            edited = audit.sha256(a.assessment) != a.content_hash
            yield ("assessment", str(a.id), _assessment_state(a),
                   "its stored assessment JSON does not match its content hash" if edited else None)
        q = select(Decision, MdtMeeting.held_on).outerjoin(MdtMeeting, MdtMeeting.id == Decision.meeting_id)
        for d, held_on in s.execute(q.execution_options(yield_per=200)):
            yield "decision", str(d.id), _decision_state(d, held_on), None
        if inspect(s.connection()).has_table(RowReviewMark.__tablename__):  # schema 0006 on
            for m in stream(select(RowReviewMark)):
                yield "review", str(m.id), _review_state(m), None
        if inspect(s.connection()).has_table(CaseExtraction.__tablename__):  # schema 0007 on
            for x in stream(select(CaseExtraction)):
                yield "extraction", str(x.id), _extraction_state(x), None

    def verify_chain(self, anchors: Iterable[audit.Anchor] = ()) -> ChainReport:
        """Check the log against itself and the records against the log; report every contradiction.

        The log: consecutive sequence numbers, each entry's hash over its content and its predecessor's hash,
        the head row naming the last entry, and each anchored head (kept outside the database) present with
        its hash. The records: every user, token, case, assessment and decision has an entry; a case's or an
        assessment's stored JSON matches its content hash; each record's state is the one its last entry
        recorded; the state an entry started from is the one the entity's previous entry left; and a record
        with entries still has its row. It cannot see what is consistent inside the database (the chain has no
        key): entries appended, or removed at the end with the head set back, or everything recomputed. Heads
        kept elsewhere (`anchors`) find the removed and the recomputed up to the last one kept."""
        found: list[Finding] = []
        anchored: dict[int, list[audit.Anchor]] = {}
        for a in anchors:
            anchored.setdefault(a.seq, []).append(a)
        n_anchors = sum(map(len, anchored.values()))
        with self._snapshot() as s:
            # Users and decisions changed shape in schema 0004, whose migration re-baselined each of them (from the
            # state the old entry vouched for, to the new shape) after a `schema.upgrade` entry: their entries
            # before it are not compared with one another, only through the re-baselining.
            reshaped = s.execute(select(func.max(AuditEntry.seq))
                                 .where(AuditEntry.entity == SCHEMA_ENTITY)).scalar_one_or_none() or 0
            prev, seq, count = GENESIS_HASH, 0, 0
            last: dict[tuple[str, str], tuple[int, str | None]] = {}  # entity -> (seq, after hash) of its last entry
            self._check_anchors(found, anchored.pop(0, []), 0, GENESIS_HASH)
            q = select(AuditEntry).order_by(AuditEntry.seq).execution_options(yield_per=1000)
            for e in s.execute(q).scalars():
                count += 1
                if e.seq != seq + 1:
                    missing = f"entry {seq + 1} is" if e.seq == seq + 2 else f"entries {seq + 1} to {e.seq - 1} are"
                    found.append(Finding(e.seq, "audit", str(e.seq), "gap", f"{missing} missing (deleted)"))
                elif e.prev_hash != prev:
                    found.append(Finding(e.seq, "audit", str(e.seq), "link",
                                         f"its prev_hash is not the hash of entry {seq} (the log was rewritten)"))
                recomputed = audit.entry_hash(
                    seq=e.seq, recorded=e.recorded, user_name=e.user_name, user_role=e.user_role, action=e.action,
                    entity=e.entity, entity_id=e.entity_id, before_hash=e.before_hash, after_hash=e.after_hash,
                    prev_hash=e.prev_hash)
                if recomputed != e.entry_hash:
                    found.append(Finding(e.seq, "audit", str(e.seq), "altered", "its hash does not match its "
                                         "content (user, role, time, action, entity or a state hash was edited)"))
                key = (e.entity, e.entity_id)
                before = last.get(key)
                if (before is not None and e.before_hash is not None and e.before_hash != before[1]
                        and e.entity in _KINDS and (e.seq > reshaped or e.entity not in _RESHAPED)):
                    found.append(Finding(e.seq, e.entity, e.entity_id, "between",
                                         f"changed behind the log's back between entry {before[0]} and this one "
                                         f"(the state this entry started from is not the one entry {before[0]} left)"))
                last[key] = (e.seq, e.after_hash)
                self._check_anchors(found, anchored.pop(e.seq, []), e.seq, e.entry_hash)
                prev, seq = e.entry_hash, e.seq
            for at in sorted(anchored):
                for a in anchored[at]:
                    gone = ("is missing (deleted)" if at < seq else f"is beyond the end of the log (entry {seq}): "
                            "the log was truncated or its head rolled back")
                    found.append(Finding(at, "anchor", a.where, "anchor",
                                         f"entry {at}, anchored at {a.recorded}, {gone}"))
            head = s.get(AuditHead, 1)
            if head is None:
                found.append(Finding(seq, "audit_head", "1", "head", "the head row is missing"))
            elif head.seq != seq or head.entry_hash != prev:
                found.append(Finding(head.seq, "audit_head", "1", "head",
                                     f"names entry {head.seq} ({head.entry_hash[:12]}) but the log ends at entry "
                                     f"{seq} ({prev[:12]}): entries removed at the end, or the head altered"))
            seen = set()
            for kind, obj_id, state, content in self._records(s):
                seen.add((kind, obj_id))
                entry = last.get((kind, obj_id))
                if entry is None:
                    found.append(Finding(None, kind, obj_id, "unaudited",
                                         "has no audit entry (written around the store)"))
                    continue
                if content is not None:
                    found.append(Finding(entry[0], kind, obj_id, "content",
                                         f"{content} (edited behind the log's back)"))
                if entry[1] != audit.sha256(state):
                    found.append(Finding(entry[0], kind, obj_id, "changed",
                                         "is not in the state its last audit entry recorded (changed behind the "
                                         "log's back)"))
            for (kind, obj_id), (at, _) in last.items():
                if kind in _KINDS and (kind, obj_id) not in seen:
                    found.append(Finding(at, kind, obj_id, "gone", f"has audit entries but no row: the store never "
                                                                   f"deletes a {kind} (deleted behind its back)"))
        found.sort(key=lambda f: (f.seq is None, f.seq or 0))
        return ChainReport(entries=count, findings=found, anchors=n_anchors)

    @staticmethod
    def _check_anchors(found: list[Finding], anchors: list[audit.Anchor], seq: int, entry_hash: str) -> None:
        for a in anchors:
            if a.entry_hash != entry_hash:
                found.append(Finding(seq, "anchor", a.where, "anchor",
                                     f"entry {seq} is not the entry anchored at {a.recorded} (another hash: the log "
                                     "was rewritten from here on)"))

    def tables(self) -> list[str]:
        return sorted(inspect(self.engine).get_table_names())

    def ping(self) -> None:
        with self.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
