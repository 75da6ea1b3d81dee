"""Fault injection: scripted and seeded random faults, applied before any state changes."""

from __future__ import annotations

import time

import pytest
import requests

from airflow_provider_importio.testing import ImportioEmulator

from .conftest import Api

pytestmark = pytest.mark.integration


def test_scripted_429_has_retry_after_and_an_error_body(emu: ImportioEmulator, api: Api) -> None:
    emu.faults.script("429", "503", path=r"^/users/current$")
    first = api.get("/users/current")
    assert first.status_code == 429 and first.headers["Retry-After"] == "1"
    assert first.json() == {"code": 429, "message": "Too Many Requests", "error": "Too Many Requests"}
    second = api.get("/users/current")
    assert second.status_code == 503 and "Retry-After" not in second.headers
    assert api.get("/users/current").status_code == 200
    assert [(r.status, r.fault) for r in emu.requests] == [(429, "429"), (503, "503"), (200, None)]
    emu.faults.retry_after = 7
    emu.faults.script("429")
    assert api.get("/extractors/").headers["Retry-After"] == "7"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_status_faults(api: Api, status: int) -> None:
    api.emu.faults.script(str(status))
    response = api.get("/users/current")
    assert response.status_code == status and response.json()["code"] == status


def test_scripted_faults_match_path_and_method_in_order(emu: ImportioEmulator, api: Api) -> None:
    emu.faults.script("500", path=r"/start$", method="POST")
    emu.faults.script("502", path=r"^/extractors/")
    assert api.get("/users/current").status_code == 200  # matches neither
    assert api.get("/extractors/").status_code == 502
    assert emu.faults.pending == ["500"]
    emu.faults.clear()
    assert emu.faults.pending == [] and api.get("/extractors/").status_code == 200
    with pytest.raises(ValueError):
        emu.faults.script("418")


def test_drop_closes_the_connection_without_a_response(emu: ImportioEmulator, api: Api) -> None:
    emu.faults.script("drop")
    with pytest.raises(requests.ConnectionError):
        api.get("/users/current")
    assert api.get("/users/current").status_code == 200
    assert [(r.status, r.fault) for r in emu.requests] == [(None, "drop"), (200, None)]


def test_delay_serves_late(emu: ImportioEmulator, api: Api) -> None:
    emu.faults.configure(rate=1.0, kinds=("delay",), delay_seconds=0.3)
    started = time.monotonic()
    assert api.get("/users/current").status_code == 200
    assert time.monotonic() - started >= 0.3
    assert emu.requests[-1].fault == "delay"


def test_a_faulted_request_has_no_side_effect(emu: ImportioEmulator, api: Api) -> None:
    ext = emu.add_extractor()
    emu.faults.script("503", "drop", path=r"/start$")
    assert api.post(f"/extractors/{ext['guid']}/start").status_code == 503
    with pytest.raises(requests.ConnectionError):
        api.post(f"/extractors/{ext['guid']}/start")
    assert emu.crawl_runs() == []
    emu.faults.script("500", path=r"/inputs$")
    assert api.put(f"/extractors/{ext['guid']}/inputs", json={"_url": "https://x.example/"}).status_code == 500
    assert emu.inputs(ext["guid"]) != [{"_url": "https://x.example/"}]
    assert api.post(f"/extractors/{ext['guid']}/start").status_code == 200


def _fault_sequence(seed: int, requests_: int = 60) -> list[str | None]:
    with ImportioEmulator() as emu:
        emu.faults.configure(rate=0.3, kinds=("429", "500", "503"), seed=seed, retry_after=0)
        api = Api(emu)
        for _ in range(requests_):
            api.get("/users/current")
        return [record.fault for record in emu.requests]


def test_random_faults_are_reproducible_with_a_seed() -> None:
    first, again, other = _fault_sequence(1234), _fault_sequence(1234), _fault_sequence(99)
    assert first == again and first != other
    share = sum(fault is not None for fault in first) / len(first)
    assert 0.1 < share < 0.5 and set(first) <= {None, "429", "500", "503"}


def test_random_faults_can_target_a_path_and_admin_paths_are_never_faulted(emu: ImportioEmulator, api: Api) -> None:
    emu.faults.configure(rate=1.0, kinds=("500",), path=r"^/extractors/$")
    assert api.get("/users/current").status_code == 200
    assert api.get("/extractors/").status_code == 500
    emu.faults.configure(rate=1.0, kinds=("500", "drop"))
    admin = requests.get(emu.url + "/_emulator/requests", timeout=10)
    assert admin.status_code == 200 and len(admin.json()) == 2
    emu.faults.clear()
    assert api.get("/extractors/").status_code == 200
    with pytest.raises(ValueError):
        emu.faults.configure(rate=2)
