"""``ImportioCrawlRunSensor`` against the Import.io emulator: the poke path, and the deferrable
path (``execute`` defers, the trigger runs to its event, ``execute_complete`` reads it)."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from airflow.sdk import PokeReturnValue
from airflow.sdk.exceptions import AirflowFailException, TaskDeferred

from airflow_provider_importio.clients.errors import UnauthorizedError
from airflow_provider_importio.clients.importio import ImportioClient
from airflow_provider_importio.links import ImportioCrawlRunLink, ImportioExtractorLink
from airflow_provider_importio.sensors.crawl_run import ImportioCrawlRunSensor
from airflow_provider_importio.triggers.crawl_run import (
    ImportioCrawlRunEventException,
    ImportioCrawlRunFailedException,
    ImportioCrawlRunLateException,
    ImportioCrawlRunTrigger,
)
from tests.integration.conftest import set_importio_connection

CONN_ID = "importio_sensor_test"
URLS = ["https://shop.example/p/1", "https://shop.example/p/2?rows=2", "https://shop.example/error"]


class RecordingTI:
    """Stands in for the task instance's XCom push (the sensor's only use of it)."""

    def __init__(self) -> None:
        self.xcom: dict[str, Any] = {}

    def xcom_push(self, key: str, value: Any) -> None:
        self.xcom[key] = value


@pytest.fixture(autouse=True)
def conn(importio_emulator, monkeypatch) -> None:
    set_importio_connection(monkeypatch, CONN_ID, importio_emulator.url, importio_emulator.api_key)


@pytest.fixture
def context() -> dict[str, Any]:
    return {"ti": RecordingTI()}


def start_run(importio_emulator, urls: list[str] = URLS) -> tuple[str, str]:
    extractor = importio_emulator.add_extractor(name="Products", inputs=urls)
    with ImportioClient(importio_emulator.api_key, importio_emulator.url) as client:
        return extractor["guid"], client.start_extractor(extractor["guid"])


def sensor(crawl_run_id: str, **kwargs: Any) -> ImportioCrawlRunSensor:
    kwargs.setdefault("importio_conn_id", CONN_ID)
    kwargs.setdefault("poke_interval", 0.02)
    kwargs.setdefault("deferrable", False)
    return ImportioCrawlRunSensor(task_id="wait", crawl_run_id=crawl_run_id, **kwargs)


def test_poke_mode_waits_for_the_run_and_returns_its_counts(importio_emulator, context):
    importio_emulator.crawl_seconds = 0.3
    extractor_id, run_id = start_run(importio_emulator)
    result = sensor(run_id).execute(context)
    run = importio_emulator.crawl_run(run_id)
    assert run["state"] == "FINISHED"
    assert result == {
        "crawl_run_id": run_id, "extractor_id": extractor_id, "state": "FINISHED", "row_count": run["rowCount"],
        "total_url_count": 3, "success_url_count": 2, "failed_url_count": 1,
    }
    assert json.loads(json.dumps(result)) == result
    assert context["ti"].xcom == {"crawl_run_id": run_id, "extractor_id": extractor_id}
    assert importio_emulator.request_count("GET", rf"^/crawlruns/{run_id}$") >= 2  # it did wait


def test_poke_is_false_while_running_and_late_after_the_deadline(importio_emulator, context):
    importio_emulator.crawl_seconds = 30
    _, run_id = start_run(importio_emulator)
    deadline = datetime.now(timezone.utc) + timedelta(seconds=0.3)
    op = sensor(run_id, deadline=deadline.isoformat())
    assert op.poke(context) is False
    time.sleep(0.35)
    with pytest.raises(ImportioCrawlRunLateException, match="is late") as raised:
        op.poke(context)
    assert not isinstance(raised.value, AirflowFailException)


def test_a_failed_run_fails_the_task_without_retries(importio_emulator, context):
    _, run_id = start_run(importio_emulator, ["https://shop.example/crawl-fail/1"])
    with pytest.raises(ImportioCrawlRunFailedException, match="ended FAILED") as raised:
        sensor(run_id).execute(context)
    assert isinstance(raised.value, AirflowFailException)


def test_transient_errors_keep_poking_and_a_wrong_key_fails_at_once(importio_emulator, context, monkeypatch):
    _, run_id = start_run(importio_emulator)
    time.sleep(0.1)
    importio_emulator.faults.script("503", "503", "503", "503", path=r"^/crawlruns/", method="GET")
    op = sensor(run_id)
    assert op.poke(context) is False  # one poll's retries exhausted: poke again later
    done = op.poke(context)
    assert isinstance(done, PokeReturnValue) and done.is_done and done.xcom_value["state"] == "FINISHED"

    set_importio_connection(monkeypatch, "importio_bad_key", importio_emulator.url, "wrong-key-0123456789")
    before = importio_emulator.request_count("GET", r"^/crawlruns/")
    with pytest.raises(UnauthorizedError) as raised:
        sensor(run_id, importio_conn_id="importio_bad_key").poke(context)
    assert "wrong-key-0123456789" not in str(raised.value)
    assert importio_emulator.request_count("GET", r"^/crawlruns/") == before + 1


def test_deferrable_defers_to_the_trigger_then_completes_from_its_event(importio_emulator, context):
    importio_emulator.crawl_seconds = 0.5
    extractor_id, run_id = start_run(importio_emulator)
    deadline = datetime.now(timezone.utc) + timedelta(minutes=5)
    op = sensor(run_id, deferrable=True, deadline=deadline.isoformat(), poke_interval=0.05, timeout=600)
    with pytest.raises(TaskDeferred) as deferred:
        op.execute(context)
    trigger = deferred.value.trigger
    assert isinstance(trigger, ImportioCrawlRunTrigger) and deferred.value.method_name == "execute_complete"
    assert deferred.value.timeout == timedelta(seconds=600)
    assert trigger.serialize()[1] == {"crawl_run_id": run_id, "importio_conn_id": CONN_ID,
                                      "deadline": deadline.isoformat(), "poll_interval": 0.05}
    assert context["ti"].xcom == {"crawl_run_id": run_id, "extractor_id": extractor_id}

    async def first_event() -> Any:
        async for event in trigger.run():
            return event

    event = asyncio.run(asyncio.wait_for(first_event(), 15))
    fresh = {"ti": RecordingTI()}
    result = op.execute_complete(fresh, event.payload)
    assert result["crawl_run_id"] == run_id and result["state"] == "FINISHED"
    assert result["row_count"] == importio_emulator.crawl_run(run_id)["rowCount"]
    assert fresh["ti"].xcom == {"extractor_id": extractor_id}


def test_deferrable_does_not_defer_for_a_run_that_has_ended(importio_emulator, context):
    _, run_id = start_run(importio_emulator)
    time.sleep(0.2)
    result = sensor(run_id, deferrable=True).execute(context)
    assert result["state"] == "FINISHED"


def test_execute_complete_raises_for_anything_but_success(importio_emulator, context):
    op = sensor("run-1", deferrable=True)
    failed = {"status": "failed", "crawl_run_id": "run-1", "message": "Import.io crawl run run-1 ended FAILED",
              "state": "FAILED", "extractor_id": "ext-1"}
    with pytest.raises(ImportioCrawlRunFailedException, match="ended FAILED"):
        op.execute_complete(context, failed)
    assert context["ti"].xcom == {"extractor_id": "ext-1"}
    with pytest.raises(ImportioCrawlRunEventException, match="401 Unauthorized"):
        op.execute_complete(context, {"status": "error", "message": "Import.io GET ... answered 401 Unauthorized"})
    for event in (None, {}, {"status": "running", "crawl_run_id": "run-1", "message": "m"}, {"status": "ok"}):
        with pytest.raises(ImportioCrawlRunEventException, match="Unknown trigger event"):
            op.execute_complete(context, event)


def test_templated_fields_links_and_no_connection_in_init():
    op = ImportioCrawlRunSensor(task_id="w", crawl_run_id="{{ ti.xcom_pull('start') }}",
                                importio_conn_id="does_not_exist", deadline="{{ data_interval_end }}")
    assert set(op.template_fields) == {"crawl_run_id", "importio_conn_id", "deadline"}
    assert [type(link) for link in op.operator_extra_links] == [ImportioCrawlRunLink, ImportioExtractorLink]
    assert op.deferrable is False and op.poke_interval == 60


def test_a_bad_deadline_fails_before_any_poll(importio_emulator, context):
    with pytest.raises(ValueError, match="ISO 8601"):
        sensor("run-1", deadline="after lunch").execute(context)
    assert importio_emulator.request_count() == 0


DAG_FILE = '''
import datetime as dt
import json
from airflow.sdk import DAG, task
from airflow_provider_importio.hooks.importio import ImportioHook
from airflow_provider_importio.sensors.crawl_run import ImportioCrawlRunSensor

with DAG("crawl_run_sensor", schedule=None, start_date=dt.datetime(2026, 1, 1)) as dag:
    @task
    def start(extractor_id: str) -> str:
        return ImportioHook().start_extractor(extractor_id)

    ImportioCrawlRunSensor(
        task_id="wait_poke", crawl_run_id="{{ ti.xcom_pull('start') }}", poke_interval=0.1, deferrable=False,
    ).set_upstream(start.override(task_id="start")("EXTRACTOR_A"))
    ImportioCrawlRunSensor(
        task_id="wait_deferred", crawl_run_id="{{ ti.xcom_pull('start_b') }}", poke_interval=0.1, deferrable=True,
        deadline="{{ (data_interval_end + macros.timedelta(days=1)).isoformat() }}",
    ).set_upstream(start.override(task_id="start_b")("EXTRACTOR_B"))

if __name__ == "__main__":
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    run = dag.test()
    print("RUN-STATE", run.state)
    with create_session() as session:
        rows = session.query(XComModel.task_id, XComModel.key, XComModel.value).filter(
            XComModel.dag_id == "crawl_run_sensor", XComModel.run_id == run.run_id).all()
    print("XCOMS", json.dumps({f"{t}/{k}": v for t, k, v in rows}, default=str))
'''


def test_both_modes_in_a_real_airflow_run(importio_emulator, airflow_env, tmp_path):
    """Templated ids, XCom pushes and link XComs in the task runner; the deferrable sensor goes
    through the trigger (run in process by ``dag.test()``)."""
    import subprocess
    import sys
    from pathlib import Path

    # A run lasts crawl_seconds + seconds_per_url x inputs: A about 1.5 s, B about 8 s, so B is still
    # running whichever order dag.test() runs the tasks in, and its sensor has to defer.
    importio_emulator.crawl_seconds, importio_emulator.seconds_per_url = 0.9, 0.2
    a = importio_emulator.add_extractor(name="A", inputs=URLS)["guid"]
    b = importio_emulator.add_extractor(name="B", inputs=URLS + [f"https://shop.example/more/{i}" for i in range(33)])["guid"]
    dag_file = tmp_path / "dags" / "crawl_run_sensor.py"
    dag_file.parent.mkdir()
    dag_file.write_text(DAG_FILE.replace("EXTRACTOR_A", a).replace("EXTRACTOR_B", b))
    env = {**airflow_env, "AIRFLOW__CORE__DAGS_FOLDER": str(dag_file.parent),
           "AIRFLOW_CONN_IMPORTIO_DEFAULT": json.dumps({
               "conn_type": "importio", "host": importio_emulator.url, "password": importio_emulator.api_key,
               "extra": {"max_retries": 2, "backoff_base": 0.01}})}
    migrate = subprocess.run([str(Path(sys.executable).parent / "airflow"), "db", "migrate"], env=env,
                             capture_output=True, text=True, timeout=180)
    assert migrate.returncode == 0, migrate.stderr[-2000:]
    run = subprocess.run([sys.executable, str(dag_file)], env=env, capture_output=True, text=True, timeout=240)
    output = run.stdout + run.stderr
    assert "RUN-STATE success" in output, output[-6000:]

    xcoms = json.loads(output.split("XCOMS ", 1)[1].splitlines()[0])
    for task_id, start_id, extractor_id in (("wait_poke", "start", a), ("wait_deferred", "start_b", b)):
        run_id = xcoms[f"{start_id}/return_value"]
        assert xcoms[f"{task_id}/crawl_run_id"] == run_id and xcoms[f"{task_id}/extractor_id"] == extractor_id
        assert xcoms[f"{task_id}/return_value"]["state"] == "FINISHED"
        assert xcoms[f"{task_id}/_link_ImportioCrawlRunLink"] == (
            f"https://app.import.io/dash/extractors/{extractor_id}/history#{run_id}")
        assert xcoms[f"{task_id}/_link_ImportioExtractorLink"] == f"https://app.import.io/dash/extractors/{extractor_id}"
    # The deferrable sensor was deferred and the trigger saw the run end; the key is in no log.
    assert "Pausing task as DEFERRED" in output
    finished = [line for line in output.splitlines() if f"{xcoms['start_b/return_value']} FINISHED" in line]
    assert any("ImportioCrawlRunTrigger" in line for line in finished), output[-6000:]
    assert importio_emulator.api_key not in output
