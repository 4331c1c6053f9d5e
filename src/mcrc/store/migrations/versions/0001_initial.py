"""Initial case store: users, cases, assessments, MDT meetings and decisions, audit log.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects.postgresql import JSONB

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

ROLES = "('clinician', 'coordinator', 'auditor', 'admin')"
GENESIS_HASH = "0" * 64


def _json():
    return sa.JSON().with_variant(JSONB(), "postgresql")


def _stamp():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    op.create_table(
        "users",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("name", sa.String(64), nullable=False, unique=True),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("created_at", _stamp(), nullable=False),
        sa.CheckConstraint(f"role IN {ROLES}", name="ck_users_role"),
    )
    op.create_table(
        "cases",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("patient", _json(), nullable=False),
        sa.Column("schema_version", sa.String(16), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("deleted", sa.Boolean, nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", _stamp(), nullable=False),
        sa.Column("updated_at", _stamp(), nullable=False),
        sa.Column("deleted_at", _stamp(), nullable=True),
    )
    op.create_index("ix_cases_label", "cases", ["label"])
    op.create_table(
        "assessments",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("case_version", sa.Integer, nullable=False),
        sa.Column("assessment", _json(), nullable=False),
        sa.Column("content_hash", sa.String(64), nullable=False),
        sa.Column("kb_version", sa.String(64), nullable=False),
        sa.Column("engine_version", sa.String(32), nullable=False),
        sa.Column("input_hash", sa.String(64), nullable=False),
        sa.Column("created_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", _stamp(), nullable=False),
    )
    op.create_index("ix_assessments_case_id", "assessments", ["case_id"])
    op.create_table(
        "mdt_meetings",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("held_on", sa.Date, nullable=False, unique=True),
        sa.Column("created_at", _stamp(), nullable=False),
    )
    op.create_table(
        "decisions",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.Integer, sa.ForeignKey("cases.id"), nullable=False),
        sa.Column("meeting_id", sa.Integer, sa.ForeignKey("mdt_meetings.id"), nullable=False),
        sa.Column("assessment_id", sa.Integer, sa.ForeignKey("assessments.id"), nullable=False),
        sa.Column("strategy_codes", _json(), nullable=False),
        sa.Column("rationale", sa.Text, nullable=False),
        sa.Column("concordant", sa.Boolean, nullable=False),
        sa.Column("deviation_code", sa.String(32), nullable=True),
        sa.Column("deviation_text", sa.Text, nullable=True),
        sa.Column("participants", _json(), nullable=False),
        sa.Column("decided_by", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("created_at", _stamp(), nullable=False),
        sa.CheckConstraint("concordant OR deviation_code IS NOT NULL", name="ck_decisions_deviation"),
    )
    op.create_index("ix_decisions_case_id", "decisions", ["case_id"])
    op.create_table(
        "audit_log",
        sa.Column("seq", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("recorded", _stamp(), nullable=False),
        sa.Column("user_name", sa.String(64), nullable=False),
        sa.Column("user_role", sa.String(16), nullable=False),
        sa.Column("action", sa.String(32), nullable=False),
        sa.Column("entity", sa.String(32), nullable=False),
        sa.Column("entity_id", sa.String(64), nullable=False),
        sa.Column("before_hash", sa.String(64), nullable=True),
        sa.Column("after_hash", sa.String(64), nullable=True),
        sa.Column("prev_hash", sa.String(64), nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False, unique=True),
    )
    op.create_index("ix_audit_log_entity", "audit_log", ["entity", "entity_id"])
    head = op.create_table(
        "audit_head",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=False),
        sa.Column("seq", sa.Integer, nullable=False),
        sa.Column("entry_hash", sa.String(64), nullable=False),
    )
    op.bulk_insert(head, [{"id": 1, "seq": 0, "entry_hash": GENESIS_HASH}])

    # The audit log is append-only in the database too; verify_chain() catches whoever bypasses this.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("""
            CREATE FUNCTION mcrc_audit_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN RAISE EXCEPTION 'audit_log is append-only'; END $$""")
        op.execute("""
            CREATE TRIGGER audit_log_append_only BEFORE UPDATE OR DELETE ON audit_log
            FOR EACH ROW EXECUTE FUNCTION mcrc_audit_append_only()""")
    else:
        for what in ("UPDATE", "DELETE"):
            op.execute(f"""
                CREATE TRIGGER audit_log_no_{what.lower()} BEFORE {what} ON audit_log
                BEGIN SELECT RAISE(ABORT, 'audit_log is append-only'); END""")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_log_append_only ON audit_log")
        op.execute("DROP FUNCTION IF EXISTS mcrc_audit_append_only()")
    for table in ("audit_head", "audit_log", "decisions", "mdt_meetings", "assessments", "cases", "users"):
        op.drop_table(table)
