"""A small, service-agnostic HTTP emulator base on ``http.server``.

:class:`EmulatorServer` serves on a loopback port (``0`` picks an ephemeral one) from a daemon
thread, speaks HTTP/1.1 with keep-alive, routes ``(method, path regex)`` to handlers, keeps a
request log and applies :mod:`~airflow_provider_importio.testing.faults` before any handler
runs. Paths under :data:`ADMIN_PREFIX` are administrative: never faulted, never authenticated,
never logged. Subclasses add routes, an error-body shape, authentication and state.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field
from email.message import Message
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any
from urllib.parse import parse_qs, urlsplit

from airflow_provider_importio.testing.faults import DELAY, DROP, STATUS_KINDS, FaultInjector

log = logging.getLogger(__name__)

#: Path prefix of the administrative endpoints.
ADMIN_PREFIX = "/_emulator/"
#: Streamed bodies are sent in chunks of about this many bytes.
CHUNK_BYTES = 64 * 1024
#: What a secret query parameter is replaced with in the request log.
MASK = "***"

JSON_TYPE = "application/json"
NDJSON_TYPE = "application/x-ndjson"


class HttpError(Exception):
    """Raised by handlers to answer with the service's error body."""

    def __init__(self, status: int, message: str, headers: Mapping[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = int(status)
        self.message = message
        self.headers = dict(headers or {})


@dataclass
class Request:
    """An incoming request as handlers see it."""

    method: str
    path: str
    query: dict[str, str]
    headers: Message
    body: bytes = b""
    params: dict[str, str] = field(default_factory=dict)
    #: Per-request scratch space for subclasses (e.g. the authenticated user).
    context: dict[str, Any] = field(default_factory=dict)

    @property
    def content_type(self) -> str:
        """The media type of the body, lower-cased, without parameters."""
        return (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()

    def accepts(self, media_type: str) -> bool:
        return media_type in (self.headers.get("Accept") or "").lower()

    def json(self) -> Any:
        """The body decoded as JSON (an empty body is ``{}``); 400 when it is not JSON."""
        if not self.body.strip():
            return {}
        try:
            return json.loads(self.body)
        except ValueError as exc:
            raise HttpError(400, f"Request body is not valid JSON: {exc}") from None


@dataclass
class Response:
    """A handler's answer; ``body`` as bytes is sent with Content-Length, an iterable is chunked."""

    status: int = 200
    body: bytes | Iterable[bytes] = b""
    content_type: str | None = JSON_TYPE
    headers: dict[str, str] = field(default_factory=dict)


def json_response(obj: Any, status: int = 200, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, json.dumps(obj).encode("utf-8"), JSON_TYPE, dict(headers or {}))


def stream_response(
    chunks: Iterable[bytes], content_type: str, headers: Mapping[str, str] | None = None
) -> Response:
    """A 200 response whose body is produced lazily and sent chunked."""
    return Response(200, chunks, content_type, dict(headers or {}))


def ndjson_response(objects: Iterable[Any], headers: Mapping[str, str] | None = None) -> Response:
    """A streamed newline-delimited JSON response, one object per line."""
    lines = (json.dumps(obj).encode("utf-8") + b"\n" for obj in objects)
    return stream_response(lines, NDJSON_TYPE, headers)


def _coalesce(chunks: Iterable[bytes], size: int = CHUNK_BYTES) -> Iterator[bytes]:
    buffer: list[bytes] = []
    buffered = 0
    for chunk in chunks:
        if not chunk:
            continue
        buffer.append(chunk)
        buffered += len(chunk)
        if buffered >= size:
            yield b"".join(buffer)
            buffer, buffered = [], 0
    if buffer:
        yield b"".join(buffer)


Handler = Callable[[Request], Response]


class Router:
    """Maps ``(method, path regex)`` to handlers; patterns must match the whole path."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def resolve(self, method: str, path: str) -> tuple[Handler, dict[str, str]]:
        """The handler and named path groups; 404 for an unknown path, 405 for a wrong method."""
        path_known = False
        for route_method, pattern, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method.upper():
                return handler, match.groupdict()
            path_known = True
        if path_known:
            raise HttpError(405, f"Method {method} not allowed on {path}")
        raise HttpError(404, f"No such resource: {path}")


@dataclass
class RequestRecord:
    """One logged request; readable as attributes or as ``record["status"]``."""

    method: str
    path: str
    query: dict[str, str]
    status: int | None = None
    fault: str | None = None
    timestamp: float = field(default_factory=time.time)
    #: Size of the request body as received.
    body_bytes: int = 0

    def __getitem__(self, key: str) -> Any:
        return getattr(self, key)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, address: tuple[str, int], emulator: EmulatorServer) -> None:
        self.emulator = emulator
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _RequestHandler)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._connections_lock:
            self._connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """Shut down open keep-alive connections so their threads end."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes; avoid 40 ms stalls
    server: _HTTPServer

    def _dispatch(self) -> None:
        self.server.emulator._serve(self)

    do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _dispatch

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        log.debug("%s %s", self.address_string(), self.server.emulator.mask_text(format % args))


def _read_body(handler: BaseHTTPRequestHandler) -> bytes:
    if "chunked" in (handler.headers.get("Transfer-Encoding") or "").lower():
        parts = []
        while True:
            size = int(handler.rfile.readline().split(b";")[0].strip() or b"0", 16)
            if size == 0:
                while handler.rfile.readline().strip():  # trailers
                    pass
                return b"".join(parts)
            parts.append(handler.rfile.read(size))
            handler.rfile.readline()
    length = int(handler.headers.get("Content-Length") or 0)
    return handler.rfile.read(length) if length else b""


class EmulatorServer:
    """Base of the service emulators: lifecycle, routing, request log and fault injection."""

    #: Query parameters masked in the request log.
    secret_query_params: tuple[str, ...] = ()

    def __init__(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self.host = host
        self.port = port
        self.router = Router()
        self.faults = FaultInjector()
        self._log: list[RequestRecord] = []
        self._log_lock = threading.Lock()
        self._httpd: _HTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.admin_route("POST", "faults", self._admin_faults)
        self.admin_route("GET", "requests", self._admin_requests)
        self.admin_route("POST", "reset", self._admin_reset)

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> EmulatorServer:
        """Bind and serve from a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        self._httpd = _HTTPServer((self.host, self.port), self)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"{type(self).__name__}:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close open connections."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.shutdown()
        httpd.close_connections()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``http://127.0.0.1:54321``."""
        if self._httpd is None:
            raise RuntimeError("emulator is not running")
        return f"http://{self.host}:{self.port}"

    # -- hooks for subclasses ----------------------------------------------------------------

    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self.router.add(method, pattern, handler)

    def admin_route(self, method: str, name: str, handler: Handler) -> None:
        self.router.add(method, re.escape(ADMIN_PREFIX + name), handler)

    def error_body(self, status: int, message: str) -> Any:
        """The JSON body of an error response."""
        return {"code": status, "message": message}

    def authenticate(self, request: Request) -> None:
        """Raise :class:`HttpError` to reject a (non-admin) request."""

    def reset(self) -> None:
        """Forget the request log and faults; subclasses also drop their state."""
        self.faults.clear()
        with self._log_lock:
            self._log.clear()

    def error_response(
        self, status: int, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        return json_response(self.error_body(status, message), status, headers)

    # -- request log -------------------------------------------------------------------------

    def mask_text(self, text: str) -> str:
        """``text`` (e.g. a request line) with the values of secret query parameters masked."""
        for name in self.secret_query_params:
            text = re.sub(rf"([?&]{re.escape(name)}=)[^&#\s]*", rf"\g<1>{MASK}", text)
        return text

    @property
    def requests(self) -> list[RequestRecord]:
        """The logged (non-admin) requests, oldest first."""
        with self._log_lock:
            return list(self._log)

    def request_count(self, method: str | None = None, path: str | None = None) -> int:
        """How many logged requests match ``method`` and ``path`` (a regex, searched)."""
        pattern = re.compile(path) if path else None
        return sum(
            1
            for record in self.requests
            if (method is None or record.method == method.upper())
            and (pattern is None or pattern.search(record.path))
        )

    # -- serving -----------------------------------------------------------------------------

    def _serve(self, handler: _RequestHandler) -> None:
        split = urlsplit(handler.path)
        query = {key: values[0] for key, values in parse_qs(split.query, keep_blank_values=True).items()}
        request = Request(handler.command, split.path, query, handler.headers, _read_body(handler))
        admin = request.path.startswith(ADMIN_PREFIX)
        record: RequestRecord | None = None
        fault: str | None = None
        if not admin:
            masked = {key: (MASK if key in self.secret_query_params else value) for key, value in query.items()}
            record = RequestRecord(request.method, request.path, masked, body_bytes=len(request.body))
            with self._log_lock:
                self._log.append(record)
            fault = self.faults.pick(request.method, request.path)
            record.fault = fault
        if fault == DROP:
            handler.close_connection = True
            return
        if fault == DELAY:
            time.sleep(self.faults.delay_seconds)
        if fault in STATUS_KINDS:
            response = self._fault_response(int(fault))
        else:
            response = self._handle(request, admin)
        if record is not None:
            record.status = response.status
        self._write(handler, response)

    def _fault_response(self, status: int) -> Response:
        headers = {"Retry-After": str(self.faults.retry_after)} if status == 429 else {}
        return self.error_response(status, HTTPStatus(status).phrase, headers)

    def _handle(self, request: Request, admin: bool) -> Response:
        try:
            if not admin:
                self.authenticate(request)
            handler, request.params = self.router.resolve(request.method, request.path)
            return handler(request)
        except HttpError as exc:
            return self.error_response(exc.status, exc.message, exc.headers)
        except Exception:
            log.exception("emulator handler failed for %s %s", request.method, request.path)
            return self.error_response(500, "Internal emulator error")

    @staticmethod
    def _write(handler: _RequestHandler, response: Response) -> None:
        try:
            handler.send_response(response.status)
            for name, value in response.headers.items():
                handler.send_header(name, value)
            if response.content_type:
                handler.send_header("Content-Type", response.content_type)
            if isinstance(response.body, (bytes, bytearray)):
                handler.send_header("Content-Length", str(len(response.body)))
                handler.end_headers()
                handler.wfile.write(response.body)
                return
            handler.send_header("Transfer-Encoding", "chunked")
            handler.end_headers()
            for chunk in _coalesce(response.body):
                handler.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            handler.wfile.write(b"0\r\n\r\n")
        except (BrokenPipeError, ConnectionResetError):
            handler.close_connection = True
        except Exception:
            log.exception("emulator failed while streaming a response")
            handler.close_connection = True

    # -- admin endpoints -------------------------------------------------------------------

    def _admin_faults(self, request: Request) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise HttpError(400, "Body must be a JSON object")
        try:
            if not body:
                self.faults.clear()
            elif "script" in body:
                self.faults.script(*body["script"], path=body.get("path"), method=body.get("method"))
            else:
                self.faults.configure(**body)
        except (TypeError, ValueError) as exc:
            raise HttpError(400, str(exc)) from None
        return json_response({"pending": self.faults.pending})

    def _admin_requests(self, request: Request) -> Response:
        return json_response([record.to_dict() for record in self.requests])

    def _admin_reset(self, request: Request) -> Response:
        self.reset()
        return json_response({"reset": True})
