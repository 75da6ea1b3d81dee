"""DAG parse cost (issue 10): what importing this provider and parsing the example DAG files adds.

Imports are cached per interpreter, so every sample is a fresh ``python`` process that times its own
phases (``perf_counter`` and ``process_time``) and prints them; the variants run interleaved (one of each per round),
and the table shows medians of the per-process differences:

* ``airflow.sdk`` alone, in this venv and in the peers venv (the baseline everything is "over");
* the dbt Cloud provider's operator module over ``airflow.sdk``, the issue's yardstick, in a venv of
  its own (``benchmarks/.venv-peers``: the same apache-airflow and apache-airflow-providers-dbt-cloud;
  made on first use, gitignored);
* ours: every hook, operator, sensor and trigger module of ``get_provider_info`` plus links, the QA
  and planning operators and the transfers, in one interpreter, over ``airflow.sdk``.
  Target: at most +100 ms;
* each example DAG file in ``dags/``, executed the way Airflow's DAG processor imports it
  (``SourceFileLoader`` under an ``unusual_prefix_`` module name), over ``airflow.sdk`` + all our
  modules. Target: at most 50 ms each. Two views: after ``import airflow.sdk`` only (the issue's
  definition), and after ``import airflow.dag_processing.processor``, which is what the DAG
  processor's parsing process has imported before it reads a file (Airflow's timetable and
  serialization modules among them, which building the first DAG in a bare process imports). The
  flow DAG file is also shown without the project cache (``IMPORTIO_PROJECT_CACHE=off``): its first
  parse after the project file changed.

The table's times are the children's CPU time (``time.process_time``), which is what a parse costs
the DAG processor; on this shared 2-core machine the wall clock mostly measures the other processes
(each row's note gives the wall-clock median too; imports are CPU-bound, so on an idle machine
the two are close).
The children get a scratch ``AIRFLOW_HOME`` and ``PYTHONPYCACHEPREFIX`` (bytecode compiled once, in
the warm-up round, as an installed Airflow has it: this venv has none, and without it every import
costs ~2.5× more; nothing is written to the venvs or the repo). The project cache of the flow and
alarm DAG files is warm after the warm-up round, as it is in a running DAG processor.
"""

from __future__ import annotations

import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import harness

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DAGS = REPO / "dags"
PEERS = HERE / ".venv-peers"
DBT_MODULE = "airflow.providers.dbt.cloud.operators.dbt"
#: The issue's figure for the dbt Cloud operator module (2 cores, no bytecode cache), shown when the
#: peers venv cannot be made.
DBT_REFERENCE_S = 0.196
MODULES = [
    "airflow_provider_importio.hooks.importio",
    "airflow_provider_importio.hooks.stitch",
    "airflow_provider_importio.hooks.store",
    "airflow_provider_importio.operators.alarms",
    "airflow_provider_importio.operators.deploy",
    "airflow_provider_importio.operators.input_pickup",
    "airflow_provider_importio.operators.collection_run",
    "airflow_provider_importio.operators.push",
    "airflow_provider_importio.operators.stitch",
    "airflow_provider_importio.operators.qa",
    "airflow_provider_importio.operators.qa_review",
    "airflow_provider_importio.operators.plan",
    "airflow_provider_importio.sensors.crawl_run",
    "airflow_provider_importio.triggers.crawl_run",
    "airflow_provider_importio.links",
    "airflow_provider_importio.transfers.destinations",
    "airflow_provider_importio.transfers.destination_push",
    "airflow_provider_importio.transfers.s3_destination",
    "airflow_provider_importio.transfers.sftp_destination",
    "airflow_provider_importio.transfers.stitch_destination",
]
DAG_FILES = ["shop_flows.py", "shop_alarms.py", "stitch_setup.py"]
MODULES_TARGET_S = 0.100
DAG_FILE_TARGET_S = 0.050

#: Run in each child: ``[first, modules, dag_file]`` from argv as JSON; prints the phase times.
CHILD = r"""
import importlib, importlib.machinery, importlib.util, json, sys, time
first, modules, dag_file = json.loads(sys.argv[1])
times = {}


def clocks():
    return time.perf_counter(), time.process_time()


def record(phase, started):
    wall, cpu = clocks()
    times[phase], times[phase + "_cpu"] = wall - started[0], cpu - started[1]


start = clocks()
importlib.import_module(first)
record("first", start)
start = clocks()
for name in modules:
    importlib.import_module(name)
record("modules", start)
if dag_file:
    from airflow.sdk.definitions._internal.contextmanager import DagContext
    from airflow.utils.file import get_unique_dag_module_name

    start = clocks()
    name = get_unique_dag_module_name(dag_file)  # as the DAG processor's Python importer does
    DagContext.current_autoregister_module_name = name
    loader = importlib.machinery.SourceFileLoader(name, dag_file)
    spec = importlib.util.spec_from_loader(name, loader)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    loader.exec_module(module)
    record("dag_file", start)
    times["dags"] = len(DagContext.autoregistered_dags) or sum(
        1 for value in vars(module).values() if type(value).__name__ == "DAG")
print("PHASES " + json.dumps(times))
"""


def _airflow_version(python: Path) -> str:
    done = subprocess.run([str(python), "-c", "import importlib.metadata as m; print(m.version('apache-airflow'))"],
                          capture_output=True, text=True, timeout=120, check=True)
    return done.stdout.strip()


def peers_python() -> tuple[Path | None, str]:
    """The peers venv's python (made on first use), or None and why not."""
    python = PEERS / "bin" / "python"
    try:
        version = _airflow_version(Path(sys.executable))
        if python.exists():
            check = subprocess.run([str(python), "-c", f"import {DBT_MODULE.rsplit('.', 1)[0]}"],
                                   capture_output=True, timeout=120)
            if check.returncode == 0 and _airflow_version(python) == version:
                return python, ""
        print(f"making {PEERS.relative_to(REPO)}: apache-airflow=={version} + apache-airflow-providers-dbt-cloud",
              flush=True)
        shutil.rmtree(PEERS, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(PEERS)], check=True, timeout=600)
        subprocess.run([str(python), "-m", "pip", "install", "-q", f"apache-airflow=={version}",
                        "apache-airflow-providers-dbt-cloud"], check=True, timeout=1800)
        return python, ""
    except (OSError, subprocess.SubprocessError) as exc:
        return None, f"peers venv unavailable ({type(exc).__name__}: {str(exc)[:120]})"


def child_env(home: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AIRFLOW_CONN_", "AIRFLOW__", "IMPORTIO_")) and k != "PYTHONDONTWRITEBYTECODE"}
    env.update(AIRFLOW_HOME=str(home / "airflow-home"), AIRFLOW__CORE__LOAD_EXAMPLES="False",
               AIRFLOW__CORE__DAGS_FOLDER=str(DAGS), PYTHONPYCACHEPREFIX=str(home / "pycache"), **extra)
    return env


def run_child(python: Path, first: str, modules: list[str], dag_file: str | None, env: dict[str, str]) -> dict:
    done = subprocess.run([str(python), "-c", CHILD, json.dumps([first, modules, dag_file])],
                          capture_output=True, text=True, timeout=300, env=env, cwd=str(DAGS))
    lines = [line for line in done.stdout.splitlines() if line.startswith("PHASES ")]
    if done.returncode or not lines:
        raise RuntimeError(f"{first} {dag_file or ''} failed ({done.returncode}): {done.stderr[-3000:]}")
    return json.loads(lines[-1].split(" ", 1)[1])


def run(quick: bool) -> list[harness.Result]:
    repeat = 3 if quick else 15
    ours = Path(sys.executable)
    peers, why_not = peers_python()
    home = Path(tempfile.mkdtemp(prefix="bench-parse-"))
    env = child_env(home)
    variants: dict[str, tuple[Path, str, list[str], str | None, dict[str, str]]] = {
        "ours: modules": (ours, "airflow.sdk", MODULES, None, env),
    }
    if peers:
        variants["peers: dbt"] = (peers, "airflow.sdk", [DBT_MODULE], None, env)
    for name in DAG_FILES:
        variants[f"sdk: {name}"] = (ours, "airflow.sdk", MODULES, str(DAGS / name), env)
    for name in DAG_FILES:
        variants[f"processor: {name}"] = (ours, "airflow.dag_processing.processor", MODULES, str(DAGS / name), env)
    variants["processor: shop_flows.py, no cache"] = (
        ours, "airflow.dag_processing.processor", MODULES, str(DAGS / "shop_flows.py"),
        child_env(home, IMPORTIO_PROJECT_CACHE="off"))
    samples: dict[str, list[dict]] = {name: [] for name in variants}
    try:
        for round_ in range(1 + repeat):  # round 0 warms up: bytecode, the project cache
            for name, (python, first, modules, dag_file, variant_env) in variants.items():
                phases = run_child(python, first, modules, dag_file, variant_env)
                if round_:
                    samples[name].append(phases)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    def median(name: str, phase: str) -> tuple[float, list[float], str]:
        """CPU-time median of ``phase`` (what the table shows and targets judge), its samples, and a
        note with the wall-clock median."""
        cpu = [s[f"{phase}_cpu"] for s in samples[name]]
        wall = statistics.median(s[phase] for s in samples[name])
        return statistics.median(cpu), cpu, f"wall {wall * 1000:.0f} ms"

    def result(side: str, name: str, phase: str, items: int, unit: str, note: str = "", **extra) -> harness.Result:
        value, values, wall = median(name, phase)
        return harness.Result("parse", side, value, items, unit, samples=values,
                              note="; ".join(n for n in (note, wall) if n), **extra)

    results = [result("import airflow.sdk (baseline)", "ours: modules", "first", 1, "imports",
                      note=f"{repeat} fresh interpreters per row, CPU time")]
    project = result("ours: all modules, over airflow.sdk", "ours: modules", "modules", len(MODULES), "modules",
                     target=f"≤ +{MODULES_TARGET_S * 1000:.0f} ms")
    project.met = project.median_s <= MODULES_TARGET_S
    results.append(project)
    if peers:
        results.append(result("import airflow.sdk", "peers: dbt", "first", 1, "imports", note="peers venv"))
        dbt = result("dbt Cloud operator module, over airflow.sdk", "peers: dbt", "modules", 1, "modules",
                     note="peers venv")
        dbt.ratio = project.median_s / dbt.median_s if dbt.median_s else None
        results.append(dbt)
    else:
        results.append(harness.Result("parse", "dbt Cloud operator module, over airflow.sdk", DBT_REFERENCE_S, 1,
                                      "modules", ratio=project.median_s / DBT_REFERENCE_S,
                                      note=f"the issue's figure: reference, not measured; {why_not}"))
    for view, note in (("sdk", "over airflow.sdk + our modules"),
                       ("processor", "over airflow.dag_processing.processor + our modules")):
        for name in DAG_FILES:
            dags = int(samples[f"{view}: {name}"][-1]["dags"])
            row = result(f"dags/{name}", f"{view}: {name}", "dag_file", dags, "DAGs", note=note,
                         target=f"≤ {DAG_FILE_TARGET_S * 1000:.0f} ms")
            row.met = row.median_s <= DAG_FILE_TARGET_S
            results.append(row)
    name = "processor: shop_flows.py, no cache"
    results.append(result("dags/shop_flows.py", name, "dag_file", int(samples[name][-1]["dags"]), "DAGs",
                          note="processor view, IMPORTIO_PROJECT_CACHE=off: the first parse after an edit"))
    return results


