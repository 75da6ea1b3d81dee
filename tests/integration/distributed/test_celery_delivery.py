"""One staging delivery on a distributed Airflow, and the same delivery embedded: same rows delivered.

The distributed run is docker-compose.yaml run as processes on loopback
(:class:`~airflow_provider_importio.testing.compose_local.LocalCompose`): CeleryExecutor with Debian's
PostgreSQL and Redis, an api-server (the execution API the workers call), a scheduler, a
dag-processor, a triggerer and two Celery workers, with the file's environment, connections and
service commands. A person's part goes through the public REST API: the run is triggered with
``POST .../dagRuns`` and the QA reviews are answered with ``PATCH .../hitlDetails``, logged in as
the file's admin. The embedded run is ``make demo``'s: ``dag.test()`` on SQLite, emulators in threads.
Both get the same inputs (30 product pages per shop, one a system error) and the same review answers.
"""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_importio.testing.airflow_hitl import awaiting_input_rest, choose, respond_rest
from airflow_provider_importio.testing.compose_local import REPO, LocalCompose

sys.path.insert(0, str(REPO / "scripts"))
import compose_setup  # noqa: E402
import demo_support  # noqa: E402

pytestmark = [pytest.mark.distributed, pytest.mark.timeout(1500)]

DAG_ID = "shop__staging"
FINISHED = {"success", "failed"}


def rows_of(body: bytes, fmt: str) -> list[str]:
    """A delivered file's rows, each as canonical JSON (CSV cells are strings on both sides)."""
    text = body.decode()
    if fmt == "CSV":
        return [json.dumps(row, sort_keys=True) for row in csv.DictReader(io.StringIO(text))]
    return [json.dumps(json.loads(line), sort_keys=True) for line in text.splitlines() if line.strip()]


def delivered(s3: Any, sftp_root: Path, warehouse: dict[str, list[dict[str, Any]]]) -> dict[str, Counter]:
    """What is really at each destination: S3 objects, SFTP files, the Stitch warehouse tables."""
    project = demo_support.load_project()
    found: dict[str, Counter] = {}
    for d in project.destinations:
        rows: Counter = Counter()
        if d.type == "S3":
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=d.bucket):
                for item in page.get("Contents", []):
                    rows.update(rows_of(s3.get_object(Bucket=d.bucket, Key=item["Key"])["Body"].read(), d.format))
        elif d.type == "SFTP":
            for path in sorted((sftp_root / d.directory.strip("/")).rglob("*")):
                if path.is_file():
                    rows.update(rows_of(path.read_bytes(), d.format))
        else:
            for table_rows in warehouse.values():
                rows.update(json.dumps({k: v for k, v in row.items() if not k.startswith("_sdc")}, sort_keys=True)
                            for row in table_rows)
        found[d.type] = rows
    return found


def embedded_delivery(workdir: Path) -> dict[str, Counter]:
    """``make demo``'s run (dag.test() on SQLite), with the compose seed's inputs."""
    project = demo_support.load_project()
    sources = [s.slug for s in project.flow_collection(project.flow("staging")).sources]
    store_url = f"sqlite:///{workdir / 'store.db'}"
    with demo_support.servers(workdir, crawl_seconds=0.5) as srv:
        connections = demo_support.arrange(srv, project, "staging", demo_support.example_inputs(sources))
        env = demo_support.airflow_env(workdir, connections, store_url)
        demo_support.migrate(env, store_url)
        outcome = demo_support.run_delivery(env, DAG_ID, store_url, workdir / "run.log", timeout=300,
                                            progress=lambda line: None)
        assert outcome.ok, outcome.log.read_text()[-5000:]
        srv.stitch.wait_loaded(timeout=30)
        warehouse = {f"{schema}.{table}": srv.stitch.rows(schema, table) for schema, table in srv.stitch.tables()}
        return delivered(srv.s3.client(), srv.sftp.path("/"), warehouse)


def run_and_review(stack: LocalCompose, timeout: float = 900) -> tuple[dict[str, Any], list[str]]:
    """The flow's first delivery (scheduled, else triggered as a person in the UI would); answer its
    reviews through the REST API; wait for the run's end."""
    api, base = stack.api(), stack.api_url
    # The file unpauses the flows at creation, so the scheduler starts the latest staging delivery by
    # itself (catchup is off); a person triggers one only if it has not.
    run_id = stack.first_run(DAG_ID, api=api, unpause=False)
    answered: list[str] = []
    deadline = time.monotonic() + timeout
    while True:
        stack._check_alive()  # noqa: SLF001 - a crashed component fails the test at once
        for task in awaiting_input_rest(api, base, DAG_ID):
            choice = choose(task, demo_support.REVIEW_RULES, demo_support.REVIEW_DEFAULT)
            respond_rest(api, base, task, choice)
            answered.append(f"{task.task_id}[{task.map_index}] {choice}: {task.subject}")
        run = api.get(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", timeout=30).json()
        if run["state"] in FINISHED:
            return run, answered
        assert time.monotonic() < deadline, f"run {run_id} still {run['state']} after {timeout} s\n{stack.logs_tail()}"
        time.sleep(2)


def task_states(stack: LocalCompose, run_id: str) -> Counter:
    api = stack.api()
    answer = api.get(f"{stack.api_url}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                     params={"limit": 1000}, timeout=30)
    answer.raise_for_status()
    return Counter((ti["task_id"], ti["state"]) for ti in answer.json()["task_instances"])


@pytest.fixture
def servers_installed() -> None:
    """Debian's PostgreSQL and Redis servers (skip, or fail with IMPORTIO_REQUIRE_POSTGRES/REDIS in CI)."""
    from airflow_provider_importio.testing.postgres import PostgresUnavailable, find_postgres_bin
    from airflow_provider_importio.testing.redis_server import RedisUnavailable, find_redis_server

    for what, find, unavailable, required in (
            ("PostgreSQL", find_postgres_bin, PostgresUnavailable, "IMPORTIO_REQUIRE_POSTGRES"),
            ("Redis", find_redis_server, RedisUnavailable, "IMPORTIO_REQUIRE_REDIS")):
        try:
            find()
        except unavailable as exc:
            if os.environ.get(required, "").lower() in ("1", "true", "yes"):
                pytest.fail(f"{what} is required ({required}) but unavailable: {exc}", pytrace=False)
            pytest.skip(f"{what} unavailable: {exc}")


def test_a_staging_delivery_on_celery_delivers_what_the_embedded_run_does(tmp_path, servers_installed):
    started = time.monotonic()
    expected = embedded_delivery(tmp_path / "embedded")
    embedded_s = time.monotonic() - started
    assert all(sum(rows.values()) > 0 for rows in expected.values()), expected

    started = time.monotonic()
    with LocalCompose(tmp_path / "compose", workers=2) as stack:
        up_s = time.monotonic() - started
        run, reviews = run_and_review(stack)
        run_s = time.monotonic() - started - up_s
        states = task_states(stack, run["dag_run_id"])
        assert run["state"] == "success", f"{states}\n{stack.logs_tail(40)}"

        # every task of the delivery ran, on both workers, and the collect tasks waited in the triggerer
        assert {task for task, _ in states} >= {"plan_delivery", "pickup_inputs", "plan_runs", "collect", "qa", "push"}
        assert states[("collect", "success")] == 20 and states[("qa", "success")] == 20, states
        received = {p.name: p.log.read_text(errors="replace").count("] received") for p in stack.worker_logs()}
        assert all(n > 0 for n in received.values()) and len(received) == 2, received
        collect_logs = [path.read_text(errors="replace") for path in (stack.workdir / "airflow-home" / "logs").glob(
            f"dag_id={DAG_ID}/run_id=*/task_id=collect/map_index=*/attempt=*.log")]
        assert sum("Pausing task as DEFERRED" in text for text in collect_logs) == 20  # every crawl waited there
        assert any("Waiting in the triggerer for the lease" in text for text in collect_logs)  # a busy extractor
        trigger_logs = [path.read_text(errors="replace") for path in (stack.workdir / "airflow-home" / "logs").glob(
            f"dag_id={DAG_ID}/run_id=*/task_id=collect/map_index=*/attempt=*.log.trigger.*.log")]
        assert sum("Import.io crawl run" in text and "Trigger fired event" in text for text in trigger_logs) == 20
        # the alarm DAG (every 5 minutes) evaluated without failing, paging through the PagerDuty stand-in
        alarm_runs = stack.api().get(f"{stack.api_url}/api/v2/dags/shop__alarms/dagRuns", timeout=30).json()["dag_runs"]
        assert alarm_runs and all(r["state"] in ("success", "running", "queued") for r in alarm_runs), alarm_runs
        # the escalated chunk was reviewed by a person through the REST API and pushed anyway
        assert any("Push anyway" in line and "ESCALATED" in line for line in reviews), reviews

        moto = stack.url("moto")
        s3 = _s3(moto)
        stitch = stack.url("stitch-emulator")
        requests.post(f"{stitch}/_emulator/wait_loaded", json={"timeout": 30}, timeout=60).raise_for_status()
        tables = requests.get(f"{stitch}/_emulator/warehouse", timeout=30).json()
        warehouse = {f"{t['schema']}.{t['table']}": requests.get(
            f"{stitch}/_emulator/warehouse/{t['schema']}/{t['table']}", timeout=30).json() for t in tables}
        got = delivered(s3, stack.workdir / "tmp_sftp-root", warehouse)

    total_s = time.monotonic() - started
    print(f"\nembedded run {embedded_s:.0f} s; distributed: start {up_s:.0f} s, delivery {run_s:.0f} s, "
          f"all {total_s:.0f} s; tasks received per worker {received}; rows "
          f"{ {kind: sum(rows.values()) for kind, rows in got.items()} }")
    assert set(got) == set(expected) == {"S3", "SFTP", "STITCH"}
    for kind in expected:
        missing, extra = expected[kind] - got[kind], got[kind] - expected[kind]
        assert not missing and not extra, (kind, list(missing)[:3], list(extra)[:3])


def _s3(endpoint: str) -> Any:
    import boto3

    return boto3.client("s3", endpoint_url=endpoint, aws_access_key_id="testing", aws_secret_access_key="testing",
                        region_name="us-east-1")
