"""Loading project files: YAML → checks (all of them, every error collected) → the frozen model.

One YAML file holds one project. :func:`load_project` raises one :class:`ConfigError` listing every
problem of the file; :func:`load_projects` loads a directory and keeps going past bad files.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from airflow_provider_importio.workbench.alarms import Alarm, AlarmGroup, Subscription
from airflow_provider_importio.workbench.checks import resolve_checks
from airflow_provider_importio.workbench.config_errors import ConfigError
from airflow_provider_importio.workbench.config_model import (
    DEFAULT_FILENAME_TEMPLATE,
    DEFAULT_INPUT_CONNECTION,
    DEFAULT_PATH_TEMPLATE,
    DEFAULT_TABLE_TEMPLATE,
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
from airflow_provider_importio.workbench.config_rules import semantic_issues
from airflow_provider_importio.workbench.config_structure import secret_issues, structural_issues
from airflow_provider_importio.workbench.config_yaml import YamlProblem, parse_yaml

PROJECT_FILE_SUFFIXES = (".yaml", ".yml")


def load_project_text(text: str, name: str = "<text>") -> Project:
    """The project in ``text``; ``name`` (usually the file path) prefixes every error message."""
    try:
        parsed = parse_yaml(text)
    except YamlProblem as exc:
        raise ConfigError(name, [("", exc.message)], {"": exc.line} if exc.line else None) from None
    data = parsed.data
    if not isinstance(data, dict):
        kind = type(data).__name__
        raise ConfigError(name, [("", f"the file must hold a mapping with a 'project' key, not a {kind}")])
    issues = parsed.problems + secret_issues(data) + structural_issues(data) + semantic_issues(data)
    if issues:
        raise ConfigError(name, _ordered(issues, parsed.lines), parsed.lines)
    return _build(data, name)


def load_project(path: str | os.PathLike[str]) -> Project:
    """The project in the YAML file at ``path``; raises :class:`ConfigError` (also for an unreadable file)."""
    name = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(name, [("", f"cannot read the file: {exc}")]) from None
    return load_project_text(text, name)


def load_projects(directory: str | os.PathLike[str]) -> tuple[list[Project], dict[Path, ConfigError]]:
    """Every ``*.yaml``/``*.yml`` project directly in ``directory`` (sorted by name), and the errors of bad files.

    A project slug already used by an earlier file (in name order) makes the later file an error.
    """
    projects: list[Project] = []
    errors: dict[Path, ConfigError] = {}
    owners: dict[str, Path] = {}
    files = sorted(p for p in Path(directory).iterdir() if p.suffix.lower() in PROJECT_FILE_SUFFIXES and p.is_file())
    for path in files:
        try:
            project = load_project(path)
        except ConfigError as exc:
            errors[path] = exc
            continue
        if project.slug in owners:
            message = f"project slug {project.slug!r} is already used by {owners[project.slug]}"
            errors[path] = ConfigError(str(path), [("project.slug", message)])
            continue
        owners[project.slug] = path
        projects.append(project)
    return projects, errors


def _ordered(issues: list[tuple[str, str]], lines: dict[str, int]) -> list[tuple[str, str]]:
    """Issues without duplicates, in file order (by line, then path)."""
    probe = ConfigError("", [], lines)
    unique = list(dict.fromkeys(issues))
    return sorted(unique, key=lambda issue: (probe.line_of(issue[0]) or 0, issue[0]))


def _build(data: dict[str, Any], name: str) -> Project:
    project = data["project"]
    raw_schemas = {s["slug"]: s for s in data.get("schemas", [])}
    schemas = tuple(_schema(raw, raw_schemas) for raw in data.get("schemas", []))
    return Project(
        slug=project["slug"],
        name=project["name"],
        readme=project.get("readme", ""),
        schemas=schemas,
        destinations=tuple(_destination(d) for d in data.get("destinations", [])),
        collections=tuple(_collection(c) for c in data.get("collections", [])),
        flows=tuple(_flow(f) for f in data.get("flows", [])),
        path=name,
        alarms=tuple(_alarm(a) for a in data.get("alarms", [])),
        alarm_groups=tuple(_alarm_group(g) for g in data.get("alarmGroups", [])),
    )


def _alarm(raw: dict[str, Any]) -> Alarm:
    return Alarm(name=raw["name"], metric=raw["metric"], op=raw["op"], threshold=float(raw["threshold"]),
                 collection=raw.get("collection"), flow=raw.get("flow"), description=raw.get("description", ""))


def _alarm_group(raw: dict[str, Any]) -> AlarmGroup:
    return AlarmGroup(
        slug=raw["slug"], name=raw["name"], alarms=tuple(raw["alarms"]),
        subscriptions=tuple(Subscription(type=s["type"], connection=s["connection"])
                            for s in raw.get("subscriptions", [])),
    )


def _fields(raw: dict[str, Any], raw_schemas: dict[str, dict[str, Any]]) -> tuple[Field, ...]:
    while not raw.get("fields") and raw.get("forkedFrom"):
        raw = raw_schemas[raw["forkedFrom"]]  # the checks ruled out cycles and dangling forks
    return tuple(_field(f) for f in raw.get("fields", []))


def _field(raw: dict[str, Any]) -> Field:
    rules = raw.get("rules", {})
    return Field(
        name=raw["name"],
        type=raw["type"],
        required=raw.get("required", False),
        rules=FieldRules(
            pattern=rules.get("pattern"),
            minimum=rules.get("minimum"),
            maximum=rules.get("maximum"),
            min_length=rules.get("minLength"),
            max_length=rules.get("maxLength"),
            enum=tuple(rules["enum"]) if "enum" in rules else None,
        ),
    )


def _schema(raw: dict[str, Any], raw_schemas: dict[str, dict[str, Any]]) -> Schema:
    return Schema(
        slug=raw["slug"],
        name=raw["name"],
        fields=_fields(raw, raw_schemas),
        version=raw.get("version", 1),
        status=raw.get("status", "DRAFT"),
        forked_from=raw.get("forkedFrom"),
    )


def _destination(raw: dict[str, Any]) -> Destination:
    stitch = raw["type"] == "STITCH"
    return Destination(
        slug=raw["slug"],
        name=raw["name"],
        type=raw["type"],
        connection=raw["connection"],
        format=raw.get("format", "JSON"),
        bucket=raw.get("bucket"),
        directory=raw.get("directory"),
        path_template=None if stitch else raw.get("pathTemplate", DEFAULT_PATH_TEMPLATE),
        filename_template=None if stitch else raw.get("filenameTemplate", DEFAULT_FILENAME_TEMPLATE),
        active=raw.get("active", False),
        table=raw.get("table", DEFAULT_TABLE_TEMPLATE) if stitch else None,
        key_fields=tuple(raw.get("keyFields", ())),
    )


def _collection(raw: dict[str, Any]) -> Collection:
    return Collection(
        slug=raw["slug"],
        name=raw["name"],
        schema=raw["schema"],
        locale=raw["parameters"]["locale"],
        domain=raw["parameters"]["domain"],
        sources=tuple(
            Source(slug=s["slug"], name=s["name"], extractor_id=s["extractorId"], state=s.get("state", "INACTIVE"))
            for s in raw.get("sources", [])
        ),
        destinations=tuple(raw.get("destinations", ())),
        checks=resolve_checks(raw.get("checks", ())),
        data_store=raw.get("dataStore", False),
        blank_row_for_no_data=raw.get("blankRowForNoData", False),
    )


def _flow(raw: dict[str, Any]) -> Flow:
    d = raw["definition"]
    return Flow(
        slug=raw["slug"],
        name=raw["name"],
        cron=raw["cron"].strip(),
        data_hours=raw["dataHours"],
        push_hours=raw["pushHours"],
        close_hours=raw["closeHours"],
        active=raw.get("active", False),
        type=raw.get("type", "SIMPLE"),
        definition=FlowDefinition(
            collection_id=d["collectionId"],
            input_uri_template=d.get("inputUriTemplate"),
            chunks=d.get("chunks"),
            chunk_collect_hours=d.get("chunkCollectHours"),
            input_connection=d.get("inputConnection", DEFAULT_INPUT_CONNECTION),
            input_bucket=d.get("inputBucket"),
        ),
    )
