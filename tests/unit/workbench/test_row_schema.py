"""Schemas: field order, forks, the row JSON Schema and rule names of its errors."""

from __future__ import annotations

import pytest
import yaml
from jsonschema import Draft202012Validator

from airflow_provider_importio.workbench.config import (
    Field,
    FieldRules,
    Schema,
    count_violations,
    load_project,
    load_project_text,
    row_violations,
    rule_name,
)
from tests.unit.workbench.helpers import EXAMPLE, example_data

PRODUCT = load_project(EXAMPLE).schema("product")
GOOD_ROW = {"name": "Kettle", "price": 19.99, "currency": "GBP", "sku": "KT-100", "url": "https://shop.example/kt",
            "image": None, "in_stock": True, "_url": "https://shop.example/list?page=1", "_pageNumber": 1}


def test_field_names_in_order() -> None:
    assert PRODUCT.field_names == ["name", "price", "currency", "sku", "url", "image", "in_stock"]
    assert PRODUCT.field("price").type == "NUMBER"
    with pytest.raises(KeyError):
        PRODUCT.field("nope")


def test_rule_names() -> None:
    assert PRODUCT.field("name").rule_names == ["name.type", "name.required", "name.minLength", "name.maxLength"]
    assert "price.minimum" in PRODUCT.rule_names and "image.type" in PRODUCT.rule_names
    assert "image.required" not in PRODUCT.rule_names


def test_fork() -> None:
    draft = PRODUCT.fork("product-v2", status="DRAFT")
    assert (draft.slug, draft.status, draft.forked_from, draft.version) == ("product-v2", "DRAFT", "product", 1)
    prod = PRODUCT.fork("product-live", name="Live")
    assert (prod.status, prod.name, prod.fields) == ("PRODUCTION", "Live", PRODUCT.fields)
    assert PRODUCT.status == "DRAFT" and PRODUCT.slug == "product"  # the original is untouched
    for slug in ("product", "Bad Slug"):
        with pytest.raises(ValueError):
            PRODUCT.fork(slug)
    with pytest.raises(ValueError, match="status"):
        PRODUCT.fork("p2", status="LIVE")


def test_forked_schema_in_file_inherits_or_overrides_fields() -> None:
    project = load_project(EXAMPLE)
    inherited = project.schema("product-prod")
    assert (inherited.forked_from, inherited.status, inherited.fields) == ("product", "PRODUCTION", PRODUCT.fields)
    data = example_data()
    data["schemas"][1]["fields"] = [{"name": "sku", "type": "STRING", "required": True}]
    own = load_project_text(yaml.safe_dump(data), "fork.yaml").schema("product-prod")
    assert own.field_names == ["sku"] and own.forked_from == "product"


def test_fork_of_a_fork_resolves_fields() -> None:
    data = example_data()
    data["schemas"].append({"slug": "product-eu", "name": "EU", "forkedFrom": "product-prod"})
    assert load_project_text(yaml.safe_dump(data), "f.yaml").schema("product-eu").field_names == PRODUCT.field_names


def test_json_schema_is_valid_draft_2020_12() -> None:
    schema = PRODUCT.to_json_schema()
    Draft202012Validator.check_schema(schema)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["additionalProperties"] is True


def test_good_rows_pass() -> None:
    validator = Draft202012Validator(PRODUCT.to_json_schema())
    assert list(validator.iter_errors(GOOD_ROW)) == []
    assert row_violations(PRODUCT, {**GOOD_ROW, "currency": None, "in_stock": None}) == []
    assert row_violations(PRODUCT, {k: v for k, v in GOOD_ROW.items() if k not in ("image", "currency")}) == []


@pytest.mark.parametrize(("change", "rule"), [
    ({"name": None}, "name.required"),
    ({"name": ""}, "name.minLength"),
    ({"price": None}, "price.required"),
    ({"price": -0.01}, "price.minimum"),
    ({"price": "19.99"}, "price.type"),
    ({"price": True}, "price.type"),
    ({"currency": "JPY"}, "currency.enum"),
    ({"sku": "kt-100"}, "sku.pattern"),
    ({"url": "ftp://shop.example/x"}, "url.type"),
    ({"url": "shop.example/x"}, "url.type"),
    ({"image": "not a url"}, "image.type"),
    ({"in_stock": "yes"}, "in_stock.type"),
    ({"name": "x" * 501}, "name.maxLength"),
])
def test_bad_rows_map_to_rule_names(change: dict[str, object], rule: str) -> None:
    row = {**GOOD_ROW, **change}
    assert [r for r, _ in row_violations(PRODUCT, row)] == [rule]
    errors = list(Draft202012Validator(PRODUCT.to_json_schema()).iter_errors(row))
    assert [rule_name(e) for e in errors] == [rule]


def test_missing_required_key_and_non_object_row() -> None:
    row = {k: v for k, v in GOOD_ROW.items() if k != "sku"}
    violations = row_violations(PRODUCT, row)
    assert violations == [("sku.required", "'sku' is required: missing or null")]
    assert [r for r, _ in row_violations(PRODUCT, ["not", "a", "row"])] == ["row.type"]


def test_several_violations_in_one_row() -> None:
    row = {**GOOD_ROW, "price": -1, "currency": "JPY", "url": None}
    assert sorted(r for r, _ in row_violations(PRODUCT, row)) == ["currency.enum", "price.minimum", "url.required"]
    message = dict(row_violations(PRODUCT, row))["currency.enum"]
    assert message == "'JPY' is not one of ['GBP', 'EUR', 'USD']"


def test_count_violations_per_rule() -> None:
    rows = [GOOD_ROW, {**GOOD_ROW, "price": -1}, {**GOOD_ROW, "price": -2, "sku": "bad sku"}, {}]
    counts = count_violations(PRODUCT, rows)
    assert counts["price.minimum"] == 2
    assert counts["sku.pattern"] == 1
    assert counts["name.required"] == 1 and counts["url.required"] == 1
    assert counts["currency.enum"] == 0 and "currency.enum" in counts


@pytest.mark.parametrize(("ftype", "good", "bad"), [
    ("INTEGER", 3, 3.5),
    ("DATE", "2027-01-01", "2027-13-01"),
    ("DATETIME", "2027-01-01T06:30:00Z", "2027-01-01 6:30"),
    ("TEXT", "line 1\nline 2", 12),
    ("BOOLEAN", False, 0),
])
def test_field_types(ftype: str, good: object, bad: object) -> None:
    schema = Schema(slug="s", name="S", fields=(Field(name="v", type=ftype),))
    assert row_violations(schema, {"v": good}) == []
    assert [r for r, _ in row_violations(schema, {"v": bad})] == ["v.type"]


def test_integer_bounds_and_text_length() -> None:
    schema = Schema(slug="s", name="S", fields=(
        Field(name="n", type="INTEGER", rules=FieldRules(minimum=1, maximum=5)),
        Field(name="t", type="STRING", rules=FieldRules(min_length=2)),
    ))
    assert [r for r, _ in row_violations(schema, {"n": 6, "t": "a"})] == ["n.maximum", "t.minLength"]
    assert row_violations(schema, {"n": 1, "t": "ab"}) == []
