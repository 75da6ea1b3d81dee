"""The Stitch operators in a real Airflow run (``dag.test()`` in a fresh AIRFLOW_HOME): the token
made by the setup task reaches the push task through Airflow's secrets backend, and no log holds it."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

DAG_FILE = textwrap.dedent('''
    import datetime as dt
    from airflow.sdk import DAG
    from airflow_provider_importio.operators.stitch import StitchCreateImportSourceOperator, StitchPushOperator

    with DAG("stitch_setup_and_push", schedule=None, start_date=dt.datetime(2026, 1, 1)) as dag:
        create = StitchCreateImportSourceOperator(
            task_id="create_source", display_name="{{{{ params.name }}}}", import_conn_id="stitch_import_demo",
            connection_store="file://{store}", import_host="{stitch_url}", params={{"name": "Airflow Demo"}})
        push = StitchPushOperator(
            task_id="push", source="{rows}", table="products", key_names=["sku"],
            schema={{"properties": {{"sku": {{"type": "string"}}, "price": {{"type": "number"}}}}}},
            stitch_import_conn_id="stitch_import_demo")
        create >> push

    if __name__ == "__main__":
        run = dag.test()
        print("RUN-STATE", run.state)
''')


def test_setup_then_push_in_airflow(stitch_emulator, airflow_env, tmp_path):
    store = tmp_path / "connections.json"
    store.write_text("{}")
    rows = tmp_path / "rows.ndjson"
    rows.write_text("\n".join(json.dumps({"sku": f"S{i}", "price": i / 4}) for i in range(25)))
    dag_file = tmp_path / "dags" / "stitch_dag.py"
    dag_file.parent.mkdir()
    dag_file.write_text(DAG_FILE.format(store=store, stitch_url=stitch_emulator.url, rows=rows))
    env = {
        **airflow_env,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dag_file.parent),
        "AIRFLOW__SECRETS__BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__SECRETS__BACKEND_KWARGS": json.dumps({"connections_file_path": str(store)}),
        "AIRFLOW__WORKERS__SECRETS_BACKEND": "airflow.secrets.local_filesystem.LocalFilesystemBackend",
        "AIRFLOW__WORKERS__SECRETS_BACKEND_KWARGS": json.dumps({"connections_file_path": str(store)}),
        "AIRFLOW_CONN_STITCH_CONNECT_DEFAULT": json.dumps(
            {"conn_type": "stitch_connect", "host": stitch_emulator.url, "password": stitch_emulator.connect_token}),
    }
    migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], env=env,
                             capture_output=True, text=True, timeout=180)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    run = subprocess.run([sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=240)
    output = run.stdout + run.stderr
    assert "RUN-STATE success" in output, output[-6000:]

    stitch_emulator.wait_loaded()
    assert sorted(r["sku"] for r in stitch_emulator.rows("airflow_demo", "products")) == sorted(f"S{i}" for i in range(25))
    token = json.loads(store.read_text())["stitch_import_demo"]["password"]
    logs = [p.read_text(errors="replace") for p in Path(env["AIRFLOW_HOME"]).rglob("*.log")]
    assert token and token not in output and not [text for text in logs if token in text]
