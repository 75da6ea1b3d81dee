"""The store's tables (SQLAlchemy Core).

This module is the *current* shape of the schema, used by the queries and by the test that
compares it with what the migrations build. The migrations under ``migrations/versions`` are the
source of truth for the database: change both, in a new revision (see ``docs/store.md``).
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

import sqlalchemy as sa

#: Deterministic constraint names, so later migrations (and SQLite batch mode) can name them.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

#: Alembic's version table for this store (namespaced: the database may hold other things).
VERSION_TABLE = "importio_store_version"


class UTCDateTime(sa.types.TypeDecorator):
    """A timestamp that is always timezone-aware UTC in Python.

    PostgreSQL stores ``timestamptz``; SQLite stores naive UTC text (which sorts and compares
    correctly). Naive datetimes are refused, so local time can never slip in.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: the store only takes timezone-aware datetimes")
        value = value.astimezone(timezone.utc)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=timezone.utc)
        return value.astimezone(timezone.utc)


#: Autoincrementing ids: BIGINT on PostgreSQL, INTEGER (the rowid) on SQLite.
BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

metadata = sa.MetaData(naming_convention=NAMING_CONVENTION)

deliveries = sa.Table(
    "deliveries", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("project", sa.String(200), nullable=False),
    sa.Column("flow", sa.String(200), nullable=False),
    sa.Column("dag_id", sa.String(250), nullable=False),
    sa.Column("run_id", sa.String(250), nullable=False),
    sa.Column("start", UTCDateTime(), nullable=True),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("closed_at", UTCDateTime(), nullable=True),
    sa.UniqueConstraint("project", "flow", "run_id"),
)

snapshots = sa.Table(
    "snapshots", metadata,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("delivery_id", sa.String(36), sa.ForeignKey("deliveries.id"), nullable=False),
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
    sa.Column("created_at", UTCDateTime(), nullable=False),
    sa.Column("updated_at", UTCDateTime(), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.UniqueConstraint("delivery_id", "collection", "source", "chunk", "attempt"),
    sa.Index(None, "delivery_id", "state"),
    sa.Index(None, "collection", "source", "created_at"),
    sa.Index(None, "state"),
)

snapshot_transitions = sa.Table(
    "snapshot_transitions", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("snapshot_id", sa.String(36), sa.ForeignKey("snapshots.id"), nullable=False),
    sa.Column("version", sa.Integer(), nullable=False),
    sa.Column("from_state", sa.String(20), nullable=True),
    sa.Column("to_state", sa.String(20), nullable=False),
    sa.Column("actor", sa.String(250), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=True),
    # One history row per snapshot version: a second writer from the same version cannot commit.
    sa.UniqueConstraint("snapshot_id", "version"),
)

snapshot_stats = sa.Table(
    "snapshot_stats", metadata,
    sa.Column("snapshot_id", sa.String(36), sa.ForeignKey("snapshots.id"), primary_key=True),
    sa.Column("name", sa.String(300), primary_key=True),
    sa.Column("collection", sa.String(200), nullable=False),
    sa.Column("source", sa.String(200), nullable=False),
    sa.Column("value", sa.Float(), nullable=True),
    sa.Column("recorded_at", UTCDateTime(), nullable=False),
    sa.Index(None, "collection", "source", "name"),
)

pushes = sa.Table(
    "pushes", metadata,
    sa.Column("id", BigId, primary_key=True, autoincrement=True),
    sa.Column("snapshot_id", sa.String(36), sa.ForeignKey("snapshots.id"), nullable=False),
    sa.Column("destination", sa.String(200), nullable=False),
    sa.Column("attempt", sa.Integer(), nullable=False),
    sa.Column("status", sa.String(16), nullable=False),
    sa.Column("uri", sa.Text(), nullable=True),
    sa.Column("byte_count", sa.BigInteger(), nullable=True),
    sa.Column("row_count", sa.BigInteger(), nullable=True),
    sa.Column("error", sa.Text(), nullable=True),
    sa.Column("actor", sa.String(250), nullable=False),
    sa.Column("at", UTCDateTime(), nullable=False),
    sa.UniqueConstraint("snapshot_id", "destination", "attempt"),
    sa.Index(None, "status"),
)

alarm_states = sa.Table(
    "alarm_states", metadata,
    sa.Column("alarm_group", sa.String(200), primary_key=True),
    sa.Column("state", sa.String(32), nullable=False),
    sa.Column("since", UTCDateTime(), nullable=False),
    sa.Column("last_evaluated", UTCDateTime(), nullable=False),
    sa.Column("details", sa.JSON(), nullable=False),
)

extractor_leases = sa.Table(
    "extractor_leases", metadata,
    sa.Column("extractor_id", sa.String(64), primary_key=True),
    sa.Column("holder", sa.String(500), nullable=False),
    sa.Column("acquired_at", UTCDateTime(), nullable=False),
    sa.Column("expires_at", UTCDateTime(), nullable=False),
)
