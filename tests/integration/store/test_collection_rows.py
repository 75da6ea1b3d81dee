"""A collection's data table in the store, on SQLite and PostgreSQL: flagged rows, replacement, new columns."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import sqlalchemy as sa

from airflow_provider_importio.store.collection_rows import (
    BATCH_ROWS,
    CollectionRowsWriter,
    is_collection_rows_table,
    table_name,
)
from airflow_provider_importio.store.store import Store
from airflow_provider_importio.testing.importio_files import RunSource, json_file
from airflow_provider_importio.testing.importio_pages import normalise_fields
from airflow_provider_importio.workbench.config_model import Collection, Field, FieldRules, Schema
from airflow_provider_importio.workbench.statistics import compute_statistics

PRODUCT = Schema(slug="product", name="Product", fields=(
    Field("name", "STRING", required=True),
    Field("price", "NUMBER", rules=FieldRules(minimum=0)),
    Field("link", "URL"),
))
COLLECTION = Collection(slug="uk-products", name="UK products", schema="product", locale="en-GB",
                        domain="shop.example", data_store=True)
SHOP = "https://shop.example"


def emulator_rows(urls: list[str], schema: Schema = PRODUCT) -> list[dict[str, Any]]:
    """Rows as the statistics pass hands them out, from the emulator's result file."""
    lines = json_file(RunSource(inputs=[{"_url": u} for u in urls], fields=normalise_fields(None), started_ms=0))
    rows: list[dict[str, Any]] = []
    compute_statistics(lines, schema, rows_out=rows.append)
    return rows


def columns(store: Store, table: str) -> dict[str, Any]:
    return {c["name"]: c["type"] for c in sa.inspect(store.engine).get_columns(table)}


def test_table_name() -> None:
    assert table_name(COLLECTION) == table_name("uk-products") == "rows_uk_products"
    long = table_name("a" + "-b" * 31)
    assert len(long) <= 63 and long.startswith("rows_a_b_") and long != table_name("a" + "-b" * 30 + "-c")
    assert is_collection_rows_table("rows_uk_products") and not is_collection_rows_table("snapshots")


def test_rows_land_with_their_flags(store: Store) -> None:
    rows = emulator_rows([f"{SHOP}/p/1?rows=3", f"{SHOP}/invalid/p?rows=2", f"{SHOP}/status/404"])
    writer = CollectionRowsWriter(store, COLLECTION, PRODUCT)
    assert writer.replace_snapshot("snap-1", iter(rows)) == 5

    cols = columns(store, "rows_uk_products")
    assert set(cols) == {"_snapshot_id", "_row", "_url", "_status", "_valid", "_errors", "_invalid_values",
                         "_loaded_at", "name", "price", "link"}
    assert isinstance(cols["price"], sa.Float) and isinstance(cols["name"], (sa.Text, sa.String))
    stored = writer.snapshot_rows("snap-1")
    assert [r["_row"] for r in stored] == [0, 1, 2, 3, 4]
    assert [r["_valid"] for r in stored] == [True, True, True, False, False]
    assert [r["_errors"] for r in stored[3:]] == [["name.required", "price.type"], ["name.required", "price.minimum"]]
    # "N/A" does not fit the NUMBER column: NULL there, kept in _invalid_values; the negative price fits.
    assert stored[3]["price"] is None and stored[3]["_invalid_values"] == {"price": "N/A"}
    assert stored[4]["price"] == rows[4]["price"] < 0 and stored[4]["_invalid_values"] is None
    for row, saved in zip(rows, stored):
        assert {k: saved[k] for k in ("name", "link", "_url", "_status")} == {
            k: row[k] for k in ("name", "link", "_url", "_status")}
        assert saved["_snapshot_id"] == "snap-1" and saved["_loaded_at"].utcoffset() is not None


def test_replacing_a_snapshot_does_not_duplicate(store: Store) -> None:
    writer = CollectionRowsWriter(store, COLLECTION, PRODUCT)
    first = emulator_rows([f"{SHOP}/p/1?rows=4"])
    writer.replace_snapshot("snap-1", first)
    writer.replace_snapshot("snap-2", emulator_rows([f"{SHOP}/p/2?rows=2"]))
    writer.replace_snapshot("snap-1", first)  # a re-run of the same snapshot
    assert writer.row_counts() == {"snap-1": 4, "snap-2": 2}
    writer.replace_snapshot("snap-1", first[:1])
    assert writer.row_counts() == {"snap-1": 1, "snap-2": 2}
    # A second writer (another task) finds the table and replaces the same way.
    assert CollectionRowsWriter(store, "uk-products", PRODUCT).replace_snapshot("snap-2", []) == 0
    assert writer.row_counts() == {"snap-1": 1}


def test_a_failed_load_keeps_the_previous_rows(store: Store) -> None:
    writer = CollectionRowsWriter(store, COLLECTION, PRODUCT)
    writer.replace_snapshot("snap-1", emulator_rows([f"{SHOP}/p/1?rows=3"]))

    def broken() -> Iterator[dict[str, Any]]:
        yield from emulator_rows([f"{SHOP}/p/2?rows=2"])
        raise RuntimeError("the rows file ended early")

    with pytest.raises(RuntimeError):
        writer.replace_snapshot("snap-1", broken())
    assert writer.row_counts() == {"snap-1": 3}


def test_rows_go_in_batches(store: Store) -> None:
    writer = CollectionRowsWriter(store, COLLECTION, PRODUCT)
    count = BATCH_ROWS * 2 + 500
    rows = ({"name": f"n{i}", "price": i, "link": None, "_url": "u", "_status": 200, "_valid": True, "_errors": []}
            for i in range(count))
    assert writer.replace_snapshot("snap-big", rows) == count
    assert writer.row_counts() == {"snap-big": count}
    assert writer.snapshot_rows("snap-big")[-1]["price"] == count - 1


def test_a_new_schema_field_adds_a_column_and_none_is_dropped(store: Store) -> None:
    CollectionRowsWriter(store, COLLECTION, PRODUCT).replace_snapshot("snap-1", emulator_rows([f"{SHOP}/p/1?rows=2"]))

    long_name = "Shipping cost to the Scottish Highlands and Islands in pounds sterling incl VAT"
    grown = Schema(slug="product", name="Product", version=2, fields=(
        *PRODUCT.fields, Field("In stock", "BOOLEAN"), Field("units", "INTEGER"), Field(long_name, "NUMBER")))
    writer = CollectionRowsWriter(store, COLLECTION, grown)
    base = {"name": "Kettle", "price": 19.5, "link": "https://shop.example/k", "_url": "u", "_status": 200,
            "_valid": True, "_errors": []}
    writer.replace_snapshot("snap-2", [{**base, "In stock": True, "units": 3, long_name: 4.95},
                                       {**base, "In stock": "maybe", "units": 2**70, long_name: None}])
    cols = columns(store, "rows_uk_products")
    long_column = writer.columns[long_name]
    assert {"In stock", "units", long_column} <= set(cols) and len(long_column) <= 63
    assert isinstance(cols["In stock"], sa.Boolean) or "BOOL" in str(cols["In stock"]).upper()
    old, new = writer.snapshot_rows("snap-1"), writer.snapshot_rows("snap-2")
    assert all(r["In stock"] is None and r["units"] is None for r in old)  # earlier rows: NULL in the new columns
    assert (new[0]["In stock"], new[0]["units"], new[0][long_column]) == (True, 3, 4.95)
    assert new[1]["In stock"] is None and new[1]["units"] is None
    assert new[1]["_invalid_values"] == {"In stock": "maybe", "units": 2**70}

    # A schema that drops a field keeps its column (and its data); new rows leave it NULL.
    shrunk = Schema(slug="product", name="Product", version=3, fields=(PRODUCT.fields[0],))
    CollectionRowsWriter(store, COLLECTION, shrunk).replace_snapshot("snap-3", [{**base}])
    assert set(cols) == set(columns(store, "rows_uk_products"))
    assert writer.snapshot_rows("snap-3")[0]["price"] is None and writer.snapshot_rows("snap-2")[0]["price"] == 19.5


def test_field_names_that_would_clash_are_refused(store: Store) -> None:
    clash = Schema(slug="s", name="S", fields=(Field("Name"), Field("name")))
    with pytest.raises(ValueError, match="clashes"):
        CollectionRowsWriter(store, COLLECTION, clash)


def test_the_data_tables_are_not_in_the_migrated_schema(store: Store) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.runtime.migration import MigrationContext

    from airflow_provider_importio.store.schema import VERSION_TABLE, metadata

    CollectionRowsWriter(store, COLLECTION, PRODUCT).replace_snapshot("snap-1", emulator_rows([f"{SHOP}/p/1"]))
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={
            "version_table": VERSION_TABLE, "compare_type": True,
            "include_name": lambda name, kind, _parent: not (kind == "table" and is_collection_rows_table(name))})
        assert compare_metadata(context, metadata) == []


def test_a_changed_field_type_keeps_the_column(store: Store) -> None:
    CollectionRowsWriter(store, COLLECTION, PRODUCT).replace_snapshot("snap-1", emulator_rows([f"{SHOP}/p/1"]))
    retyped = Schema(slug="product", name="Product", version=2, fields=(
        PRODUCT.fields[0], Field("price", "STRING"), PRODUCT.fields[2]))
    writer = CollectionRowsWriter(store, COLLECTION, retyped)
    writer.replace_snapshot("snap-2", [{"name": "a", "price": "12.50", "_valid": True, "_errors": []},
                                       {"name": "b", "price": "cheap", "_valid": True, "_errors": []}])
    assert isinstance(columns(store, "rows_uk_products")["price"], sa.Float)
    stored = writer.snapshot_rows("snap-2")
    assert [r["price"] for r in stored] == [None, None]  # text does not go in a number column...
    assert [r["_invalid_values"] for r in stored] == [{"price": "12.50"}, {"price": "cheap"}]  # ...it is kept here
