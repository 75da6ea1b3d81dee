"""`make demo`: one Import.io crawl run end to end, through the Airflow hook, against the emulator.

Starts the Import.io emulator on loopback, points an Airflow connection at it, creates an
extractor, sets its inputs, starts a crawl run, waits for it and prints the rows it extracted.
Later issues grow this into a whole flow delivery (S3, SFTP, Stitch, QA, alarms).
"""

from __future__ import annotations

import json
import os
import sys
import tempfile
import time

os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="importio-demo-airflow-"))

INPUTS = [
    "https://shop.example/products/espresso-machines",
    {"_url": "https://shop.example/search?rows=3", "query": "grinder"},
    "https://shop.example/products/kettles/nodata",
    "https://shop.example/status/404",
    "https://shop.example/products/mugs/blocked",
]


def main() -> int:
    from airflow_provider_importio.hooks.importio import ImportioHook
    from airflow_provider_importio.testing import ImportioEmulator

    with ImportioEmulator(api_key="demo-api-key", crawl_seconds=1.0) as emulator:
        print(f"Import.io emulator listening on {emulator.url}")
        os.environ["AIRFLOW_CONN_IMPORTIO_DEFAULT"] = json.dumps(
            {"conn_type": "importio", "host": emulator.url, "password": emulator.api_key}
        )
        hook = ImportioHook()
        ok, message = hook.test_connection()
        print(f"test_connection: {message}")
        if not ok:
            return 1

        extractor = emulator.add_extractor(name="Demo products")
        print(f"extractor {extractor['guid']} ({extractor['name']})")
        print(f"inputs set: {hook.update_extractor_inputs(extractor['guid'], INPUTS)}")

        run_id = hook.start_extractor(extractor["guid"])
        print(f"crawl run {run_id} started")
        last_state = None
        while True:
            run = hook.get_crawl_run(run_id)
            if run.state != last_state:
                print(f"  state {run.state.value}: {run.success_url_count + run.failed_url_count}"
                      f"/{run.total_url_count} URLs, {run.row_count} rows")
                last_state = run.state
            if run.state.is_terminal:
                break
            time.sleep(0.2)
        if not run.is_complete:
            print(f"crawl run ended {run.state.value}", file=sys.stderr)
            return 1

        print(f"\nResults of crawl run {run_id}:")
        total = 0
        for line in hook.iter_crawl_run_results(run_id):
            outcome = line.error_type or f"HTTP {line.status_code}"
            rows = list(line.flat_rows())
            total += len(rows)
            print(f"- {line.input_url}  [{outcome}, {len(rows)} rows]")
            for row in rows:
                print(f"    {row}")
        print(f"\n{total} rows extracted from {run.total_url_count} inputs "
              f"({run.success_url_count} fetched, {run.failed_url_count} failed).")
    return 0


if __name__ == "__main__":
    sys.exit(main())
