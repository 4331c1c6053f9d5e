"""Audit chain coverage: user entries record the role, deactivation and sign-out; decision entries the meeting date.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-07

From this revision every user entry records one state (id, name, role, deactivated, sessions ended) and every
decision entry the date of its meeting. A hash chain cannot be rewritten, so the entries written before keep
their old shapes. If the log has entries, this migration appends a `schema.upgrade` entry, then one
`user.rebaseline` per audited user and one `decision.rebaseline` per audited decision (by "mcrc db upgrade",
role "system"). A re-baselining entry's before-hash is the state that the entity's last entry vouched for, in
that entry's shape, taken from the row as it is now: a row changed behind the log's back before the upgrade
does not match it, and verify-chain reports the break at the re-baselining entry. Its after-hash is the state
in the new shape, which later entries continue from. What an old shape did not record (the role after a
`user.sign_out` entry, the meeting date of a decision) is taken as found: the chain vouches for it from here
on, not before. Rows without any entry get none; verify-chain keeps reporting them.

The shapes are written out here, not imported, so that this migration keeps doing what it did when the store's
code moves on. Downgrade keeps the entries (the log is append-only); the 0003 code's verify-chain would report
decisions whose last entry has the new shape.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from mcrc.store import audit  # the chain's hash functions: fixed, or no existing chain would verify

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

ACTOR, ACTOR_ROLE = "mcrc db upgrade", "system"


def _json():
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _stamp():
    return sa.DateTime(timezone=True)


users = sa.table("users", sa.column("id", sa.Integer), sa.column("name", sa.String), sa.column("role", sa.String),
                 sa.column("deactivated_at", _stamp()), sa.column("sessions_ended_at", _stamp()))
meetings = sa.table("mdt_meetings", sa.column("id", sa.Integer), sa.column("held_on", sa.Date))
decisions = sa.table(
    "decisions", sa.column("id", sa.Integer), sa.column("case_id", sa.Integer), sa.column("assessment_id", sa.Integer),
    sa.column("meeting_id", sa.Integer), sa.column("strategy_codes", _json()), sa.column("rationale", sa.Text),
    sa.column("concordant", sa.Boolean), sa.column("deviation_code", sa.String), sa.column("deviation_text", sa.Text),
    sa.column("participants", _json()), sa.column("decided_by", sa.Integer))
log = sa.table(
    "audit_log", sa.column("seq", sa.Integer), sa.column("recorded", _stamp()), sa.column("user_name", sa.String),
    sa.column("user_role", sa.String), sa.column("action", sa.String), sa.column("entity", sa.String),
    sa.column("entity_id", sa.String), sa.column("before_hash", sa.String), sa.column("after_hash", sa.String),
    sa.column("prev_hash", sa.String), sa.column("entry_hash", sa.String))
head = sa.table("audit_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer),
                sa.column("entry_hash", sa.String))


def _user_0004(u) -> dict[str, Any]:
    return {"id": u.id, "name": u.name, "role": u.role, "deactivated": u.deactivated_at is not None,
            "sessions_ended": audit.utc_text(u.sessions_ended_at) if u.sessions_ended_at else None}


def _user_0003(u, action: str) -> dict[str, Any] | None:
    """What a 0003 entry of this action recorded, if the row still agrees with what the action implies."""
    deactivated, signed_out = u.deactivated_at is not None, u.sessions_ended_at is not None
    if action == "user.create" and not deactivated and not signed_out:
        return {"id": u.id, "name": u.name, "role": u.role}
    if action == "user.deactivate" and deactivated:
        return {"id": u.id, "name": u.name, "role": u.role, "deactivated": True}
    if action == "user.sign_out" and signed_out and not deactivated:
        return {"id": u.id, "name": u.name}
    return None


def _decision_0003(d) -> dict[str, Any]:
    return {"id": d.id, "case_id": d.case_id, "assessment_id": d.assessment_id, "meeting_id": d.meeting_id,
            "strategy_codes": list(d.strategy_codes), "rationale": d.rationale, "concordant": d.concordant,
            "deviation_code": d.deviation_code, "deviation_text": d.deviation_text,
            "participants": d.participants, "decided_by": d.decided_by}


def _decision_0004(d) -> dict[str, Any]:
    state = _decision_0003(d)
    state["meeting_date"] = d.held_on.isoformat() if d.held_on else None
    return state


def _rebaseline(conn) -> None:
    top = conn.execute(sa.select(head.c.seq, head.c.entry_hash).where(head.c.id == 1).with_for_update()).one()
    if top.seq == 0:
        return  # an empty log: nothing was recorded in the old shapes
    last: dict[tuple[str, str], tuple[str, str | None]] = {}  # (entity, id) -> (action, after hash) of its last entry
    q = sa.select(log.c.entity, log.c.entity_id, log.c.action, log.c.after_hash).order_by(log.c.seq)
    for e in conn.execute(q.where(log.c.entity.in_(("user", "decision")))):
        last[(e.entity, e.entity_id)] = (e.action, e.after_hash)
    chain = {"seq": top.seq, "hash": top.entry_hash}
    now = dt.datetime.now(dt.UTC)

    def append(action: str, entity: str, entity_id: str, before: str | None, after: str) -> None:
        fields = dict(seq=chain["seq"] + 1, recorded=now, user_name=ACTOR, user_role=ACTOR_ROLE, action=action,
                      entity=entity, entity_id=entity_id, before_hash=before, after_hash=after, prev_hash=chain["hash"])
        entry = audit.entry_hash(**fields)
        conn.execute(log.insert().values(**fields, entry_hash=entry))
        chain.update(seq=fields["seq"], hash=entry)

    def rebaseline(entity: str, row_id: int, old: dict[str, Any] | None, new: dict[str, Any]) -> None:
        vouched = last[(entity, str(row_id))][1]
        candidates = [audit.sha256(s) for s in (old, new) if s is not None]
        before = vouched if vouched in candidates else candidates[-1]  # no match: the break stays visible
        append(f"{entity}.rebaseline", entity, str(row_id), before, audit.sha256(new))

    append("schema.upgrade", "schema", revision, None, audit.sha256({"revision": revision,
                                                                     "rebaselined": ["user", "decision"]}))
    for u in conn.execute(sa.select(users).order_by(users.c.id)):
        if ("user", str(u.id)) in last:
            rebaseline("user", u.id, _user_0003(u, last[("user", str(u.id))][0]), _user_0004(u))
    joined = decisions.outerjoin(meetings, meetings.c.id == decisions.c.meeting_id)
    q = sa.select(decisions, meetings.c.held_on).select_from(joined).order_by(decisions.c.id)
    for d in conn.execute(q):
        if ("decision", str(d.id)) in last:
            rebaseline("decision", d.id, _decision_0003(d), _decision_0004(d))
    conn.execute(head.update().where(head.c.id == 1).values(seq=chain["seq"], entry_hash=chain["hash"]))


def upgrade() -> None:
    _rebaseline(op.get_bind())


def downgrade() -> None:
    pass  # the re-baselining entries stay: the audit log is append-only
