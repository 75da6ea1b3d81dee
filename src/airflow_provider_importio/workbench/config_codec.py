"""Plain-dict forms of configuration entities, for operator arguments (DAG serialization keeps
JSON values, not dataclasses): the DAG factory encodes, the task decodes."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from dataclasses import asdict

from airflow_provider_importio.workbench.config_model import Check, Field, FieldRules, Schema


def schema_to_dict(schema: Schema) -> dict[str, Any]:
    return {
        "slug": schema.slug, "name": schema.name, "version": schema.version, "status": schema.status,
        "forked_from": schema.forked_from,
        "fields": [
            {"name": f.name, "type": f.type, "required": f.required,
             "rules": {attr: (list(value) if isinstance(value, tuple) else value)
                       for _, attr in FieldRules.KEYS if (value := getattr(f.rules, attr)) is not None}}
            for f in schema.fields
        ],
    }


def schema_from_dict(data: Mapping[str, Any]) -> Schema:
    fields = tuple(
        Field(name=f["name"], type=f.get("type", "STRING"), required=bool(f.get("required")),
              rules=FieldRules(**{k: (tuple(v) if k == "enum" and v is not None else v)
                                  for k, v in (f.get("rules") or {}).items()}))
        for f in data.get("fields") or ()
    )
    return Schema(slug=data["slug"], name=data.get("name", data["slug"]), fields=fields,
                  version=int(data.get("version", 1)), status=data.get("status", "DRAFT"),
                  forked_from=data.get("forked_from"))


def checks_to_dicts(checks: Iterable[Check]) -> list[dict[str, Any]]:
    return [asdict(check) for check in checks]


def checks_from_dicts(data: Iterable[Mapping[str, Any]]) -> tuple[Check, ...]:
    return tuple(Check(**dict(item)) for item in data)
