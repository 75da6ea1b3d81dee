"""``PagerDutyEmulator``: a loopback stand-in for PagerDuty's Events API v2.

It accepts ``POST /v2/enqueue`` as PagerDuty does — 202 with
``{"status": "success", "message": "Event processed", "dedup_key": ...}``, 400 with
``{"status": "invalid event", "message": "Event object is invalid", "errors": [...]}`` for a
malformed event — and records every accepted event (:attr:`PagerDutyEmulator.events`) and the
alerts they open and resolve (:attr:`PagerDutyEmulator.alerts`). Fault injection comes from
:class:`~airflow_provider_importio.testing._server.EmulatorServer` (``emu.faults.script("503")``).

The ``pagerduty`` client refuses base URLs that are not ``https://``, so the stand-in serves TLS
with a self-signed certificate made at start; point the client at :attr:`url` and trust
:attr:`ca_file` (a PEM file; ``cert_names`` adds host names to it, as a compose service name)::

    with PagerDutyEmulator() as pd:
        conn = {"conn_type": "pagerduty_events", "password": "R" * 32, "host": pd.url,
                "extra": {"verify": pd.ca_file}}
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import os
import ssl
import tempfile
import threading
import uuid
from collections.abc import Sequence
from typing import Any

from airflow_provider_importio.testing._server import (
    EmulatorServer,
    HttpError,
    Request,
    Response,
    _HTTPServer,
    json_response,
)

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")
#: Longest accepted ``payload.summary`` (PagerDuty truncates longer ones; the stand-in refuses them).
MAX_SUMMARY = 1024
#: Largest accepted event body, bytes (PagerDuty's limit is 512 KB).
MAX_EVENT_BYTES = 512 * 1024


def _self_signed(directory: str, host: str, names: Sequence[str] = ()) -> tuple[str, str]:
    """A self-signed CA-capable certificate for *host* (an IP or a name), loopback and ``names``:
    ``(cert.pem, key.pem)``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host)])
    try:
        alt: list[x509.GeneralName] = [x509.IPAddress(ipaddress.ip_address(host))]
    except ValueError:
        alt = [x509.DNSName(host)]
    alt.append(x509.DNSName("localhost"))
    if host != "127.0.0.1":
        alt.append(x509.IPAddress(ipaddress.ip_address("127.0.0.1")))
    alt += [x509.DNSName(extra) for extra in names]
    now = dt.datetime.now(dt.timezone.utc)
    cert = (
        x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5)).not_valid_after(now + dt.timedelta(days=2))
        .add_extension(x509.SubjectAlternativeName(alt), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(x509.KeyUsage(digital_signature=True, key_cert_sign=True, crl_sign=True,
                                     content_commitment=False, key_encipherment=False, data_encipherment=False,
                                     key_agreement=False, encipher_only=False, decipher_only=False), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = os.path.join(directory, "cert.pem"), os.path.join(directory, "key.pem")
    with open(cert_file, "wb") as out:
        out.write(cert.public_bytes(serialization.Encoding.PEM))
    with open(key_file, "wb") as out:
        out.write(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                    serialization.NoEncryption()))
    return cert_file, key_file


class PagerDutyEmulator(EmulatorServer):
    """The Events API v2 on loopback, over TLS.

    :param routing_keys: accept only these routing keys (``None``: any non-empty one).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, routing_keys: set[str] | None = None,
                 cert_names: Sequence[str] = ()) -> None:
        super().__init__(host, port)
        self.routing_keys = routing_keys
        self._events: list[dict[str, Any]] = []
        self._alerts: dict[str, str] = {}
        self._state_lock = threading.Lock()
        self._tmp = tempfile.mkdtemp(prefix="pagerduty-emulator-")
        self.ca_file, self._key_file = _self_signed(self._tmp, host, cert_names)
        self.route("POST", r"/v2/enqueue", self._enqueue)
        self.admin_route("GET", "events", lambda request: json_response(self.events))

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> PagerDutyEmulator:
        """Bind, wrap the socket in TLS and serve from a daemon thread; returns ``self``."""
        if self._httpd is not None:
            return self
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, self._key_file)
        httpd = _HTTPServer((self.host, self.port), self)
        # The handshake happens on the first read, in the request's own thread.
        httpd.socket = context.wrap_socket(httpd.socket, server_side=True, do_handshake_on_connect=False)
        self._httpd = httpd
        self.port = httpd.server_address[1]
        self._thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05},
                                        name=f"PagerDutyEmulator:{self.port}", daemon=True)
        self._thread.start()
        return self

    def __enter__(self) -> PagerDutyEmulator:
        return self.start()

    @property
    def url(self) -> str:
        """Base URL, e.g. ``https://127.0.0.1:54321``."""
        if self._httpd is None:
            raise RuntimeError("emulator is not running")
        return f"https://{self.host}:{self.port}"

    def reset(self) -> None:
        super().reset()
        with self._state_lock:
            self._events.clear()
            self._alerts.clear()

    # -- state -----------------------------------------------------------------------------

    @property
    def events(self) -> list[dict[str, Any]]:
        """Accepted events as received (routing key included), oldest first."""
        with self._state_lock:
            return [dict(event) for event in self._events]

    @property
    def alerts(self) -> dict[str, str]:
        """dedup key → ``triggered``, ``acknowledged`` or ``resolved``."""
        with self._state_lock:
            return dict(self._alerts)

    def error_body(self, status: int, message: str) -> Any:
        return {"status": "error", "message": message}

    # -- the Events API --------------------------------------------------------------------

    def _enqueue(self, request: Request) -> Response:
        if len(request.body) > MAX_EVENT_BYTES:
            raise HttpError(413, "Request too large")
        try:
            event = request.json()
        except HttpError:
            return self._invalid(["Event object is not valid JSON"])
        errors = event_errors(event, self.routing_keys)
        if errors:
            return self._invalid(errors)
        dedup_key = event.get("dedup_key") or uuid.uuid4().hex
        with self._state_lock:
            self._events.append(event)
            state = {"trigger": "triggered", "acknowledge": "acknowledged", "resolve": "resolved"}
            current = self._alerts.get(dedup_key)
            if event["event_action"] == "trigger" or current not in (None, "resolved"):
                self._alerts[dedup_key] = state[event["event_action"]]
        return json_response({"status": "success", "message": "Event processed", "dedup_key": dedup_key}, 202)

    @staticmethod
    def _invalid(errors: list[str]) -> Response:
        return json_response({"status": "invalid event", "message": "Event object is invalid", "errors": errors}, 400)


def event_errors(event: Any, routing_keys: set[str] | None = None) -> list[str]:
    """What makes *event* an invalid Events API v2 event (empty when it is valid)."""
    if not isinstance(event, dict):
        return ["Event object must be a JSON object"]
    errors = []
    key = event.get("routing_key")
    if not isinstance(key, str) or not key:
        errors.append("'routing_key' is missing or blank")
    elif routing_keys is not None and key not in routing_keys:
        errors.append("Invalid routing key")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append(f"'event_action' must be one of {', '.join(ACTIONS)}")
    dedup_key = event.get("dedup_key")
    if dedup_key is not None and (not isinstance(dedup_key, str) or not dedup_key or len(dedup_key) > 255):
        errors.append("'dedup_key' must be a non-empty string of at most 255 characters")
    if action in ("acknowledge", "resolve") and dedup_key is None:
        errors.append(f"'dedup_key' is required for event_action {action}")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing or not an object")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary:
                errors.append("'payload.summary' is missing or blank")
            elif len(summary) > MAX_SUMMARY:
                errors.append(f"'payload.summary' is longer than {MAX_SUMMARY} characters")
            if not isinstance(payload.get("source"), str) or not payload.get("source"):
                errors.append("'payload.source' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append(f"'payload.severity' must be one of {', '.join(SEVERITIES)}")
    for name in ("links", "images"):
        if name in event and not isinstance(event[name], list):
            errors.append(f"'{name}' must be an array")
    return errors
