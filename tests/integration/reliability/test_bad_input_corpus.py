"""The bad-input corpus (issue 11): for each bad input, the exact message a user sees, and that
nothing already collected is lost and the store stays consistent.

One test per case, grouped by where the bad input enters: the Import.io account and extractors
(the collection run), the input files (the pickup), the schema (QA), and the destinations (the
push: SFTP, templates, Stitch). Bad project files are in ``tests/unit/reliability``. Fixtures and
helpers come from the tests that cover each part in depth; this file is the catalogue.

"Loses nothing" means, for a push: the snapshot is still ``PASSED_QA`` with its rows file intact,
its push record is ``FAILED`` (never ``PUSHED``) with the same error, and a retry once the problem
is fixed delivers everything exactly once. For a collection run: the snapshot is ``START_FAILED``
with the reason, its extractor's lease is released, and Import.io got exactly one request.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import re
from pathlib import Path

import pytest
from airflow.sdk.exceptions import AirflowException

from airflow_provider_importio.clients.errors import (
    BadRequestError,
    NotFoundError,
    UnauthorizedError,
    UnprocessableEntityError,
)
from airflow_provider_importio.hooks.store import ImportioStoreHook
from airflow_provider_importio.operators.qa import ImportioQAOperator
from airflow_provider_importio.transfers.destination_push import DeliveryPush
from airflow_provider_importio.transfers.destinations import DestinationError
from airflow_provider_importio.workbench.config_model import Destination
from airflow_provider_importio.workbench.inputs import InputFileError
from airflow_provider_importio.workbench.snapshot_states import SnapshotState
from tests.integration.conftest import set_importio_connection
from tests.integration.hooks.test_stitch_hooks import import_hook, source, stitch  # noqa: F401 - fixtures
from tests.integration.operators.test_collection_run import context, env, operator, put_chunk  # noqa: F401
from tests.integration.operators.test_input_pickup import CONTEXT, INPUT_KEY, pickup, s3, stage_keys  # noqa: F401
from tests.integration.operators.test_qa_review import GOOD, QA, collected
from tests.integration.transfers.conftest import (  # noqa: F401 - fixtures
    FIELDS,
    SFTP_CONN,
    make_snapshot,
    push_operator,
    s3_destination,
    sftp_destination,
    sftp_server,
    store,
)
from tests.integration.transfers.test_push_sftp import files, final, write_rows_file
from tests.integration.transfers.test_push_stitch import ROW_SCHEMA, stitch_conn, stitch_destination  # noqa: F401

INPUT = f"s3://inputs/{INPUT_KEY}"
MISSING_EXTRACTOR = "00000000-0000-4000-8000-000000000000"


def digest(path: str | Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def assert_push_failed_and_nothing_lost(store, snapshot, rows_digest: str, error: str) -> None:  # noqa: F811
    """The snapshot is as before the push (PASSED_QA, the same rows file, unchanged) and has one
    FAILED push record holding ``error``; nothing is recorded PUSHED."""
    now = store.get_snapshot(snapshot.id)
    assert now.state is SnapshotState.PASSED_QA
    assert now.artifacts == snapshot.artifacts and digest(now.artifacts["rows"]) == rows_digest
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert (record.status.value, record.error) == ("FAILED", error)


def push_failure(snapshot_id: str, destination: str, error: str) -> str:
    """What the push task raises when the one pair it pushes fails."""
    return f"1 of 1 pushes failed (recorded in the store): {snapshot_id} → {destination}: {error}"


# -- Import.io: the key, the extractor -----------------------------------------------------------------


def _start_failed(emulator, s3, extractor: str, error_type: type, pattern: str) -> None:  # noqa: F811
    """A collection run of one chunk fails with exactly ``pattern``; Import.io got one request; the
    snapshot is START_FAILED with the same text; the extractor's lease is free for a retry."""
    chunk = put_chunk(s3, 0, ["https://shop.example/p/1"])
    with pytest.raises(error_type) as caught:
        operator(chunk, extractor).execute(context())
    assert type(caught.value) is error_type
    assert re.fullmatch(pattern, str(caught.value)), str(caught.value)
    assert emulator.api_key not in str(caught.value)
    assert len([r for r in emulator.requests if not r.path.startswith("/_emulator")]) == 1  # no retry storm
    store = ImportioStoreHook().get_store()  # noqa: F811
    (snapshot,) = store.snapshots()
    assert snapshot.state is SnapshotState.START_FAILED
    assert snapshot.state_reason == f"start failed: {caught.value}"
    assert store.lease_holder(extractor) is None


def test_wrong_importio_key_is_401_once(env, monkeypatch):  # noqa: F811
    emulator, s3 = env
    extractor = emulator.add_extractor(name="Shop A")["guid"]
    set_importio_connection(monkeypatch, "importio_default", emulator.url, "wrong-key-123456")
    _start_failed(emulator, s3, extractor, UnauthorizedError,
                  rf"Import\.io PUT http://127\.0\.0\.1:\d+/extractors/{extractor}/inputs\?_apikey=\*\*\* "
                  r"answered 401 Unauthorized: Unauthorized "
                  r"\(check the API key in Airflow connection 'importio_default'\)")
    assert "wrong-key-123456" not in ImportioStoreHook().get_store().snapshots()[0].state_reason

    set_importio_connection(monkeypatch, "importio_default", emulator.url, emulator.api_key)  # the key fixed
    (failed,) = ImportioStoreHook().get_store().snapshots()
    result = operator(put_chunk(s3, 0, ["https://shop.example/p/1"]), extractor).execute(context())  # the retry
    assert (result["snapshot_id"], result["state"]) == (failed.id, "PENDING_IMPORT")  # the same snapshot, collected


def test_unknown_extractor_is_404_once(env):  # noqa: F811
    emulator, s3 = env
    _start_failed(emulator, s3, MISSING_EXTRACTOR, NotFoundError,
                  rf"Import\.io PUT http://127\.0\.0\.1:\d+/extractors/{MISSING_EXTRACTOR}/inputs\?_apikey=\*\*\* "
                  rf"answered 404 Not Found: Not Found; Extractor {MISSING_EXTRACTOR} not found")


def test_archived_extractor_is_400_once(env):  # noqa: F811
    emulator, s3 = env
    extractor = emulator.add_extractor(name="Shop A", archived=True)["guid"]
    _start_failed(emulator, s3, extractor, BadRequestError,
                  rf"Import\.io PUT http://127\.0\.0\.1:\d+/extractors/{extractor}/inputs\?_apikey=\*\*\* "
                  r"answered 400 Bad Request: Bad Request; Extractor is archived or a crawl already in progress")


# -- input files -----------------------------------------------------------------------------------------

BAD_INPUT_FILES = [
    ("missing", None, f"{INPUT} does not exist"),
    ("empty", b"", f"{INPUT} is empty"),
    ("only-blank-lines", b"  \n\n \r\n", f"{INPUT} is empty"),
    ("empty-json-array", b"[]", f"{INPUT} is empty (an empty JSON array)"),
    ("malformed-json-array", b'[{"_url": "https://a.io"},]', f"{INPUT}: item 1 at offset 26 is not valid JSON "
     "(Expecting value: line 1 column 27 (char 26))"),
    ("not-urls", b"foo\nbar\n", f"every one of the 2 inputs in {INPUT} is invalid: line 1: 'foo' is not an "
                                "absolute http(s) URL; line 2: 'bar' is not an absolute http(s) URL"),
    ("url-not-a-string", b'{"url": 3}\n', f"the one input in {INPUT} is invalid: line 1: the URL 3 is not a string"),
    ("huge-single-line", b"https://shop.example/" + b"x" * (1 << 20) + b"\n",
     f"the one input in {INPUT} is invalid: line 1: the line is longer than 1048576 bytes"),
    ("not-utf8", b"\xff\xfe\x00\x01garbage\n",
     f"the one input in {INPUT} is invalid: line 1: not valid UTF-8: '\ufffd\ufffd\\x00\\x01garbage'"),
]


@pytest.mark.parametrize(("body", "message"), [c[1:] for c in BAD_INPUT_FILES], ids=[c[0] for c in BAD_INPUT_FILES])
def test_bad_input_file(s3, body, message):  # noqa: F811
    if body is not None:
        s3.put_object(Bucket="inputs", Key=INPUT_KEY, Body=body)
    with pytest.raises(InputFileError) as caught:
        pickup().execute(CONTEXT)
    assert str(caught.value) == message
    assert stage_keys(s3) == []  # nothing staged, so no collection run starts on a bad file


def test_a_huge_line_among_good_ones_is_left_out_and_the_rest_staged(s3):  # noqa: F811
    s3.put_object(Bucket="inputs", Key=INPUT_KEY,
                  Body=b"https://a.io/1\nhttps://a.io/" + b"x" * (1 << 20) + b"\nhttps://a.io/2\n")
    (chunk,) = pickup(chunks=1).execute(CONTEXT)
    assert chunk["count"] == 2
    (key,) = stage_keys(s3)
    body = gzip.decompress(s3.get_object(Bucket="stage", Key=key)["Body"].read())  # chunks are staged gzipped
    assert body == b'{"_url":"https://a.io/1"}\n{"_url":"https://a.io/2"}\n'


def test_an_unreadable_local_input_file(tmp_path):
    unreadable = tmp_path / "inputs.txt"
    unreadable.mkdir()  # a directory where the file should be (the tests run as root: chmod would not stop them)
    with pytest.raises(InputFileError) as caught:
        pickup(input_uri=str(unreadable), staging_uri=str(tmp_path / "stage")).execute(CONTEXT)
    assert str(caught.value) == f"{unreadable} cannot be read: Is a directory"
    assert not (tmp_path / "stage").exists()


# -- a schema that rejects every row -------------------------------------------------------------------


def test_a_schema_rejecting_every_row_stops_at_qa_with_statistics_and_pushes_nothing(store, tmp_path):  # noqa: F811
    schema = {**QA["schema"], "fields": [{"name": "name", "type": "STRING", "required": True,
                                          "rules": {"pattern": "^ZZZ$"}}, {"name": "price", "type": "STRING"}]}
    snapshot = collected(store, tmp_path, GOOD)
    qa = ImportioQAOperator(task_id="qa", snapshot={"snapshot_id": snapshot.id}, **{**QA, "schema": schema})
    result = qa.execute({})

    assert result["state"] == "PENDING_QA"
    assert result["summary"] == "PENDING_QA: 2 of 14 checks failed (none escalating)"
    assert [(f["name"], f["reason"]) for f in result["failing"]] == [
        ("Quality score", "0 is not > 0.9"),
        ("Validation errors: name.pattern",
         "18 validation errors and no baseline yet (any validation error fails until a baseline exists)")]
    stats = store.snapshot_stats(snapshot.id)
    assert (stats["total_rows"], stats["valid_rows"], stats["invalid_rows"], stats["validation_errors.name.pattern"],
            stats["quality_score"]) == (18, 0, 18, 18, 0)
    rows = [json.loads(line) for line in open(result["rows_uri"])]
    assert len(rows) == 18 and all(r["_valid"] is False and r["_errors"] == ["name.pattern"] for r in rows)
    # the push leaves it alone: it waits for a person's review
    assert push_operator([snapshot.id], [s3_destination("CSV")]).execute({}) == []
    assert store.pushes(snapshot_id=snapshot.id) == []
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PENDING_QA


# -- SFTP and S3 destinations -------------------------------------------------------------------------


def test_sftp_host_key_mismatch(store, sftp_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv(f"AIRFLOW_CONN_{SFTP_CONN.upper()}",
                       sftp_server.connection_json(host_key=sftp_server.other_host_key()))
    snapshot = make_snapshot(store)
    rows = digest(snapshot.artifacts["rows"])
    with pytest.raises(AirflowException) as caught:
        push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert str(caught.value) == push_failure(snapshot.id, "sftp-csv", record.error)
    key = "AAAAC3NzaC1lZDI1NTE5[A-Za-z0-9+/]{48}"
    assert re.fullmatch(rf"ConnectionError: cannot connect to SFTP connection 'sftp_test' "
                        rf"\(127\.0\.0\.1:{sftp_server.port}\): "
                        rf"BadHostKeyException: Host key for server '127\.0\.0\.1' does not match: "
                        rf"got '{key}', expected '{key}'", record.error), record.error
    assert sftp_server.password not in record.error
    assert_push_failed_and_nothing_lost(store, snapshot, rows, record.error)
    assert files(sftp_server) == [] and sftp_server.stats.bytes_written == 0


def test_full_sftp_disk(store, sftp_server, tmp_path):  # noqa: F811
    snapshot = make_snapshot(store, rows_uri=write_rows_file(tmp_path / "rows.ndjson", 2_000))
    rows = digest(snapshot.artifacts["rows"])
    sftp_server.set_faults(disk_full_after_bytes=50_000)
    with pytest.raises(AirflowException) as caught:
        push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert str(caught.value) == push_failure(snapshot.id, "sftp-csv", record.error)
    assert re.fullmatch(r"OSError: upload of /upload/prices/2027/53/products_2027-01-01_shop-a_0\.csv"
                        r"\.partial-[0-9a-f]{12} "
                        r"incomplete \(size mismatch in put!  \d+ != \d+\): "
                        r"the server refused a write \(disk full, quota or permissions\?\)", record.error), record.error
    assert_push_failed_and_nothing_lost(store, snapshot, rows, record.error)
    assert files(sftp_server) == []  # the partial file was removed

    sftp_server.set_faults()  # space freed: the task's retry delivers the file
    (result,) = push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    assert result["status"] == "PUSHED" and result["row_count"] == 2_000
    assert final(sftp_server).stat().st_size == result["byte_count"]
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PUSHED


def test_wrong_sftp_password(store, sftp_server, monkeypatch):  # noqa: F811
    conn = sftp_server.connection()
    conn["password"] = "not-the-password"
    monkeypatch.setenv(f"AIRFLOW_CONN_{SFTP_CONN.upper()}", json.dumps(conn))
    snapshot = make_snapshot(store)
    rows = digest(snapshot.artifacts["rows"])
    with pytest.raises(AirflowException) as caught:
        push_operator([snapshot.id], [sftp_destination("CSV")]).execute({})
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert str(caught.value) == push_failure(snapshot.id, "sftp-csv", record.error)
    assert record.error == (f"ConnectionError: cannot connect to SFTP connection 'sftp_test' "
                            f"(127.0.0.1:{sftp_server.port}): "
                            "AuthenticationException: Authentication failed.")
    assert "not-the-password" not in record.error
    assert sftp_server.stats.bytes_written == 0
    assert_push_failed_and_nothing_lost(store, snapshot, rows, record.error)


def test_missing_s3_bucket(store, moto_server, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", moto_server.connection_json())
    snapshot = make_snapshot(store)
    rows = digest(snapshot.artifacts["rows"])
    with pytest.raises(AirflowException) as caught:
        push_operator([snapshot.id], [s3_destination("CSV")]).execute({})
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert str(caught.value) == push_failure(snapshot.id, "s3-csv", record.error)
    assert record.error == (f"S3DestinationError: cannot write s3://prices-out/shop/products/2027/01/01/"
                            f"staging_shop-a_{snapshot.id}.csv: bucket 'prices-out' does not exist (AWS connection "
                            "'aws_default': check the destination's bucket, and the connection's account and region)")
    assert_push_failed_and_nothing_lost(store, snapshot, rows, record.error)


# -- destination templates -------------------------------------------------------------------------------


def test_destination_template_escaping_its_directory_is_refused_when_the_dag_is_built():
    with pytest.raises(DestinationError) as caught:
        push_operator([], [sftp_destination("CSV", path_template="../{project}")])
    assert str(caught.value) == ("destination 'sftp-csv': path '../project/collection_2027-01-01_source_0.csv' has a "
                                 "'..' segment and could leave '/upload/prices' (pathTemplate '../{project}' and "
                                 "filenameTemplate '{collection}_{date}_{source}_{chunk}.{ext}' rendered with sample "
                                 "values)")


def test_destination_template_escaping_its_bucket_is_refused_when_the_dag_is_built():
    with pytest.raises(DestinationError) as caught:
        push_operator([], [s3_destination("CSV", path_template="{project}/../../..")])
    assert str(caught.value) == ("destination 's3-csv': path 'project/../../../flow_source_00000000-0000-4000-8000-"
                                 "000000000000.csv' has a '..' segment and could leave the bucket root "
                                 "(pathTemplate '{project}/../../..' and filenameTemplate "
                                 "'{flow}_{source}_{snapshot}.{ext}' rendered with sample values)")


def test_an_escaping_destination_that_reaches_a_push_writes_nothing(store, sftp_server):  # noqa: F811
    sneaky = Destination(slug="sneaky", name="Sneaky", type="SFTP", connection=SFTP_CONN, format="CSV",
                         directory="/upload", path_template="../../etc", active=True)
    snapshot = make_snapshot(store)
    rows = digest(snapshot.artifacts["rows"])
    (outcome,) = DeliveryPush(store, [sneaky], FIELDS, blank_row_for_no_data=True, actor="test").run([snapshot.id])
    assert outcome.error == ("DestinationError: destination 'sneaky': path '../../etc/flow_source_00000000-0000-4000-"
                             "8000-000000000000.csv' has a '..' segment and could leave '/upload' "
                             "(pathTemplate '../../etc' and filenameTemplate '{flow}_{source}_{snapshot}.{ext}' "
                             "rendered with sample values)")
    assert_push_failed_and_nothing_lost(store, snapshot, rows, outcome.error)
    assert not any(sftp_server.root.rglob("*")) and sftp_server.stats.connections == 0


# -- Stitch ------------------------------------------------------------------------------------------------

WAREHOUSE = "shop_warehouse"
TABLE = "shop_products"


def stitch_rows_file(path: Path, count: int, **overrides) -> Path:
    with open(path, "w") as out:
        for i in range(count):
            row = {"sku": f"S{i:05d}", "name": f"Product {i}", "price": i + 0.5, "_url": f"https://shop.example/p/{i}",
                   "_valid": True, "_errors": [], **overrides}
            out.write(json.dumps(row) + "\n")
    return path


def _stitch_push_fails(store, snapshot, pattern: str) -> str:  # noqa: F811
    """The push of ``snapshot`` to the warehouse fails with exactly ``pattern``; nothing is lost."""
    rows = digest(snapshot.artifacts["rows"])
    with pytest.raises(AirflowException) as caught:
        push_operator([snapshot.id], [stitch_destination()], row_schema=ROW_SCHEMA).execute({})
    (record,) = store.pushes(snapshot_id=snapshot.id)
    assert str(caught.value) == push_failure(snapshot.id, "warehouse", record.error)
    assert re.fullmatch(pattern, record.error), record.error
    assert_push_failed_and_nothing_lost(store, snapshot, rows, record.error)
    return record.error


def test_stitch_token_revoked_mid_delivery_keeps_what_was_accepted_and_a_rerun_finishes_once(
        store, stitch_conn, tmp_path, monkeypatch):  # noqa: F811
    from airflow_provider_importio.clients.stitch import StitchImportApi

    emulator = stitch_conn
    token = json.loads(os.environ["AIRFLOW_CONN_STITCH_SHOP"])["password"]
    snapshot = make_snapshot(store, stitch_rows_file(tmp_path / "rows.ndjson", 25_000))  # two batches of ≤ 20,000
    send = StitchImportApi._send
    sent: list[int] = []

    def send_then_revoke(self, **kwargs):
        result = send(self, **kwargs)
        sent.append(kwargs["records"])
        if len(sent) == 1:
            emulator.revoke_import_token(token)  # revoked between the first batch and the second
        return result

    monkeypatch.setattr(StitchImportApi, "_send", send_then_revoke)
    error = _stitch_push_fails(store, snapshot, r"UnauthorizedError: Stitch refused records 20000-24999 for table "
                                                r"'shop_products': Stitch POST http://127\.0\.0\.1:\d+/v2/import/batch "
                                                r"answered 401 Unauthorized: Not Authorized "
                                                r"\(check the Import API token in Airflow connection 'stitch_shop'\)")
    assert token not in error
    assert emulator.request_count("POST", r"^/v2/import/batch$") == 2  # the 401 is not retried
    emulator.wait_loaded()
    accepted = emulator.rows(WAREHOUSE, TABLE)
    assert [r["sku"] for r in accepted] == [f"S{i:05d}" for i in range(20_000)]  # the first batch stays

    source_id = emulator.batches[0]["source_id"]
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_SHOP", json.dumps(
        {"conn_type": "stitch_import", "host": emulator.url, "password": emulator.add_import_token(source_id),
         "extra": {"backoff_base": 0.01}}))
    (result,) = push_operator([snapshot.id], [stitch_destination()], row_schema=ROW_SCHEMA).execute({})
    assert (result["status"], result["row_count"]) == ("PUSHED", 25_000)
    emulator.wait_loaded()
    skus = [r["sku"] for r in emulator.rows(WAREHOUSE, TABLE)]
    assert len(skus) == 25_000 and len(set(skus)) == 25_000  # upserted: no duplicates
    assert store.get_snapshot(snapshot.id).state is SnapshotState.PUSHED
    assert [p.status.value for p in store.pushes(snapshot_id=snapshot.id)] == ["FAILED", "PUSHED"]


def test_wrong_stitch_token_is_401_once(store, stitch_conn, tmp_path, monkeypatch):  # noqa: F811
    monkeypatch.setenv("AIRFLOW_CONN_STITCH_SHOP", json.dumps(
        {"conn_type": "stitch_import", "host": stitch_conn.url, "password": "not-a-token-xyz",
         "extra": {"backoff_base": 0.01}}))
    snapshot = make_snapshot(store, stitch_rows_file(tmp_path / "rows.ndjson", 3))
    error = _stitch_push_fails(store, snapshot, r"UnauthorizedError: Stitch refused records 0-2 for table "
                                                r"'shop_products': "
                                                r"Stitch POST http://127\.0\.0\.1:\d+/v2/import/batch answered 401 "
                                                r"Unauthorized: Not Authorized "
                                                r"\(check the Import API token in Airflow connection 'stitch_shop'\)")
    assert "not-a-token-xyz" not in error
    assert stitch_conn.request_count("POST", r"^/v2/import/batch$") == 1


def test_stitch_400_a_row_that_does_not_fit_the_schema(store, stitch_conn, tmp_path):  # noqa: F811
    snapshot = make_snapshot(store, stitch_rows_file(tmp_path / "rows.ndjson", 3, price="n/a"))
    _stitch_push_fails(store, snapshot, r"BadRequestError: Stitch refused records 0-2 for table 'shop_products': "
                                        r"Stitch POST http://127\.0\.0\.1:\d+/v2/import/batch answered 400 "
                                        r"Bad Request: "
                                        r"Record 0 did not conform to schema: #/price: expected: \[Number, Null\], "
                                        r"found: String")
    assert stitch_conn.request_count("POST", r"^/v2/import/batch$") == 1  # a 400 is not retried


def test_stitch_400_a_row_without_its_key(store, stitch_conn, tmp_path):  # noqa: F811
    bad = tmp_path / "bad.ndjson"
    bad.write_text(json.dumps({"name": "no sku", "_url": "https://shop.example/x"}))
    _stitch_push_fails(store, make_snapshot(store, bad),
                       r"StitchRecordError: table 'shop_products', record 0: key property 'sku' is missing or null")
    assert stitch_conn.request_count("POST", r"^/v2/import/batch$") == 0  # caught before sending


def test_stitch_413_a_single_row_too_large_to_send(store, stitch_conn, tmp_path, monkeypatch):  # noqa: F811
    from airflow_provider_importio.testing import stitch_emulator as module

    monkeypatch.setattr(module, "MAX_BODY_BYTES", 4_000)  # a server limit below one row
    snapshot = make_snapshot(store, stitch_rows_file(tmp_path / "rows.ndjson", 2, name="x" * 5_000))
    _stitch_push_fails(store, snapshot, r"SplitImpossibleError: Stitch refused records 0-0 for table 'shop_products': "
                                        r"Stitch POST http://127\.0\.0\.1:\d+/v2/import/batch answered 413 Request "
                                        r"Entity Too Large: Request rejected: request size \(5347 bytes\) exceeds the "
                                        r"maximum")
    assert stitch_conn.request_count("POST", r"^/v2/import/batch$") == 2  # both rows, then the first one alone


def test_stitch_422_on_validate(import_hook, stitch):  # noqa: F811
    good = {"client_id": stitch.client_id, "table_name": "t", "sequence": 1, "action": "upsert",
            "key_names": ["id"], "data": {"id": 1}}
    with pytest.raises(UnprocessableEntityError) as caught:
        import_hook.validate([{**good, "sequence": "soon"}])
    assert re.fullmatch(r"Stitch POST http://127\.0\.0\.1:\d+/v2/import/validate answered 422 Unprocessable Entity: "
                        r"Request cannot be processed; see errors\.; "
                        r"#/0/sequence: expected type: Integer, found: String",
                        str(caught.value)), str(caught.value)
    assert stitch.request_count("POST", r"^/v2/import/validate$") == 1  # no retry on 422

