from __future__ import annotations

from types import SimpleNamespace

import pytest

from airflow_provider_importio.hooks.importio import ImportioHook


def _conn(**kw):
    base = dict(conn_id="c", conn_type="importio", host=None, port=None, password="k" * 12, extra_dejson={})
    base.update(kw)
    return SimpleNamespace(**base)


def test_defaults():
    transport = ImportioHook.transport_for(_conn())
    assert transport.base_url == "https://api.import.io"
    assert transport.timeout == (10.0, 120.0)
    assert transport.retry.max_retries == 5


def test_host_port_and_extras():
    transport = ImportioHook.transport_for(
        _conn(host="127.0.0.1", port=8080, extra_dejson={"timeout": "5", "max_retries": 2, "backoff_base": 0.1})
    )
    assert transport.base_url == "https://127.0.0.1:8080"
    assert transport.timeout == (5.0, 5.0)
    assert (transport.retry.max_retries, transport.retry.backoff_base) == (2, 0.1)
    assert ImportioHook.transport_for(_conn(host="http://emu:1/")).base_url == "http://emu:1"


def test_missing_key_and_bad_extras_give_clear_errors():
    with pytest.raises(ValueError, match="no Import.io API key"):
        ImportioHook.transport_for(_conn(password=None))
    with pytest.raises(ValueError, match="'timeout' must be a number"):
        ImportioHook.transport_for(_conn(extra_dejson={"timeout": "soon"}))
    with pytest.raises(ValueError, match="'max_retries' must not be negative"):
        ImportioHook.transport_for(_conn(extra_dejson={"max_retries": -1}))


def test_hook_init_reads_no_connection():
    hook = ImportioHook(importio_conn_id="does_not_exist")
    assert hook.importio_conn_id == "does_not_exist"
    assert "transport" not in hook.__dict__
