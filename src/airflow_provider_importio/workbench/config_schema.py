"""The JSON Schema (Draft 2020-12) of a project file: structure, types, enums, unknown keys.

Cross-entity rules (references, uniqueness, hour ordering, templates, cron) live in
:mod:`~airflow_provider_importio.workbench.config_rules`. ``x-messages`` holds friendlier messages per
failing keyword; the loader appends them to the offending value.

``python -m airflow_provider_importio.workbench.config_schema`` prints the schema, for editors that
validate YAML against a JSON Schema.
"""

from __future__ import annotations

import json
from typing import Any

from airflow_provider_importio.workbench.alarms import ALARM_OPS, SUBSCRIPTION_TYPES
from airflow_provider_importio.workbench.config_model import (
    CHECK_KINDS,
    CHECK_OPS,
    DESTINATION_FORMATS,
    DESTINATION_TYPES,
    FIELD_TYPES,
    FLOW_TYPES,
    SCHEMA_STATUSES,
    SLUG_PATTERN,
    SOURCE_STATES,
)

GUID_PATTERN = r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$"
CONNECTION_PATTERN = r"^[A-Za-z0-9_.-]{1,250}$"
FIELD_NAME_PATTERN = r"^[A-Za-z](?:[A-Za-z0-9_ -]{0,126}[A-Za-z0-9_-])?$"
LOCALE_PATTERN = r"^[a-z]{2,3}(?:[_-][A-Za-z]{2}|[_-][0-9]{3})?$"
DOMAIN_PATTERN = r"^(?=.{1,253}$)(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}$"


def _obj(properties: dict[str, Any], required: list[str] | None = None) -> dict[str, Any]:
    return {"type": "object", "properties": properties, "required": required or [], "additionalProperties": False}


_SLUG = {
    "type": "string",
    "pattern": SLUG_PATTERN,
    "x-messages": {"pattern": "is not a well-formed slug: use lowercase letters, digits, '-' or '_', "
                              "start with a letter, at most 64 characters"},
}
_NAME = {"type": "string", "minLength": 1, "maxLength": 200}
MAX_HOURS = 10_000
_HOURS = {
    "type": "number",
    "exclusiveMinimum": 0,
    "maximum": MAX_HOURS,
    "x-messages": {"exclusiveMinimum": "must be a positive number of hours",
                   "maximum": f"is more than {MAX_HOURS} hours"},
}
_CONNECTION = {
    "type": "string",
    "pattern": CONNECTION_PATTERN,
    "x-messages": {"pattern": "is not an Airflow connection id (letters, digits, '_', '.', '-'); "
                              "name a connection, never put a URI or credentials here"},
}
_BUCKET = {
    "type": "string",
    "pattern": r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$",
    "x-messages": {"pattern": "is not an S3 bucket name (3-63 lowercase letters, digits, '.', '-')"},
}
_TEMPLATE = {"type": "string", "minLength": 1, "maxLength": 1024}
_NUMBER_VALUE = {"type": "number"}

_RULES = _obj({
    "pattern": {"type": "string", "minLength": 1},
    "minimum": _NUMBER_VALUE,
    "maximum": _NUMBER_VALUE,
    "minLength": {"type": "integer", "minimum": 0},
    "maxLength": {"type": "integer", "minimum": 0},
    "enum": {"type": "array", "minItems": 1, "items": {"type": ["string", "number", "boolean"]}},
})

_FIELD = _obj({
    "name": {"type": "string", "pattern": FIELD_NAME_PATTERN,
             "x-messages": {"pattern": "is not a valid field name: start with a letter; letters, digits, '_', '-' "
                                       "and inner spaces; at most 128 characters (no dots)"}},
    "type": {"enum": list(FIELD_TYPES)},
    "required": {"type": "boolean"},
    "rules": _RULES,
}, ["name", "type"])

_SCHEMA = _obj({
    "slug": _SLUG,
    "name": _NAME,
    "version": {"type": "integer", "minimum": 1},
    "status": {"enum": list(SCHEMA_STATUSES)},
    "forkedFrom": _SLUG,
    "fields": {"type": "array", "items": _FIELD},
}, ["slug", "name"])

_DESTINATION = _obj({
    "slug": _SLUG,
    "name": _NAME,
    "type": {"enum": list(DESTINATION_TYPES)},
    "format": {"enum": list(DESTINATION_FORMATS)},
    "connection": _CONNECTION,
    "bucket": _BUCKET,
    "directory": {"type": "string", "minLength": 1, "maxLength": 1024},
    "pathTemplate": _TEMPLATE,
    "filenameTemplate": _TEMPLATE,
    "active": {"type": "boolean"},
    "table": _TEMPLATE,
    "keyFields": {"type": "array", "items": {"type": "string", "minLength": 1}},
}, ["slug", "name", "type", "connection"])

_SOURCE = _obj({
    "slug": _SLUG,
    "name": _NAME,
    "extractorId": {"type": "string", "pattern": GUID_PATTERN,
                    "x-messages": {"pattern": "is not an extractor id (a guid like 8-4-4-4-12 hex digits)"}},
    "state": {"enum": list(SOURCE_STATES)},
}, ["slug", "name", "extractorId"])

# A QA check; statistic names, op/limit vs tolerance and the rule names are checked in config_rules.
_CHECK = _obj({
    "statistic": {"type": "string", "minLength": 1},
    "kind": {"enum": list(CHECK_KINDS),
             "x-messages": {"enum": "is not a kind of check: use 'absolute' (op and limit) or 'relative' "
                                    "(tolerance, percent of the baseline)"}},
    "op": {"enum": list(CHECK_OPS),
           "x-messages": {"enum": "is not a comparison: use '<', '<=', '>' or '>=' (quoted: YAML reads a bare "
                                  "'>' as a folded block)"}},
    "limit": {"type": "number"},
    "tolerance": {"type": "number", "minimum": 0,
                  "x-messages": {"minimum": "must be a percentage ≥ 0"}},
    "escalate": {"type": "boolean"},
    "enabled": {"type": "boolean"},
}, ["statistic"])

_COLLECTION = _obj({
    "slug": _SLUG,
    "name": _NAME,
    "schema": _SLUG,
    "parameters": _obj({
        "locale": {"type": "string", "pattern": LOCALE_PATTERN,
                   "x-messages": {"pattern": "is not a locale like 'en_US' or 'en-GB'"}},
        "domain": {"type": "string", "pattern": DOMAIN_PATTERN,
                   "x-messages": {"pattern": "is not a bare domain name like 'www.example.com' (no scheme, no path)"}},
    }, ["locale", "domain"]),
    "sources": {"type": "array", "items": _SOURCE},
    "destinations": {"type": "array", "items": _SLUG},
    "checks": {"type": "array", "items": _CHECK,
               "x-messages": {"type": "must be a list of mappings (one per check)"}},
    "dataStore": {"type": "boolean"},
    "blankRowForNoData": {"type": "boolean"},
}, ["slug", "name", "schema", "parameters"])

_DEFINITION = _obj({
    "collectionId": _SLUG,
    "inputUriTemplate": _TEMPLATE,
    "inputBucket": _BUCKET,
    "chunks": {"type": "integer", "minimum": 1, "maximum": 10000,
               "x-messages": {"minimum": "must be an integer ≥ 1", "type": "must be an integer ≥ 1"}},
    "chunkCollectHours": _HOURS,
    "inputConnection": _CONNECTION,
}, ["collectionId"])

_FLOW = _obj({
    "slug": _SLUG,
    "name": _NAME,
    "cron": {"type": "string", "minLength": 1},
    "dataHours": _HOURS,
    "pushHours": _HOURS,
    "closeHours": _HOURS,
    "active": {"type": "boolean"},
    "type": {"enum": list(FLOW_TYPES)},
    "definition": _DEFINITION,
}, ["slug", "name", "cron", "dataHours", "pushHours", "closeHours", "definition"])

# Alarms: metric names, references and scopes are checked in config_rules.
_ALARM = _obj({
    "name": _SLUG,
    "description": {"type": "string"},
    "metric": {"type": "string", "minLength": 1},
    "op": {"enum": list(ALARM_OPS),
           "x-messages": {"enum": "is not a comparison: use '<', '<=', '>', '>=' or '==' (quoted: YAML reads a "
                                  "bare '>' as a folded block)"}},
    "threshold": {"type": "number"},
    "project": _SLUG,
    "collection": _SLUG,
    "flow": _SLUG,
}, ["name", "metric", "op", "threshold"])

_SUBSCRIPTION = _obj({
    "type": {"enum": list(SUBSCRIPTION_TYPES),
             "x-messages": {"enum": f"is not a subscription type: use {', '.join(SUBSCRIPTION_TYPES)}"}},
    "connection": _CONNECTION,
}, ["type", "connection"])

_ALARM_GROUP = _obj({
    "slug": _SLUG,
    "name": _NAME,
    "alarms": {"type": "array", "minItems": 1, "items": _SLUG,
               "x-messages": {"minItems": "must name at least one alarm"}},
    "subscriptions": {"type": "array", "items": _SUBSCRIPTION},
}, ["slug", "name", "alarms"])

PROJECT_FILE_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "Import.io Workbench project file (airflow-provider-importio)",
    **_obj({
        "project": _obj({"slug": _SLUG, "name": _NAME, "readme": {"type": "string"}}, ["slug", "name"]),
        "schemas": {"type": "array", "items": _SCHEMA},
        "destinations": {"type": "array", "items": _DESTINATION},
        "collections": {"type": "array", "items": _COLLECTION},
        "flows": {"type": "array", "items": _FLOW},
        "alarms": {"type": "array", "items": _ALARM},
        "alarmGroups": {"type": "array", "items": _ALARM_GROUP},
    }, ["project"]),
}

if __name__ == "__main__":  # pragma: no cover
    print(json.dumps(PROJECT_FILE_SCHEMA, indent=2, ensure_ascii=False))
