"""Load: ten deliveries of a 48-chunk flow queued at once, as after downtime (issue 11, point 5).

docker-compose.yaml's services run as local processes (:class:`LocalCompose`, LocalExecutor, no
Celery workers) with a generated hourly flow (:class:`GeneratedProject`; its cron ticks only in the
12 hours up to now, so the scheduler adds no delivery of its own during the test). Unpausing it makes the
scheduler start the latest tick's delivery; the nine ticks before it are triggered at once over the
REST API with their logical dates, so ten deliveries are queued together, as a catch-up would queue
them. The flow's ``max_active_runs`` (its overlapping deliveries: 3 for an hourly cron closing in
3 hours) holds the rest back. Checked: every delivery succeeds; no more than ``max_active_runs`` ran
at once (and more than one did); each extractor ran exactly deliveries × chunks crawls, all
finished, never two at once; the S3 destination got one file per snapshot; with equal chunks (two
rows a page) no QA check failed, so nobody had to review.

Size: ``IMPORTIO_SOAK=<deliveries>x<chunks>x<sources>`` (default ``10x48x1``). The emulator's crawls
take 0.5 s + 0.05 s a URL here (compose's service takes 5 s): the point is the scheduling.
"""

from __future__ import annotations

import os
import time
from collections import Counter
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import requests

from airflow_provider_importio.testing.generated_project import GeneratedProject

pytestmark = [pytest.mark.soak, pytest.mark.timeout(3 * 3600)]

SIZE_ENV = "IMPORTIO_SOAK"
#: LocalExecutor, and 1 s polls of crawls and leases (compose: 5 and 2): a chunk's turn on its
#: extractor passes to the next one sooner.
OVERRIDES = {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__PARALLELISM": "8",
             "AIRFLOW__IMPORTIO__CRAWL_POLL_INTERVAL": "1", "AIRFLOW__IMPORTIO__LEASE_POLL_INTERVAL": "1"}
RUN_TIMEOUT_S = 2.5 * 3600


def size() -> tuple[int, int, int]:
    text = os.environ.get(SIZE_ENV, "").strip().lower() or "10x48x1"
    deliveries, chunks, sources = (int(part) for part in text.split("x"))
    return deliveries, chunks, sources


def past_hours_cron(now: datetime | None = None, hours: int = 12) -> str:
    """Hourly, but only in the ``hours`` hours up to now: the latest tick is this hour's, and the next
    one is ``24 - hours + 1`` hours away, so no scheduled delivery joins the ten while they run (an
    every-hour cron added an eleventh at the top of the hour in the first full-size run)."""
    current = (now or datetime.now(timezone.utc)).hour
    return f"0 {','.join(str(h) for h in sorted((current - k) % 24 for k in range(hours)))} * * *"


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def trigger_catch_up(api: requests.Session, base: str, dag_id: str, first_run_id: str, count: int) -> list[str]:
    """The ``count - 1`` hourly deliveries before the scheduled one, triggered at once."""
    first = api.get(f"{base}/api/v2/dags/{dag_id}/dagRuns/{first_run_id}", timeout=30).json()
    latest = _when(first["logical_date"]) or datetime.now(timezone.utc).replace(minute=0, second=0, microsecond=0)
    run_ids = [first_run_id]
    for hours in range(1, count):
        logical = (latest - timedelta(hours=hours)).isoformat()
        answer = api.post(f"{base}/api/v2/dags/{dag_id}/dagRuns", timeout=30,
                          json={"dag_run_id": f"catchup__{logical}", "logical_date": logical})
        answer.raise_for_status()
        run_ids.append(answer.json()["dag_run_id"])
    return run_ids


def watch(stack: Any, dag_id: str, run_ids: list[str]) -> tuple[dict[str, dict[str, Any]], int, list[str]]:
    """Until every run ends: (the runs, the most seen running at once, reviews answered "Pass")."""
    from airflow_provider_importio.testing.airflow_hitl import awaiting_input_rest, respond_rest

    api, base = stack.api(), stack.api_url
    most_running, reviews = 0, []
    deadline = time.monotonic() + RUN_TIMEOUT_S
    last_note = time.monotonic()
    while True:
        stack._check_alive()  # noqa: SLF001 - a crashed component ends the run at once
        for task in awaiting_input_rest(api, base, dag_id):  # none expected: every page is good
            respond_rest(api, base, task, "Pass")
            reviews.append(f"{task.run_id} {task.task_id}[{task.map_index}]")
        runs = {r["dag_run_id"]: r for r in api.get(f"{base}/api/v2/dags/{dag_id}/dagRuns",
                                                     params={"limit": 100}, timeout=30).json()["dag_runs"]}
        states = Counter(run["state"] for run in runs.values())
        most_running = max(most_running, states["running"])
        if all(runs.get(run_id, {}).get("state") in ("success", "failed") for run_id in run_ids):
            return runs, most_running, reviews
        if time.monotonic() - last_note > 120:
            print(f"  ... {dict(states)}", flush=True)
            last_note = time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"deliveries not done after {RUN_TIMEOUT_S:.0f} s: {dict(states)}\n{stack.logs_tail()}")
        time.sleep(2)


def crawls_by_extractor(stack: Any, project: GeneratedProject) -> dict[str, list[Any]]:
    from airflow_provider_importio.clients.importio import ImportioClient

    with ImportioClient("demo-api-key", stack.url("importio-emulator")) as client:
        return {project.extractor_id(n): list(client.list_crawl_runs(extractor_id=project.extractor_id(n), per_page=100))
                for n in range(project.sources)}


def test_ten_queued_deliveries_all_complete_one_crawl_per_extractor_at_a_time(tmp_path: Path):
    from airflow_provider_importio.testing.compose_local import LocalCompose

    deliveries, chunks, sources = size()
    project = GeneratedProject(chunks=chunks, sources=sources, slug="load", cron=past_hours_cron(), data_hours=1,
                               push_hours=2, close_hours=3, urls_per_chunk=2,
                               rows_per_page=2)
    dags = project.write_dags(tmp_path / "dags")
    started = time.monotonic()
    with LocalCompose(tmp_path / "compose", workers=0, dags_folder=dags, overrides=OVERRIDES,
                      start_timeout=600) as stack:
        requests.post(f"{stack.url('importio-emulator')}/_emulator/config", timeout=30,
                      json={"crawl_seconds": 0.5, "seconds_per_url": 0.05}).raise_for_status()
        project.seed(stack)
        api, base = stack.api(), stack.api_url
        first = stack.first_run(project.dag_id, ready_timeout=300, api=api)
        run_ids = trigger_catch_up(api, base, project.dag_id, first, deliveries)
        queued_s = time.monotonic() - started
        max_active = api.get(f"{base}/api/v2/dags/{project.dag_id}/details", timeout=30).json()["max_active_runs"]
        runs, most_running, reviews = watch(stack, project.dag_id, run_ids)
        crawls = crawls_by_extractor(stack, project)
        exports = stack_objects(stack, project.export_bucket)
    wall = time.monotonic() - started - queued_s
    print(f"\n{deliveries} deliveries x {chunks} chunks x {sources} sources: {wall:.0f} s after queueing "
          f"(stack and queueing {queued_s:.0f} s); most running at once {most_running} of max_active_runs "
          f"{max_active}; crawls {sum(len(c) for c in crawls.values())}; reviews {len(reviews)}", flush=True)

    assert {run_id: runs[run_id]["state"] for run_id in run_ids} == {run_id: "success" for run_id in run_ids}
    assert reviews == []  # equal chunks: every check passes against the earlier deliveries' baseline
    assert max_active == 3  # an hourly cron whose deliveries close after 3 hours
    assert 1 < most_running <= max_active
    for extractor, runs_of in crawls.items():
        assert len(runs_of) == deliveries * chunks, (extractor, len(runs_of))
        assert {run.state.value for run in runs_of} == {"FINISHED"}
        spans = sorted((run.started_at, run.stopped_at) for run in runs_of)
        overlaps = [(a, b) for a, b in zip(spans, spans[1:]) if b[0] < a[1]]
        assert overlaps == [], f"extractor {extractor} ran two crawls at once: {overlaps[:3]}"
    assert len(exports) == deliveries * chunks * sources
    assert set(exports.values()) == {project.urls_per_chunk * 2}  # rows in each file: every page's two


def stack_objects(stack: Any, bucket: str) -> dict[str, int]:
    """Each object's key and its NDJSON row count."""
    import boto3

    s3 = boto3.client("s3", endpoint_url=stack.url("moto"), aws_access_key_id="testing",
                      aws_secret_access_key="testing", region_name="us-east-1")
    keys = [obj["Key"] for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket)
            for obj in page.get("Contents", [])]
    return {key: len(s3.get_object(Bucket=bucket, Key=key)["Body"].read().splitlines()) for key in keys}
