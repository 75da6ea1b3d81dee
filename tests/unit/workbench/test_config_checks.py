"""The ``checks`` of a collection in a project file: each rule with a bad file, and what a good one loads as."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from airflow_provider_importio.workbench.checks import default_checks, effective_checks
from airflow_provider_importio.workbench.config import ConfigError, load_project, load_project_text
from airflow_provider_importio.workbench.config_model import Check
from tests.unit.workbench.helpers import EXAMPLE, assert_issue, config_error, example_data


def _with_checks(*entries: Any, collection: int = 0) -> dict[str, Any]:
    data = example_data()
    data["collections"][collection]["checks"] = list(entries)
    return data


CASES: list[tuple[str, list[Any], str, str]] = [
    ("unknown-statistic", [{"statistic": "row_count", "kind": "relative"}], "checks[0].statistic",
     "unknown statistic 'row_count'; statistics: total_inputs, inputs_with_data, total_rows"),
    ("statistic-typo", [{"statistic": "total_row", "escalate": True}], "checks[0].statistic",
     "unknown statistic 'total_row'; did you mean 'total_rows'?"),
    ("unknown-rule", [{"statistic": "validation_errors.price.maximum"}], "checks[0].statistic",
     "'price.maximum' is not a validation rule of schema 'product'; did you mean validation_errors.price.minimum?"),
    ("unknown-field-rule", [{"statistic": "validation_errors.qq"}], "checks[0].statistic",
     "'qq' is not a validation rule of schema 'product'; its rules: name.type, name.required"),
    ("no-rule", [{"statistic": "validation_errors"}], "checks[0].statistic",
     "name a rule: validation_errors.<rule> (e.g. validation_errors.price.minimum) or validation_errors.*"),
    ("bad-op", [{"statistic": "system_error_pct", "op": "="}], "checks[0].op",
     "'=' is not a comparison: use '<', '<=', '>' or '>='"),
    ("bad-kind", [{"statistic": "total_rows", "kind": "percent"}], "checks[0].kind",
     "'percent' is not a kind of check: use 'absolute' (op and limit) or 'relative'"),
    ("relative-with-op", [{"statistic": "total_rows", "op": "<", "limit": 5}], "checks[0].op",
     "op applies to absolute checks; a relative check has tolerance"),
    ("relative-with-limit", [{"statistic": "total_rows", "limit": 5}], "checks[0].limit",
     "limit applies to absolute checks"),
    ("absolute-with-tolerance", [{"statistic": "quality_score", "tolerance": 5}], "checks[0].tolerance",
     "tolerance applies to relative checks"),
    ("absolute-needs-limit", [{"statistic": "total_rows", "kind": "absolute", "op": ">"}], "checks[0].limit",
     "required: an absolute check needs op and limit"),
    ("absolute-needs-op", [{"statistic": "blocked_pct", "kind": "absolute", "limit": 1}], "checks[0].op",
     "required: an absolute check needs op and limit"),
    ("no-default-needs-kind", [{"statistic": "blocked_pct", "limit": 1}], "checks[0].kind",
     "required: 'blocked_pct' has no default check, so say 'absolute' (op and limit) or 'relative'"),
    ("negative-tolerance", [{"statistic": "total_rows", "tolerance": -5}], "checks[0].tolerance",
     "-5 must be a percentage ≥ 0"),
    ("score-limit-out-of-range", [{"statistic": "quality_score", "limit": 90}], "checks[0].limit",
     "limit 90 is outside the range of quality_score (0 to 1)"),
    ("pct-limit-out-of-range", [{"statistic": "system_error_pct", "limit": 101}], "checks[0].limit",
     "limit 101 is outside the range of system_error_pct (0 to 100)"),
    ("count-limit-negative", [{"statistic": "total_rows", "kind": "absolute", "op": ">", "limit": -1}],
     "checks[0].limit", "limit -1 is outside the range of total_rows (≥ 0)"),
    ("duplicate", [{"statistic": "total_rows"}, {"statistic": "total_rows", "escalate": True}],
     "checks[1].statistic", "duplicate check of 'total_rows' (first at collections[0].checks[0])"),
    ("unknown-key", [{"statistic": "total_rows", "threshold": 3}], "checks[0].threshold",
     "unknown key 'threshold'"),
    ("missing-statistic", [{"metric": "validation_errors", "rule": "price.minimum"}], "checks[0].statistic",
     "required key 'statistic' is missing"),
    ("escalate-not-bool", [{"statistic": "total_rows", "escalate": "sometimes"}], "checks[0].escalate",
     "'sometimes' is not of type 'boolean'"),
    ("not-a-mapping", ["rows > 0"], "checks[0]", "is not of type 'object'"),
]


@pytest.mark.parametrize(("entries", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_checks_name_the_file_path_and_rule(entries: list[Any], path: str, fragment: str) -> None:
    assert_issue(config_error(_with_checks(*entries)), f"collections[0].{path}", fragment)


def test_rules_of_a_forked_schema_are_known() -> None:
    data = _with_checks({"statistic": "validation_errors.sku.pattern"}, {"statistic": "validation_errors.row.type"},
                        collection=1)
    coll = load_project_text(yaml.safe_dump(data), "ok.yaml").collection("products")
    assert [c.statistic for c in coll.checks] == ["validation_errors.sku.pattern", "validation_errors.row.type"]
    data["schemas"][1]["fields"] = [{"name": "sku", "type": "STRING", "required": True}]  # the fork's own fields
    assert_issue(config_error(data), "collections[1].checks[0].statistic",
                 "'sku.pattern' is not a validation rule of schema 'product-prod'; did you mean "
                 "validation_errors.sku.type?")


def test_every_problem_of_the_checks_is_reported_at_once() -> None:
    error = config_error(_with_checks({"statistic": "rows"}, {"statistic": "quality_score", "op": "=="},
                                      {"statistic": "total_rows", "limit": 2}))
    assert [path for path, _ in error.errors] == [
        "collections[0].checks[0].statistic", "collections[0].checks[1].op", "collections[0].checks[2].limit"]
    assert "(line " in str(error)


def test_an_unquoted_greater_than_gets_a_hint() -> None:
    text = EXAMPLE.read_text(encoding="utf-8").replace(
        '      - {statistic: validation_errors.price.minimum, kind: absolute, op: "<=", limit: 0}',
        "      - statistic: quality_score\n        op: >\n        limit: 0.95")
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "bad.yaml")
    assert_issue(caught.value, "collections[0].checks[0].op", "(quoted: YAML reads a bare '>' as a folded block)")


def test_a_collection_without_checks_gets_the_defaults() -> None:
    data = example_data()
    del data["collections"][0]["checks"]
    coll = load_project_text(yaml.safe_dump(data), "ok.yaml").collection("products-staging")
    assert coll.checks == ()
    assert [c.statistic for c in effective_checks(coll, None, {})] == [
        c.statistic for c in default_checks() if c.statistic != "validation_errors.*"]


def test_the_example_loads_its_checks() -> None:
    project = load_project(EXAMPLE)
    assert project.collection("products").checks == (
        Check("system_error_pct", "absolute", op="<", limit=1.0, escalate=True),
        Check("total_rows", "relative", tolerance=10.0),
        Check("filtered_pct", "relative", tolerance=10.0, enabled=False),
        Check("validation_errors.*", "relative", tolerance=10.0, escalate=True),
    )
    assert project.collection("products-staging").checks == (
        Check("validation_errors.price.minimum", "absolute", op="<=", limit=0.0),)


def test_the_json_schema_describes_a_check() -> None:
    from airflow_provider_importio.workbench.config_schema import PROJECT_FILE_SCHEMA

    check = PROJECT_FILE_SCHEMA["properties"]["collections"]["items"]["properties"]["checks"]["items"]
    assert check["required"] == ["statistic"] and check["additionalProperties"] is False
    assert set(check["properties"]) == {"statistic", "kind", "op", "limit", "tolerance", "escalate", "enabled"}
    assert check["properties"]["op"]["enum"] == ["<", "<=", ">", ">="]
