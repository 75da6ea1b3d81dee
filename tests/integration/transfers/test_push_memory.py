"""A push's memory stays flat as the snapshot grows: 20 MB and 200 MB rows files pushed as CSV to S3
(moto) and SFTP at once, each in a fresh process whose resident set size is sampled."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.transfers.conftest import FIELDS, s3_destination, sftp_destination

PROBE = Path(__file__).with_name("push_memory_probe.py")
MB = 1 << 20


def write_big_rows(path: Path, size: int) -> Path:
    """An NDJSON rows file of about ``size`` bytes: varied rows, a no-data marker every 50th input."""
    line = ('{"_url":"https://shop.example/p/%d","name":"Product %d \\u00e9","price":"%d.99",'
            '"description":"%s","image":"https://shop.example/i/%d.png","_valid":true,"_errors":[]}\n')
    filler = 'lorem, \\"ipsum\\" dolor ' * 8  # JSON-escaped quotes: CSV must quote these
    written, i = 0, 0
    with open(path, "w") as out:
        while written < size:
            block = []
            for _ in range(10_000):
                text = ('{"_url":"https://shop.example/p/%d","_no_data":true}\n' % i if i % 50 == 49
                        else line % (i, i, i, filler, i))
                block.append(text)
                i += 1
            data = "".join(block)
            out.write(data)
            written += len(data)
    return path


def probe(spec: dict, env: dict) -> dict:
    run = subprocess.run([sys.executable, str(PROBE), json.dumps(spec)], env=env, capture_output=True, text=True,
                         timeout=120)
    assert run.returncode == 0, run.stderr[-4000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


@pytest.mark.timeout(180)
def test_peak_memory_does_not_grow_with_the_snapshot(store, moto_server, sftp_server, tmp_path):

    moto_server.client().create_bucket(Bucket="prices-out")
    warm = write_big_rows(tmp_path / "warm.ndjson", 100_000)
    spec = {"store_url": str(store.engine.url), "fields": FIELDS, "warm_rows": str(warm), "workdir": str(tmp_path),
            "destinations": [s3_destination("CSV"), sftp_destination("CSV")]}
    env = dict(os.environ)

    small = probe({**spec, "rows": str(write_big_rows(tmp_path / "small.ndjson", 20 * MB))}, env)
    (tmp_path / "small.ndjson").unlink()
    large = probe({**spec, "rows": str(write_big_rows(tmp_path / "large.ndjson", 200 * MB))}, env)
    print(f"\npush memory (CSV to S3 + SFTP): 20 MB rows: {small}\n200 MB rows: {large}")

    assert large["bytes"] > 9 * small["bytes"]  # ten times the data went out...
    assert large["peak_growth"] < 120 * MB and large["maxrss_growth"] < 120 * MB
    assert large["peak_growth"] - small["peak_growth"] < 40 * MB  # ...for about the same memory
