"""Helpers for the Import.io emulator's own tests: plain ``requests`` against a running emulator."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
import requests

from airflow_provider_importio.testing import ImportioEmulator

DEFAULT_KEY: Any = object()
TERMINAL = {"FINISHED", "FAILED", "CANCELLED"}


class Api:
    """Thin HTTP helper: adds ``_apikey`` (the emulator's unless ``key`` says otherwise)."""

    def __init__(self, emulator: ImportioEmulator) -> None:
        self.emu = emulator
        self.session = requests.Session()

    def call(self, method: str, path: str, key: Any = DEFAULT_KEY, **kwargs: Any) -> requests.Response:
        params = dict(kwargs.pop("params", None) or {})
        key = self.emu.api_key if key is DEFAULT_KEY else key
        if key is not None:
            params["_apikey"] = key
        kwargs.setdefault("timeout", 30)
        return self.session.request(method, self.emu.url + path, params=params, **kwargs)

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("GET", path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("POST", path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> requests.Response:
        return self.call("DELETE", path, **kwargs)

    def start(self, extractor_id: str) -> str:
        response = self.post(f"/extractors/{extractor_id}/start")
        assert response.status_code == 200, response.text
        return response.json()["crawlRunId"]

    def wait(self, path: str, key: str = "state", timeout: float = 30) -> dict[str, Any]:
        """Poll ``path`` until its ``key`` is terminal."""
        deadline = time.monotonic() + timeout
        while True:
            doc = self.get(path).json()
            if doc[key] in TERMINAL or time.monotonic() > deadline:
                return doc
            time.sleep(0.01)

    def wait_run(self, crawl_run_id: str) -> dict[str, Any]:
        return self.wait(f"/crawlruns/{crawl_run_id}")

    def wait_report_run(self, report_run_id: str) -> dict[str, Any]:
        return self.wait(f"/reportruns/{report_run_id}", key="status")

    def finished_run(self, inputs: list[Any] | None = None, **extractor: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """A new extractor and its first, finished crawl run."""
        ext = self.emu.add_extractor(inputs=inputs, **extractor)
        run = self.wait_run(self.start(ext["guid"]))
        assert run["state"] == "FINISHED", run
        return ext, run

    def file(self, crawl_run_id: str, file_type: str) -> requests.Response:
        response = self.get(f"/crawlruns/{crawl_run_id}/{file_type}")
        assert response.status_code == 200, response.text
        return response


@pytest.fixture
def emu(importio_emulator: ImportioEmulator) -> ImportioEmulator:
    """The pytest plugin's emulator (crawl runs take 0.05 s)."""
    return importio_emulator


@pytest.fixture
def api(emu: ImportioEmulator) -> Iterator[Api]:
    client = Api(emu)
    yield client
    client.session.close()
