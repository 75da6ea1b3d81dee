"""``ImportioEmulator``: a stateful HTTP emulator of the Import.io v2 API.

Usage::

    with ImportioEmulator(api_key="test-key", crawl_seconds=0.05) as emu:
        extractor = emu.add_extractor(inputs=["https://example.com/a", "https://example.com/status/404"])
        requests.post(f"{emu.url}/extractors/{extractor['guid']}/start", params={"_apikey": emu.api_key})

See ``docs/importio-emulator.md`` for the endpoints, URL conventions and knobs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import timedelta
from http import HTTPStatus
from typing import Any, TypeVar

from airflow_provider_importio.testing._server import (
    JSON_TYPE,
    NDJSON_TYPE,
    EmulatorServer,
    HttpError,
    Request,
    Response,
    json_response,
    ndjson_response,
    stream_response,
)
from airflow_provider_importio.testing.importio_files import CRAWL_FILES, CSV_TYPE, XLSX_TYPE, csv_bytes, xlsx_bytes
from airflow_provider_importio.testing.importio_pages import expected_rows
from airflow_provider_importio.testing.importio_paging import paginate
from airflow_provider_importio.testing.importio_models import (
    CHANGE_REPORT,
    CRAWL_FILE_TYPES,
    FINISHED,
    REPORT_FILE_TYPES,
    User,
    iso8601,
    parse_inputs,
)
from airflow_provider_importio.testing.importio_state import ImportioState

T = TypeVar("T")

DEFAULT_API_KEY = "test-key"
#: Subscription ``maxUsage`` (URLs) of every emulated user.
MAX_USAGE = 1_000_000
#: Content types ``PUT /extractors/{id}/inputs`` reads as newline-delimited JSON.
NDJSON_INPUT_TYPES = frozenset(
    {"application/x-ndjson", "application/ndjson", "application/jsonl", "application/x-jsonlines"}
)

_ID = "[^/]+"


def _path(template: str) -> str:
    """``/extractors/{extractor_id}`` → a regex with named groups."""
    return template.replace("{", "(?P<").replace("}", f">{_ID})")


def _download(body: bytes | Iterable[bytes], content_type: str, filename: str) -> Response:
    headers = {"Content-Disposition": f'attachment; filename="{filename}"'}
    if isinstance(body, (bytes, bytearray)):
        return Response(200, bytes(body), content_type, headers)
    return stream_response(body, content_type, headers)


class ImportioEmulator(EmulatorServer):
    """Import.io v2 API emulator; see the module docstring and ``docs/importio-emulator.md``."""

    secret_query_params = ("_apikey",)

    def __init__(
        self,
        api_key: str = DEFAULT_API_KEY,
        crawl_seconds: float = 2.0,
        seconds_per_url: float = 0.0,
        host: str = "127.0.0.1",
        port: int = 0,
        username: str = "emulator",
    ) -> None:
        super().__init__(host, port)
        #: Base duration of a crawl run (and of a report run), seconds.
        self.crawl_seconds = float(crawl_seconds)
        #: Extra crawl-run duration per input URL, seconds.
        self.seconds_per_url = float(seconds_per_url)
        self.state = ImportioState()
        self._default_user: User = self.state.add_user(api_key, username)
        self._add_routes()

    def __enter__(self) -> ImportioEmulator:
        self.start()
        return self

    @property
    def api_key(self) -> str:
        """The default user's API key."""
        return self._default_user.api_key

    # -- EmulatorServer hooks --------------------------------------------------------------

    def error_body(self, status: int, message: str) -> dict[str, Any]:
        try:
            phrase = HTTPStatus(status).phrase
        except ValueError:
            phrase = "Error"
        return {"code": status, "message": message, "error": phrase}

    def authenticate(self, request: Request) -> None:
        user = self.state.user_for_key(request.query.get("_apikey"))
        if user is None:
            raise HttpError(401, "Unauthorized")
        request.context["user"] = user

    def reset(self) -> None:
        """Drop all state except the default user; also clears the request log and faults."""
        super().reset()
        self.state.reset(self._default_user.guid)

    # -- Python API ------------------------------------------------------------------------

    def add_user(self, api_key: str = "other-key", username: str = "other", email: str | None = None) -> dict[str, Any]:
        """Add a user with its own API key; returns the User JSON (without the key)."""
        return self.state.add_user(api_key, username, email).to_json()

    def add_extractor(
        self,
        name: str = "Products",
        fields: Sequence[Mapping[str, Any]] | None = None,
        inputs: Iterable[str | Mapping[str, Any]] | None = None,
        guid: str | None = None,
        archived: bool = False,
        owner_api_key: str | None = None,
        webhooks: Sequence[Mapping[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Create an extractor (owned by the default user unless ``owner_api_key``); returns its JSON."""
        owner = self.state.user_for_key(owner_api_key) if owner_api_key else self._default_user
        if owner is None:
            raise ValueError("owner_api_key does not belong to any user")
        extractor = self.state.add_extractor(owner.guid, name, fields, inputs, guid, archived, webhooks)
        return extractor.to_json()

    def add_report(
        self, extractor_id: str, name: str = "Changes", type: str = CHANGE_REPORT, guid: str | None = None  # noqa: A002
    ) -> dict[str, Any]:
        """Create a report on an extractor; returns the Report JSON."""
        return self._python(lambda: self.state.add_report(extractor_id, name, type, guid).to_json())

    def extractor(self, guid: str) -> dict[str, Any]:
        return self._python(lambda: self.state.extractor(guid).to_json())

    def new_extractor_config(self, extractor_id: str, fields: Sequence[Mapping[str, Any]] | None = None) -> str:
        """Save an edit of the extractor as a new configuration (new ``fields``, or the same ones),
        as Workbench's editor does; the extractor runs with it from now on. Returns its id, the
        extractor's new ``latestConfigId``. Archived extractor: ``ValueError``."""
        return self._python(lambda: self.state.save_config(extractor_id, fields).guid)

    def extractor_configs(self, extractor_id: str) -> list[str]:
        """The configuration ids the extractor has run with, oldest first (last = ``latestConfigId``)."""
        return self._python(lambda: list(self.state.extractor(extractor_id).config_history))

    def inputs(self, guid: str) -> list[dict[str, Any]]:
        """The extractor's input objects."""
        return self._python(lambda: [dict(item) for item in self.state.extractor(guid).inputs])

    def crawl_run(self, guid: str) -> dict[str, Any]:
        return self._python(lambda: self.state.crawl_run(guid).to_json(self.state.clock()))

    def crawl_runs(self, extractor_id: str | None = None) -> list[dict[str, Any]]:
        """All crawl runs (optionally of one extractor), oldest first."""
        now = self.state.clock()
        with self.state.lock:
            runs = list(self.state.crawl_runs.values())
        return [run.to_json(now) for run in runs if extractor_id in (None, run.extractor_id)]

    def report(self, guid: str) -> dict[str, Any]:
        return self._python(lambda: self.state.report(guid).to_json())

    def report_run(self, guid: str) -> dict[str, Any]:
        return self._python(lambda: self.state.report_run(guid).to_json(self.state.clock()))

    @staticmethod
    def expected_rows(url: str, fields: Sequence[Mapping[str, Any]] | None = None) -> list[dict[str, str]]:
        """The flattened rows ``url`` yields (as ``parse_result_line(line).flat_rows()``)."""
        return expected_rows(url, fields)

    @staticmethod
    def _python(call: Callable[[], T]) -> T:
        """Run a state call for the Python API, turning a 404 into ``KeyError``."""
        try:
            return call()
        except HttpError as exc:
            if exc.status == 404:
                raise KeyError(exc.message) from None
            raise ValueError(exc.message) from None

    # -- routes ----------------------------------------------------------------------------

    def _add_routes(self) -> None:
        routes: list[tuple[str, str, Callable[[Request], Response]]] = [
            ("GET", "/users/current", self._current_user),
            ("GET", "/users/current/subscription", self._subscription),
            ("GET", "/extractors/", self._list_extractors),
            ("GET", "/extractors/{extractor_id}", self._get_extractor),
            ("DELETE", "/extractors/{extractor_id}", self._archive_extractor),
            # Not in the OpenAPI file: Workbench's guide deploys with a PATCH of latestConfigId.
            ("PATCH", "/extractors/{extractor_id}", self._update_extractor),
            ("GET", "/extractors/{extractor_id}/inputs", self._get_inputs),
            ("PUT", "/extractors/{extractor_id}/inputs", self._put_inputs),
            ("POST", "/extractors/{extractor_id}/start", self._start_extractor),
            ("POST", "/extractors/{extractor_id}/stop", self._stop_extractor),
            ("POST", "/extractors/{extractor_id}/duplicate", self._duplicate_extractor),
            ("POST", "/extractors/{extractor_id}/credentials", self._set_credentials),
            ("GET", "/crawlruns/", self._list_crawl_runs),
            ("GET", "/crawlruns/{crawl_run_id}", self._get_crawl_run),
            ("GET", "/crawlruns/{crawl_run_id}/{file_type}", self._crawl_run_file),
            ("GET", "/reports/", self._list_reports),
            ("GET", "/reports/{report_id}", self._get_report),
            ("DELETE", "/reports/{report_id}", self._delete_report),
            ("POST", "/reports/{report_id}/start", self._start_report),
            ("GET", "/reports/{report_id}/reportruns", self._list_report_runs),
            ("GET", "/reportruns/", self._list_report_runs),
            ("GET", "/reportruns/{report_run_id}", self._get_report_run),
            ("GET", "/reportruns/{report_run_id}/{file_type}", self._report_run_file),
        ]
        for method, template, handler in routes:
            self.route(method, _path(template), handler)
        self.admin_route("POST", "extractors", self._admin_extractor)
        self.admin_route("POST", "reports", self._admin_report)
        self.admin_route("POST", "users", self._admin_user)
        self.admin_route("POST", "config", self._admin_config)
        self.admin_route("POST", "extractor-configs", self._admin_extractor_config)

    @staticmethod
    def _user(request: Request) -> User:
        user: User = request.context["user"]
        return user

    # users

    def _current_user(self, request: Request) -> Response:
        return json_response(self._user(request).to_json())

    def _subscription(self, request: Request) -> Response:
        user = self._user(request)
        return json_response(
            {
                "userId": user.guid,
                "planCode": "EMULATOR",
                "currentUsage": self.state.usage(user.guid),
                "maxUsage": MAX_USAGE,
                "expiryDate": iso8601(user.created + timedelta(days=365).total_seconds()),
                "nextBillingDate": iso8601(user.created + timedelta(days=30).total_seconds()),
                "autoRenew": True,
                "trial": False,
                "custom": False,
                "features": ["API", "REPORTS", "HTML_CAPTURE"],
                "overage": {"enabled": False},
            }
        )

    # extractors

    def _list_extractors(self, request: Request) -> Response:
        return json_response(paginate(self.state.extractor_docs(self._user(request).guid), request.query))

    def _get_extractor(self, request: Request) -> Response:
        return json_response(self.state.extractor(request.params["extractor_id"]).to_json())

    def _archive_extractor(self, request: Request) -> Response:
        return json_response(self.state.archive_extractor(request.params["extractor_id"]).to_json())

    def _update_extractor(self, request: Request) -> Response:
        extractor_id = request.params["extractor_id"]
        self.state.extractor(extractor_id)  # 404 before the body is read
        extractor = self.state.update_extractor(extractor_id, self._user(request).guid, request.json())
        return json_response(extractor.to_json())

    def _get_inputs(self, request: Request) -> Response:
        inputs = self.state.extractor(request.params["extractor_id"]).inputs
        if request.accepts(NDJSON_TYPE):
            return ndjson_response(inputs)
        return json_response({"_url": "\n".join(str(item["_url"]) for item in inputs)})

    def _put_inputs(self, request: Request) -> Response:
        self.state.extractor(request.params["extractor_id"])
        inputs = _parse_inputs_body(request)
        extractor = self.state.set_inputs(request.params["extractor_id"], inputs)
        return json_response({"urlListId": extractor.url_list_id, "inputCount": len(inputs)})

    def _start_extractor(self, request: Request) -> Response:
        run = self.state.start_crawl(
            request.params["extractor_id"], lambda urls: self.crawl_seconds + self.seconds_per_url * urls
        )
        return json_response({"crawlRunId": run.guid})

    def _stop_extractor(self, request: Request) -> Response:
        return json_response({"crawlRunId": self.state.stop_crawl(request.params["extractor_id"]).guid})

    def _duplicate_extractor(self, request: Request) -> Response:
        copy = self.state.duplicate(request.params["extractor_id"], self._user(request).guid)
        return json_response(copy.to_json())

    def _set_credentials(self, request: Request) -> Response:
        self.state.extractor(request.params["extractor_id"])
        body = request.json()
        username = body.get("username") if isinstance(body, dict) else None
        password = body.get("password") if isinstance(body, dict) else None
        if not (isinstance(username, str) and username and isinstance(password, str) and password):
            raise HttpError(400, "username and password are required")
        credentials_id = self.state.set_credentials(
            request.params["extractor_id"], self._user(request).guid, username, password
        )
        return json_response({"credentialsId": credentials_id, "username": username})

    # crawl runs

    def _list_crawl_runs(self, request: Request) -> Response:
        docs = self.state.crawl_run_docs(self._user(request).guid, request.query.get("extractorId"))
        return json_response(paginate(docs, request.query))

    def _get_crawl_run(self, request: Request) -> Response:
        return json_response(self.state.crawl_run(request.params["crawl_run_id"]).to_json(self.state.clock()))

    def _crawl_run_file(self, request: Request) -> Response:
        run = self.state.crawl_run(request.params["crawl_run_id"])
        file_type = _file_type(request, CRAWL_FILE_TYPES)
        _require_finished(f"Crawl run {run.guid}", run.life.state(self.state.clock()))
        kind = CRAWL_FILES[file_type]
        return _download(kind.build(run.source), kind.content_type, f"{run.guid}.{kind.extension}")

    # reports

    def _list_reports(self, request: Request) -> Response:
        return json_response(paginate(self.state.report_docs(self._user(request).guid), request.query))

    def _get_report(self, request: Request) -> Response:
        return json_response(self.state.report(request.params["report_id"]).to_json())

    def _delete_report(self, request: Request) -> Response:
        return json_response(self.state.delete_report(request.params["report_id"]).to_json())

    def _start_report(self, request: Request) -> Response:
        run = self.state.start_report(request.params["report_id"], self.crawl_seconds)
        return json_response({"reportRunId": run.guid})

    def _list_report_runs(self, request: Request) -> Response:
        report_id = request.params.get("report_id")
        if report_id is not None:
            self.state.report(report_id)
        docs = self.state.report_run_docs(self._user(request).guid, report_id)
        return json_response(paginate(docs, request.query))

    def _get_report_run(self, request: Request) -> Response:
        return json_response(self.state.report_run(request.params["report_run_id"]).to_json(self.state.clock()))

    def _report_run_file(self, request: Request) -> Response:
        run = self.state.report_run(request.params["report_run_id"])
        file_type = _file_type(request, REPORT_FILE_TYPES)
        if file_type not in run.attachments:
            raise HttpError(404, "JSON output is only available for CHANGE reports")
        _require_finished(f"Report run {run.guid}", run.life.state(self.state.clock()))
        assert run.result is not None
        name = f"{run.guid}.{file_type}"
        if file_type == "json":
            return _download(json.dumps(run.result.change).encode("utf-8"), JSON_TYPE, name)
        if file_type == "xlsx":
            return _download(xlsx_bytes(run.result.header, run.result.rows), XLSX_TYPE, name)
        return _download(b"".join(csv_bytes(run.result.header, run.result.rows)), CSV_TYPE, name)

    # admin

    def _admin_call(self, request: Request, call: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
        body = request.json()
        if not isinstance(body, dict):
            raise HttpError(400, "Body must be a JSON object")
        try:
            return json_response(call(body))
        except (TypeError, ValueError, KeyError) as exc:
            raise HttpError(400, str(exc)) from None

    def _admin_extractor(self, request: Request) -> Response:
        return self._admin_call(request, lambda body: self.add_extractor(**body))

    def _admin_report(self, request: Request) -> Response:
        return self._admin_call(request, lambda body: self.add_report(**body))

    def _admin_user(self, request: Request) -> Response:
        return self._admin_call(request, lambda body: self.add_user(**body))

    def _admin_extractor_config(self, request: Request) -> Response:
        def save(body: dict[str, Any]) -> dict[str, Any]:
            config_id = self.new_extractor_config(**body)
            return {"latestConfigId": config_id, "extractor": self.extractor(body["extractor_id"])}

        return self._admin_call(request, save)

    def _admin_config(self, request: Request) -> Response:
        def configure(body: dict[str, Any]) -> dict[str, Any]:
            unknown = set(body) - {"crawl_seconds", "seconds_per_url"}
            if unknown:
                raise ValueError(f"unknown setting(s) {sorted(unknown)}")
            for name, value in body.items():
                setattr(self, name, float(value))
            return {"crawl_seconds": self.crawl_seconds, "seconds_per_url": self.seconds_per_url}

        return self._admin_call(request, configure)


def _file_type(request: Request, known: Sequence[str]) -> str:
    file_type = request.params["file_type"]
    if file_type not in known:
        raise HttpError(404, f"Unknown file type {file_type!r}; expected one of {', '.join(known)}")
    return file_type


def _require_finished(what: str, state: str) -> None:
    if state != FINISHED:
        raise HttpError(404, f"{what} is {state}: its files are available once it is {FINISHED}")


def _parse_inputs_body(request: Request) -> list[dict[str, Any]]:
    """Input objects from a JSON ``{"_url": "u1\\nu2"}`` or an NDJSON body; 400 when invalid."""
    try:
        text = request.body.decode("utf-8")
        if request.content_type in NDJSON_INPUT_TYPES:
            objects = [json.loads(line) for line in text.splitlines() if line.strip()]
            if not all(isinstance(obj, dict) for obj in objects):
                raise ValueError("every line must be a JSON object")
        elif request.content_type in ("application/json", ""):
            body = json.loads(text) if text.strip() else None
            if not isinstance(body, dict) or not isinstance(body.get("_url"), str):
                raise ValueError('expected a JSON object with a string "_url"')
            objects = [line for line in body["_url"].splitlines() if line.strip()]
        else:
            raise ValueError(f"unsupported Content-Type {request.content_type!r}")
        return parse_inputs(objects)
    except ValueError as exc:  # includes JSON and UTF-8 decoding errors
        raise HttpError(400, f"Invalid inputs: {exc}") from None
