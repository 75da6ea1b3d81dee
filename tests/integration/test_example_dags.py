"""The example DAGs in the repo's ``dags/`` folder, as Airflow sees them: no import errors, the
expected DAG ids (flow DAGs with their deadlines, the Stitch setup DAG), and docs on every DAG."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

from tests.integration.conftest import VENV_BIN

DAGS = Path(__file__).resolve().parents[2] / "dags"
EXPECTED = {"shop__staging", "shop__production", "shop__stitch_setup", "shop__alarms"}

DOCS = f"""
import json
from airflow.dag_processing.dagbag import DagBag
bag = DagBag(dag_folder={str(DAGS)!r})
print("DOCS", json.dumps({{"errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                          "docs": {{d.dag_id: d.doc_md or "" for d in bag.dags.values()}},
                          "deadlines": {{d.dag_id: bool(d.deadline) for d in bag.dags.values()}}}}, default=str))
"""


def airflow(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=180)


def last_json(stdout: str):
    return json.loads([line for line in stdout.splitlines() if line.startswith("[")][-1])


def test_example_dags_import_cleanly_and_are_listed(airflow_env):
    env = {**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS)}
    env.pop("IMPORTIO_FLOW_DEADLINES", None)  # the scheduler's view: deadlines on
    for args in (("db", "migrate"), ("dags", "reserialize")):
        done = airflow(env, *args)
        assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]

    errors = airflow(env, "dags", "list-import-errors", "-o", "json")  # exits 1 when there are errors
    assert errors.returncode == 0, errors.stdout[-3000:] + errors.stderr[-2000:]
    assert last_json(errors.stdout) == []

    listed = airflow(env, "dags", "list", "-o", "json", "--columns", "dag_id,is_paused,timetable_summary")
    assert listed.returncode == 0, listed.stderr[-2000:]
    by_id = {d["dag_id"]: d for d in last_json(listed.stdout)}
    assert set(by_id) == EXPECTED
    assert by_id["shop__staging"]["timetable_summary"] == "0 0,12 * * *"
    assert by_id["shop__staging"]["is_paused"] == "False"  # active flow
    assert by_id["shop__production"]["is_paused"] == "True"  # inactive flow: created paused


def test_every_example_dag_has_docs_a_person_can_read(airflow_env):
    done = subprocess.run([str(VENV_BIN / "python"), "-c", DOCS], env=airflow_env, capture_output=True, text=True,
                          timeout=180)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("DOCS ")]
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    found = json.loads(line[0].split(" ", 1)[1])
    assert found["errors"] == {}
    assert set(found["docs"]) == EXPECTED
    for dag_id, doc in found["docs"].items():
        assert len(doc) > 200 and doc.lstrip().startswith("#"), (dag_id, doc[:200])
    assert "Windows of a delivery" in found["docs"]["shop__staging"]
    assert "stitch_shop" in found["docs"]["shop__stitch_setup"]
    assert found["deadlines"]["shop__staging"] and found["deadlines"]["shop__production"]
