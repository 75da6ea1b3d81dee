"""Every one of the spec's 22 operations: the emulator's answers validate against the OpenAPI file.

Where the facts file (authoritative) and the OpenAPI file differ, :data:`SPEC_OVERLAY` patches the
loaded spec; each entry says why. ``docs/importio-emulator.md`` lists the same deviations.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse
from openapi_core.templating.paths.finders import APICallPathFinder

from airflow_provider_importio.testing import ImportioEmulator

from .conftest import Api

pytestmark = pytest.mark.integration

SPEC_PATH = Path(__file__).resolve().parents[2] / "resources" / "importio-api-v2.openapi.yaml"

_ERROR = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
_NULLABLE_ID = {"type": "string", "nullable": True}


def _json_body(properties: dict[str, Any]) -> dict[str, Any]:
    schema = {"type": "object", "required": list(properties), "properties": properties}
    return {"application/json": {"schema": schema}}


_CRAWL_RUN_ID = _json_body({"crawlRunId": {"type": "string", "format": "uuid"}})

#: Deviations of the emulator (following the facts file) from the OpenAPI file.
#: Key: path of keys into the spec; value: what is set there.
SPEC_OVERLAY: dict[tuple[str, ...], Any] = {
    # Facts: crawl-run startedAt/stoppedAt are epoch milliseconds (spec: date-time); null until known.
    ("components", "schemas", "Crawlrun", "properties", "startedAt"): {"type": "integer", "nullable": True},
    ("components", "schemas", "Crawlrun", "properties", "stoppedAt"): {"type": "integer", "nullable": True},
    # Facts: `files` is an attachment id like json/csv/xlsx/log/sample (spec: object); null until FINISHED.
    ("components", "schemas", "Crawlrun", "properties", "files"): _NULLABLE_ID,
    # Report-run attachment ids and errorMessage are null until the run is FINISHED / FAILED.
    ("components", "schemas", "ReportRun", "properties", "csv"): _NULLABLE_ID,
    ("components", "schemas", "ReportRun", "properties", "json"): _NULLABLE_ID,
    ("components", "schemas", "ReportRun", "properties", "xlsx"): _NULLABLE_ID,
    ("components", "schemas", "ReportRun", "properties", "errorMessage"): _NULLABLE_ID,
    # Facts: start/stop answer 400 "Extractor is archived or a crawl already in progress" /
    # "No in progress crawl found to cancel"; invalid inputs and credentials bodies are 400 too.
    ("components", "responses", "BadRequest"): {"description": "Bad request.", "content": _ERROR},
    **{
        ("paths", path, method, "responses", "400"): {"$ref": "#/components/responses/BadRequest"}
        for path, method in [
            ("/extractors/{extractorId}/start", "post"),
            ("/extractors/{extractorId}/stop", "post"),
            ("/extractors/{extractorId}/inputs", "put"),
            ("/extractors/{extractorId}/credentials", "post"),
        ]
    },
    # Facts: the start body is unknown for v2; the emulator answers like the run host, {"crawlRunId"}.
    ("paths", "/extractors/{extractorId}/start", "post", "responses", "200", "content"): _CRAWL_RUN_ID,
    ("paths", "/extractors/{extractorId}/stop", "post", "responses", "200", "content"): _CRAWL_RUN_ID,
    ("paths", "/reports/{reportId}/start", "post", "responses", "200", "content"): _json_body(
        {"reportRunId": {"type": "string", "format": "uuid"}}
    ),
    # Bodies the spec leaves unspecified, as chosen by the emulator.
    ("paths", "/extractors/{extractorId}/inputs", "put", "responses", "200", "content"): _json_body(
        {"urlListId": {"type": "string", "format": "uuid"}, "inputCount": {"type": "integer", "minimum": 1}}
    ),
    ("paths", "/extractors/{extractorId}/credentials", "post", "responses", "200", "content"): _json_body(
        {"credentialsId": {"type": "string", "format": "uuid"}, "username": {"type": "string"}}
    ),
    ("paths", "/reports/{reportId}", "delete", "responses", "200", "content"): {
        "application/json": {"schema": {"$ref": "#/components/schemas/Report"}}
    },
    # Facts: inputs are newline-delimited JSON objects; GET serves them so on Accept: application/x-ndjson.
    ("paths", "/extractors/{extractorId}/inputs", "get", "responses", "200", "content", "application/x-ndjson"): {},
}


def load_spec(server_url: str) -> OpenAPI:
    """The copied spec with :data:`SPEC_OVERLAY` applied, served at ``server_url``."""
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    for keys, value in SPEC_OVERLAY.items():
        node = spec
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    spec["servers"] = [{"url": server_url}]
    return OpenAPI.from_dict(spec)


def spec_operation_ids() -> set[str]:
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    return {
        operation["operationId"]
        for item in spec["paths"].values()
        for method, operation in item.items()
        if isinstance(operation, dict) and "operationId" in operation
    }


class World:
    """A module-wide emulator with finished crawl runs and a finished CHANGE report run."""

    def __init__(self, emu: ImportioEmulator) -> None:
        self.emu = emu
        self.api = Api(emu)
        self.ext, self.run = self.api.finished_run(["https://shop.example/a", "https://shop.example/b?rows=2"])
        inputs = {"_url": "https://shop.example/a\nhttps://shop.example/c"}
        self.api.put(f"/extractors/{self.ext['guid']}/inputs", json=inputs)
        self.run2 = self.api.wait_run(self.api.start(self.ext["guid"]))
        self.report = emu.add_report(self.ext["guid"], name="Changes", type="CHANGE")
        response = self.api.post(f"/reports/{self.report['guid']}/start")
        self.report_run = self.api.wait_report_run(response.json()["reportRunId"])
        emu.add_user(api_key="other-key", username="other")
        self.theirs = emu.add_extractor(name="Theirs", owner_api_key="other-key")

    def new_extractor(self, **kwargs: Any) -> str:
        return self.emu.add_extractor(**kwargs)["guid"]

    def pending_run(self) -> tuple[str, str]:
        """An extractor with a crawl run that stays PENDING for a while."""
        guid = self.new_extractor()
        self.emu.crawl_seconds = 60
        try:
            return guid, self.api.start(guid)
        finally:
            self.emu.crawl_seconds = 0.05


@pytest.fixture(scope="module")
def world() -> Iterator[World]:
    with ImportioEmulator(crawl_seconds=0.05) as emu:
        yield World(emu)


@pytest.fixture(scope="module")
def openapi(world: World) -> OpenAPI:
    return load_spec(world.emu.url)


UNKNOWN = str(uuid.UUID(int=0))
Call = tuple[requests.Response, int]


def _common(world: World, method: str, path: str, unknown_path: str | None = None, **kwargs: Any) -> list[Call]:
    """200 with the key, 401 without it, and 404 for ``unknown_path``."""
    calls = [(world.api.call(method, path, **kwargs), 200), (world.api.call(method, path, key=None, **kwargs), 401)]
    if unknown_path is not None:
        calls.append((world.api.call(method, unknown_path, **kwargs), 404))
    return calls


def _delete_extractor(w: World) -> list[Call]:
    return _common(w, "DELETE", f"/extractors/{w.new_extractor()}", f"/extractors/{UNKNOWN}")


def _put_inputs(w: World) -> list[Call]:
    guid = w.new_extractor()
    path, simple = f"/extractors/{guid}/inputs", {"_url": "https://x.example/1"}
    ndjson = b'{"_url": "https://x.example/1", "q": "shoes"}\n{"_url": "https://x.example/2"}\n'
    return [
        *_common(w, "PUT", path, f"/extractors/{UNKNOWN}/inputs", json=simple),
        (w.api.put(path, data=ndjson, headers={"Content-Type": "application/x-ndjson"}), 200),
        (w.api.put(path, json={"url": "missing the _url key"}), 400),
    ]


def _get_inputs(w: World) -> list[Call]:
    path = f"/extractors/{w.ext['guid']}/inputs"
    return [
        *_common(w, "GET", path, f"/extractors/{UNKNOWN}/inputs"),
        (w.api.get(path, headers={"Accept": "application/x-ndjson"}), 200),
    ]


def _start(w: World) -> list[Call]:
    guid = w.new_extractor()
    w.emu.crawl_seconds = 60
    try:
        calls = _common(w, "POST", f"/extractors/{guid}/start", f"/extractors/{UNKNOWN}/start")
        calls.append((w.api.post(f"/extractors/{guid}/start"), 400))
    finally:
        w.emu.crawl_seconds = 0.05
    return calls


def _stop(w: World) -> list[Call]:
    guid, _ = w.pending_run()
    return [
        *_common(w, "POST", f"/extractors/{guid}/stop", f"/extractors/{UNKNOWN}/stop"),
        (w.api.post(f"/extractors/{guid}/stop"), 400),
    ]


def _duplicate(w: World) -> list[Call]:
    return [
        *_common(w, "POST", f"/extractors/{w.ext['guid']}/duplicate", f"/extractors/{UNKNOWN}/duplicate"),
        (w.api.post(f"/extractors/{w.theirs['guid']}/duplicate"), 403),
    ]


def _credentials(w: World) -> list[Call]:
    body = {"username": "user", "password": "pa55word"}
    path = f"/extractors/{w.ext['guid']}/credentials"
    return [
        *_common(w, "POST", path, f"/extractors/{UNKNOWN}/credentials", json=body),
        (w.api.post(path, json={"username": "user"}), 400),
        (w.api.post(f"/extractors/{w.theirs['guid']}/credentials", json=body), 403),
    ]


def _crawl_run_file(w: World) -> list[Call]:
    run_id = w.run2["guid"]
    _, pending = w.pending_run()
    calls = _common(w, "GET", f"/crawlruns/{run_id}/json", f"/crawlruns/{UNKNOWN}/json")
    calls += [(w.api.get(f"/crawlruns/{run_id}/{kind}"), 200) for kind in ("csv", "xlsx", "log", "sample", "files")]
    calls += [(w.api.get(f"/crawlruns/{pending}/csv"), 404), (w.api.get(f"/crawlruns/{run_id}/pdf"), 404)]
    return calls


def _delete_report(w: World) -> list[Call]:
    report = w.emu.add_report(w.ext["guid"], name="Doomed")
    calls = _common(w, "DELETE", f"/reports/{report['guid']}", f"/reports/{UNKNOWN}")
    return [*calls, (w.api.delete(f"/reports/{report['guid']}"), 404)]


def _report_run_file(w: World) -> list[Call]:
    run_id = w.report_run["guid"]
    calls = _common(w, "GET", f"/reportruns/{run_id}/json", f"/reportruns/{UNKNOWN}/json")
    return calls + [(w.api.get(f"/reportruns/{run_id}/{kind}"), 200) for kind in ("csv", "xlsx")]


CASES: dict[str, Callable[[World], list[Call]]] = {
    "getCurrentUser": lambda w: _common(w, "GET", "/users/current"),
    "getCurrentUserSubscription": lambda w: _common(w, "GET", "/users/current/subscription"),
    "listExtractors": lambda w: _common(w, "GET", "/extractors/", params={"_perpage": 2, "_sort": "name"}),
    "getExtractor": lambda w: _common(w, "GET", f"/extractors/{w.ext['guid']}", f"/extractors/{UNKNOWN}"),
    "deleteExtractor": _delete_extractor,
    "getExtractorInputs": _get_inputs,
    "updateExtractorInputs": _put_inputs,
    "startExtractor": _start,
    "stopExtractor": _stop,
    "duplicateExtractor": _duplicate,
    "updateExtractorCredentials": _credentials,
    "listCrawlruns": lambda w: _common(w, "GET", "/crawlruns/", params={"_sort": "meta_created_at"}),
    "getCrawlrun": lambda w: _common(w, "GET", f"/crawlruns/{w.run['guid']}", f"/crawlruns/{UNKNOWN}"),
    "getCrawlrunFile": _crawl_run_file,
    "listReports": lambda w: _common(w, "GET", "/reports/"),
    "getReport": lambda w: _common(w, "GET", f"/reports/{w.report['guid']}", f"/reports/{UNKNOWN}"),
    "deleteReport": _delete_report,
    "startReport": lambda w: _common(w, "POST", f"/reports/{w.report['guid']}/start", f"/reports/{UNKNOWN}/start"),
    "listReportRunsForReport": lambda w: _common(
        w, "GET", f"/reports/{w.report['guid']}/reportruns", f"/reports/{UNKNOWN}/reportruns"
    ),
    "listReportRuns": lambda w: _common(w, "GET", "/reportruns/"),
    "getReportRun": lambda w: _common(w, "GET", f"/reportruns/{w.report_run['guid']}", f"/reportruns/{UNKNOWN}"),
    "getReportRunFile": _report_run_file,
}


def test_every_spec_operation_has_a_case() -> None:
    assert len(CASES) == 22
    assert set(CASES) == spec_operation_ids()


@pytest.mark.parametrize("operation_id", sorted(CASES))
def test_responses_validate_against_the_spec(operation_id: str, world: World, openapi: OpenAPI) -> None:
    calls = CASES[operation_id](world)
    for response, expected in calls:
        where = f"{response.request.method} {response.request.path_url.split('?')[0]}"
        assert response.status_code == expected, f"{where}: {response.status_code} {response.text[:300]}"
        request = RequestsOpenAPIRequest(response.request)
        found = APICallPathFinder(openapi.spec).find(request.method, request.host_url + request.path)
        assert (found.operation / "operationId").read_value() == operation_id, where
        openapi.validate_response(request, RequestsOpenAPIResponse(response))
        if expected >= 400:
            assert set(response.json()) == {"code", "message", "error"} and response.json()["code"] == expected
