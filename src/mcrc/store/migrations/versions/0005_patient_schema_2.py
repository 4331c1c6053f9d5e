"""Patient schema 2 (issue 16): stored schema-1 patients rewritten as schema 2, each rewrite audited.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-07

Every case whose patient JSON is schema 1 (`mcrc.patient.is_v1`) is read through `upgrade_v1`, validated by the
Patient model and stored as its dump, exactly as `Store._validate` stores a patient; its content hash is
recomputed and its `schema_version` column set to "2". The rewrite is a new version of the case (the 0004 guard
allows a case only its next version, and the stored document did change: the assessments of the old version
assessed the schema-1 document, and keep their input hash). Each rewrite appends a `case.upgrade` entry (by
"mcrc db upgrade", role "system") whose before-state is the case as found, with the content hash recomputed from
its stored JSON (a change made behind the log's back shows as a break at this entry, as with `case.update`), and
whose after-state is the new version. The states are written out here, not imported, like 0004's.

Left at schema 1, each with the reason in the migration's output (warnings of the `mcrc.store.migrations`
logger; on standard error when nothing else handles them): a case whose upgraded patient does not validate (its
`case.upgrade_refused` entry records that it was examined and left as it was: before- and after-state are its
current state; correct it with `mcrc case update`, which stores schema 2); a deleted case (the guard refuses any
change to it: it is history, like an assessment); and a case without any audit entry (the migration does not
vouch for a row written around the store; verify-chain keeps reporting it). Readers of the store accept both
schemas (the Patient model upgrades schema 1 on input).

Downgrade: schema 2 cannot be written back as schema 1 without loss (intent, best response and stop reason,
drugs without a regimen, cycles, radiotherapy kinds), and the schema-1 documents are not kept. The downgrade is
refused if this migration ever rewrote a case (its `case.upgrade` entries say so; restore the backup taken before
the upgrade instead); otherwise there is nothing to undo and the audit entries stay (the log is append-only).
Decision record 0026.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from mcrc.errors import InputError
from mcrc.patient import is_v1, parse_patient, upgrade_v1
from mcrc.store import audit  # the chain's hash functions: fixed, or no existing chain would verify
from mcrc.store.errors import StoreError

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

ACTOR, ACTOR_ROLE = "mcrc db upgrade", "system"
UPGRADED, REFUSED = "case.upgrade", "case.upgrade_refused"
BATCH = 500
log = logging.getLogger("mcrc.store.migrations")


def _json():
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _stamp():
    return sa.DateTime(timezone=True)


cases = sa.table("cases", sa.column("id", sa.Integer), sa.column("label", sa.String), sa.column("patient", _json()),
                 sa.column("schema_version", sa.String), sa.column("content_hash", sa.String),
                 sa.column("version", sa.Integer), sa.column("deleted", sa.Boolean),
                 sa.column("updated_at", _stamp()))
audit_log = sa.table(
    "audit_log", sa.column("seq", sa.Integer), sa.column("recorded", _stamp()), sa.column("user_name", sa.String),
    sa.column("user_role", sa.String), sa.column("action", sa.String), sa.column("entity", sa.String),
    sa.column("entity_id", sa.String), sa.column("before_hash", sa.String), sa.column("after_hash", sa.String),
    sa.column("prev_hash", sa.String), sa.column("entry_hash", sa.String))
head = sa.table("audit_head", sa.column("id", sa.Integer), sa.column("seq", sa.Integer),
                sa.column("entry_hash", sa.String))


def _case_state(case_id: int, version: int, deleted: bool, content_hash: str, schema_version: str,
                label: str | None) -> dict[str, Any]:
    """What a case entry vouches for (the shape of `mcrc.store.api._case_state` at this revision)."""
    return {"id": case_id, "version": version, "deleted": deleted, "content_hash": content_hash,
            "schema_version": schema_version, "label": label}


def _schema_2(patient: dict[str, Any]) -> tuple[dict[str, Any] | None, list[str]]:
    """The patient as schema 2, as the store keeps it; or None and every problem of the upgraded document."""
    try:
        p = parse_patient(upgrade_v1(patient))
    except InputError as exc:
        return None, [str(problem) for problem in exc.problems]
    return p.model_dump(mode="json", exclude_none=True), []


def upgrade() -> None:
    conn = op.get_bind()
    # The head first: every writer of the store takes it, so no case changes under the migration from here on.
    top = conn.execute(sa.select(head.c.seq, head.c.entry_hash).where(head.c.id == 1).with_for_update()).one()
    chain = {"seq": top.seq, "hash": top.entry_hash}
    q = sa.select(audit_log.c.entity_id).where(audit_log.c.entity == "case").distinct()
    audited = set(conn.execute(q).scalars())
    now = dt.datetime.now(dt.UTC)

    def append(action: str, case_id: int, before: dict[str, Any], after: dict[str, Any]) -> None:
        fields = dict(seq=chain["seq"] + 1, recorded=now, user_name=ACTOR, user_role=ACTOR_ROLE, action=action,
                      entity="case", entity_id=str(case_id), before_hash=audit.sha256(before),
                      after_hash=audit.sha256(after), prev_hash=chain["hash"])
        entry = audit.entry_hash(**fields)
        conn.execute(audit_log.insert().values(**fields, entry_hash=entry))
        chain.update(seq=fields["seq"], hash=entry)

    upgraded, refused, deleted, unaudited = 0, [], [], []
    after_id = 0
    while rows := conn.execute(sa.select(cases).where(cases.c.id > after_id).order_by(cases.c.id)
                               .limit(BATCH)).all():
        after_id = rows[-1].id
        for c in rows:
            if not isinstance(c.patient, dict) or not is_v1(c.patient):
                continue
            if c.deleted:
                deleted.append(c.id)
                continue
            if str(c.id) not in audited:
                unaudited.append(c.id)
                continue
            found = _case_state(c.id, c.version, c.deleted, audit.sha256(c.patient), c.schema_version, c.label)
            data, problems = _schema_2(c.patient)
            if data is None:
                append(REFUSED, c.id, found,
                       _case_state(c.id, c.version, c.deleted, c.content_hash, c.schema_version, c.label))
                refused.append((c.id, problems))
                continue
            digest = audit.sha256(data)
            conn.execute(cases.update().where(cases.c.id == c.id).values(
                patient=data, content_hash=digest, schema_version=data["schema_version"], version=c.version + 1,
                updated_at=now))
            append(UPGRADED, c.id, found,
                   _case_state(c.id, c.version + 1, False, digest, data["schema_version"], c.label))
            upgraded += 1
    if chain["seq"] != top.seq:
        conn.execute(head.update().where(head.c.id == 1).values(seq=chain["seq"], entry_hash=chain["hash"]))
    _report(upgraded, refused, deleted, unaudited)


def _report(upgraded: int, refused: list[tuple[int, list[str]]], deleted: list[int], unaudited: list[int]) -> None:
    log.info("migration 0005: %d case(s) rewritten from patient schema 1 to schema 2", upgraded)
    for case_id, problems in refused:
        log.warning("migration 0005: case %d left at patient schema 1: its upgraded patient is not valid (%s); "
                    "correct it with `mcrc case update` (stored as schema 2)", case_id, "; ".join(problems))
    if deleted:
        log.info("migration 0005: deleted case(s) %s kept at patient schema 1 (never changed once deleted)",
                 ", ".join(map(str, deleted)))
    if unaudited:
        log.warning("migration 0005: case(s) %s left at patient schema 1: no audit entry vouches for them (written "
                    "around the store; see `mcrc audit verify-chain`)", ", ".join(map(str, unaudited)))


def downgrade() -> None:
    q = sa.select(audit_log.c.entity_id).where(audit_log.c.action == UPGRADED).distinct()
    rewritten = sorted(int(i) for i in op.get_bind().execute(q).scalars())
    if rewritten:
        more = f" and {len(rewritten) - 20} more" if len(rewritten) > 20 else ""
        shown = ", ".join(map(str, rewritten[:20])) + more
        raise StoreError(
            f"refused: migration 0005 rewrote {len(rewritten)} case(s) from patient schema 1 to schema 2 (case "
            f"{shown}) and schema 2 cannot be written back as schema 1 without loss (intent, best response and stop "
            "reason, drugs without a regimen, radiotherapy); restore the backup taken before `mcrc db upgrade`. "
            "Nothing was changed.")
