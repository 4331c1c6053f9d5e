"""When a user last signed out of the web page: browser sessions issued before then no longer count.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


# Plain ALTER TABLE on both backends (SQLite adds and drops a column in place since 3.35): a batch "copy and
# move" of `users` would drop the table that api_tokens, with foreign keys enforced, refers to.


def upgrade() -> None:
    # Session cookies are signed, not stored; this one time per user ends every cookie issued before it.
    op.add_column("users", sa.Column("sessions_ended_at", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("users", "sessions_ended_at")
