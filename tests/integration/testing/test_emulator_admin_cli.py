"""Admin endpoints, the ``importio-emulator`` console script and the pytest plugin."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from airflow_provider_importio.testing import ImportioEmulator

from .conftest import Api

pytestmark = pytest.mark.integration

VENV_BIN = Path(sys.executable).parent
SEEDED_ID = "11111111-2222-4333-8444-555555555555"
LISTENING = re.compile(r"^Import\.io emulator listening on (http://127\.0\.0\.1:\d+)\n$")


def test_admin_endpoints(emu: ImportioEmulator, api: Api) -> None:
    def admin(method: str, name: str, body: object = None) -> requests.Response:
        return requests.request(method, f"{emu.url}/_emulator/{name}", json=body, timeout=10)

    user = admin("POST", "users", {"api_key": "second-key", "username": "second"})
    assert user.status_code == 200 and user.json()["username"] == "second" and "second-key" not in user.text
    seeded = {"name": "Seeded", "inputs": ["https://a.example/1"], "owner_api_key": "second-key"}
    ext = admin("POST", "extractors", seeded).json()
    assert [e["guid"] for e in api.get("/extractors/", key="second-key").json()] == [ext["guid"]]
    report = admin("POST", "reports", {"extractor_id": ext["guid"], "name": "R", "type": "CHANGE"}).json()
    assert api.get(f"/reports/{report['guid']}", key="second-key").json()["name"] == "R"
    assert admin("POST", "extractors", {"bogus": 1}).status_code == 400
    assert admin("POST", "reports", {"extractor_id": "nope"}).status_code == 400
    assert admin("POST", "users", ["x"]).status_code == 400

    assert admin("POST", "faults", {"script": ["503"], "path": "^/users/current$"}).json() == {"pending": ["503"]}
    assert api.get("/users/current").status_code == 503
    assert admin("POST", "faults", {"rate": 1.0, "kinds": ["502"], "seed": 1}).status_code == 200
    assert api.get("/users/current").status_code == 502
    assert admin("POST", "faults", {}).status_code == 200
    assert api.get("/users/current").status_code == 200
    assert admin("POST", "faults", {"script": ["teapot"]}).status_code == 400

    log = admin("GET", "requests").json()
    assert [(r["path"], r["status"], r["fault"]) for r in log[-3:]] == [
        ("/users/current", 503, "503"),
        ("/users/current", 502, "502"),
        ("/users/current", 200, None),
    ]
    assert all(r["query"].get("_apikey") == "***" for r in log) and not any("_emulator" in r["path"] for r in log)

    assert admin("POST", "config", {"crawl_seconds": 0.5}).json() == {"crawl_seconds": 0.5, "seconds_per_url": 0.0}
    assert emu.crawl_seconds == 0.5 and admin("POST", "config", {"speed": 1}).status_code == 400

    assert admin("POST", "reset").status_code == 200
    assert api.get(f"/extractors/{ext['guid']}").status_code == 404
    assert api.get("/users/current", key="second-key").status_code == 401
    assert api.get("/users/current").status_code == 200 and len(emu.requests) == 3


@pytest.fixture
def seed_file(tmp_path: Path) -> Path:
    seed = {
        "users": [{"api_key": "seed-user-key", "username": "seeded"}],
        "extractors": [{"name": "Seeded", "guid": SEEDED_ID, "inputs": ["https://s.example/1"]}],
        "reports": [{"extractor_id": SEEDED_ID, "name": "Seeded report"}],
    }
    path = tmp_path / "seed.json"
    path.write_text(json.dumps(seed))
    return path


def _start(*command: str) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(list(command), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    line = proc.stdout.readline() if proc.stdout else ""
    match = LISTENING.match(line)
    if match is None:
        proc.kill()
        pytest.fail(f"unexpected first line {line!r}: {proc.communicate()[1]}")
    return proc, match.group(1)


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_console_script_serves_until_sigterm(seed_file: Path, processes: list) -> None:
    proc, url = _start(
        str(VENV_BIN / "importio-emulator"), "--port", "0", "--api-key", "cli-key", "--seed", str(seed_file),
        "--crawl-seconds", "0.05",
    )
    processes.append(proc)
    key = {"_apikey": "cli-key"}
    assert requests.get(f"{url}/users/current", params=key, timeout=10).status_code == 200
    ext = requests.get(f"{url}/extractors/{SEEDED_ID}", params=key, timeout=10).json()
    assert ext["name"] == "Seeded"
    assert requests.get(f"{url}/reports/", params=key, timeout=10).json()[0]["name"] == "Seeded report"
    assert requests.get(f"{url}/users/current", params={"_apikey": "seed-user-key"}, timeout=10).status_code == 200
    assert requests.get(f"{url}/users/current", params={"_apikey": "wrong"}, timeout=10).status_code == 401
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=10) == 0
    assert proc.stdout is not None and proc.stdout.read() == ""  # exactly one line


def test_module_entry_point_with_faults_stops_on_sigint(processes: list) -> None:
    proc, url = _start(
        sys.executable, "-m", "airflow_provider_importio.testing.cli", "--port", "0",
        "--fault-rate", "1", "--fault-kinds", "503", "--fault-seed", "3",
    )
    processes.append(proc)
    assert requests.get(f"{url}/users/current", params={"_apikey": "test-key"}, timeout=10).status_code == 503
    assert requests.get(f"{url}/_emulator/requests", timeout=10).json()[0]["fault"] == "503"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=10) == 0


def test_console_script_rejects_bad_fault_kinds() -> None:
    done = subprocess.run(
        [str(VENV_BIN / "importio-emulator"), "--fault-rate", "0.5", "--fault-kinds", "teapot"],
        capture_output=True, text=True, timeout=30,
    )
    assert done.returncode == 2 and "teapot" in done.stderr and done.stdout == ""


def test_the_pytest_fixture(importio_emulator: ImportioEmulator) -> None:
    assert importio_emulator.crawl_seconds == 0.05 and importio_emulator.seconds_per_url == 0.0
    key = {"_apikey": importio_emulator.api_key}
    assert requests.get(importio_emulator.url + "/users/current", params=key, timeout=10).ok


def test_testing_package_is_import_light_and_airflow_free() -> None:
    code = (
        "import sys\n"
        "import airflow_provider_importio.testing.pytest_plugin\n"
        "assert 'airflow_provider_importio.testing.importio_emulator' not in sys.modules\n"
        "from airflow_provider_importio.testing import ImportioEmulator\n"
        "import airflow_provider_importio.testing.cli\n"
        "assert not any(m == 'airflow' or m.startswith('airflow.') for m in sys.modules), 'airflow imported'\n"
        "assert 'openpyxl' not in sys.modules\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
