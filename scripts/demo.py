"""`make demo`: one whole delivery of the example project, end to end, on this machine.

The example is the repo's own ``dags/``: ``dags/projects/shop.yaml`` (two shops, S3, SFTP and Stitch
destinations, QA checks, the guide's staging and production flows) and ``dags/shop_flows.py``.
The demo

1. starts, on loopback, the Import.io emulator, the Stitch emulator, moto's S3 and an SFTP server;
2. creates the project's extractors (their guids from the project file), the buckets, the Stitch
   source and its Import API token, and uploads 30 input URLs per source; one URL of shop-b is an
   Import.io system error, so its chunk fails QA and is ESCALATED to a person;
3. migrates a fresh Airflow home and runs one delivery of ``shop__staging`` with ``dag.test()``
   (10 chunks per source: collection runs, QA, review, push);
4. plays the person: every ESCALATED snapshot is answered "Push anyway" (pushed, kept out of future
   baselines), any PENDING_QA one "Pass", through the human-in-the-loop API from another process;
5. prints the delivery report: chunks, snapshots and their states, statistics, failing checks,
   every file pushed, the rows in the Stitch warehouse and the alarm transitions;
6. stops everything it started, and exits non-zero if the delivery failed.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import demo_support as demo  # noqa: E402

FLOW = "staging"


def main() -> int:
    started = time.monotonic()
    project = demo.load_project()
    flow = project.flow(FLOW)
    dag_id = f"{project.slug}__{flow.slug}"
    sources = [s.slug for s in project.flow_collection(flow).sources]
    workdir = Path(tempfile.mkdtemp(prefix="importio-demo-"))
    store_url = f"sqlite:///{workdir / 'store.db'}"
    print(f"Demo of {demo.PROJECT_FILE.relative_to(demo.REPO)}: one delivery of {dag_id}; work files in {workdir}")

    with demo.servers(workdir, crawl_seconds=0.5) as srv:
        print(f"Import.io emulator {srv.importio.url}, Stitch emulator {srv.stitch.url}, "
              f"S3 (moto) {srv.s3.url}, SFTP sftp://{srv.sftp.host}:{srv.sftp.port}")
        connections = demo.arrange(srv, project, FLOW, demo.example_inputs(sources))
        print(f"extractors, buckets, inputs ({demo.URLS_PER_SOURCE} URLs per source) and the Stitch source are ready; "
              f"connections: {', '.join(sorted(connections))}")

        env = demo.airflow_env(workdir, connections, store_url)
        demo.migrate(env, store_url)
        print(f"Airflow home {env['AIRFLOW_HOME']} migrated; DAGs folder {env['AIRFLOW__CORE__DAGS_FOLDER']}")

        print(f"Running {dag_id} (dag.test()); reviewer: ESCALATED -> 'Push anyway', PENDING_QA -> 'Pass'")
        outcome = demo.run_delivery(env, dag_id, store_url, workdir / "run.log", timeout=240)
        print(f"\n##### Delivery report ({time.monotonic() - started:.0f} s so far) #####")
        demo.report(store_url, srv, outcome)

    elapsed = time.monotonic() - started
    if not outcome.ok:
        print(f"\nThe delivery did not succeed ({outcome.state}); the last lines of {outcome.log}:", file=sys.stderr)
        print("\n".join(outcome.log.read_text(errors="replace").splitlines()[-40:]), file=sys.stderr)
        print(f"\nDemo FAILED after {elapsed:.0f} s.")
        return 1
    if os.environ.get("IMPORTIO_DEMO_KEEP"):
        print(f"\nWork files kept in {workdir}.")
    else:
        shutil.rmtree(workdir, ignore_errors=True)  # IMPORTIO_DEMO_KEEP=1 keeps them (logs, store, SFTP root)
    print(f"\nDemo finished in {elapsed:.0f} s: every server stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
