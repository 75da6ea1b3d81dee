"""``StitchEmulator``: a stateful HTTP emulator of Stitch's Import API and Connect API.

Usage::

    with StitchEmulator(connect_token="connect-token", load_delay=0.0) as emu:
        source = emu.add_source(display_name="Import.io")
        token = emu.add_import_token(source["id"])
        requests.post(f"{emu.url}/v2/import/batch", json=batch, headers={"Authorization": f"Bearer {token}"})
        emu.wait_loaded()
        emu.rows("import_io", "customers")

Accepted batches are loaded into a SQLite warehouse by a background worker after
``load_delay`` seconds. See ``docs/stitch-emulator.md`` for endpoints, knobs and choices.
Tokens travel only in ``Authorization`` headers, which are never logged.
"""

from __future__ import annotations

import heapq
import itertools
import json
import logging
import random
import re
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from typing import Any
from urllib.parse import urlencode

from airflow_provider_importio.testing._server import (
    ADMIN_PREFIX,
    EmulatorServer,
    HttpError,
    Request,
    Response,
    json_response,
)
from airflow_provider_importio.testing.faults import FaultInjector
from airflow_provider_importio.testing.stitch_validation import batch_error, push_reasons
from airflow_provider_importio.testing.stitch_warehouse import Warehouse

log = logging.getLogger(__name__)

DEFAULT_CONNECT_TOKEN = "connect-token"
DEFAULT_CLIENT_ID = 116078
NORTH_AMERICA = "north-america"
EUROPE = "europe"
#: Largest accepted request body, bytes.
MAX_BODY_BYTES = 20_000_000
#: Active Import API tokens a source may have.
MAX_ACTIVE_TOKENS = 2
#: Connect list page size.
DEFAULT_PAGE_SIZE = 100

IMPORT_PREFIX = "/v2/import/"
VALIDATE_PATH = "/v2/import/validate"
STATUS_PATH = "/v2/import/status"

ACCEPTED_201 = {"status": "OK", "message": "Batch Accepted!"}
ACCEPTED_202 = {"status": "Accepted", "message": "The batch is queued to be processed."}
VALID_200 = {"status": "OK", "message": "Batch is valid!"}
STATUS_BODY = {"name": "pipeline.gate", "version": "emulator", "revision": "emulator", "status": "OK", "reason": None}
NOT_AUTHORIZED = {"message": "Not Authorized"}
INVALID_REGION = {"message": "Invalid region."}
NOT_ACTIVE = {"error": "Forbidden", "errors": {"error": "Connection is not active."}}
PUSH_FORBIDDEN = {
    "status": "ERROR",
    "error": "Forbidden",
    "errors": {"error": "Access token is not associated with this client."},
}
MALFORMED_JSON = {"status": "ERROR", "message": "Malformed json in the body!"}
ARRAY_EXPECTED = {"status": "ERROR", "message": "An array of records is expected"}

_STEPS = [{"type": "form", "properties": []}, {"type": "fully_configured", "properties": []}]
SOURCE_TYPES: dict[str, dict[str, Any]] = {
    "import_api": {
        "type": "import_api",
        "current_step": 1,
        "current_step_type": "form",
        "steps": _STEPS,
        "details": {
            "pricing_tier": "standard",
            "pipeline_state": "released",
            "default_start_date": "-1 year",
            "default_scheduling_interval": 60,
            "protocol": "import_api",
            "access": True,
        },
    }
}


class StitchError(Exception):
    """Raised by handlers to answer with an exact Stitch body (JSON, or plain text for a str)."""

    def __init__(self, status: int, body: Any) -> None:
        super().__init__(status)
        self.status = status
        self.body = body

    def response(self) -> Response:
        if isinstance(self.body, str):
            return Response(self.status, self.body.encode("utf-8"), "text/plain; charset=utf-8")
        return json_response(self.body, self.status)


def connect_error(error: str, message: str, status: int = 400) -> StitchError:
    return StitchError(status, {"error": error, "data": {"message": message}})


def iso_now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def iso_precise() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def snake_case(text: str) -> str:
    """``"Import.io"`` → ``"import_io"``; ``"Import API"`` → ``"import_api"``."""
    return re.sub(r"[^0-9a-z]+", "_", text.lower()).strip("_")


@dataclass
class Source:
    id: int
    display_name: str
    name: str
    region: str
    stitch_client_id: int
    properties: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=iso_now)
    updated_at: str = field(default_factory=iso_now)
    deleted_at: str | None = None
    paused_at: str | None = None

    @property
    def active(self) -> bool:
        return self.deleted_at is None and self.paused_at is None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "type": "import_api",
            "name": self.name,
            "display_name": self.display_name,
            "properties": dict(self.properties),
            "schedule": None,
            "created_at": self.created_at,
            "updated_at": self.updated_at,
            "deleted_at": self.deleted_at,
            "paused_at": self.paused_at,
            "system_paused_at": None,
            "stitch_client_id": self.stitch_client_id,
            "report_card": {
                "type": "import_api",
                "current_step": 2,
                "current_step_type": "fully_configured",
                "steps": [dict(step) for step in _STEPS],
            },
        }


@dataclass
class ImportToken:
    id: int
    source_id: int
    secret: str = field(repr=False)
    revoked: bool = False


@dataclass
class Batch:
    """An accepted batch (one table); ``loaded`` flips once it is in the warehouse."""

    id: int
    token_id: int
    source_id: int
    schema: str
    table: str
    records: int
    status: int
    received_at: str
    loaded: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(order=True)
class _Job:
    ready_at: float
    order: int
    generation: int = field(compare=False)
    batch: Batch = field(compare=False)
    properties: dict[str, Any] | None = field(compare=False)
    key_names: list[str] = field(compare=False)
    records: list[tuple[int, dict[str, Any]]] = field(compare=False)


class _StitchFaults(FaultInjector):
    """Faults as usual, except that ``/v2/import/validate`` never answers 503."""

    def pick(self, method: str, path: str) -> str | None:
        kind = super().pick(method, path)
        return None if kind == "503" and path == VALIDATE_PATH else kind


class StitchEmulator(EmulatorServer):
    """Stitch Import API + Connect API emulator with a SQLite warehouse; see the module docstring."""

    def __init__(
        self,
        connect_token: str = DEFAULT_CONNECT_TOKEN,
        load_delay: float = 0.0,
        region: str = NORTH_AMERICA,
        page_size: int = DEFAULT_PAGE_SIZE,
        accept_202_rate: float = 0.0,
        client_id: int = DEFAULT_CLIENT_ID,
        seed: int | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        super().__init__(host, port)
        self.faults = _StitchFaults()
        self.connect_token = connect_token
        #: Seconds between accepting a batch and loading it.
        self.load_delay = float(load_delay)
        self.region = region
        #: Connect list page size.
        self.page_size = int(page_size)
        #: Share of accepted batches answered 202 instead of 201 (still loaded).
        self.accept_202_rate = float(accept_202_rate)
        self.client_id = int(client_id)
        self._rng = random.Random(seed)
        self._lock = threading.RLock()
        self._sources: dict[int, Source] = {}
        self._tokens: dict[int, ImportToken] = {}
        self._batches: list[Batch] = []
        self._source_ids = itertools.count(126890)
        self._token_ids = itertools.count(828792559)
        self._batch_ids = itertools.count(1)
        self._job_order = itertools.count()
        # loader
        self._cond = threading.Condition()
        self._jobs: list[_Job] = []
        self._pending = 0
        self._generation = 0
        self._stopping = False
        self._loading_paused = False
        self._worker: threading.Thread | None = None
        self._load_errors: list[str] = []
        self.warehouse: Warehouse | None = None
        self._add_routes()

    # -- lifecycle -------------------------------------------------------------------------

    def start(self) -> StitchEmulator:
        if self.warehouse is None:
            self.warehouse = Warehouse()
            self._stopping = False
            self._worker = threading.Thread(target=self._load_loop, name="StitchEmulator-loader", daemon=True)
            self._worker.start()
        super().start()
        return self

    def stop(self) -> None:
        super().stop()
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join(timeout=5)
            self._worker = None
        if self.warehouse is not None:
            self.warehouse.close()
            self.warehouse = None

    def __enter__(self) -> StitchEmulator:
        return self.start()

    # -- EmulatorServer hooks --------------------------------------------------------------

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        return {"status": "ERROR", "message": message}

    def authenticate(self, request: Request) -> None:
        path = request.path
        if path.startswith("/v4/"):
            if self._bearer(request) != self.connect_token:
                raise StitchError(401, NOT_AUTHORIZED)
            return
        if not path.startswith(IMPORT_PREFIX) or path == STATUS_PATH:
            return
        if len(request.body) > MAX_BODY_BYTES:
            raise StitchError(
                413,
                {
                    "status": "ERROR",
                    "message": f"Request rejected: request size ({len(request.body)} bytes) exceeds the maximum",
                },
            )
        secret = self._bearer(request)
        with self._lock:
            token = next((t for t in self._tokens.values() if t.secret == secret and not t.revoked), None)
            if secret is None or token is None:
                raise StitchError(401, NOT_AUTHORIZED)
            source = self._sources[token.source_id]
            if source.region != self.region:
                raise StitchError(401, INVALID_REGION)
            if not source.active:
                raise StitchError(401, NOT_ACTIVE)
        request.context["token"] = token
        request.context["source"] = source

    @staticmethod
    def _bearer(request: Request) -> str | None:
        header = request.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        return value.strip() or None if scheme.lower() == "bearer" else None

    def _handle(self, request: Request, admin: bool) -> Response:
        """As the base, but a :class:`StitchError` from :meth:`authenticate` answers its exact body."""
        if not admin:
            try:
                self.authenticate(request)
            except StitchError as exc:
                return exc.response()
        return super()._handle(request, admin=True)  # already authenticated

    def reset(self) -> None:
        """Drop sources, tokens, batches (pending loads too) and the warehouse; clear log and faults."""
        super().reset()
        with self._cond:
            self._generation += 1
            self._jobs.clear()
            self._pending = 0
            self._loading_paused = False
            self._cond.notify_all()
        with self._lock:
            self._sources.clear()
            self._tokens.clear()
            self._batches.clear()
            self._load_errors.clear()
        if self.warehouse is not None:
            self.warehouse.reset()

    # -- Python API ------------------------------------------------------------------------

    def add_source(self, display_name: str = "Import.io", region: str | None = None, paused: bool = False) -> dict[str, Any]:
        """Create an Import API source (in ``region``, default the emulator's); returns its JSON."""
        with self._lock:
            source = self._new_source(display_name, {}, region)
            if paused:
                source.paused_at = iso_now()
            return source.to_json()

    def source(self, source_id: int) -> dict[str, Any]:
        with self._lock:
            if source_id not in self._sources:
                raise KeyError(f"no source {source_id}")
            return self._sources[source_id].to_json()

    def sources(self) -> list[dict[str, Any]]:
        with self._lock:
            return [source.to_json() for source in self._sources.values()]

    def add_import_token(self, source_id: int, token: str | None = None) -> str:
        """A new Import API access token for the source (as ``POST /v4/sources/{id}/tokens``);
        ``token`` gives its secret (default: random), e.g. a recognisable one for a leak scan."""
        try:
            return self._new_token(int(source_id), token).secret
        except StitchError as exc:
            if exc.status == 404:
                raise KeyError(f"no source {source_id}") from None
            raise ValueError(json.dumps(exc.body)) from None

    def revoke_import_token(self, token: str) -> None:
        with self._lock:
            for item in self._tokens.values():
                if item.secret == token:
                    item.revoked = True
                    return
        raise KeyError("unknown import token")

    @property
    def batches(self) -> list[dict[str, Any]]:
        """Accepted batches, oldest first: id, token_id, source_id, schema, table, records, status, loaded."""
        with self._lock:
            return [batch.to_dict() for batch in self._batches]

    def pause_loading(self) -> None:
        """Accept batches but load none until :meth:`resume_loading` (they stay pending).

        Loading is the emulator's own work, not the client's; a benchmark pauses it while a client
        pushes, so that the warehouse does not compete with the pushes for the emulator's CPU."""
        with self._cond:
            self._loading_paused = True

    def resume_loading(self) -> None:
        """Load the batches accepted while paused (each no sooner than ``load_delay`` after its acceptance)."""
        with self._cond:
            self._loading_paused = False
            self._cond.notify_all()

    def wait_loaded(self, timeout: float = 10) -> None:
        """Block until every accepted batch is loaded; ``TimeoutError`` otherwise."""
        with self._cond:
            if not self._cond.wait_for(lambda: self._pending == 0, timeout):
                raise TimeoutError(f"{self._pending} batch(es) still not loaded after {timeout} s")
        if self._load_errors:
            raise RuntimeError(f"loading failed: {self._load_errors[-1]}")

    def tables(self) -> list[tuple[str, str]]:
        return self._warehouse().tables()

    def rows(self, schema: str, table: str) -> list[dict[str, Any]]:
        return self._warehouse().rows(schema, table)

    def columns(self, schema: str, table: str) -> dict[str, str]:
        return self._warehouse().columns(schema, table)

    def _warehouse(self) -> Warehouse:
        if self.warehouse is None:
            raise RuntimeError("emulator is not running")
        return self.warehouse

    # -- state -----------------------------------------------------------------------------

    def _new_source(self, display_name: str, properties: dict[str, Any], region: str | None = None) -> Source:
        source = Source(
            id=next(self._source_ids),
            display_name=display_name,
            name=snake_case(display_name),
            region=region or self.region,
            stitch_client_id=self.client_id,
            properties=dict(properties),
        )
        self._sources[source.id] = source
        return source

    def _source(self, source_id: str | int) -> Source:
        try:
            key = int(source_id)
        except (TypeError, ValueError):
            raise connect_error("InvalidId", f"{source_id!r} is not a valid source id") from None
        source = self._sources.get(key)
        if source is None:
            raise connect_error("NotFound", f"Source {key} not found", 404)
        return source

    def _new_token(self, source_id: int, secret: str | None = None) -> ImportToken:
        with self._lock:
            source = self._source(source_id)
            if source.deleted_at is not None:
                raise connect_error("AccessDenied", f"Source {source.id} is deleted")
            active = [t for t in self._tokens.values() if t.source_id == source.id and not t.revoked]
            if len(active) >= MAX_ACTIVE_TOKENS:
                raise connect_error(
                    "AccessDenied",
                    f"Source {source.id} already has {MAX_ACTIVE_TOKENS} active access tokens; revoke one first",
                )
            if secret is not None and (not secret or any(t.secret == secret for t in self._tokens.values())):
                raise ValueError("an import token must be non-empty and new")
            token = ImportToken(next(self._token_ids), source.id, secret or secrets.token_hex(24))
            self._tokens[token.id] = token
            return token

    # -- loading ---------------------------------------------------------------------------

    def _accept(
        self,
        request: Request,
        table: str,
        properties: dict[str, Any] | None,
        key_names: list[str],
        records: list[tuple[int, dict[str, Any]]],
        status: int,
    ) -> None:
        token: ImportToken = request.context["token"]
        source: Source = request.context["source"]
        with self._lock:
            batch = Batch(
                next(self._batch_ids), token.id, source.id, source.name, table, len(records), status, iso_precise()
            )
            self._batches.append(batch)
        with self._cond:
            job = _Job(
                time.monotonic() + self.load_delay,
                next(self._job_order),
                self._generation,
                batch,
                properties,
                key_names,
                records,
            )
            heapq.heappush(self._jobs, job)
            self._pending += 1
            self._cond.notify_all()

    def _load_loop(self) -> None:
        while True:
            with self._cond:
                while True:
                    if self._stopping:
                        return
                    if self._jobs and not self._loading_paused:
                        wait = self._jobs[0].ready_at - time.monotonic()
                        if wait <= 0:
                            job = heapq.heappop(self._jobs)
                            break
                        self._cond.wait(wait)
                    else:
                        self._cond.wait()
            try:
                warehouse = self.warehouse
                if warehouse is not None and job.generation == self._generation:
                    warehouse.load(
                        job.batch.schema,
                        job.batch.table,
                        job.properties,
                        job.key_names,
                        job.records,
                        job.batch.received_at,
                        iso_precise(),
                    )
                    job.batch.loaded = True
            except Exception as exc:  # keep loading later batches
                log.exception("loading batch %s into %s.%s failed", job.batch.id, job.batch.schema, job.batch.table)
                self._load_errors.append(f"batch {job.batch.id}: {exc}")
            finally:
                with self._cond:
                    if job.generation == self._generation:
                        self._pending -= 1
                    self._cond.notify_all()

    def _accept_status(self) -> int:
        return 202 if self.accept_202_rate > 0 and self._rng.random() < self.accept_202_rate else 201

    # -- routes ----------------------------------------------------------------------------

    def _add_routes(self) -> None:
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("POST", "/v2/import/batch", self._batch),
            ("POST", "/v2/import/validate", self._validate),
            ("POST", "/v2/import/push", self._push),
            ("GET", "/v2/import/status", self._status),
            ("GET", "/v4/source-types", self._source_types),
            ("GET", "/v4/source-types/(?P<type>[^/]+)", self._source_type),
            ("GET", "/v4/sources", self._list_sources),
            ("POST", "/v4/sources", self._create_source),
            ("GET", "/v4/sources/(?P<id>[^/]+)", self._get_source),
            ("PUT", "/v4/sources/(?P<id>[^/]+)", self._update_source),
            ("DELETE", "/v4/sources/(?P<id>[^/]+)", self._delete_source),
            ("POST", "/v4/sources/(?P<id>[^/]+)/tokens", self._create_token),
            ("GET", "/v4/sources/(?P<id>[^/]+)/tokens", self._list_tokens),
            ("DELETE", "/v4/sources/(?P<id>[^/]+)/tokens/(?P<token_id>[^/]+)", self._delete_token),
        ]
        for method, pattern, handler in routes:
            self.route(method, pattern, self._wrap(handler))
        admin = ADMIN_PREFIX
        for method, name, handler in [
            ("GET", "sources", self._admin_sources),
            ("POST", "sources", self._admin_add_source),
            ("POST", "tokens", self._admin_token),
            ("POST", "revoke", self._admin_revoke),
            ("GET", "batches", self._admin_batches),
            ("GET", "warehouse", self._admin_tables),
            ("POST", "wait_loaded", self._admin_wait_loaded),
            ("POST", "config", self._admin_config),
        ]:
            self.admin_route(method, name, self._wrap(handler))
        self.router.add(
            "GET", re.escape(admin + "warehouse/") + "(?P<schema>[^/]+)/(?P<table>[^/]+)", self._wrap(self._admin_rows)
        )

    @staticmethod
    def _wrap(handler: Callable[[Request], Response]) -> Callable[[Request], Response]:
        def wrapped(request: Request) -> Response:
            try:
                return handler(request)
            except StitchError as exc:
                return exc.response()

        return wrapped

    # -- Import API ------------------------------------------------------------------------

    def _batch(self, request: Request) -> Response:
        if request.content_type != "application/json":
            raise StitchError(415, "Content-Type must be application/json")
        try:
            body = json.loads(request.body)
        except ValueError:
            raise StitchError(400, {"error": "Request failed validation:#: Malformed json in the body!"}) from None
        error = batch_error(body)
        if error:
            raise StitchError(400, {"error": error})
        status = self._accept_status()
        records = [(message["sequence"], message["data"]) for message in body["messages"]]
        properties = body["schema"].get("properties") or {}
        self._accept(request, body["table_name"], properties, list(body.get("key_names") or []), records, status)
        return json_response(ACCEPTED_201 if status == 201 else ACCEPTED_202, status)

    @staticmethod
    def _push_records(request: Request) -> list[dict[str, Any]]:
        try:
            records = json.loads(request.body)
        except ValueError:
            raise StitchError(400, MALFORMED_JSON) from None
        if not isinstance(records, list):
            raise StitchError(400, ARRAY_EXPECTED)
        reasons = push_reasons(records)
        if reasons:
            raise StitchError(
                422,
                {
                    "status": "ERROR",
                    "error": "Request cannot be processed; see errors.",
                    "errors": [{"reason": reason} for reason in reasons],
                },
            )
        return records

    def _validate(self, request: Request) -> Response:
        self._push_records(request)
        return json_response(VALID_200)

    def _push(self, request: Request) -> Response:
        records = self._push_records(request)
        source: Source = request.context["source"]
        if any(record["client_id"] != source.stitch_client_id for record in records):
            raise StitchError(403, PUSH_FORBIDDEN)
        status = self._accept_status()
        tables: dict[str, tuple[list[str], list[tuple[int, dict[str, Any]]]]] = {}
        for record in records:
            keys, rows = tables.setdefault(record["table_name"], (list(record.get("key_names") or []), []))
            rows.append((record["sequence"], record["data"]))
        for table, (keys, rows) in tables.items():
            self._accept(request, table, None, keys, rows, status)
        return json_response(ACCEPTED_201 if status == 201 else ACCEPTED_202, status)

    def _status(self, request: Request) -> Response:
        return json_response(STATUS_BODY)

    # -- Connect API -----------------------------------------------------------------------

    def _source_types(self, request: Request) -> Response:
        return json_response(list(SOURCE_TYPES.values()))

    def _source_type(self, request: Request) -> Response:
        card = SOURCE_TYPES.get(request.params["type"])
        if card is None:
            raise connect_error("NotFound", f"Source type {request.params['type']} not found", 404)
        return json_response(card)

    def _list_sources(self, request: Request) -> Response:
        raw = request.query.get("page", "1")
        if not raw.isdigit() or int(raw) < 1:
            raise connect_error("InvalidBody", f"page must be a positive integer, not {raw!r}")
        page = int(raw)
        with self._lock:
            everything = [source.to_json() for source in self._sources.values()]
        start = (page - 1) * self.page_size
        data = everything[start : start + self.page_size]
        more = start + self.page_size < len(everything)
        next_url = f"{self.url}/v4/sources?{urlencode({'page': page + 1})}" if more else None
        return json_response({"data": data, "links": {"next": next_url}})

    @staticmethod
    def _object_body(request: Request) -> dict[str, Any]:
        try:
            body = json.loads(request.body) if request.body.strip() else {}
        except ValueError:
            raise connect_error("InvalidBody", "The request body is not valid JSON") from None
        if not isinstance(body, dict):
            raise connect_error("InvalidBody", "The request body must be a JSON object")
        return body

    @staticmethod
    def _check_display_name(value: Any) -> str:
        if not isinstance(value, str) or not snake_case(value):
            raise connect_error("InvalidDisplayName", "display_name must be a non-empty string with letters or digits")
        return value

    @staticmethod
    def _check_properties(value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise connect_error("InvalidProperties", "properties must be a JSON object")
        return value

    def _create_source(self, request: Request) -> Response:
        body = self._object_body(request)
        unknown = sorted(set(body) - {"type", "display_name", "properties"})
        if unknown:
            raise connect_error("InvalidBody", f"Unknown field(s): {', '.join(unknown)}")
        if body.get("type") not in SOURCE_TYPES:
            raise connect_error("InvalidType", f"Unknown or missing source type: {body.get('type')!r}")
        display_name = self._check_display_name(body.get("display_name"))
        properties = self._check_properties(body.get("properties"))
        with self._lock:
            name = snake_case(display_name)
            if any(s.name == name and s.deleted_at is None for s in self._sources.values()):
                raise connect_error("InvalidName", f"A source named {name} already exists")
            source = self._new_source(display_name, properties)
            return json_response(source.to_json())

    def _get_source(self, request: Request) -> Response:
        with self._lock:
            return json_response(self._source(request.params["id"]).to_json())

    def _update_source(self, request: Request) -> Response:
        body = self._object_body(request)
        unknown = sorted(set(body) - {"display_name", "properties", "paused_at"})
        if unknown:
            raise connect_error("InvalidBody", f"Unknown field(s): {', '.join(unknown)}")
        with self._lock:
            source = self._source(request.params["id"])
            display_name = self._check_display_name(body["display_name"]) if "display_name" in body else None
            properties = self._check_properties(body["properties"]) if "properties" in body else None
            if "paused_at" in body:
                paused_at = body["paused_at"]
                if paused_at is not None:
                    try:
                        datetime.fromisoformat(str(paused_at).replace("Z", "+00:00"))
                    except ValueError:
                        raise connect_error("InvalidBody", "paused_at must be an ISO 8601 timestamp or null") from None
                source.paused_at = paused_at
            if display_name is not None:
                source.display_name = display_name
            if properties is not None:
                source.properties = dict(properties)
            source.updated_at = iso_now()
            return json_response(source.to_json())

    def _delete_source(self, request: Request) -> Response:
        with self._lock:
            source = self._source(request.params["id"])
            if source.deleted_at is None:
                source.deleted_at = source.updated_at = iso_now()
            return json_response(source.to_json())

    def _create_token(self, request: Request) -> Response:
        token = self._new_token(request.params["id"])
        return json_response({"id": token.id, "access_token": token.secret})

    def _list_tokens(self, request: Request) -> Response:
        with self._lock:
            source = self._source(request.params["id"])
            ids = [t.id for t in self._tokens.values() if t.source_id == source.id and not t.revoked]
        return json_response(ids)

    def _delete_token(self, request: Request) -> Response:
        with self._lock:
            source = self._source(request.params["id"])
            raw = request.params["token_id"]
            token = self._tokens.get(int(raw)) if raw.isdigit() else None
            if token is None or token.source_id != source.id or token.revoked:
                raise connect_error("NotFound", f"Token {raw} not found for source {source.id}", 404)
            token.revoked = True
        return json_response({})

    # -- admin endpoints -------------------------------------------------------------------

    @staticmethod
    def _admin_body(request: Request) -> dict[str, Any]:
        body = request.json()
        if not isinstance(body, dict):
            raise HttpError(400, "Body must be a JSON object")
        return body

    def _admin_sources(self, request: Request) -> Response:
        return json_response(self.sources())

    def _admin_add_source(self, request: Request) -> Response:
        body = self._admin_body(request)
        try:
            return json_response(self.add_source(**body))
        except TypeError as exc:
            raise HttpError(400, str(exc)) from None

    def _admin_token(self, request: Request) -> Response:
        body = self._admin_body(request)
        token = self._new_token(body.get("source_id"))
        return json_response({"id": token.id, "access_token": token.secret})

    def _admin_revoke(self, request: Request) -> Response:
        try:
            self.revoke_import_token(str(self._admin_body(request).get("token")))
        except KeyError:
            raise HttpError(404, "unknown import token") from None
        return json_response({"revoked": True})

    def _admin_batches(self, request: Request) -> Response:
        return json_response(self.batches)

    def _admin_tables(self, request: Request) -> Response:
        return json_response([{"schema": schema, "table": table} for schema, table in self.tables()])

    def _admin_rows(self, request: Request) -> Response:
        try:
            return json_response(self.rows(request.params["schema"], request.params["table"]))
        except KeyError as exc:
            raise HttpError(404, str(exc.args[0])) from None

    def _admin_wait_loaded(self, request: Request) -> Response:
        timeout = float(self._admin_body(request).get("timeout", 10))
        try:
            self.wait_loaded(timeout)
        except TimeoutError as exc:
            raise HttpError(504, str(exc)) from None
        return json_response({"loaded": True})

    def _admin_config(self, request: Request) -> Response:
        body = self._admin_body(request)
        casts: dict[str, Callable[[Any], Any]] = {
            "load_delay": float,
            "accept_202_rate": float,
            "page_size": int,
            "region": str,
        }
        unknown = sorted(set(body) - set(casts))
        if unknown:
            raise HttpError(400, f"unknown setting(s): {unknown}")
        for name, value in body.items():
            setattr(self, name, casts[name](value))
        return json_response({name: getattr(self, name) for name in casts})


__all__ = ["StitchEmulator", "StitchError"]
