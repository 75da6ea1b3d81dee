"""Input pickup of 1,000,000 URLs from moto's S3 into 48 chunks (issue 10).

Project: ``ImportioInputPickupOperator.execute()`` reading a plain-text input file (one URL a line,
59 MB at 1M URLs, as ``tests/integration/operators/test_input_pickup.py`` writes it) from moto's S3
server and staging its 48 chunks back to it as one object, through the ``aws_default`` connection (an
``AIRFLOW_CONN_AWS_DEFAULT`` variable). moto runs in its own process.

Baselines, plain streamed reads of the same object by a boto3 client's ``get_object``, nothing
written: its body's lines (``Body.iter_lines()``, counted) — target: project ≤ 1.5× it — and its
body read to the end in 1 MiB blocks (no target: moto serves a GET at several hundred MB/s, while
the project also compresses 70 MB of chunks and writes the 2.8 MB of them back).

Memory: the project's peak RSS growth (one run in a forked child) at 100,000 and at 1,000,000 URLs
— flat when the tenfold input adds less than 16 MB (the integration test's bound).
"""

from __future__ import annotations

import datetime as dt
import shutil
import tempfile
from pathlib import Path

import _bench_support as support
from harness import Result, Side, compare, peak_rss_growth_mb

FULL_URLS, QUICK_URLS = 1_000_000, 20_000
CHUNKS = 48
CONTEXT = {"logical_date": dt.datetime(2026, 1, 5, 6, tzinfo=dt.timezone.utc)}
FLAT_MB = 16


def write_urls(path: Path, count: int) -> None:
    """``count`` distinct URLs, one a line (59 bytes each: the integration test's file)."""
    with path.open("wb") as handle:
        for block in range(0, count, 10_000):
            handle.write(b"".join(b"https://shop-%04d.example.com/products/item-%05d?ref=feed\n" % (block // 10_000, i)
                                  for i in range(min(10_000, count - block))))


def run(quick: bool) -> list[Result]:
    from airflow_provider_importio.operators.input_pickup import ImportioInputPickupOperator

    count = QUICK_URLS if quick else FULL_URLS
    small = count // 10
    tmp = Path(tempfile.mkdtemp(prefix="importio-bench-pickup-"))
    try:
        with support.moto_s3() as s3:
            s3.create_bucket(Bucket="inputs")
            s3.create_bucket(Bucket="stage")
            for n in (count, small):
                write_urls(tmp / f"urls-{n}.txt", n)
                s3.upload_file(str(tmp / f"urls-{n}.txt"), "inputs", f"urls-{n}.txt")
                (tmp / f"urls-{n}.txt").unlink()
            size = s3.head_object(Bucket="inputs", Key=f"urls-{count}.txt")["ContentLength"]

            def pickup(n: int):
                def go() -> int:
                    op = ImportioInputPickupOperator(
                        task_id="pickup", input_uri=f"s3://inputs/urls-{n}.txt", chunks=CHUNKS,
                        staging_uri=f"s3://stage/run-{n}", data_hours=12, chunk_collect_hours=1)
                    described = op.execute(CONTEXT)
                    assert len(described) == CHUNKS and sum(d["count"] for d in described) == n, described[:2]
                    return n
                return go

            def read_lines() -> int:
                body = s3.get_object(Bucket="inputs", Key=f"urls-{count}.txt")["Body"]
                lines = 0
                for _ in body.iter_lines():
                    lines += 1
                assert lines == count
                return lines

            def read_blocks() -> int:
                body = s3.get_object(Bucket="inputs", Key=f"urls-{count}.txt")["Body"]
                lines = 0
                for block in body.iter_chunks(1 << 20):
                    lines += block.count(b"\n")
                assert lines == count
                return lines

            project = Side(f"ImportioInputPickupOperator.execute, {count:,} URLs ({size / support.MB:.0f} MB) "
                           f"→ {CHUNKS} chunks", pickup(count))
            baseline_name = "boto3 get_object, Body.iter_lines()"
            found = compare("pickup", project, [Side(baseline_name, read_lines),
                                                Side("boto3 get_object, Body read in 1 MiB blocks", read_blocks)],
                            unit="URLs",
                            repeat=3 if quick else 5, warmup=1,
                            targets={baseline_name: ("≤ 1.5×", lambda ratio: ratio <= 1.5)})
            ours = found[0]
            if quick:  # the target is for 1,000,000 URLs; at 20,000 the S3 client and one PUT outweigh the read
                found[1].target, found[1].met = "≤ 1.5× (judged at 1,000,000 URLs, not --quick)", None
            smaller = peak_rss_growth_mb(Side("pickup, a tenth of the URLs", pickup(small)))
            ours.target = f"memory flat ({small:,} → {count:,} URLs: ≤ +{FLAT_MB} MB)"
            ours.met = ours.peak_mb is not None and ours.peak_mb - smaller <= FLAT_MB
            ours.note = f"peak RSS +{smaller:.0f} MB at {small:,} URLs, +{ours.peak_mb:.0f} MB at {count:,}"
            return found
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
