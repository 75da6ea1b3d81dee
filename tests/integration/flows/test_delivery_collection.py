"""One delivery of a flow DAG (no destinations) in a real Airflow run (``dag.test()`` in a subprocess): input pickup
per source, 10 chunks × 2 sources of collection runs against the Import.io emulator, moto's S3
and a SQLite store. The collection runs defer (seen in Airflow's database while they wait)."""

from __future__ import annotations

import gzip
import json
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

from airflow_provider_importio.store.store import Store
from airflow_provider_importio.workbench.snapshot_states import SnapshotState
from tests.integration.flows.delivery_env import EXTRACTORS, delivery_env, put_inputs
PROJECT = textwrap.dedent(f"""
    project: {{slug: shop, name: Shop}}
    schemas:
      - slug: product
        name: Product
        fields: [{{name: name, type: STRING}}, {{name: price, type: STRING}}]
    collections:
      - slug: products
        name: Products
        schema: product
        parameters: {{locale: en_GB, domain: shop.example}}
        sources:
          - {{slug: shop-a, name: Shop A, extractorId: {EXTRACTORS["shop-a"]}, state: ACTIVE}}
          - {{slug: shop-b, name: Shop B, extractorId: {EXTRACTORS["shop-b"]}, state: ACTIVE}}
    flows:
      - slug: staging
        name: Staging
        cron: "0 0,12 * * *"
        dataHours: 1
        pushHours: 2
        closeHours: 3
        active: true
        definition:
          collectionId: products
          inputUriTemplate: "s3://inputs/:source/inputs.ndjson"
          chunks: 10
          chunkCollectHours: 1
""")


def test_a_delivery_makes_a_snapshot_per_chunk_and_source(importio_emulator, moto_server, airflow_env, tmp_path):
    emulator = importio_emulator
    emulator.crawl_seconds = 0.6
    s3 = moto_server.client()
    for bucket in ("inputs", "work"):
        s3.create_bucket(Bucket=bucket)
    urls = {"shop-a": [f"https://shop.example/a/{i}" for i in range(25)],
            "shop-b": [f"https://shop.example/b/{i}" for i in range(23)]}
    put_inputs(s3, urls, extra_lines=('{"_url": "not a url"}',))
    env, dag_file, store_url = delivery_env(airflow_env, tmp_path, PROJECT, emulator, moto_server,
                                            AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE="true")

    deferred_seen: set[str] = set()
    done = threading.Event()

    def watch() -> None:  # the metadata DB while the run goes: which collect tasks sat deferred
        db = Path(env["AIRFLOW_HOME"]) / "airflow.db"
        while not done.is_set():
            try:
                with sqlite3.connect(db, timeout=1) as conn:
                    rows = conn.execute("SELECT map_index FROM task_instance WHERE task_id='collect' "
                                        "AND state='deferred'").fetchall()
                deferred_seen.update(str(r[0]) for r in rows)
            except sqlite3.Error:
                pass
            time.sleep(0.05)

    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        run = subprocess.run([sys.executable, str(dag_file)], env=env, capture_output=True, text=True,
                             timeout=600)
    finally:
        done.set()
        watcher.join(5)
    output = run.stdout + run.stderr
    assert "RUN-STATE success" in output, output[-6000:]
    # the extra links' XComs exist before each deferral (Airflow reads the links then)
    assert "XCom not found" not in output, output[output.index("XCom not found") - 3000:][:4000]

    with Store.from_url(store_url) as store:
        snapshots = store.snapshots()
    assert len(snapshots) == 20
    # collected (PENDING_IMPORT), then QA passed; no destination is linked, so nothing moves them on
    assert {s.state for s in snapshots} == {SnapshotState.PASSED_QA}
    for slug, items in urls.items():
        mine = sorted((s for s in snapshots if s.source == slug), key=lambda s: s.chunk)
        assert [s.chunk for s in mine] == list(range(10))
        assert sum(s.input_count for s in mine) == len(items)
        assert sum(s.row_count for s in mine) == sum(len(emulator.expected_rows(u)) for u in items)
        # one staged object a source, its chunks' gzip members together exactly the valid inputs, in order
        keys = [obj["Key"] for obj in s3.list_objects_v2(Bucket="work", Prefix="artifacts/staging/")["Contents"]
                if f"/{slug}/" in obj["Key"]]
        assert len(keys) == 1 and keys[0].endswith(f"/{slug}/chunks.ndjson.gz"), keys
        body = gzip.decompress(s3.get_object(Bucket="work", Key=keys[0])["Body"].read()).decode()
        assert [json.loads(line)["_url"] for line in body.splitlines() if line.strip()] == items
    assert len(emulator.crawl_runs()) == 20
    assert deferred_seen, "no collection run was seen in the deferred state"
