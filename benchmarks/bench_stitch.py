"""Issue 10: push records to Stitch's Import API — ``StitchPushOperator`` against target-stitch.

Both sides push the same records (an NDJSON file on local disk for the operator; the same
records as Singer ``SCHEMA``/``RECORD``/``STATE`` lines on stdin for target-stitch) to the same
Stitch emulator, a real HTTP server on loopback with a SQLite warehouse, running in a process of
its own (neither side shares a GIL or a core's worth of loading with it). While a side pushes,
the emulator accepts and validates every batch but holds the loading (``pause_loading``): loading
is the emulator's work, and would otherwise compete with the pushing client for this machine's
cores. Before the next push the benchmark loads what was pushed and checks the warehouse: each
pushed table must hold every record exactly once (rows, distinct keys, sum of a column), and no
request may have failed, or the benchmark fails.

target-stitch (pinned with its dependencies in ``target-stitch-requirements.txt``) lives in its
own venv, ``benchmarks/.venv-target-stitch``, created on the first run. Its Singer records carry
no ``time_extracted`` (optional in Singer), which it would forward as a message field that the
documented batch format does not have. It is timed as a subprocess: wall time of the whole push,
process start and imports included (~0.5 s). Its memory is the subprocess's own absolute peak
RSS (``ru_maxrss`` from ``wait4``), since the harness's forked-child measure would only see the
parent waiting.

The operator runs in this (warm) process, as in a worker that has imported it; an untimed push
of 100 records first does its lazy imports. Its memory is the harness's peak RSS growth of one
push in a forked child; the note adds the absolute peak of one push by a freshly started
interpreter. CPU seconds (median) are in the notes too: on a busy machine they are the steadier
comparison.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import closing
from pathlib import Path
from typing import Any

from harness import Result, Side, _rss_mb, compare, peak_rss_growth_mb

HERE = Path(__file__).resolve().parent
TARGET_VENV = HERE / ".venv-target-stitch"
TARGET_REQUIREMENTS = HERE / "target-stitch-requirements.txt"
TARGET_BIN = TARGET_VENV / "bin" / "target-stitch"

FULL_RECORDS = 1_000_000
QUICK_RECORDS = 20_000
CONN_ID = "stitch_bench"
OPERATOR_TABLE = "products_operator"
TARGET_TABLE = "products_target_stitch"  # the Singer stream's name
KEY = "sku"
ANCHOR = "2026-11-25T12:00:00Z"
PROJECT_MB_LIMIT = 200.0
SPEED_TARGET = 2.0
CATEGORIES = ("garden", "kitchen", "tools", "toys", "books", "audio", "sports")

#: JSON Schema of a row (as a collection schema's ``to_json_schema()`` would give it).
ROW_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": [KEY],
    "properties": {
        "sku": {"type": "string"},
        "name": {"type": "string"},
        "price": {"type": "number"},
        "in_stock": {"type": "boolean"},
        "seen": {"type": "integer"},
        "category": {"type": "string"},
        "url": {"type": "string"},
        "updated_at": {"type": "string", "format": "date-time"},
    },
}


def record(i: int) -> dict[str, Any]:
    return {
        "sku": f"SKU{i:08d}",
        "name": f"Product {i}",
        "price": i % 100_000 + 0.25,
        "in_stock": i % 3 == 0,
        "seen": i,
        "category": CATEGORIES[i % len(CATEGORIES)],
        "url": f"https://shop.example/p/{i}",
        "updated_at": f"2026-11-{1 + i % 28:02d}T12:{i % 60:02d}:00Z",
    }


def write_inputs(directory: Path, count: int) -> tuple[Path, Path]:
    """The records as NDJSON (the operator's input) and as Singer messages (target-stitch's stdin)."""
    from airflow_provider_importio.clients.stitch_schema import batch_schema

    ndjson, singer = directory / "records.ndjson", directory / "records.singer"
    schema = {"type": "object", **batch_schema(ROW_SCHEMA, [KEY])}  # the same column types for both sides
    with ndjson.open("w") as rows, singer.open("w") as messages:
        messages.write(json.dumps({"type": "SCHEMA", "stream": TARGET_TABLE, "schema": schema,
                                   "key_properties": [KEY]}) + "\n")
        for start in range(0, count, 10_000):
            chunk = [json.dumps(record(i), separators=(",", ":")) for i in range(start, min(count, start + 10_000))]
            rows.write("\n".join(chunk) + "\n")
            messages.write("".join(f'{{"type":"RECORD","stream":"{TARGET_TABLE}","record":{line}}}\n'
                                   for line in chunk))
        state = {"bookmarks": {TARGET_TABLE: {"seen": count - 1}}}
        messages.write(json.dumps({"type": "STATE", "value": state}) + "\n")
    return ndjson, singer


# -- the emulator, in a process of its own ----------------------------------------------------------


def _serve_emulator(conn: Any) -> None:
    """Child process: run a StitchEmulator and answer commands from the benchmark over ``conn``."""
    from airflow_provider_importio.testing.stitch_emulator import StitchEmulator

    with StitchEmulator() as emulator:
        source = emulator.add_source(display_name="Benchmark")
        token = emulator.add_import_token(source["id"])
        conn.send({"url": emulator.url, "token": token, "client_id": emulator.client_id})
        while True:
            command, *args = conn.recv()
            try:
                if command == "stop":
                    conn.send(None)
                    return
                if command == "settle":  # load what was pushed; each table's (rows, distinct keys, sum of seen)
                    emulator.resume_loading()
                    emulator.wait_loaded(timeout=args[0])
                    warehouse = emulator.warehouse
                    with closing(sqlite3.connect(warehouse.path)) as db:
                        stats = {}
                        for schema, table in warehouse.tables():
                            sql = f'SELECT COUNT(*), COUNT(DISTINCT {KEY}), SUM(seen) FROM "{schema}__{table}"'
                            stats[table] = db.execute(sql).fetchone()
                    warehouse.reset()
                    emulator.pause_loading()  # until the next settle: loading is not the pushing client's work
                    conn.send(stats)
                elif command == "requests":  # path, status and body size of the requests from the n-th on
                    conn.send([(r.path, r.status, r.body_bytes) for r in emulator.requests[args[0]:]])
                else:
                    conn.send(ValueError(f"unknown command {command!r}"))
            except Exception as exc:  # noqa: BLE001 - reported by the benchmark
                conn.send(exc)


class EmulatorProcess:
    def __init__(self) -> None:
        context = multiprocessing.get_context("spawn")
        self.conn, child = context.Pipe()
        self.process = context.Process(target=_serve_emulator, args=(child,), name="stitch-emulator", daemon=True)
        self.process.start()
        info = self.conn.recv()
        self.url, self.token, self.client_id = info["url"], info["token"], info["client_id"]

    def call(self, *command: Any) -> Any:
        self.conn.send(command)
        answer = self.conn.recv()
        if isinstance(answer, Exception):
            raise answer
        return answer

    def stop(self) -> None:
        try:
            self.call("stop")
        finally:
            self.process.join(timeout=30)
            if self.process.is_alive():
                self.process.kill()


# -- the two sides ----------------------------------------------------------------------------------


def ensure_target_stitch() -> Path:
    """``benchmarks/.venv-target-stitch`` with the pinned target-stitch; (re)created when the pins change."""
    stamp = TARGET_VENV / TARGET_REQUIREMENTS.name  # the pins it was built from
    pins = TARGET_REQUIREMENTS.read_text()
    if TARGET_BIN.exists() and stamp.exists() and stamp.read_text() == pins:
        return TARGET_BIN
    print(f"Creating {TARGET_VENV} (target-stitch, pinned in {TARGET_REQUIREMENTS.name}) ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", "--clear", str(TARGET_VENV)], check=True)
    python = str(TARGET_VENV / "bin" / "python")
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--disable-pip-version-check", "--no-deps",
                    "-r", str(TARGET_REQUIREMENTS)], check=True)
    subprocess.run([python, "-m", "pip", "check"], check=True)
    stamp.write_text(pins)
    return TARGET_BIN


class Bench:
    def __init__(self, count: int, directory: Path, emulator: EmulatorProcess) -> None:
        self.count = count
        self.directory = directory
        self.emulator = emulator
        self.ndjson, self.singer = write_inputs(directory, count)
        self.pushed: list[str] = []  # tables pushed since the last check
        self.requests_seen = 0  # of the emulator's request log
        self.target_peaks_mb: list[float] = []
        self.cpu_s: dict[str, list[float]] = {OPERATOR_TABLE: [], TARGET_TABLE: []}  # CPU seconds of each push
        self.target_config = directory / "target-stitch-config.json"
        batch_url = f"{emulator.url}/v2/import/batch"
        self.target_config.write_text(json.dumps({
            "token": emulator.token, "client_id": emulator.client_id, "small_batch_url": batch_url,
            "big_batch_url": batch_url, "batch_size_preferences": {}, "disable_collection": True,
        }))
        os.environ[f"AIRFLOW_CONN_{CONN_ID.upper()}"] = json.dumps(
            {"conn_type": "stitch_import", "host": emulator.url, "password": emulator.token})

    def check(self) -> None:
        """Wait until every push so far is loaded; each table must hold every record exactly once."""
        stats = self.emulator.call("settle", 600.0)
        expected = (self.count, self.count, self.count * (self.count - 1) // 2)
        missing = [table for table in self.pushed if table not in stats]
        wrong = {table: got for table, got in stats.items() if tuple(got) != expected}
        if missing or wrong:
            raise RuntimeError(f"Stitch push lost records: expected (rows, distinct keys, sum) {expected} "
                               f"in every table; missing tables {missing}, wrong {wrong}")
        requests = self.emulator.call("requests", self.requests_seen)
        self.requests_seen += len(requests)
        failed = [r for r in requests if r[1] not in (200, 201, 202)]
        if failed:
            raise RuntimeError(f"requests that failed during the pushes: {failed[:5]}")
        self.pushed = []

    def setup(self, table: str) -> None:
        """Before a push: check the pushes so far and empty the warehouse; the push goes to ``table``."""
        self.check()
        self.pushed.append(table)

    def warm_up(self) -> None:
        """A push of a few records (untimed): the operator's lazy imports are done once per worker."""
        few = self.directory / "few.ndjson"
        with self.ndjson.open("rb") as rows:
            few.write_bytes(b"".join(rows.readline() for _ in range(100)))
        push_ndjson(few, "warm_up")
        self.emulator.call("settle", 60.0)

    def push_operator(self) -> int:
        cpu = time.process_time()
        summary = push_ndjson(self.ndjson, OPERATOR_TABLE)
        self.cpu_s[OPERATOR_TABLE].append(time.process_time() - cpu)
        if summary["records"] != self.count:
            raise RuntimeError(f"the operator pushed {summary['records']} records, not {self.count}")
        return summary["records"]

    def push_target_stitch(self) -> int:
        with self.singer.open("rb") as messages, (self.directory / "target-stitch.log").open("wb") as log:
            proc = subprocess.Popen([str(TARGET_BIN), "--config", str(self.target_config)],
                                    stdin=messages, stdout=subprocess.DEVNULL, stderr=log)
            _, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own peak RSS
            proc.returncode = os.waitstatus_to_exitcode(status)
        if proc.returncode != 0:
            tail = (self.directory / "target-stitch.log").read_text(errors="replace")[-3000:]
            raise RuntimeError(f"target-stitch exited with {proc.returncode}:\n{tail}")
        self.target_peaks_mb.append(usage.ru_maxrss / 1024)
        self.cpu_s[TARGET_TABLE].append(usage.ru_utime + usage.ru_stime)
        return self.count


def push_ndjson(path: Path, table: str) -> dict[str, Any]:
    """The project's side: ``StitchPushOperator.execute`` (connection ``CONN_ID`` from the environment)."""
    from airflow_provider_importio.operators.stitch import StitchPushOperator

    return StitchPushOperator(task_id="push", source=str(path), table=table, schema=ROW_SCHEMA, key_names=[KEY],
                              sequence_anchor=ANCHOR, stitch_import_conn_id=CONN_ID).execute({})


def _push_once(conn: Any, ndjson: Path) -> None:
    """Child process: one operator push from a fresh interpreter; sends (RSS before, peak RSS) in MB."""
    from airflow_provider_importio.operators.stitch import StitchPushOperator  # noqa: F401 - a worker has it

    before = _rss_mb()
    push_ndjson(ndjson, OPERATOR_TABLE)
    conn.send((before, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def fresh_process_rss(bench: Bench) -> tuple[float, float]:
    """RSS before and at the peak of one push by a freshly started interpreter (like target-stitch's)."""
    bench.setup(OPERATOR_TABLE)
    context = multiprocessing.get_context("spawn")
    mine, child = context.Pipe()
    process = context.Process(target=_push_once, args=(child, bench.ndjson), name="stitch-push-once")
    process.start()
    try:
        before, peak = mine.recv()
    finally:
        process.join(timeout=60)
    if process.exitcode != 0:
        raise RuntimeError(f"the fresh-process push exited with {process.exitcode}")
    return before, peak


def run(quick: bool) -> list[Result]:
    count = QUICK_RECORDS if quick else FULL_RECORDS
    ensure_target_stitch()
    version = subprocess.run([str(TARGET_VENV / "bin" / "python"), "-c",
                              "import importlib.metadata as m; print(m.version('target-stitch'))"],
                             check=True, capture_output=True, text=True).stdout.strip()
    directory = Path(tempfile.mkdtemp(prefix="bench-stitch-"))
    emulator = EmulatorProcess()
    try:
        bench = Bench(count, directory, emulator)
        bench.warm_up()
        project = Side("StitchPushOperator", bench.push_operator, setup=lambda: bench.setup(OPERATOR_TABLE))
        target = Side("target-stitch", bench.push_target_stitch, setup=lambda: bench.setup(TARGET_TABLE))
        results = compare(
            "stitch push", project, [target], repeat=2 if quick else 3, warmup=0,
            unit="records", memory=False,
            targets={"target-stitch": (f"project ≥ {SPEED_TARGET:g}× its records/s",
                                       lambda ratio: ratio <= 1 / SPEED_TARGET)},
        )
        growth = peak_rss_growth_mb(project)
        fresh_before, fresh_peak = fresh_process_rss(bench)
        bench.check()
    finally:
        emulator.stop()
        shutil.rmtree(directory, ignore_errors=True)
    mine, theirs = results
    cpu = {table: statistics.median(values[-len(mine.samples):]) for table, values in bench.cpu_s.items()}
    mine.peak_mb = growth
    mine.target, mine.met = f"peak RSS growth ≤ {PROJECT_MB_LIMIT:g} MB", growth <= PROJECT_MB_LIMIT
    mine.note = (f"execute() on an NDJSON file on local disk, warm process, {cpu[OPERATOR_TABLE]:.1f} CPU s; "
                 f"peak = RSS growth of one push in a forked child; a fresh interpreter: {fresh_before:.0f} MB "
                 f"with Airflow and the operator imported, {fresh_peak:.0f} MB absolute peak")
    theirs.peak_mb = max(bench.target_peaks_mb)
    theirs.note = (f"{version}, Singer lines on stdin, {cpu[TARGET_TABLE]:.1f} CPU s; wall time of the subprocess "
                   f"incl. its start; peak = the subprocess's own absolute max RSS")
    return results
