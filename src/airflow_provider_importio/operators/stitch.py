"""Stitch operators: set up an Import API source, and push rows to a Stitch table."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from airflow.sdk import BaseOperator

if TYPE_CHECKING:
    from airflow.sdk import Context

    from airflow_provider_importio.clients.stitch_records import Source
    from airflow_provider_importio.hooks.stitch import StitchConnectHook

MAX_ACTIVE_TOKENS = 2


class StitchCreateImportSourceOperator(BaseOperator):
    """Create (or find) a Stitch Import API source and keep its token in an Airflow connection.

    Reads the ``import_api`` report card, finds the live ``import_api`` source named
    ``display_name`` or creates it (a re-run never creates a second one), unpauses it if asked,
    and makes sure the connection ``import_conn_id`` holds a working Import API token of that
    source: a token already stored there and still active is kept; otherwise a new one is created
    and written to ``connection_store`` (see
    :mod:`~airflow_provider_importio.hooks.connection_store`), from where Airflow's secrets
    backend serves it. The token is masked at once and never logged or returned.

    :param display_name: the source's display name in Stitch (its schema is the snake-cased name).
    :param import_conn_id: the connection (type ``stitch_import``) to hold the token.
    :param connection_store: ``aws-secrets-manager://<aws_conn_id>?prefix=airflow/connections``
        or ``file:///path/connections.json``.
    :param region: the Stitch region written to the new connection.
    :param import_host: a base URL written to the new connection (only for non-standard hosts).
    :param unpause: unpause the source when it is paused.
    :param stitch_connect_conn_id: the Connect API connection (type ``stitch_connect``).
    """

    template_fields: Sequence[str] = (
        "display_name", "import_conn_id", "connection_store", "region", "import_host", "stitch_connect_conn_id",
    )
    ui_color = "#ffd54f"

    def __init__(
        self,
        *,
        display_name: str,
        import_conn_id: str,
        connection_store: str,
        region: str = "north-america",
        import_host: str | None = None,
        unpause: bool = True,
        stitch_connect_conn_id: str = "stitch_connect_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.display_name = display_name
        self.import_conn_id = import_conn_id
        self.connection_store = connection_store
        self.region = region
        self.import_host = import_host
        self.unpause = unpause
        self.stitch_connect_conn_id = stitch_connect_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_importio.hooks.connection_store import connection_store
        from airflow_provider_importio.hooks.stitch import StitchConnectHook

        hook = StitchConnectHook(self.stitch_connect_conn_id)
        card = hook.get_source_type("import_api")
        steps = " → ".join(str(step.get("type")) for step in card.get("steps") or ())
        self.log.info("Stitch import_api report card: %s", steps or "no steps")

        source, created_source = self._source(hook)
        store = connection_store(self.connection_store)
        stored = store.get(self.import_conn_id)
        token_ids = hook.list_import_token_ids(source.id)
        kept = _stored_token_id(stored, source.id, token_ids)
        if kept is not None:
            self.log.info("Connection %r already holds active token %s of source %s; kept it",
                          self.import_conn_id, kept, source.id)
            token_id, created_token = kept, False
        else:
            token_id, created_token = self._new_token(hook, source, token_ids, store), True
        return {
            "source_id": source.id,
            "source_name": source.name,
            "display_name": source.display_name,
            "token_id": token_id,
            "import_conn_id": self.import_conn_id,
            "created_source": created_source,
            "created_token": created_token,
        }

    def _source(self, hook: StitchConnectHook) -> tuple[Source, bool]:
        source = hook.find_source(self.display_name)
        created = source is None
        if source is None:
            source = hook.create_source(self.display_name)
            self.log.info("Created Stitch import_api source %s (%r, schema %r)", source.id, source.display_name, source.name)
        else:
            self.log.info("Found Stitch import_api source %s (%r); not creating another", source.id, source.display_name)
        if source.paused_at and self.unpause:
            paused_at = source.paused_at
            source = hook.unpause_source(source.id)
            self.log.info("Unpaused source %s (it was paused at %s)", source.id, paused_at)
        elif not source.is_active:
            self.log.warning("Source %s is paused or system-paused; pushes will be refused until it is unpaused", source.id)
        return source, created

    def _new_token(self, hook: StitchConnectHook, source: Source, token_ids: list[int], store: Any) -> int:
        if len(token_ids) >= MAX_ACTIVE_TOKENS:
            raise RuntimeError(
                f"Stitch source {source.id} ({source.display_name!r}) already has {len(token_ids)} active Import API "
                f"tokens (ids {', '.join(map(str, token_ids))}), the most Stitch allows, and connection "
                f"{self.import_conn_id!r} holds neither; revoke one in Stitch, then re-run"
            )
        token = hook.create_import_token(source.id)
        from airflow.sdk.log import mask_secret

        mask_secret(token.access_token)
        connection: dict[str, Any] = {
            "conn_type": "stitch_import",
            "description": f"Stitch Import API token {token.id} of source {source.id} ({source.display_name})",
            "password": token.access_token,
            "extra": json.dumps({"region": self.region, "source_id": source.id, "token_id": token.id}),
        }
        if self.import_host:
            connection["host"] = self.import_host
        try:
            where = store.put(self.import_conn_id, connection)
        except Exception:
            # Stitch shows a token once: one that cannot be stored is useless, and would count
            # against the two a source may have. Revoke it, then fail.
            hook.revoke_import_token(source.id, token.id)
            self.log.error("Could not store the new token; revoked token %s", token.id)
            raise
        self.log.info("Created Import API token %s for source %s and stored it as connection %r in %s",
                      token.id, source.id, self.import_conn_id, where)
        return token.id


def _stored_token_id(stored: Mapping[str, Any] | None, source_id: int, token_ids: list[int]) -> int | None:
    """The token id recorded with a stored connection, when it is an active token of this source."""
    if not stored or not stored.get("password"):
        return None
    extra = stored.get("extra") or {}
    if isinstance(extra, str):
        try:
            extra = json.loads(extra)
        except ValueError:
            return None
    if extra.get("source_id") != source_id or extra.get("token_id") not in token_ids:
        return None
    return int(extra["token_id"])


class StitchPushOperator(BaseOperator):
    """Push the rows of an NDJSON or JSON-array file (``s3://`` or a local path) to a Stitch table.

    The file is streamed: rows are read, checked against Stitch's limits and packed into batches
    as they come, so memory stays flat. Row ``i`` gets the sequence ``sequence_start(anchor) + i``,
    so a re-run of the task sends the same sequences and Stitch upserts the same rows (no
    duplicates, no reordering); a later anchor outranks an earlier one.

    :param source: ``s3://bucket/key`` or a local path of the rows.
    :param table: the Stitch table.
    :param schema: JSON Schema of a row (a collection schema's ``to_json_schema()``); translated
        into the batch schema by :func:`~airflow_provider_importio.clients.stitch_schema.batch_schema`.
        ``None`` lets Stitch type the columns from the values.
    :param key_names: primary-key fields (top level, non-null); empty appends rows.
    :param file_format: ``ndjson``, ``json`` or ``auto`` (from the file name).
    :param sequence_anchor: the moment that orders this push (ISO 8601 or a datetime); default
        the run's logical date, else its ``run_after``.
    :param max_batch_bytes: the largest request body to send (Stitch's limit is 20,000,000).
    """

    template_fields: Sequence[str] = (
        "source", "table", "key_names", "file_format", "sequence_anchor", "stitch_import_conn_id", "aws_conn_id",
    )
    ui_color = "#ffd54f"

    def __init__(
        self,
        *,
        source: str,
        table: str,
        schema: Mapping[str, Any] | None = None,
        key_names: Sequence[str] = (),
        file_format: str = "auto",
        sequence_anchor: str | dt.datetime | None = None,
        max_batch_bytes: int = 10_000_000,
        stitch_import_conn_id: str = "stitch_import_default",
        aws_conn_id: str | None = "aws_default",
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.source = source
        self.table = table
        self.schema = schema
        self.key_names = key_names
        self.file_format = file_format
        self.sequence_anchor = sequence_anchor
        self.max_batch_bytes = max_batch_bytes
        self.stitch_import_conn_id = stitch_import_conn_id
        self.aws_conn_id = aws_conn_id

    def execute(self, context: Context) -> dict[str, Any]:
        from airflow_provider_importio.clients.stitch_batching import BatchLimits, sequence_start_for
        from airflow_provider_importio.clients.stitch_schema import batch_schema
        from airflow_provider_importio.hooks.object_source import open_uri
        from airflow_provider_importio.hooks.stitch import StitchImportHook
        from airflow_provider_importio.operators.run_moment import moment_or_run_start
        from airflow_provider_importio.workbench.record_files import detect_format, iter_records

        key_names = list(self.key_names or ())
        stitch_schema = batch_schema(self.schema, key_names) if self.schema else {"properties": {}}
        fmt = detect_format(self.source, self.file_format)
        anchor = moment_or_run_start(self.sequence_anchor, context, "sequence_anchor")
        self.log.info("Pushing %s (%s) to Stitch table %r, keys %s, sequences anchored at %s",
                      self.source, fmt, self.table, key_names or "none", anchor.isoformat())
        hook = StitchImportHook(self.stitch_import_conn_id)
        with open_uri(self.source, self.aws_conn_id) as stream:
            summary = hook.push_records(
                self.table, stitch_schema, key_names, iter_records(stream, fmt, name=self.source),
                sequence_start=sequence_start_for(anchor), limits=BatchLimits(max_bytes=self.max_batch_bytes),
            )
        return asdict(summary)
