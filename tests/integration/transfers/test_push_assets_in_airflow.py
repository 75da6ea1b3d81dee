"""The push in a real Airflow run (``dag.test()`` in a fresh AIRFLOW_HOME): the file lands in S3 (moto),
an asset event with the snapshot id and row count is recorded for the destination's asset, and the
downstream DAG scheduled on that asset is queued. A destination that got nothing has no event."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests.integration.transfers.conftest import FIELDS, make_snapshot, s3_destination

DAG_FILE = textwrap.dedent('''
    import datetime as dt
    import json

    from airflow.sdk import DAG, Asset, task
    from airflow_provider_importio.operators.push import ImportioPushOperator

    SPEC = json.loads({spec!r})

    with DAG("shop_push", schedule=None, start_date=dt.datetime(2026, 1, 1)) as dag:
        ImportioPushOperator(task_id="push", snapshots=SPEC["snapshots"], destinations=SPEC["destinations"],
                             fields=SPEC["fields"], project="shop", blank_row_for_no_data=True)
        ImportioPushOperator(task_id="push_nothing", snapshots=SPEC["not_pushable"],
                             destinations=SPEC["other_destinations"], fields=SPEC["fields"], project="shop")

    with DAG("prices_consumer", schedule=[Asset("s3://prices-out/exports")], start_date=dt.datetime(2026, 1, 1)):
        @task
        def report(triggering_asset_events=None):
            print(triggering_asset_events)

        report()

    if __name__ == "__main__":
        run = dag.test()
        print("RUN-STATE", run.state)
        from sqlalchemy import select
        from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
        from airflow.utils.session import create_session

        with create_session() as session:
            events = [{{"uri": uri, "extra": event.extra, "task": event.source_task_id,
                        "aliases": [a.name for a in event.source_aliases]}}
                      for event, uri in session.execute(
                          select(AssetEvent, AssetModel.uri).join(AssetModel, AssetModel.id == AssetEvent.asset_id))]
            queued = [{{"dag": q.target_dag_id, "uri": uri}} for q, uri in session.execute(
                select(AssetDagRunQueue, AssetModel.uri).join(AssetModel, AssetModel.id == AssetDagRunQueue.asset_id))]
        print("EVENTS", json.dumps(events))
        print("QUEUED", json.dumps(queued))
''')


@pytest.mark.timeout(300)
def test_a_push_emits_an_asset_event_that_reaches_the_downstream_dag(store, moto_server, airflow_env, tmp_path):
    s3 = moto_server.client()
    s3.create_bucket(Bucket="prices-out")
    passed = make_snapshot(store, source="shop-a")
    failed = make_snapshot(store, state="FAILED_QA", source="shop-b")
    spec = {
        "snapshots": [{"snapshot_id": passed.id}, {"snapshot_id": failed.id}],
        "not_pushable": [failed.id],
        "fields": FIELDS,
        "destinations": [s3_destination("CSV", path_template="exports/{project}/:YYYY"),
                         s3_destination("JSON", slug="s3-staging", active=False)],
        "other_destinations": [s3_destination("NDJSON", path_template="other/{project}")],
    }
    dag_file = tmp_path / "dags" / "shop_push.py"
    dag_file.parent.mkdir()
    dag_file.write_text(DAG_FILE.format(spec=json.dumps(spec)))
    env = {
        **airflow_env,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dag_file.parent),
        "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "False",
        "AIRFLOW_CONN_AWS_DEFAULT": moto_server.connection_json(),
        "AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT": json.dumps(
            {"conn_type": "importio_store", "extra": {"url": str(store.engine.url)}}),
    }
    airflow = str(Path(sys.executable).parent / "airflow")
    for command in (["db", "migrate"], ["dags", "reserialize"]):  # the consumer DAG must be known and unpaused
        done = subprocess.run([airflow, *command], env=env, capture_output=True, text=True, timeout=180)
        assert done.returncode == 0, done.stderr[-3000:]
    run = subprocess.run([sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=240)
    output = run.stdout + run.stderr
    assert "RUN-STATE success" in output, output[-6000:]

    key = f"exports/shop/2027/staging_shop-a_{passed.id}.csv"
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="prices-out").get("Contents", [])] == [key]
    events = json.loads(output.split("EVENTS ", 1)[1].splitlines()[0])
    assert len(events) == 1, events  # none for the inactive destination, none from push_nothing
    (event,) = events
    assert event["uri"] == "s3://prices-out/exports" and event["task"] == "push"
    assert event["aliases"] == ["importio-destination:shop/s3-csv"]
    assert event["extra"]["snapshot_id"] == passed.id and event["extra"]["row_count"] == 6
    assert event["extra"]["uri"] == f"s3://prices-out/{key}" and event["extra"]["already_pushed"] is False
    queued = json.loads(output.split("QUEUED ", 1)[1].splitlines()[0])
    assert queued == [{"dag": "prices_consumer", "uri": "s3://prices-out/exports"}]
    assert {p.destination: p.status.value for p in store.pushes(snapshot_id=passed.id)} == {
        "s3-csv": "PUSHED", "s3-staging": "DRY_RUN"}
