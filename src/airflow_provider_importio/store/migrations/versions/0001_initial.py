"""Initial schema: deliveries, snapshots and their history, statistics, pushes, alarm states and
extractor leases.

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

# Frozen copies of the types of this revision: later changes to schema.py must not alter it.
TS = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "deliveries",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("flow", sa.String(200), nullable=False),
        sa.Column("dag_id", sa.String(250), nullable=False),
        sa.Column("run_id", sa.String(250), nullable=False),
        sa.Column("start", TS, nullable=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("closed_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_deliveries"),
        sa.UniqueConstraint("project", "flow", "run_id", name="uq_deliveries_project_flow_run_id"),
    )
    op.create_table(
        "snapshots",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("delivery_id", sa.String(36), nullable=False),
        sa.Column("project", sa.String(200), nullable=False),
        sa.Column("flow", sa.String(200), nullable=False),
        sa.Column("collection", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("chunk", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("supersedes", sa.String(36), nullable=True),
        sa.Column("extractor_id", sa.String(64), nullable=True),
        sa.Column("crawl_run_id", sa.String(64), nullable=True),
        sa.Column("input_count", sa.BigInteger(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("artifacts", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("state", sa.String(20), nullable=False),
        sa.Column("state_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_snapshots"),
        sa.ForeignKeyConstraint(["delivery_id"], ["deliveries.id"], name="fk_snapshots_delivery_id_deliveries"),
        sa.UniqueConstraint("delivery_id", "collection", "source", "chunk", "attempt",
                            name="uq_snapshots_delivery_id_collection_source_chunk_attempt"),
    )
    op.create_index("ix_snapshots_delivery_id_state", "snapshots", ["delivery_id", "state"])
    op.create_index("ix_snapshots_collection_source_created_at", "snapshots", ["collection", "source", "created_at"])
    op.create_index("ix_snapshots_state", "snapshots", ["state"])
    op.create_table(
        "snapshot_transitions",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("snapshot_id", sa.String(36), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("from_state", sa.String(20), nullable=True),
        sa.Column("to_state", sa.String(20), nullable=False),
        sa.Column("actor", sa.String(250), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_snapshot_transitions"),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshots.id"],
                                name="fk_snapshot_transitions_snapshot_id_snapshots"),
        sa.UniqueConstraint("snapshot_id", "version", name="uq_snapshot_transitions_snapshot_id_version"),
    )
    op.create_table(
        "snapshot_stats",
        sa.Column("snapshot_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(100), nullable=False),
        sa.Column("collection", sa.String(200), nullable=False),
        sa.Column("source", sa.String(200), nullable=False),
        sa.Column("value", sa.Float(), nullable=True),
        sa.Column("recorded_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("snapshot_id", "name", name="pk_snapshot_stats"),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshots.id"], name="fk_snapshot_stats_snapshot_id_snapshots"),
    )
    op.create_index("ix_snapshot_stats_collection_source_name", "snapshot_stats", ["collection", "source", "name"])
    op.create_table(
        "pushes",
        sa.Column("id", BIG_ID, autoincrement=True, nullable=False),
        sa.Column("snapshot_id", sa.String(36), nullable=False),
        sa.Column("destination", sa.String(200), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("uri", sa.Text(), nullable=True),
        sa.Column("byte_count", sa.BigInteger(), nullable=True),
        sa.Column("row_count", sa.BigInteger(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("actor", sa.String(250), nullable=False),
        sa.Column("at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_pushes"),
        sa.ForeignKeyConstraint(["snapshot_id"], ["snapshots.id"], name="fk_pushes_snapshot_id_snapshots"),
        sa.UniqueConstraint("snapshot_id", "destination", "attempt", name="uq_pushes_snapshot_id_destination_attempt"),
    )
    op.create_index("ix_pushes_status", "pushes", ["status"])
    op.create_table(
        "alarm_states",
        sa.Column("alarm_group", sa.String(200), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("since", TS, nullable=False),
        sa.Column("last_evaluated", TS, nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("alarm_group", name="pk_alarm_states"),
    )
    op.create_table(
        "extractor_leases",
        sa.Column("extractor_id", sa.String(64), nullable=False),
        sa.Column("holder", sa.String(500), nullable=False),
        sa.Column("acquired_at", TS, nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("extractor_id", name="pk_extractor_leases"),
    )


def downgrade() -> None:
    for index, table in (("ix_pushes_status", "pushes"),
                         ("ix_snapshot_stats_collection_source_name", "snapshot_stats")):
        op.drop_index(index, table_name=table)
    for table in ("extractor_leases", "alarm_states", "pushes", "snapshot_stats", "snapshot_transitions"):
        op.drop_table(table)
    for index in ("ix_snapshots_state", "ix_snapshots_collection_source_created_at", "ix_snapshots_delivery_id_state"):
        op.drop_index(index, table_name="snapshots")
    op.drop_table("snapshots")
    op.drop_table("deliveries")
