"""The audit chain as the store reads it: its entries, its head, and the check of log and records against each other."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, inspect, select
from sqlalchemy.orm import Session

from mcrc.store import audit
from mcrc.store.base import StoreBase
from mcrc.store.models import (
    GENESIS_HASH,
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
from mcrc.store.states import (
    _assessment_state,
    _case_state,
    _decision_state,
    _extraction_state,
    _review_state,
    _token_state,
    _user_state,
)

# Kinds of record the audit log vouches for, and those whose entries changed shape in schema 0004 (entries before the
# last `schema.upgrade` entry are not compared with the shape of the entries after it; see verify_chain).
_KINDS = ("user", "token", "case", "assessment", "decision", "review", "extraction")
_RESHAPED = frozenset({"user", "decision"})
SCHEMA_ENTITY = "schema"  # entries the migrations write (`schema.upgrade`), not about any record


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


class AuditChainMixin(StoreBase):
    """The audit log: read it (also as FHIR AuditEvents), its head to keep elsewhere, and verify_chain."""

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
