"""Row JSON Schema → Stitch batch schema."""

from __future__ import annotations

import pytest

from airflow_provider_importio.clients.stitch_schema import batch_schema

ROW_SCHEMA = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "type": "object",
    "required": ["sku"],
    "properties": {
        "sku": {"type": "string", "pattern": "^[A-Z]+$", "maxLength": 20},
        "price": {"type": "number", "minimum": 0},
        "count": {"type": ["integer", "null"]},
        "seen_at": {"type": "string", "format": "date-time"},
        "tags": {"type": "array", "items": {"type": "string", "enum": ["a", "b"]}},
        "dims": {"type": "object", "properties": {"w": {"type": "number", "maximum": 3}}},
        "either": {"anyOf": [{"type": "integer"}, {"type": "string"}]},
        "anything": {"description": "no type"},
    },
}


def test_types_become_nullable_except_keys_and_rules_are_dropped():
    assert batch_schema(ROW_SCHEMA, ["sku"]) == {
        "properties": {
            "sku": {"type": "string"},
            "price": {"type": ["number", "null"]},
            "count": {"type": ["integer", "null"]},
            "seen_at": {"type": ["string", "null"], "format": "date-time"},
            "tags": {"type": ["array", "null"], "items": {"type": ["string", "null"]}},
            "dims": {"type": ["object", "null"], "properties": {"w": {"type": ["number", "null"]}}},
            "either": {"type": ["integer", "string", "null"]},
        }
    }


def test_a_nullable_key_loses_its_null():
    assert batch_schema(ROW_SCHEMA, ["count"])["properties"]["count"] == {"type": "integer"}


def test_unknown_keys_and_missing_properties_are_errors():
    with pytest.raises(ValueError, match="key field\\(s\\) 'nope' are not properties"):
        batch_schema(ROW_SCHEMA, ["nope"])
    with pytest.raises(ValueError, match="no 'properties' object"):
        batch_schema({"type": "object"})


def test_a_collection_schema_with_one_rule_a_branch_translates():
    from airflow_provider_importio.workbench.config_model import Field, FieldRules, Schema

    schema = Schema(slug="p", name="P", fields=(
        Field("sku", "STRING", required=True, rules=FieldRules(pattern="^S")),
        Field("price", "NUMBER", rules=FieldRules(minimum=0)),
        Field("seen", "DATETIME"),
    ))
    translated = batch_schema(schema.to_json_schema(), ["sku"])
    assert translated["properties"]["sku"] == {"type": "string"}
    assert translated["properties"]["price"] == {"type": ["number", "null"]}
    assert translated["properties"]["seen"]["type"] == ["string", "null"]
