"""Plain clients for Stitch's Connect API and Import API (no Airflow imports).

Both run on the shared :class:`~.http.HttpTransport` with a Bearer token. Import API batches
are upserts with fixed sequences, so every Import API request is safe to repeat: 429 (honouring
``Retry-After``), 500, 502-504, timeouts and dropped connections are retried with backoff, a 413
splits the batch in halves, and 400/401/403/415/422 raise at once with Stitch's reason and the
table's name. A 401 for a paused or deleted source raises :class:`SourceInactiveError`, a 401
for the wrong region :class:`InvalidRegionError`, so neither is mistaken for a bad token.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from datetime import datetime, timezone
from typing import Any

from airflow_provider_importio import __version__
from airflow_provider_importio.clients.errors import ApiError, PayloadTooLargeError, UnauthorizedError
from airflow_provider_importio.clients.http import HttpTransport, RetryPolicy, Timeout, path
from airflow_provider_importio.clients.masking import Masker
from airflow_provider_importio.clients.stitch_batching import Batch, BatchLimits, StitchRecordError, batches
from airflow_provider_importio.clients.stitch_records import BatchResult, ImportToken, PushSummary, Source

log = logging.getLogger(__name__)

CONNECT_BASE_URL = "https://api.stitchdata.com"
#: Import API base URL per data pipeline region.
IMPORT_REGIONS: dict[str, str] = {
    "north-america": "https://api.stitchdata.com",
    "europe": "https://api.eu-central-1.stitchdata.com",
}
SERVICE = "Stitch"
INACTIVE_SOURCE = "Connection is not active."
INVALID_REGION = "Invalid region."


class SourceInactiveError(UnauthorizedError):
    """401 for a token of a paused or deleted Stitch source (the token itself may be fine)."""


class InvalidRegionError(UnauthorizedError):
    """401 because the token belongs to another Stitch region than the base URL."""


class SplitImpossibleError(PayloadTooLargeError):
    """413 for a batch of one record: it cannot be split further."""


def _refine(error: ApiError) -> ApiError:
    if error.status == 401 and error.reason:
        for marker, cls in ((INACTIVE_SOURCE, SourceInactiveError), (INVALID_REGION, InvalidRegionError)):
            if marker in error.reason:
                return _retyped(error, cls, error.message)
    return error


def _retyped(error: ApiError, cls: type[ApiError], message: str) -> ApiError:
    return cls(message, service=error.service, method=error.method, url=error.url, status=error.status,
               body=error.body, reason=error.reason, retry_after=error.retry_after)


def build_transport(token: str, base_url: str, *, timeout: Timeout = (10.0, 120.0),
                    retry: RetryPolicy | None = None, all_idempotent: bool = False, **kwargs: Any) -> HttpTransport:
    """A transport that sends ``Authorization: Bearer <token>`` and masks the token everywhere."""
    if not token:
        raise ValueError("a Stitch token is required")
    retry = retry or RetryPolicy()
    return HttpTransport(
        base_url=base_url,
        service=SERVICE,
        masker=Masker([token]),
        auth_headers={"Authorization": f"Bearer {token}"},
        timeout=timeout,
        retry=replace(retry, all_idempotent=all_idempotent or retry.all_idempotent),
        user_agent=f"airflow-provider-importio/{__version__}",
        refine_error=_refine,
        **kwargs,
    )


def import_base_url(region: str | None) -> str:
    """The Import API base URL of a region name (``north-america`` or ``europe``)."""
    key = (region or "north-america").strip().lower()
    if key not in IMPORT_REGIONS:
        raise ValueError(f"unknown Stitch region {region!r}; expected one of {', '.join(IMPORT_REGIONS)}")
    return IMPORT_REGIONS[key]


class StitchConnectApi:
    """Stitch Connect API v4: source types, sources (with pause and unpause) and Import API tokens."""

    transport: HttpTransport

    def list_source_types(self) -> list[dict[str, Any]]:
        return list(self._pages("/v4/source-types"))

    def get_source_type(self, source_type: str) -> dict[str, Any]:
        """The report card of a source type (steps to a fully configured source)."""
        return self.transport.request_json("GET", path("/v4/source-types/{}", source_type))

    def create_source(self, display_name: str, source_type: str = "import_api",
                      properties: Mapping[str, Any] | None = None) -> Source:
        body = {"type": source_type, "display_name": display_name, "properties": dict(properties or {})}
        return Source.from_api(self.transport.request_json("POST", "/v4/sources", json=body))

    def list_sources(self) -> Iterator[Source]:
        """Every source, paused and deleted ones included, following ``links.next``."""
        return (Source.from_api(item) for item in self._pages("/v4/sources"))

    def get_source(self, source_id: int) -> Source:
        return Source.from_api(self.transport.request_json("GET", path("/v4/sources/{}", source_id)))

    def update_source(self, source_id: int, **changes: Any) -> Source:
        """``PUT /v4/sources/{id}`` with ``display_name``, ``properties`` and/or ``paused_at``."""
        return Source.from_api(self.transport.request_json("PUT", path("/v4/sources/{}", source_id), json=changes))

    def pause_source(self, source_id: int, at: datetime | None = None) -> Source:
        moment = (at or datetime.now(timezone.utc)).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self.update_source(source_id, paused_at=moment)

    def unpause_source(self, source_id: int) -> Source:
        return self.update_source(source_id, paused_at=None)

    def delete_source(self, source_id: int) -> Source:
        return Source.from_api(self.transport.request_json("DELETE", path("/v4/sources/{}", source_id)))

    def find_source(self, display_name: str, source_type: str = "import_api") -> Source | None:
        """The live (not deleted) source with this display name and type, if any."""
        for source in self.list_sources():
            if source.display_name == display_name and source.type == source_type and not source.deleted_at:
                return source
        return None

    def create_import_token(self, source_id: int) -> ImportToken:
        """A new Import API token; Stitch shows it once, and allows two active per source."""
        body = self.transport.request_json("POST", path("/v4/sources/{}/tokens", source_id))
        return ImportToken(id=int(body["id"]), access_token=body["access_token"])

    def list_import_token_ids(self, source_id: int) -> list[int]:
        return [int(i) for i in self.transport.request_json("GET", path("/v4/sources/{}/tokens", source_id)) or ()]

    def revoke_import_token(self, source_id: int, token_id: int) -> None:
        self.transport.request("DELETE", path("/v4/sources/{}/tokens/{}", source_id, token_id))

    def _pages(self, first: str) -> Iterator[dict[str, Any]]:
        """Items of a list answer: a plain array, or ``{"data": [...], "links": {"next": url}}`` pages."""
        next_url: str | None = first
        while next_url:
            body = self.transport.request_json("GET", next_url)
            if isinstance(body, list):
                yield from body
                return
            yield from (body or {}).get("data") or ()
            next_url = ((body or {}).get("links") or {}).get("next")


class StitchImportApi:
    """Stitch Import API v2: batch, validate, status, and a streaming ``push_records``."""

    transport: HttpTransport

    def status(self) -> dict[str, Any]:
        """``GET /v2/import/status``: whether the Import API is up (needs no token)."""
        return self.transport.request_json("GET", "/v2/import/status")

    def validate(self, records: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
        """``POST /v2/import/validate`` with records in the push format (nothing is loaded)."""
        return self.transport.request_json("POST", "/v2/import/validate", json=list(records))

    def batch(self, table_name: str, schema: Mapping[str, Any], messages: Sequence[Mapping[str, Any]],
              key_names: Sequence[str] = ()) -> BatchResult:
        """``POST /v2/import/batch`` with ready-made messages (``push_records`` packs them for you)."""
        body = {"table_name": table_name, "schema": dict(schema), "messages": list(messages),
                "key_names": list(key_names)}
        return self._send(json_body=body, records=len(messages))

    def push_records(self, table: str, schema: Mapping[str, Any], key_names: Sequence[str],
                     records: Iterable[Mapping[str, Any]], *, sequence_start: int,
                     limits: BatchLimits = BatchLimits(), progress_every: int = 50) -> PushSummary:
        """Stream records to ``table`` in batches under every Stitch limit; return what was sent.

        Record ``i`` gets sequence ``sequence_start + i`` (see
        :func:`~.stitch_batching.sequence_start_for`), so a re-run upserts the same rows in the
        same order. A record that breaks a limit raises :class:`StitchRecordError` before its
        batch is sent; batches already accepted stay accepted (a re-run repeats them harmlessly).

        One batch is in flight while the next is packed (a sender thread posts them one at a
        time, in order), so reading and serialising overlap Stitch's answer. Errors come out
        in the order a serial push would meet them: a refused batch before a bad record after it.
        """
        summary = PushSummary(table=table)
        in_flight: Future[None] | None = None

        def finish_in_flight() -> None:  # wait for the batch in flight; raise its error
            nonlocal in_flight
            done, in_flight = in_flight, None
            if done is not None:
                done.result()
                if summary.batches % progress_every == 0:
                    log.info("Stitch table %r: %d records in %d batches so far", table, summary.records,
                             summary.batches)

        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="stitch-push") as sender:
            try:
                for batch in batches(table, schema, key_names, records, sequence_start, limits):
                    finish_in_flight()
                    in_flight = sender.submit(self._send_splitting, batch, table, summary)
            except BaseException:
                # Reading or packing failed (a bad record, say) while a batch was in flight: that
                # batch came first, so its own failure, if any, is the one to report.
                error = in_flight.exception() if in_flight is not None else None
                if error is not None:
                    raise error from None
                raise
            finish_in_flight()
        log.info("Stitch table %r: pushed %d records in %d batches (%d bytes, %d queued as 202, %d splits)",
                 table, summary.records, summary.batches, summary.bytes, summary.queued, summary.splits)
        return summary

    def _send_splitting(self, batch: Batch, table: str, summary: PushSummary) -> None:
        pending = [batch]
        while pending:
            current = pending.pop()
            body = current.body()
            try:
                result = self._send(raw_body=body, records=current.count)
            except PayloadTooLargeError as exc:
                if current.count == 1:
                    raise _retyped(exc, SplitImpossibleError, _about(table, current, exc)) from None
                summary.splits += 1
                pending.extend(reversed(current.halves()))  # keep source order
                continue
            except ApiError as exc:
                raise _retyped(exc, type(exc), _about(table, current, exc)) from None
            summary.batches += 1
            summary.records += current.count
            summary.bytes += len(body)
            summary.accepted += result.status_code == 201
            summary.queued += result.status_code == 202

    def _send(self, *, json_body: Any = None, raw_body: bytes | None = None, records: int) -> BatchResult:
        response = self.transport.request(
            "POST", "/v2/import/batch", json=json_body, data=raw_body, headers={"Content-Type": "application/json"}
        )
        body = response.json() if response.content.strip() else {}
        return BatchResult(response.status_code, body.get("status"), body.get("message"), records)


def _about(table: str, batch: Batch, exc: ApiError) -> str:
    last = batch.first_index + batch.count - 1
    return f"Stitch refused records {batch.first_index}-{last} for table {table!r}: {exc.message}"


class StitchConnectClient(StitchConnectApi):
    """Connect API client: ``StitchConnectClient(connect_token).list_sources()``."""

    def __init__(self, token: str, base_url: str = CONNECT_BASE_URL, **kwargs: Any) -> None:
        self.transport = build_transport(token, base_url, **kwargs)

    def __repr__(self) -> str:
        return f"StitchConnectClient(base_url={self.transport.base_url!r})"


class StitchImportClient(StitchImportApi):
    """Import API client: ``StitchImportClient(import_token, region="europe").push_records(...)``."""

    def __init__(self, token: str, region: str | None = None, *, base_url: str | None = None, **kwargs: Any) -> None:
        self.transport = build_transport(token, base_url or import_base_url(region), all_idempotent=True, **kwargs)

    def __repr__(self) -> str:
        return f"StitchImportClient(base_url={self.transport.base_url!r})"


__all__ = [
    "BatchLimits",
    "InvalidRegionError",
    "SourceInactiveError",
    "SplitImpossibleError",
    "StitchConnectApi",
    "StitchConnectClient",
    "StitchImportApi",
    "StitchImportClient",
    "StitchRecordError",
]
