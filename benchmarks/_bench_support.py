"""What the statistics, pickup and push benchmarks share: servers in their own processes, Airflow
connections in environment variables, an isolated ``AIRFLOW_HOME``, the emulator's result rows.

The servers (moto's S3, the SFTP test server) run as subprocesses, not threads of the benchmark:
a server thread would compete with the measured code for the GIL, and the forked child that
measures peak memory would inherit its threads' state.
"""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

if "AIRFLOW_HOME" not in os.environ:  # before anything imports Airflow: no ~/airflow written
    _home = tempfile.mkdtemp(prefix="importio-bench-airflow-home-")
    os.environ["AIRFLOW_HOME"] = _home
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    atexit.register(shutil.rmtree, _home, True)
os.environ.setdefault("AIRFLOW__LOGGING__LOGGING_LEVEL", "WARNING")  # the operators' progress lines are noise here

PYTHON = sys.executable
MB = 1 << 20


@contextlib.contextmanager
def env(**values: str) -> Iterator[None]:
    """Set environment variables for the block, restoring what was there after."""
    saved = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, old in saved.items():
            if old is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = old


@contextlib.contextmanager
def _server_process(code: str, *args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``python -c code args``: yields the process and the first line it prints; stopped after."""
    proc = subprocess.Popen([PYTHON, "-c", code, *args], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.DEVNULL, text=True)
    try:
        line = proc.stdout.readline() if proc.stdout else ""
        if not line:
            raise RuntimeError(f"server did not start: {code.splitlines()[0]} (exit {proc.poll()})")
        yield proc, line.strip()
    finally:
        if proc.stdin:
            proc.stdin.close()  # the servers below stop when their stdin closes
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


_MOTO = """\
import sys
from airflow_provider_importio.testing.aws import MotoServer
with MotoServer() as server:
    print(server.url, flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def moto_s3(conn_id: str = "aws_default") -> Iterator[Any]:
    """moto's S3 server in a subprocess; the Airflow connection ``conn_id`` points at it. Yields a
    boto3 client for arranging and reading back objects."""
    import boto3

    from airflow_provider_importio.testing.aws import ACCESS_KEY_ID, REGION, SECRET_ACCESS_KEY

    with _server_process(_MOTO) as (_, url):
        connection = {"conn_type": "aws", "login": ACCESS_KEY_ID, "password": SECRET_ACCESS_KEY,
                      "extra": {"endpoint_url": url, "region_name": REGION}}
        with env(**{f"AIRFLOW_CONN_{conn_id.upper()}": json.dumps(connection), "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
                    "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY, "AWS_DEFAULT_REGION": REGION}):
            yield boto3.client("s3", endpoint_url=url, region_name=REGION, aws_access_key_id=ACCESS_KEY_ID,
                               aws_secret_access_key=SECRET_ACCESS_KEY)


_SFTP = """\
import sys
from airflow_provider_importio.testing.sftp_server import SFTPTestServer
with SFTPTestServer(sys.argv[1], password=sys.argv[2]) as server:
    print(server.connection_json(), flush=True)
    sys.stdin.read()
"""


@contextlib.contextmanager
def sftp_server(root: Path, conn_id: str) -> Iterator[Path]:
    """The SFTP test server in a subprocess serving ``root``; the Airflow connection ``conn_id`` points
    at it (verifying its host key). ``HOME`` is a fresh directory: no ``known_hosts`` of the machine."""
    import secrets

    home = Path(tempfile.mkdtemp(prefix="importio-bench-home-"))
    try:
        with _server_process(_SFTP, str(root), secrets.token_urlsafe(12)) as (_, connection), \
                env(**{f"AIRFLOW_CONN_{conn_id.upper()}": connection, "HOME": str(home)}):
            yield root
    finally:
        shutil.rmtree(home, ignore_errors=True)


# -- Import.io results, as the emulator renders them -------------------------------------------------

def result_urls(rows: int) -> list[str]:
    """Input URLs whose pages give ``rows`` rows or a few more, with the emulator's share of odd pages:
    1 in 10 with broken rows (an empty name; a price "N/A" or negative), 1 in 25 with every row twice,
    1 in 40 without data, 1 in 50 a 404, 1 in 200 a system error, 1 in 250 blocked; the others give
    1–5 rows each (the emulator's default)."""
    from airflow_provider_importio.testing.importio_pages import page_outcome

    urls, total, n = [], 0, 0
    shop = "https://shop.example"
    while total < rows:
        url = (f"{shop}/error/{n}" if n % 200 == 199 else f"{shop}/blocked/{n}" if n % 250 == 249
               else f"{shop}/status/404/{n}" if n % 50 == 49 else f"{shop}/nodata/{n}" if n % 40 == 39
               else f"{shop}/dupes/p/{n}" if n % 25 == 24 else f"{shop}/invalid/p/{n}" if n % 10 == 9
               else f"{shop}/p/{n}")
        total += page_outcome(url).output_rows
        urls.append(url)
        n += 1
    return urls


def write_results_file(path: Path, rows: int) -> int:
    """A crawl run's ``json`` file (one line per input) with about ``rows`` rows; its line count."""
    from airflow_provider_importio.testing.importio_files import RunSource, json_file
    from airflow_provider_importio.testing.importio_pages import normalise_fields

    urls = result_urls(rows)
    source = RunSource(inputs=[{"_url": u} for u in urls], fields=normalise_fields(None),
                       started_ms=1_767_225_600_000)
    with path.open("wb") as out:
        block: list[bytes] = []
        for line in json_file(source):
            block.append(line)
            if len(block) >= 10_000:
                out.write(b"".join(block))
                block.clear()
        out.write(b"".join(block))
    return len(urls)


def product_schema() -> Any:
    """The collection schema of the emulator's default fields (``tests/unit/workbench/test_statistics.py``'s
    ``PRODUCT``): name (required, at most 40 characters), price (a number ≥ 0), link (a URL)."""
    from airflow_provider_importio.workbench.config_model import Field, FieldRules, Schema

    return Schema(slug="product", name="Product", fields=(
        Field("name", "STRING", required=True, rules=FieldRules(max_length=40)),
        Field("price", "NUMBER", rules=FieldRules(minimum=0)),
        Field("link", "URL"),
    ))
