"""Kill a task of a running Airflow in the middle of its work, and watch destinations meanwhile.

For the kill-and-retry test (``tests/integration/reliability/test_kill_and_retry.py``):

* :class:`DelayProxy` - a TCP proxy in front of an HTTP service (moto's S3, an emulator) that holds
  one chosen request (method and path, the n-th match) until released, so a task is known to be in
  the middle of that request; it knows the client's port, hence the process that sent it.
* :func:`task_process` / :func:`process_on_port` - Airflow 3 runs each task instance in a child of a
  "supervisor" (``airflow.sdk.execution_time.supervisor``); the child's title is
  ``airflow worker -- <task instance id>`` (the REST API's ``id`` of the try). :func:`kill` sends it
  SIGKILL: the supervisor sees its child die without a final state, reports the try failed to the
  execution API, and the API server moves it to ``up_for_retry`` while retries are left.
* :class:`DestinationWatcher` - polls destinations (an SFTP root, an S3 bucket) in a thread and
  remembers every version of every final-named file it saw, so a test can check that no reader
  ever saw a partial file (each version seen equals the final one).
"""

from __future__ import annotations

import hashlib
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: The title of a task process (``task_runner.startup``: ``setproctitle(f"airflow worker -- {ti.id}")``).
TASK_TITLE = "airflow worker -- "
_REQUEST_LINE = re.compile(rb"^(?P<method>[A-Z]+) (?P<path>\S+) HTTP/1\.[01]\r\n")


# -- processes ----------------------------------------------------------------------------------


def task_processes() -> dict[str, Any]:
    """Every task process of this host: task instance id -> :class:`psutil.Process`."""
    import psutil

    found: dict[str, Any] = {}
    for proc in psutil.process_iter(["cmdline"]):
        cmdline = proc.info.get("cmdline") or []
        title = " ".join(cmdline)
        if title.startswith(TASK_TITLE):
            found[title[len(TASK_TITLE):].strip()] = proc
    return found


def task_process(ti_id: str) -> Any | None:
    """The process running task instance try ``ti_id`` (the REST API's ``id``), or ``None``."""
    return task_processes().get(ti_id)


def process_on_port(port: int, candidates: Iterable[Any] | None = None) -> Any | None:
    """The task process with a TCP connection from local ``port`` (a client socket's own port)."""
    import psutil

    for proc in candidates if candidates is not None else task_processes().values():
        try:
            if any(c.laddr and c.laddr.port == port for c in proc.net_connections(kind="tcp")):
                return proc
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return None


def processes_connected_to(port: int, candidates: Iterable[Any] | None = None) -> list[Any]:
    """Task processes with an open TCP connection to local server ``port``."""
    import psutil

    found = []
    for proc in candidates if candidates is not None else task_processes().values():
        try:
            if any(c.raddr and c.raddr.port == port and c.status == psutil.CONN_ESTABLISHED
                   for c in proc.net_connections(kind="tcp")):
                found.append(proc)
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
    return found


@dataclass
class Kill:
    """One SIGKILL: what was killed, its supervisor, and why."""

    what: str
    pid: int
    title: str
    supervisor_pid: int
    supervisor_title: str
    at: float = field(default_factory=time.monotonic)
    ti_id: str | None = None
    survived: bool | None = None
    detail: str = ""

    #: ``pid`` is the task's supervisor (``supervisor_*`` then describe the task process, killed too).
    whole_supervisor: bool = False

    def describe(self) -> str:
        tail = f" - {self.detail}" if self.detail else ""
        if self.whole_supervisor:
            return (f"{self.what}: SIGKILL supervisor pid {self.pid} ({self.title.strip()!r}) and its task "
                    f"process pid {self.supervisor_pid} ({self.supervisor_title.strip()!r}){tail}")
        return (f"{self.what}: SIGKILL task process pid {self.pid} ({self.title.strip()!r}), child of supervisor "
                f"pid {self.supervisor_pid} ({self.supervisor_title.strip()!r}){tail}")


def kill(proc: Any, what: str, *, detail: str = "") -> Kill:
    """SIGKILL ``proc`` (a task process) and wait for it to be gone."""
    import psutil

    title = " ".join(proc.cmdline())
    try:
        parent = proc.parent()
        parent_pid, parent_title = (parent.pid, " ".join(parent.cmdline())) if parent else (0, "")
    except psutil.NoSuchProcess:
        parent_pid, parent_title = 0, ""
    record = Kill(what, proc.pid, title, parent_pid, parent_title, detail=detail,
                  ti_id=title[len(TASK_TITLE):].strip() if title.startswith(TASK_TITLE) else None)
    proc.send_signal(signal.SIGKILL)
    try:
        proc.wait(timeout=10)
    except psutil.TimeoutExpired:  # a zombie until the supervisor reaps it
        pass
    except psutil.NoSuchProcess:
        pass
    return record


def kill_supervisor(proc: Any, what: str, *, detail: str = "") -> Kill:
    """SIGKILL the supervisor of task process ``proc`` (for LocalExecutor one of its worker processes,
    for Celery a pool process), then ``proc``: nobody reports the try's end nor heartbeats it, so
    the scheduler finds it only after ``[scheduler] task_instance_heartbeat_timeout``."""
    import psutil

    supervisor = proc.parent()
    record = Kill(what, supervisor.pid, " ".join(supervisor.cmdline()), proc.pid, " ".join(proc.cmdline()),
                  detail=detail, whole_supervisor=True)
    title = record.supervisor_title
    record.ti_id = title[len(TASK_TITLE):].strip() if title.startswith(TASK_TITLE) else None
    for victim in (supervisor, proc):
        try:
            victim.send_signal(signal.SIGKILL)
        except psutil.NoSuchProcess:
            pass
    for victim in (supervisor, proc):
        try:
            victim.wait(timeout=10)
        except (psutil.TimeoutExpired, psutil.NoSuchProcess):
            pass
    return record


# -- a proxy that holds a chosen request --------------------------------------------------------


@dataclass
class Hold:
    """A rule: hold the ``skip``+1-th request matching ``method`` and ``path`` (a regex, searched)."""

    method: str
    path: str
    skip: int = 0
    timeout: float = 120.0
    seen: int = 0
    #: Once holding: the client's port, the request line, and when it was caught.
    client_port: int | None = None
    request: str = ""
    caught_at: float | None = None
    _release: threading.Event = field(default_factory=threading.Event)
    _forward: bool = True

    def matches(self, method: str, path: str) -> bool:
        return method == self.method.upper() and re.search(self.path, path) is not None

    @property
    def holding(self) -> bool:
        return self.caught_at is not None and not self._release.is_set()

    def release(self, *, forward: bool = True) -> None:
        """Let the request through (``forward``), or drop its connection (its sender is gone)."""
        self._forward = forward
        self._release.set()


class DelayProxy:
    """A TCP proxy on loopback to ``upstream()`` (called per connection: the port may be known late)
    that holds requests chosen with :meth:`hold`. HTTP/1.1 in clear: each request's first bytes
    start with its request line (a keep-alive connection's requests one after another)."""

    def __init__(self, upstream: Callable[[], tuple[str, int]], *, name: str = "proxy") -> None:
        self.upstream = upstream
        self.name = name
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._server.getsockname()[1]
        self._rules: list[Hold] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self.requests: list[tuple[float, str, str]] = []
        self._sockets: set[socket.socket] = set()
        threading.Thread(target=self._accept, name=f"{name}-accept", daemon=True).start()

    def __enter__(self) -> DelayProxy:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def hold(self, method: str, path: str, *, skip: int = 0, timeout: float = 120.0) -> Hold:
        rule = Hold(method, path, skip=skip, timeout=timeout)
        with self._lock:
            self._rules.append(rule)
        return rule

    def close(self) -> None:
        self._closed.set()
        with self._lock:
            for rule in self._rules:
                rule.release(forward=False)
            sockets = list(self._sockets)
        for sock in [self._server, *sockets]:
            try:
                sock.close()
            except OSError:
                pass

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(client,), name=f"{self.name}-conn", daemon=True).start()

    def _rule_for(self, method: str, path: str) -> Hold | None:
        with self._lock:
            for rule in self._rules:
                if rule.caught_at is None and rule.matches(method, path):
                    rule.seen += 1
                    if rule.seen > rule.skip:
                        return rule
        return None

    def _serve(self, client: socket.socket) -> None:
        try:
            server = socket.create_connection(self.upstream(), timeout=30)
        except OSError:
            client.close()
            return
        server.settimeout(None)
        with self._lock:
            self._sockets.update((client, server))
        threading.Thread(target=self._pipe, args=(server, client), daemon=True).start()
        port = client.getpeername()[1]
        try:
            while True:
                data = client.recv(65536)
                if not data:
                    break
                line = _REQUEST_LINE.match(data)
                if line:
                    method, path = line["method"].decode(), line["path"].decode()
                    self.requests.append((time.time(), method, path))
                    rule = self._rule_for(method, path)
                    if rule is not None:
                        rule.client_port, rule.request = port, f"{method} {path}"
                        rule.caught_at = time.monotonic()
                        rule._release.wait(rule.timeout)
                        rule._release.set()
                        if not rule._forward:
                            break
                server.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (client, server):
                try:
                    sock.close()
                except OSError:
                    pass
            with self._lock:
                self._sockets.difference_update((client, server))

    @staticmethod
    def _pipe(source: socket.socket, target: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                target.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, target):
                try:
                    sock.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass


# -- watching destinations ----------------------------------------------------------------------


def sftp_listing(root: Path) -> Callable[[], dict[str, bytes]]:
    """Every file under ``root`` (an SFTP server's root) by relative path, with its bytes (read again
    only when its size or modification time changed)."""
    cache: dict[str, tuple[tuple[int, int], bytes]] = {}

    def files() -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        for path in root.rglob("*"):
            try:
                stat = path.stat()
                if not path.is_file():
                    continue
                name, key = str(path.relative_to(root)), (stat.st_size, stat.st_mtime_ns)
                if name not in cache or cache[name][0] != key:
                    cache[name] = (key, path.read_bytes())
                found[name] = cache[name][1]
            except OSError:  # renamed or removed while listed
                continue
        return found

    return files


def s3_listing(client: Any, bucket: str) -> Callable[[], dict[str, bytes]]:
    """Every object of ``bucket`` by key, with its bytes (fetched again only for a new ETag)."""
    cache: dict[str, tuple[str, bytes]] = {}

    def files() -> dict[str, bytes]:
        found: dict[str, bytes] = {}
        try:
            for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
                for item in page.get("Contents", []):
                    key, etag = item["Key"], item.get("ETag", "")
                    if key not in cache or cache[key][0] != etag:
                        try:
                            got = client.get_object(Bucket=bucket, Key=key)
                        except client.exceptions.NoSuchKey:
                            continue
                        cache[key] = (got.get("ETag", etag), got["Body"].read())
                    found[key] = cache[key][1]
        except client.exceptions.NoSuchBucket:
            pass
        return found

    return files


class DestinationWatcher:
    """Poll ``listings`` (name -> callable giving ``{file: bytes}``) every ``interval`` seconds in a
    thread; remember each distinct version (SHA-256) of each file, and the names of temporary files
    (matching ``temporary``) seen on the way."""

    def __init__(self, listings: Mapping[str, Callable[[], dict[str, bytes]]], *, interval: float = 0.2,
                 temporary: str = r"\.partial-") -> None:
        self.listings = dict(listings)
        self.interval = interval
        self.temporary = re.compile(temporary)
        self.versions: dict[tuple[str, str], dict[str, bytes]] = {}
        self.temporaries: set[tuple[str, str]] = set()
        self.polls = 0
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="destination-watcher", daemon=True)

    def __enter__(self) -> DestinationWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=30)

    def poll(self) -> None:
        for where, listing in self.listings.items():
            try:
                files = listing()
            except Exception as exc:  # noqa: BLE001 - a destination not up yet; noted, polled again
                self.errors.append(f"{where}: {type(exc).__name__}: {exc}")
                continue
            for name, body in files.items():
                if self.temporary.search(name):
                    self.temporaries.add((where, name))
                    continue
                self.versions.setdefault((where, name), {})[hashlib.sha256(body).hexdigest()] = body
        self.polls += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            self.poll()
            self._stop.wait(self.interval)

    def partial_sightings(self, final: Mapping[str, Mapping[str, bytes]]) -> list[str]:
        """Final-named files seen with other bytes than they have at the end (``final``: where ->
        {file: bytes}), or seen and gone at the end: what a reader could have picked up half-written."""
        problems = []
        for (where, name), seen in sorted(self.versions.items()):
            end = final.get(where, {}).get(name)
            if end is None:
                problems.append(f"{where}:{name} was seen, and is gone at the end")
                continue
            for digest, body in seen.items():
                if body != end:
                    problems.append(f"{where}:{name} was seen with {len(body)} bytes (sha256 {digest[:12]}), "
                                    f"not its final {len(end)} bytes")
        return problems
