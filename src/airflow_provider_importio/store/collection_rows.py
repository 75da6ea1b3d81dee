"""A collection's rows in the store (``dataStore: true``): one table per collection, made from its schema.

The table ``rows_<collection slug, '-' → '_'>`` has one nullable column per schema field (NUMBER →
double, INTEGER → bigint, BOOLEAN → boolean, every other type → text) and the system columns
``_snapshot_id``, ``_row`` (the row's index in the snapshot), ``_url``, ``_status``, ``_valid``,
``_errors`` (JSON list of rule names), ``_invalid_values`` (JSON: values that did not fit their
column, e.g. ``"N/A"`` in a NUMBER field — the row keeps them, flagged, instead of losing them) and
``_loaded_at``; primary key (``_snapshot_id``, ``_row``).

These tables are not part of the migrated schema (``store/schema.py``): they are created on first
use from the schema, and a field added to the schema later becomes a column by
``ALTER TABLE ... ADD COLUMN``. Columns are never dropped or retyped (a removed field's column keeps
its old data and gets NULLs). See ``docs/store.md``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from airflow_provider_importio.store.engine import READ_ONLY
from airflow_provider_importio.store.schema import UTCDateTime

if TYPE_CHECKING:
    from airflow_provider_importio.store.store import Store
    from airflow_provider_importio.workbench.config_model import Collection, Schema

#: Prefix of the per-collection data tables (kept out of the migrations' comparisons).
TABLE_PREFIX = "rows_"
#: Rows per INSERT batch.
BATCH_ROWS = 1000
#: PostgreSQL truncates identifiers at 63 bytes; longer names are shortened with a hash suffix.
MAX_IDENTIFIER = 63
#: Row keys that carry the system columns (as ``compute_statistics`` hands rows out).
SYSTEM_KEYS = ("_url", "_status", "_valid", "_errors")

_FIELD_TYPES: dict[str, Any] = {
    "NUMBER": sa.Float(precision=53),
    "INTEGER": sa.BigInteger(),
    "BOOLEAN": sa.Boolean(create_constraint=False),
}
_INT64 = (-(2**63), 2**63 - 1)


def _short(name: str) -> str:
    if len(name.encode("utf-8")) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha256(name.encode("utf-8")).hexdigest()[:8]
    head = name.encode("utf-8")[: MAX_IDENTIFIER - 9].decode("utf-8", "ignore")
    return f"{head}_{digest}"


def table_name(collection: Collection | str) -> str:
    """``rows_<slug with '-' → '_'>`` (shortened with a hash when over 63 bytes)."""
    slug = collection if isinstance(collection, str) else collection.slug
    return _short(TABLE_PREFIX + slug.replace("-", "_"))


def is_collection_rows_table(name: str) -> bool:
    """Whether a table name is one of these data tables (for migration tools to leave alone)."""
    return name.startswith(TABLE_PREFIX)


def column_name(field_name: str) -> str:
    """The column of a schema field: its name (quoted as needed), shortened when over 63 bytes."""
    return _short(field_name)


def _system_columns() -> list[sa.Column[Any]]:
    return [
        sa.Column("_snapshot_id", sa.String(36), primary_key=True),
        sa.Column("_row", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("_url", sa.Text(), nullable=True),
        sa.Column("_status", sa.Integer(), nullable=True),
        sa.Column("_valid", sa.Boolean(create_constraint=False), nullable=False),
        sa.Column("_errors", sa.JSON(), nullable=False),
        sa.Column("_invalid_values", sa.JSON(), nullable=True),
        sa.Column("_loaded_at", UTCDateTime(), nullable=False),
    ]


def _kind(column_type: Any) -> str:
    """How values are stored in a column of this (possibly reflected) type."""
    if isinstance(column_type, sa.Boolean):
        return "boolean"
    if isinstance(column_type, sa.Integer):
        return "integer"
    if isinstance(column_type, (sa.Float, sa.Numeric)):
        return "number"
    return "text"


def _fit(kind: str, value: Any) -> tuple[bool, Any]:
    """``(fits, stored value)`` of a non-null value in a column of ``kind``."""
    if kind == "text":
        return True, value if isinstance(value, str) else str(value)
    if kind == "boolean":
        return (True, value) if isinstance(value, bool) else (False, None)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False, None
    if kind == "number":
        return True, float(value)
    if isinstance(value, float):
        if not value.is_integer():
            return False, None
        value = int(value)
    return (True, value) if _INT64[0] <= value <= _INT64[1] else (False, None)


class CollectionRowsWriter:
    """Loads a collection's rows into its table, one snapshot at a time (SQLite and PostgreSQL)."""

    def __init__(self, store: Store, collection: Collection | str, schema: Schema) -> None:
        self.store = store
        self.schema = schema
        self.table_name = table_name(collection)
        self.columns = {f.name: column_name(f.name) for f in schema.fields}
        lowered: dict[str, str] = {}
        for name, column in self.columns.items():
            other = lowered.setdefault(column.lower(), name)
            if other != name or column.startswith("_"):
                raise ValueError(f"schema {schema.slug!r}: field {name!r} cannot have a column of its own "
                                 f"in {self.table_name} (clashes with {other!r} or a system column)")
        self._table: sa.Table | None = None
        self._kinds: dict[str, str] = {}

    def _wanted(self) -> sa.Table:
        columns = [sa.Column(self.columns[f.name], _FIELD_TYPES.get(f.type, sa.Text()), nullable=True)
                   for f in self.schema.fields]
        return sa.Table(self.table_name, sa.MetaData(), *_system_columns(), *columns)

    def ensure_table(self) -> sa.Table:
        """Create the table, or add the columns of fields it lacks; returns it as it is in the database."""
        if self._table is not None:
            return self._table
        wanted = self._wanted()
        with self.store.engine.begin() as conn:
            if conn.dialect.name == "postgresql":  # one creator at a time; others then find the table
                key = int.from_bytes(hashlib.sha256(self.table_name.encode()).digest()[:8], "big", signed=True)
                conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})
            inspector = sa.inspect(conn)
            if not inspector.has_table(self.table_name):
                wanted.create(conn)
            else:
                existing = {c["name"] for c in inspector.get_columns(self.table_name)}
                self._add_columns(conn, wanted, existing)
            table = sa.Table(self.table_name, sa.MetaData(), autoload_with=conn)
        # Reflected JSON columns may come back as text on SQLite: keep our types for the system columns.
        for column in _system_columns():
            table.c[column.name].type = column.type
        self._kinds = {name: _kind(table.c[column].type) for name, column in self.columns.items()}
        self._table = table
        return table

    @staticmethod
    def _add_columns(conn: Connection, wanted: sa.Table, existing: set[str]) -> None:
        preparer = conn.dialect.identifier_preparer
        for column in wanted.columns:
            if column.name in existing:
                continue
            spec = sa.schema.CreateColumn(column).compile(dialect=conn.dialect)
            conn.execute(sa.text(f"ALTER TABLE {preparer.format_table(wanted)} ADD COLUMN {spec}"))

    def _records(self, snapshot_id: str, rows: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
        loaded_at = self.store._now()
        fields = [(name, self.columns[name], self._kinds[name]) for name in self.columns]
        for index, row in enumerate(rows):
            record: dict[str, Any] = {
                "_snapshot_id": snapshot_id, "_row": index, "_url": row.get("_url"),
                "_status": row.get("_status"), "_valid": bool(row.get("_valid", True)),
                "_errors": list(row.get("_errors") or ()), "_loaded_at": loaded_at,
            }
            invalid: dict[str, Any] | None = None
            for name, column, kind in fields:
                value = row.get(name)
                if value is not None and (kind != "text" or value.__class__ is not str):
                    fits, stored = _fit(kind, value)
                    if not fits:
                        invalid = invalid or {}
                        invalid[name] = value
                    value = stored
                record[column] = value
            record["_invalid_values"] = invalid
            yield record

    def replace_snapshot(self, snapshot_id: str, rows: Iterable[Mapping[str, Any]]) -> int:
        """Replace the snapshot's rows with ``rows`` (delete, then insert in batches, one transaction).

        ``rows`` are dicts of field values plus ``_url``, ``_status``, ``_valid`` and ``_errors``, as
        :func:`~airflow_provider_importio.workbench.statistics.compute_statistics` hands them out; they
        are read once, lazily. Returns the number of rows written.
        """
        table = self.ensure_table()
        count = 0
        with self.store.engine.begin() as conn:
            conn.execute(table.delete().where(table.c._snapshot_id == snapshot_id))
            batch: list[dict[str, Any]] = []
            for record in self._records(snapshot_id, rows):
                batch.append(record)
                if len(batch) >= BATCH_ROWS:
                    conn.execute(table.insert(), batch)
                    count += len(batch)
                    batch = []
            if batch:
                conn.execute(table.insert(), batch)
                count += len(batch)
        return count

    def snapshot_rows(self, snapshot_id: str) -> list[dict[str, Any]]:
        """The snapshot's stored rows in order, keyed by column name (for checks and tests)."""
        table = self.ensure_table()
        with self.store.engine.execution_options(**{READ_ONLY: True}).connect() as conn:
            result = conn.execute(sa.select(table).where(table.c._snapshot_id == snapshot_id).order_by(table.c._row))
            return [dict(r._mapping) for r in result]

    def row_counts(self) -> dict[str, int]:
        """Rows per snapshot id in the table."""
        table = self.ensure_table()
        with self.store.engine.execution_options(**{READ_ONLY: True}).connect() as conn:
            query = sa.select(table.c._snapshot_id, sa.func.count()).group_by(table.c._snapshot_id)
            return {snapshot_id: count for snapshot_id, count in conn.execute(query)}
