"""Destination push of 1,000,000 rows as CSV and XLSX to S3 (moto) and SFTP (issue 10).

Project: the push the ``ImportioPushOperator`` runs — ``transfers.destination_push.DeliveryPush``
with the default writers (``S3Hook`` to moto's S3, ``SFTPHook`` to the SFTP test server, both in
their own processes; connections in ``AIRFLOW_CONN_*`` variables) and a SQLite store — pushing
one snapshot (``repush``: every run writes the file again) whose rows file the QA pass wrote
(``operators.qa._statistics`` over the emulator's result rows: ``_url``, the fields, ``_status``,
``_valid``, ``_errors``, and a ``_no_data`` marker per input without rows, here a blank row).
Each run reads the rows file, renders the destination's format into a local file and uploads it.

Baseline: the same rows read from the same file (``json.loads`` per line) and written with the
``csv`` module to a local file — what a push costs before any format work or upload. No target:
the ratios say what rendering and uploading add. XLSX (openpyxl, write-only) renders ~15k rows/s,
so in the full run it is timed once (no warm-up), rendered once and uploaded to both destinations,
as the operator does for a collection with both.

Memory: the project's peak RSS growth (one run in a forked child) at 100,000 and at 1,000,000
rows — flat when the tenfold snapshot adds less than 16 MB.
"""

from __future__ import annotations

import csv
import datetime as dt
import json
import shutil
import tempfile
from pathlib import Path
from typing import Any

import _bench_support as support
from harness import Result, Side, compare, peak_rss_growth_mb

FULL_ROWS, QUICK_ROWS, QUICK_XLSX_ROWS = 1_000_000, 20_000, 10_000
FIELDS = ["name", "price", "link"]
START = dt.datetime(2027, 1, 1, 6, 30, tzinfo=dt.timezone.utc)
SFTP_CONN = "sftp_bench"
FLAT_MB = 16


def write_rows_file(tmp: Path, rows: int) -> tuple[Path, int]:
    """The QA pass's rows file for emulator results of about ``rows`` rows; its path and data rows."""
    from airflow_provider_importio.operators.qa import QaSpec, _statistics
    from airflow_provider_importio.workbench.config_codec import schema_to_dict

    results = tmp / f"results-{rows}.json"
    support.write_results_file(results, rows)
    path = tmp / f"rows-{rows}.ndjson"
    with path.open("wb") as out:
        stats = _statistics(str(results), QaSpec(schema_to_dict(support.product_schema()), [], "products", False,
                                                 None), out)
    results.unlink()
    return path, stats.total_rows


def csv_baseline(rows_file: Path, out: Path):
    """Baseline: ``json.loads`` per line, ``csv.writer`` to a local file (a blank row for a marker)."""
    def run() -> int:
        count = 0
        with rows_file.open("rb") as source, out.open("w", newline="", encoding="utf-8") as target:
            writer = csv.writer(target)
            writer.writerow(["_url", *FIELDS])
            for line in source:
                row = json.loads(line)
                if row.get("_no_data"):
                    writer.writerow([row.get("_url")] + [""] * len(FIELDS))
                    continue
                writer.writerow([row.get("_url"), *("" if row.get(f) is None else row[f] for f in FIELDS)])
                count += 1
        return count
    return run


def run(quick: bool) -> list[Result]:
    from airflow_provider_importio.store.store import Store
    from airflow_provider_importio.transfers.destination_push import PUSHED, DeliveryPush
    from airflow_provider_importio.transfers.destinations import destination_from_dict

    rows_wanted = QUICK_ROWS if quick else FULL_ROWS
    xlsx_rows = QUICK_XLSX_ROWS if quick else FULL_ROWS
    tmp = Path(tempfile.mkdtemp(prefix="importio-bench-push-"))
    try:
        store = Store.from_url(f"sqlite:///{tmp / 'store.db'}")
        store.migrate()
        files: dict[int, tuple[Path, int]] = {}
        for n in sorted({rows_wanted, rows_wanted // 10, xlsx_rows, xlsx_rows // 10}):
            files[n] = write_rows_file(tmp, n)

        def snapshot(n: int) -> str:
            delivery = store.get_or_create_delivery("shop", "staging", f"run-{n}", dag_id="shop__staging", start=START)
            snap = store.get_or_create_snapshot(delivery.id, "products", "shop-a", 0, actor="bench",
                                                initial_state="PENDING_IMPORT")
            return store.transition(snap.id, "PASSED_QA", actor="bench", artifacts={"rows": str(files[n][0])}).id

        snapshots = {n: snapshot(n) for n in files}
        s3 = {"slug": "s3", "name": "S3", "type": "S3", "connection": "aws_default", "bucket": "prices-out",
              "path_template": "{project}/{collection}/:YYYY/:MM/:DD", "active": True,
              "filename_template": "{flow}_{source}_{snapshot}.{ext}"}
        sftp = {"slug": "sftp", "name": "SFTP", "type": "SFTP", "connection": SFTP_CONN, "directory": "/upload",
                "path_template": ":YYYY/:ww", "filename_template": "{collection}_{date}_{source}_{snapshot}.{ext}",
                "active": True}

        def push(destinations: list[dict[str, Any]], n: int):
            checked = [destination_from_dict(d) for d in destinations]

            def go() -> int:
                outcomes = DeliveryPush(store, checked, FIELDS, blank_row_for_no_data=True, actor="bench",
                                        repush=True, workdir=str(tmp), project="shop").run([snapshots[n]])
                assert [o.status for o in outcomes] == [PUSHED] * len(checked), outcomes
                return files[n][1]
            return go

        found: list[Result] = []
        with support.moto_s3() as client, support.sftp_server(tmp / "sftp-root", SFTP_CONN):
            client.create_bucket(Bucket="prices-out")
            cases = [
                ("CSV → S3", [{**s3, "format": "CSV"}], rows_wanted, 3),
                ("CSV → SFTP", [{**sftp, "format": "CSV"}], rows_wanted, 3),
                ("XLSX → S3 + SFTP (rendered once)", [{**s3, "format": "XLSX", "slug": "s3-xlsx"},
                                                      {**sftp, "format": "XLSX", "slug": "sftp-xlsx"}],
                 xlsx_rows, 3 if quick else 1),
            ]
            for name, destinations, n, repeat in cases:
                rows = files[n][1]
                results = compare(
                    "push", Side(f"DeliveryPush {name}, {rows:,} rows", push(destinations, n)),
                    [Side("json.loads + csv.writer to a local file", csv_baseline(files[n][0], tmp / "baseline.csv"))],
                    repeat=repeat, warmup=1 if repeat > 1 else 0)
                ours = results[0]
                smaller = peak_rss_growth_mb(Side(f"{name}, a tenth of the rows", push(destinations, n // 10)))
                ours.target = f"memory flat ({files[n // 10][1]:,} → {rows:,} rows: ≤ +{FLAT_MB} MB)"
                ours.met = ours.peak_mb is not None and ours.peak_mb - smaller <= FLAT_MB
                ours.note = (f"peak RSS +{smaller:.0f} MB at {files[n // 10][1]:,} rows, +{ours.peak_mb:.0f} MB at "
                             f"{rows:,}" + ("; timed once, no warm-up" if repeat == 1 else ""))
                results[1].note = "no target"
                found += results
        return found
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
