"""Longer statistic names: ``validation_errors.<field>.<rule>`` with a 128-character field name
does not fit 100 characters.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("snapshot_stats") as batch:
        batch.alter_column("name", existing_type=sa.String(100), type_=sa.String(300), existing_nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("snapshot_stats") as batch:
        batch.alter_column("name", existing_type=sa.String(300), type_=sa.String(100), existing_nullable=False)
