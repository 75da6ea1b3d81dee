"""Engines for the store: URL normalisation and the SQLite settings that make it safe for
several workers (WAL, a busy timeout, foreign keys, ``BEGIN IMMEDIATE`` for writes)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sqlalchemy.engine import URL, Engine

#: Execution option marking a connection that only reads (SQLite then begins a deferred transaction).
READ_ONLY = "importio_read_only"
#: How long a SQLite writer waits for another one, in seconds.
SQLITE_BUSY_TIMEOUT = 30.0


def normalise_url(url: str | URL) -> URL:
    """The URL as SQLAlchemy parses it, with ``postgres://`` and ``postgresql://`` mapped to the
    psycopg 3 driver (the one this provider's ``postgres`` extra installs)."""
    from sqlalchemy.engine import make_url

    parsed = make_url(url)
    if parsed.drivername in ("postgres", "postgresql"):
        parsed = parsed.set(drivername="postgresql+psycopg")
    return parsed


def masked(url: str | URL) -> str:
    """The URL with its password replaced by ``***``, for logs."""
    return normalise_url(url).render_as_string(hide_password=True)


def create_store_engine(url: str | URL, **kwargs: Any) -> Engine:
    """A SQLAlchemy engine for the store at *url* (the SQLite file's folder is created)."""
    import os

    from sqlalchemy import create_engine, event

    parsed = normalise_url(url)
    if parsed.get_backend_name() != "sqlite":
        kwargs.setdefault("pool_pre_ping", True)
        return create_engine(parsed, **kwargs)

    database = parsed.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        os.makedirs(os.path.dirname(os.path.abspath(database)), exist_ok=True)
    connect_args = dict(kwargs.pop("connect_args", {}))
    connect_args.setdefault("timeout", SQLITE_BUSY_TIMEOUT)
    connect_args.setdefault("check_same_thread", False)
    engine = create_engine(parsed, connect_args=connect_args, **kwargs)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy's events control transactions instead of the sqlite3 module.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            if database and database != ":memory:":
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA busy_timeout={int(SQLITE_BUSY_TIMEOUT * 1000)}")
            cursor.execute("PRAGMA foreign_keys=ON")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # IMMEDIATE takes the write lock up front, so read-check-write sequences are serialised
        # and a writer never fails half-way with "database is locked" on lock upgrade.
        conn.exec_driver_sql("BEGIN" if conn.get_execution_options().get(READ_ONLY) else "BEGIN IMMEDIATE")

    return engine
