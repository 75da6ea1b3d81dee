"""Integration tests start real servers (emulators, subprocesses)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

VENV_BIN = Path(sys.executable).parent


def pytest_collection_modifyitems(items):
    for item in items:
        if "tests/integration" in str(item.fspath):
            item.add_marker(pytest.mark.integration)


def set_importio_connection(monkeypatch, conn_id: str, url: str, api_key: str, **extra) -> None:
    """Point an Airflow connection (env-var form) at an emulator."""
    extra = {"max_retries": 3, "backoff_base": 0.01, **extra}
    value = {"conn_type": "importio", "host": url, "password": api_key, "extra": extra}
    monkeypatch.setenv(f"AIRFLOW_CONN_{conn_id.upper()}", json.dumps(value))


class EmulatorProcess:
    """The emulator's console script in a subprocess (its memory is not the test's)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [str(VENV_BIN / "importio-emulator"), "--port", "0", *args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        line = self.proc.stdout.readline()
        if "listening on" not in line:
            self.proc.kill()
            raise RuntimeError(f"emulator did not start: {line!r} {self.proc.stderr.read()}")
        self.url = line.rsplit(" ", 1)[-1].strip()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=10)


@pytest.fixture
def emulator_process() -> Iterator[type[EmulatorProcess]]:
    started: list[EmulatorProcess] = []

    def start(*args: str) -> EmulatorProcess:
        proc = EmulatorProcess(*args)
        started.append(proc)
        return proc

    yield start  # type: ignore[misc]
    for proc in started:
        if proc.proc.poll() is None:
            proc.stop()


@pytest.fixture
def airflow_env(tmp_path) -> dict[str, str]:
    """Environment for Airflow CLI subprocesses with their own AIRFLOW_HOME."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("AIRFLOW_CONN_")}
    env.update(AIRFLOW_HOME=str(tmp_path / "airflow-home"), AIRFLOW__CORE__LOAD_EXAMPLES="False")
    return env
