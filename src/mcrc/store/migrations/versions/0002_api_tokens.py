"""API tokens stored by their sha256 digest, and deactivated users.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def _stamp():
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    # A deactivated user keeps its name in the audit trail but can no longer act or sign in.
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("deactivated_at", _stamp(), nullable=True))
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("digest", sa.String(64), nullable=False, unique=True),
        sa.Column("user_id", sa.Integer, sa.ForeignKey("users.id"), nullable=False),
        sa.Column("label", sa.String(64), nullable=True),
        sa.Column("created_at", _stamp(), nullable=False),
        sa.Column("revoked_at", _stamp(), nullable=True),
    )
    op.create_index("ix_api_tokens_user_id", "api_tokens", ["user_id"])


def downgrade() -> None:
    op.drop_index("ix_api_tokens_user_id", table_name="api_tokens")
    op.drop_table("api_tokens")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("deactivated_at")
