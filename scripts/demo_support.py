"""The parts of `make demo` that are not the story: servers, the Airflow environment, the run and
its reviewer, and the report. ``scripts/demo.py`` reads top to bottom; the details are here.

Run as a script (``python scripts/demo_support.py run <dag_id>``), this module is the Airflow side of
the demo: it builds the flow DAGs from the repo's ``dags/`` folder (the example project file) and
runs one delivery with ``dag.test()``, then the project's alarm DAG when the provider has one.
"""

from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
DAGS = REPO / "dags"
DAG_FILE = DAGS / "shop_flows.py"
PROJECT_FILE = DAGS / "projects" / "shop.yaml"  # the file dags/shop_flows.py loads
PYTHON = sys.executable

#: The extractors' fields, so that the emulator's pages fit the project's schema (name, price, sku).
EXTRACTOR_FIELDS = [{"name": "name"}, {"name": "price", "type": "CURRENCY"}, {"name": "sku"}]
#: The Stitch source the warehouse destination writes to (as dags/stitch_setup.py creates it).
STITCH_SOURCE = "Shop Warehouse"
#: The demo's reviewer: what a person answers in the QA review, by the review's subject.
REVIEW_RULES = [("is ESCALATED", "Push anyway")]
REVIEW_DEFAULT = "Pass"  # PENDING_QA: a false alarm
REVIEWER = "demo-reviewer"
#: URLs per source in the staging flow's input files (the demo, docker-compose's seed, the distributed test).
URLS_PER_SOURCE = 30


def example_inputs(sources: list[str]) -> dict[str, list[str]]:
    """~30 product pages per source (the emulator makes 1-5 rows of each, always the same ones);
    the second source's 18th page is an Import.io system error (a `/error` path segment)."""
    inputs = {}
    for n, source in enumerate(sources):
        urls = [f"https://www.example-shop.co.uk/{source}/products/{i}" for i in range(URLS_PER_SOURCE)]
        if n == 1:
            urls[17] = f"https://www.example-shop.co.uk/{source}/products/17/error"
        inputs[source] = urls
    return inputs


# -- servers ----------------------------------------------------------------------------------------


@dataclass
class Servers:
    importio: Any
    stitch: Any
    s3: Any
    sftp: Any
    pagerduty: Any


@contextmanager
def servers(workdir: Path, *, crawl_seconds: float = 0.5) -> Iterator[Servers]:
    """The Import.io and Stitch emulators, moto's S3 and an SFTP server, on loopback, in threads;
    all stopped on exit, whatever happens."""
    from airflow_provider_importio.testing import ImportioEmulator
    from airflow_provider_importio.testing.aws import MotoServer
    from airflow_provider_importio.testing.pagerduty import PagerDutyEmulator
    from airflow_provider_importio.testing.sftp_server import SFTPTestServer
    from airflow_provider_importio.testing.stitch_emulator import StitchEmulator

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    with ExitStack() as stack:
        importio = stack.enter_context(ImportioEmulator(api_key="demo-api-key", crawl_seconds=crawl_seconds,
                                                        seconds_per_url=0))
        stitch = stack.enter_context(StitchEmulator())
        s3 = stack.enter_context(MotoServer())
        sftp = stack.enter_context(SFTPTestServer(workdir / "sftp-root"))
        pagerduty = stack.enter_context(PagerDutyEmulator())
        yield Servers(importio, stitch, s3, sftp, pagerduty)


def load_project() -> Any:
    from airflow_provider_importio.workbench.config_loader import load_project as load

    return load(PROJECT_FILE)


def input_uris(project: Any, flow_slug: str) -> dict[str, str]:
    """Each source's input file for a delivery of the flow starting now (``s3://bucket/key``)."""
    from airflow_provider_importio.workbench.templates import input_variables, render

    flow = project.flow(flow_slug)
    collection = project.flow_collection(flow)
    template = flow.definition.input_uri_template
    now = datetime.now(timezone.utc)
    return {source.slug: render(template, input_variables(
        moment=now, project=project.slug, collection=collection.slug, flow=flow.slug, source=source.slug,
        bucketname=flow.definition.input_bucket)) for source in collection.sources}


def arrange(srv: Servers, project: Any, flow_slug: str, inputs: Mapping[str, list[str]]) -> dict[str, str]:
    """Extractors (the project's guids), buckets, input files, the Stitch source and its token;
    returns the Airflow connections (``AIRFLOW_CONN_*`` values) the delivery needs."""
    flow = project.flow(flow_slug)
    collection = project.flow_collection(flow)
    for source in collection.sources:
        srv.importio.add_extractor(name=f"{project.name}: {source.name}", guid=source.extractor_id,
                                   fields=EXTRACTOR_FIELDS)
    s3 = srv.s3.client()
    uris = input_uris(project, flow_slug)
    buckets = {uri.split("/")[2] for uri in uris.values()}
    buckets |= {d.bucket for d in project.destinations if d.type == "S3"}
    for bucket in sorted(buckets):
        s3.create_bucket(Bucket=bucket)
    for slug, uri in uris.items():
        bucket, key = uri[len("s3://"):].split("/", 1)
        body = "\n".join(json.dumps({"_url": url}) for url in inputs[slug]) + "\n"
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())

    stitch_source = srv.stitch.add_source(display_name=STITCH_SOURCE)
    stitch_import = json.dumps({"conn_type": "stitch_import", "host": srv.stitch.url,
                                "password": srv.stitch.add_import_token(stitch_source["id"]),
                                "extra": {"backoff_base": 0.01}})
    aws = srv.s3.connection_json()
    by_type = {"S3": aws, "SFTP": srv.sftp.connection_json(), "STITCH": stitch_import}
    connections = {
        "aws_default": aws,
        flow.definition.input_connection: aws,
        "importio_default": json.dumps({"conn_type": "importio", "host": srv.importio.url,
                                        "password": srv.importio.api_key, "extra": {"backoff_base": 0.01}}),
        "stitch_connect_default": json.dumps({"conn_type": "stitch_connect", "host": srv.stitch.url,
                                              "password": srv.stitch.connect_token}),
    }
    for destination in project.destinations:
        connections[destination.connection] = by_type[destination.type]
    pagerduty = json.dumps({"conn_type": "pagerduty_events", "password": "demo-routing-key", "host": srv.pagerduty.url,
                            "extra": {"verify": srv.pagerduty.ca_file, "retry_delay": 0.1}})
    for group in project.alarm_groups:
        for subscription in group.subscriptions:
            connections[subscription.connection] = pagerduty
    return connections


# -- Airflow ----------------------------------------------------------------------------------------


def airflow_env(workdir: Path, connections: Mapping[str, str], store_url: str) -> dict[str, str]:
    """A fresh AIRFLOW_HOME reading the repo's dags/, the connections as environment variables."""
    home = workdir / "home"  # no known_hosts or SSH config of this machine plays a part
    home.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__"))}
    env.update({
        "HOME": str(home),
        "AIRFLOW_HOME": str(workdir / "airflow-home"),
        "AIRFLOW__CORE__DAGS_FOLDER": str(DAGS),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "IMPORTIO_FLOW_DEADLINES": "off",  # dag.test() in Airflow 3.3.2 crashes on DAGs with deadlines
        "AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT": json.dumps({"conn_type": "importio_store", "extra": {"url": store_url}}),
    })
    for conn_id, value in connections.items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = value
    return env


def migrate(env: Mapping[str, str], store_url: str) -> None:
    """Airflow's database, and the project's store (so the demo can watch it from the start)."""
    from airflow_provider_importio.store.store import Store

    with Store.from_url(store_url) as store:
        store.migrate()
    done = subprocess.run([str(Path(PYTHON).parent / "airflow"), "db", "migrate"], env=dict(env),
                          capture_output=True, text=True, timeout=300)
    if done.returncode != 0:
        raise RuntimeError(f"airflow db migrate failed:\n{done.stdout[-2000:]}{done.stderr[-3000:]}")


@dataclass
class RunOutcome:
    returncode: int | None
    state: str | None
    alarm_dag: str  # "unavailable", "success", "failed: ..." or "not run"
    log: Path
    reviews: list[str] = field(default_factory=list)
    reviewer_errors: list[str] = field(default_factory=list)
    timed_out: bool = False

    @property
    def ok(self) -> bool:
        return self.state == "success" and not self.timed_out


def run_delivery(env: Mapping[str, str], dag_id: str, store_url: str, log: Path, *, timeout: float = 240,
                 progress: Any = print) -> RunOutcome:
    """``dag.test()`` of the flow DAG in a subprocess (output to ``log``), and a reviewer answering
    its QA reviews from another process; both killed at ``timeout``. Never hangs."""
    from airflow_provider_importio.store.store import Store

    with log.open("w") as out:
        run = subprocess.Popen([PYTHON, __file__, "run", dag_id], env=dict(env), stdout=out,
                               stderr=subprocess.STDOUT, start_new_session=True)
    reviewer: subprocess.Popen | None = None
    reviewer_log = log.with_name("reviewer.log")
    requested, reviews, errors, last, next_line = 0, [], [], None, 0.0
    deadline = time.monotonic() + timeout
    timed_out = False
    try:
        with Store.from_url(store_url) as store:
            while run.poll() is None:
                if time.monotonic() > deadline:
                    timed_out = True
                    break
                counts, needed = _progress(store)
                # a line when a state appears or goes, else at most every 5 s
                if counts and counts != last and (set(counts) != set(last or {}) or time.monotonic() > next_line):
                    progress("  snapshots: " + ", ".join(f"{n} {state}" for state, n in sorted(counts.items())))
                    last, next_line = counts, time.monotonic() + 5
                if reviewer is not None and reviewer.poll() is not None:
                    reviews, errors = _reviewer_output(reviewer, reviewer_log, reviews, errors)
                    reviewer = None
                if reviewer is None and needed > requested:
                    # one reviewer at a time, for the reviews known so far; it waits for them to park
                    reviewer = _start_reviewer(env, dag_id, needed - requested, reviewer_log)
                    requested = needed
                time.sleep(0.5)
    finally:
        for proc in (reviewer, run):
            if proc is not None and proc.poll() is None:
                _kill(proc)
    if reviewer is not None:
        reviews, errors = _reviewer_output(reviewer, reviewer_log, reviews, errors)
    text = log.read_text(errors="replace")
    state = next((ln.split()[1] for ln in text.splitlines() if ln.startswith("RUN-STATE ")), None)
    alarm = next((ln.split(" ", 1)[1] for ln in text.splitlines() if ln.startswith("ALARM-DAG ")), "not run")
    return RunOutcome(run.returncode, state, alarm, log, reviews, errors, timed_out)


def _progress(store: Any) -> tuple[dict[str, int], int]:
    """Snapshot counts by state, and how many snapshots needed (or need) a person's review."""
    from airflow_provider_importio.workbench.snapshot_states import SnapshotState as S

    snapshots = store.snapshots()
    review_states = {S.PENDING_QA, S.ESCALATED}
    needed = sum(1 for s in snapshots
                 if s.state in review_states or any(h.to_state in review_states for h in store.history(s.id)))
    return dict(Counter(s.state.value for s in snapshots)), needed


def _start_reviewer(env: Mapping[str, str], dag_id: str, count: int, log: Path) -> subprocess.Popen:
    args = [PYTHON, "-m", "airflow_provider_importio.testing.airflow_hitl", "--dag-id", dag_id,
            "--count", str(count), "--default", REVIEW_DEFAULT, "--timeout", "120", "--user", REVIEWER]
    for text, choice in REVIEW_RULES:
        args += ["--rule", f"{text}={choice}"]
    with log.open("a") as out:
        return subprocess.Popen(args, env=dict(env), stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def _reviewer_output(proc: subprocess.Popen, log: Path, reviews: list[str], errors: list[str]
                     ) -> tuple[list[str], list[str]]:
    lines = log.read_text(errors="replace").splitlines()
    answered = [ln[len("ANSWERED "):] for ln in lines if ln.startswith("ANSWERED ")]
    if proc.returncode not in (0, None):
        errors = [*errors, (lines[-1] if lines else f"exit {proc.returncode}")]
    return answered, errors


def _kill(proc: subprocess.Popen) -> None:
    """The process group: a task parked for input under dag.test() ignores SIGTERM."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=5)
            return
        except subprocess.TimeoutExpired:
            continue


def run_main(dag_id: str) -> int:
    """(subprocess) One delivery of ``dag_id`` from the repo's dags/, then the alarm evaluation if any."""
    from datetime import timedelta

    from airflow_provider_importio.flows.dag_factory import flow_dags

    # The example's DAGs, with demo timings: poll the crawl every 0.2 s instead of 30 s; no retries.
    # (dag.test() runs these task objects; the DAG itself must also parse from dags/, and does.)
    dags = flow_dags(DAG_FILE, PROJECT_FILE, None, poll_interval=0.2,
                     default_args={"retries": 0, "retry_delay": timedelta(seconds=1)})
    dag = dags[dag_id]
    run = dag.test()
    print("RUN-STATE", run.state, flush=True)

    # --- alarm transitions (alarms are being added to the provider alongside this demo) ---
    try:
        from airflow_provider_importio.flows.alarm_dag import alarm_dag
    except ImportError as exc:
        print(f"ALARM-DAG unavailable ({exc})", flush=True)
    else:
        try:
            # The alarm DAG of dags/shop_alarms.py, its task called directly after the delivery.
            alarms = alarm_dag(DAG_FILE, PROJECT_FILE, None)
            results = {task.task_id: task.execute({}) for task in alarms.tasks}
            print("ALARM-DAG success", json.dumps(results, default=str), flush=True)
        except Exception as exc:  # noqa: BLE001 - the alarms are reported, not the delivery's outcome
            print(f"ALARM-DAG failed: {type(exc).__name__}: {exc}", flush=True)
    return 0 if str(run.state) == "success" else 1


# -- the report -------------------------------------------------------------------------------------

STATS = ("total_inputs", "total_rows", "valid_rows", "system_error_pct", "quality_score")


def report(store_url: str, srv: Servers, outcome: RunOutcome, out: Any = print) -> dict[str, int]:
    """Print the delivery report; returns the rows pushed per destination type (S3, SFTP, STITCH)."""
    from airflow_provider_importio.store.store import Store

    project = load_project()
    types = {d.slug: d.type for d in project.destinations}
    with Store.from_url(store_url) as store:
        deliveries = store.deliveries()
        snapshots = store.snapshots()
        history = {s.id: store.history(s.id) for s in snapshots}
        stats = {s.id: store.snapshot_stats(s.id) for s in snapshots}
        pushes = store.pushes()
        alarm_states = store.alarm_states()
    by_id = {s.id: s for s in snapshots}

    section = lambda title: out(f"\n== {title} ==")  # noqa: E731
    for delivery in deliveries:
        out(f"Delivery {delivery.id}: {delivery.dag_id}, run {delivery.run_id}, started "
            f"{delivery.start or delivery.created_at:%Y-%m-%d %H:%M:%S} UTC, {delivery.state.value}")
    out(f"Airflow run: {outcome.state or 'no result'}"
        + (" (killed at the time limit)" if outcome.timed_out else "") + f"; log {outcome.log}")

    section("Chunks per source")
    per_source: dict[str, list[Any]] = defaultdict(list)
    for s in snapshots:
        per_source[s.source].append(s)
    for source, items in sorted(per_source.items()):
        chunks = sorted({s.chunk for s in items})
        out(f"{source}: {len(chunks)} chunks (chunk {chunks[0]}-{chunks[-1]}), "
            f"{sum(s.input_count or 0 for s in items)} inputs, {sum(s.row_count or 0 for s in items)} rows")

    section("Snapshots (state, path through QA) and statistics")
    out(f"{'source':8} {'chunk':>5}  {'state':13} " + " ".join(f"{n:>16}" for n in STATS) + "  path")
    for s in sorted(snapshots, key=lambda s: (s.source, s.chunk, s.attempt)):
        path = " > ".join(h.to_state.value + (f" ({h.actor})" if h.actor.startswith("user:") else "")
                          for h in history[s.id])
        values = " ".join(f"{_fmt(stats[s.id].get(n)):>16}" for n in STATS)
        out(f"{s.source:8} {s.chunk:>5}  {s.state.value:13} {values}  {path}")

    section("Failing checks and reviews")
    failing = [(s, r) for s in snapshots for r in (s.options.get("qa") or {}).get("failing") or []]
    for s, r in failing:
        limit = f"limit {r['limit']}" if r.get("limit") is not None else f"baseline {r.get('baseline')}"
        out(f"{s.source} chunk {s.chunk}: {r['name']} = {_fmt(r['value'])} ({limit})"
            f"{', escalates' if r.get('escalate') else ''}{' - ' + r['reason'] if r.get('reason') else ''}")
    if not failing:
        out("none: every snapshot passed QA")
    for line in outcome.reviews:
        out(f"review answered: {line}")
    for line in outcome.reviewer_errors:
        out(f"reviewer problem: {line}")

    section("Files pushed (push records)")
    totals: dict[str, Counter] = defaultdict(Counter)
    for p in pushes:
        s = by_id.get(p.snapshot_id)
        where = f"{s.source} chunk {s.chunk}" if s else p.snapshot_id
        out(f"{p.status.value:7} {p.destination:13} {where:16} {p.row_count or 0:>5} rows {p.byte_count or 0:>7} bytes  "
            f"{p.uri or ''}{'  ERROR ' + p.error if p.error else ''}")
        if p.status.value == "PUSHED":
            totals[types.get(p.destination, "?")].update(files=1, rows=p.row_count or 0, bytes=p.byte_count or 0)
    for kind in ("S3", "SFTP", "STITCH"):
        t = totals.get(kind, Counter())
        out(f"TOTAL {kind}: {t['files']} pushes, {t['rows']} rows, {t['bytes']} bytes")
    out(_verify_files(srv, project))

    section("Stitch warehouse")
    srv.stitch.wait_loaded(timeout=30)
    tables = srv.stitch.tables()
    for schema, table in tables:
        rows = srv.stitch.rows(schema, table)
        out(f"{schema}.{table}: {len(rows)} rows (upserted on the key)")
        for row in rows[:3]:
            out("  " + json.dumps({k: v for k, v in row.items() if not k.startswith("_sdc")}, default=str))
    if not tables:
        out("no tables")

    section("Alarm transitions")
    if outcome.alarm_dag.startswith("unavailable"):
        out("alarm DAG not available")
    else:
        out(f"alarm evaluation: {outcome.alarm_dag}")
        for a in alarm_states:
            failing = ", ".join(f"{f.get('alarm') or f.get('name')}={f.get('value')}"
                                for f in (a.details or {}).get("failing") or [] if isinstance(f, dict))
            out(f"{a.alarm_group}: {a.state} since {a.since:%H:%M:%S}" + (f" ({failing})" if failing else ""))
        if not alarm_states:
            out("no alarm group states recorded (the project file defines no alarm groups)")
        for event in srv.pagerduty.events:
            summary = (event.get("payload") or {}).get("summary", "")
            out(f"PagerDuty {event.get('event_action')} {event.get('dedup_key')}: {summary}")
    return {kind: totals[kind]["rows"] for kind in ("S3", "SFTP", "STITCH")}


def _verify_files(srv: Servers, project: Any) -> str:
    """What is really at the S3 and SFTP destinations (not just what the records say)."""
    s3 = srv.s3.client()
    parts = []
    for d in project.destinations:
        if d.type == "S3":
            keys = s3.list_objects_v2(Bucket=d.bucket).get("KeyCount", 0)
            parts.append(f"{keys} objects in s3://{d.bucket}")
        elif d.type == "SFTP":
            root = srv.sftp.path(d.directory)
            files = [p for p in root.rglob("*") if p.is_file()] if root.exists() else []
            parts.append(f"{len(files)} files under sftp:{d.directory}")
    return "checked at the destinations: " + ", ".join(parts)


def _fmt(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "run":
        sys.exit(run_main(sys.argv[2]))
    sys.exit("usage: demo_support.py run <dag_id>   (scripts/demo.py runs it)")
