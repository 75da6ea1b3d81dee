"""The input pickup operator against moto's S3: formats, chunk objects, re-runs, failures, and a 1,000,000-URL pickup."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from airflow_provider_importio.hooks.object_source import open_uri
from airflow_provider_importio.operators.input_pickup import ImportioInputPickupOperator
from airflow_provider_importio.workbench.config_model import Flow, FlowDefinition
from airflow_provider_importio.workbench.inputs import InputFileError

LOGICAL_DATE = dt.datetime(2026, 1, 5, 6, tzinfo=dt.timezone.utc)  # ISO week 02
CONTEXT = {"logical_date": LOGICAL_DATE, "run_id": "manual__x"}
TEMPLATE = "s3://{bucketname}/:YYYY/:ww/:source/inputs"
VARIABLES = {"bucketname": "inputs", "source": "shop-a", "flow": "daily", "collection": "products", "project": "retail"}
INPUT_KEY = "2026/02/shop-a/inputs"
STAGING = "s3://stage/_staging/retail/daily/shop-a/manual__x"
STAGING_PREFIX = "_staging/retail/daily/shop-a/manual__x/"


@pytest.fixture
def s3(moto_server):
    client = moto_server.client()
    client.create_bucket(Bucket="inputs")
    client.create_bucket(Bucket="stage")
    return client


def pickup(**kwargs) -> ImportioInputPickupOperator:
    params = {"task_id": "pickup", "input_uri": TEMPLATE, "chunks": 3, "staging_uri": STAGING, "data_hours": 3,
              "chunk_collect_hours": 1, "variables": VARIABLES, **kwargs}
    return ImportioInputPickupOperator(**params)


def stage_keys(s3) -> list[str]:
    return [obj["Key"] for obj in s3.list_objects_v2(Bucket="stage", Prefix=STAGING_PREFIX).get("Contents", [])]


STAGED = f"s3://stage/{STAGING_PREFIX}chunks.ndjson.gz"


def read_chunks(described: list[dict]) -> list[list[dict]]:
    """Each chunk's inputs, read from its byte range of the staged object as the collection run reads them."""
    chunks = []
    for d in described:
        with open_uri(d["uri"], byte_range=d["byte_range"]) as stream:
            chunks.append([json.loads(line) for line in stream.read().decode().splitlines()])
    return chunks


def whole(s3, key: str = f"{STAGING_PREFIX}chunks.ndjson.gz") -> list[dict]:
    """The staged object decompressed whole (its gzip members one after another)."""
    body = s3.get_object(Bucket="stage", Key=key)["Body"].read()
    return [json.loads(line) for line in gzip.decompress(body).decode().splitlines()]


def objects(n: int) -> list[dict]:
    return [{"_url": f"https://shop.example/p/{i}", "sku": f"SKU{i}"} for i in range(n)]


FORMATS = {
    "json": lambda objs: json.dumps(objs, indent=1).encode(),
    "ndjson": lambda objs: "\n".join(json.dumps(o) for o in objs).encode() + b"\n",
    "text": lambda objs: "\r\n".join(o["_url"] for o in objs).encode(),
}


@pytest.mark.parametrize("fmt", list(FORMATS))
def test_each_format_is_staged_as_balanced_chunks_holding_exactly_the_valid_inputs(s3, fmt):
    objs = objects(10)
    s3.put_object(Bucket="inputs", Key=INPUT_KEY, Body=FORMATS[fmt](objs))
    expected = objs if fmt != "text" else [{"_url": o["_url"]} for o in objs]

    described = pickup().execute(CONTEXT)

    chunks = read_chunks(described)
    assert [d["uri"] for d in described] == [STAGED] * 3 and stage_keys(s3) == [f"{STAGING_PREFIX}chunks.ndjson.gz"]
    assert [row for chunk in chunks for row in chunk] == expected == whole(s3)
    assert [d["count"] for d in described] == [len(chunk) for chunk in chunks] == [3, 3, 4]
    ranges = [d["byte_range"] for d in described]
    assert ranges[0][0] == 0 and all(a[1] == b[0] for a, b in zip(ranges, ranges[1:]))  # members back to back
    assert [d["first_input"] for d in described] == [0, 3, 6]
    assert [(d["start"], d["collect_by"]) for d in described] == [
        ("2026-01-05T06:00:00+00:00", "2026-01-05T07:00:00+00:00"),
        ("2026-01-05T07:00:00+00:00", "2026-01-05T08:00:00+00:00"),
        ("2026-01-05T08:00:00+00:00", "2026-01-05T09:00:00+00:00"),
    ]
    json.dumps(described)


def test_a_rerun_replaces_the_staged_object_and_removes_chunk_files_of_earlier_versions(s3):
    s3.put_object(Bucket="inputs", Key=INPUT_KEY, Body=FORMATS["ndjson"](objects(10)))
    first = pickup(chunks=4).execute(CONTEXT)
    assert pickup(chunks=4).execute(CONTEXT) == first
    assert stage_keys(s3) == [f"{STAGING_PREFIX}chunks.ndjson.gz"] and whole(s3) == objects(10)

    s3.put_object(Bucket="stage", Key=f"{STAGING_PREFIX}notes.txt", Body=b"kept")
    for name in ("chunk-0000.ndjson.gz", "chunk-0007.ndjson"):  # one object a chunk, as versions before 0.x wrote
        s3.put_object(Bucket="stage", Key=STAGING_PREFIX + name, Body=b"stale")
    s3.put_object(Bucket="inputs", Key=INPUT_KEY, Body=FORMATS["text"](objects(2)))
    second = pickup(chunks=4).execute(CONTEXT)
    assert [d["count"] for d in second] == [1, 1]
    assert sorted(stage_keys(s3)) == [f"{STAGING_PREFIX}chunks.ndjson.gz", f"{STAGING_PREFIX}notes.txt"]
    assert read_chunks(second) == [[{"_url": "https://shop.example/p/0"}], [{"_url": "https://shop.example/p/1"}]]


def test_a_chunk_read_after_its_staged_object_was_replaced_is_a_clear_error(s3):
    s3.put_object(Bucket="inputs", Key=INPUT_KEY, Body=FORMATS["text"](objects(40)))
    described = pickup(chunks=2).execute(CONTEXT)
    s3.put_object(Bucket="inputs", Key=INPUT_KEY, Body=FORMATS["text"](objects(2)))
    pickup(chunks=2).execute(CONTEXT)  # a later pickup under the same staging URI: a smaller object
    start, end = described[1]["byte_range"]
    with pytest.raises(ValueError, match=rf"^{STAGED} bytes \[{start}, {end}\).*was it replaced\?"):
        read_chunks(described[1:])


def test_a_partly_bad_file_succeeds_and_logs_the_bad_lines(s3, capsys):
    body = b"https://shop.example/p/1\nnot a url\n\nftp://shop.example/x\nhttps://shop.example/p/2\n"
    s3.put_object(Bucket="inputs", Key=INPUT_KEY, Body=body)
    pushed: dict = {}

    class TI:
        def xcom_push(self, key, value):
            pushed[key] = value

    described = pickup(chunks=2).execute({**CONTEXT, "ti": TI()})

    assert [row["_url"] for rows in read_chunks(described) for row in rows] == \
        ["https://shop.example/p/1", "https://shop.example/p/2"]
    assert [d["count"] for d in described] == [1, 1]
    uri = f"s3://inputs/{INPUT_KEY}"
    assert pushed["pickup_report"] == {"uri": uri, "format": "text", "total": 4, "valid": 2, "bad": 2, "examples": [
        {"where": "line 2", "reason": "'not a url' is not an absolute http(s) URL"},
        {"where": "line 4", "reason": "'ftp://shop.example/x' is not an absolute http(s) URL"}]}
    logged = capsys.readouterr().out  # the task SDK's structured log goes to stdout here
    assert (f"2 of the 4 inputs in {uri} are invalid and were left out; all of them:\n"
            "  line 2: 'not a url' is not an absolute http(s) URL\n"
            "  line 4: 'ftp://shop.example/x' is not an absolute http(s) URL") in logged
    assert f"4 inputs in {uri} (text): 2 valid, 2 bad; staged 2 chunk(s) of 1 inputs as {STAGED}" in logged


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (None, "s3://inputs/2026/02/shop-a/inputs does not exist"),
        (b"", "s3://inputs/2026/02/shop-a/inputs is empty"),
        (b"[]", "s3://inputs/2026/02/shop-a/inputs is empty (an empty JSON array)"),
        (b'[{"_url": "https://a.io"},]', "s3://inputs/2026/02/shop-a/inputs: item 1 at offset 26 is not valid JSON"),
        (b"foo\nbar\n", "every one of the 2 inputs in s3://inputs/2026/02/shop-a/inputs is invalid: "
                        "line 1: 'foo' is not an absolute http(s) URL; line 2: 'bar' is not an absolute http(s) URL"),
        (b'{"_url": "https://a.io"\n', "the one input in s3://inputs/2026/02/shop-a/inputs is invalid: "
                                       "line 1: not valid JSON (Expecting ',' delimiter at column 24)"),
    ],
)
def test_bad_files_fail_with_the_documented_message_and_stage_nothing(s3, body, message):
    if body is not None:
        s3.put_object(Bucket="inputs", Key=INPUT_KEY, Body=body)
    with pytest.raises(InputFileError) as err:
        pickup().execute(CONTEXT)
    assert str(err.value).startswith(message)
    assert stage_keys(s3) == []


def test_a_missing_bucket_is_a_missing_object(s3):
    with pytest.raises(InputFileError, match="^s3://nowhere/x.txt does not exist$"):
        pickup(input_uri="s3://nowhere/x.txt").execute(CONTEXT)


def test_without_an_input_uri_one_chunk_runs_the_extractors_defaults(s3):
    assert pickup(input_uri=None, chunks=5).execute(CONTEXT) == [{
        "index": 0, "uri": None, "byte_range": None, "count": None, "first_input": 0,
        "start": "2026-01-05T06:00:00+00:00", "collect_by": "2026-01-05T09:00:00+00:00"}]
    assert stage_keys(s3) == []


def test_templated_strings_and_the_run_after_fallback(s3):
    s3.put_object(Bucket="inputs", Key="2026/02/shop-a/inputs", Body=b"https://a.io/1\nhttps://a.io/2\n")

    class DagRun:
        run_after = dt.datetime(2026, 1, 6, 0, 30)  # naive: taken as UTC

    described = pickup(chunks="2", delivery_start=None).execute({"logical_date": None, "dag_run": DagRun()})
    assert [d["start"] for d in described] == ["2026-01-06T00:30:00+00:00", "2026-01-06T02:30:00+00:00"]
    with pytest.raises(ValueError, match="chunks must be an integer ≥ 1, not '0'"):
        pickup(chunks="0").execute(CONTEXT)
    with pytest.raises(ValueError, match="no value for variable 'bucketname'"):
        pickup(variables={"source": "shop-a"}).execute(CONTEXT)


def test_local_input_and_staging_directory(tmp_path):
    source = tmp_path / "inputs.ndjson"
    source.write_text('{"url": "https://a.io/1", "q": 1}\n{"url": "https://a.io/2"}\n{"url": "https://a.io/3"}\n')
    stage = tmp_path / "stage"
    stage.mkdir()
    (stage / "chunk-0009.ndjson.gz").write_text("stale")
    (stage / "chunk-0000.ndjson").write_text("stale, uncompressed (an older version's name)")
    described = pickup(input_uri=str(source), staging_uri=str(stage), chunks=2).execute(CONTEXT)
    assert [d["uri"] for d in described] == [str(stage / "chunks.ndjson.gz")] * 2
    assert sorted(p.name for p in stage.iterdir()) == ["chunks.ndjson.gz"]
    assert gzip.decompress((stage / "chunks.ndjson.gz").read_bytes()) == (
        b'{"_url":"https://a.io/1","q":1}\n{"_url":"https://a.io/2"}\n{"_url":"https://a.io/3"}\n')
    with open_uri(described[1]["uri"], byte_range=described[1]["byte_range"]) as chunk:  # as the collection run reads
        assert chunk.read() == b'{"_url":"https://a.io/2"}\n{"_url":"https://a.io/3"}\n'
    with open_uri(described[0]["uri"], byte_range=described[0]["byte_range"]) as chunk:
        assert chunk.read() == b'{"_url":"https://a.io/1","q":1}\n'
    with pytest.raises(ValueError, match=r"past the end of the file: was it replaced\?"):
        with open_uri(described[1]["uri"], byte_range=[described[1]["byte_range"][0], 10**6]):
            pass


def test_a_gzip_compressed_input_file_is_read_and_a_broken_one_is_a_clear_error(s3):
    body = FORMATS["ndjson"](objects(5))
    s3.put_object(Bucket="inputs", Key=INPUT_KEY + ".gz", Body=gzip.compress(body))
    described = pickup(input_uri=TEMPLATE + ".gz", chunks=2).execute(CONTEXT)
    assert [row for chunk in read_chunks(described) for row in chunk] == objects(5)
    assert [d["count"] for d in described] == [2, 3]

    s3.put_object(Bucket="inputs", Key=INPUT_KEY + ".gz", Body=gzip.compress(body)[:-40])  # cut short
    with pytest.raises(InputFileError, match=r"s3://inputs/2026/02/shop-a/inputs\.gz is not a readable gzip file: "
                                             r"Compressed file ended before the end-of-stream marker was reached"):
        pickup(input_uri=TEMPLATE + ".gz").execute(CONTEXT)
    s3.put_object(Bucket="inputs", Key=INPUT_KEY + ".gz", Body=body)  # named .gz, but plain text
    with pytest.raises(InputFileError, match=r"inputs\.gz is not a readable gzip file: Not a gzipped file"):
        pickup(input_uri=TEMPLATE + ".gz").execute(CONTEXT)


def test_for_flow_takes_the_flow_definition(s3):
    flow = Flow(slug="daily", name="Daily", cron="0 6 * * *", data_hours=3, push_hours=4, close_hours=5,
                definition=FlowDefinition(collection_id="products", input_uri_template=TEMPLATE, chunks=2,
                                          chunk_collect_hours=1, input_bucket="inputs"))
    op = ImportioInputPickupOperator.for_flow(flow, project="retail", source="shop-a", staging_uri=STAGING)
    assert op.task_id == "pickup_inputs_shop-a" and op.chunks == 2 and op.aws_conn_id == "aws_default"
    s3.put_object(Bucket="inputs", Key=INPUT_KEY, Body=FORMATS["json"](objects(5)))
    assert [d["count"] for d in op.execute(CONTEXT)] == [2, 3]


_MEASURE = textwrap.dedent("""
    import datetime as dt, json, sys, time
    from airflow_provider_importio.operators.input_pickup import ImportioInputPickupOperator
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook  # noqa: F401 - imported before the baseline
    def hwm():
        # VmHWM (peak RSS) of this process; unlike ru_maxrss it does not inherit the parent's peak across fork+exec
        with open("/proc/self/status") as status:
            return next(int(line.split()[1]) * 1024 for line in status if line.startswith("VmHWM:"))
    baseline = hwm()
    op = ImportioInputPickupOperator(task_id="pickup", input_uri=sys.argv[1], chunks=48, staging_uri=sys.argv[2],
                                     data_hours=12, chunk_collect_hours=1)
    began = time.perf_counter()
    described = op.execute({"logical_date": dt.datetime(2026, 1, 5, 6, tzinfo=dt.timezone.utc)})
    print(json.dumps({"baseline": baseline, "peak": hwm(), "seconds": time.perf_counter() - began,
                      "counts": [d["count"] for d in described], "last_range": described[-1]["byte_range"]}))
""")


def _measure(s3_uri: str, staging_uri: str) -> dict:
    proc = subprocess.run([sys.executable, "-c", _MEASURE, s3_uri, staging_uri],
                          capture_output=True, text=True, timeout=300, env=dict(os.environ))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_a_million_url_pickup_runs_in_flat_memory(s3, moto_server, tmp_path, record_property):
    """The pickup runs in a subprocess (moto's server lives in this one); its peak RSS (``VmHWM``) is measured
    for a one-URL input and for 1,000,000 URLs (68 MB): the difference is what the input costs."""
    n = 1_000_000
    source = tmp_path / "urls.txt"
    with source.open("wb") as handle:
        for block in range(n // 10_000):
            handle.write(b"".join(b"https://shop-%04d.example.com/products/item-%05d?ref=feed\n" % (block, i)
                                  for i in range(10_000)))
    s3.upload_file(str(source), "inputs", "big/urls.txt")
    s3.put_object(Bucket="inputs", Key="small/urls.txt", Body=b"https://shop.example.com/one\n")

    small = _measure("s3://inputs/small/urls.txt", "s3://stage/small/run-1")
    began = time.perf_counter()
    big = _measure("s3://inputs/big/urls.txt", "s3://stage/big/run-1")
    wall = time.perf_counter() - began

    assert sum(big["counts"]) == n and len(big["counts"]) == 48 and small["counts"] == [1]
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="stage", Prefix="big/run-1/")["Contents"]]
    assert keys == ["big/run-1/chunks.ndjson.gz"]
    start, end = big["last_range"]
    last = gzip.decompress(s3.get_object(Bucket="stage", Key=keys[0], Range=f"bytes={start}-{end - 1}")["Body"].read()).splitlines()
    assert len(last) == big["counts"][-1]
    assert last[-1] == b'{"_url":"https://shop-0099.example.com/products/item-09999?ref=feed"}'
    mb = 2**20
    input_cost = (big["peak"] - small["peak"]) / mb
    record_property("peak_rss_mb", round(big["peak"] / mb, 1))
    record_property("input_cost_mb", round(input_cost, 1))
    print(f"\n1,000,000-URL pickup from moto: peak RSS {big['peak'] / mb:.0f} MB (one-URL input: "
          f"{small['peak'] / mb:.0f} MB; imports alone {big['baseline'] / mb:.0f} MB); the input costs "
          f"{input_cost:+.0f} MB; execute {big['seconds']:.1f} s, subprocess {wall:.1f} s")
    assert input_cost < 16
    assert big["peak"] - big["baseline"] < 64 * mb
