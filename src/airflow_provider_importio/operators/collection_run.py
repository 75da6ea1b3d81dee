"""``ImportioCollectionRunOperator``: one chunk of one source in a delivery, as a snapshot.

The task is a small state machine over its snapshot in the store, so any retry or re-run picks
up where the last try stopped and never starts a second crawl for the same chunk:

* ``START_PENDING`` - wait (deferred) until the chunk's start offset; take the extractor's lease
  (an extractor runs one crawl at a time and its inputs live on the extractor, so two chunks of one
  extractor must never interleave) and a slot of the collection's domain; put the chunk's inputs;
  start the crawl; move to ``STARTED``. A start refused by Import.io moves to ``START_FAILED``
  with the reason (a retry "retries start").
* ``STARTED`` - wait (deferred, through :class:`~..triggers.crawl_run.ImportioCrawlRunTrigger`)
  until the run ends or the chunk's collect window runs out; on success stream the JSON results to
  the snapshot location and move to ``PENDING_IMPORT``; a failed run moves to ``RUN_FAILED`` (a
  retry re-runs it as a new attempt); a late run is stopped and moved to ``RUN_FAILED`` with why.
* ``PENDING_IMPORT`` or later - already collected: return the snapshot as it is.
"""

from __future__ import annotations

import datetime as dt
import os
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_importio.links import XCOM_CRAWL_RUN_ID, XCOM_EXTRACTOR_ID, ImportioCrawlRunLink, ImportioExtractorLink
from airflow_provider_importio.operators.run_moment import parse_moment as _parse
from airflow_provider_importio.operators.run_moment import utc_now as _now

if TYPE_CHECKING:
    from airflow_provider_importio.hooks.importio import ImportioHook
    from airflow_provider_importio.store.records import Snapshot
    from airflow_provider_importio.store.store import Store
    from airflow_provider_importio.workbench.crawl_status import CrawlOutcome

#: A crawl already running (or an archived extractor): Import.io's 400 message on a start.
IN_PROGRESS = "crawl already in progress"
#: Leases outlive the collect deadline by this much, so a killed worker's lease still expires.
LEASE_MARGIN = dt.timedelta(minutes=10)


def _conf_deferrable() -> bool:
    from airflow.configuration import conf

    return conf.getboolean("operators", "default_deferrable", fallback=False)


class ImportioCollectionRunOperator(BaseOperator):
    """Collect one chunk of inputs with one source's extractor and record it as a snapshot.

    Mapped over ``(chunk, source)`` pairs in a flow DAG (see :func:`collection_runs`).

    :param chunk: a chunk descriptor from the input pickup: ``index``, ``uri`` (``None`` runs the
        extractor's default inputs) and ``byte_range`` (the chunk's ``[start, end)`` in it; ``None``:
        all of it), ``count``, ``start``, ``collect_by`` (ISO 8601).
    :param source: ``{"slug": ..., "extractor_id": ...}``.
    :param project: project slug. :param collection: collection slug. :param flow: flow slug.
    :param results_uri: ``s3://bucket/prefix`` or a local directory for the snapshots' JSON results
        (templated); the file is ``<results_uri>/<source>/chunk-NNNN-<snapshot id>.json``.
    :param domain: the collection's ``domain`` parameter; at most ``domain_concurrency`` runs of
        this task's flows hit one domain at once. :param locale: the collection's ``locale``.
    :param deferrable: wait in the triggerer (default ``[operators] default_deferrable``).
    """

    template_fields: Sequence[str] = (
        "chunk", "source", "results_uri", "importio_conn_id", "aws_conn_id", "store_conn_id",
    )
    operator_extra_links = (ImportioCrawlRunLink(), ImportioExtractorLink())
    ui_color = "#c8e6c9"

    def __init__(
        self,
        *,
        chunk: Mapping[str, Any],
        source: Mapping[str, Any],
        project: str,
        collection: str,
        flow: str,
        results_uri: str,
        domain: str | None = None,
        locale: str | None = None,
        domain_concurrency: int = 4,
        importio_conn_id: str = "importio_default",
        aws_conn_id: str | None = "aws_default",
        store_conn_id: str = "importio_store_default",
        poll_interval: float = 30.0,
        lease_poll_interval: float = 15.0,
        deferrable: bool | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.chunk = chunk
        self.source = source
        self.project = project
        self.collection = collection
        self.flow = flow
        self.results_uri = results_uri
        self.domain = domain
        self.locale = locale
        self.domain_concurrency = max(1, int(domain_concurrency))
        self.importio_conn_id = importio_conn_id
        self.aws_conn_id = aws_conn_id
        self.store_conn_id = store_conn_id
        self.poll_interval = float(poll_interval)
        self.lease_poll_interval = float(lease_poll_interval)
        self.deferrable = _conf_deferrable() if deferrable is None else deferrable

    # -- entry points ----------------------------------------------------------------------

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        return self._advance(context)

    def resume(self, context: Mapping[str, Any], event: Any = None) -> dict[str, Any]:
        """Back from a timer (chunk start, or a busy extractor): carry on from the snapshot's state."""
        return self._advance(context)

    def execute_complete(self, context: Mapping[str, Any], event: Any = None) -> dict[str, Any]:
        """Back from the crawl-run trigger: the event decides (an unknown event fails)."""
        from airflow_provider_importio.triggers.crawl_run import outcome_from_event

        store, snapshot = self._snapshot(context)
        return self._finish(context, store, snapshot, outcome_from_event(event))

    # -- the state machine -----------------------------------------------------------------

    def _advance(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from airflow_provider_importio.workbench.snapshot_states import SnapshotState as S

        store, snapshot = self._snapshot(context)
        self._push_link_ids(context, snapshot)
        if snapshot.state is S.RUN_FAILED:
            snapshot = store.supersede(snapshot.id, actor=self._actor(context), reason="re-run after a failed run")
            self.log.info("Snapshot re-run as attempt %d (%s)", snapshot.attempt, snapshot.id)
        if snapshot.state is S.START_FAILED:
            snapshot = store.transition(snapshot.id, S.START_PENDING, actor=self._actor(context), reason="retry start")
        if snapshot.state is S.START_PENDING:
            snapshot = self._start(context, store, snapshot)
        if snapshot.state is S.STARTED:
            return self._wait(context, store, snapshot)
        self.log.info("Snapshot %s is already %s; nothing to collect", snapshot.id, snapshot.state.value)
        return self._result(snapshot)

    def _start(self, context: Mapping[str, Any], store: Store, snapshot: Snapshot) -> Snapshot:
        from airflow_provider_importio.clients.errors import ApiError, BadRequestError
        from airflow_provider_importio.workbench.snapshot_states import SnapshotState as S

        start = _parse(self.chunk.get("start")) or _now()
        if _now() < start:
            self._sleep_until(start, f"chunk {self._index} starts at {start.isoformat()}")
        extractor_id = self._extractor_id
        deadline = self._deadline(snapshot)
        ttl = (deadline - _now()) + LEASE_MARGIN
        while not self._take_leases(store, snapshot, ttl):  # deferrable: defers, and comes back via resume()
            self._wait_for_lease(snapshot)
        hook = self._importio()
        actor = self._actor(context)
        try:
            count = self._put_inputs(hook)
            leased_at = _now()
            try:  # retried on 500s and timeouts too: a start that took effect is adopted below
                run_id = hook.start_extractor(extractor_id, repeat_safe=True)
            except BadRequestError as exc:
                if IN_PROGRESS not in (exc.message or "").lower():
                    raise
                run_id = self._adopt_running(hook, leased_at - dt.timedelta(minutes=1), exc)
            if not run_id:
                raise RuntimeError(f"Import.io started extractor {extractor_id} but gave no crawl run id")
        except ApiError as exc:
            self._release(store, snapshot)
            store.transition(snapshot.id, S.START_FAILED, actor=actor, reason=f"start failed: {exc}")
            raise
        self.log.info("Started crawl run %s of extractor %s for chunk %d (%s inputs, locale %s, domain %s)",
                      run_id, extractor_id, self._index, count if count is not None else "default",
                      self.locale, self.domain)
        return store.transition(snapshot.id, S.STARTED, actor=actor, reason="crawl started", crawl_run_id=run_id,
                                extractor_id=extractor_id, input_count=count)

    def _push_link_ids(self, context: Mapping[str, Any], snapshot: Snapshot) -> None:
        """The extra links' XComs: pushed before any deferral (a crawl run id not known yet is ``""``),
        because Airflow reads the links each time the task defers, and a missing XCom logs an error."""
        ti = context.get("ti")
        if ti is not None:
            ti.xcom_push(key=XCOM_EXTRACTOR_ID, value=self._extractor_id)
            ti.xcom_push(key=XCOM_CRAWL_RUN_ID, value=snapshot.crawl_run_id or "")

    def _wait(self, context: Mapping[str, Any], store: Store, snapshot: Snapshot) -> dict[str, Any]:
        self._push_link_ids(context, snapshot)
        deadline = self._deadline(snapshot)
        if self.deferrable:
            from airflow_provider_importio.triggers.crawl_run import ImportioCrawlRunTrigger

            self.defer(trigger=ImportioCrawlRunTrigger(snapshot.crawl_run_id, self.importio_conn_id,
                                                       deadline=deadline, poll_interval=self.poll_interval),
                       method_name="execute_complete")
        from airflow_provider_importio.workbench.crawl_status import poll_crawl_run

        outcome = poll_crawl_run(self._importio().get_crawl_run, snapshot.crawl_run_id, deadline=deadline,
                                 interval=self.poll_interval, log=self.log)
        return self._finish(context, store, snapshot, outcome)

    def _finish(self, context: Mapping[str, Any], store: Store, snapshot: Snapshot,
                outcome: CrawlOutcome) -> dict[str, Any]:
        from airflow.sdk.exceptions import AirflowFailException

        from airflow_provider_importio.workbench.crawl_status import CrawlStatus
        from airflow_provider_importio.workbench.snapshot_states import SnapshotState as S

        actor = self._actor(context)
        if snapshot.state is not S.STARTED:  # a duplicate completion: the snapshot moved on already
            return self._result(snapshot)
        if outcome.status is CrawlStatus.SUCCESS:
            uri = self._store_results(snapshot)
            snapshot = store.transition(snapshot.id, S.PENDING_IMPORT, actor=actor, reason=outcome.message,
                                        row_count=outcome.row_count, artifacts={**snapshot.artifacts, "json": uri})
            self._release(store, snapshot)
            self.log.info("Snapshot %s: %s rows from %s inputs in %s", snapshot.id, outcome.row_count,
                          outcome.total_url_count, uri)
            return self._result(snapshot)
        if outcome.status is CrawlStatus.LATE:
            self._stop(snapshot)
        store.transition(snapshot.id, S.RUN_FAILED, actor=actor, reason=outcome.message)
        self._release(store, snapshot)
        if outcome.status is CrawlStatus.LATE:
            # The window is over: a retry cannot be on time. Clear the task to re-run it by hand.
            raise AirflowFailException(f"{outcome.message}; the crawl was stopped and the snapshot marked RUN_FAILED")
        raise RuntimeError(f"{outcome.message}; a retry re-runs the chunk as a new attempt")

    # -- pieces ----------------------------------------------------------------------------

    @property
    def _index(self) -> int:
        return int(self.chunk.get("index") or 0)

    @property
    def _extractor_id(self) -> str:
        extractor_id = self.source.get("extractor_id")
        if not extractor_id:
            raise ValueError(f"source {self.source!r} has no extractor_id")
        return str(extractor_id)

    def _snapshot(self, context: Mapping[str, Any]) -> tuple[Store, Snapshot]:
        from airflow_provider_importio.hooks.store import ImportioStoreHook

        store = ImportioStoreHook(self.store_conn_id).get_store()
        dag_run = context.get("dag_run")
        run_id = context.get("run_id") or getattr(dag_run, "run_id", None)
        dag_id = getattr(dag_run, "dag_id", None) or getattr(self, "dag_id", None) or "?"
        start = context.get("logical_date") or getattr(dag_run, "run_after", None)
        delivery = store.get_or_create_delivery(self.project, self.flow, str(run_id), dag_id=dag_id, start=start)
        snapshot = store.get_or_create_snapshot(
            delivery.id, self.collection, str(self.source.get("slug")), self._index, actor=self._actor(context),
            extractor_id=self._extractor_id, input_count=self.chunk.get("count"),
            options={"locale": self.locale, "domain": self.domain},
        )
        return store, snapshot

    def _actor(self, context: Mapping[str, Any]) -> str:
        ti = context.get("ti")
        try_number = getattr(ti, "try_number", None)
        return f"task:{self.task_id}[{self._index}/{self.source.get('slug')}]" + (f"#{try_number}" if try_number else "")

    def _deadline(self, snapshot: Snapshot) -> dt.datetime:
        """The chunk's collect-by time; a re-run after the window gets a fresh window of the same length."""
        start, collect_by = _parse(self.chunk.get("start")), _parse(self.chunk.get("collect_by"))
        if collect_by is None:
            return _now() + dt.timedelta(hours=24)
        window = collect_by - start if start else dt.timedelta(hours=1)
        return collect_by if snapshot.attempt == 1 and _now() < collect_by else max(collect_by, _now() + window)

    def _lease_keys(self) -> Iterator[str]:
        if self.domain:
            yield from (f"domain:{self.domain}#{slot}" for slot in range(self.domain_concurrency))

    def _take_leases(self, store: Store, snapshot: Snapshot, ttl: dt.timedelta) -> bool:
        """The extractor's lease, then any free slot of the domain; both or neither."""
        if not store.acquire_lease(self._extractor_id, snapshot.id, ttl):
            holder = store.lease_holder(self._extractor_id)
            self.log.info("Extractor %s is busy (%s); waiting", self._extractor_id,
                          f"snapshot {holder.holder} until {holder.expires_at.isoformat()}" if holder else "just freed")
            return False
        slots = list(self._lease_keys())
        if not slots or any(store.acquire_lease(slot, snapshot.id, ttl) for slot in slots):
            return True
        store.release_lease(self._extractor_id, snapshot.id)
        self.log.info("All %d slots of domain %s are taken; waiting", len(slots), self.domain)
        return False

    def _release(self, store: Store, snapshot: Snapshot) -> None:
        for key in (self._extractor_id, *self._lease_keys()):
            store.release_lease(key, snapshot.id)

    def _wait_for_lease(self, snapshot: Snapshot) -> None:
        """Deferrable: wait in the triggerer until this chunk's turn (``ImportioLeaseTrigger``), then
        :meth:`resume`; else sleep ``lease_poll_interval`` and ask again."""
        why = f"extractor {self._extractor_id} or domain {self.domain} is busy"
        if not self.deferrable:
            self._sleep_until(_now() + dt.timedelta(seconds=self.lease_poll_interval), why)
            return
        from airflow_provider_importio.triggers.lease import ImportioLeaseTrigger

        self.log.info("Waiting in the triggerer for the lease: %s", why)
        self.defer(trigger=ImportioLeaseTrigger(self.store_conn_id, self._extractor_id, snapshot.id,
                                                poll_interval=min(self.lease_poll_interval, 5.0),
                                                patience=max(60.0, 4 * self.lease_poll_interval)),
                   method_name="resume")

    def _sleep_until(self, moment: dt.datetime, why: str) -> None:
        """Defer until ``moment`` (then :meth:`resume`), or sleep when not deferrable."""
        self.log.info("Waiting until %s: %s", moment.isoformat(), why)
        if self.deferrable:
            from airflow.providers.standard.triggers.temporal import DateTimeTrigger

            self.defer(trigger=DateTimeTrigger(moment), method_name="resume")
        import time

        time.sleep(max(0.0, (moment - _now()).total_seconds()))

    def _importio(self) -> ImportioHook:
        from airflow_provider_importio.hooks.importio import ImportioHook

        return ImportioHook(self.importio_conn_id)

    def _put_inputs(self, hook: ImportioHook) -> int | None:
        """Put the chunk's inputs on the extractor; ``None`` keeps the extractor's own inputs."""
        uri = self.chunk.get("uri")
        if not uri:
            return None
        from airflow_provider_importio.hooks.object_source import open_uri, range_label
        from airflow_provider_importio.workbench.record_files import iter_records

        span = self.chunk.get("byte_range")
        where = range_label(str(uri), span)
        with open_uri(str(uri), self.aws_conn_id, byte_range=span) as stream:
            count = hook.update_extractor_inputs(self._extractor_id, iter_records(stream, "ndjson", name=where))
        expected = self.chunk.get("count")
        if expected is not None and count != int(expected):
            raise RuntimeError(f"{where} holds {count} inputs, but the pickup staged {expected} there: "
                               "was the staged object replaced? Clear the pickup task to stage it again")
        self.log.info("Put %d inputs from %s on extractor %s", count, where, self._extractor_id)
        return count

    def _adopt_running(self, hook: ImportioHook, since: dt.datetime, error: Exception) -> str:
        """After "crawl already in progress": the run our own (retried) start began, if any."""
        for run in hook.list_crawl_runs(extractor_id=self._extractor_id, per_page=5):
            created = run.created_at or run.started_at
            if not run.state.is_terminal and created and created >= since:
                self.log.warning("Start answered %r; adopting crawl run %s, started by this task", str(error), run.guid)
                return run.guid
            break
        raise RuntimeError(f"extractor {self._extractor_id} is running a crawl this task did not start: {error}")

    def _stop(self, snapshot: Snapshot) -> None:
        from airflow_provider_importio.clients.errors import BadRequestError

        try:
            self._importio().stop_extractor(self._extractor_id)
            self.log.warning("Stopped crawl run %s: its collect window is over", snapshot.crawl_run_id)
        except BadRequestError as exc:  # it ended in the meantime
            self.log.info("Nothing to stop for extractor %s: %s", self._extractor_id, exc)

    def _store_results(self, snapshot: Snapshot) -> str:
        """Stream the run's JSON results to the snapshot's location (never held in memory)."""
        from airflow_provider_importio.hooks.object_source import write_file

        name = f"{snapshot.source}/chunk-{snapshot.chunk:04d}-{snapshot.id}.json"
        target = f"{str(self.results_uri).rstrip('/')}/{name}"
        fd, local = tempfile.mkstemp(prefix="importio-results-", suffix=".json")
        os.close(fd)
        try:
            size = self._importio().download_crawl_run_file(str(snapshot.crawl_run_id), "json", local)
            uri = write_file(local, target, self.aws_conn_id)
        finally:
            os.unlink(local)
        self.log.info("Stored %d bytes of results of crawl run %s at %s", size, snapshot.crawl_run_id, uri)
        return uri

    def _result(self, snapshot: Snapshot) -> dict[str, Any]:
        return {
            "snapshot_id": snapshot.id, "source": snapshot.source, "chunk": snapshot.chunk,
            "attempt": snapshot.attempt, "state": snapshot.state.value, "crawl_run_id": snapshot.crawl_run_id,
            "extractor_id": snapshot.extractor_id, "inputs": snapshot.input_count, "rows": snapshot.row_count,
            "results_uri": snapshot.artifacts.get("json"),
        }
