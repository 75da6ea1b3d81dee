"""What the flow-delivery tests share: a DAGs folder with one project file, and the environment of
an Airflow run (``dag.test()`` in a subprocess) pointed at the emulators, moto and a SQLite store."""

from __future__ import annotations

import json
import subprocess
import textwrap
from pathlib import Path

from tests.integration.conftest import VENV_BIN

EXTRACTORS = {"shop-a": "1f2e3d4c-5b6a-4978-8a7b-6c5d4e3f2a1b", "shop-b": "2a3b4c5d-6e7f-4a8b-9c0d-1e2f3a4b5c6d"}
DAG_FILE = textwrap.dedent("""
    from airflow_provider_importio.flows.dag_factory import flow_dags

    dags = flow_dags(__file__, "shop.yaml", globals(), poll_interval=0.2, artifacts_uri="s3://work/artifacts")

    if __name__ == "__main__":
        run = dags["shop__staging"].test()
        print("RUN-STATE", run.state)
""")


def delivery_env(airflow_env: dict[str, str], tmp_path: Path, project_yaml: str, emulator, moto_server,
                 **extra_env: str) -> tuple[dict[str, str], Path, str]:
    """(environment, the DAG file, the store URL); the extractors exist and Airflow's database is migrated."""
    for slug, guid in EXTRACTORS.items():
        emulator.add_extractor(name=slug, guid=guid)
    dags = tmp_path / "dags"
    dags.mkdir()
    (dags / "shop.yaml").write_text(project_yaml)
    dag_file = dags / "shop_flows.py"
    dag_file.write_text(DAG_FILE)
    store_url = f"sqlite:///{tmp_path / 'store.db'}"
    env = {
        **airflow_env,
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags),
        "IMPORTIO_FLOW_DEADLINES": "off",  # dag.test() in 3.3.2 crashes on DAGs with deadlines
        "AIRFLOW_CONN_AWS_DEFAULT": moto_server.connection_json(),
        "AIRFLOW_CONN_IMPORTIO_DEFAULT": json.dumps({"conn_type": "importio", "host": emulator.url,
                                                     "password": emulator.api_key, "extra": {"backoff_base": 0.01}}),
        "AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT": json.dumps({"conn_type": "importio_store", "extra": {"url": store_url}}),
        **extra_env,
    }
    migrate = subprocess.run([str(VENV_BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True,
                             timeout=180)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    return env, dag_file, store_url


def put_inputs(s3, urls: dict[str, list[str]], extra_lines: tuple[str, ...] = ()) -> None:
    """Each source's input file at ``s3://inputs/<source>/inputs.ndjson``."""
    for slug, items in urls.items():
        lines = [json.dumps({"_url": u}) for u in items] + list(extra_lines)
        s3.put_object(Bucket="inputs", Key=f"{slug}/inputs.ndjson", Body="\n".join(lines).encode())
