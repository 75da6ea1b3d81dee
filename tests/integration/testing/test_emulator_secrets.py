"""Authentication, and the API key never appearing in a response or in the request log."""

from __future__ import annotations

import json
import logging

import pytest
import requests

from airflow_provider_importio.testing import ImportioEmulator

from .conftest import Api

pytestmark = pytest.mark.integration

SECRET = "SeCrEt-ApI-kEy-0123456789"
UNAUTHORIZED = {"code": 401, "message": "Unauthorized", "error": "Unauthorized"}


@pytest.mark.parametrize("key", [None, "", "wrong-key", SECRET.lower()])
@pytest.mark.parametrize(
    "method, path",
    [("GET", "/users/current"), ("GET", "/extractors/"), ("POST", "/extractors/x/start"), ("GET", "/nowhere")],
)
def test_missing_or_unknown_key_is_401(key: str | None, method: str, path: str) -> None:
    with ImportioEmulator(api_key=SECRET) as emu:
        response = Api(emu).call(method, path, key=key)
        assert response.status_code == 401 and response.json() == UNAUTHORIZED


def test_the_key_never_appears_in_responses_or_the_log(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger="airflow_provider_importio.testing")
    with ImportioEmulator(api_key=SECRET, crawl_seconds=0.05) as emu:
        api = Api(emu)
        urls = [f"https://s.example/{path}" for path in ("a", "blocked", "error", "status/404")]
        ext, run = api.finished_run(urls)
        guid = ext["guid"]
        api.put(f"/extractors/{guid}/inputs", json={"_url": "https://s.example/b"})
        api.wait_run(api.start(guid))
        report = emu.add_report(guid)
        report_run = api.wait_report_run(api.post(f"/reports/{report['guid']}/start").json()["reportRunId"])
        emu.faults.script("429", "500", "drop", path=r"^/users/current$")
        responses = [api.get("/users/current"), api.get("/users/current")]
        with pytest.raises(requests.ConnectionError):
            api.get("/users/current")  # the scripted drop
        responses += [
            api.get("/users/current/subscription"),
            api.get("/extractors/"),
            api.get(f"/extractors/{guid}"),
            api.get(f"/extractors/{guid}/inputs"),
            api.get(f"/extractors/{guid}/inputs", headers={"Accept": "application/x-ndjson"}),
            api.post(f"/extractors/{guid}/start"),
            api.post(f"/extractors/{guid}/start"),
            api.post(f"/extractors/{guid}/stop"),
            api.post(f"/extractors/{guid}/duplicate"),
            api.post(f"/extractors/{guid}/credentials", json={"username": "u", "password": "p"}),
            api.get("/crawlruns/"),
            api.get(f"/crawlruns/{run['guid']}"),
            *(api.get(f"/crawlruns/{run['guid']}/{kind}") for kind in ("json", "csv", "log", "sample", "xlsx")),
            api.get(f"/crawlruns/{run['guid']}/files"),
            api.get("/reports/"),
            api.get(f"/reports/{report['guid']}"),
            api.get(f"/reports/{report['guid']}/reportruns"),
            api.get("/reportruns/"),
            api.get(f"/reportruns/{report_run['guid']}"),
            *(api.get(f"/reportruns/{report_run['guid']}/{kind}") for kind in ("json", "csv", "xlsx")),
            api.get("/extractors/unknown"),
            api.get("/extractors/", params={"_perpage": "nope"}),
            api.delete(f"/extractors/{guid}"),
            api.post(f"/extractors/{guid}/start"),
            api.get("/users/current", key=SECRET + "x"),
            api.get("/_emulator/requests"),
        ]
        assert {r.status_code for r in responses} >= {200, 400, 401, 404, 429, 500}
        for response in responses:
            assert SECRET.encode() not in response.content, response.request.path_url.split("?")[0]
            assert SECRET not in json.dumps(dict(response.headers))
        log = [record.to_dict() for record in emu.requests]
        assert SECRET not in json.dumps(log) and any(r["status"] is None for r in log)
        assert all(record["query"].get("_apikey") in ("***", None) for record in log)
    assert "_apikey=***" in caplog.text and SECRET not in caplog.text  # the server's own debug log
