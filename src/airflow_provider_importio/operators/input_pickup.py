"""``ImportioInputPickupOperator``: read a delivery's input file and stage it as chunks for dynamic task mapping."""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow_provider_importio.workbench.config_model import Flow
    from airflow_provider_importio.workbench.inputs import PickupReport

PROGRESS_EVERY = 100_000
#: Managed-transfer settings for the staged object's upload. A multipart upload (over 8 MiB) holds
#: several 8 MiB parts per concurrent request in memory: with boto3's default of 10 a 270 MB file added
#: ~55 MB to the peak, with 2 about 4 MB. The connection's ``service_config.s3.transfer_config_args``
#: overrides this.
TRANSFER_CONFIG = {"max_concurrency": 2}
#: Chunks compressed at once, each read from its byte range of the spool (zlib lets go of the GIL).
CHUNK_WRITERS = 4


class ImportioInputPickupOperator(BaseOperator):
    """Pick up the input file of a delivery and split it into chunk files (see ``docs/inputs.md``).

    ``input_uri`` is expanded for the delivery (the guide's ``:YYYY``, ``:ww``, ``:source`` … and
    ``{bucketname}``, ``{flow}``, ``{collection}``, ``{project}``; see
    :func:`~airflow_provider_importio.workbench.inputs.expand_input_uri`) and read through the Amazon
    provider's ``S3Hook`` as a stream. Inputs (a JSON array, NDJSON, or one URL a line) are checked;
    bad ones are counted and logged with their line numbers. The valid ones are split, in order, into
    ``chunks`` balanced chunks, staged as one object ``<staging_uri>/chunks.ndjson.gz`` with one upload:
    each chunk's Import.io NDJSON inputs a gzip member, one after another (a ``.gz`` input file is
    decompressed as it is read). A re-run replaces that object and deletes the ``chunk-NNNN.ndjson[.gz]``
    files of earlier versions. Fails with
    :class:`~airflow_provider_importio.workbench.inputs.InputFileError` for a missing or empty file,
    a malformed JSON array, or a file whose every input is bad.

    Returns (XCom) a list of chunk descriptors ``{"index", "uri", "byte_range", "count", "first_input",
    "start", "collect_by"}`` (``byte_range``: the ``[start, end)`` bytes of the chunk's gzip member) —
    for ``.expand()`` — and pushes the pickup report under the XCom key
    ``pickup_report``. Without ``input_uri`` it returns one descriptor with ``uri``, ``byte_range``
    and ``count`` ``None``: the extractor runs its own default inputs.

    :param input_uri: ``s3://…`` (or a local path) of the input file, or its template (templated);
        ``None`` for the extractor's default inputs.
    :param chunks: how many chunks to make (templated); fewer when there are fewer valid inputs.
    :param staging_uri: ``s3://bucket/prefix`` (or a local directory) for the staged object (templated);
        make it unique per DAG run, e.g. ``s3://bucket/_staging/<project>/<flow>/<source>/{{ run_id }}``.
    :param data_hours: the flow's ``dataHours``.
    :param chunk_collect_hours: the flow's ``chunkCollectHours`` (default ``data_hours``).
    :param delivery_start: the delivery start (templated; ISO 8601 or a datetime); default the run's
        logical date, else its ``run_after``.
    :param variables: input URI variables (templated): ``flow``, ``collection``, ``project``,
        ``source``, ``bucketname``; time variables come from the delivery start.
    :param input_format: ``auto``, ``json``, ``ndjson`` or ``text``.
    :param aws_conn_id: the AWS connection for reading the input and writing the chunks (templated).
    """

    template_fields: Sequence[str] = (
        "input_uri", "chunks", "staging_uri", "delivery_start", "variables", "input_format", "aws_conn_id",
    )
    ui_color = "#e0f2f1"

    def __init__(
        self,
        *,
        input_uri: str | None,
        staging_uri: str,
        data_hours: float,
        chunks: int | str = 1,
        chunk_collect_hours: float | None = None,
        delivery_start: str | dt.datetime | None = None,
        variables: Mapping[str, Any] | None = None,
        input_format: str = "auto",
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.input_uri = input_uri
        self.chunks = chunks
        self.staging_uri = staging_uri
        self.data_hours = data_hours
        self.chunk_collect_hours = chunk_collect_hours
        self.delivery_start = delivery_start
        self.variables = dict(variables or {})
        self.input_format = input_format
        self.aws_conn_id = aws_conn_id

    @classmethod
    def for_flow(cls, flow: Flow, *, project: str, source: str, staging_uri: str,
                 **kwargs: Any) -> ImportioInputPickupOperator:
        """The pickup of ``source``'s inputs for a delivery of ``flow`` (its definition's template, chunks,
        windows, input connection and bucket)."""
        definition = flow.definition
        kwargs.setdefault("task_id", f"pickup_inputs_{source}")
        return cls(
            input_uri=definition.input_uri_template,
            chunks=definition.chunk_count,
            staging_uri=staging_uri,
            data_hours=flow.data_hours,
            chunk_collect_hours=definition.chunk_collect_hours,
            variables={"project": project, "collection": definition.collection_id, "flow": flow.slug,
                       "source": source, "bucketname": definition.input_bucket},
            aws_conn_id=definition.input_connection,
            **kwargs,
        )

    def execute(self, context: Mapping[str, Any]) -> list[dict[str, Any]]:
        from airflow_provider_importio.workbench.inputs import (
            default_inputs_chunk, expand_input_uri, normalise_format, pickup_inputs,
        )

        from airflow_provider_importio.operators.run_moment import moment_or_run_start

        start = moment_or_run_start(self.delivery_start, context, "delivery_start")
        if not self.input_uri:
            chunk = default_inputs_chunk(start, data_hours=self.data_hours)
            self.log.info("No input file: one chunk running the extractor's default inputs, collected by %s",
                          chunk.collect_by.isoformat())
            return [chunk.to_dict()]

        chunks = _chunk_count(self.chunks)
        fmt = normalise_format(self.input_format)
        uri = expand_input_uri(str(self.input_uri), start, self.variables)
        stage = _Stage(str(self.staging_uri), self.aws_conn_id)
        self.log.info("Picking up %s (format %s) for the delivery starting %s into %d chunk(s) under %s",
                      uri, fmt, start.isoformat(), chunks, stage.base)

        from airflow_provider_importio.hooks.object_source import open_uri

        pickup = pickup_inputs(
            lambda: open_uri(uri, self.aws_conn_id, s3_hook=stage.hook if uri.startswith("s3://") else None),
            name=uri, chunks=chunks, stage=stage.write,
            start=start, data_hours=self.data_hours, chunk_collect_hours=self.chunk_collect_hours, fmt=fmt,
            progress=self._progress, progress_every=PROGRESS_EVERY, writers=CHUNK_WRITERS,
        )
        removed = stage.remove_stale()
        report = pickup.report
        self.log.info("%s; staged %d chunk(s) of %s inputs as %s%s", report.summary(), len(pickup.chunks),
                      "/".join(sorted({str(c.count) for c in pickup.chunks}, key=int)), pickup.chunks[0].uri,
                      f"; removed {len(removed)} chunk file(s) of an earlier version" if removed else "")
        if report.bad:
            self._warn_bad(report)
        ti = context.get("ti")
        if ti is not None and hasattr(ti, "xcom_push"):
            ti.xcom_push(key="pickup_report", value=report.to_dict())
        return [chunk.to_dict() for chunk in pickup.chunks]

    def _progress(self, report: PickupReport) -> None:
        self.log.info("Read %d inputs from %s (%d valid, %d bad)", report.total, report.uri, report.valid, report.bad)

    def _warn_bad(self, report: PickupReport) -> None:
        self.log.warning("%d of the %d inputs in %s are invalid and were left out; %s:\n%s", report.bad, report.total,
                         report.uri, f"the first {len(report.examples)}" if report.bad > len(report.examples)
                         else "all of them", "\n".join(f"  {example}" for example in report.examples))


class _Stage:
    """Where the staged object goes: ``s3://bucket/prefix`` (through ``S3Hook``) or a local directory."""

    def __init__(self, base: str, aws_conn_id: str | None) -> None:
        self.base = base.rstrip("/")
        self.aws_conn_id = aws_conn_id
        self._hook: Any = None
        if self.base.startswith("s3://"):
            bucket, _, prefix = self.base[len("s3://"):].partition("/")
            if not bucket:
                raise ValueError(f"staging_uri {base!r} names no bucket")
            self.bucket, self.prefix = bucket, f"{prefix}/" if prefix else ""
        else:
            self.bucket, self.prefix = None, self.base.removeprefix("file://")

    @property
    def hook(self) -> Any:
        if self._hook is None:
            from airflow.providers.amazon.aws.hooks.s3 import S3Hook

            self._hook = S3Hook(aws_conn_id=self.aws_conn_id, transfer_config_args=dict(TRANSFER_CONFIG))
        return self._hook

    def write(self, path: str) -> str:
        """Put the staged file under the base (replacing it; a local one atomically); its URI."""
        from airflow_provider_importio.hooks.object_source import write_file
        from airflow_provider_importio.workbench.inputs import STAGED_NAME

        if self.bucket is None:
            return write_file(path, os.path.join(self.prefix, STAGED_NAME))
        return write_file(path, f"s3://{self.bucket}/{self.prefix}{STAGED_NAME}", s3_hook=self.hook)

    def remove_stale(self) -> list[str]:
        """Delete the ``chunk-NNNN.ndjson[.gz]`` files that versions before the single staged object wrote."""
        from airflow_provider_importio.workbench.inputs import CHUNK_NAME_RE

        if self.bucket is None:
            names = os.listdir(self.prefix) if os.path.isdir(self.prefix) else []
            stale = [n for n in names if CHUNK_NAME_RE.fullmatch(n)]
            for name in stale:
                os.unlink(os.path.join(self.prefix, name))
            return stale
        keys = self.hook.list_keys(bucket_name=self.bucket, prefix=self.prefix + "chunk-") or []
        stale = [k for k in keys if CHUNK_NAME_RE.fullmatch(k[len(self.prefix):])]
        if stale:
            self.hook.delete_objects(self.bucket, stale)
        return stale


def _chunk_count(value: Any) -> int:
    try:
        count = int(str(value).strip()) if not isinstance(value, int) or isinstance(value, bool) else value
    except ValueError:
        raise ValueError(f"chunks must be an integer ≥ 1, not {value!r}") from None
    if count < 1:
        raise ValueError(f"chunks must be an integer ≥ 1, not {value!r}")
    return count
