"""The Stitch emulator's Connect API, admin endpoints, faults and secret hygiene."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_importio.testing import StitchEmulator


class Connect:
    def __init__(self, emu: StitchEmulator) -> None:
        self.emu = emu
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {emu.connect_token}"

    def call(self, method: str, path: str, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", 30)
        url = path if "://" in path else self.emu.url + path
        return self.session.request(method, url, **kwargs)

    def create(self, display_name: str = "Import API", **extra: Any) -> dict[str, Any]:
        response = self.call("POST", "/v4/sources", json={"type": "import_api", "display_name": display_name, **extra})
        assert response.status_code == 200, response.text
        return response.json()


@pytest.fixture
def connect(stitch_emulator: StitchEmulator) -> Iterator[Connect]:
    c = Connect(stitch_emulator)
    yield c
    c.session.close()


def test_wrong_connect_token_is_401(connect: Connect) -> None:
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "Basic x"}):
        response = requests.get(connect.emu.url + "/v4/sources", headers=headers, timeout=10)
        assert (response.status_code, response.json()) == (401, {"message": "Not Authorized"})


def test_source_types_report_cards(connect: Connect) -> None:
    listing = connect.call("GET", "/v4/source-types").json()
    assert [card["type"] for card in listing] == ["import_api"]
    card = connect.call("GET", "/v4/source-types/import_api").json()
    assert card["current_step_type"] == "form"
    assert [step["type"] for step in card["steps"]] == ["form", "fully_configured"]
    assert card["details"]["protocol"] == "import_api"
    assert connect.call("GET", "/v4/source-types/nope").status_code == 404


def test_create_get_update_pause_delete(connect: Connect) -> None:
    source = connect.create("Import API")
    assert (source["name"], source["display_name"], source["type"]) == ("import_api", "Import API", "import_api")
    assert source["report_card"]["current_step_type"] == "fully_configured"
    assert source["stitch_client_id"] == 116078 and source["paused_at"] is None and source["deleted_at"] is None
    path = f"/v4/sources/{source['id']}"
    assert connect.call("GET", path).json() == source

    updated = connect.call("PUT", path, json={"display_name": "Renamed", "properties": {"a": "b"}}).json()
    assert (updated["display_name"], updated["properties"], updated["name"]) == ("Renamed", {"a": "b"}, "import_api")

    token = connect.call("POST", f"{path}/tokens").json()["access_token"]
    push = {"Authorization": f"Bearer {token}"}
    body = {"table_name": "t", "schema": {"properties": {}}, "messages": [{"action": "upsert", "sequence": 1, "data": {}}]}
    assert requests.post(connect.emu.url + "/v2/import/batch", json=body, headers=push, timeout=10).status_code == 201

    paused = connect.call("PUT", path, json={"paused_at": "2026-01-02T03:04:05Z"}).json()
    assert paused["paused_at"] == "2026-01-02T03:04:05Z"
    response = requests.post(connect.emu.url + "/v2/import/batch", json=body, headers=push, timeout=10)
    assert (response.status_code, response.json()["errors"]) == (401, {"error": "Connection is not active."})
    assert connect.call("PUT", path, json={"paused_at": None}).json()["paused_at"] is None
    assert requests.post(connect.emu.url + "/v2/import/batch", json=body, headers=push, timeout=10).status_code == 201

    deleted = connect.call("DELETE", path).json()
    assert deleted["deleted_at"] is not None
    assert connect.call("GET", path).json()["deleted_at"] == deleted["deleted_at"]
    response = requests.post(connect.emu.url + "/v2/import/batch", json=body, headers=push, timeout=10)
    assert response.status_code == 401 and response.json()["error"] == "Forbidden"


_CREATE_400 = [
    ({"display_name": "x"}, "InvalidType"),
    ({"type": "platform.nope", "display_name": "x"}, "InvalidType"),
    ({"type": "import_api"}, "InvalidDisplayName"),
    ({"type": "import_api", "display_name": "!!!"}, "InvalidDisplayName"),
    ({"type": "import_api", "display_name": "x", "properties": []}, "InvalidProperties"),
    ({"type": "import_api", "display_name": "x", "bogus": 1}, "InvalidBody"),
    ([1], "InvalidBody"),
]


@pytest.mark.parametrize(("body", "error"), _CREATE_400)
def test_create_source_400(connect: Connect, body: Any, error: str) -> None:
    response = connect.call("POST", "/v4/sources", json=body)
    assert response.status_code == 400
    assert response.json()["error"] == error and isinstance(response.json()["data"]["message"], str)


def test_duplicate_name_unknown_and_invalid_ids(connect: Connect) -> None:
    connect.create("Same Name")
    response = connect.call("POST", "/v4/sources", json={"type": "import_api", "display_name": "same name"})
    assert (response.status_code, response.json()["error"]) == (400, "InvalidName")
    assert connect.call("GET", "/v4/sources/999").status_code == 404
    assert connect.call("DELETE", "/v4/sources/999").status_code == 404
    assert connect.call("POST", "/v4/sources/999/tokens").status_code == 404
    assert connect.call("GET", "/v4/sources/abc").json()["error"] == "InvalidId"
    assert connect.call("PUT", "/v4/sources/999", json={}).status_code == 404
    assert connect.call("PATCH", "/v4/sources").status_code == 405


def test_tokens_max_two_and_revoke(connect: Connect) -> None:
    source = connect.create()
    path = f"/v4/sources/{source['id']}/tokens"
    first = connect.call("POST", path).json()
    second = connect.call("POST", path).json()
    assert set(first) == {"id", "access_token"} and first["id"] != second["id"]
    third = connect.call("POST", path)
    assert third.status_code == 400
    assert third.json()["error"] == "AccessDenied" and "2 active" in third.json()["data"]["message"]
    with pytest.raises(ValueError):
        connect.emu.add_import_token(source["id"])
    assert sorted(connect.call("GET", path).json()) == sorted([first["id"], second["id"]])

    assert connect.call("DELETE", f"{path}/{first['id']}").status_code == 200
    assert connect.call("DELETE", f"{path}/{first['id']}").status_code == 404
    assert connect.call("GET", path).json() == [second["id"]]
    response = requests.post(
        connect.emu.url + "/v2/import/validate", json=[],
        headers={"Authorization": f"Bearer {first['access_token']}"}, timeout=10)
    assert (response.status_code, response.json()) == (401, {"message": "Not Authorized"})
    assert connect.call("POST", path).status_code == 200  # room again


def test_paging_follows_links_next() -> None:
    with StitchEmulator(page_size=2) as emu:
        connect = Connect(emu)
        created = [connect.create(f"Source {i}")["id"] for i in range(5)]
        connect.call("DELETE", f"/v4/sources/{created[1]}")
        emu.add_source("Paused one", paused=True)
        seen, url, pages = [], "/v4/sources", 0
        while url:
            body = connect.call("GET", url).json()
            assert set(body) == {"data", "links"} and len(body["data"]) <= 2
            seen += [s["id"] for s in body["data"]]
            url, pages = body["links"]["next"], pages + 1
            assert url is None or url.startswith(emu.url + "/v4/sources?page=")
        assert pages == 3 and len(seen) == 6 and seen[:5] == created
        assert connect.call("GET", "/v4/sources?page=9").json() == {"data": [], "links": {"next": None}}
        assert connect.call("GET", "/v4/sources?page=0").status_code == 400
        connect.session.close()


def test_faults_scripted_and_random(connect: Connect) -> None:
    emu = connect.emu
    emu.faults.script("429", "500", "502", "504", path="/v4/sources$", method="GET")
    statuses = [connect.call("GET", "/v4/sources") for _ in range(5)]
    assert [r.status_code for r in statuses] == [429, 500, 502, 504, 200]
    assert statuses[0].headers["Retry-After"] == "1"
    assert emu.request_count("GET", r"^/v4/sources$") == 5
    assert [r.fault for r in emu.requests] == ["429", "500", "502", "504", None]
    emu.faults.script("drop", path="/v4/source-types")
    with pytest.raises(requests.ConnectionError):
        connect.call("GET", "/v4/source-types")
    emu.faults.configure(rate=1.0, kinds=["503"], seed=1)
    assert connect.call("GET", "/v4/source-types").status_code == 503
    emu.faults.clear()
    response = requests.post(f"{emu.url}/_emulator/faults", json={"script": ["500"]}, timeout=10)
    assert response.json() == {"pending": ["500"]}
    assert connect.call("GET", "/v4/source-types").status_code == 500


def test_admin_endpoints(connect: Connect) -> None:
    url = connect.emu.url + "/_emulator/"
    source = requests.post(url + "sources", json={"display_name": "Admin Made"}, timeout=10).json()
    assert source["name"] == "admin_made"
    assert [s["id"] for s in requests.get(url + "sources", timeout=10).json()] == [source["id"]]
    token = requests.post(url + "tokens", json={"source_id": source["id"]}, timeout=10).json()
    headers = {"Authorization": f"Bearer {token['access_token']}"}
    body = {"table_name": "t", "schema": {"properties": {"id": {"type": "integer"}}},
            "messages": [{"action": "upsert", "sequence": 1, "data": {"id": 1}}], "key_names": ["id"]}
    assert requests.post(connect.emu.url + "/v2/import/batch", json=body, headers=headers, timeout=10).status_code == 201
    assert requests.post(url + "wait_loaded", json={"timeout": 5}, timeout=10).json() == {"loaded": True}
    assert requests.get(url + "warehouse", timeout=10).json() == [{"schema": "admin_made", "table": "t"}]
    assert requests.get(url + "batches", timeout=10).json()[0]["token_id"] == token["id"]
    assert requests.post(url + "revoke", json={"token": token["access_token"]}, timeout=10).status_code == 200
    assert requests.post(connect.emu.url + "/v2/import/batch", json=body, headers=headers, timeout=10).status_code == 401
    assert requests.post(url + "config", json={"page_size": 7}, timeout=10).json()["page_size"] == 7
    assert requests.post(url + "reset", timeout=10).status_code == 200
    assert connect.emu.sources() == [] and connect.emu.tables() == []
    assert connect.emu.request_count() == 0  # admin calls are never logged


def test_tokens_never_logged(connect: Connect, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    emu = connect.emu
    source = connect.create()
    created = connect.call("POST", f"/v4/sources/{source['id']}/tokens").json()
    python_token = emu.add_import_token(connect.create("Other")["id"])
    for token in (created["access_token"], python_token, "bogus-secret-token"):
        headers = {"Authorization": f"Bearer {token}"}
        requests.post(emu.url + "/v2/import/batch", json={"x": 1}, headers=headers, timeout=10)
        requests.post(emu.url + "/v2/import/push", json=[], headers=headers, timeout=10)
    emu.faults.script("500")
    connect.call("GET", "/v4/sources")
    logged = repr([r.to_dict() for r in emu.requests]) + requests.get(emu.url + "/_emulator/requests", timeout=10).text
    text = caplog.text + "".join(r.getMessage() for r in caplog.records)
    assert "127.0.0.1" in caplog.text  # the request lines are logged at DEBUG
    for secret in (created["access_token"], python_token, "bogus-secret-token", emu.connect_token):
        assert secret not in logged
        assert secret not in text
