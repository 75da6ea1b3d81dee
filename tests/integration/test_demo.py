"""`make demo` end to end: scripts/demo.py in a subprocess (with a time limit) runs one delivery of the
example project and reports rows pushed to S3, SFTP and the Stitch warehouse."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def test_demo_delivers_to_s3_sftp_and_stitch(airflow_env):
    env = {k: v for k, v in airflow_env.items() if k != "AIRFLOW_HOME"}  # the demo makes its own
    started = time.monotonic()
    done = subprocess.run([sys.executable, str(DEMO)], env=env, capture_output=True, text=True, timeout=300)
    elapsed = time.monotonic() - started
    output = done.stdout
    assert done.returncode == 0, output[-6000:] + done.stderr[-4000:]
    assert elapsed < 300

    totals = {kind: int(rows) for kind, rows in re.findall(r"^TOTAL (S3|SFTP|STITCH): \d+ pushes, (\d+) rows", output,
                                                            re.MULTILINE)}
    assert set(totals) == {"S3", "SFTP", "STITCH"}, output[-4000:]
    assert all(rows > 0 for rows in totals.values()), totals
    assert totals["S3"] == totals["SFTP"] == totals["STITCH"]
    warehouse = re.search(r"^shop_warehouse\.shop_products: (\d+) rows", output, re.MULTILINE)
    assert warehouse and int(warehouse.group(1)) > 0, output[-3000:]
    # the escalated chunk went through a person's review and was pushed anyway
    assert re.search(r"review answered: qa_review\[\d+\] 'Push anyway': QA review: shop-b chunk \d+ is ESCALATED", output)
    assert "PUSHED_IGNORE" in output and "System errors (%)" in output
    assert "== Alarm transitions ==" in output
    # one error page in 60 inputs (1.67% > 1%) puts the operations group in ALARM and pages once
    assert "shop/operations: ALARM" in output and "shop/qa: OK" in output
    assert output.count("PagerDuty trigger importio/shop/operations") == 1
    assert "Demo finished in" in output
