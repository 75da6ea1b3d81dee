"""Set up the Stitch warehouse of the Shop prices project: run once by hand (and again at any time).

Finds or creates the Stitch Import API source "Shop Warehouse" and keeps an active Import API token
of it in the Airflow connection ``stitch_shop``, which the project's ``warehouse`` destination
(projects/shop.yaml) pushes through.
"""
from __future__ import annotations

import os
from datetime import datetime, timezone

from airflow.sdk import DAG

from airflow_provider_importio.operators.stitch import StitchCreateImportSourceOperator

#: Where the new token's connection is written (Airflow tasks cannot write connections to the metadata
#: database): a JSON file under AIRFLOW_HOME by default, or ``aws-secrets-manager://<aws_conn_id>?prefix=...``.
CONNECTION_STORE = os.environ.get("SHOP_STITCH_CONNECTION_STORE") or "file://" + os.path.join(
    os.environ.get("AIRFLOW_HOME") or os.path.expanduser("~/airflow"), "stitch_connections.json")

DOC = f"""
# Stitch setup for Shop prices

Run this DAG **by hand** before activating the `warehouse` destination of `projects/shop.yaml`,
and again whenever the token should be checked; re-runs are safe.

It calls Stitch's Connect API (connection **`stitch_connect_default`**, type *Stitch Connect*, with
your Connect API token) to find the Import API source **Shop Warehouse** or create it (never a
second one), unpauses it, and makes sure the connection **`stitch_shop`** holds an active Import API
token of that source. A token already stored there and still active is kept; a new one is written to

`{CONNECTION_STORE}`

(override with the environment variable `SHOP_STITCH_CONNECTION_STORE`, e.g.
`aws-secrets-manager://aws_default?prefix=airflow/connections`). Point Airflow's secrets backend at
that store so that tasks can read `stitch_shop`; for the default file:

```ini
[secrets]
backend = airflow.secrets.local_filesystem.LocalFilesystemBackend
backend_kwargs = {{"connections_file_path": "{CONNECTION_STORE.removeprefix("file://")}"}}
```

The task returns the source id, the schema (`shop_warehouse`) and the token id; never the token.
Rows land in the table `shop_products` of that schema.
"""

with DAG(
    dag_id="shop__stitch_setup",
    description="Shop prices: create the Stitch Import API source and its token connection (run by hand)",
    schedule=None,
    start_date=datetime(2024, 1, 1, tzinfo=timezone.utc),
    catchup=False,
    doc_md=DOC,
    tags=["importio", "project:shop", "stitch"],
):
    StitchCreateImportSourceOperator(
        task_id="create_import_source",
        display_name="Shop Warehouse",
        import_conn_id="stitch_shop",
        connection_store=CONNECTION_STORE,
        doc_md="Find or create the Stitch source **Shop Warehouse** and keep its Import API token in `stitch_shop`.",
    )
