"""A faulting HTTP reverse proxy on loopback, for services without fault injection of their own (moto's S3).

Every request is read whole, then given a fault by a :class:`~.faults.FaultInjector` *before* it is
forwarded, so a faulted request never reaches the target and never changes its state: ``"429"``
(with ``Retry-After``) and 5xx answer with an S3-style XML error, ``"drop"`` closes the connection
without an answer, ``"delay"`` waits, then forwards. Counters: requests, faults by kind, and retries
(requests an AWS SDK marks ``amz-sdk-request: attempt=N`` with ``N > 1``).

    with MotoServer() as moto, FaultProxy(moto.url) as proxy:
        proxy.faults.configure(rate=0.2, seed=7, delay_seconds=0.3)
        monkeypatch.setenv("AIRFLOW_CONN_AWS_DEFAULT", json.dumps(moto.connection(endpoint_url=proxy.url)))
"""

from __future__ import annotations

import http.client
import re
import threading
import time
from collections import Counter
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from airflow_provider_importio.testing._server import _read_body
from airflow_provider_importio.testing.faults import DELAY, DROP, STATUS_KINDS, FaultInjector

#: Headers of one hop, not forwarded (``Expect``: the proxy has answered ``100 Continue`` itself).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer",
                        "upgrade", "expect", "content-length"})
#: S3 error codes of the status faults.
ERROR_CODES = {429: "SlowDown", 500: "InternalError", 502: "BadGateway", 503: "ServiceUnavailable",
               504: "GatewayTimeout"}
_ATTEMPT = re.compile(r"attempt=(\d+)")


class FaultProxy:
    """Forwards ``http://host:port/...`` to ``target`` (``http://host:port``), faulting per :attr:`faults`.

    :param target: the base URL requests are forwarded to.
    :param exempt: path prefixes never faulted (the target's admin API).
    """

    def __init__(self, target: str, *, host: str = "127.0.0.1", port: int = 0,
                 exempt: tuple[str, ...] = ("/moto-api/",)) -> None:
        split = urlsplit(target)
        if split.scheme != "http" or not split.hostname:
            raise ValueError(f"target must be an http:// URL, got {target!r}")
        self.target = (split.hostname, split.port or 80)
        self.host, self.port, self.exempt = host, port, exempt
        self.faults = FaultInjector()
        self.requests = 0
        self.faulted: Counter[str] = Counter()
        self.retries = 0
        self._lock = threading.Lock()
        self._httpd: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        handler = type("Handler", (_Handler,), {"proxy": self})
        self._httpd = ThreadingHTTPServer((self.host, self.port), handler)
        self._httpd.daemon_threads = True
        self.port = self._httpd.server_address[1]
        threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05},
                         name=f"fault-proxy:{self.port}", daemon=True).start()
        return self

    def stop(self) -> None:
        httpd, self._httpd = self._httpd, None
        if httpd is not None:
            httpd.shutdown()
            httpd.server_close()

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def counts(self) -> dict[str, Any]:
        """``{"requests": n, "faulted": {kind: n}, "retries": n}``, a copy."""
        with self._lock:
            return {"requests": self.requests, "faulted": dict(self.faulted), "retries": self.retries}

    def _pick(self, method: str, path: str, attempt_header: str | None) -> str | None:
        fault = None if path.startswith(self.exempt) else self.faults.pick(method, path)
        attempt = _ATTEMPT.search(attempt_header or "")
        with self._lock:
            self.requests += 1
            self.retries += bool(attempt and int(attempt.group(1)) > 1)
            if fault is not None:
                self.faulted[fault] += 1
        return fault


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True
    proxy: FaultProxy

    def _forward(self) -> None:
        body = _read_body(self)
        fault = self.proxy._pick(self.command, self.path.split("?", 1)[0], self.headers.get("amz-sdk-request"))
        if fault == DROP:
            self.close_connection = True
            return
        if fault == DELAY:
            time.sleep(self.proxy.faults.delay_seconds)
        if fault in STATUS_KINDS:
            self._fault(int(fault))
            return
        headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
        upstream = http.client.HTTPConnection(*self.proxy.target, timeout=60)
        try:
            upstream.request(self.command, self.path, body=body, headers=headers)
            answer = upstream.getresponse()
            payload = answer.read()
            self.send_response(answer.status, answer.reason)
            for name, value in answer.getheaders():
                if name.lower() not in HOP_BY_HOP:
                    self.send_header(name, value)
            length = answer.getheader("Content-Length") if self.command == "HEAD" else None
            self.send_header("Content-Length", length or str(len(payload)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(payload)
        finally:
            upstream.close()

    def _fault(self, status: int) -> None:
        phrase = HTTPStatus(status).phrase
        body = (f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{ERROR_CODES.get(status, phrase)}</Code>'
                f"<Message>{phrase} (injected fault)</Message></Error>").encode()
        self.send_response(status)
        if status == 429:
            self.send_header("Retry-After", str(self.proxy.faults.retry_after))
        self.send_header("Content-Type", "application/xml")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = do_PATCH = _forward

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - stdlib signature
        pass
