"""What docker-compose.yaml runs besides Airflow itself (docs/compose.md).

``python scripts/compose_setup.py store-db``  (the ``airflow-init`` service)
    creates the project store's PostgreSQL database (``importio_store_default``'s URL, e.g.
    ``postgresql+psycopg://airflow:airflow@postgres/importio_store``) when missing, and migrates it.

``python scripts/compose_setup.py seed``  (the one-shot ``demo-setup`` service)
    waits for the emulators and moto, then creates what the example project (dags/projects/shop.yaml)
    expects to find: its Import.io extractors (the project's guids), the S3 buckets (inputs, exports
    and ``IMPORTIO_ARTIFACTS_URI``'s), the staging
    flow's input files, and checks the Stitch source and the ``stitch_shop`` token. Re-runs are safe.

Everything is read from the same ``AIRFLOW_CONN_*`` variables the Airflow services get, so the
script and the DAGs cannot disagree about where a server is. Helpers come from scripts/demo_support.py.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import demo_support  # noqa: E402



def connection(conn_id: str, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The ``AIRFLOW_CONN_<ID>`` variable as a dict (JSON form only, as docker-compose.yaml writes them)."""
    environ = os.environ if environ is None else environ
    name = f"AIRFLOW_CONN_{conn_id.upper()}"
    if name not in environ:
        raise SystemExit(f"{name} is not set (docker-compose.yaml's x-airflow-common sets it)")
    value = json.loads(environ[name])
    extra = value.get("extra") or {}
    value["extra"] = json.loads(extra) if isinstance(extra, str) else extra
    return value


def project_file() -> Path:
    """The project file the DAGs read: the mounted dags/ folder, else the repo's."""
    mounted = Path(os.environ.get("AIRFLOW_HOME", "/opt/airflow")) / "dags" / "projects" / "shop.yaml"
    return mounted if mounted.exists() else demo_support.PROJECT_FILE


def wait_for(what: str, probe: Callable[[], Any], timeout: float, out: Callable[[str], None] = print) -> Any:
    """``probe()`` until it returns without an exception, at most ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return probe()
        except Exception as exc:  # noqa: BLE001 - retried until the deadline
            if time.monotonic() > deadline:
                raise SystemExit(f"{what} not reachable after {timeout:.0f} s: {exc}") from exc
            time.sleep(1)


# -- store-db ---------------------------------------------------------------------------------------


def store_db(environ: Mapping[str, str] | None = None, out: Callable[[str], None] = print) -> str:
    """Create the store's database if missing, then migrate its schema. Returns the database name."""
    import sqlalchemy as sa

    from airflow_provider_importio.store.store import Store

    url = sa.engine.make_url(connection("importio_store_default", environ)["extra"]["url"])
    if url.get_backend_name() == "postgresql":
        admin = sa.create_engine(url.set(database="postgres"), isolation_level="AUTOCOMMIT")
        try:
            with admin.connect() as conn:
                exists = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :name"),
                                      {"name": url.database}).scalar()
                if not exists:
                    conn.execute(sa.text(f'CREATE DATABASE "{url.database}"'))
                    out(f"created database {url.database}")
                else:
                    out(f"database {url.database} exists")
        finally:
            admin.dispose()
    with Store.from_url(url) as store:
        store.migrate()
    out(f"store migrated: {url.render_as_string(hide_password=True)}")
    return str(url.database)


# -- seed -------------------------------------------------------------------------------------------


def seed(environ: Mapping[str, str] | None = None, *, timeout: float = 120, out: Callable[[str], None] = print
         ) -> dict[str, Any]:
    """Extractors, buckets, input files; checks Stitch. Returns what it did (for tests)."""
    import boto3

    from airflow_provider_importio.workbench.config_loader import load_project

    project = load_project(project_file())
    done: dict[str, Any] = {"extractors": [], "buckets": [], "inputs": []}

    # Import.io: the project's extractors, with the fields the emulator's pages need
    importio = connection("importio_default", environ)
    base, key = importio["host"].rstrip("/"), importio["password"]
    wait_for("Import.io emulator", lambda: requests.get(f"{base}/users/current", params={"_apikey": key},
                                                        timeout=5).raise_for_status(), timeout, out)
    for collection in project.collections:
        for source in collection.sources:
            got = requests.get(f"{base}/extractors/{source.extractor_id}", params={"_apikey": key}, timeout=10)
            if got.status_code == 200:
                out(f"extractor {source.extractor_id} ({source.name}) exists")
                continue
            requests.post(f"{base}/_emulator/extractors", timeout=10, json={
                "name": f"{project.name}: {source.name}", "guid": source.extractor_id,
                "fields": demo_support.EXTRACTOR_FIELDS}).raise_for_status()
            done["extractors"].append(source.extractor_id)
            out(f"extractor {source.extractor_id} ({source.name}) created")

    # S3 (moto): every bucket of the flows' inputs and the S3 destinations; the staging inputs
    def s3_client(conn_id: str) -> Any:
        aws = connection(conn_id, environ)
        return boto3.client("s3", endpoint_url=aws["extra"]["endpoint_url"], aws_access_key_id=aws.get("login"),
                            aws_secret_access_key=aws.get("password"),
                            region_name=aws["extra"].get("region_name", "us-east-1"))

    uris: dict[str, tuple[str, str]] = {}  # uri -> (connection, source)
    buckets: dict[str, str] = {}  # bucket -> connection
    for flow in project.flows:
        conn_id = flow.definition.input_connection
        flow_uris = demo_support.input_uris(project, flow.slug)
        for source, uri in flow_uris.items():
            buckets.setdefault(urlsplit(uri).netloc, conn_id)
            if flow.active:
                uris[uri] = (conn_id, source)
    for destination in project.destinations:
        if destination.type == "S3":
            buckets.setdefault(destination.bucket, destination.connection)
    artifacts = (environ if environ is not None else os.environ).get("IMPORTIO_ARTIFACTS_URI", "")
    if artifacts.startswith("s3://"):  # chunk files and results; read with each flow's input connection
        buckets.setdefault(urlsplit(artifacts).netloc, project.flows[0].definition.input_connection)
    wait_for("moto (S3)", lambda: s3_client(next(iter(buckets.values()))).list_buckets(), timeout, out)
    for bucket, conn_id in sorted(buckets.items()):
        s3 = s3_client(conn_id)
        if bucket not in {b["Name"] for b in s3.list_buckets().get("Buckets", [])}:
            s3.create_bucket(Bucket=bucket)
            done["buckets"].append(bucket)
        out(f"bucket s3://{bucket} ready")
    sources = sorted({source for _, source in uris.values()})
    inputs = demo_support.example_inputs(sources)
    for uri, (conn_id, source) in sorted(uris.items()):
        parts = urlsplit(uri)
        body = "".join(json.dumps({"_url": url}) + "\n" for url in inputs[source])
        s3_client(conn_id).put_object(Bucket=parts.netloc, Key=parts.path.lstrip("/"), Body=body.encode())
        done["inputs"].append(uri)
        out(f"inputs {uri}: {len(inputs[source])} URLs")

    # Stitch: the source and token the emulator service made at start (--source, --import-token)
    stitch = connection("stitch_connect_default", environ)
    stitch_base = stitch["host"].rstrip("/")
    listing = wait_for("Stitch emulator", lambda: _json(requests.get(
        f"{stitch_base}/v4/sources", headers={"Authorization": f"Bearer {stitch['password']}"}, timeout=5)),
        timeout, out)
    items = listing.get("data", listing) if isinstance(listing, dict) else listing
    names = [item.get("display_name") for item in items]
    if demo_support.STITCH_SOURCE not in names:
        raise SystemExit(f"the Stitch emulator has no source {demo_support.STITCH_SOURCE!r} (sources: {names})")
    shop = connection("stitch_shop", environ)
    check = requests.post(f"{shop['host'].rstrip('/')}/v2/import/validate", timeout=10, json=[],
                          headers={"Authorization": f"Bearer {shop['password']}"})
    if check.status_code == 401:
        raise SystemExit("the stitch_shop token is not accepted by the Stitch emulator")
    done["stitch_source"] = demo_support.STITCH_SOURCE
    out(f"Stitch source {demo_support.STITCH_SOURCE!r} and the stitch_shop token ready")
    out("demo ready: trigger shop__staging in the UI (http://localhost:8080)")
    return done


def _json(response: requests.Response) -> Any:
    response.raise_for_status()
    return response.json()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["store-db", "seed"])
    parser.add_argument("--timeout", type=float, default=120, help="seconds to wait for each server")
    args = parser.parse_args(argv)
    if args.command == "store-db":
        store_db()
    else:
        seed(timeout=args.timeout)
    return 0


if __name__ == "__main__":
    sys.exit(main())
