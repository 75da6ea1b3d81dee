"""The store hook: an Airflow connection in, the project's own SQL store out.

Airflow 3 tasks may not touch Airflow's metadata database, so snapshots, pushes, alarm states and
leases live in a database of the project's own (see ``docs/store.md``).
"""

from __future__ import annotations

import logging
import os
import threading
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseHook

if TYPE_CHECKING:
    from sqlalchemy.engine import URL

    from airflow_provider_importio.store.store import Store

log = logging.getLogger(__name__)

#: File name of the embedded default store under ``$AIRFLOW_HOME``.
DEFAULT_SQLITE_FILE = "importio_store.db"
#: Default driver of PostgreSQL connections (psycopg 3, the ``postgres`` extra of this provider).
DEFAULT_PG_DRIVER = "postgresql+psycopg"
#: Connection extras passed to PostgreSQL as libpq parameters.
PG_QUERY_EXTRAS = ("sslmode", "sslrootcert", "sslcert", "sslkey", "connect_timeout", "application_name",
                   "options", "target_session_attrs")
_PG_TYPES = ("postgres", "postgresql")

# Stores already migrated in this process, by (pid, URL): a forked worker builds its own.
_STORES: dict[tuple[int, str], Store] = {}
_STORES_LOCK = threading.Lock()


def airflow_home() -> str:
    """``$AIRFLOW_HOME``, or Airflow's default ``~/airflow``."""
    return os.path.expanduser(os.environ.get("AIRFLOW_HOME") or "~/airflow")


def default_store_url() -> str:
    """The embedded default: a SQLite file under ``$AIRFLOW_HOME``."""
    return f"sqlite:///{os.path.join(airflow_home(), DEFAULT_SQLITE_FILE)}"


class ImportioStoreHook(BaseHook):
    """The project's store (:class:`~airflow_provider_importio.store.store.Store`) from a connection.

    Accepted connections:

    * type ``importio_store``: extra ``url`` (a full SQLAlchemy URL; the *password* field fills a
      URL without one), or *host*, *port*, *login*, *password* and *schema* (the database) of a
      PostgreSQL server, extra ``driver`` (default ``postgresql+psycopg``) and libpq extras such as
      ``sslmode``. With neither, the embedded default below.
    * type ``postgres``: the same fields, as Airflow's Postgres connection has them.
    * type ``sqlite``: *host* (or *schema*) is the database file's path.

    When the default connection ``importio_store_default`` is not defined, the store is the
    embedded SQLite file ``$AIRFLOW_HOME/importio_store.db``. Either way the schema is created or
    upgraded on first use, once per process. The URL is logged with its password masked.

    :param store_conn_id: the Airflow connection id.
    """

    conn_name_attr = "store_conn_id"
    default_conn_name = "importio_store_default"
    conn_type = "importio_store"
    hook_name = "Import.io store"

    def __init__(self, store_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.store_conn_id = store_conn_id

    # -- URL --------------------------------------------------------------------------------

    def _connection(self) -> Any | None:
        """The connection, or ``None`` when the *default* one is not defined (another missing
        connection id is an error: silently using the embedded store would split the data)."""
        not_found: tuple[type[BaseException], ...] = ()
        try:
            from airflow.sdk.exceptions import AirflowNotFoundException as SdkNotFound

            not_found += (SdkNotFound,)
        except ImportError:  # pragma: no cover
            pass
        try:
            from airflow.exceptions import AirflowNotFoundException as CoreNotFound

            not_found += (CoreNotFound,)
        except ImportError:  # pragma: no cover
            pass
        try:
            return self.get_connection(self.store_conn_id)
        except not_found:
            if self.store_conn_id != self.default_conn_name:
                raise
            return None

    def _resolve(self) -> tuple[URL, str]:
        """The store's URL and where it came from (the password is registered for masking)."""
        from airflow_provider_importio.store.engine import normalise_url

        conn = self._connection()
        if conn is None:
            url = normalise_url(default_store_url())
            origin = f"embedded default, connection {self.store_conn_id!r} not defined"
        else:
            url = self.url_for(conn)
            origin = f"connection {self.store_conn_id!r}"
        if url.password:
            _mask_secret(str(url.password))
        return url, origin

    def get_url(self) -> URL:
        """The SQLAlchemy URL of the store (holds the password: never log it unmasked)."""
        return self._resolve()[0]

    @classmethod
    def url_for(cls, conn: Any) -> URL:
        """The SQLAlchemy URL a connection describes (see the class docstring)."""
        from sqlalchemy.engine import URL

        from airflow_provider_importio.store.engine import normalise_url

        extra = conn.extra_dejson or {}
        conn_type = (conn.conn_type or "").lower()
        explicit = extra.get("url") or extra.get("sqlalchemy_url")
        if not explicit and conn.host and "://" in conn.host:
            explicit = conn.host
        if explicit:
            try:
                url = normalise_url(explicit)
            except Exception as exc:
                raise ValueError(f"Connection {conn.conn_id!r}: extra 'url' is not a SQLAlchemy URL: {exc}") from None
            if url.get_backend_name() != "sqlite":
                if conn.login and not url.username:
                    url = url.set(username=conn.login)
                if conn.password and url.password is None:
                    url = url.set(password=conn.password)
            return url
        if conn_type == "sqlite":
            path = conn.host or conn.schema
            return normalise_url(f"sqlite:///{path}") if path else normalise_url(default_store_url())
        if conn_type in _PG_TYPES or (conn_type == cls.conn_type and conn.host):
            if not conn.host:
                raise ValueError(f"Connection {conn.conn_id!r}: a PostgreSQL store needs a host")
            if not conn.schema:
                raise ValueError(f"Connection {conn.conn_id!r}: put the store's database name in the Schema field")
            query = {key: str(extra[key]) for key in PG_QUERY_EXTRAS if extra.get(key) not in (None, "")}
            return normalise_url(URL.create(
                drivername=extra.get("driver") or DEFAULT_PG_DRIVER, username=conn.login or None,
                password=conn.password or None, host=conn.host, port=conn.port or None, database=conn.schema,
                query=query,
            ))
        if conn_type == cls.conn_type:
            return normalise_url(default_store_url())
        raise ValueError(
            f"Connection {conn.conn_id!r} has type {conn.conn_type!r}: the Import.io store takes an "
            f"'importio_store', 'postgres' or 'sqlite' connection, or any connection with extra 'url'"
        )

    def describe(self) -> str:
        """Which store, for logs: the masked URL and where it came from."""
        from airflow_provider_importio.store.engine import masked

        url, origin = self._resolve()
        return f"{masked(url)} ({origin})"

    # -- store ------------------------------------------------------------------------------

    def get_store(self) -> Store:
        """The store, its schema migrated to head the first time this process asks for it."""
        from airflow_provider_importio.store.engine import masked
        from airflow_provider_importio.store.store import Store

        url, origin = self._resolve()
        key = (os.getpid(), url.render_as_string(hide_password=False))
        with _STORES_LOCK:
            store = _STORES.get(key)
            if store is None:
                log.info("Import.io store: %s (%s)", masked(url), origin)
                store = Store.from_url(url)
                revision = store.migrate()
                log.info("Import.io store schema at revision %s", revision)
                _STORES[key] = store
        return store

    def get_conn(self) -> Store:
        return self.get_store()

    def test_connection(self) -> tuple[bool, str]:
        """Connect and report the schema revision (does not create or change anything but an
        empty SQLite file)."""
        try:
            from sqlalchemy import text

            from airflow_provider_importio.store import migrate
            from airflow_provider_importio.store.engine import create_store_engine, masked

            url = self.get_url()
            engine = create_store_engine(url)
            try:
                with engine.connect() as conn:
                    conn.execute(text("SELECT 1"))
                revision = migrate.current_revision(engine)
            finally:
                engine.dispose()
            head = migrate.head_revision()
        except Exception as exc:
            return False, f"{type(exc).__name__}: {_masked_error(exc)}"
        schema = (f"schema at revision {revision} (head {head})" if revision
                  else f"schema not created yet (it is created on first use; head {head})")
        return True, f"Connected to the Import.io store {masked(url)}: {schema}"


def _mask_secret(secret: str) -> None:
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older task SDKs
        return
    mask_secret(secret)


def _masked_error(exc: Exception) -> str:
    """An error message without the URL's password (drivers sometimes echo the DSN)."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    import re

    return re.sub(r"(://[^:/@\s]*:)[^@\s]*@", r"\1***@", text)
