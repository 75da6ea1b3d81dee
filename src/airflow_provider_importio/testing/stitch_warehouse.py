"""The Stitch emulator's destination: a SQLite database file in a private temporary directory.

Each Stitch ``(schema, table)`` is one SQLite table named ``"<schema>__<table>"``; a bookkeeping
table ``_emulator_tables`` maps it back and remembers its key columns. Columns are typed from the
batch's JSON schema, added when later batches add properties, and every row carries Stitch's
system columns ``_sdc_batched_at``, ``_sdc_received_at``, ``_sdc_sequence`` and
``_sdc_table_version``. All access goes through one connection under one lock (thread-safe).
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

SYSTEM_COLUMNS: dict[str, str] = {
    "_sdc_batched_at": "TEXT",
    "_sdc_received_at": "TEXT",
    "_sdc_sequence": "INTEGER",
    "_sdc_table_version": "INTEGER",
}
_SQL_TYPES = {
    "integer": "INTEGER",
    "number": "REAL",
    "boolean": "BOOLEAN",
    "string": "TEXT",
    "object": "TEXT",
    "array": "TEXT",
}
_META = "_emulator_tables"


def quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'


def sql_type(prop: Any) -> str:
    """The SQL type of a JSON-schema property (a nullable type uses its non-null type)."""
    types = prop.get("type") if isinstance(prop, Mapping) else None
    if isinstance(types, list):
        types = next((t for t in types if t != "null"), None)
    return _SQL_TYPES.get(types, "TEXT") if isinstance(types, str) else "TEXT"


def infer_type(value: Any) -> str:
    """The SQL type of a value with no schema (the push format)."""
    if isinstance(value, bool):
        return "BOOLEAN"
    if isinstance(value, int):
        return "INTEGER"
    if isinstance(value, float):
        return "REAL"
    return "TEXT"


def sql_value(value: Any) -> Any:
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, (dict, list)):
        return json.dumps(value)
    return value


class Warehouse:
    """A SQLite-backed destination; ``close()`` deletes the database file."""

    def __init__(self) -> None:
        self.directory = tempfile.mkdtemp(prefix="stitch-emulator-")
        self.path = os.path.join(self.directory, "warehouse.sqlite")
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = sqlite3.connect(
            self.path, check_same_thread=False, isolation_level=None
        )
        self._create_meta()

    def _create_meta(self) -> None:
        self._db.execute(
            f"CREATE TABLE IF NOT EXISTS {_META} (schema_name TEXT, table_name TEXT, sql_name TEXT, "
            "key_names TEXT, PRIMARY KEY (schema_name, table_name))"
        )

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise RuntimeError("the warehouse is closed")
        return self._conn

    def close(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None
        shutil.rmtree(self.directory, ignore_errors=True)

    def reset(self) -> None:
        """Drop every loaded table."""
        with self._lock:
            for (sql_name,) in self._db.execute(f"SELECT sql_name FROM {_META}").fetchall():
                self._db.execute(f"DROP TABLE IF EXISTS {quote(sql_name)}")
            self._db.execute(f"DELETE FROM {_META}")

    # -- reading -------------------------------------------------------------------------------

    def tables(self) -> list[tuple[str, str]]:
        with self._lock:
            rows = self._db.execute(f"SELECT schema_name, table_name FROM {_META} ORDER BY 1, 2").fetchall()
        return [(schema, table) for schema, table in rows]

    def _lookup(self, schema: str, table: str) -> tuple[str, list[str]]:
        row = self._db.execute(
            f"SELECT sql_name, key_names FROM {_META} WHERE schema_name = ? AND table_name = ?", (schema, table)
        ).fetchone()
        if row is None:
            raise KeyError(f"no table {schema}.{table} in the warehouse")
        return row[0], json.loads(row[1])

    def columns(self, schema: str, table: str) -> dict[str, str]:
        with self._lock:
            sql_name, _ = self._lookup(schema, table)
            info = self._db.execute(f"PRAGMA table_info({quote(sql_name)})").fetchall()
        return {name: declared for _, name, declared, *_ in info}

    def rows(self, schema: str, table: str) -> list[dict[str, Any]]:
        """Rows ordered by the key columns, or in load order when the table has none."""
        with self._lock:
            sql_name, keys = self._lookup(schema, table)
            order = ", ".join(quote(key) for key in keys) or "rowid"
            cursor = self._db.execute(f"SELECT * FROM {quote(sql_name)} ORDER BY {order}")
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    # -- loading -------------------------------------------------------------------------------

    def load(
        self,
        schema: str,
        table: str,
        properties: Mapping[str, Any] | None,
        key_names: Sequence[str],
        records: Iterable[tuple[int, Mapping[str, Any]]],
        received_at: str,
        batched_at: str,
    ) -> None:
        """Upsert ``(sequence, data)`` records by ``key_names`` (highest sequence wins), else append."""
        records = list(records)
        with self._lock:
            db = self._db
            db.execute("BEGIN")
            try:
                sql_name = self._ensure_table(schema, table, key_names)
                self._ensure_columns(sql_name, properties, records)
                self._ensure_key_index(sql_name, key_names)
                columns = [name for name in self._column_names(sql_name) if name not in SYSTEM_COLUMNS]
                for sequence, data in records:
                    self._upsert(sql_name, columns, key_names, sequence, data, received_at, batched_at)
                db.execute("COMMIT")
            except BaseException:
                db.execute("ROLLBACK")
                raise

    def _ensure_table(self, schema: str, table: str, key_names: Sequence[str]) -> str:
        try:
            sql_name, known_keys = self._lookup(schema, table)
        except KeyError:
            sql_name = f"{schema}__{table}"
            system = ", ".join(f"{quote(name)} {kind}" for name, kind in SYSTEM_COLUMNS.items())
            self._db.execute(f"CREATE TABLE {quote(sql_name)} ({system})")
            self._db.execute(
                f"INSERT INTO {_META} VALUES (?, ?, ?, ?)", (schema, table, sql_name, json.dumps(list(key_names)))
            )
            return sql_name
        if key_names and not known_keys:
            self._db.execute(
                f"UPDATE {_META} SET key_names = ? WHERE sql_name = ?", (json.dumps(list(key_names)), sql_name)
            )
        return sql_name

    def _ensure_key_index(self, sql_name: str, key_names: Sequence[str]) -> None:
        """An index on the key columns, so upserts do not scan the table."""
        if key_names:
            index = quote(f"{sql_name}__keys__{'__'.join(key_names)}")
            columns = ", ".join(quote(key) for key in key_names)
            self._db.execute(f"CREATE INDEX IF NOT EXISTS {index} ON {quote(sql_name)} ({columns})")

    def _column_names(self, sql_name: str) -> list[str]:
        return [row[1] for row in self._db.execute(f"PRAGMA table_info({quote(sql_name)})").fetchall()]

    def _ensure_columns(
        self, sql_name: str, properties: Mapping[str, Any] | None, records: list[tuple[int, Mapping[str, Any]]]
    ) -> None:
        existing = set(self._column_names(sql_name))
        wanted: dict[str, str] = {name: sql_type(prop) for name, prop in (properties or {}).items()}
        for _, data in records:
            for name, value in data.items():
                if name not in wanted and value is not None:
                    wanted[name] = infer_type(value)
        for name, kind in wanted.items():
            if name not in existing:
                self._db.execute(f"ALTER TABLE {quote(sql_name)} ADD COLUMN {quote(name)} {kind}")
                existing.add(name)

    def _upsert(
        self,
        sql_name: str,
        columns: list[str],
        key_names: Sequence[str],
        sequence: int,
        data: Mapping[str, Any],
        received_at: str,
        batched_at: str,
    ) -> None:
        values = {name: sql_value(data.get(name)) for name in columns}
        values.update(
            _sdc_batched_at=batched_at, _sdc_received_at=received_at, _sdc_sequence=sequence, _sdc_table_version=None
        )
        table = quote(sql_name)
        if key_names:
            where = " AND ".join(f"{quote(key)} IS ?" for key in key_names)
            found = self._db.execute(
                f"SELECT rowid, _sdc_sequence FROM {table} WHERE {where}", [values[key] for key in key_names]
            ).fetchone()
            if found is not None:
                if found[1] is not None and found[1] > sequence:
                    return  # a higher sequence already won
                assignments = ", ".join(f"{quote(name)} = ?" for name in values)
                self._db.execute(f"UPDATE {table} SET {assignments} WHERE rowid = ?", [*values.values(), found[0]])
                return
        names = ", ".join(quote(name) for name in values)
        marks = ", ".join("?" for _ in values)
        self._db.execute(f"INSERT INTO {table} ({names}) VALUES ({marks})", list(values.values()))
