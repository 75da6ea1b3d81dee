"""A plain client for the Import.io v2 API (no Airflow imports).

:class:`ImportioApi` holds one method per operation of the published API (22 of them) and
needs only a :class:`~.http.HttpTransport`; :class:`ImportioClient` builds that transport from
an API key, and the Airflow hook builds it from a Connection.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airflow_provider_importio import __version__
from airflow_provider_importio.clients.errors import InvalidResponseError
from airflow_provider_importio.clients.http import (
    DownloadTarget,
    HttpTransport,
    RetryPolicy,
    Timeout,
    paginate,
    path,
)
from airflow_provider_importio.clients.importio_records import (
    CRAWL_RUN_FILE_TYPES,
    REPORT_RUN_FILE_TYPES,
    CrawlRun,
    Extractor,
    Report,
    ReportRun,
    Subscription,
    User,
)
from airflow_provider_importio.clients.importio_results import ResultLine, parse_result_line
from airflow_provider_importio.clients.masking import Masker

DEFAULT_BASE_URL = "https://api.import.io"
SERVICE = "Import.io"
DEFAULT_PER_PAGE = 100
MAX_PER_PAGE = 1000
NDJSON = "application/x-ndjson"

Input = str | Mapping[str, Any]


def input_record(item: Input) -> dict[str, Any]:
    """An extractor input as Import.io's object form: ``{"_url": ..., <other inputs>}``."""
    record = {"_url": item} if isinstance(item, str) else dict(item)
    if not isinstance(record.get("_url"), str) or not record["_url"]:
        raise ValueError(f"an extractor input needs a non-empty '_url' string, got {record!r}")
    return record


class ImportioApi:
    """The Import.io v2 operations, over ``self.transport``."""

    transport: HttpTransport

    # -- shared helpers ------------------------------------------------------------------
    def _list(self, path_: str, record: Any, per_page: int, sort: str | None, sort_direction: str,
              filters: Mapping[str, Any] | None) -> Iterator[Any]:
        if not 1 <= per_page <= MAX_PER_PAGE:
            raise ValueError(f"per_page must be between 1 and {MAX_PER_PAGE}, got {per_page}")
        base = {"_perpage": per_page, "_sortDirection": sort_direction.upper(), **(filters or {})}
        if sort:
            base["_sort"] = sort

        def fetch(page: int) -> list[Any]:
            items = self.transport.request_json("GET", path_, params={**base, "_page": page}) or []
            if not isinstance(items, list):
                raise InvalidResponseError(
                    f"{SERVICE} GET {path_} answered with a {type(items).__name__}, expected a list",
                    service=SERVICE, method="GET", url=path_,
                )
            return [record.from_api(item) for item in items]

        return paginate(fetch, per_page)

    def _get(self, path_: str) -> Any:
        return self.transport.request_json("GET", path_)

    def _idempotent_transport(self) -> HttpTransport:
        """The transport, retrying every method as idempotent, for requests that are safe to repeat.

        :class:`~.http.RetryPolicy` already retries any method on 429, 502-504 and dropped
        connections; for methods outside ``IDEMPOTENT_METHODS`` (POST, PATCH) it does not retry
        500 answers and read timeouts, because the request may have taken effect. A PATCH that
        sets fields to fixed values leaves the same state however often it is applied, so it may
        be retried on those too. PATCH in general is not idempotent, hence a per-request choice
        rather than adding PATCH to ``IDEMPOTENT_METHODS``. The copy shares the session, masker
        and credentials of ``self.transport``.
        """
        transport = self.transport
        retry = getattr(transport, "retry", None)
        if not isinstance(transport, HttpTransport) or not isinstance(retry, RetryPolicy) or retry.all_idempotent:
            return transport
        return dataclasses.replace(transport, retry=dataclasses.replace(retry, all_idempotent=True))

    # -- users ---------------------------------------------------------------------------
    def get_current_user(self) -> User:
        """``GET /users/current``: the user the API key belongs to."""
        return User.from_api(self._get("/users/current"))

    def get_current_user_subscription(self) -> Subscription:
        """``GET /users/current/subscription``: plan and usage."""
        return Subscription.from_api(self._get("/users/current/subscription"))

    # -- extractors ----------------------------------------------------------------------
    def list_extractors(self, *, per_page: int = DEFAULT_PER_PAGE, sort: str | None = None,
                        sort_direction: str = "DESC") -> Iterator[Extractor]:
        """``GET /extractors/``: every extractor, fetched page by page as the iterator advances."""
        return self._list("/extractors/", Extractor, per_page, sort, sort_direction, None)

    def get_extractor(self, extractor_id: str) -> Extractor:
        """``GET /extractors/{id}``."""
        return Extractor.from_api(self._get(path("/extractors/{}", extractor_id)))

    def archive_extractor(self, extractor_id: str) -> Extractor:
        """``DELETE /extractors/{id}``: archive; the extractor can no longer run."""
        return Extractor.from_api(self.transport.request_json("DELETE", path("/extractors/{}", extractor_id)))

    def get_extractor_inputs(self, extractor_id: str) -> list[dict[str, Any]]:
        """``GET /extractors/{id}/inputs`` as input objects (``{"_url": ..., ...}``)."""
        response = self.transport.request(
            "GET", path("/extractors/{}/inputs", extractor_id), headers={"Accept": f"{NDJSON}, application/json"}
        )
        text = response.text.strip()
        if not text:
            return []
        if NDJSON in response.headers.get("Content-Type", ""):
            return [json.loads(line) for line in text.splitlines() if line.strip()]
        body = json.loads(text)
        urls = body.get("_url", "") if isinstance(body, dict) else ""
        return [{"_url": url} for url in urls.splitlines() if url.strip()]

    def update_extractor_inputs(self, extractor_id: str, inputs: Iterable[Input]) -> int:
        """``PUT /extractors/{id}/inputs`` with newline-delimited input objects; return the count."""
        lines = [json.dumps(input_record(item), separators=(",", ":")) for item in inputs]
        body = ("\n".join(lines) + "\n").encode() if lines else b""
        self.transport.request(
            "PUT", path("/extractors/{}/inputs", extractor_id), data=body, headers={"Content-Type": NDJSON}
        )
        return len(lines)

    def start_extractor(self, extractor_id: str, *, repeat_safe: bool = False) -> str | None:
        """``POST /extractors/{id}/start``; return the new crawl run's id when the service gives it.

        An extractor runs one crawl at a time: a start while one runs raises
        :class:`~.errors.BadRequestError` ("Extractor is archived or a crawl already in progress").
        ``repeat_safe=True`` also retries 500 answers and read timeouts (the start may have taken
        effect): for callers that take that 400 on a repeated start to mean "our crawl runs", as
        the collection operator does; a repeated start can never run a second crawl.
        """
        transport = self._idempotent_transport() if repeat_safe else self.transport
        body = transport.request_json("POST", path("/extractors/{}/start", extractor_id))
        return body.get("crawlRunId") if isinstance(body, dict) else None

    def stop_extractor(self, extractor_id: str) -> str | None:
        """``POST /extractors/{id}/stop``: cancel the running crawl; return its id when given.

        With nothing running the service answers 400 ("No in progress crawl found to cancel").
        """
        body = self.transport.request_json("POST", path("/extractors/{}/stop", extractor_id))
        return body.get("crawlRunId") if isinstance(body, dict) else None

    def duplicate_extractor(self, extractor_id: str) -> Extractor:
        """``POST /extractors/{id}/duplicate``: a copy with a new id."""
        return Extractor.from_api(self.transport.request_json("POST", path("/extractors/{}/duplicate", extractor_id)))

    def update_extractor(self, extractor_id: str, **fields: Any) -> Extractor:
        """``PATCH /extractors/{id}`` with API field names, e.g. ``latestConfigId=...``, ``name=...``.

        Not in the v2 OpenAPI file: Workbench's quick-start guide deploys by PATCHing an
        extractor's ``latestConfigId``. The fields are set to absolute values, so the request is
        safe to repeat and is retried like a PUT (also on 500 answers and read timeouts). The live
        answer's body is not documented: without an Extractor object in it, the extractor is read
        back with a GET.
        """
        if not fields:
            raise ValueError("update_extractor needs at least one field to set")
        body = self._idempotent_transport().request_json(
            "PATCH", path("/extractors/{}", extractor_id), json=fields
        )
        if isinstance(body, dict) and "guid" in body:
            return Extractor.from_api(body)
        return self.get_extractor(extractor_id)

    def set_extractor_latest_config(self, extractor_id: str, config_id: str) -> Extractor:
        """Point an extractor at a configuration (``PATCH`` of ``latestConfigId``): the deploy step."""
        if not config_id:
            raise ValueError("config_id must be a non-empty configuration id")
        return self.update_extractor(extractor_id, latestConfigId=config_id)

    def update_extractor_credentials(self, extractor_id: str, username: str, password: str) -> None:
        """``POST /extractors/{id}/credentials``: login used for sites behind a login screen."""
        self.transport.request(
            "POST", path("/extractors/{}/credentials", extractor_id),
            json={"username": username, "password": password},
        )

    # -- crawl runs ----------------------------------------------------------------------
    def list_crawl_runs(self, *, per_page: int = DEFAULT_PER_PAGE, sort: str | None = "_meta.creationTimestamp",
                        sort_direction: str = "DESC", extractor_id: str | None = None) -> Iterator[CrawlRun]:
        """``GET /crawlruns/``, newest first by default; ``extractor_id`` filters server-side."""
        filters = {"extractorId": extractor_id} if extractor_id else None
        return self._list("/crawlruns/", CrawlRun, per_page, sort, sort_direction, filters)

    def get_crawl_run(self, crawl_run_id: str) -> CrawlRun:
        """``GET /crawlruns/{id}``."""
        return CrawlRun.from_api(self._get(path("/crawlruns/{}", crawl_run_id)))

    def download_crawl_run_file(self, crawl_run_id: str, file_type: str, target: DownloadTarget) -> int:
        """``GET /crawlruns/{id}/{fileType}`` streamed to a path or binary file; return bytes."""
        _check_file_type(file_type, CRAWL_RUN_FILE_TYPES)
        return self.transport.download(path("/crawlruns/{}/{}", crawl_run_id, file_type), target)

    def iter_crawl_run_results(self, crawl_run_id: str) -> Iterator[ResultLine]:
        """The crawl run's ``json`` file, streamed and parsed one input URL at a time."""
        for line in self.transport.iter_lines(path("/crawlruns/{}/json", crawl_run_id)):
            yield parse_result_line(line)

    # -- reports -------------------------------------------------------------------------
    def list_reports(self, *, per_page: int = DEFAULT_PER_PAGE, sort: str | None = None,
                     sort_direction: str = "DESC") -> Iterator[Report]:
        """``GET /reports/``."""
        return self._list("/reports/", Report, per_page, sort, sort_direction, None)

    def get_report(self, report_id: str) -> Report:
        """``GET /reports/{id}``."""
        return Report.from_api(self._get(path("/reports/{}", report_id)))

    def delete_report(self, report_id: str) -> None:
        """``DELETE /reports/{id}``."""
        self.transport.request("DELETE", path("/reports/{}", report_id))

    def start_report(self, report_id: str) -> str | None:
        """``POST /reports/{id}/start``; return the report run's id when the service gives it."""
        body = self.transport.request_json("POST", path("/reports/{}/start", report_id))
        return body.get("reportRunId") if isinstance(body, dict) else None

    def list_report_runs_for_report(self, report_id: str, *, per_page: int = DEFAULT_PER_PAGE,
                                    sort: str | None = None, sort_direction: str = "DESC") -> Iterator[ReportRun]:
        """``GET /reports/{id}/reportruns``."""
        return self._list(path("/reports/{}/reportruns", report_id), ReportRun, per_page, sort, sort_direction, None)

    def list_report_runs(self, *, per_page: int = DEFAULT_PER_PAGE, sort: str | None = None,
                         sort_direction: str = "DESC") -> Iterator[ReportRun]:
        """``GET /reportruns/``."""
        return self._list("/reportruns/", ReportRun, per_page, sort, sort_direction, None)

    def get_report_run(self, report_run_id: str) -> ReportRun:
        """``GET /reportruns/{id}``."""
        return ReportRun.from_api(self._get(path("/reportruns/{}", report_run_id)))

    def download_report_run_file(self, report_run_id: str, file_type: str, target: DownloadTarget) -> int:
        """``GET /reportruns/{id}/{fileType}`` streamed to a path or binary file; return bytes."""
        _check_file_type(file_type, REPORT_RUN_FILE_TYPES)
        return self.transport.download(path("/reportruns/{}/{}", report_run_id, file_type), target)


def _check_file_type(file_type: str, allowed: tuple[str, ...]) -> None:
    if file_type not in allowed:
        raise ValueError(f"file_type must be one of {', '.join(allowed)}; got {file_type!r}")


def build_transport(api_key: str, base_url: str = DEFAULT_BASE_URL, *, timeout: Timeout = (10.0, 120.0),
                    retry: RetryPolicy | None = None, **kwargs: Any) -> HttpTransport:
    """A transport that sends ``_apikey`` on every request and masks it everywhere."""
    if not api_key:
        raise ValueError("an Import.io API key is required")
    return HttpTransport(
        base_url=base_url or DEFAULT_BASE_URL,
        service=SERVICE,
        masker=Masker([api_key]),
        auth_params={"_apikey": api_key},
        timeout=timeout,
        retry=retry or RetryPolicy(),
        user_agent=f"airflow-provider-importio/{__version__}",
        **kwargs,
    )


class ImportioClient(ImportioApi):
    """Import.io API client: ``ImportioClient(api_key).get_current_user()``."""

    def __init__(self, api_key: str, base_url: str = DEFAULT_BASE_URL, *, timeout: Timeout = (10.0, 120.0),
                 retry: RetryPolicy | None = None, **transport_kwargs: Any) -> None:
        self.transport = build_transport(api_key, base_url, timeout=timeout, retry=retry, **transport_kwargs)

    @classmethod
    def from_transport(cls, transport: HttpTransport) -> ImportioClient:
        """A client over an existing transport (e.g. ``ImportioHook.transport_for(conn)`` in a trigger)."""
        client = cls.__new__(cls)
        client.transport = transport
        return client

    def close(self) -> None:
        self.transport.close()

    def __enter__(self) -> ImportioClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"ImportioClient(base_url={self.transport.base_url!r})"
