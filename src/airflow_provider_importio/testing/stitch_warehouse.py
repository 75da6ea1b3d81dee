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
from operator import itemgetter
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


#: Where ``_sdc_sequence`` is in a loaded row (columns, then SYSTEM_COLUMNS).
_SEQUENCE = list(SYSTEM_COLUMNS).index("_sdc_sequence") - len(SYSTEM_COLUMNS)
#: Values ``sql_value`` must turn into JSON text (SQLite takes every other JSON value as it is).
_NESTED = frozenset({dict, list})


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
                self._upsert_all(sql_name, columns, key_names, records, received_at, batched_at)
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

    def _upsert_all(
        self,
        sql_name: str,
        columns: list[str],
        key_names: Sequence[str],
        records: list[tuple[int, Mapping[str, Any]]],
        received_at: str,
        batched_at: str,
    ) -> None:
        """Upsert a batch's records with the outcome of upserting them one by one, in order: for each
        key the highest sequence wins (the later of equal ones), and new rows keep the batch's order."""
        table = quote(sql_name)
        names = [*columns, *SYSTEM_COLUMNS]
        insert = f"INSERT INTO {table} ({', '.join(map(quote, names))}) VALUES ({', '.join('?' for _ in names)})"
        rows = []
        for sequence, data in records:
            row = [*map(data.get, columns), batched_at, received_at, sequence, None]  # SYSTEM_COLUMNS, in order
            if not _NESTED.isdisjoint(map(type, row)):
                row = [sql_value(value) for value in row]
            rows.append(row)
        if not key_names:
            self._db.executemany(insert, rows)
            return
        position = {name: index for index, name in enumerate(names)}
        key_of = itemgetter(*(position[key] for key in key_names))  # a value, or a tuple of several
        found = self._found_by_key(sql_name, key_names, list(dict.fromkeys(map(key_of, rows))))
        if found is None:  # keys SQLite may compare other than Python does: one row at a time
            for row in rows:
                self._upsert_row(table, names, key_names, key_of(row), row)
            return
        winners: dict[Any, list[Any]] = {}  # in order of each key's first winning row
        for row in rows:
            key = key_of(row)
            held = winners.get(key)
            held_sequence = held[_SEQUENCE] if held is not None else found[key][1] if key in found else None
            if held_sequence is None or held_sequence <= row[_SEQUENCE]:  # else a higher sequence already won
                winners[key] = row
        update = f"UPDATE {table} SET {', '.join(f'{quote(name)} = ?' for name in names)} WHERE rowid = ?"
        self._db.executemany(update, ([*row, found[key][0]] for key, row in winners.items() if key in found))
        self._db.executemany(insert, (row for key, row in winners.items() if key not in found))

    def _found_by_key(
        self, sql_name: str, key_names: Sequence[str], keys: list[Any]
    ) -> dict[Any, tuple[int, Any]] | None:
        """``(rowid, _sdc_sequence)`` of the stored row of each key (a value, or a tuple for several key
        columns), the lowest rowid as an indexed lookup finds it; ``None`` unless every key column is
        INTEGER with ``int`` values or TEXT with ``str`` values, where SQLite's equality is Python's."""
        info = self._db.execute(f"PRAGMA table_info({quote(sql_name)})")
        declared = {name: kind.upper() for _, name, kind, *_ in info}
        several = len(key_names) > 1
        for index, key in enumerate(key_names):
            kind = {"INTEGER": int, "TEXT": str}.get(declared.get(key, ""))
            if kind is None or any(type(value[index] if several else value) is not kind for value in keys):
                return None
        selected = ", ".join(quote(key) for key in key_names)
        one_key = "(" + " AND ".join(f"{quote(key)} = ?" for key in key_names) + ")"
        step = 500 // len(key_names)
        found: dict[Any, tuple[int, Any]] = {}
        for start in range(0, len(keys), step):
            chunk = keys[start : start + step]
            if several:
                where, values = " OR ".join(one_key for _ in chunk), [value for key in chunk for value in key]
            else:
                where, values = f"{selected} IN ({', '.join('?' for _ in chunk)})", chunk
            sql = f"SELECT {selected}, rowid, _sdc_sequence FROM {quote(sql_name)} WHERE {where} ORDER BY rowid"
            for *key, rowid, sequence in self._db.execute(sql, values):
                found.setdefault(tuple(key) if several else key[0], (rowid, sequence))
        return found

    def _upsert_row(self, table: str, names: list[str], key_names: Sequence[str], key: Any, row: list[Any]) -> None:
        db = self._db
        where = " AND ".join(f"{quote(name)} IS ?" for name in key_names)
        values = list(key) if len(key_names) > 1 else [key]
        found = db.execute(f"SELECT rowid, _sdc_sequence FROM {table} WHERE {where}", values).fetchone()
        if found is None:
            marks = ", ".join("?" for _ in names)
            db.execute(f"INSERT INTO {table} ({', '.join(map(quote, names))}) VALUES ({marks})", row)
        elif found[1] is None or found[1] <= row[_SEQUENCE]:  # else a higher sequence already won
            assignments = ", ".join(f"{quote(name)} = ?" for name in names)
            db.execute(f"UPDATE {table} SET {assignments} WHERE rowid = ?", [*row, found[0]])
