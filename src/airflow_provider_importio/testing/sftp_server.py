"""A real SFTP server on loopback for tests: asyncssh, its event loop in a daemon thread.

Password authentication (one user), a host key generated per server (:attr:`SFTPTestServer.host_key`
is the public key in the ``host_key`` extra's form), files under a local root directory that the
client sees as ``/``. Faults for tests (:class:`SFTPFaults`, set with :meth:`SFTPTestServer.set_faults`):

* ``write_delay`` - seconds to wait before each write request (a slow upload);
* ``disconnect_after_bytes`` - drop the connection once this many bytes have been written;
* ``disk_full_after_bytes`` - fail writes past this many bytes ("No space left on device");
* ``posix_rename`` - ``False`` answers ``posix-rename@openssh.com`` with "operation unsupported";
* ``disconnect_rate`` - drop the connection at this share of the file requests named in
  ``disconnect_on`` (of ``open``, ``write``, ``stat``, ``mkdir``, ``rename``, ``remove``;
  default all), drawn from ``random.Random(seed)``; the request dropped is not carried out.

Byte counts run over every file written since the faults were last set.

    with SFTPTestServer(tmp_path / "sftp") as server:
        monkeypatch.setenv("AIRFLOW_CONN_SFTP_TEST", server.connection_json())
"""

from __future__ import annotations

import asyncio
import functools
import json
import logging
import random
import secrets
import threading
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The user the server accepts.
USERNAME = "importio"
#: File requests ``disconnect_rate`` can drop the connection at.
DISCONNECT_REQUESTS: tuple[str, ...] = ("open", "write", "stat", "mkdir", "rename", "remove")


@dataclass
class SFTPFaults:
    """Faults the server injects (see the module docstring)."""

    write_delay: float = 0.0
    disconnect_after_bytes: int | None = None
    disk_full_after_bytes: int | None = None
    posix_rename: bool = True
    disconnect_rate: float = 0.0
    disconnect_on: tuple[str, ...] = DISCONNECT_REQUESTS
    seed: int | None = None


@dataclass
class SFTPStats:
    """What clients did: bytes written, renames (``(old, new, posix)``), connections accepted, and
    connections dropped by ``disconnect_rate``, by the request dropped (``"open"``, ``"write"``, ...)."""

    bytes_written: int = 0
    renames: list[tuple[str, str, bool]] = field(default_factory=list)
    connections: int = 0
    disconnects: Counter[str] = field(default_factory=Counter)


class SFTPTestServer:
    """An SFTP server on ``host``:``port`` (``0``: an ephemeral port) serving ``root``.

    :param root: the directory clients see as ``/`` (created if missing).
    :param password: the user's password (default: random).
    :param key_type: the host key algorithm.
    """

    def __init__(self, root: str | Path, *, host: str = "127.0.0.1", port: int = 0, username: str = USERNAME,
                 password: str | None = None, key_type: str = "ssh-ed25519") -> None:
        import asyncssh

        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.host = host
        self.port = port
        self.username = username
        self.password = password or secrets.token_urlsafe(16)
        self._key = asyncssh.generate_private_key(key_type)
        self.faults = SFTPFaults()
        self.stats = SFTPStats()
        self._rng = random.Random()
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._acceptor: Any = None
        self._connections: set[Any] = set()

    # -- keys and connections -------------------------------------------------------------------

    @property
    def host_key(self) -> str:
        """The host's public key, ``"<type> <base64>"`` (the SSH connection's ``host_key`` extra)."""
        return " ".join(self._key.export_public_key("openssh").decode().split()[:2])

    @staticmethod
    def other_host_key(key_type: str = "ssh-ed25519") -> str:
        """A public key of a fresh key pair: a ``host_key`` this server does not have."""
        import asyncssh

        return " ".join(asyncssh.generate_private_key(key_type).export_public_key("openssh").decode().split()[:2])

    def connection(self, *, host_key: str | None = None, **extra: Any) -> dict[str, Any]:
        """An Airflow ``sftp`` connection (as a dict) to this server, verifying its host key."""
        return {
            "conn_type": "sftp", "host": self.host, "port": self.port, "login": self.username,
            "password": self.password,
            "extra": {"host_key": host_key or self.host_key, "look_for_keys": "false", **extra},
        }

    def connection_json(self, **kwargs: Any) -> str:
        """The connection as the JSON an ``AIRFLOW_CONN_<ID>`` variable holds."""
        connection = self.connection(**kwargs)
        if connection["extra"].get("host_key") is None:
            del connection["extra"]["host_key"]
        return json.dumps(connection)

    def path(self, remote: str) -> Path:
        """The local file behind a remote path."""
        return self.root / remote.lstrip("/")

    # -- faults -------------------------------------------------------------------------------------

    def set_faults(self, **faults: Any) -> SFTPFaults:
        """Replace the faults (unnamed ones off) and restart the byte count."""
        checked = SFTPFaults(**faults)
        if not 0.0 <= checked.disconnect_rate <= 1.0:
            raise ValueError("disconnect_rate must be between 0 and 1")
        unknown = set(checked.disconnect_on) - set(DISCONNECT_REQUESTS)
        if unknown:
            raise ValueError(f"unknown request(s) {sorted(unknown)} in disconnect_on; known: {list(DISCONNECT_REQUESTS)}")
        with self._lock:
            self.faults = checked
            self._rng = random.Random(checked.seed)
            self.stats.bytes_written = 0
        return self.faults

    def _drops(self, request: str) -> bool:
        """Whether ``disconnect_rate`` drops the connection at this request (counted when it does)."""
        with self._lock:
            rate = self.faults.disconnect_rate
            if rate <= 0 or request not in self.faults.disconnect_on or self._rng.random() >= rate:
                return False
            self.stats.disconnects[request] += 1
            return True

    def _written(self, count: int) -> int:
        with self._lock:
            self.stats.bytes_written += count
            return self.stats.bytes_written

    # -- lifecycle ----------------------------------------------------------------------------------

    def start(self) -> SFTPTestServer:
        logging.getLogger("asyncssh").setLevel(logging.WARNING)  # it logs every channel at INFO
        ready = threading.Event()
        errors: list[BaseException] = []

        def run() -> None:
            loop = asyncio.new_event_loop()
            self._loop = loop
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._listen())
            except BaseException as exc:  # noqa: BLE001 - handed to start()
                errors.append(exc)
                ready.set()
                return
            ready.set()
            loop.run_forever()
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

        self._thread = threading.Thread(target=run, name="sftp-test-server", daemon=True)
        self._thread.start()
        ready.wait(30)
        if errors:
            raise RuntimeError(f"SFTP test server did not start: {errors[0]}") from errors[0]
        return self

    async def _listen(self) -> None:
        import asyncssh

        self._acceptor = await asyncssh.listen(
            self.host, self.port, server_host_keys=[self._key], server_factory=lambda: _Auth(self),
            sftp_factory=lambda chan: _FaultySFTPServer(chan, self), allow_scp=False,
        )
        self.port = self._acceptor.sockets[0].getsockname()[1]

    async def _close(self) -> None:
        for conn in list(self._connections):
            conn.abort()
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()

    def stop(self) -> None:
        loop = self._loop
        if loop is None or not loop.is_running():
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        if self._thread is not None:
            self._thread.join(10)

    def __enter__(self) -> SFTPTestServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


@functools.cache
def _server_classes() -> tuple[type, type]:
    """The asyncssh server classes, defined on first use (asyncssh is imported only by tests that serve SFTP)."""
    import asyncssh

    class Auth(asyncssh.SSHServer):
        def __init__(self, owner: SFTPTestServer) -> None:
            self._owner = owner
            self._conn: Any = None

        def connection_made(self, conn: Any) -> None:
            self._conn = conn
            self._owner._connections.add(conn)
            with self._owner._lock:
                self._owner.stats.connections += 1

        def connection_lost(self, exc: Exception | None) -> None:
            self._owner._connections.discard(self._conn)

        def begin_auth(self, username: str) -> bool:
            return True

        def password_auth_supported(self) -> bool:
            return True

        def validate_password(self, username: str, password: str) -> bool:
            return secrets.compare_digest(username, self._owner.username) and \
                secrets.compare_digest(password, self._owner.password)

    class FaultySFTPServer(asyncssh.SFTPServer):
        def __init__(self, chan: Any, owner: SFTPTestServer) -> None:
            super().__init__(chan, chroot=str(owner.root).encode())
            self._owner = owner

        def _maybe_drop(self, request: str) -> None:
            if self._owner._drops(request):
                self.connection.abort()
                raise asyncssh.SFTPConnectionLost(f"connection dropped at {request} (injected fault)")

        def open(self, path: bytes, pflags: int, attrs: Any) -> Any:
            self._maybe_drop("open")
            return super().open(path, pflags, attrs)

        def stat(self, path: bytes) -> Any:
            self._maybe_drop("stat")
            return super().stat(path)

        def mkdir(self, path: bytes, attrs: Any) -> None:
            self._maybe_drop("mkdir")
            super().mkdir(path, attrs)

        def remove(self, path: bytes) -> None:
            self._maybe_drop("remove")
            super().remove(path)

        async def write(self, file_obj: Any, offset: int, data: bytes) -> int:
            self._maybe_drop("write")
            faults = self._owner.faults
            if faults.write_delay:
                await asyncio.sleep(faults.write_delay)
            total = self._owner._written(len(data))
            if faults.disconnect_after_bytes is not None and total > faults.disconnect_after_bytes:
                self.connection.abort()
                raise asyncssh.SFTPConnectionLost("connection dropped (injected fault)")
            if faults.disk_full_after_bytes is not None and total > faults.disk_full_after_bytes:
                raise asyncssh.SFTPFailure("No space left on device (injected fault)")
            return super().write(file_obj, offset, data)  # type: ignore[return-value]

        def rename(self, oldpath: bytes, newpath: bytes) -> None:
            self._maybe_drop("rename")
            super().rename(oldpath, newpath)
            self._owner.stats.renames.append((oldpath.decode(), newpath.decode(), False))

        def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
            self._maybe_drop("rename")
            if not self._owner.faults.posix_rename:
                raise asyncssh.SFTPOpUnsupported("posix-rename is not supported (injected fault)")
            super().posix_rename(oldpath, newpath)
            self._owner.stats.renames.append((oldpath.decode(), newpath.decode(), True))

    return Auth, FaultySFTPServer


def _Auth(owner: SFTPTestServer) -> Any:  # noqa: N802 - a class factory
    return _server_classes()[0](owner)


def _FaultySFTPServer(chan: Any, owner: SFTPTestServer) -> Any:  # noqa: N802 - a class factory
    return _server_classes()[1](chan, owner)
