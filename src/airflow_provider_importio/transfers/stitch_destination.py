"""A snapshot's rows to a Stitch table: the STITCH destination type of a delivery's push.

Rows come from the snapshot's rows file: markers of inputs without data are left out, and of the
system keys only ``_url`` is kept (``_valid``/``_errors`` are QA's, ``_status`` the crawler's).
The table is the destination's ``table`` template rendered for the snapshot, with characters
Stitch does not take in a table name replaced by ``_``. Sequences are anchored at the snapshot's
creation, so a re-push of a snapshot upserts the same rows and a later snapshot's rows win; the
key fields come from the destination's ``keyFields``; the batch schema from the collection schema.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from airflow_provider_importio.workbench.config_model import Destination

KEPT_SYSTEM_KEYS = ("_url",)
_TABLE_CHARS = re.compile(r"[^A-Za-z0-9_]")


def stitch_table(destination: Destination, variables: Mapping[str, Any]) -> str:
    """The rendered table name, made safe for Stitch (letters, digits and ``_``; not starting with a digit)."""
    name = _TABLE_CHARS.sub("_", destination.table_name(variables)).strip("_") or "rows"
    return f"t_{name}" if name[0].isdigit() else name


def stitch_rows(records: Iterable[Mapping[str, Any]]) -> Iterator[dict[str, Any]]:
    """The rows a Stitch table gets from a rows file (see the module docstring)."""
    for record in records:
        if record.get("_no_data"):
            continue
        yield {k: v for k, v in record.items() if not k.startswith("_") or k in KEPT_SYSTEM_KEYS}


def push_rows(destination: Destination, table: str, rows: Iterable[Mapping[str, Any]],
              row_schema: Mapping[str, Any] | None, *, sequence_start: int) -> Any:
    """Push to Stitch through ``StitchImportHook`` (the destination's connection); the push summary."""
    from airflow_provider_importio.clients.stitch_schema import batch_schema
    from airflow_provider_importio.hooks.stitch import StitchImportHook

    keys = list(destination.key_fields or ())
    schema = batch_schema(_with_url(row_schema), keys) if row_schema else {"properties": {}}
    hook = StitchImportHook(destination.connection)
    return hook.push_records(table, schema, keys, rows, sequence_start=sequence_start)


def _with_url(row_schema: Mapping[str, Any]) -> dict[str, Any]:
    properties = dict(row_schema.get("properties") or {})
    properties.setdefault("_url", {"type": "string"})
    return {**row_schema, "properties": properties}
