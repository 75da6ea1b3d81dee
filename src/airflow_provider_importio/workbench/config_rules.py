"""The cross-entity rules of a project file: uniqueness, references, field rules, destinations, flows.

Every check returns ``(path, message)`` pairs and reads the raw document defensively (after the
structural checks of :mod:`.config_structure`), so one broken entity never hides another's problems.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from croniter import croniter

from airflow_provider_importio.workbench import checks as qa_checks
from airflow_provider_importio.workbench import templates
from airflow_provider_importio.workbench.config_model import CHECK_KINDS, NUMERIC_TYPES, STRING_TYPES, FieldRules
from airflow_provider_importio.workbench.row_schema import ROW_TYPE_RULE
from airflow_provider_importio.workbench.config_structure import Issue, short_repr

CRON_PRESETS = frozenset({"@hourly", "@daily", "@midnight", "@weekly", "@monthly", "@yearly", "@annually"})
_SAMPLE = {name: "x" for name in templates.DESTINATION_VARIABLES} | {"chunk": "0", "ext": "json", "format": "JSON"}


def _entries(container: Any, key: str) -> Iterator[tuple[int, dict[str, Any]]]:
    value = container.get(key) if isinstance(container, dict) else None
    if isinstance(value, list):
        for index, item in enumerate(value):
            if isinstance(item, dict):
                yield index, item


def _str(mapping: dict[str, Any], key: str) -> str | None:
    value = mapping.get(key)
    return value if isinstance(value, str) else None


def _num(mapping: dict[str, Any], key: str) -> float | None:
    value = mapping.get(key)
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _unique(kind: str, items: list[tuple[str, str | None]]) -> tuple[list[Issue], dict[str, str]]:
    """Duplicate-slug issues and ``slug → path`` of the first of each."""
    issues: list[Issue] = []
    first: dict[str, str] = {}
    for path, slug in items:
        if slug is None:
            continue
        if slug in first:
            issues.append((path, f"duplicate {kind} slug {slug!r} (first at {first[slug]}); slugs must be unique"))
        else:
            first[slug] = path
    return issues, first


def _unknown_ref(kind: str, slug: str, defined: dict[str, str]) -> str:
    names = ", ".join(sorted(defined)) or "none"
    return f"unknown {kind} {slug!r}; {kind}s defined in this file: {names}"


def semantic_issues(data: Any) -> list[Issue]:
    """Uniqueness, references, field rules, destination types, templates, hours and cron."""
    issues: list[Issue] = []
    slugs: dict[str, dict[str, str]] = {}
    for kind, key in (("schema", "schemas"), ("destination", "destinations"),
                      ("collection", "collections"), ("flow", "flows")):
        found, first = _unique(kind, [(f"{key}[{i}].slug", _str(e, "slug")) for i, e in _entries(data, key)])
        issues += found
        slugs[kind] = first
    fields = _schema_fields(data, slugs["schema"], issues)
    destinations = {_str(d, "slug"): d for _, d in _entries(data, "destinations") if _str(d, "slug")}
    for index, dest in _entries(data, "destinations"):
        issues += _destination_issues(f"destinations[{index}]", dest)
    rule_names = _schema_rule_names(data)
    for index, coll in _entries(data, "collections"):
        issues += _collection_issues(f"collections[{index}]", coll, slugs, fields, destinations)
        schema = _str(coll, "schema")
        issues += _check_issues(f"collections[{index}]", coll, rule_names.get(schema) if schema else None)
    for index, flow in _entries(data, "flows"):
        issues += _flow_issues(f"flows[{index}]", flow, slugs["collection"])
    issues += _alarm_issues(data, slugs)
    return issues


def _alarm_issues(data: Any, slugs: dict[str, dict[str, str]]) -> list[Issue]:
    """Alarms: unique names, known metrics, scopes that exist; groups: unique slugs, known alarms."""
    from airflow_provider_importio.workbench.alarm_metrics import METRIC_NAMES, PERCENT_METRICS

    project = data.get("project", {}).get("slug") if isinstance(data.get("project"), dict) else None
    issues, names = _unique("alarm", [(f"alarms[{i}].name", _str(a, "name")) for i, a in _entries(data, "alarms")])
    flow_collections = {_str(f, "slug"): _str(f.get("definition") or {}, "collectionId")
                        for _, f in _entries(data, "flows") if isinstance(f.get("definition"), dict)}
    for index, alarm in _entries(data, "alarms"):
        at = f"alarms[{index}]"
        metric = _str(alarm, "metric")
        if metric is not None and metric not in METRIC_NAMES:
            close = difflib.get_close_matches(metric, METRIC_NAMES, n=1, cutoff=0.6)
            hint = f"did you mean {close[0]!r}? " if close else ""
            issues.append((f"{at}.metric", f"unknown metric {metric!r}; {hint}metrics: {', '.join(METRIC_NAMES)}"))
        threshold = _num(alarm, "threshold")
        if metric in PERCENT_METRICS and threshold is not None and not 0 <= threshold <= 100:
            issues.append((f"{at}.threshold", f"{metric} is a percentage: the threshold must be 0 to 100"))
        scope_project = _str(alarm, "project")
        if scope_project is not None and project is not None and scope_project != project:
            issues.append((f"{at}.project", f"alarms watch this file's project {project!r}, not {scope_project!r}"))
        collection, flow = _str(alarm, "collection"), _str(alarm, "flow")
        if collection is not None and collection not in slugs["collection"]:
            issues.append((f"{at}.collection", _unknown_ref("collection", collection, slugs["collection"])))
        if flow is not None and flow not in slugs["flow"]:
            issues.append((f"{at}.flow", _unknown_ref("flow", flow, slugs["flow"])))
        elif flow is not None and collection is not None and flow_collections.get(flow) not in (None, collection):
            issues.append((f"{at}.flow", f"flow {flow!r} runs collection {flow_collections[flow]!r}, not "
                                         f"{collection!r}: the alarm would never see a snapshot"))
    found, _ = _unique("alarm group", [(f"alarmGroups[{i}].slug", _str(g, "slug"))
                                       for i, g in _entries(data, "alarmGroups")])
    issues += found
    for index, group in _entries(data, "alarmGroups"):
        at = f"alarmGroups[{index}]"
        listed = group.get("alarms")
        seen: set[str] = set()
        for a_index, name in enumerate(listed if isinstance(listed, list) else []):
            if not isinstance(name, str):
                continue
            if name in seen:
                issues.append((f"{at}.alarms[{a_index}]", f"alarm {name!r} is listed twice"))
            elif name not in names:
                close = difflib.get_close_matches(name, list(names), n=1, cutoff=0.6)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                issues.append((f"{at}.alarms[{a_index}]", _unknown_ref("alarm", name, names) + hint))
            seen.add(name)
        connections: set[str] = set()
        for s_index, subscription in _entries(group, "subscriptions"):
            connection = _str(subscription, "connection")
            if connection is not None and connection in connections:
                issues.append((f"{at}.subscriptions[{s_index}].connection",
                               f"connection {connection!r} is subscribed twice"))
            elif connection is not None:
                connections.add(connection)
    return issues


def _schema_fields(data: Any, defined: dict[str, str], issues: list[Issue]) -> dict[str, list[str] | None]:
    """Check schemas and fields; return each schema's field names with forks resolved (``None`` if unknown)."""
    own: dict[str, list[str]] = {}
    parent: dict[str, str] = {}
    for index, schema in _entries(data, "schemas"):
        at = f"schemas[{index}]"
        slug = _str(schema, "slug")
        names: list[str] = []
        for f_index, fld in _entries(schema, "fields"):
            name = _str(fld, "name")
            if name is not None and name in names:
                issues.append((f"{at}.fields[{f_index}].name", f"duplicate field name {name!r} in this schema"))
            elif name is not None:
                names.append(name)
            issues += _field_rule_issues(f"{at}.fields[{f_index}]", fld)
        fork = _str(schema, "forkedFrom")
        if fork is not None:
            if fork == slug:
                issues.append((f"{at}.forkedFrom", "a schema cannot be forked from itself"))
            elif fork not in defined:
                issues.append((f"{at}.forkedFrom", _unknown_ref("schema", fork, defined)))
            elif slug:
                parent[slug] = fork
        elif not schema.get("fields"):
            issues.append((f"{at}.fields", "a schema needs at least one field (or forkedFrom, to inherit them)"))
        if slug and slug not in own:
            own[slug] = names if schema.get("fields") else []
    resolved: dict[str, list[str] | None] = {}
    for slug in own:
        chain, current = [slug], slug
        while not own[current] and current in parent:
            current = parent[current]
            if current in chain:
                at = defined.get(slug, "schemas")
                cycle = " → ".join([*chain, current])
                issues.append((f"{at.rsplit('.', 1)[0]}.forkedFrom", f"forkedFrom cycle: {cycle}"))
                current = ""
                break
            chain.append(current)
        resolved[slug] = own.get(current) or None
    return resolved


def _field_rule_issues(at: str, fld: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    rules = fld.get("rules")
    ftype = _str(fld, "type")
    if not isinstance(rules, dict) or ftype is None:
        return issues
    for key in ("pattern", "minLength", "maxLength"):
        if key in rules and ftype not in STRING_TYPES:
            kinds = ", ".join(sorted(STRING_TYPES))
            issues.append((f"{at}.rules.{key}", f"{key} applies to text fields ({kinds}), not {ftype}"))
    for key in ("minimum", "maximum"):
        if key in rules and ftype not in NUMERIC_TYPES:
            issues.append((f"{at}.rules.{key}", f"{key} applies to NUMBER and INTEGER fields, not {ftype}"))
    pattern = rules.get("pattern")
    if isinstance(pattern, str):
        try:
            re.compile(pattern)
        except re.error as exc:
            issues.append((f"{at}.rules.pattern", f"{pattern!r} is not a valid regular expression ({exc})"))
    for low, high in (("minimum", "maximum"), ("minLength", "maxLength")):
        a, b = _num(rules, low), _num(rules, high)
        if a is not None and b is not None and a > b:
            issues.append((f"{at}.rules.{high}", f"{high} ({b}) is less than {low} ({a})"))
    enum = rules.get("enum")
    if isinstance(enum, list):
        expected = ((int, float) if ftype in NUMERIC_TYPES else bool if ftype == "BOOLEAN" else str)
        for e_index, value in enumerate(enum):
            if not isinstance(value, expected) or (ftype in NUMERIC_TYPES and isinstance(value, bool)):
                issues.append((f"{at}.rules.enum[{e_index}]", f"{short_repr(value)} is not a valid {ftype} value"))
    return issues


def check_template_at(at: str, text: Any, kind: str) -> list[Issue]:
    """Template problems as issues (nothing for a non-string; the schema reports that)."""
    if not isinstance(text, str):
        return []
    return [(at, f"template {text!r}: {problem}") for problem in templates.check_template(text, kind)]


def _destination_issues(at: str, dest: dict[str, Any]) -> list[Issue]:
    issues: list[Issue] = []
    dtype = _str(dest, "type")
    allowed = {"S3": {"bucket", "pathTemplate", "filenameTemplate"},
               "SFTP": {"directory", "pathTemplate", "filenameTemplate"},
               "STITCH": {"table", "keyFields"}}.get(dtype or "", set())
    if dtype is None or dtype not in {"S3", "SFTP", "STITCH"}:
        return issues
    for key in ("bucket", "directory", "pathTemplate", "filenameTemplate", "table", "keyFields"):
        if key in dest and key not in allowed:
            issues.append((f"{at}.{key}", f"{key} does not apply to {dtype} destinations"))
    required = {"S3": "bucket", "SFTP": "directory", "STITCH": "keyFields"}[dtype]
    if not dest.get(required):
        issues.append((f"{at}.{required}", f"{required} is required (and non-empty) for {dtype} destinations"))
    if dtype == "STITCH":
        if dest.get("format") == "XLSX":
            issues.append((f"{at}.format", "XLSX is not a format for STITCH destinations"))
        keys = dest.get("keyFields")
        if isinstance(keys, list) and len(set(map(str, keys))) != len(keys):
            issues.append((f"{at}.keyFields", "keyFields lists a field twice"))
        issues += check_template_at(f"{at}.table", dest.get("table"), "destination")
        return issues
    directory = _str(dest, "directory")
    directory_ok = True
    if directory is not None:
        try:
            templates.safe_join(directory, "x")
        except ValueError as exc:
            issues.append((f"{at}.directory", str(exc)))
            directory_ok = False  # reported once, not again for the templates joined under it
    found = []
    for key in ("pathTemplate", "filenameTemplate"):
        found += check_template_at(f"{at}.{key}", dest.get(key), "destination")
    issues += found
    path_t, file_t = _str(dest, "pathTemplate"), _str(dest, "filenameTemplate")
    if path_t is not None and path_t.startswith("/"):
        issues.append((f"{at}.pathTemplate", "must be relative: it is joined under the bucket or directory"))
    elif file_t is not None and "/" in file_t:
        issues.append((f"{at}.filenameTemplate", "must not contain '/': put directories in pathTemplate"))
    elif not found and directory_ok:
        try:
            rendered = templates.render(path_t or "", _SAMPLE).strip("/")
            name = templates.render(file_t or "{source}", _SAMPLE)
            templates.safe_join(directory or "", f"{rendered}/{name}" if rendered else name)
        except ValueError as exc:
            issues.append((f"{at}.{'pathTemplate' if path_t else 'filenameTemplate'}",
                           f"{exc} (the templates rendered with every variable as 'x')"))
    return issues


def _collection_issues(
    at: str,
    coll: dict[str, Any],
    slugs: dict[str, dict[str, str]],
    fields: dict[str, list[str] | None],
    destinations: dict[str | None, dict[str, Any]],
) -> list[Issue]:
    issues, _ = _unique("source", [(f"{at}.sources[{i}].slug", _str(s, "slug")) for i, s in _entries(coll, "sources")])
    schema = _str(coll, "schema")
    if schema is not None and schema not in slugs["schema"]:
        issues.append((f"{at}.schema", _unknown_ref("schema", schema, slugs["schema"])))
    links = coll.get("destinations")
    seen: set[str] = set()
    for d_index, slug in enumerate(links if isinstance(links, list) else []):
        if not isinstance(slug, str):
            continue
        where = f"{at}.destinations[{d_index}]"
        if slug in seen:
            issues.append((where, f"destination {slug!r} is linked twice"))
            continue
        seen.add(slug)
        if slug not in slugs["destination"]:
            issues.append((where, _unknown_ref("destination", slug, slugs["destination"])))
            continue
        dest = destinations.get(slug, {})
        names = fields.get(schema) if schema else None
        keys = dest.get("keyFields")
        if dest.get("type") == "STITCH" and names is not None and isinstance(keys, list):
            missing = [k for k in keys if k not in names]
            if missing:
                issues.append((where, f"STITCH destination {slug!r} has keyFields {missing} that are not fields of "
                                      f"schema {schema!r} (fields: {', '.join(names)})"))
    return issues


def _schema_rule_names(data: Any) -> dict[str, list[str] | None]:
    """Each schema's validation rule names (``price.minimum``, forks resolved; ``None`` when unknown)."""
    own: dict[str, list[dict[str, Any]]] = {}
    parent: dict[str, str] = {}
    for _, schema in _entries(data, "schemas"):
        slug = _str(schema, "slug")
        if slug and slug not in own:
            own[slug] = [f for _, f in _entries(schema, "fields")]
            fork = _str(schema, "forkedFrom")
            if fork:
                parent[slug] = fork
    resolved: dict[str, list[str] | None] = {}
    for slug in own:
        current, seen = slug, {slug}
        while not own.get(current) and current in parent and parent[current] not in seen:
            current = parent[current]
            seen.add(current)
        fields = own.get(current)
        resolved[slug] = [name for fld in fields for name in _field_rule_names(fld)] if fields else None
    return resolved


def _field_rule_names(fld: dict[str, Any]) -> list[str]:
    name = _str(fld, "name")
    if name is None:
        return []
    names = [f"{name}.type"] + ([f"{name}.required"] if fld.get("required") is True else [])
    rules = fld.get("rules")
    if isinstance(rules, dict):
        names += [f"{name}.{key}" for key, _ in FieldRules.KEYS if key in rules]
    return names


def _check_issues(at: str, coll: dict[str, Any], rule_names: list[str] | None) -> list[Issue]:
    """A collection's QA checks: known statistics, real rules, no repeats, settings that fit the kind."""
    issues: list[Issue] = []
    seen: dict[str, str] = {}
    entries = list(_entries(coll, "checks"))
    family_entry = next((e for _, e in entries if e.get("statistic") == qa_checks.VALIDATION_FAMILY), None)
    family = None
    if family_entry is not None and not _setting_issues("", family_entry, qa_checks.inherited_from(
            qa_checks.VALIDATION_FAMILY)):
        family = qa_checks.Check(**qa_checks.merge_entry(family_entry, qa_checks.inherited_from(
            qa_checks.VALIDATION_FAMILY)))
    for c_index, entry in entries:
        c_at = f"{at}.checks[{c_index}]"
        statistic = _str(entry, "statistic")
        if statistic is None:
            continue
        problem = _statistic_problem(statistic, rule_names, _str(coll, "schema"))
        if problem:
            issues.append((f"{c_at}.statistic", problem))
            continue
        if statistic in seen:
            issues.append((f"{c_at}.statistic", f"duplicate check of {statistic!r} (first at {seen[statistic]}); "
                                                "list each statistic once"))
            continue
        seen[statistic] = f"{c_at}"
        issues += _setting_issues(c_at, entry, qa_checks.inherited_from(statistic, family))
    return issues


def _statistic_problem(statistic: str, rule_names: list[str] | None, schema: str | None) -> str | None:
    family, prefix = qa_checks.VALIDATION_FAMILY, qa_checks.VALIDATION_PREFIX
    if statistic in qa_checks.STATISTICS or statistic == family:
        return None
    if statistic.rstrip(".") == prefix.rstrip("."):
        return f"name a rule: {prefix}<rule> (e.g. {prefix}price.minimum) or {family} for every rule"
    if statistic.startswith(prefix):
        rule = statistic[len(prefix):]
        if rule_names is None or rule in rule_names or rule == ROW_TYPE_RULE:
            return None  # an unknown schema is reported at .schema
        close = difflib.get_close_matches(rule, rule_names, n=1, cutoff=0.6)
        hint = f"; did you mean {prefix}{close[0]}?" if close else f"; its rules: {', '.join(rule_names)}"
        return f"{rule!r} is not a validation rule of schema {schema!r}{hint}"
    known = [*qa_checks.STATISTICS, family]
    close = difflib.get_close_matches(statistic, known, n=1, cutoff=0.6)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return (f"unknown statistic {statistic!r}; {hint}statistics: {', '.join(qa_checks.STATISTICS)}, "
            f"{prefix}<rule>, {family}")


def _setting_issues(at: str, entry: dict[str, Any], base: qa_checks.Check | None) -> list[Issue]:
    """op/limit for absolute checks, tolerance for relative ones, limits within the statistic's range."""
    issues: list[Issue] = []
    statistic = entry["statistic"]
    kind = entry.get("kind", base.kind if base else None)
    if kind not in CHECK_KINDS:
        if "kind" not in entry:
            issues.append((f"{at}.kind", f"required: {statistic!r} has no default check, so say 'absolute' (op and "
                                         "limit) or 'relative' (tolerance)"))
        return issues
    merged = qa_checks.merge_entry(entry, base)
    if kind == "absolute":
        if "tolerance" in entry:
            issues.append((f"{at}.tolerance", "tolerance applies to relative checks; an absolute check has op and "
                                              "limit"))
        for key in ("op", "limit"):
            if merged.get(key) is None:
                issues.append((f"{at}.{key}", f"required: an absolute check needs op and limit "
                                              f"(e.g. op: '<', limit: 1)"))
        limit = _num(entry, "limit")
        low, high = qa_checks.statistic_range(statistic)
        if limit is not None and (limit < low or (high is not None and limit > high)):
            span = f"{low:g} to {high:g}" if high is not None else f"≥ {low:g}"
            issues.append((f"{at}.limit", f"limit {limit:g} is outside the range of {statistic} ({span})"))
    else:
        for key in ("op", "limit"):
            if key in entry:
                issues.append((f"{at}.{key}", f"{key} applies to absolute checks; a relative check has tolerance "
                                              "(percent of the baseline)"))
    return issues


def cron_problem(expression: str) -> str | None:
    """Why a cron expression is unusable (5 fields or an ``@`` preset), or ``None``."""
    text = expression.strip()
    if text.startswith("@"):
        if text in CRON_PRESETS:
            return None
        return f"unknown cron preset {text!r}; use one of {', '.join(sorted(CRON_PRESETS))}"
    if len(text.split()) != 5:
        return f"{expression!r} must have 5 fields: minute hour day-of-month month day-of-week"
    return None if croniter.is_valid(text) else f"{expression!r} is not a valid cron expression"


def _flow_issues(at: str, flow: dict[str, Any], collections: dict[str, str]) -> list[Issue]:
    issues: list[Issue] = []
    cron = _str(flow, "cron")
    problem = cron_problem(cron) if cron is not None else None
    if problem:
        issues.append((f"{at}.cron", problem))
    data, push, close = _num(flow, "dataHours"), _num(flow, "pushHours"), _num(flow, "closeHours")
    if data is not None and push is not None and data > push:
        issues.append((f"{at}.pushHours", f"pushHours ({push}) is less than dataHours ({data}); "
                                          "the rule is dataHours ≤ pushHours ≤ closeHours"))
    if push is not None and close is not None and push > close:
        issues.append((f"{at}.closeHours", f"closeHours ({close}) is less than pushHours ({push}); "
                                           "the rule is dataHours ≤ pushHours ≤ closeHours"))
    definition = flow.get("definition")
    if not isinstance(definition, dict):
        return issues
    d_at = f"{at}.definition"
    target = _str(definition, "collectionId")
    if target is not None and target not in collections:
        issues.append((f"{d_at}.collectionId", _unknown_ref("collection", target, collections)))
    template = _str(definition, "inputUriTemplate")
    for key in ("chunks", "chunkCollectHours"):
        if key in definition and "inputUriTemplate" not in definition:
            issues.append((f"{d_at}.{key}", f"{key} requires inputUriTemplate (chunks split the inputs read from it)"))
    collect = _num(definition, "chunkCollectHours")
    if collect is not None and data is not None and collect > data:
        issues.append((f"{d_at}.chunkCollectHours", f"chunkCollectHours ({collect}) exceeds dataHours ({data}); "
                                                     "the rule is chunkCollectHours ≤ dataHours"))
    if template is not None:
        found = check_template_at(f"{d_at}.inputUriTemplate", template, "input")
        issues += found
        if not template.startswith(("s3://", "file://")):
            issues.append((f"{d_at}.inputUriTemplate",
                           f"{template!r} must be an s3:// URI (or file:// for local tests)"))
        elif not found and "bucketname" in templates.template_variables(template) and not definition.get("inputBucket"):
            issues.append((f"{d_at}.inputBucket",
                           "required: inputUriTemplate uses {bucketname}, the value of inputBucket"))
    return issues
