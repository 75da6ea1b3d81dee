"""docker-compose.yaml (issue 9): valid Compose, the official Airflow 3 layout, and services and
connections that agree with each other and with the repo. No Docker engine is needed.

The file is validated by Debian's ``docker-compose config -q`` (package docker-compose) when the
binary is there, and against the Compose specification's JSON schema that this package ships; without
either, those two tests skip, saying why. The rest reads the file (anchors and ``<<`` merges resolved)
and starts the services' own commands (CLIs of this provider) on loopback.
"""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from airflow_provider_importio.testing.postgres import postgres_server  # noqa: F401 (fixture)
import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yaml"
VENV_BIN = Path(sys.executable).parent
#: Where Debian's docker-compose (1.29) keeps the Compose specification's schema.
SPEC_CANDIDATES = [Path("/usr/lib/python3/dist-packages/compose/config/compose_spec.json")]

AIRFLOW_SERVICES = ["airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-worker",
                    "airflow-triggerer", "airflow-init"]
EMULATORS = {"importio-emulator": 8090, "stitch-emulator": 8091, "moto": 5000, "sftp": 2222, "pagerduty-emulator": 8092}


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load(COMPOSE_FILE.read_text())


@pytest.fixture(scope="module")
def common_env(compose) -> dict[str, str]:
    return compose["x-airflow-common"]["environment"]


def connections(env: dict[str, str]) -> dict[str, Any]:
    from airflow.models.connection import Connection

    return {name[len("AIRFLOW_CONN_"):].lower(): Connection.from_json(value, conn_id=name[len("AIRFLOW_CONN_"):].lower())
            for name, value in env.items() if name.startswith("AIRFLOW_CONN_")}


def option(command: list[str], *names: str) -> str:
    for name in names:
        if name in command:
            return command[command.index(name) + 1]
    raise AssertionError(f"none of {names} in {command}")


# -- validity -----------------------------------------------------------------------------------------


def test_docker_compose_config_accepts_the_file():
    binary = shutil.which("docker-compose")
    if binary is None:
        pytest.skip("no docker-compose binary (Debian: apt-get install -y docker-compose)")
    done = subprocess.run([binary, "-f", str(COMPOSE_FILE), "config", "-q"], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def test_the_file_matches_the_compose_specification_schema(compose):
    import jsonschema

    spec = next((path for path in SPEC_CANDIDATES if path.exists()), None)
    if spec is None:
        pytest.skip("the Compose specification's JSON schema is not installed "
                    "(Debian's docker-compose package ships it: apt-get install -y docker-compose)")
    schema = json.loads(spec.read_text())
    # its "$schema" is misspelt ("./draft/2019-09/schema#"), so name the draft instead of reading it
    validator = jsonschema.Draft201909Validator(schema)
    errors = sorted(validator.iter_errors(compose), key=lambda e: list(e.path))
    assert not errors, "\n".join(f"{'/'.join(map(str, e.path))}: {e.message}" for e in errors)


# -- the official layout ------------------------------------------------------------------------------


def test_services_of_the_official_file_and_the_demo(compose):
    services = compose["services"]
    assert set(AIRFLOW_SERVICES + list(EMULATORS) + ["postgres", "redis", "demo-setup"]) <= set(services)
    assert services["postgres"]["image"] == "postgres:16"
    assert services["redis"]["image"] == "redis:7.2-bookworm"
    assert services["airflow-apiserver"]["ports"] == ["8080:8080"]
    assert "http://localhost:8080/api/v2/monitor/health" in services["airflow-apiserver"]["healthcheck"]["test"]
    for name in AIRFLOW_SERVICES:
        if name != "airflow-init":
            assert services[name]["depends_on"]["airflow-init"] == {"condition": "service_completed_successfully"}


def test_common_environment(common_env):
    assert common_env["AIRFLOW__CORE__EXECUTOR"] == "CeleryExecutor"
    assert urlsplit(common_env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"]).hostname == "postgres"
    assert urlsplit(common_env["AIRFLOW__CELERY__RESULT_BACKEND"]).hostname == "postgres"
    assert common_env["AIRFLOW__CELERY__BROKER_URL"].startswith("redis://") and "@redis:6379" in \
        common_env["AIRFLOW__CELERY__BROKER_URL"]
    assert "AIRFLOW__CORE__FERNET_KEY" in common_env
    assert common_env["AIRFLOW__CORE__EXECUTION_API_SERVER_URL"] == "http://airflow-apiserver:8080/execution/"
    assert common_env["AIRFLOW__API_AUTH__JWT_SECRET"]
    assert common_env["AIRFLOW__CORE__LOAD_EXAMPLES"] == "false"


def test_every_airflow_service_shares_the_common_environment_image_and_mounts(compose, common_env):
    common = compose["x-airflow-common"]
    for name in [*AIRFLOW_SERVICES, "demo-setup"]:
        service = compose["services"][name]
        assert service["environment"].items() >= common_env.items(), name
        assert service["image"] == common["image"] and service["build"] == common["build"], name
        assert service["volumes"] == common["volumes"], name
    mounts = dict(volume.rsplit(":", 1)[::-1] for volume in common["volumes"])
    assert mounts["/opt/airflow/dags"].endswith("/dags") and mounts["/opt/airflow/dags"].startswith("${AIRFLOW_PROJ_DIR:-.}")
    assert {"/opt/airflow/logs", "/opt/airflow/config", "/opt/airflow/plugins"} <= set(mounts)
    assert common["build"]["dockerfile"] == "Dockerfile" and (REPO / "Dockerfile").exists()


def test_the_image_is_the_official_one_with_the_project_installed():
    dockerfile = (REPO / "Dockerfile").read_text()
    assert re.search(r"^FROM apache/airflow:\$\{AIRFLOW_VERSION\}-python", dockerfile, re.M)
    assert "COPY --chown=airflow:0 . /opt/importio" in dockerfile
    assert re.search(r'pip install --no-cache-dir .*"\.\[postgres\]"', dockerfile)
    ignored = (REPO / ".dockerignore").read_text().split()
    assert ".venv" in ignored and ".git" in ignored


# -- commands -----------------------------------------------------------------------------------------


def test_each_service_command_exists_in_the_venv(compose):
    from airflow.cli.cli_parser import get_parser

    airflow_commands = set(get_parser()._subparsers._group_actions[0].choices)  # noqa: SLF001
    services = compose["services"]
    for name in AIRFLOW_SERVICES:
        if name == "airflow-init":
            continue
        first = services[name]["command"].split()[0]
        # `celery` comes with the Celery provider, which the official image has and this venv may not
        assert first in airflow_commands or first == "celery", (name, first)
    init = services["airflow-init"]["command"][-1]
    assert "/entrypoint python /opt/importio/scripts/compose_setup.py store-db" in init
    assert (REPO / "scripts" / "compose_setup.py").is_file()
    for name in [*EMULATORS, "demo-setup"]:
        command = services[name]["command"]
        assert isinstance(command, list), name
        if command[0] == "python":
            if command[1] == "-m":
                assert importlib.util.find_spec(command[2]) is not None, (name, command[2])
            else:
                script = command[1].removeprefix("/opt/importio/")  # the Dockerfile copies the repo there
                assert (REPO / script).is_file(), (name, script)
        else:
            assert (VENV_BIN / command[0]).exists(), (name, command[0])
    for name in EMULATORS:
        assert services[name]["entrypoint"] == ["/usr/bin/dumb-init", "--"], name


def test_emulators_listen_on_all_interfaces_at_their_published_ports(compose):
    for name, port in EMULATORS.items():
        command = compose["services"][name]["command"]
        assert option(command, "--host", "-H") == "0.0.0.0", name
        assert int(option(command, "--port", "-p")) == port, name
        assert compose["services"][name]["ports"] == [f"{port}:{port}"], name


# -- connections --------------------------------------------------------------------------------------


def test_connections_parse_and_point_at_the_services(compose, common_env):
    from airflow_provider_importio.testing.sftp_cli import public_host_key
    from airflow_provider_importio.workbench.config_loader import load_project

    conns = connections(common_env)
    project = load_project(REPO / "dags" / "projects" / "shop.yaml")
    needed = {d.connection for d in project.destinations} | {f.definition.input_connection for f in project.flows}
    needed |= {"importio_default", "stitch_connect_default", "importio_store_default", "aws_default"}
    assert needed <= set(conns), needed - set(conns)
    services = compose["services"]

    def url_of(conn) -> tuple[str, int]:
        parts = urlsplit(conn.host)
        return parts.hostname, parts.port

    importio = conns["importio_default"]
    assert importio.conn_type == "importio"
    assert url_of(importio) == ("importio-emulator", EMULATORS["importio-emulator"])
    assert importio.password == option(services["importio-emulator"]["command"], "--api-key")

    for conn_id in ("aws_default", "aws_shop_inputs", "aws_shop_out"):
        aws = conns[conn_id]
        assert aws.conn_type == "aws"
        endpoint = urlsplit(aws.extra_dejson["endpoint_url"])
        assert (endpoint.hostname, endpoint.port) == ("moto", EMULATORS["moto"]), conn_id

    sftp, sftp_command = conns["sftp_customer"], services["sftp"]["command"]
    assert (sftp.conn_type, sftp.host, sftp.port) == ("sftp", "sftp", EMULATORS["sftp"])
    assert sftp.password == option(sftp_command, "--password")
    assert "no_host_key_check" not in sftp.extra_dejson
    assert sftp.extra_dejson["host_key"] == public_host_key(option(sftp_command, "--host-key-seed"))

    stitch_command = services["stitch-emulator"]["command"]
    connect, shop = conns["stitch_connect_default"], conns["stitch_shop"]
    assert (connect.conn_type, shop.conn_type) == ("stitch_connect", "stitch_import")
    assert url_of(connect) == url_of(shop) == ("stitch-emulator", EMULATORS["stitch-emulator"])
    assert connect.password == option(stitch_command, "--connect-token")
    assert shop.password == option(stitch_command, "--import-token")
    assert option(stitch_command, "--source") == "Shop Warehouse"

    pagerduty, pd_command = conns["pagerduty_shop"], services["pagerduty-emulator"]["command"]
    assert pagerduty.conn_type == "pagerduty_events" and pagerduty.password
    assert url_of(pagerduty) == ("pagerduty-emulator", EMULATORS["pagerduty-emulator"])
    assert urlsplit(pagerduty.host).scheme == "https" and option(pd_command, "--name") == "pagerduty-emulator"
    # the CA file the service writes at start is the one the connection trusts, in the shared config mount
    assert pagerduty.extra_dejson["verify"] == option(pd_command, "--ca-file")
    assert pagerduty.extra_dejson["verify"].startswith("/opt/airflow/config/")
    assert "${AIRFLOW_PROJ_DIR:-.}/config:/opt/airflow/config" in services["pagerduty-emulator"]["volumes"]
    subscribed = {s.connection for g in project.alarm_groups for s in g.subscriptions}
    assert subscribed <= set(conns), subscribed - set(conns)

    store = conns["importio_store_default"]
    assert store.conn_type == "importio_store"
    url = urlsplit(store.extra_dejson["url"])
    postgres = services["postgres"]["environment"]
    assert (url.hostname, url.port, url.path) == ("postgres", 5432, "/importio_store")
    assert (url.username, url.password) == (postgres["POSTGRES_USER"], postgres["POSTGRES_PASSWORD"])
    assert url.scheme == "postgresql+psycopg"


# -- the services' commands, run here -----------------------------------------------------------------


def local(command: list[str]) -> list[str]:
    """A service's command on loopback with a free port, run by this venv."""
    command = [sys.executable if part == "python" else part for part in command]
    for flag, value in (("--host", "127.0.0.1"), ("--port", "0")):
        command[command.index(flag) + 1] = value
    return command


def start(command: list[str]) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline()
    if "listening on" not in line:
        proc.kill()
        raise AssertionError(f"{command}: {line!r} {proc.stderr.read()}")
    return proc, line.strip()


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    assert proc.wait(timeout=15) == 0


@pytest.fixture
def stitch_service(compose):
    proc, line = start(local(compose["services"]["stitch-emulator"]["command"]))
    yield line.rsplit(" ", 1)[1]
    stop(proc)


def test_the_stitch_service_accepts_the_preset_token(compose, common_env, stitch_service):
    conns = connections(common_env)
    shop = requests.post(f"{stitch_service}/v2/import/validate", json=[], timeout=10,
                         headers={"Authorization": f"Bearer {conns['stitch_shop'].password}"})
    assert shop.status_code != 401
    sources = requests.get(f"{stitch_service}/v4/sources", timeout=10,
                           headers={"Authorization": f"Bearer {conns['stitch_connect_default'].password}"})
    sources.raise_for_status()
    body = sources.json()
    items = body.get("data", body) if isinstance(body, dict) else body
    assert [s["display_name"] for s in items] == ["Shop Warehouse"]


def test_the_sftp_service_has_the_connections_host_key(compose, common_env, tmp_path):
    import asyncio

    import asyncssh

    command = local(compose["services"]["sftp"]["command"])
    command[command.index("--root") + 1] = str(tmp_path / "root")
    proc, line = start(command)
    try:
        port = int(re.search(r":(\d+),", line).group(1))
        conn = connections(common_env)["sftp_customer"]
        known = asyncssh.import_known_hosts(f"[127.0.0.1]:{port} {conn.extra_dejson['host_key']}\n")

        async def upload() -> None:
            async with asyncssh.connect("127.0.0.1", port, username=conn.login, password=conn.password,
                                        known_hosts=known, client_keys=None) as ssh:
                async with ssh.start_sftp_client() as sftp:
                    await sftp.makedirs("/upload/prices", exist_ok=True)

        asyncio.run(upload())
    finally:
        stop(proc)
    assert (tmp_path / "root" / "upload" / "prices").is_dir()


def test_the_pagerduty_service_serves_tls_that_its_ca_file_verifies(compose, common_env, tmp_path):
    command = local(compose["services"]["pagerduty-emulator"]["command"])
    ca_file = tmp_path / "config" / "pagerduty-emulator-ca.pem"
    command[command.index("--ca-file") + 1] = str(ca_file)
    proc, line = start(command)
    try:
        url = line.rsplit(" ", 1)[1]
        routing_key = connections(common_env)["pagerduty_shop"].password
        event = {"routing_key": routing_key, "event_action": "trigger", "dedup_key": "compose-check",
                 "payload": {"summary": "compose check", "source": "test", "severity": "info"}}
        answer = requests.post(f"{url}/v2/enqueue", json=event, verify=str(ca_file), timeout=10)
        assert answer.status_code == 202, answer.text
        with pytest.raises(requests.exceptions.SSLError):  # not trusted without the CA file
            requests.post(f"{url}/v2/enqueue", json=event, timeout=10)
    finally:
        stop(proc)


def test_demo_setup_seeds_the_emulators(compose, common_env, stitch_service, monkeypatch):
    from airflow_provider_importio.testing import ImportioEmulator
    from airflow_provider_importio.testing.aws import MotoServer

    sys.path.insert(0, str(REPO / "scripts"))
    import compose_setup

    env = dict(common_env)

    def point(conn_id: str, **changes: Any) -> None:
        value = json.loads(env[f"AIRFLOW_CONN_{conn_id.upper()}"])
        extra = changes.pop("extra", {})
        value.update(changes)
        value.setdefault("extra", {}).update(extra)
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = json.dumps(value)

    monkeypatch.setenv("AIRFLOW_HOME", str(REPO / "nonexistent-airflow-home"))  # the repo's dags/
    api_key = connections(common_env)["importio_default"].password
    with ImportioEmulator(api_key=api_key) as importio, MotoServer() as moto:
        point("importio_default", host=importio.url)
        for conn_id in ("aws_default", "aws_shop_inputs", "aws_shop_out"):
            point(conn_id, extra={"endpoint_url": moto.url})
        point("stitch_connect_default", host=stitch_service)
        point("stitch_shop", host=stitch_service)
        lines: list[str] = []
        done = compose_setup.seed(env, timeout=10, out=lines.append)
        again = compose_setup.seed(env, timeout=10, out=lines.append)  # re-runs are safe

        assert sorted(done["extractors"]) == sorted(["0d5e6c3a-1b2c-4d5e-8f90-123456789abc",
                                                     "9a8b7c6d-5e4f-4a3b-9c2d-0123456789ab"])
        assert again["extractors"] == [] and again["buckets"] == []
        assert set(done["buckets"]) == {"shop-inputs", "shop-exports", "importio-artifacts"}
        s3 = moto.client()
        for uri in done["inputs"]:
            bucket, key = uri[len("s3://"):].split("/", 1)
            lines_in = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode().splitlines()
            assert len(lines_in) == compose_setup.demo_support.URLS_PER_SOURCE
        assert sorted(done["inputs"]) == ["s3://shop-inputs/staging/shop-a/inputs.ndjson",
                                          "s3://shop-inputs/staging/shop-b/inputs.ndjson"]
        assert importio.extractor("0d5e6c3a-1b2c-4d5e-8f90-123456789abc")["name"] == "Shop prices: Shop A"


def test_store_db_creates_and_migrates_the_store(tmp_path):
    sys.path.insert(0, str(REPO / "scripts"))
    import compose_setup

    url = f"sqlite:///{tmp_path / 'store.db'}"
    env = {"AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT": json.dumps({"conn_type": "importio_store", "extra": {"url": url}})}
    compose_setup.store_db(env, out=lambda _: None)
    assert (tmp_path / "store.db").stat().st_size > 0


def test_store_db_creates_the_postgresql_database_once(postgres_server):
    import uuid

    sys.path.insert(0, str(REPO / "scripts"))
    import compose_setup

    name = f"importio_store_{uuid.uuid4().hex[:8]}"
    env = {"AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT": json.dumps(
        {"conn_type": "importio_store", "extra": {"url": postgres_server.url_for(name)}})}
    lines: list[str] = []
    try:
        assert compose_setup.store_db(env, out=lines.append) == name
        compose_setup.store_db(env, out=lines.append)  # the init service runs at every `up`
    finally:
        postgres_server.drop_database(name)
    assert lines[0] == f"created database {name}" and lines[2] == f"database {name} exists"
