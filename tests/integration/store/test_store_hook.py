"""ImportioStoreHook: Airflow connections (env-var form) to store URLs, and the embedded default."""

from __future__ import annotations

import json
import logging
from types import SimpleNamespace

import pytest

from airflow_provider_importio.hooks import store as store_hook
from airflow_provider_importio.hooks.store import ImportioStoreHook


@pytest.fixture(autouse=True)
def _fresh_process_cache(monkeypatch):
    """Each test starts as a new process would: no store migrated yet, no store connection."""
    monkeypatch.setattr(store_hook, "_STORES", {})
    monkeypatch.delenv("AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT", raising=False)
    yield
    for store in store_hook._STORES.values():
        store.close()


def _conn(**kw):
    base = dict(conn_id="c", conn_type="importio_store", host=None, port=None, login=None, password=None,
                schema=None, extra_dejson={})
    base.update(kw)
    return SimpleNamespace(**base)


def _set_connection(monkeypatch, conn_id: str, **value) -> None:
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


def test_embedded_default_creates_the_sqlite_file_under_airflow_home(monkeypatch, tmp_path, caplog):
    home = tmp_path / "airflow-home"
    monkeypatch.setenv("AIRFLOW_HOME", str(home))
    hook = ImportioStoreHook()
    ok, message = hook.test_connection()
    assert ok and "schema not created yet" in message, message
    with caplog.at_level(logging.INFO, logger=store_hook.__name__):
        store = hook.get_store()
    assert (home / "importio_store.db").is_file()
    assert store.dialect == "sqlite" and store.schema_revision() == store.head_revision()
    assert "embedded default" in caplog.text and str(home / "importio_store.db") in caplog.text
    assert ImportioStoreHook().get_store() is store  # migrated once per process
    ok, message = hook.test_connection()
    assert ok and "schema at revision 0002" in message, message


def test_postgres_connection(monkeypatch, postgres_url, caplog):
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    _set_connection(monkeypatch, "store_pg", conn_type="postgres", host=url.host, port=url.port, login=url.username,
                    password=url.password, schema=url.database, extra={"application_name": "importio-test"})
    hook = ImportioStoreHook(store_conn_id="store_pg")
    assert hook.get_url().query == {"application_name": "importio-test"}
    with caplog.at_level(logging.INFO, logger=store_hook.__name__):
        store = hook.get_store()
    assert store.dialect == "postgresql" and store.schema_revision() == "0002"
    assert "connection 'store_pg'" in caplog.text and url.password not in caplog.text and "***" in caplog.text
    ok, message = hook.test_connection()
    assert ok and "postgresql+psycopg://importio:***@" in message and url.password not in message

    # The provider's own type with a URL in the extra and the password in its field.
    _set_connection(monkeypatch, "store_url", conn_type="importio_store", password=url.password,
                    extra={"url": url.set(password=None).render_as_string(hide_password=False)})
    assert ImportioStoreHook(store_conn_id="store_url").get_store().schema_revision() == "0002"


def test_wrong_password_fails_test_connection_without_leaking_it(monkeypatch, postgres_url):
    from sqlalchemy.engine import make_url

    url = make_url(postgres_url)
    _set_connection(monkeypatch, "store_bad", conn_type="importio_store", host=url.host, port=url.port,
                    login=url.username, password="wrong-secret-pw", schema=url.database)
    ok, message = ImportioStoreHook(store_conn_id="store_bad").test_connection()
    assert not ok and "OperationalError" in message and "wrong-secret-pw" not in message


def test_sqlite_connection_and_missing_connections(monkeypatch, tmp_path):
    path = tmp_path / "stores" / "mine.db"
    _set_connection(monkeypatch, "store_file", conn_type="sqlite", host=str(path))
    assert ImportioStoreHook(store_conn_id="store_file").get_store().schema_revision() == "0002"
    assert path.is_file()
    from airflow.sdk.exceptions import AirflowNotFoundException

    with pytest.raises(AirflowNotFoundException):  # only the default connection falls back
        ImportioStoreHook(store_conn_id="not_defined").get_url()


def test_url_for_connection_shapes(monkeypatch, tmp_path):
    monkeypatch.setenv("AIRFLOW_HOME", str(tmp_path))
    url_for = ImportioStoreHook.url_for
    assert str(url_for(_conn())) == f"sqlite:///{tmp_path}/importio_store.db"
    assert str(url_for(_conn(conn_type="sqlite", schema="/srv/s.db"))) == "sqlite:////srv/s.db"
    pg = url_for(_conn(host="db.internal", port=6432, login="airflow", password="p@ss/word", schema="importio",
                       extra_dejson={"sslmode": "require", "ignored": "x"}))
    assert (pg.drivername, pg.host, pg.port, pg.username, pg.password, pg.database, dict(pg.query)) == (
        "postgresql+psycopg", "db.internal", 6432, "airflow", "p@ss/word", "importio", {"sslmode": "require"})
    assert "p@ss" not in pg.render_as_string(hide_password=True)
    assert url_for(_conn(conn_type="postgres", host="h", schema="d", extra_dejson={"driver": "postgresql+psycopg2"})
                   ).drivername == "postgresql+psycopg2"
    from_extra = url_for(_conn(password="pw", login="me", extra_dejson={"url": "postgresql://db/importio"}))
    assert (from_extra.drivername, from_extra.username, from_extra.password) == ("postgresql+psycopg", "me", "pw")
    assert url_for(_conn(host="postgres://u:x@db/s")).password == "x"
    with pytest.raises(ValueError, match="database name in the Schema field"):
        url_for(_conn(conn_type="postgres", host="db"))
    with pytest.raises(ValueError, match="has type 'http'"):
        url_for(_conn(conn_type="http", host="example.com"))
    with pytest.raises(ValueError, match="not a SQLAlchemy URL"):
        url_for(_conn(extra_dejson={"url": "not a url"}))


def test_hook_init_reads_no_connection():
    hook = ImportioStoreHook(store_conn_id="does_not_exist")
    assert hook.store_conn_id == "does_not_exist" and not store_hook._STORES
