"""The Workbench configuration model: frozen dataclasses, one project per YAML file.

Attributes are snake_case; the YAML keys are Workbench's camelCase (``dataHours`` → ``data_hours``).
Build these with :func:`~airflow_provider_importio.workbench.config_loader.load_project`, which validates
everything; constructing them by hand skips those checks.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from airflow_provider_importio.workbench import templates
from airflow_provider_importio.workbench.alarms import Alarm, AlarmGroup

SLUG_PATTERN = r"^[a-z][a-z0-9_-]{0,63}$"
SLUG_RE = re.compile(SLUG_PATTERN)

#: Field types: STRING (short text), TEXT (long text), NUMBER, INTEGER, BOOLEAN, URL (absolute http(s)),
#: IMAGE (URL of an image), DATE (``YYYY-MM-DD``), DATETIME (ISO 8601 ``YYYY-MM-DDTHH:MM[:SS[.f]][Z|±HH:MM]``).
FIELD_TYPES = ("STRING", "TEXT", "NUMBER", "INTEGER", "BOOLEAN", "URL", "IMAGE", "DATE", "DATETIME")
STRING_TYPES = frozenset({"STRING", "TEXT", "URL", "IMAGE", "DATE", "DATETIME"})
NUMERIC_TYPES = frozenset({"NUMBER", "INTEGER"})
SCHEMA_STATUSES = ("DRAFT", "PRODUCTION")
DESTINATION_TYPES = ("S3", "SFTP", "STITCH")
DESTINATION_FORMATS = ("JSON", "NDJSON", "CSV", "XLSX")
SOURCE_STATES = ("ACTIVE", "INACTIVE")
FLOW_TYPES = ("SIMPLE",)
#: QA check kinds: ``absolute`` compares with a fixed limit, ``relative`` with the source's baseline.
CHECK_KINDS = ("absolute", "relative")
#: Comparisons of an absolute check: the value must be ``<op> limit`` to pass.
CHECK_OPS = ("<", "<=", ">", ">=")

DEFAULT_PATH_TEMPLATE = "{project}/{collection}/:YYYY/:MM/:DD"
DEFAULT_FILENAME_TEMPLATE = "{flow}_{source}_{snapshot}.{ext}"
DEFAULT_TABLE_TEMPLATE = "{collection}"
DEFAULT_INPUT_CONNECTION = "aws_default"


def check_slug(slug: str) -> str:
    """``slug`` if well formed, else :class:`ValueError`."""
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise ValueError(
            f"{slug!r} is not a well-formed slug: lowercase letters, digits, '-' or '_', "
            "starting with a letter, at most 64 characters"
        )
    return slug


@dataclass(frozen=True)
class FieldRules:
    """A field's validation rules; each set one becomes a rule named ``<field>.<rule>``."""

    pattern: str | None = None
    minimum: float | None = None
    maximum: float | None = None
    min_length: int | None = None
    max_length: int | None = None
    enum: tuple[Any, ...] | None = None

    #: rule name suffix → attribute, in the order rules are listed.
    KEYS = (("pattern", "pattern"), ("minimum", "minimum"), ("maximum", "maximum"),
            ("minLength", "min_length"), ("maxLength", "max_length"), ("enum", "enum"))

    def __post_init__(self) -> None:
        if self.enum is not None and not isinstance(self.enum, tuple):
            object.__setattr__(self, "enum", tuple(self.enum))  # keep the rules hashable

    def items(self) -> list[tuple[str, Any]]:
        """``(camelCase rule, value)`` for each rule that is set."""
        return [(key, getattr(self, attr)) for key, attr in self.KEYS if getattr(self, attr) is not None]


@dataclass(frozen=True)
class Field:
    """One output column: name, type, whether it is required (present and not null), rules."""

    name: str
    type: str = "STRING"
    required: bool = False
    rules: FieldRules = field(default_factory=FieldRules)

    @property
    def rule_names(self) -> list[str]:
        """``name.type``, ``name.required`` (if required) and ``name.<rule>`` for each rule set."""
        names = [f"{self.name}.type"]
        if self.required:
            names.append(f"{self.name}.required")
        names.extend(f"{self.name}.{key}" for key, _ in self.rules.items())
        return names


@dataclass(frozen=True)
class Schema:
    """The output shape of a collection. A fork (``forked_from``) holds its parent's fields unless it lists its own."""

    slug: str
    name: str
    fields: tuple[Field, ...] = ()
    version: int = 1
    status: str = "DRAFT"
    forked_from: str | None = None

    @property
    def field_names(self) -> list[str]:
        """Field names in order (the CSV column order)."""
        return [f.name for f in self.fields]

    @property
    def rule_names(self) -> list[str]:
        """Every validation rule name of the schema, field by field."""
        return [name for f in self.fields for name in f.rule_names]

    def field(self, name: str) -> Field:
        """The field called ``name`` (:class:`KeyError` if none)."""
        for candidate in self.fields:
            if candidate.name == name:
                return candidate
        raise KeyError(f"schema {self.slug!r} has no field {name!r}")

    def fork(self, new_slug: str, status: str = "PRODUCTION", *, name: str | None = None) -> Schema:
        """A new schema (version 1) with this one's fields, ``forked_from`` this one: draft → production."""
        check_slug(new_slug)
        if new_slug == self.slug:
            raise ValueError("a fork needs a slug of its own")
        if status not in SCHEMA_STATUSES:
            raise ValueError(f"status must be one of {', '.join(SCHEMA_STATUSES)}, not {status!r}")
        return replace(self, slug=new_slug, name=name or self.name, version=1, status=status, forked_from=self.slug)

    def to_json_schema(self) -> dict[str, Any]:
        """A Draft 2020-12 JSON Schema validating one output row (extra keys such as ``_url`` allowed)."""
        from airflow_provider_importio.workbench.row_schema import build_row_schema

        return build_row_schema(self)


@dataclass(frozen=True)
class Destination:
    """Where a collection's data is pushed. Credentials live in the Airflow connection ``connection``."""

    slug: str
    name: str
    type: str
    connection: str
    format: str = "JSON"
    bucket: str | None = None
    directory: str | None = None
    path_template: str | None = None
    filename_template: str | None = None
    active: bool = False
    table: str | None = None
    key_fields: tuple[str, ...] = ()

    @property
    def extension(self) -> str:
        """The file extension of the format (``json``, ``ndjson``, ``csv``, ``xlsx``)."""
        return self.format.lower()

    def object_path(self, variables: Mapping[str, Any]) -> str:
        """The S3 key (under the bucket) or SFTP path (under ``directory``) for one file; never leaves the base.

        ``format`` and ``ext`` are filled in from the destination; the other destination variables must be given.
        """
        if self.type == "STITCH":
            raise ValueError("a STITCH destination has a table, not a path")
        values = {**variables, "format": self.format, "ext": self.extension}
        rendered = templates.render(self.path_template or "", values)
        filename = templates.render(self.filename_template or DEFAULT_FILENAME_TEMPLATE, values)
        if "/" in filename or not filename:
            raise ValueError(f"filename {filename!r} must be one non-empty path segment")
        relative = f"{rendered.strip('/')}/{filename}" if rendered.strip("/") else filename
        return templates.safe_join(self.directory or "", relative)

    def table_name(self, variables: Mapping[str, Any]) -> str:
        """The Stitch table for one push (``table`` rendered, default ``{collection}``)."""
        if self.type != "STITCH":
            raise ValueError(f"a {self.type} destination has no table")
        values = {**variables, "format": self.format, "ext": self.extension}
        return templates.render(self.table or DEFAULT_TABLE_TEMPLATE, values)


@dataclass(frozen=True)
class Source:
    """An extractor feeding a collection; only ACTIVE sources push."""

    slug: str
    name: str
    extractor_id: str
    state: str = "INACTIVE"

    @property
    def active(self) -> bool:
        return self.state == "ACTIVE"


@dataclass(frozen=True)
class Check:
    """One QA check of a collection (see ``docs/checks.md``).

    ``absolute``: passes when ``value <op> limit``. ``relative``: passes when
    ``|value - baseline| <= tolerance% of |baseline|``. ``statistic`` is a statistic name,
    ``validation_errors.<rule>``, or ``validation_errors.*`` (one check per rule, expanded by
    :func:`~airflow_provider_importio.workbench.checks.effective_checks`). ``escalate``: a failure moves
    the snapshot to ESCALATED rather than PENDING_QA. ``enabled: false`` switches a default check off.
    """

    statistic: str
    kind: str
    op: str | None = None
    limit: float | None = None
    tolerance: float | None = None
    escalate: bool = False
    enabled: bool = True

    def __post_init__(self) -> None:
        if self.kind not in CHECK_KINDS:
            raise ValueError(f"kind must be one of {', '.join(CHECK_KINDS)}, not {self.kind!r}")
        if self.kind == "absolute" and (self.op not in CHECK_OPS or self.limit is None):
            raise ValueError(f"an absolute check needs op ({' '.join(CHECK_OPS)}) and limit: {self.statistic}")
        if self.kind == "relative" and (self.tolerance is None or self.tolerance < 0):
            raise ValueError(f"a relative check needs a tolerance (percent, >= 0): {self.statistic}")

    @property
    def is_family(self) -> bool:
        """Whether this is the ``validation_errors.*`` family (one check per validation rule)."""
        return self.statistic.endswith(".*")


@dataclass(frozen=True)
class Collection:
    """Sources sharing a schema, parameters, linked destinations and QA checks."""

    slug: str
    name: str
    schema: str
    locale: str
    domain: str
    sources: tuple[Source, ...] = ()
    destinations: tuple[str, ...] = ()
    #: The checks the file lists (defaults merged in per statistic); none listed → the guide's defaults
    #: apply (:func:`~airflow_provider_importio.workbench.checks.effective_checks`).
    checks: tuple[Check, ...] = ()
    data_store: bool = False
    blank_row_for_no_data: bool = False

    @property
    def parameters(self) -> dict[str, str]:
        """The Workbench parameters (case-sensitive keys ``locale`` and ``domain``)."""
        return {"locale": self.locale, "domain": self.domain}

    def source(self, slug: str) -> Source:
        for candidate in self.sources:
            if candidate.slug == slug:
                return candidate
        raise KeyError(f"collection {self.slug!r} has no source {slug!r}")


@dataclass(frozen=True)
class FlowDefinition:
    """What a flow runs: the collection and, optionally, S3 inputs split into chunks."""

    collection_id: str
    input_uri_template: str | None = None
    chunks: int | None = None
    chunk_collect_hours: float | None = None
    input_connection: str = DEFAULT_INPUT_CONNECTION
    input_bucket: str | None = None

    @property
    def chunk_count(self) -> int:
        """Chunks per delivery: ``chunks`` with an input template, else 1."""
        return (self.chunks or 1) if self.input_uri_template else 1


@dataclass(frozen=True)
class Flow:
    """A schedule (``cron``, UTC) and the delivery deadlines, in hours after a delivery starts."""

    slug: str
    name: str
    cron: str
    data_hours: float
    push_hours: float
    close_hours: float
    definition: FlowDefinition
    active: bool = False
    type: str = "SIMPLE"

    @property
    def chunk_hours(self) -> float:
        """Each chunk's collect window: ``chunkCollectHours`` with an input template, else ``dataHours``."""
        if self.definition.input_uri_template and self.definition.chunk_collect_hours is not None:
            return self.definition.chunk_collect_hours
        return self.data_hours


@dataclass(frozen=True)
class Project:
    """One project file: the project itself (slug — immutable in Workbench —, name, readme) and its entities."""

    slug: str
    name: str
    readme: str = ""
    schemas: tuple[Schema, ...] = ()
    destinations: tuple[Destination, ...] = ()
    collections: tuple[Collection, ...] = ()
    flows: tuple[Flow, ...] = ()
    path: str = ""
    #: Alarms and the groups that notify subscriptions (``docs/alarms.md``).
    alarms: tuple[Alarm, ...] = ()
    alarm_groups: tuple[AlarmGroup, ...] = ()

    def schema(self, slug: str) -> Schema:
        return _find(self.schemas, slug, "schema")

    def destination(self, slug: str) -> Destination:
        return _find(self.destinations, slug, "destination")

    def collection(self, slug: str) -> Collection:
        return _find(self.collections, slug, "collection")

    def flow(self, slug: str) -> Flow:
        return _find(self.flows, slug, "flow")

    def alarm(self, name: str) -> Alarm:
        for candidate in self.alarms:
            if candidate.name == name:
                return candidate
        raise KeyError(f"no alarm {name!r}")

    def alarm_group(self, slug: str) -> AlarmGroup:
        return _find(self.alarm_groups, slug, "alarm group")

    def collection_schema(self, collection: Collection | str) -> Schema:
        """The (fork-resolved) schema of a collection."""
        coll = self.collection(collection) if isinstance(collection, str) else collection
        return self.schema(coll.schema)

    def collection_destinations(self, collection: Collection | str) -> list[Destination]:
        """The destinations linked to a collection, in link order."""
        coll = self.collection(collection) if isinstance(collection, str) else collection
        return [self.destination(slug) for slug in coll.destinations]

    def flow_collection(self, flow: Flow | str) -> Collection:
        """The collection a flow runs."""
        target = self.flow(flow) if isinstance(flow, str) else flow
        return self.collection(target.definition.collection_id)


def _find(items: tuple[Any, ...], slug: str, kind: str) -> Any:
    for item in items:
        if item.slug == slug:
            return item
    raise KeyError(f"no {kind} {slug!r}")
