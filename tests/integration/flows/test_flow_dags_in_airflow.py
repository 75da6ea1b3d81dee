"""Flow DAGs as Airflow's CLI sees them: listed with schedule, timeout and deadline; a broken
project file is one import error naming the file and the rule, and the other DAGs still load."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.integration.conftest import VENV_BIN

EXAMPLE = Path(__file__).parents[2] / "resources" / "projects" / "example.yaml"
STUB = "from airflow_provider_importio.flows.dag_factory import flow_dags\n\nflow_dags(__file__, {name!r}, globals())\n"


def airflow(env, *args: str, ok: tuple[int, ...] = (0,)) -> subprocess.CompletedProcess:
    done = subprocess.run([str(VENV_BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode in ok, done.stdout[-2000:] + done.stderr[-2000:]
    return done


def json_out(done: subprocess.CompletedProcess):
    """The JSON the command printed (its last line; log lines come before it)."""
    return json.loads([line for line in done.stdout.splitlines() if line.startswith("[")][-1])


SERIALIZED = """
import json
from sqlalchemy import select
from airflow.models.deadline_alert import DeadlineAlert
from airflow.models.serialized_dag import SerializedDagModel
from airflow.utils.session import create_session
out = {}
with create_session() as session:
    for dag_id in ("shop-prices__mystagingflow", "shop-prices__myproductionflow"):
        model = SerializedDagModel.get(dag_id, session=session)
        alerts = session.scalars(select(DeadlineAlert).where(DeadlineAlert.serialized_dag_id == model.id)).all()
        out[dag_id] = {"timeout": model.data["dag"]["dagrun_timeout"],
                       "deadlines": [{"interval": a.interval, "callback": a.callback_def, "reference": a.reference}
                                     for a in alerts]}
print("SERIALIZED", json.dumps(out, default=str))
"""


@pytest.fixture
def dags_folder(tmp_path) -> Path:
    folder = tmp_path / "dags"
    (folder / "projects").mkdir(parents=True)
    shutil.copy(EXAMPLE, folder / "projects" / "shop.yaml")
    (folder / "shop_flows.py").write_text(STUB.format(name="projects/shop.yaml"))
    broken = EXAMPLE.read_text().replace("chunkCollectHours: 1\n", "chunkCollectHours: 13\n", 2)
    (folder / "projects" / "broken.yaml").write_text(broken.replace("slug: shop-prices", "slug: broken-shop", 1))
    (folder / "broken_flows.py").write_text(STUB.format(name="projects/broken.yaml"))
    return folder


def test_dags_list_and_import_errors(airflow_env, dags_folder):
    env = {**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder)}
    airflow(env, "db", "migrate")
    airflow(env, "dags", "reserialize")
    listed = json_out(airflow(env, "dags", "list", "-o", "json",
                              "--columns", "dag_id,fileloc,is_paused,timetable_summary,max_active_runs"))
    by_id = {d["dag_id"]: d for d in listed}
    assert set(by_id) == {"shop-prices__mystagingflow", "shop-prices__myproductionflow"}
    assert by_id["shop-prices__mystagingflow"]["timetable_summary"] == "0 0,12 * * *"
    assert str(by_id["shop-prices__myproductionflow"]["max_active_runs"]) == "2"

    errors = json_out(airflow(env, "dags", "list-import-errors", "-o", "json", ok=(1,)))  # 1: there are errors
    assert len(errors) == 1, errors
    (error,) = errors
    assert error["filepath"] == "broken_flows.py"
    assert "projects/broken.yaml: 2 configuration errors" in error["error"]
    assert ("flows[1].definition.chunkCollectHours (line 127): chunkCollectHours (13) exceeds dataHours (12); "
            "the rule is chunkCollectHours ≤ dataHours") in error["error"]

    assert by_id["shop-prices__myproductionflow"]["is_paused"] == "True"  # created inactive

    done = subprocess.run([str(VENV_BIN / "python"), "-c", SERIALIZED], env=env, capture_output=True, text=True,
                          timeout=120)
    line = [ln for ln in done.stdout.splitlines() if ln.startswith("SERIALIZED ")]
    assert line, done.stdout[-2000:] + done.stderr[-2000:]
    serialized = json.loads(line[0].split(" ", 1)[1])
    staging, production = serialized["shop-prices__mystagingflow"], serialized["shop-prices__myproductionflow"]
    assert (staging["timeout"], production["timeout"]) == (3 * 3600, 48 * 3600)
    for flow, hours in ((staging, 2), (production, 24)):
        (alert,) = flow["deadlines"]
        # measured from when the run was queued: a manual run has no logical date to count from
        assert "DAGRUNQUEUEDAT" in json.dumps(alert["reference"]).upper().replace("_", ""), alert["reference"]
        assert str(hours * 3600) in json.dumps(alert["interval"]), alert["interval"]
        assert "log_push_overdue" in json.dumps(alert["callback"])
