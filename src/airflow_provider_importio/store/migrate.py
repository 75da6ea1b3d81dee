"""Schema migrations with Alembic, configured in code (no ``alembic.ini`` on disk).

The scripts live in ``migrations/`` inside the package, so an installed wheel can migrate its own
database. ``upgrade`` is safe to run from several processes at once: on PostgreSQL it holds an
advisory lock for the migration's transaction, on SQLite the transaction is ``BEGIN IMMEDIATE``.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any

from airflow_provider_importio.store.schema import VERSION_TABLE

if TYPE_CHECKING:
    from alembic.config import Config
    from sqlalchemy.engine import Connection, Engine

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
#: Key of the PostgreSQL advisory lock held while migrating (any constant; "importio" in ASCII).
ADVISORY_LOCK_KEY = 0x696D706F7274696F
#: The newest revision in ``migrations/versions`` (a test holds it equal to Alembic's head): a store
#: already there is recognised with one query, without importing Alembic (a task process would pay
#: ~0.3 s for that on each start).
HEAD_REVISION = "0002"
# Alembic loads its scripts through module-level state that is not thread-safe.
_ALEMBIC_LOCK = threading.RLock()


def alembic_config(connection: Connection | None = None, url: str | None = None) -> Config:
    """An Alembic ``Config`` for the packaged scripts, bound to *connection* (or *url*)."""
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
    if url is not None:
        config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    config.attributes["connection"] = connection
    return config


def head_revision() -> str:
    """The newest revision shipped with this package."""
    from alembic.script import ScriptDirectory

    with _ALEMBIC_LOCK:
        head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert head is not None
    return head


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or ``None`` before the first migration."""
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        return context.get_current_revision()


def at_head(engine: Engine) -> bool:
    """Whether the database's schema is at :data:`HEAD_REVISION` (one query; no Alembic)."""
    from sqlalchemy import exc, text

    try:
        with engine.connect() as conn:
            versions = conn.execute(text(f"SELECT version_num FROM {VERSION_TABLE}")).scalars().all()
    except exc.DBAPIError:  # no version table yet: never migrated
        return False
    return versions == [HEAD_REVISION]


def upgrade(engine: Engine, revision: str = "head") -> None:
    """``alembic upgrade <revision>`` in one transaction; a no-op when already there."""
    from alembic import command

    with _ALEMBIC_LOCK, engine.begin() as conn:
        command.upgrade(alembic_config(conn), revision)


def upgrade_sql(url: str, revision: str = "head", starting_from: str | None = None) -> str:
    """The SQL ``upgrade`` would run, for a DBA to review or apply by hand (Alembic offline mode)."""
    import io

    from alembic import command

    buffer = io.StringIO()
    config = alembic_config(url=url)
    config.output_buffer = buffer
    target = f"{starting_from}:{revision}" if starting_from else revision
    with _ALEMBIC_LOCK:
        command.upgrade(config, target, sql=True)
    return buffer.getvalue()


def run_env(context: Any) -> None:
    """The body of ``migrations/env.py`` (kept here so it is importable and testable)."""
    from sqlalchemy import text

    from airflow_provider_importio.store.schema import metadata

    config = context.config
    from airflow_provider_importio.store.collection_rows import is_collection_rows_table

    options: dict[str, Any] = {
        "target_metadata": metadata,
        "version_table": VERSION_TABLE,
        "compare_type": True,
        # the per-collection data tables are made from collection schemas, not by migrations
        "include_name": lambda name, type_, parent: not (type_ == "table" and is_collection_rows_table(name or "")),
    }
    if context.is_offline_mode():
        context.configure(url=config.get_main_option("sqlalchemy.url"), literal_binds=True,
                          dialect_opts={"paramstyle": "named"}, **options)
        with context.begin_transaction():
            context.run_migrations()
        return

    def run(connection: Connection) -> None:
        context.configure(connection=connection,
                          render_as_batch=connection.dialect.name == "sqlite", **options)
        with context.begin_transaction():
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": ADVISORY_LOCK_KEY})
            context.run_migrations()

    connection = config.attributes.get("connection")
    if connection is not None:
        run(connection)
        return
    # Run from the alembic command line with sqlalchemy.url set.
    from airflow_provider_importio.store.engine import create_store_engine

    engine = create_store_engine(config.get_main_option("sqlalchemy.url"))
    try:
        with engine.begin() as connection:
            run(connection)
    finally:
        engine.dispose()
