"""Audit chain coverage (user entries record the role, deactivation and sign-out; decision entries the meeting
date) and database guards against changes the store never makes.

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

The guards are triggers, on both backends, that refuse what the store itself never does: deleting a case, an
assessment, a decision, a meeting, a user or a token (deletes are soft; users are deactivated, tokens revoked);
changing an assessment, a decision or a meeting (written once); changing a case other than as its next version,
or at all once deleted; changing a user's name or role, or undoing a deactivation; changing a token other than
revoking it once; moving the audit head back, adding or removing its row; on PostgreSQL also TRUNCATE of every
table (row triggers do not see it), the audit log included. The owner of the database can still drop or disable
them; verify-chain is what finds that. A future SQLite migration that copies a table ("batch" mode) drops its
triggers with it and must create them again.

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


def _guards(pg: bool) -> list[tuple[str, str, str, str | None, str]]:
    """(trigger, table, event, condition on NEW/OLD or None for always, message) of every guard."""
    differs = "IS DISTINCT FROM" if pg else "IS NOT"

    def changed(*columns: str) -> str:
        return " OR ".join(f"NEW.{c} {differs} OLD.{c}" for c in columns)

    guards = [(f"{table}_no_{event.lower()}", table, event, None, f"{table}: {why}")
              for table, event, why in (
                  ("cases", "DELETE", "never deleted (deletes are soft)"),
                  ("assessments", "UPDATE", "never changed (a re-assessment is a new row)"),
                  ("assessments", "DELETE", "never deleted"),
                  ("decisions", "UPDATE", "never changed once recorded"),
                  ("decisions", "DELETE", "never deleted"),
                  ("mdt_meetings", "UPDATE", "never changed (decisions name their date)"),
                  ("mdt_meetings", "DELETE", "never deleted"),
                  ("users", "DELETE", "never deleted (users are deactivated)"),
                  ("api_tokens", "DELETE", "never deleted (tokens are revoked)"),
                  ("audit_head", "INSERT", "one row, made by the first migration"),
                  ("audit_head", "DELETE", "one row, never deleted"))]
    return [*guards,
            ("cases_next_version", "cases", "UPDATE",
             f"OLD.deleted OR (NEW.version {differs} OLD.version + 1) OR {changed('id', 'created_by', 'created_at')}",
             "cases: a change is the next version, never of a deleted case, never of its id, author or creation"),
            ("users_fixed", "users", "UPDATE",
             f"{changed('id', 'name', 'role', 'created_at')} OR (OLD.deactivated_at IS NOT NULL AND "
             f"({changed('deactivated_at')}))",
             "users: a name or role never changes and a deactivation is final"),
            ("api_tokens_revoke_only", "api_tokens", "UPDATE",
             f"{changed('id', 'digest', 'user_id', 'label', 'created_at')} OR (OLD.revoked_at IS NOT NULL AND "
             f"({changed('revoked_at')}))",
             "api_tokens: a token is only ever revoked, once"),
            ("audit_head_forward", "audit_head", "UPDATE", f"NEW.seq <= OLD.seq OR {changed('id')}",
             "audit_head: only moves forward")]


TRUNCATE_GUARDED = ("cases", "assessments", "decisions", "mdt_meetings", "users", "api_tokens", "audit_head",
                    "audit_log")


def _create_guards() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    if pg:
        op.execute("""
            CREATE FUNCTION mcrc_refuse() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'refused: %', TG_ARGV[0]; END $$""")
    for name, table, event, condition, message in _guards(pg):
        when = f"WHEN ({condition})" if condition else ""
        quoted = message.replace("'", "''")
        if pg:
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW {when} "
                       f"EXECUTE FUNCTION mcrc_refuse('{quoted}')")
        else:
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {table} FOR EACH ROW {when} "
                       f"BEGIN SELECT RAISE(ABORT, 'refused: {quoted}'); END")
    if pg:
        for table in TRUNCATE_GUARDED:
            op.execute(f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} FOR EACH STATEMENT "
                       f"EXECUTE FUNCTION mcrc_refuse('{table}: never truncated')")


def _drop_guards() -> None:
    pg = op.get_bind().dialect.name == "postgresql"
    for name, table, *_ in _guards(pg):
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {table}" if pg else f"DROP TRIGGER IF EXISTS {name}")
    if pg:
        for table in TRUNCATE_GUARDED:
            op.execute(f"DROP TRIGGER IF EXISTS {table}_no_truncate ON {table}")
        op.execute("DROP FUNCTION IF EXISTS mcrc_refuse()")


def upgrade() -> None:
    _rebaseline(op.get_bind())
    _create_guards()


def downgrade() -> None:
    _drop_guards()  # the re-baselining entries stay: the audit log is append-only
