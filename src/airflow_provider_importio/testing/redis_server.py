"""A throwaway Redis server for tests, from Debian's package (``apt-get install redis-server``).

:class:`RedisServer` starts ``redis-server`` on a free loopback port with no persistence, in a
temporary folder, and stops it on exit. ``IMPORTIO_REDIS_SERVER`` names another binary. The
:func:`redis_server` fixture skips, with the reason, when none can start, unless
``IMPORTIO_REQUIRE_REDIS=1`` (then it fails; CI sets it so the distributed run is never skipped
silently).
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from airflow_provider_importio.testing.postgres import free_port

INSTALL_HINT = "install Debian's Redis server: apt-get install -y --no-install-recommends redis-server"


class RedisUnavailable(RuntimeError):
    """No Redis server could be started here; the message says why."""


def find_redis_server() -> str:
    found = os.environ.get("IMPORTIO_REDIS_SERVER") or shutil.which("redis-server") or "/usr/bin/redis-server"
    if not Path(found).is_file():
        raise RedisUnavailable(f"redis-server not found on PATH; {INSTALL_HINT}")
    return found


class RedisServer:
    """A private Redis on 127.0.0.1 (context manager); :attr:`url` is ``redis://127.0.0.1:PORT/0``."""

    def __init__(self, *, start_timeout: float = 30.0) -> None:
        self.start_timeout = start_timeout
        self.port: int | None = None
        self.base_dir: Path | None = None
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        binary = find_redis_server()
        self.base_dir = Path(tempfile.mkdtemp(prefix="importio-redis-"))
        log = self.base_dir / "redis.log"
        try:
            for _ in range(3):  # the free port may be taken between choosing and binding it
                self.port = free_port()
                self.proc = subprocess.Popen(
                    [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--dir", str(self.base_dir),
                     "--save", "", "--appendonly", "no", "--logfile", str(log), "--daemonize", "no"],
                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
                if self._wait_until_ready(log):
                    return self
                self._stop_process()
            raise RedisUnavailable(f"redis-server did not start: {_tail(log)}")
        except BaseException:
            self.stop()
            raise

    def _wait_until_ready(self, log: Path) -> bool:
        assert self.proc is not None
        deadline = time.monotonic() + self.start_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                if "Address already in use" in _tail(log, 20):
                    return False
                raise RedisUnavailable(f"redis-server exited with {self.proc.returncode}: {_tail(log)}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        return True
            except OSError:
                pass
            time.sleep(0.05)
        raise RedisUnavailable(f"redis-server did not answer PING within {self.start_timeout:.0f} s: {_tail(log)}")

    def stop(self) -> None:
        self._stop_process()
        if self.base_dir is not None:
            shutil.rmtree(self.base_dir, ignore_errors=True)
            self.base_dir = None

    def _stop_process(self) -> None:
        proc, self.proc = self.proc, None
        if proc is None or proc.poll() is not None:
            return
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)

    def __enter__(self) -> RedisServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _tail(log: Path, lines: int = 5) -> str:
    try:
        return " | ".join(log.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return "(no log)"


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """A Redis server for the session (skipped, with the reason, if it cannot start)."""
    server = RedisServer()
    try:
        server.start()
    except (RedisUnavailable, OSError, subprocess.SubprocessError) as exc:
        if os.environ.get("IMPORTIO_REQUIRE_REDIS", "").lower() in ("1", "true", "yes"):
            pytest.fail(f"Redis is required (IMPORTIO_REQUIRE_REDIS) but unavailable: {exc}", pytrace=False)
        pytest.skip(f"Redis unavailable: {exc}")
    try:
        yield server
    finally:
        server.stop()
