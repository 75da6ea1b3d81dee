"""Retries, faults, secrets and memory: the hook against a faulting emulator."""

from __future__ import annotations

import logging
import time
import traceback
import tracemalloc

import pytest

from airflow_provider_importio.clients.errors import ApiError, BadRequestError, ServerError, TransportError
from airflow_provider_importio.clients.importio import ImportioClient
from airflow_provider_importio.hooks.importio import ImportioHook
from tests.integration.conftest import set_importio_connection


@pytest.fixture
def hook(importio_emulator, monkeypatch) -> ImportioHook:
    set_importio_connection(monkeypatch, "importio_test", importio_emulator.url, importio_emulator.api_key,
                            max_retries=3, backoff_base=0.01)
    return ImportioHook(importio_conn_id="importio_test")


def test_429_then_503_are_retried_honouring_retry_after(hook, importio_emulator):
    importio_emulator.faults.script("429", "503", path=r"^/users/current$")
    started = time.monotonic()
    assert hook.get_current_user().guid
    assert importio_emulator.request_count("GET", r"^/users/current$") == 3
    assert time.monotonic() - started >= 1.0  # the emulator's Retry-After: 1


def test_dropped_connection_and_500_on_get_are_retried(hook, importio_emulator):
    importio_emulator.faults.script("drop", "500", path=r"^/users/current$")
    assert hook.get_current_user().guid
    assert importio_emulator.request_count("GET", r"^/users/current$") == 3


def test_retries_stop_after_max_retries(hook, importio_emulator):
    importio_emulator.faults.script("503", "503", "503", "503", "503", path=r"^/users/current$")
    with pytest.raises(ServerError) as err:
        hook.get_current_user()
    assert err.value.status == 503
    assert importio_emulator.request_count("GET", r"^/users/current$") == 4  # 1 + max_retries


def test_500_on_post_is_not_retried(hook, importio_emulator):
    ext = importio_emulator.add_extractor(name="x", inputs=["https://a.example/1"])
    importio_emulator.faults.script("500", path=r"/start$")
    with pytest.raises(ServerError):
        hook.start_extractor(ext["guid"])
    assert importio_emulator.request_count("POST", r"/start$") == 1


def test_400_is_not_retried(hook, importio_emulator):
    ext = importio_emulator.add_extractor(name="x")
    with pytest.raises(BadRequestError):
        hook.stop_extractor(ext["guid"])
    assert importio_emulator.request_count("POST", r"/stop$") == 1


def test_a_faulty_service_is_survived(importio_emulator):
    """20% faults of every kind but delay, over many calls: every call still succeeds."""
    importio_emulator.faults.configure(rate=0.2, kinds=("429", "500", "502", "503", "504", "drop"),
                                       retry_after=0, seed=7)
    client = ImportioClient(importio_emulator.api_key, importio_emulator.url)
    client.transport.retry = type(client.transport.retry)(max_retries=8, backoff_base=0.001)
    for _ in range(60):
        assert client.get_current_user().guid
    faulted = sum(1 for r in importio_emulator.requests if r.fault)
    assert faulted > 0
    assert len(importio_emulator.requests) == 60 + faulted


def test_the_api_key_never_leaks(importio_emulator, monkeypatch, caplog):
    secret = "SeCrEt-KeY-0123456789"
    importio_emulator.add_user(api_key=secret, username="secret-holder")
    set_importio_connection(monkeypatch, "importio_secret", importio_emulator.url, secret,
                            max_retries=1, backoff_base=0.001)
    hook = ImportioHook("importio_secret")
    texts: list[str] = [repr(hook), repr(hook.transport), repr(hook.transport.masker)]
    errors: list[BaseException] = []
    caplog.set_level(logging.DEBUG)

    ext = importio_emulator.add_extractor(name="leak check", inputs=["https://a.example/1"], owner_api_key=secret)
    texts += [repr(hook.get_current_user()), repr(hook.get_extractor(ext["guid"]))]
    for fault, call in [
        ("500", hook.get_current_user),  # retried, then raised
        ("503", lambda: hook.start_extractor(ext["guid"])),
        ("drop", hook.get_current_user),
        ("429", hook.get_current_user),
    ]:
        importio_emulator.faults.script(fault, fault, fault)
        with pytest.raises(ApiError) as err:
            call()
        errors.append(err.value)
        importio_emulator.faults.clear()
    with pytest.raises(ApiError) as err:
        ImportioClient(secret + "-wrong", importio_emulator.url).get_current_user()
    errors.append(err.value)
    refused = ImportioClient(secret, "http://127.0.0.1:9")
    refused.transport.retry = type(refused.transport.retry)(max_retries=0)
    with pytest.raises(TransportError) as err:
        refused.get_current_user()
    errors.append(err.value)

    assert {type(e).__name__ for e in errors} >= {"ServerError", "TransportError", "RateLimitedError", "UnauthorizedError"}
    for e in errors:
        texts += [str(e), repr(e), "".join(traceback.format_exception(e)), str(e.body), str(e.url)]
        assert e.__cause__ is None and e.__context__ is None
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(r.path) + str(r.query) for r in importio_emulator.requests]
    assert any("_apikey=***" in t for t in texts)  # URLs were there, masked
    leaks = [t for t in texts if secret in t]
    assert leaks == []


def test_streamed_download_of_100k_lines_keeps_memory_flat(emulator_process, tmp_path):
    """The emulator runs in a subprocess, so only the client's memory is measured."""
    emu = emulator_process("--api-key", "big-key-000", "--crawl-seconds", "0.1")
    client = ImportioClient("big-key-000", emu.url)
    ext = client.transport.request_json("POST", "/_emulator/extractors", json={"name": "big"})
    urls = [f"https://big.example/item/{i}" for i in range(100_000)]
    assert client.update_extractor_inputs(ext["guid"], urls) == 100_000
    del urls
    run_id = client.start_extractor(ext["guid"])
    deadline = time.monotonic() + 60
    while not client.get_crawl_run(run_id).state.is_terminal and time.monotonic() < deadline:
        time.sleep(0.1)

    tracemalloc.start()
    try:
        size = client.download_crawl_run_file(run_id, "json", tmp_path / "big.json")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    with open(tmp_path / "big.json", "rb") as fh:
        lines = sum(1 for _ in fh)
    assert lines == 100_000
    assert size > 20_000_000
    assert peak < 4_000_000, f"peak {peak} bytes for a {size}-byte file"

    tracemalloc.start()
    try:
        count = sum(1 for _ in client.iter_crawl_run_results(run_id))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 100_000
    assert peak < 4_000_000
    assert emu.stop() == 0
