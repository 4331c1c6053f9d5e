"""Which fields of a case came from report text, and who confirmed them (issue 22 item 2), audited and guarded.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-10

A case version saved from a draft that extraction filled (the web page's "paste reports" panel) gets one row of
`case_extractions`: the case and its version, the documents read (name and type, not their text), one entry per
field the draft filled or left in conflict (the field's path, the value saved, whether it was saved as extracted or
changed by the clinician, and the document, character span, sentence and confidence it was read from), the
confirming user and the time. The row is written in the transaction of the case version, with its
`extraction.confirm` audit entry (that user, that time); verify-chain compares every row with its entry like any
other record. Rows are written once: triggers refuse UPDATE and DELETE on both backends, and TRUNCATE on
PostgreSQL (with the `mcrc_refuse` function of 0004). No existing entry changes shape, so no `schema.upgrade`
entry is written. Decision record 0046.

Downgrade drops the table, which would lose the records: it is refused while the table holds any (restore the
backup taken before the upgrade instead); their audit entries would stay either way (the log is append-only).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

from mcrc.store.errors import StoreError

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

TABLE = "case_extractions"
GUARDS = ((f"{TABLE}_no_update", "UPDATE", f"{TABLE}: never changed (a new version has its own record)"),
          (f"{TABLE}_no_delete", "DELETE", f"{TABLE}: never deleted"))


def _json():
    return sa.JSON().with_variant(JSONB(), "postgresql")


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("case_version", sa.Integer, nullable=False),
        sa.Column("documents", _json(), nullable=False),
        sa.Column("fields", _json(), nullable=False),
        sa.Column("confirmed_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_index("ix_case_extractions_case_id", TABLE, ["case_id"])
    pg = op.get_bind().dialect.name == "postgresql"
    for name, event, message in GUARDS:
        if pg:
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {TABLE} FOR EACH ROW "
                       f"EXECUTE FUNCTION mcrc_refuse('{message}')")
        else:
            op.execute(f"CREATE TRIGGER {name} BEFORE {event} ON {TABLE} FOR EACH ROW "
                       f"BEGIN SELECT RAISE(ABORT, 'refused: {message}'); END")
    if pg:
        op.execute(f"CREATE TRIGGER {TABLE}_no_truncate BEFORE TRUNCATE ON {TABLE} FOR EACH STATEMENT "
                   f"EXECUTE FUNCTION mcrc_refuse('{TABLE}: never truncated')")


def downgrade() -> None:
    rows = op.get_bind().execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar_one()
    if rows:
        raise StoreError(
            f"refused: the store holds {rows} record(s) of fields that came from report text, which a downgrade "
            "below 0007 would delete; restore the backup taken before the upgrade instead. Nothing was changed.")
    pg = op.get_bind().dialect.name == "postgresql"
    names = [name for name, _, _ in GUARDS] + ([f"{TABLE}_no_truncate"] if pg else [])
    for name in names:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}" if pg else f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_case_extractions_case_id", table_name=TABLE)
    op.drop_table(TABLE)
