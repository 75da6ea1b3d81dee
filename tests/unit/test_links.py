"""The Import.io dashboard links: built from the XCom ids, never holding an API key."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from airflow.sdk.execution_time.xcom import XCom

from airflow_provider_importio.links import (
    DASHBOARD_URL,
    XCOM_CRAWL_RUN_ID,
    XCOM_EXTRACTOR_ID,
    ImportioCrawlRunLink,
    ImportioExtractorLink,
    crawl_run_url,
    extractor_url,
)

EXTRACTOR_ID = "0b1d6a4e-6d4e-4d3c-9d55-1f3bd5b5c0a1"
RUN_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
TI_KEY = SimpleNamespace(dag_id="flow", task_id="wait", run_id="manual__1", map_index=-1)


@pytest.fixture
def xcom(monkeypatch) -> dict[str, Any]:
    """XCom values of TI_KEY (the task SDK reads them from the supervisor, absent in unit tests)."""
    values: dict[str, Any] = {}

    def get_value(*, ti_key: Any, key: str) -> Any:
        assert ti_key is TI_KEY
        return values.get(key)

    monkeypatch.setattr(XCom, "get_value", staticmethod(get_value))
    return values


def test_urls_hold_the_ids_and_live_under_the_dashboard():
    assert extractor_url(EXTRACTOR_ID) == f"https://app.import.io/dash/extractors/{EXTRACTOR_ID}"
    assert crawl_run_url(EXTRACTOR_ID, RUN_ID) == f"https://app.import.io/dash/extractors/{EXTRACTOR_ID}/history#{RUN_ID}"
    assert extractor_url("a/b?c") == f"{DASHBOARD_URL}/dash/extractors/a%2Fb%3Fc"  # ids cannot change the path


def test_links_read_the_ids_from_xcom_and_carry_no_key(xcom):
    xcom.update({XCOM_EXTRACTOR_ID: EXTRACTOR_ID, XCOM_CRAWL_RUN_ID: RUN_ID, "api_key": "secret-key-123"})
    run_link = ImportioCrawlRunLink().get_link(None, ti_key=TI_KEY)
    extractor_link = ImportioExtractorLink().get_link(None, ti_key=TI_KEY)
    assert run_link == crawl_run_url(EXTRACTOR_ID, RUN_ID) and RUN_ID in run_link and EXTRACTOR_ID in run_link
    assert extractor_link == extractor_url(EXTRACTOR_ID)
    for link in (run_link, extractor_link):
        assert "apikey" not in link.lower() and "secret-key-123" not in link and "?" not in link


def test_links_are_empty_until_the_ids_are_known(xcom):
    assert ImportioCrawlRunLink().get_link(None, ti_key=TI_KEY) == ""
    assert ImportioExtractorLink().get_link(None, ti_key=TI_KEY) == ""
    xcom[XCOM_CRAWL_RUN_ID] = RUN_ID  # no extractor yet: no dashboard page for the run
    assert ImportioCrawlRunLink().get_link(None, ti_key=TI_KEY) == ""


def test_link_names_are_distinct():
    assert ImportioCrawlRunLink().name == "Import.io crawl run"
    assert ImportioExtractorLink().name == "Import.io extractor"
