"""The Stitch emulator's Import API answers, case by case against stitch-facts.md, and its warehouse."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_importio.testing import StitchEmulator

SCHEMA = {
    "properties": {
        "id": {"type": "integer"},
        "name": {"type": ["null", "string"]},
        "price": {"type": "number"},
        "active": {"type": "boolean"},
        "meta": {"type": "object"},
        "tags": {"type": "array"},
    }
}
CLIENT_ID = 116078


def batch(*rows: dict[str, Any], seq: int = 1, key_names: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    body = {
        "table_name": "customers",
        "schema": SCHEMA,
        "messages": [{"action": "upsert", "sequence": seq + i, "data": row} for i, row in enumerate(rows or ({"id": 1},))],
        "key_names": ["id"] if key_names is None else key_names,
    }
    body.update(extra)
    return body


def push_record(**overrides: Any) -> dict[str, Any]:
    record = {
        "client_id": CLIENT_ID,
        "table_name": "events",
        "sequence": 1,
        "action": "upsert",
        "key_names": ["id"],
        "data": {"id": 1, "kind": "click"},
    }
    record.update(overrides)
    return record


class Client:
    def __init__(self, emu: StitchEmulator) -> None:
        self.emu = emu
        self.session = requests.Session()
        source = emu.add_source(display_name="Import.io")
        self.source_id = source["id"]
        self.token = emu.add_import_token(self.source_id)

    def post(self, path: str, body: Any = None, token: str | None = "default", raw: bytes | None = None,
             content_type: str | None = "application/json") -> requests.Response:
        headers = {}
        token = self.token if token == "default" else token
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        if content_type:
            headers["Content-Type"] = content_type
        data = raw if raw is not None else json.dumps(body).encode()
        return self.session.post(self.emu.url + path, data=data, headers=headers, timeout=30)


@pytest.fixture
def stitch(stitch_emulator: StitchEmulator) -> StitchEmulator:
    return stitch_emulator


@pytest.fixture
def client(stitch: StitchEmulator) -> Iterator[Client]:
    c = Client(stitch)
    yield c
    c.session.close()


def _error(message: str) -> dict[str, str]:
    return {"error": message}


_BATCH_400 = [
    ("missing table_name", {k: v for k, v in batch().items() if k != "table_name"},
     _error("Request failed validation:#: required key [table_name] not found")),
    ("missing messages", {k: v for k, v in batch().items() if k != "messages"},
     _error("Request failed validation:#: required key [messages] not found")),
    ("extraneous key", batch(extra_key=1),
     _error("Request failed validation:#: extraneous key [extra_key] is not permitted")),
    ("table_name type", batch(table_name=5),
     _error("Request failed validation:#/table_name: expected type: String, found: Integer")),
    ("key_names type", batch(key_names="id"),
     _error("Request failed validation:#/key_names: expected type: JSONArray, found: String")),
    ("sequence type", batch(messages=[{"action": "upsert", "sequence": "1", "data": {"id": 1}}]),
     _error("Request failed validation:#/messages/0/sequence: expected type: Integer, found: String")),
    ("action", batch(messages=[{"action": "delete", "sequence": 1, "data": {"id": 1}}]),
     _error("Request failed validation:#/messages/0/action: delete is not a valid enum value")),
    ("sequence above maximum", batch(messages=[{"action": "upsert", "sequence": 2**63, "data": {"id": 1}}]),
     _error("Request failed validation:#/messages/0/sequence: 9223372036854775808 is not less or equal to "
            "9223372036854775807")),
    ("no messages", batch(messages=[]),
     _error("Request failed validation:#/messages: expected minimum item count: 1, found: 0")),
    ("too many messages", batch(*({"id": i} for i in range(20_001)), key_names=[]),
     _error("Request failed validation:#/messages: expected maximum item count: 20000, found: 20001")),
    ("record type", batch({"id": 1, "price": "cheap"}),
     _error("Record 0 did not conform to schema: #/price: expected: Number, found: String")),
    ("second record type", batch({"id": 1}, {"id": "two"}),
     _error("Record 1 did not conform to schema: #/id: expected: Integer, found: String")),
    ("record keyword", batch({"id": 1}, schema={"properties": {"id": {"type": "integer", "minimum": 5}}}),
     _error("Record 0 did not conform to schema: #/id: 1 is less than the minimum of 5")),
    ("missing key", batch({"name": "x"}), _error("Record is missing key property id")),
    ("null key", batch({"id": None}), _error("Record is missing key property id")),
    ("unknown schema type", batch(schema={"properties": {"id": {"type": "strin"}}}),
     _error("Invalid JSON schema: unknown type: [strin]")),
    ("long string key", batch({"id": "x" * 256}, schema={"properties": {"id": {"type": "string"}}}),
     _error("Record 0 key property id must be shorter than 256 characters")),
    ("too many data points", batch({"id": 1, "tags": list(range(10_000))}),
     _error("Record 0 has 10001 data points; at most 10000 are allowed")),
]


@pytest.mark.parametrize(("case", "body", "expected"), _BATCH_400, ids=[c[0] for c in _BATCH_400])
def test_batch_400_bodies(client: Client, case: str, body: Any, expected: Any) -> None:
    response = client.post("/v2/import/batch", body)
    assert (response.status_code, response.json()) == (400, expected)
    assert client.emu.batches == []


def test_batch_accepts_edge_values(client: Client) -> None:
    long_ok = batch({"id": "x" * 255}, schema={"properties": {"id": {"type": "string"}}}, key_names=["id"])
    assert client.post("/v2/import/batch", long_ok).status_code == 201
    max_seq = batch(messages=[{"action": "upsert", "sequence": 2**63 - 1, "data": {"id": 1}}])
    assert client.post("/v2/import/batch", max_seq).status_code == 201
    no_keys = {k: v for k, v in batch().items() if k != "key_names"}
    assert client.post("/v2/import/batch", no_keys).status_code == 201
    full = batch(*({"id": i} for i in range(20_000)), key_names=[])
    assert client.post("/v2/import/batch", full).status_code == 201


def test_batch_201_202_415_413(client: Client) -> None:
    response = client.post("/v2/import/batch", batch())
    assert (response.status_code, response.json()) == (201, {"status": "OK", "message": "Batch Accepted!"})

    client.emu.accept_202_rate = 1.0
    response = client.post("/v2/import/batch", batch(seq=5))
    assert (response.status_code, response.json()) == (
        202, {"status": "Accepted", "message": "The batch is queued to be processed."})
    client.emu.accept_202_rate = 0.0

    response = client.post("/v2/import/batch", batch(), content_type="text/plain")
    assert (response.status_code, response.text) == (415, "Content-Type must be application/json")
    response = client.post("/v2/import/batch", batch(), content_type=None)
    assert response.status_code == 415

    big = b" " * 20_000_001
    response = client.post("/v2/import/batch", raw=big)
    assert (response.status_code, response.json()) == (413, {
        "status": "ERROR", "message": "Request rejected: request size (20000001 bytes) exceeds the maximum"})

    client.emu.wait_loaded()
    assert [(b["status"], b["records"], b["table"], b["loaded"]) for b in client.emu.batches] == [
        (201, 1, "customers", True), (202, 1, "customers", True)]


def test_auth_401_kinds(client: Client, stitch: StitchEmulator) -> None:
    not_authorized = {"message": "Not Authorized"}
    for token in (None, "unknown-token", stitch.connect_token):
        response = client.post("/v2/import/batch", batch(), token=token)
        assert (response.status_code, response.json()) == (401, not_authorized)

    europe = stitch.add_source(display_name="EU source", region="europe")
    eu_token = stitch.add_import_token(europe["id"])
    response = client.post("/v2/import/batch", batch(), token=eu_token)
    assert (response.status_code, response.json()) == (401, {"message": "Invalid region."})

    not_active = {"error": "Forbidden", "errors": {"error": "Connection is not active."}}
    paused = stitch.add_source(display_name="Paused", paused=True)
    response = client.post("/v2/import/batch", batch(), token=stitch.add_import_token(paused["id"]))
    assert (response.status_code, response.json()) == (401, not_active)

    stitch.revoke_import_token(client.token)
    response = client.post("/v2/import/batch", batch())
    assert (response.status_code, response.json()) == (401, not_authorized)


def test_status_needs_no_auth(stitch: StitchEmulator) -> None:
    response = requests.get(stitch.url + "/v2/import/status", timeout=10)
    body = response.json()
    assert response.status_code == 200
    assert set(body) == {"name", "version", "revision", "status", "reason"}
    assert (body["name"], body["status"], body["reason"]) == ("pipeline.gate", "OK", None)


_UNPROCESSABLE = "Request cannot be processed; see errors."


@pytest.mark.parametrize("path", ["/v2/import/validate", "/v2/import/push"])
def test_push_format_answers(client: Client, path: str) -> None:
    response = client.post(path, raw=b"{not json")
    assert (response.status_code, response.json()) == (400, {"status": "ERROR", "message": "Malformed json in the body!"})
    response = client.post(path, {"records": []})
    assert (response.status_code, response.json()) == (
        400, {"status": "ERROR", "message": "An array of records is expected"})
    response = client.post(path, [push_record(sequence="x"), push_record(action="delete")])
    assert response.status_code == 422
    body = response.json()
    assert (body["status"], body["error"]) == ("ERROR", _UNPROCESSABLE)
    assert [e["reason"] for e in body["errors"]] == [
        "#/0/sequence: expected type: Integer, found: String", "#/1/action: delete is not a valid enum value"]
    response = client.post(path, [push_record(data={"kind": "x"})])
    assert response.status_code == 422
    assert response.json()["errors"] == [{"reason": "Record is missing key property id"}]


def test_validate_200_and_no_load(client: Client) -> None:
    response = client.post("/v2/import/validate", [push_record(), push_record(sequence=2)])
    assert (response.status_code, response.json()) == (200, {"status": "OK", "message": "Batch is valid!"})
    assert client.emu.batches == []


def test_validate_never_answers_503(client: Client) -> None:
    client.emu.faults.script("503", path="/v2/import/validate")
    response = client.post("/v2/import/validate", [push_record()])
    assert response.status_code == 200
    client.emu.faults.script("503", path="/v2/import/batch")
    assert client.post("/v2/import/batch", batch()).status_code == 503


def test_push_403_and_load(client: Client) -> None:
    response = client.post("/v2/import/push", [push_record(), push_record(client_id=1)])
    assert (response.status_code, response.json()) == (403, {
        "status": "ERROR", "error": "Forbidden",
        "errors": {"error": "Access token is not associated with this client."}})
    response = client.post("/v2/import/push", [push_record(), push_record(sequence=2, data={"id": 2, "n": 1.5})])
    assert (response.status_code, response.json()) == (201, {"status": "OK", "message": "Batch Accepted!"})
    client.emu.wait_loaded()
    assert [(r["id"], r["kind"], r["n"]) for r in client.emu.rows("import_io", "events")] == [
        (1, "click", None), (2, None, 1.5)]


# -- warehouse -------------------------------------------------------------------------------


def test_warehouse_types_and_system_columns(client: Client) -> None:
    row = {"id": 1, "name": "Finn", "price": 2.5, "active": True, "meta": {"a": 1}, "tags": ["x"]}
    assert client.post("/v2/import/batch", batch(row, {"id": 2, "name": None}, seq=10)).status_code == 201
    client.emu.wait_loaded()
    assert client.emu.tables() == [("import_io", "customers")]
    assert client.emu.columns("import_io", "customers") == {
        "_sdc_batched_at": "TEXT", "_sdc_received_at": "TEXT", "_sdc_sequence": "INTEGER",
        "_sdc_table_version": "INTEGER", "id": "INTEGER", "name": "TEXT", "price": "REAL",
        "active": "BOOLEAN", "meta": "TEXT", "tags": "TEXT"}
    first, second = client.emu.rows("import_io", "customers")
    assert {k: first[k] for k in row} == {
        "id": 1, "name": "Finn", "price": 2.5, "active": 1, "meta": '{"a": 1}', "tags": '["x"]'}
    assert (second["id"], second["name"], second["active"]) == (2, None, None)
    assert first["_sdc_sequence"] == 10 and first["_sdc_table_version"] is None
    assert first["_sdc_received_at"].endswith("Z") and first["_sdc_batched_at"] >= first["_sdc_received_at"]
    admin = requests.get(f"{client.emu.url}/_emulator/warehouse/import_io/customers", timeout=10)
    assert [r["id"] for r in admin.json()] == [1, 2]
    assert requests.get(f"{client.emu.url}/_emulator/warehouse/import_io/nope", timeout=10).status_code == 404


def test_upsert_highest_sequence_wins(client: Client) -> None:
    post = client.post
    assert post("/v2/import/batch", batch({"id": 2, "name": "b5"}, seq=5)).status_code == 201
    assert post("/v2/import/batch", batch({"id": 1, "name": "a10"}, seq=10)).status_code == 201
    assert post("/v2/import/batch", batch({"id": 1, "name": "a3"}, seq=3)).status_code == 201  # lower: ignored
    assert post("/v2/import/batch", batch({"id": 2, "name": "b5-again"}, seq=5)).status_code == 201  # equal: later wins
    assert post("/v2/import/batch", batch({"id": 1, "name": "a1"}, {"id": 1, "name": "a20"}, seq=19)).status_code == 201
    client.emu.wait_loaded()
    rows = client.emu.rows("import_io", "customers")
    assert [(r["id"], r["name"], r["_sdc_sequence"]) for r in rows] == [(1, "a20", 20), (2, "b5-again", 5)]


def test_append_without_keys_and_new_columns(client: Client) -> None:
    assert client.post("/v2/import/batch", batch({"id": 1}, {"id": 1}, key_names=[])).status_code == 201
    wider = {"properties": {**SCHEMA["properties"], "extra": {"type": ["null", "integer"]}}}
    assert client.post("/v2/import/batch", batch({"id": 1, "extra": 7}, key_names=[], schema=wider)).status_code == 201
    client.emu.wait_loaded()
    assert client.emu.columns("import_io", "customers")["extra"] == "INTEGER"
    assert [(r["id"], r["extra"]) for r in client.emu.rows("import_io", "customers")] == [(1, None), (1, None), (1, 7)]


def test_load_delay_and_wait_loaded() -> None:
    with StitchEmulator(load_delay=0.3) as emu:
        c = Client(emu)
        started = time.monotonic()
        assert c.post("/v2/import/batch", batch()).status_code == 201
        assert emu.tables() == [] and emu.batches[0]["loaded"] is False
        with pytest.raises(TimeoutError):
            emu.wait_loaded(timeout=0.05)
        emu.wait_loaded(timeout=5)
        assert time.monotonic() - started >= 0.3
        assert len(emu.rows("import_io", "customers")) == 1 and emu.batches[0]["loaded"] is True
        emu.reset()
        assert emu.tables() == [] and emu.batches == [] and emu.requests == []
        c.session.close()
