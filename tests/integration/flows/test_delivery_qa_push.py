"""A whole delivery through QA, a person's review and the push (``dag.test()`` in a subprocess):
a clean source passes QA and is pushed; a source with system errors is ESCALATED, goes to the
human-in-the-loop review (answered through the REST API's handler, from another process), and
each choice lands in the store with its audit rows and in the bucket (or not)."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

from airflow_provider_importio.store.store import Store
from airflow_provider_importio.workbench.snapshot_states import SnapshotState as S
from tests.integration.flows.delivery_env import EXTRACTORS, delivery_env, put_inputs
PROJECT = textwrap.dedent(f"""
    project: {{slug: shop, name: Shop}}
    schemas:
      - slug: product
        name: Product
        fields: [{{name: name, type: STRING, required: true}}, {{name: price, type: STRING}}]
    destinations:
      - {{slug: out, name: Output, type: S3, format: NDJSON, connection: aws_default, bucket: out,
         pathTemplate: "{{project}}/{{source}}", filenameTemplate: "chunk{{chunk}}.{{ext}}", active: true}}
      - {{slug: later, name: Not yet, type: S3, format: CSV, connection: aws_default, bucket: later, active: false}}
    collections:
      - slug: products
        name: Products
        schema: product
        parameters: {{locale: en_GB, domain: shop.example}}
        destinations: [out, later]
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
          chunks: 2
          chunkCollectHours: 1
""")


def test_delivery_with_review_and_push(importio_emulator, moto_server, airflow_env, tmp_path):
    emulator = importio_emulator
    s3 = moto_server.client()
    for bucket in ("inputs", "work", "out", "later"):
        s3.create_bucket(Bucket=bucket)
    urls = {"shop-a": [f"https://shop.example/a/{i}?rows=2" for i in range(6)],
            "shop-b": [f"https://shop.example/b/{i}?rows=2" for i in range(5)] + ["https://shop.example/error/b"]}
    put_inputs(s3, urls)
    env, dag_file, store_url = delivery_env(airflow_env, tmp_path, PROJECT, emulator, moto_server)
    log = tmp_path / "run.log"  # a file, not a pipe: nobody reads a pipe while the reviewer waits
    run = subprocess.Popen([sys.executable, str(dag_file)], env=env, stdout=log.open("w"),
                           stderr=subprocess.STDOUT)
    # The reviewer, in another process: shop-b chunk 0 is a false alarm, chunk 1 is pushed anyway.
    reviewer = subprocess.run(
        [sys.executable, "-m", "airflow_provider_importio.testing.airflow_hitl", "--dag-id", "shop__staging",
         "--count", "1", "--rule", "shop-b chunk 0=Pass", "--rule", "shop-b chunk 1=Push anyway",
         "--timeout", "150", "--user", "alice"], env=env, capture_output=True, text=True, timeout=200)
    if reviewer.returncode != 0:
        run.kill()
    run.wait(timeout=200)
    output = log.read_text()
    assert reviewer.returncode == 0, reviewer.stdout + reviewer.stderr[-3000:] + output[-8000:]
    assert "RUN-STATE success" in output, output[-6000:]
    assert "ANSWERED qa_review[" in reviewer.stdout

    with Store.from_url(store_url) as store:
        snaps = {(s.source, s.chunk): s for s in store.snapshots()}
        history = {key: [(h.to_state, h.actor) for h in store.history(s.id)] for key, s in snaps.items()}
        pushes = store.pushes()
    # shop-a passed QA and was pushed; shop-b's escalated chunk was reviewed by alice.
    assert snaps[("shop-a", 0)].state is S.PUSHED and snaps[("shop-a", 1)].state is S.PUSHED
    reviewed = [key for key in (("shop-b", 0), ("shop-b", 1)) if (S.ESCALATED, "task:qa") in
                [(state, actor.split("[")[0]) for state, actor in history[key]]]
    assert len(reviewed) == 1, history
    (key,) = reviewed
    assert (S.QA, "user:alice") in history[key]
    final = snaps[key].state
    assert final in (S.PUSHED, S.PUSHED_IGNORE)
    # every pushable snapshot reached the active destination once; the inactive one only dry-ran
    out_keys = sorted(o["Key"] for o in s3.list_objects_v2(Bucket="out").get("Contents", []))
    assert out_keys == sorted(f"shop/{source}/chunk{chunk}.ndjson" for source, chunk in snaps)
    assert s3.list_objects_v2(Bucket="later").get("KeyCount", 0) == 0
    assert {p.status for p in pushes if p.destination == "later"} == {"DRY_RUN"}
    first = s3.get_object(Bucket="out", Key="shop/shop-a/chunk0.ndjson")["Body"].read().decode().splitlines()
    assert len(first) == 6 and json.loads(first[0])["_url"].startswith("https://shop.example/a/")
