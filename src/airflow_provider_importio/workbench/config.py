"""Workbench project configuration: the public entry point (plain Python, no Airflow).

One YAML file beside the DAGs describes one project — its schemas, destinations, collections and flows —
with Workbench's camelCase keys. The reference is ``docs/configuration.md``. The pieces:

* :mod:`.config_model` — frozen dataclasses (``Project``, ``Schema``, ``Destination``, ``Collection``, ``Flow`` ...);
* :mod:`.config_schema` — the JSON Schema of a file; :mod:`.config_rules` — the cross-entity rules;
* :mod:`.config_loader` — ``load_project``, ``load_projects``, ``load_project_text``;
* :mod:`.row_schema` — a ``Schema`` as a JSON Schema of one output row, and rule names of its errors.
"""

from __future__ import annotations

from airflow_provider_importio.workbench.config_errors import ConfigError
from airflow_provider_importio.workbench.config_loader import load_project, load_project_text, load_projects
from airflow_provider_importio.workbench.config_model import (
    DESTINATION_FORMATS,
    DESTINATION_TYPES,
    FIELD_TYPES,
    Collection,
    Destination,
    Field,
    FieldRules,
    Flow,
    FlowDefinition,
    Project,
    Schema,
    Source,
)
from airflow_provider_importio.workbench.config_schema import PROJECT_FILE_SCHEMA
from airflow_provider_importio.workbench.row_schema import count_violations, row_validator, row_violations, rule_name

__all__ = [
    "DESTINATION_FORMATS",
    "DESTINATION_TYPES",
    "FIELD_TYPES",
    "PROJECT_FILE_SCHEMA",
    "Collection",
    "ConfigError",
    "Destination",
    "Field",
    "FieldRules",
    "Flow",
    "FlowDefinition",
    "Project",
    "Schema",
    "Source",
    "count_violations",
    "load_project",
    "load_project_text",
    "load_projects",
    "row_validator",
    "row_violations",
    "rule_name",
]
