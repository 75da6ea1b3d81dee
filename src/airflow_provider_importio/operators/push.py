"""``ImportioPushOperator``: a delivery's passed snapshots to the collection's linked S3 and SFTP destinations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

from airflow_provider_importio.transfers.destinations import (
    FILE_TYPES,
    alias_name,
    destination_alias,
    destination_from_dict,
)
from airflow_provider_importio.workbench.formats import columns

if TYPE_CHECKING:
    from airflow_provider_importio.transfers.destination_push import PushOutcome


class ImportioPushOperator(BaseOperator):
    """Write each pushable snapshot of a delivery to each linked destination and record the pushes.

    For every snapshot in ``PASSED_QA`` or ``PUSHED_IGNORE`` and every linked S3 or SFTP destination:
    the rows file (``artifacts["rows"]``) is written in the destination's format to the path its
    templates render, through ``S3Hook`` or ``SFTPHook``; an inactive destination gets a dry-run
    record instead (nothing written). Every attempt is a push record in the store; a snapshot moves
    to ``PUSHED`` once all active linked destinations have it (``PUSHED_IGNORE`` stays). A STITCH
    destination gets the rows upserted into its table through ``StitchImportHook`` (see
    :mod:`~airflow_provider_importio.transfers.stitch_destination`). See ``docs/destinations.md``.

    Each active S3/SFTP destination is an outlet :class:`~airflow.sdk.AssetAlias`
    (``importio-destination:<project>/<slug>``); each file pushed (or found already pushed by an
    earlier try) adds an asset event for the destination's asset (``s3://<bucket>/<prefix>``,
    ``sftp://<host>:<port>/<directory>``) with the snapshot id and row count. A run that writes
    nothing to a destination emits nothing for it.

    The task fails, after pushing everything else, if any push failed; a retry pushes only what is left.

    :param snapshots: the delivery's collect/QA results (dicts with ``snapshot_id``, or ids; lists of
        them, as a mapped task's output is). Templated (an ``XComArg`` works).
    :param destinations: the collection's linked destinations as dicts (``dataclasses.asdict(destination)``).
    :param fields: the schema's field names in order (``Schema.field_names``).
    :param project: the project slug (names the asset aliases; snapshots of another project are refused).
    :param blank_row_for_no_data: the collection's ``blankRowForNoData``.
    :param aws_conn_id: the AWS connection that reads ``s3://`` rows files.
    :param store_conn_id: the store connection.
    :param repush: write pairs already pushed again (same key or path: the file is replaced).
    :param sftp_connect_attempts: connection attempts per SFTP destination.
    :param row_schema: the collection schema's row JSON Schema; types the columns of STITCH destinations.
    """

    template_fields: Sequence[str] = ("snapshots", "aws_conn_id", "store_conn_id")
    ui_color = "#b3e5fc"

    def __init__(
        self,
        *,
        snapshots: Any,
        destinations: Sequence[Mapping[str, Any]],
        fields: Sequence[str],
        project: str,
        blank_row_for_no_data: bool = False,
        aws_conn_id: str | None = "aws_default",
        store_conn_id: str = "importio_store_default",
        repush: bool = False,
        sftp_connect_attempts: int = 3,
        row_schema: Mapping[str, Any] | None = None,
        **kwargs: Any,
    ) -> None:
        checked = [destination_from_dict(d) for d in destinations]  # a bad destination fails the DAG file
        columns(fields)
        aliases = [destination_alias(project, d.slug) for d in checked if d.active and d.type in FILE_TYPES]
        outlets = kwargs.get("outlets") or []
        kwargs["outlets"] = [*(outlets if isinstance(outlets, (list, tuple)) else [outlets]), *aliases]
        super().__init__(**kwargs)
        self.snapshots = snapshots
        self.destinations = [asdict(d) for d in checked]
        self.fields = list(fields)
        self.row_schema = dict(row_schema) if row_schema else None
        self.project = project
        self.blank_row_for_no_data = bool(blank_row_for_no_data)
        self.aws_conn_id = aws_conn_id
        self.store_conn_id = store_conn_id
        self.repush = bool(repush)
        self.sftp_connect_attempts = int(sftp_connect_attempts)

    def execute(self, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        from functools import partial

        from airflow_provider_importio.hooks.store import ImportioStoreHook
        from airflow_provider_importio.transfers.destination_push import FAILED, DeliveryPush, default_writer

        push = DeliveryPush(
            ImportioStoreHook(self.store_conn_id).get_store(),
            [destination_from_dict(d) for d in self.destinations],
            self.fields,
            blank_row_for_no_data=self.blank_row_for_no_data,
            actor=self._actor(context),
            aws_conn_id=self.aws_conn_id,
            repush=self.repush,
            writer_factory=partial(default_writer, sftp_connect_attempts=self.sftp_connect_attempts),
            project=self.project,
            logger=self.log,
            row_schema=self.row_schema,
        )
        from airflow_provider_importio.operators.mapped_output import whole

        outcomes = push.run(whole(self.snapshots))
        counts: dict[str, int] = {}
        for outcome in outcomes:
            counts[outcome.status] = counts.get(outcome.status, 0) + 1
        self.log.info("Push done: %s", ", ".join(f"{n} {status}" for status, n in sorted(counts.items())) or "nothing to push")
        self._emit_asset_events(context, outcomes)
        failed = [o for o in outcomes if o.status == FAILED]
        if failed:
            from airflow.sdk.exceptions import AirflowException

            lines = "; ".join(f"{o.snapshot_id} → {o.destination}: {o.error}" for o in failed[:5])
            raise AirflowException(f"{len(failed)} of {len(outcomes)} pushes failed (recorded in the store): {lines}")
        return [o.as_dict() for o in outcomes]

    def _emit_asset_events(self, context: Mapping[str, Any], outcomes: list[PushOutcome]) -> None:
        """One asset event per file in place at an active destination (pushed now or by an earlier try)."""
        from airflow.sdk import Asset

        from airflow_provider_importio.transfers.destination_push import PUSHED, SKIPPED

        events = context.get("outlet_events")
        active = {d["slug"] for d in self.destinations if d["active"] and d["type"] in FILE_TYPES}
        for outcome in outcomes:
            if outcome.status not in (PUSHED, SKIPPED) or outcome.destination not in active or not outcome.asset_uri:
                continue
            extra = {
                "project": self.project, "destination": outcome.destination, "snapshot_id": outcome.snapshot_id,
                "delivery_id": outcome.delivery_id, "source": outcome.source, "chunk": outcome.chunk,
                "uri": outcome.uri, "format": outcome.format, "row_count": outcome.row_count,
                "byte_count": outcome.byte_count, "already_pushed": outcome.status == SKIPPED,
            }
            if events is None:  # called outside a task run (tests)
                self.log.info("Asset event (not emitted outside a task run): %s %s", outcome.asset_uri, extra)
                continue
            alias = destination_alias(self.project, outcome.destination)
            events[alias].add(Asset(uri=outcome.asset_uri), extra=extra)
            self.log.info("Asset event for %s through alias %s: snapshot %s, %s rows", outcome.asset_uri,
                          alias_name(self.project, outcome.destination), outcome.snapshot_id, outcome.row_count)

    def _actor(self, context: Mapping[str, Any]) -> str:
        ti = context.get("ti")
        try_number = getattr(ti, "try_number", None)
        return f"task:{self.task_id}" + (f"#{try_number}" if try_number else "")
