"""docker-compose.yaml's services as processes on loopback: a distributed Airflow without Docker.

:class:`LocalCompose` reads the repo's ``docker-compose.yaml`` and runs what it describes, each
service a process of this machine: PostgreSQL and Redis from Debian's packages (:mod:`.postgres`,
:mod:`.redis_server`), the ``airflow-init`` steps, the api-server, scheduler, dag-processor,
triggerer and ``workers`` Celery workers (the file's ``airflow-worker``, scaled), the emulators,
moto and SFTP with the file's own commands, and the ``demo-setup`` seed. Every service gets the
file's ``x-airflow-common`` environment, rewritten by :func:`loopback_environment`:

* each service's host name and port (``postgres``, ``redis:6379``, ``moto:5000`` ...) become
  ``127.0.0.1`` and a free port, in URLs and in connection JSON;
* the paths of the image (``/opt/airflow``, ``/opt/importio``) become a work folder and the repo;
* the FAB auth manager, not installed here, becomes Airflow's SimpleAuthManager with the same
  admin login (``airflow``/``airflow``);
* per-process ports that would clash on one host (log servers, the scheduler's health check) move.

Everything else (executor, broker, result backend, JWT secret, connections, the provider's
settings) is the file's, so a run here checks the file. Logs: ``<workdir>/logs/<service>.log``.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests
import yaml

from airflow_provider_importio.testing.postgres import PostgresServer, free_port
from airflow_provider_importio.testing.redis_server import RedisServer

REPO = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO / "docker-compose.yaml"
VENV_BIN = Path(sys.executable).parent
#: Where the image keeps things (Dockerfile): Airflow's home, and this repo's copy.
IMAGE_AIRFLOW_HOME, IMAGE_REPO = "/opt/airflow", "/opt/importio"
#: The Airflow services the official file runs with the image's ``airflow`` entrypoint.
AIRFLOW_SERVICES = ("airflow-apiserver", "airflow-scheduler", "airflow-dag-processor", "airflow-triggerer",
                    "airflow-worker")
EMULATOR_SERVICES = ("importio-emulator", "stitch-emulator", "moto", "sftp", "pagerduty-emulator")
SIMPLE_AUTH_MANAGER = "airflow.api_fastapi.auth.managers.simple.simple_auth_manager.SimpleAuthManager"
_INTERPOLATION = re.compile(r"\$\{(?P<name>\w+)(?::-(?P<default>[^}]*))?\}")


def load_compose(path: Path = COMPOSE_FILE) -> dict[str, Any]:
    """The file with anchors and ``<<`` merges resolved (YAML does both)."""
    return yaml.safe_load(path.read_text())


def interpolate(value: str, environ: Mapping[str, str] | None = None) -> str:
    """Compose's ``${NAME:-default}`` (from ``environ``, by default nothing: the defaults apply)."""
    environ = environ or {}
    return _INTERPOLATION.sub(lambda m: environ.get(m["name"]) or (m["default"] or ""), value)


def _option(argv: list[str], *names: str) -> str | None:
    for name in names:
        if name in argv:
            return argv[argv.index(name) + 1]
    return None


def _set_option(argv: list[str], names: tuple[str, ...], value: str) -> list[str]:
    argv = list(argv)
    for name in names:
        if name in argv:
            argv[argv.index(name) + 1] = value
            return argv
    return [*argv, names[0], value]


def service_ports(compose: Mapping[str, Any]) -> dict[str, int]:
    """Each network service's port inside the compose network."""
    ports = {"postgres": 5432, "redis": 6379, "airflow-apiserver": 8080}
    for name in EMULATOR_SERVICES:
        port = _option(compose["services"][name]["command"], "--port", "-p")
        if port is None:
            raise ValueError(f"docker-compose.yaml: service {name} has no --port/-p in its command")
        ports[name] = int(port)
    return ports


def rewrite_hosts(text: str, where: Mapping[str, tuple[int, int]]) -> str:
    """``//name:port``, ``@name:port`` and ``@name/`` of each compose service -> ``127.0.0.1:local``."""
    for name, (inner, local) in where.items():
        pattern = re.compile(rf"(?P<pre>//|@){re.escape(name)}(?::(?P<port>\d+))?(?=[/\"?]|$)")

        def swap(m: re.Match[str], inner: int = inner, local: int = local) -> str:
            if m["port"] and int(m["port"]) != inner:
                return m[0]
            return f"{m['pre']}127.0.0.1:{local}"

        text = pattern.sub(swap, text)
    return text


def _rewrite_connection(value: str, where: Mapping[str, tuple[int, int]]) -> str:
    """A JSON connection: its host/port fields and any URL inside it."""
    conn = json.loads(value)
    host = conn.get("host")
    if host in where:
        inner, local = where[host]
        if conn.get("port") in (None, inner):
            conn["host"], conn["port"] = "127.0.0.1", local
    return rewrite_hosts(json.dumps(conn), where)


def loopback_environment(common: Mapping[str, Any], where: Mapping[str, tuple[int, int]], *, workdir: Path,
                         dags_folder: Path) -> dict[str, str]:
    """The file's ``x-airflow-common`` environment for processes of this host (module docstring)."""
    env: dict[str, str] = {}
    for name, raw in common.items():
        value = interpolate(str(raw))
        if name.startswith("AIRFLOW_CONN_") and value.lstrip().startswith("{"):
            value = _rewrite_connection(value, where)
        else:
            value = rewrite_hosts(value, where)
        env[name] = value.replace(IMAGE_REPO, str(REPO)).replace(IMAGE_AIRFLOW_HOME + "/", f"{workdir}/")
    home = workdir / "airflow-home"
    env["AIRFLOW_HOME"] = str(home)
    env["AIRFLOW_CONFIG"] = str(home / "airflow.cfg")
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags_folder)  # the file mounts ./dags at /opt/airflow/dags
    if "fab" in env.get("AIRFLOW__CORE__AUTH_MANAGER", ""):
        env["AIRFLOW__CORE__AUTH_MANAGER"] = SIMPLE_AUTH_MANAGER
    env["AIRFLOW__SCHEDULER__SCHEDULER_HEALTH_CHECK_SERVER_PORT"] = str(free_port())
    env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] = str(free_port())
    env["AIRFLOW__LOGGING__TRIGGER_LOG_SERVER_PORT"] = str(free_port())
    return env


@dataclass
class Process:
    name: str
    argv: list[str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


@dataclass
class LocalCompose:
    """Start with ``with LocalCompose(workdir) as stack:``; see the module docstring.

    :param overrides: environment set over the file's (what a ``docker-compose.override.yaml`` would).
    """

    workdir: Path
    workers: int = 2
    compose_file: Path = COMPOSE_FILE
    dags_folder: Path = REPO / "dags"
    overrides: Mapping[str, str] = field(default_factory=dict)
    start_timeout: float = 240.0
    compose: dict[str, Any] = field(init=False, default_factory=dict)
    env: dict[str, str] = field(init=False, default_factory=dict)
    ports: dict[str, int] = field(init=False, default_factory=dict)
    processes: list[Process] = field(init=False, default_factory=list)
    admin: tuple[str, str] = field(init=False, default=("airflow", "airflow"))
    postgres: PostgresServer | None = field(init=False, default=None)
    redis: RedisServer | None = field(init=False, default=None)

    # -- life cycle ---------------------------------------------------------------------------------

    def __enter__(self) -> LocalCompose:
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        self.compose = load_compose(self.compose_file)
        services = self.compose["services"]
        pg_env = services["postgres"]["environment"]
        self.postgres = PostgresServer(user=pg_env["POSTGRES_USER"], password=pg_env["POSTGRES_PASSWORD"],
                                       database=pg_env["POSTGRES_DB"]).start()
        self.redis = RedisServer().start()
        inner = service_ports(self.compose)
        self.ports = {"postgres": self.postgres.port, "redis": self.redis.port,  # type: ignore[dict-item]
                      **{name: free_port() for name in ("airflow-apiserver", *EMULATOR_SERVICES)}}
        where = {name: (inner[name], self.ports[name]) for name in inner}
        self.env = {**{k: v for k, v in os.environ.items() if not k.startswith(("AIRFLOW", "_AIRFLOW"))},
                    **loopback_environment(self.compose["x-airflow-common"]["environment"], where,
                                           workdir=self.workdir, dags_folder=self.dags_folder),
                    **self.overrides}
        self.env["HOME"] = str(self.workdir)  # no ~/.ssh or ~/.aws of this machine plays a part
        self.env["PATH"] = f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}"
        self._simple_auth_users(services["airflow-init"]["environment"])

        for name in EMULATOR_SERVICES:
            self._spawn(name, self._emulator_argv(name, services[name]["command"]))
        self._init(services["airflow-init"])
        for name in AIRFLOW_SERVICES:
            if name == "airflow-worker":
                for n in range(1, self.workers + 1):
                    self._spawn(f"airflow-worker-{n}", self._airflow_argv(name, services[name]["command"], n))
            else:
                self._spawn(name, self._airflow_argv(name, services[name]["command"]))
        self.wait_healthy()
        self._run_once("demo-setup", self._setup_argv(services["demo-setup"]["command"]))

    def stop(self) -> None:
        for process in reversed(self.processes):
            _stop(process.proc)
        for server in (self.redis, self.postgres):
            if server is not None:
                server.stop()

    # -- commands ---------------------------------------------------------------------------------

    def _simple_auth_users(self, init_env: Mapping[str, Any]) -> None:
        """The admin the file's init creates (``_AIRFLOW_WWW_USER_*``), as a SimpleAuthManager user."""
        user = interpolate(str(init_env.get("_AIRFLOW_WWW_USER_USERNAME", "airflow")))
        password = interpolate(str(init_env.get("_AIRFLOW_WWW_USER_PASSWORD", "airflow")))
        self.admin = (user, password)
        if self.env.get("AIRFLOW__CORE__AUTH_MANAGER") == SIMPLE_AUTH_MANAGER:
            passwords = self.workdir / "simple_auth_passwords.json"
            passwords.write_text(json.dumps({user: password}))
            self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS"] = f"{user}:admin"
            self.env["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"] = str(passwords)

    def _emulator_argv(self, name: str, command: list[str]) -> list[str]:
        argv = _set_option(command, ("--host", "-H"), "127.0.0.1")
        argv = _set_option(argv, ("--port", "-p"), str(self.ports[name]))
        root = _option(argv, "--root")
        if root is not None:
            argv = _set_option(argv, ("--root",), str(self.workdir / root.strip("/").replace("/", "_")))
        return self._local_program(argv)

    def _local_program(self, argv: list[str]) -> list[str]:
        """``python`` and console scripts from this venv; the image's paths -> the repo, the work folder."""
        first = sys.executable if argv[0] == "python" else str(VENV_BIN / argv[0])
        return [first, *(a.replace(IMAGE_REPO, str(REPO)).replace(IMAGE_AIRFLOW_HOME + "/", f"{self.workdir}/")
                         for a in argv[1:])]

    def _airflow_argv(self, name: str, command: str, number: int = 0) -> list[str]:
        argv = [str(VENV_BIN / "airflow"), *command.split()]
        if name == "airflow-apiserver":
            argv += ["--host", "127.0.0.1", "--port", str(self.ports["airflow-apiserver"]), "--workers", "1"]
        elif name == "airflow-worker":
            argv += ["--celery-hostname", f"worker{number}@%h", "--skip-serve-logs"]
        elif name == "airflow-triggerer":
            argv += ["--skip-serve-logs"]
        return argv

    def _setup_argv(self, command: list[str]) -> list[str]:
        return self._local_program(command)

    def _init(self, service: Mapping[str, Any]) -> None:
        """The file's airflow-init: Airflow's migration (``_AIRFLOW_DB_MIGRATE``), then its own script lines."""
        if str(service["environment"].get("_AIRFLOW_DB_MIGRATE")).lower() == "true":
            self._run_once("airflow-init-db-migrate", [str(VENV_BIN / "airflow"), "db", "migrate"])
        script = service["command"][-1]
        for n, line in enumerate(ln.strip() for ln in script.splitlines()):
            if "compose_setup.py" in line:
                words = line.split()
                start = next(i for i, w in enumerate(words) if w == "python")
                self._run_once(f"airflow-init-{n}", self._local_program(words[start:]))

    def _spawn(self, name: str, argv: list[str]) -> Process:
        process = Process(name, argv, self.workdir / "logs" / f"{name}.log")
        with process.log.open("ab") as out:
            process.proc = subprocess.Popen(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT,
                                            cwd=self.workdir, start_new_session=True)
        self.processes.append(process)
        return process

    def _run_once(self, name: str, argv: list[str], timeout: float = 300) -> None:
        log = self.workdir / "logs" / f"{name}.log"
        with log.open("ab") as out:
            done = subprocess.run(argv, env=self.env, stdout=out, stderr=subprocess.STDOUT, cwd=self.workdir,
                                  timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"{name} ({' '.join(argv)}) exited {done.returncode}:\n"
                               + "\n".join(log.read_text(errors='replace').splitlines()[-40:]))

    # -- health -----------------------------------------------------------------------------------

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['airflow-apiserver']}"

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    def wait_healthy(self) -> dict[str, Any]:
        """Until the api-server reports every component healthy and each worker says ``ready``."""
        deadline = time.monotonic() + self.start_timeout
        health: dict[str, Any] = {}
        while True:
            self._check_alive()
            try:
                health = requests.get(f"{self.api_url}/api/v2/monitor/health", timeout=5).json()
            except (requests.RequestException, ValueError):
                health = {}
            parts = ("metadatabase", "scheduler", "triggerer", "dag_processor")
            ready_workers = [p for p in self.processes if p.name.startswith("airflow-worker")
                             and " ready." in p.tail(200)]
            if all((health.get(part) or {}).get("status") == "healthy" for part in parts) \
                    and len(ready_workers) == self.workers:
                return health
            if time.monotonic() > deadline:
                raise TimeoutError(f"not healthy after {self.start_timeout:.0f} s: {health}; "
                                   f"workers ready {len(ready_workers)}/{self.workers}\n{self.logs_tail()}")
            time.sleep(1)

    def _check_alive(self) -> None:
        dead = [p for p in self.processes if p.proc is not None and p.proc.poll() is not None]
        if dead:
            raise RuntimeError("exited: " + ", ".join(f"{p.name} ({p.proc.returncode})" for p in dead)  # type: ignore[union-attr]
                               + "\n" + "\n".join(f"--- {p.name}\n{p.tail()}" for p in dead))

    def logs_tail(self, lines: int = 15) -> str:
        return "\n".join(f"--- {p.name} ({p.log})\n{p.tail(lines)}" for p in self.processes)

    # -- the REST API, as a person in the UI -------------------------------------------------------

    def api(self) -> requests.Session:
        """A session on the public REST API, logged in as the file's admin."""
        session = requests.Session()
        user, password = self.admin
        answer = session.post(f"{self.api_url}/auth/token", json={"username": user, "password": password}, timeout=30)
        answer.raise_for_status()
        session.headers["Authorization"] = f"Bearer {answer.json()['access_token']}"
        return session

    def first_run(self, dag_id: str, *, ready_timeout: float = 180, scheduled_wait: float = 60,
                  unpause: bool = True, api: requests.Session | None = None) -> str:
        """The id of ``dag_id``'s first run: once the dag-processor has parsed it (and, with ``unpause``,
        it is unpaused through the REST API), the run the scheduler starts by itself (the latest tick:
        catchup is off) within ``scheduled_wait`` seconds, else one triggered as a person in the UI would."""
        api = api or self.api()
        base = self.api_url
        deadline = time.monotonic() + ready_timeout
        while True:  # the dag-processor must have parsed the DAG first
            dag = api.get(f"{base}/api/v2/dags/{dag_id}", timeout=30)
            if dag.status_code == 200:
                if not dag.json()["is_paused"]:
                    break
                if unpause:
                    api.patch(f"{base}/api/v2/dags/{dag_id}", json={"is_paused": False}, timeout=30).raise_for_status()
                    continue
            if time.monotonic() > deadline:
                raise TimeoutError(f"{dag_id} not ready: {dag.status_code} {dag.text[:300]}")
            time.sleep(1)
        deadline = time.monotonic() + scheduled_wait
        while time.monotonic() < deadline:
            runs = api.get(f"{base}/api/v2/dags/{dag_id}/dagRuns", timeout=30).json()["dag_runs"]
            if runs:
                return str(runs[0]["dag_run_id"])
            time.sleep(2)
        answer = api.post(f"{base}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None}, timeout=30)
        answer.raise_for_status()
        return str(answer.json()["dag_run_id"])

    def worker_logs(self) -> Iterator[Process]:
        return (p for p in self.processes if p.name.startswith("airflow-worker"))


def _stop(proc: subprocess.Popen[bytes] | None, timeout: float = 20) -> None:
    """SIGTERM the process group (Celery's warm shutdown, Airflow's graceful exits), then SIGKILL."""
    if proc is None or proc.poll() is not None:
        return
    for sig, wait in ((signal.SIGTERM, timeout), (signal.SIGKILL, 10)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue
