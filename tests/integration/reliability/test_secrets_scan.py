"""No secret leaks (issue 11): whole runs of the example project with a recognisable secret value in
every credential, then a scan of everything the runs left behind finds none of them.

The credentials: the Import.io API key, the Stitch Connect and Import tokens, the AWS access key id,
secret key and session token (an extra), the SFTP password, the PagerDuty routing key and the
store's PostgreSQL password (inside the store connection's URL extra). The Import.io key, the AWS
secret key and the store password hold ``+``, ``/`` and ``=``, which URL-encoding changes: Airflow's
own masker knows only the raw value, so the provider's masking must catch the encoded one.

The runs (``make demo``'s: ``dag.test()`` in a subprocess, emulators in threads, an Airflow home
each): the project's Stitch setup DAG (Connect token; it creates an Import API token and stores it)
beside a staging delivery that succeeds (a person's review included, crawl runs awaited by the
deferrable trigger), then at once a delivery whose Import.io key is wrong (every collection run is
refused: 401, the key travelling in the URL's query string) and one whose pushes are refused (a
revoked Stitch token: 401; a wrong SFTP password) and whose PagerDuty routing key is refused.

The scan (:mod:`~airflow_provider_importio.testing.secret_scan`) covers the runs' output (where
``dag.test()`` writes the task logs and exceptions), every row of every table of each Airflow
metadata database (XCom, rendered template fields, human-in-the-loop details, runs, trigger
arguments, the event log...) and of each store, the raw database files and journals, PostgreSQL's
data files and log, every other file the runs wrote (artifacts, SFTP uploads, caches, temporary
files), every S3 object, the Stitch warehouse, the Import.io inputs and the PagerDuty events. Each
place must have been covered, and the scanner must find secrets planted in copies of what it scans.
"""

from __future__ import annotations

import base64
import os
import json
import secrets
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
import traceback
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import pytest

from airflow_provider_importio.testing import ImportioEmulator
from airflow_provider_importio.testing.aws import MotoServer
from airflow_provider_importio.testing.compose_local import REPO
from airflow_provider_importio.testing.pagerduty import PagerDutyEmulator
from airflow_provider_importio.testing.postgres import PostgresServer, PostgresUnavailable
from airflow_provider_importio.testing.secret_scan import SecretScanner
from airflow_provider_importio.testing.sftp_server import SFTPTestServer
from airflow_provider_importio.testing.stitch_emulator import StitchEmulator

sys.path.insert(0, str(REPO / "scripts"))
import demo_support  # noqa: E402

pytestmark = pytest.mark.timeout(420)

FLOW = "staging"
DAG_ID = "shop__staging"
URLS_PER_SOURCE = 3  # 3 chunks per source: every task of the flow runs, in a fraction of the demo's time
#: Credentials whose real values hold characters that URL-encoding changes (Airflow's own masker only
#: knows the raw value): the Import.io key travels in a query string, the store's password in a URL,
#: AWS secret keys have "/" and "+".
ENCODED = {"importio", "importio-wrong", "aws-secret-key", "store-password"}
#: One recognisable value per credential (the AWS session token and the store's password are in
#: extras, not in a password field) ...
RIGHT = ("importio", "stitch-connect", "stitch-import", "aws-key-id", "aws-secret-key", "aws-session-token",
         "sftp-password", "pagerduty-routing-key", "store-password")
#: ... and the wrong ones the failing runs use.
NAMES = (*RIGHT, "importio-wrong", "sftp-wrong", "pagerduty-wrong")


def _secrets(names: tuple[str, ...]) -> tuple[dict[str, str], dict[str, str]]:
    """Recognisable secret values by name, and their random parts (looked for in fragments too)."""
    values, cores = {}, {}
    for name in names:
        cores[name] = secrets.token_hex(12)
        values[name] = (f"SeCrEt+{name}/{cores[name]}==" if name in ENCODED else f"SeCrEt-{name}-{cores[name]}")
    return values, cores


def _inputs(sources: list[str], *, error: bool) -> dict[str, list[str]]:
    """A few product pages per source; with ``error``, the second source's second page is an Import.io
    system error (its chunk is ESCALATED and waits for a person: the human-in-the-loop tables fill)."""
    inputs = {}
    for n, source in enumerate(sources):
        urls = [f"https://www.example-shop.co.uk/{source}/products/{i}" for i in range(URLS_PER_SOURCE)]
        if error and n == 1:
            urls[1] += "/error"
        inputs[source] = urls
    return inputs


def _put_inputs(srv: Any, project: Any, inputs: dict[str, list[str]]) -> None:
    for slug, uri in demo_support.input_uris(project, FLOW).items():
        bucket, key = uri[len("s3://"):].split("/", 1)
        body = "\n".join(json.dumps({"_url": url}) for url in inputs[slug]) + "\n"
        srv.s3.client().put_object(Bucket=bucket, Key=key, Body=body.encode())


def _with_password(connections: dict[str, str], conn_type: str, password: str, **extra: str) -> dict[str, str]:
    """The connections, those of ``conn_type`` with ``password`` and ``extra`` added to their extras."""
    out = {}
    for conn_id, value in connections.items():
        conn = json.loads(value)
        if conn["conn_type"] == conn_type:
            conn["password"] = password
            conn["extra"] = {**conn.get("extra", {}), **extra}
        out[conn_id] = json.dumps(conn)
    return out


def _scenario(work: Path, name: str, connections: dict[str, str], template_db: Path | None = None,
              store_url: str | None = None, **settings: str) -> tuple[Path, dict[str, str], str]:
    """A work directory, Airflow environment and store (default: a SQLite file there) for one run; its
    Airflow database a copy of ``template_db`` (an already migrated one) when given, else migrated here."""
    from airflow_provider_importio.store.store import Store

    workdir = work / name
    workdir.mkdir()
    store_url = store_url or f"sqlite:///{workdir / 'store.db'}"
    (workdir / "tmp").mkdir()  # temporary files the runs leave behind are scanned too
    env = {**demo_support.airflow_env(workdir, connections, store_url), "TMPDIR": str(workdir / "tmp"), **settings}
    if template_db is None:
        demo_support.migrate(env, store_url)
    else:
        (workdir / "airflow-home").mkdir()
        source, copy = sqlite3.connect(template_db), sqlite3.connect(workdir / "airflow-home" / "airflow.db")
        source.backup(copy)
        source.close()
        copy.close()
        with Store.from_url(store_url) as store:
            store.migrate()
    return workdir, env, store_url


def _dags_test(env: dict[str, str], dag_id: str, log: Path) -> subprocess.Popen:
    with log.open("w") as out:
        return subprocess.Popen([str(Path(sys.executable).parent / "airflow"), "dags", "test", dag_id], env=env,
                                stdout=out, stderr=subprocess.STDOUT)


def _pushes(store_url: str) -> list[Any]:
    from airflow_provider_importio.store.store import Store

    with Store.from_url(store_url) as store:
        return store.pushes()


@contextmanager
def _postgres(password: str) -> Iterator[PostgresServer | None]:
    """A PostgreSQL server whose user has ``password`` (``None`` where none can run, unless
    ``IMPORTIO_REQUIRE_POSTGRES=1``: then that fails)."""
    try:
        server = PostgresServer(password=password).start()
    except PostgresUnavailable:
        if os.environ.get("IMPORTIO_REQUIRE_POSTGRES") == "1":
            raise
        yield None
        return
    try:
        yield server
    finally:
        server.stop()


def _delivery(env: dict[str, str], store_url: str, log: Path) -> demo_support.RunOutcome:
    return demo_support.run_delivery(env, DAG_ID, store_url, log, timeout=150, progress=lambda _: None)


def test_runs_leave_no_secret_anywhere(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    started = time.monotonic()
    s, cores = _secrets(NAMES)
    work = tmp_path / "work"
    work.mkdir()
    project = demo_support.load_project()
    sources = [src.slug for src in project.flow_collection(project.flow(FLOW)).sources]
    timings: dict[str, int] = {}

    def lap(name: str) -> None:
        timings[name] = round(time.monotonic() - started)

    with ImportioEmulator(api_key=s["importio"], crawl_seconds=0.1, seconds_per_url=0) as importio, \
            StitchEmulator(connect_token=s["stitch-connect"]) as stitch, \
            MotoServer(access_key_id=s["aws-key-id"], secret_access_key=s["aws-secret-key"]) as s3, \
            SFTPTestServer(work / "sftp-root", password=s["sftp-password"]) as sftp, \
            PagerDutyEmulator(routing_keys={s["pagerduty-routing-key"]}) as pagerduty, \
            _postgres(s["store-password"]) as pg:
        # the successful delivery's store is PostgreSQL: its password travels in the connection's URL extra
        right = RIGHT if pg is not None else tuple(name for name in RIGHT if name != "store-password")
        srv = demo_support.Servers(importio, stitch, s3, sftp, pagerduty)
        connections = demo_support.arrange(srv, project, FLOW, _inputs(sources, error=True))
        # arrange() made a random Import API token and a fixed routing key: use recognisable ones
        stitch.revoke_import_token(json.loads(connections["stitch_shop"])["password"])
        connections = _with_password(connections, "stitch_import",
                                     stitch.add_import_token(stitch.sources()[0]["id"], token=s["stitch-import"]))
        connections = _with_password(connections, "pagerduty_events", s["pagerduty-routing-key"])
        connections = _with_password(connections, "aws", s["aws-secret-key"], aws_session_token=s["aws-session-token"])

        # one Airflow home per run, each with a copy of the first's freshly migrated database
        ok_dir, ok_env, ok_store = _scenario(work, "ok", connections, store_url=pg.url if pg else None,
                                             AIRFLOW__OPERATORS__DEFAULT_DEFERRABLE="True")
        carried = json.dumps({k: v for k, v in ok_env.items() if k.startswith("AIRFLOW_CONN_")})
        assert all(s[name] in carried or quote(s[name], safe="") in carried for name in right), \
            "every connection carries its secret"
        airflow_db = ok_dir / "airflow-home" / "airflow.db"
        setup_dir, setup_env, _ = _scenario(work, "setup", connections, airflow_db)
        key_dir, key_env, key_store = _scenario(
            work, "importio-401", _with_password(connections, "importio", s["importio-wrong"]), airflow_db)
        refused = _with_password(_with_password(connections, "sftp", s["sftp-wrong"]),
                                 "pagerduty_events", s["pagerduty-wrong"])
        push_dir, push_env, push_store = _scenario(work, "push-401", refused, airflow_db)
        lap("migrated")

        # 1. the Stitch setup DAG (Connect token; creates and stores an Import API token) beside a
        #    delivery that succeeds, its crawl runs awaited by the deferrable trigger
        setup = _dags_test(setup_env, "shop__stitch_setup", setup_dir / "stitch-setup.log")
        ok = _delivery(ok_env, ok_store, ok_dir / "run.log")
        assert setup.wait(timeout=120) == 0, (setup_dir / "stitch-setup.log").read_text()[-3000:]
        assert ok.ok, (ok.state, ok.reviewer_errors, ok.log.read_text()[-4000:])
        assert any("Push anyway" in review for review in ok.reviews), ok.reviews
        assert {p.status.value for p in _pushes(ok_store)} == {"PUSHED"}
        lap("ok")

        # 2. at once: a wrong Import.io API key (every collection run refused: 401), and refused
        #    pushes (a revoked Stitch Import token: 401; a wrong SFTP password) and a refused routing key
        _put_inputs(srv, project, _inputs(sources, error=False))  # no review needed
        stitch.revoke_import_token(s["stitch-import"])
        with ThreadPoolExecutor(1) as pool:
            key_run = pool.submit(_delivery, key_env, key_store, key_dir / "run.log")
            push = _delivery(push_env, push_store, push_dir / "run.log")
            bad_key = key_run.result(timeout=180)
        lap("failing")

        assert bad_key.state == "failed" and not bad_key.timed_out, bad_key.log.read_text()[-3000:]
        assert "answered 401" in bad_key.log.read_text()
        assert "check the API key in Airflow connection 'importio_default'" in bad_key.log.read_text()
        assert push.state == "failed" and not push.timed_out, push.log.read_text()[-3000:]
        errors = {p.destination: p.error or "" for p in _pushes(push_store) if p.status.value == "FAILED"}
        assert "401" in errors.get("warehouse", "") and "Authentication" in errors.get("customer-sftp", ""), errors
        assert "Invalid routing key" in push.log.read_text()

        # -- the scan ------------------------------------------------------------------------
        token_store = setup_dir / "airflow-home" / "stitch_connections.json"  # holds the new token, by design
        created = json.loads(token_store.read_text())["stitch_shop"]["password"]
        assert token_store.stat().st_mode & 0o077 == 0, "the stored token is readable by its owner only"
        scanner = SecretScanner({**s, "stitch-import-created": created}, cores)
        dirs = (setup_dir, ok_dir, key_dir, push_dir)
        scanned: list[Path] = [work / "sftp-root", token_store]
        task_log_lines = tracebacks = 0
        for workdir in dirs:
            home = workdir / "airflow-home"
            for path in sorted(workdir.glob("*.log")):  # dag.test() writes the task logs to its output
                scanner.scan_file(path, "output")
                text = path.read_text(errors="replace")
                task_log_lines += sum(1 for line in text.splitlines() if "[airflow.task" in line or "[task]" in line)
                tracebacks += text.count("Traceback (most recent call last)")
            scanner.scan_tree(home / "logs", "airflow-logs")  # task log files, if any were written
            scanner.scan_file(home / "airflow.db", "airflow-db")
            if (workdir / "store.db").exists():
                scanner.scan_file(workdir / "store.db", "store")
            scanned += [*workdir.glob("*.log"), home / "logs", home / "airflow.db", workdir / "store.db"]
        if pg is not None:
            scanner.scan_database(pg.url, "store")
            scanner.scan_tree(pg.base_dir, "postgres-files")  # its data files, WAL and server log
        scanner.scan_tree(work / "sftp-root", "sftp")
        scanner.scan_tree(work, "other-files", exclude=scanned)  # artifacts, caches, journals, configs
        client = s3.client()
        for bucket in client.list_buckets()["Buckets"]:
            for item in client.list_objects_v2(Bucket=bucket["Name"]).get("Contents", []):
                obj = client.get_object(Bucket=bucket["Name"], Key=item["Key"])
                scanner.counts["s3 objects"] += 1
                scanner.scan_bytes(obj["Body"].read(), f"s3://{bucket['Name']}/{item['Key']}")
                scanner.scan_json({k: obj.get(k) for k in ("Metadata", "ContentType", "ContentEncoding")},
                                  f"s3://{bucket['Name']}/{item['Key']} (metadata)")
        for schema, table in stitch.tables():
            for row in stitch.rows(schema, table):
                scanner.scan_json(row, f"stitch warehouse {schema}.{table}", "stitch")
        for batch in stitch.batches:
            scanner.scan_json(batch, f"stitch batch {batch.get('id')}", "stitch")
        for source in project.flow_collection(project.flow(FLOW)).sources:  # what the runs sent Import.io
            scanner.scan_json(importio.inputs(source.extractor_id), f"importio inputs of {source.slug}", "importio")
            scanner.scan_json(importio.crawl_runs(source.extractor_id), f"importio crawl runs of {source.slug}",
                              "importio")
        scanner.scan_json(stitch.sources(), "stitch sources", "stitch")
        for event in pagerduty.events:
            # the routing key is the one thing an event must carry; nothing else may hold a secret
            assert event.pop("routing_key") == s["pagerduty-routing-key"]
            scanner.scan_json(event, f"pagerduty event {event.get('dedup_key')}", "pagerduty")
        # a store connection whose password is wrong: what the hook says, and what it raises
        if pg is not None:
            wrong = quote(s["store-password"][:-3] + "x==", safe="")
            bad_url = pg.url.replace(quote(s["store-password"], safe=""), wrong)
            monkeypatch.setenv("AIRFLOW_CONN_STORE_BAD",
                               json.dumps({"conn_type": "importio_store", "extra": {"url": bad_url}}))
            from airflow_provider_importio.hooks.store import ImportioStoreHook

            accepted, message = ImportioStoreHook("store_bad").test_connection()
            assert not accepted and "password authentication failed" in message, message
            scanner.scan_json(message, "store test_connection message", "exceptions")
            with pytest.raises(Exception) as refused:
                ImportioStoreHook("store_bad").get_store()
            scanner.scan_text("".join(traceback.format_exception(refused.value)), "store get_store traceback")
            scanner.counts["exceptions items"] += 1
        lap("scanned")

        # -- the scan covered every place ----------------------------------------------------
        counts = scanner.counts
        assert counts["output files"] == 5 and counts["output lines"] > 1000 and task_log_lines > 300, counts
        assert tracebacks >= 2, "the failing runs' exceptions are in their output"
        for table in ("xcom", "rendered_task_instance_fields", "hitl_detail", "dag_run", "task_instance", "log"):
            assert counts[f"airflow-db rows[{table}]"] > 0, (table, counts)
        assert counts["airflow-db files"] == 4 and counts["airflow-db rows"] > 300, counts
        assert counts["store files"] == (3 if pg else 4), counts
        assert pg is None or (counts["postgres-files files"] > 100 and counts["exceptions items"] == 2), counts
        for table in ("deliveries", "snapshots", "snapshot_transitions", "snapshot_stats", "pushes"):
            assert counts[f"store rows[{table}]"] > 0, (table, counts)
        assert counts["sftp files"] > 0 and counts["other-files files"] > 10 and counts["s3 objects"] > 10, counts
        assert counts["stitch items"] > 0 and counts["pagerduty items"] > 0 and counts["importio items"] == 4, counts

        # -- positive controls: the scanner finds what it is meant to find --------------------
        control = SecretScanner(scanner.secrets, cores)
        control.scan_text("\n".join(f"{k}={v}" for k, v in ok_env.items() if k.startswith("AIRFLOW_CONN_")), "env")
        assert {f.secret for f in control.findings} == set(right), control.summary()
        control = SecretScanner(scanner.secrets, cores)
        control.scan_file(token_store, "connection-store")
        assert [f.secret for f in control.findings] == ["stitch-import-created"], control.summary()
        planted = tmp_path / "planted"
        planted.mkdir()
        db = planted / "airflow.db"
        conn, source = sqlite3.connect(db), sqlite3.connect(airflow_db)
        source.backup(conn)
        source.close()
        with conn:  # the key as requests puts it in a URL
            url = f"{importio.url}/extractors?{urlencode({'_apikey': s['importio']})}"
            conn.execute("UPDATE xcom SET value = ? WHERE rowid = (SELECT max(rowid) FROM xcom)", (json.dumps(url),))
        conn.close()  # the last connection: its journal is written back into the file
        log = Path(shutil.copy(ok.log, planted / "run.log"))
        with log.open("a") as out:  # a password in a Basic auth header, and a truncated token
            out.write("Authorization: Basic " + base64.b64encode(f"upload:{s['sftp-password']}".encode()).decode()
                      + f"\ntoken {s['stitch-import'][:-6]}…\n")
        control = SecretScanner(scanner.secrets, cores)
        control.scan_file(db, "planted")
        control.scan_file(log, "planted")

        def found(secret: str, form: str, place: str) -> bool:
            return any(f.secret == secret and f.form.startswith(form) and place in f.place for f in control.findings)

        assert found("importio", "url-quoted", f"{db} table xcom rowid"), control.summary()
        assert found("importio", "url-quoted", f"{db} (raw)"), control.summary()
        assert found("sftp-password", "base64", f"{log}:"), control.summary()
        assert found("stitch-import", "fragment-head", f"{log}:"), control.summary()

    lap("total")
    print(f"\nsecret scan: {timings} s; {task_log_lines} task log lines, {tracebacks} tracebacks; "
          + scanner.summary().replace("\n", "; "))
    assert not scanner.findings, scanner.summary()


def test_credential_errors_carry_no_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    """The exceptions a wrong or revoked credential raises, whole (message, args, attributes and the
    chained traceback), hold no secret: Import.io's key travels in the URL, Stitch's tokens and
    PagerDuty's routing key in headers and bodies."""
    from airflow_provider_importio.hooks.importio import ImportioHook
    from airflow_provider_importio.hooks.pagerduty import ImportioPagerdutyEventsHook
    from airflow_provider_importio.hooks.stitch import StitchConnectHook, StitchImportHook

    s, cores = _secrets(("importio", "importio-wrong", "stitch-connect", "stitch-connect-wrong", "stitch-import",
                         "pagerduty", "pagerduty-wrong"))
    scanner = SecretScanner(s, cores)
    raised: list[BaseException] = []

    def conn(conn_id: str, conn_type: str, host: str, password: str, **extra: Any) -> None:
        monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(
            {"conn_type": conn_type, "host": host, "password": password,
             "extra": {"max_retries": 1, "backoff_base": 0.01, **extra}}))

    def expect_failure(call: Any) -> None:
        try:
            call()
        except Exception as exc:  # noqa: BLE001 - any failure is scanned
            raised.append(exc)
        else:
            raise AssertionError(f"{call} did not fail")

    with ImportioEmulator(api_key=s["importio"]) as importio, \
            StitchEmulator(connect_token=s["stitch-connect"]) as stitch, \
            PagerDutyEmulator(routing_keys={s["pagerduty"]}) as pagerduty:
        conn("importio_bad", "importio", importio.url, s["importio-wrong"])
        expect_failure(ImportioHook("importio_bad").get_current_user)
        with socket.socket() as closed:  # a port nobody listens on: the key is in the refused request's URL
            closed.bind(("127.0.0.1", 0))
            conn("importio_down", "importio", f"http://127.0.0.1:{closed.getsockname()[1]}", s["importio"])
        expect_failure(ImportioHook("importio_down").get_current_user)
        expect_failure(lambda: ImportioHook("importio_bad").start_extractor("0d5e6c3a-1b2c-4d5e-8f90-123456789abc"))
        conn("connect_bad", "stitch_connect", stitch.url, s["stitch-connect-wrong"])
        expect_failure(lambda: StitchConnectHook("connect_bad").get_source_type("import_api"))
        source = stitch.add_source(display_name="Leak Check")
        stitch.add_import_token(source["id"], token=s["stitch-import"])
        stitch.revoke_import_token(s["stitch-import"])
        conn("import_revoked", "stitch_import", stitch.url, s["stitch-import"])
        expect_failure(lambda: StitchImportHook("import_revoked").batch(
            "products", {"properties": {"sku": {"type": "string"}}},
            [{"action": "upsert", "sequence": 1, "data": {"sku": "a"}}], key_names=["sku"]))
        conn("pagerduty_bad", "pagerduty_events", pagerduty.url, s["pagerduty-wrong"], verify=pagerduty.ca_file,
             retries=0)
        expect_failure(lambda: ImportioPagerdutyEventsHook(pagerduty_events_conn_id="pagerduty_bad").send_event(
            "leak check", "error"))

    for exc in raised:
        text = "".join(traceback.format_exception(exc))
        scanner.counts["traceback lines"] += text.count("\n")
        scanner.scan_text(text, f"traceback of {type(exc).__name__}")
        scanner.scan_json({"repr": repr(exc), "args": exc.args, "attributes": vars(exc)},
                          f"{type(exc).__name__} attributes", "exceptions")
    names = [type(exc).__name__ for exc in raised]
    assert names[:5] == ["UnauthorizedError", "TransportError", "UnauthorizedError", "UnauthorizedError",
                         "UnauthorizedError"], names
    assert len(raised) == 6 and scanner.counts["exceptions items"] == 6 and scanner.counts["traceback lines"] > 6
    assert not scanner.findings, scanner.summary()


def test_the_scanner_finds_every_form_and_says_where(tmp_path: Path) -> None:
    """The scanner itself: each form a leak takes, in text, gzip files and SQLite rows, located; and
    nothing for text that only resembles a secret."""
    import gzip

    s, cores = _secrets(("importio", "stitch-import"))
    key, token = s["importio"], s["stitch-import"]
    scanner = SecretScanner(s, cores)
    lines = {
        "raw": f"key {key}",
        "url-quoted": f"GET /x?{urlencode({'_apikey': key})}",
        "json-slash-escaped": json.dumps({"k": key})[1:-1].replace("/", "\\/"),
        "lower-case": f"KEY {key.lower()}",
        **{f"base64/{n}": base64.b64encode(b"u" * n + key.encode()).decode() for n in range(3)},
        "truncated": f"token {token[:-8]}…",
        "tail": f"token …{token[10:]}",
    }
    (tmp_path / "log.txt").write_text("\n".join(["nothing here", *lines.values(), "SeCrEt-importio-0123"]) + "\n")
    found = scanner.scan_file(tmp_path / "log.txt", "log")
    by_line = {int(f.place.rsplit(":", 1)[1].split()[0]): f.form for f in reversed(found)}  # a line's first finding
    assert sorted(by_line) == list(range(2, 2 + len(lines))), scanner.summary()
    assert [by_line[n] for n in sorted(by_line)] == ["raw", "url-quoted", "json-slash-escaped", "raw", "base64/0",
                                                     "base64/1", "base64/2", "fragment-head", "fragment-head"]
    assert all(key not in f.context and key not in f.place for f in found)
    assert scanner.count("log", "lines") == len(lines) + 2 and scanner.count("log", "files") == 1

    scanner = SecretScanner(s, cores)
    (tmp_path / "rows.gz").write_bytes(gzip.compress(f"a\n{token}\n".encode()))
    db = sqlite3.connect(tmp_path / "x.db")
    with db:
        db.execute("CREATE TABLE t (a TEXT, b BLOB)")
        db.execute("INSERT INTO t VALUES ('clean', ?), (?, NULL)", (gzip.compress(key.encode()), "clean"))
    db.close()
    scanner.scan_tree(tmp_path, "tree", exclude=[tmp_path / "log.txt"])
    places = sorted(f.place for f in scanner.findings)
    assert [f.secret for f in scanner.findings if "table t rowid 1 column b" in f.place] == ["importio"], places
    assert any(f.secret == "stitch-import" and f.place == f"{tmp_path / 'rows.gz'}:2 @0" for f in scanner.findings)
    assert scanner.count("tree", "rows[t]") == 2 and scanner.count("tree", "files") == 2, scanner.summary()
