"""A throwaway PostgreSQL server for tests, from Debian's packages (``apt-get install postgresql``).

:class:`PostgresServer` runs ``initdb`` into a temporary folder and starts ``postgres`` on a free
loopback port (no Unix socket outside that folder, no system service touched). PostgreSQL refuses
to run as root, so under root both run as the unprivileged user ``nobody`` (override with
``IMPORTIO_PG_OS_USER``), which owns the folder. ``IMPORTIO_PG_BIN`` points at another ``bin``
folder. The pytest fixtures skip, with the reason, when no server can be started, unless
``IMPORTIO_REQUIRE_POSTGRES=1`` (then they fail: set it in CI so PostgreSQL is never skipped
silently).
"""

from __future__ import annotations

import glob
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

#: Debian installs each major version's server under /usr/lib/postgresql/<major>/bin.
DEBIAN_GLOB = "/usr/lib/postgresql/*/bin"
INSTALL_HINT = "install Debian's PostgreSQL server: apt-get install -y --no-install-recommends postgresql"


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server could be started here; the message says why."""


def find_postgres_bin() -> Path:
    """The folder holding ``initdb`` and ``postgres`` (the newest Debian version wins)."""
    candidates: list[str] = []
    if os.environ.get("IMPORTIO_PG_BIN"):
        candidates.append(os.environ["IMPORTIO_PG_BIN"])
    candidates += sorted(glob.glob(DEBIAN_GLOB), key=_major_version, reverse=True)
    found = shutil.which("initdb")
    if found:
        candidates.append(str(Path(found).resolve().parent))
    for folder in candidates:
        path = Path(folder)
        if (path / "initdb").is_file() and (path / "postgres").is_file():
            return path
    raise PostgresUnavailable(f"PostgreSQL server binaries (initdb, postgres) not found in {DEBIAN_GLOB} "
                              f"or on PATH; {INSTALL_HINT}")


def _major_version(folder: str) -> float:
    try:
        return float(Path(folder).parent.name)
    except ValueError:
        return 0.0


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PostgresServer:
    """A private PostgreSQL server on 127.0.0.1 (use as a context manager, or start/stop).

    :attr:`url` is the SQLAlchemy URL (psycopg 3) of database *database*, owned by the superuser
    *user* who logs in with *password* (SCRAM over TCP, as in production).
    """

    def __init__(self, bin_dir: Path | None = None, *, user: str = "importio", password: str = "importio-test-pw",
                 database: str = "importio_store", start_timeout: float = 60.0) -> None:
        self.bin_dir = bin_dir
        self.user, self.password, self.database = user, password, database
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None
        self._run_as: dict[str, Any] = {}

    # -- life cycle -------------------------------------------------------------------------

    def start(self) -> PostgresServer:
        bin_dir = self.bin_dir or find_postgres_bin()
        self.base_dir = Path(tempfile.mkdtemp(prefix="importio-pg-"))
        try:
            self._run_as = self._unprivileged_user()
            data, pwfile, log = self.base_dir / "data", self.base_dir / "pwfile", self.base_dir / "postgres.log"
            pwfile.write_text(self.password + "\n")
            self._chown(self.base_dir, pwfile)
            self._run([str(bin_dir / "initdb"), "-D", str(data), "-U", self.user, f"--pwfile={pwfile}",
                       "--auth-host=scram-sha-256", "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync"],
                      "initdb")
            pwfile.unlink()
            last_error = ""
            for _ in range(3):  # the free port may be taken between choosing and binding it
                self.port = free_port()
                with open(log, "ab") as log_file:
                    self.proc = subprocess.Popen(
                        [str(bin_dir / "postgres"), "-D", str(data), "-k", str(self.base_dir), "-p", str(self.port),
                         "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off",
                         "-c", "full_page_writes=off", "-c", "max_connections=100"],
                        stdout=log_file, stderr=subprocess.STDOUT, cwd=self.base_dir, env=self._env(),
                        start_new_session=True, **self._run_as,
                    )
                try:
                    self._wait_until_ready(log)
                    break
                except PostgresUnavailable as exc:
                    last_error = str(exc)
                    self._stop_process()
                    if "could not bind" not in last_error and "Address already in use" not in last_error:
                        raise
            else:
                raise PostgresUnavailable(last_error)
            self._admin(f'CREATE DATABASE "{self.database}"')
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        self._stop_process()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def __enter__(self) -> PostgresServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- databases --------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return self.url_for(self.database)

    def url_for(self, database: str) -> str:
        from urllib.parse import quote

        return (f"postgresql+psycopg://{quote(self.user, safe='')}:{quote(self.password, safe='')}"
                f"@127.0.0.1:{self.port}/{database}")

    def create_database(self, name: str | None = None) -> str:
        """A new empty database; returns its URL."""
        name = name or f"test_{uuid.uuid4().hex[:12]}"
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password,
                             dbname="postgres", autocommit=True, connect_timeout=10) as conn:
            conn.execute(sql)  # type: ignore[arg-type]

    # -- helpers ----------------------------------------------------------------------------

    def _unprivileged_user(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        import pwd

        name = os.environ.get("IMPORTIO_PG_OS_USER", "nobody")
        try:
            entry = pwd.getpwnam(name)
        except KeyError:
            raise PostgresUnavailable(f"running as root and there is no user {name!r} to run PostgreSQL as "
                                      "(PostgreSQL refuses root); set IMPORTIO_PG_OS_USER") from None
        return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}

    def _chown(self, *paths: Path) -> None:
        if self._run_as:
            for path in paths:
                os.chown(path, self._run_as["user"], self._run_as["group"])

    @staticmethod
    def _env() -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return env

    def _run(self, argv: list[str], what: str) -> None:
        result = subprocess.run(argv, capture_output=True, text=True, cwd=self.base_dir, env=self._env(),
                                timeout=120, **self._run_as)
        if result.returncode != 0:
            output = (result.stdout + result.stderr).strip().splitlines()
            raise PostgresUnavailable(f"{what} failed (exit {result.returncode}): " + " | ".join(output[-5:]))

    def _wait_until_ready(self, log: Path) -> None:
        import psycopg

        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while True:
            if self.proc.poll() is not None:
                raise PostgresUnavailable(f"postgres exited with {self.proc.returncode}: {_tail(log)}")
            try:
                psycopg.connect(host="127.0.0.1", port=self.port, user=self.user, password=self.password,
                                dbname="postgres", connect_timeout=2).close()
                return
            except psycopg.OperationalError as exc:
                if time.monotonic() > deadline:
                    raise PostgresUnavailable(f"postgres did not accept connections within "
                                              f"{self.start_timeout:.0f} s: {exc}; log: {_tail(log)}") from None
            time.sleep(0.1)

    def _stop_process(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGINT)  # "fast" shutdown: ends sessions, no checkpoint wait
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _unavailable(reason: str) -> None:
    if os.environ.get("IMPORTIO_REQUIRE_POSTGRES", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"PostgreSQL is required (IMPORTIO_REQUIRE_POSTGRES) but unavailable: {reason}", pytrace=False)
    pytest.skip(f"PostgreSQL unavailable: {reason}")


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PostgresServer]:
    """A PostgreSQL server for the whole session (skipped, with the reason, if it cannot start)."""
    server = PostgresServer()
    try:
        server.start()
    except (PostgresUnavailable, OSError, subprocess.SubprocessError) as exc:
        _unavailable(str(exc))
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """The URL of a fresh, empty database on :func:`postgres_server`, dropped after the test."""
    url = postgres_server.create_database()
    try:
        yield url
    finally:
        postgres_server.drop_database(url.rsplit("/", 1)[1])
