"""Scale: one staging delivery of 48 chunks × 4 sources on LocalExecutor against the emulators,
and the same crawls against the Import.io emulator alone (issue 10's "Scale" row).

The project side is docker-compose.yaml run as local processes
(:class:`~airflow_provider_importio.testing.compose_local.LocalCompose`) with the executor swapped
for LocalExecutor (``[core] parallelism`` 8, no Celery workers: the scheduler runs the tasks) and a
generated project (:mod:`airflow_provider_importio.testing.generated_project`, which the load test
in ``tests/soak`` also uses) in its own DAGs folder: ``scale__staging``, the shop example's staging flow with 4
sources (4 extractors, one schema), 48 chunks of 3 product pages each and one destination (S3), so
the delivery is about scheduling, not pushing. The inputs are all good pages: no QA review is
expected (one that appears is answered "Pass" through the REST API, as a person would).

The baseline is "the emulator's time alone": a fresh in-process Import.io emulator with the
compose service's crawl settings (``--crawl-seconds 5 --seconds-per-url 0.1``), the same crawls
run with the plain client: each extractor's chunks one after another (the project's extractor lease
allows one crawl per extractor), the extractors in parallel threads (the domain allows 4 at once),
polling every 0.5 s. The note gives the scheduler overhead per mapped task instance:
``(delivery wall - emulator-alone wall) / mapped task instances``. No target: the row is a report.

Size: ``IMPORTIO_BENCH_SCALE=<chunks>x<sources>`` (default 48x4; ``--quick`` 8x2; up to 4 sources).
``IMPORTIO_BENCH_SCALE_KEEP=1`` keeps the work folder (logs) and prints where it is.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from datetime import datetime
from pathlib import Path
from typing import Any

from harness import Result

BENCHMARK = "scale"
FULL_SIZE, QUICK_SIZE = (48, 4), (8, 2)
SIZE_ENV, KEEP_ENV = "IMPORTIO_BENCH_SCALE", "IMPORTIO_BENCH_SCALE_KEEP"
URLS_PER_CHUNK = 3
PROJECT_SLUG = "scale"
DAG_ID = f"{PROJECT_SLUG}__staging"
#: What the compose file's Import.io emulator service runs with (docker-compose.yaml).
CRAWL_SECONDS, SECONDS_PER_URL = 5.0, 0.1
EMULATOR_POLL_S = 0.5
LOCAL_EXECUTOR = {"AIRFLOW__CORE__EXECUTOR": "LocalExecutor", "AIRFLOW__CORE__PARALLELISM": "8"}
RUN_TIMEOUT_S = 3600.0


def size(quick: bool) -> tuple[int, int]:
    """(chunks, sources): ``--quick`` 8x2, else ``$IMPORTIO_BENCH_SCALE`` (``48x4``)."""
    if quick:
        return QUICK_SIZE
    text = os.environ.get(SIZE_ENV, "").strip().lower()
    if not text:
        return FULL_SIZE
    chunks, _, sources = text.partition("x")
    chunks_n, sources_n = int(chunks), int(sources or FULL_SIZE[1])
    if not (1 <= chunks_n and 1 <= sources_n <= 4):
        raise ValueError(f"{SIZE_ENV}={text!r}: want <chunks>x<sources> with 1..4 sources")
    return chunks_n, sources_n


def project(chunks: int, sources: int) -> Any:
    """The generated scale project (:mod:`airflow_provider_importio.testing.generated_project`): all good
    pages, so no QA review is expected; a day's window with every chunk in it."""
    from airflow_provider_importio.testing.generated_project import GeneratedProject

    return GeneratedProject(chunks=chunks, sources=sources, slug=PROJECT_SLUG, urls_per_chunk=URLS_PER_CHUNK)


# -- the delivery -----------------------------------------------------------------------------


def _when(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text.replace("Z", "+00:00")) if text else None


def delivery_run(stack: Any, timeout: float = RUN_TIMEOUT_S) -> tuple[dict[str, Any], list[str]]:
    """The scheduled delivery (else one triggered over REST); reviews answered "Pass"; until it ends."""
    from airflow_provider_importio.testing.airflow_hitl import awaiting_input_rest, respond_rest

    api, base = stack.api(), stack.api_url
    # as a person in the UI: unpause; the scheduler then starts the latest delivery (catchup is off)
    run_id = stack.first_run(DAG_ID, ready_timeout=300, api=api)
    print(f"  delivery {DAG_ID} {run_id} running", flush=True)
    reviews: list[str] = []
    deadline = time.monotonic() + timeout
    last_progress = time.monotonic()
    while True:
        stack._check_alive()  # noqa: SLF001 - a crashed component ends the benchmark at once
        for task in awaiting_input_rest(api, base, DAG_ID):
            respond_rest(api, base, task, "Pass")
            reviews.append(f"{task.task_id}[{task.map_index}]: {task.subject}")
        run = api.get(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}", timeout=30).json()
        if run["state"] in ("success", "failed"):
            return run, reviews
        if time.monotonic() - last_progress > 60:
            states = Counter((ti["task_id"], ti["state"]) for ti in task_instances(api, base, run_id))
            print(f"  ... {run['state']}: {dict(sorted(states.items(), key=str))}", flush=True)
            last_progress = time.monotonic()
        if time.monotonic() > deadline:
            raise TimeoutError(f"run {run_id} still {run['state']} after {timeout:.0f} s\n{stack.logs_tail()}")
        time.sleep(2)


def task_instances(api: Any, base: str, run_id: str) -> list[dict[str, Any]]:
    """Every task instance of the run (mapped ones one per index), paginated 1000 at a time."""
    found: list[dict[str, Any]] = []
    while True:
        answer = api.get(f"{base}/api/v2/dags/{DAG_ID}/dagRuns/{run_id}/taskInstances",
                         params={"limit": 1000, "offset": len(found)}, timeout=60)
        answer.raise_for_status()
        body = answer.json()
        found += body["task_instances"]
        if not body["task_instances"] or len(found) >= body["total_entries"]:
            return found


def _median(values: list[float]) -> float:
    return statistics.median(values) if values else 0.0


def breakdown(tis: list[dict[str, Any]], run: dict[str, Any]) -> str:
    """Per task: instances, tries, median queued→start and run time, and when the task's instances
    started and ended relative to the run's start: where the delivery's time goes."""
    run_start = _when(run["start_date"])
    by_task: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for ti in tis:
        by_task[ti["task_id"]].append(ti)
    lines = ["  task | n | states | tries | median queued→start s | median run s | sum run s | first start +s | last end +s"]
    for task, items in sorted(by_task.items(), key=lambda kv: min((_when(t["start_date"]) or run_start)
                                                                   for t in kv[1])):
        waits = [(_when(t["start_date"]) - _when(t["queued_when"])).total_seconds()
                 for t in items if t.get("queued_when") and t.get("start_date")]
        # a deferred task is queued again when it resumes, after its first start: no single wait
        wait = f"{_median(waits):.1f}" if all(w >= 0 for w in waits) else "n/a (resumed)"
        runs = [float(t["duration"]) for t in items if t.get("duration") is not None]
        starts = [_when(t["start_date"]) for t in items if t.get("start_date")]
        ends = [_when(t["end_date"]) for t in items if t.get("end_date")]
        states = dict(Counter(t["state"] for t in items))
        tries = sum(int(t.get("try_number") or 0) for t in items)
        first = f"{(min(starts) - run_start).total_seconds():.0f}" if starts else "-"
        last = f"{(max(ends) - run_start).total_seconds():.0f}" if ends else "-"
        lines.append(f"  {task} | {len(items)} | {states} | {tries} | {wait} | {_median(runs):.1f} | "
                     f"{sum(runs):.0f} | {first} | {last}")
    return "\n".join(lines)


def task_log_summary(workdir: Path) -> str:
    """From the task logs: task process starts (first runs and resumptions after a deferral), the
    DAG parse each start does, and how often collect tasks deferred (lease waits, crawl waits)."""
    import re

    logs = workdir / "airflow-home" / "logs" / f"dag_id={DAG_ID}"
    starts: Counter = Counter()
    parse_ms: list[float] = []
    deferred = lease_waits = 0
    for path in logs.glob("run_id=*/task_id=*/**/attempt=*.log"):
        task = next(part for part in path.parts if part.startswith("task_id="))[len("task_id="):]
        text = path.read_text(errors="replace")
        starts[task] += text.count("::group::Pre Execute")
        parse_ms += [float(m) for m in re.findall(r'"dag_file_parse_ms":\s*([0-9.]+)', text)]
        deferred += text.count("Pausing task as DEFERRED")
        lease_waits += text.count("Waiting in the triggerer for the lease")
    return (f"  task process starts {sum(starts.values())} ({dict(sorted(starts.items()))}); DAG parse per start: "
            f"median {_median(parse_ms):.0f} ms, max {max(parse_ms, default=0):.0f} ms, total {sum(parse_ms) / 1000:.0f} s; "
            f"deferrals {deferred} (lease waits {lease_waits})")


def delivery(chunks: int, sources: int, workdir: Path) -> tuple[float, dict[str, Any], list[dict[str, Any]], float]:
    """Start the stack, seed, run the delivery; (run wall s, run, task instances, stack start s)."""
    from airflow_provider_importio.testing.compose_local import LocalCompose

    scale = project(chunks, sources)
    dags = scale.write_dags(workdir / "dags")
    started = time.monotonic()
    with LocalCompose(workdir / "compose", workers=0, dags_folder=dags, overrides=LOCAL_EXECUTOR,
                      start_timeout=600) as stack:
        up_s = time.monotonic() - started
        print(f"  stack up in {up_s:.0f} s (LocalExecutor, parallelism 8)", flush=True)
        scale.seed(stack)
        run, reviews = delivery_run(stack)
        tis = task_instances(stack.api(), stack.api_url, run["dag_run_id"])
        if run["state"] != "success":
            raise RuntimeError(f"delivery {run['dag_run_id']} {run['state']}: "
                               f"{Counter((t['task_id'], t['state']) for t in tis)}\n{stack.logs_tail(40)}")
        wall = (_when(run["end_date"]) - _when(run["start_date"])).total_seconds()
        print(breakdown(tis, run), flush=True)
        print(task_log_summary(stack.workdir), flush=True)
        if reviews:
            print(f"  reviews answered Pass: {len(reviews)}: {reviews[:3]}", flush=True)
    return wall, run, tis, up_s


# -- the baseline: the emulator alone ---------------------------------------------------------


def emulator_alone(chunks: int, sources: int) -> float:
    """The same crawls against a fresh emulator with the plain client; wall seconds."""
    from airflow_provider_importio.clients.importio import ImportioClient
    from airflow_provider_importio.clients.importio_records import CrawlRunState
    from airflow_provider_importio.testing import ImportioEmulator

    from airflow_provider_importio.testing.generated_project import EXTRACTOR_FIELDS

    scale = project(chunks, sources)
    rows = Counter()
    errors: list[BaseException] = []
    with ImportioEmulator(crawl_seconds=CRAWL_SECONDS, seconds_per_url=SECONDS_PER_URL) as emulator:
        slugs = scale.source_slugs()
        for n, slug in enumerate(slugs):
            emulator.add_extractor(name=f"{PROJECT_SLUG}: {slug}", fields=EXTRACTOR_FIELDS, guid=scale.extractor_id(n))

        def crawl_all(n: int, slug: str) -> None:
            try:
                urls = scale.input_urls(slug)
                extractor = scale.extractor_id(n)
                with ImportioClient(emulator.api_key, emulator.url) as client:
                    for c in range(chunks):
                        client.update_extractor_inputs(extractor, urls[c * URLS_PER_CHUNK:(c + 1) * URLS_PER_CHUNK])
                        run_id = client.start_extractor(extractor)
                        while True:
                            crawl = client.get_crawl_run(run_id)
                            if crawl.state.is_terminal:
                                break
                            time.sleep(EMULATOR_POLL_S)
                        if crawl.state != CrawlRunState.FINISHED:
                            raise RuntimeError(f"crawl {run_id} of {slug} chunk {c}: {crawl.state}")
                        rows[slug] += sum(1 for _ in client.iter_crawl_run_results(run_id))
            except BaseException as exc:  # noqa: BLE001 - raised in the main thread
                errors.append(exc)

        threads = [threading.Thread(target=crawl_all, args=(n, slug), name=f"crawl-{slug}")
                   for n, slug in enumerate(slugs)]
        started = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - started
    if errors:
        raise errors[0]
    print(f"  emulator alone: {chunks * sources} crawls in {wall:.1f} s ({sum(rows.values())} result lines)",
          flush=True)
    return wall


# -- the benchmark ------------------------------------------------------------------------------


def run(quick: bool) -> list[Result]:
    chunks, sources = size(quick)
    crawls = chunks * sources
    print(f"  {chunks} chunks x {sources} sources = {crawls} crawls, {URLS_PER_CHUNK} URLs each", flush=True)
    alone_s = emulator_alone(chunks, sources)
    workdir = Path(tempfile.mkdtemp(prefix="importio-bench-scale-"))
    keep = os.environ.get(KEEP_ENV, "").lower() in ("1", "true", "yes")
    try:
        wall, run_, tis, up_s = delivery(chunks, sources, workdir)
    finally:
        if keep:
            print(f"  work folder kept: {workdir}", flush=True)
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    mapped = [t for t in tis if int(t.get("map_index", -1)) >= 0]
    per_task = Counter(t["task_id"] for t in mapped)
    overhead = (wall - alone_s) / len(mapped) if mapped else float("nan")
    size_text = f"{chunks} chunks x {sources} sources"
    return [
        Result(BENCHMARK, f"delivery on LocalExecutor, {size_text}", wall, len(mapped), "mapped tasks",
               target="report",
               note=(f"{len(tis)} task instances, mapped: "
                     + ", ".join(f"{task} {n}" for task, n in sorted(per_task.items()))
                     + f"; scheduler overhead per mapped task = ({wall:.0f} - {alone_s:.0f}) s / {len(mapped)}"
                     f" = {overhead:.2f} s; stack start {up_s:.0f} s, not counted"),
               samples=[wall]),
        Result(BENCHMARK, f"emulator alone, {crawls} crawls", alone_s, crawls, "crawls",
               ratio=wall / alone_s if alone_s else None, target="report",
               note=f"crawl {CRAWL_SECONDS:g} s + {SECONDS_PER_URL:g} s/URL, poll {EMULATOR_POLL_S:g} s, "
                    f"{sources} extractors in parallel", samples=[alone_s]),
    ]


if __name__ == "__main__":
    from harness import table

    print(table(run(quick="--quick" in sys.argv)))
