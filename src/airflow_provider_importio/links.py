"""Extra links from a task to the Import.io dashboard.

Tasks push the ids to XCom under :data:`XCOM_CRAWL_RUN_ID` and :data:`XCOM_EXTRACTOR_ID`; the
links read them back. The dashboard's URL scheme lives here only. Links never carry the API key.

Dashboard URLs (``https://app.import.io``): ``/dash/extractors/{id}`` opens an extractor (it
lands on its run history, ``/dash/extractors/{id}/history``). The dashboard has no documented
page for one crawl run, so a crawl run links to its extractor's run history with the run id as
the URL fragment (a fragment is never sent to the server).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from airflow.sdk import BaseOperatorLink

DASHBOARD_URL = "https://app.import.io"
XCOM_CRAWL_RUN_ID = "crawl_run_id"
XCOM_EXTRACTOR_ID = "extractor_id"


def extractor_url(extractor_id: str) -> str:
    """The extractor's page in the Import.io dashboard."""
    return f"{DASHBOARD_URL}/dash/extractors/{quote(str(extractor_id), safe='')}"


def crawl_run_url(extractor_id: str, crawl_run_id: str) -> str:
    """The crawl run in its extractor's run history."""
    return f"{extractor_url(extractor_id)}/history#{quote(str(crawl_run_id), safe='')}"


def _xcom(ti_key: Any, key: str) -> str | None:
    from airflow.sdk.execution_time.xcom import XCom

    value = XCom.get_value(ti_key=ti_key, key=key)
    return value if isinstance(value, str) and value else None


class ImportioExtractorLink(BaseOperatorLink):
    """The task's extractor in the Import.io dashboard (XCom ``extractor_id``)."""

    name = "Import.io extractor"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        extractor_id = _xcom(ti_key, XCOM_EXTRACTOR_ID)
        return extractor_url(extractor_id) if extractor_id else ""


class ImportioCrawlRunLink(BaseOperatorLink):
    """The task's crawl run in the Import.io dashboard (XCom ``crawl_run_id`` and ``extractor_id``)."""

    name = "Import.io crawl run"

    def get_link(self, operator: Any, *, ti_key: Any) -> str:
        extractor_id = _xcom(ti_key, XCOM_EXTRACTOR_ID)
        crawl_run_id = _xcom(ti_key, XCOM_CRAWL_RUN_ID)
        return crawl_run_url(extractor_id, crawl_run_id) if extractor_id and crawl_run_id else ""
