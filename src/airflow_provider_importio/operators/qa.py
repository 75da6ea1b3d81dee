"""``ImportioQAOperator``: statistics, the rows file and the checks of one snapshot.

One streaming pass over the crawl run's JSON results computes the statistics
(``docs/statistics.md``) and writes the snapshot's rows file (every delivered row, flagged with
``_valid``/``_errors``; a ``{"_url", "_no_data": true}`` marker for an input that gave nothing),
which the pushes read. The statistics are recorded in the store, the collection's checks run
against the source's baseline (``docs/checks.md``), and the snapshot moves from PENDING_IMPORT to
PASSED_QA, PENDING_QA or ESCALATED. A re-run of the task on a snapshot past PENDING_IMPORT
changes nothing and returns the recorded result.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson
from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow_provider_importio.store.records import Snapshot
    from airflow_provider_importio.store.store import Store
    from airflow_provider_importio.workbench.config_model import Check, Schema

#: States a QA pass leaves a snapshot in, and the ones that need a person.
QA_DONE_STATES = ("PASSED_QA", "PENDING_QA", "ESCALATED", "QA", "FAILED_QA", "PUSHED", "PUSHED_IGNORE")
REVIEW_STATES = ("PENDING_QA", "ESCALATED")


class ImportioQAOperator(BaseOperator):
    """Compute a snapshot's statistics and rows file, run its collection's checks, move its state.

    Mapped over the collection runs' results (``snapshot`` is one of them, with ``snapshot_id``).

    :param snapshot: a collection-run result (templated).
    :param schema: the collection schema as a dict (``workbench.config_codec.schema_to_dict``).
    :param checks: the collection's checks as dicts (``config_codec.checks_to_dicts``).
    :param collection: the collection slug. :param data_store: also load rows into the store.
    """

    template_fields: Sequence[str] = ("snapshot", "aws_conn_id", "store_conn_id")
    ui_color = "#fff3e0"

    def __init__(self, *, snapshot: Mapping[str, Any], schema: Mapping[str, Any], checks: Sequence[Mapping[str, Any]],
                 collection: str, data_store: bool = False, aws_conn_id: str | None = "aws_default",
                 store_conn_id: str = "importio_store_default", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.snapshot = snapshot
        self.schema = dict(schema)
        self.checks = [dict(c) for c in checks]
        self.collection = collection
        self.data_store = data_store
        self.aws_conn_id = aws_conn_id
        self.store_conn_id = store_conn_id

    def execute(self, context: Mapping[str, Any]) -> dict[str, Any]:
        from airflow_provider_importio.hooks.store import ImportioStoreHook

        store = ImportioStoreHook(self.store_conn_id).get_store()
        snapshot = store.get_snapshot(_snapshot_id(self.snapshot))
        return run_qa(store, snapshot, self.qa_spec(), actor=f"task:{self.task_id}", log=self.log)

    def qa_spec(self) -> QaSpec:
        return QaSpec(self.schema, self.checks, self.collection, self.data_store, self.aws_conn_id)


class QaSpec:
    """What a QA pass needs of the configuration, as the operators carry it (plain values)."""

    def __init__(self, schema: Mapping[str, Any], checks: Sequence[Mapping[str, Any]], collection: str,
                 data_store: bool, aws_conn_id: str | None) -> None:
        from airflow_provider_importio.workbench.config_codec import checks_from_dicts, schema_from_dict

        self.schema: Schema = schema_from_dict(schema)
        self.checks: tuple[Check, ...] = checks_from_dicts(checks)
        self.collection = collection
        self.data_store = data_store
        self.aws_conn_id = aws_conn_id


def run_qa(store: Store, snapshot: Snapshot, spec: QaSpec, *, actor: str, log: logging.Logger | Any) -> dict[str, Any]:
    """The QA pass of one PENDING_IMPORT snapshot (see the module docstring); its result dict."""
    from airflow_provider_importio.workbench.checks import qa_table_markdown
    from airflow_provider_importio.workbench.qa_baseline import evaluate_snapshot
    from airflow_provider_importio.workbench.snapshot_states import SnapshotState as S

    if snapshot.state is not S.PENDING_IMPORT:
        log.info("Snapshot %s is %s: its QA is done; nothing to do", snapshot.id, snapshot.state.value)
        return qa_result(snapshot, snapshot.options.get("qa") or {})
    results_uri = snapshot.artifacts.get("json")
    if not results_uri:
        raise ValueError(f"snapshot {snapshot.id} has no results file (artifacts {snapshot.artifacts})")
    rows_uri = _rows_uri(results_uri)
    fd, local = tempfile.mkstemp(prefix="importio-rows-", suffix=".ndjson")
    try:
        with os.fdopen(fd, "wb") as out:
            stats = _statistics(results_uri, spec, out)
        from airflow_provider_importio.hooks.object_source import write_file

        write_file(local, rows_uri, spec.aws_conn_id)
        values = stats.to_dict()
        store.record_stats(snapshot.id, values)
        if spec.data_store:
            from airflow_provider_importio.store.collection_rows import CollectionRowsWriter

            with open(local, "rb") as rows:
                loaded = CollectionRowsWriter(store, spec.collection, spec.schema).replace_snapshot(
                    snapshot.id, (r for r in map(orjson.loads, rows) if not r.get("_no_data")))
            log.info("Loaded %s rows of snapshot %s into the collection's data store", loaded, snapshot.id)
    finally:
        os.unlink(local)
    log.info("Statistics of snapshot %s (%s): %s", snapshot.id, snapshot.source,
             ", ".join(f"{k}={_fmt(v)}" for k, v in values.items()))

    result = evaluate_snapshot(store, snapshot, spec.checks, spec.schema)  # type: ignore[arg-type]
    summary = result.as_dict()
    qa = {"summary": result.summary(), "failing": [r.as_dict() for r in result.failures],
          "table_md": qa_table_markdown(result) if result.failures else ""}
    moved = store.transition(snapshot.id, result.outcome, actor=actor, reason=result.summary(),
                             artifacts={**snapshot.artifacts, "rows": rows_uri}, options={**snapshot.options, "qa": qa})
    for line in [summary["summary"]] + [f"  FAILED {r['name']}: value {r['value']}, baseline {r['baseline']}, "
                                        f"limit {r['limit']}{' (escalates)' if r['escalate'] else ''}"
                                        f"{' - ' + r['reason'] if r['reason'] else ''}" for r in qa["failing"]]:
        log.info("%s", line)
    return qa_result(moved, qa)


def qa_result(snapshot: Snapshot, qa: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "snapshot_id": snapshot.id, "source": snapshot.source, "chunk": snapshot.chunk, "attempt": snapshot.attempt,
        "state": snapshot.state.value, "rows": snapshot.row_count, "rows_uri": snapshot.artifacts.get("rows"),
        "summary": qa.get("summary", ""), "failing": list(qa.get("failing") or []), "table_md": qa.get("table_md", ""),
    }


def _statistics(results_uri: str, spec: QaSpec, out: Any) -> Any:
    """The statistics, writing the rows file to ``out`` (a binary file): each delivered row as an
    NDJSON line, and a ``{"_url", "_no_data": true}`` line in its place for an input that gave none."""
    import orjson

    from airflow_provider_importio.hooks.object_source import open_uri
    from airflow_provider_importio.workbench.record_files import iter_lines
    from airflow_provider_importio.workbench.statistics import compute_statistics

    def no_data(url: Any) -> None:
        out.write(orjson.dumps({"_url": url, "_no_data": True}, option=orjson.OPT_APPEND_NEWLINE))

    # Each line goes to the file object at once: held back in a list, a million small bytes objects
    # of orjson's made the pass several times slower (allocator churn).
    with open_uri(results_uri, spec.aws_conn_id) as stream:
        return compute_statistics(iter_lines(stream), spec.schema, ndjson_out=out.write, no_data_out=no_data)


def _rows_uri(results_uri: str) -> str:
    base = results_uri[:-len(".json")] if results_uri.endswith(".json") else results_uri
    return f"{base}.rows.ndjson"


def _snapshot_id(snapshot: Any) -> str:
    if isinstance(snapshot, Mapping):
        return str(snapshot["snapshot_id"])
    return str(snapshot)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)
