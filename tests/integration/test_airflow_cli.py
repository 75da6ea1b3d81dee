"""The provider as Airflow's own CLI sees it, in a fresh AIRFLOW_HOME."""

from __future__ import annotations

import json
import subprocess

from tests.integration.conftest import VENV_BIN


def airflow(env, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(VENV_BIN / "airflow"), *args], env=env, capture_output=True, text=True, timeout=180)


def test_providers_list_hooks_and_connections(airflow_env, importio_emulator):
    listed = json.loads(airflow(airflow_env, "providers", "list", "-o", "json").stdout)
    assert {"package_name": "airflow-provider-importio", "version": "0.1.0"}.items() <= next(
        p for p in listed if p["package_name"] == "airflow-provider-importio"
    ).items()
    hooks = json.loads(airflow(airflow_env, "providers", "hooks", "-o", "json").stdout)
    assert {"connection_type": "importio", "class": "airflow_provider_importio.hooks.importio.ImportioHook"}.items() <= next(
        h for h in hooks if h["connection_type"] == "importio"
    ).items()

    assert airflow(airflow_env, "db", "migrate").returncode == 0
    added = airflow(
        airflow_env, "connections", "add", "importio_cli", "--conn-type", "importio",
        "--conn-host", importio_emulator.url, "--conn-password", importio_emulator.api_key,
        "--conn-extra", json.dumps({"timeout": 30, "max_retries": 1}),
    )
    assert added.returncode == 0, added.stderr
    (conn,) = json.loads(airflow(airflow_env, "connections", "get", "importio_cli", "-o", "json").stdout)
    assert conn["conn_type"] == "importio" and conn["host"] == importio_emulator.url

    test_env = {**airflow_env, "AIRFLOW__CORE__TEST_CONNECTION": "Enabled"}
    tested = airflow(test_env, "connections", "test", "importio_cli")
    assert "Connection success!" in tested.stdout, tested.stdout + tested.stderr
    assert importio_emulator.request_count("GET", r"^/users/current$") == 1  # the hook called the emulator

    wrong_key = "wrong-key-for-cli-test"
    airflow(airflow_env, "connections", "add", "importio_wrong", "--conn-type", "importio",
            "--conn-host", importio_emulator.url, "--conn-password", wrong_key)
    failed = airflow(test_env, "connections", "test", "importio_wrong")
    output = failed.stdout + failed.stderr
    assert "Connection failed" in output and "401" in output, output
    assert wrong_key not in output
