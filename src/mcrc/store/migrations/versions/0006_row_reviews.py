"""Clinical review marks of knowledge-base rows (issue 17), audited and guarded like every record.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-08

A clinician signed in to the app marks a row of the knowledge base reviewed, or raises a concern with a comment.
Each mark is a row of `row_reviews` (row id, the row's version and the knowledge base's version it was made
against, status, comment, user, role, time) written together with its `review.create` audit entry; `verify-chain`
compares every mark with its entry like any other record. Marks are written once: triggers refuse UPDATE and
DELETE on both backends, and TRUNCATE on PostgreSQL (with the `mcrc_refuse` function of 0004). No existing entry
changes shape, so no `schema.upgrade` entry is written.

Downgrade drops the table, which would lose the marks: it is refused while the table holds any (export them with
`mcrc kb reviews export` and merge them into the knowledge base, or restore a backup); their audit entries would
stay either way (the log is append-only), and verify-chain would then report those marks as gone.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from mcrc.store.errors import StoreError

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

TABLE = "row_reviews"
GUARDS = ((f"{TABLE}_no_update", "UPDATE", f"{TABLE}: never changed (a new review is a new mark)"),
          (f"{TABLE}_no_delete", "DELETE", f"{TABLE}: never deleted"))


def upgrade() -> None:
    op.create_table(
        TABLE,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("row_id", sa.String(128), nullable=False),
        sa.Column("row_version", sa.String(32), nullable=False),
        sa.Column("kb_version", sa.String(64), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("comment", sa.Text, nullable=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("status IN ('reviewed', 'concern')", name="ck_row_reviews_status"),
        sa.CheckConstraint("status <> 'concern' OR comment IS NOT NULL", name="ck_row_reviews_comment"),
    )
    op.create_index("ix_row_reviews_row_id", TABLE, ["row_id"])
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
    marks = op.get_bind().execute(sa.text(f"SELECT count(*) FROM {TABLE}")).scalar_one()
    if marks:
        raise StoreError(
            f"refused: the store holds {marks} clinical review mark(s) of knowledge-base rows, which a downgrade "
            "below 0006 would delete; export them first (`mcrc kb reviews export -o FILE`) and merge them into the "
            "knowledge base's reviews.yaml, or restore the backup taken before the upgrade. Nothing was changed.")
    pg = op.get_bind().dialect.name == "postgresql"
    names = [name for name, _, _ in GUARDS] + ([f"{TABLE}_no_truncate"] if pg else [])
    for name in names:
        op.execute(f"DROP TRIGGER IF EXISTS {name} ON {TABLE}" if pg else f"DROP TRIGGER IF EXISTS {name}")
    op.drop_index("ix_row_reviews_row_id", table_name=TABLE)
    op.drop_table(TABLE)
