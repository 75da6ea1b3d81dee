"""QA checks: the guide's defaults with exact numbers, relative/absolute rules, baselines, outcomes, the table."""

from __future__ import annotations

import json
from typing import Any

import pytest

from airflow_provider_importio.workbench.checks import (
    BASELINE_SIZE,
    NO_BASELINE_REASON,
    Check,
    QaResult,
    baseline,
    default_checks,
    effective_checks,
    evaluate,
    qa_table_markdown,
    resolve_checks,
)
from airflow_provider_importio.workbench.config import load_project
from airflow_provider_importio.workbench.config_model import Collection, Field, FieldRules, Schema
from airflow_provider_importio.workbench.snapshot_states import SnapshotState
from tests.unit.workbench.helpers import EXAMPLE

S = SnapshotState
SCHEMA = Schema("product", "Product", fields=(
    Field("price", "NUMBER", required=True, rules=FieldRules(minimum=0)),
    Field("sku", "STRING", rules=FieldRules(pattern="^[A-Z]+$")),
))
SCHEMA_RULES = ["price.type", "price.required", "price.minimum", "sku.type", "sku.pattern"]


def _collection(*entries: dict[str, Any]) -> Collection:
    return Collection("products", "Products", "product", "en_GB", "example.com", checks=resolve_checks(entries))


def _one(check: Check, value: float | None, base: float | None = None) -> Any:
    stats = {} if value is None else {check.statistic: value}
    result = evaluate([check], stats, {} if base is None else {check.statistic: base})
    assert len(result.results) == 1
    return result.results[0]


def _default(statistic: str) -> Check:
    return next(c for c in default_checks() if c.statistic == statistic)


#: Stats of a healthy snapshot, and a baseline it sits exactly on.
GOOD: dict[str, float] = {
    "total_inputs": 1000, "inputs_with_data": 980, "total_rows": 4900, "valid_rows": 4900, "invalid_rows": 0,
    "system_error_pct": 0.2, "missing_html_pct": 0.0, "no_data_200_pct": 0.5, "not_found_pct": 1.5,
    "blocked_pct": 0.0, "rows_per_input": 5.0, "duplicate_pct": 2.0, "filtered_pct": 4.0, "quality_score": 0.97,
    "validation_errors.price.minimum": 0,
}


# -- the defaults -------------------------------------------------------------------------------


def test_defaults_are_the_guides_table() -> None:
    table = [(c.statistic, c.kind, c.op, c.limit, c.tolerance, c.escalate, c.enabled) for c in default_checks()]
    assert table == [
        ("system_error_pct", "absolute", "<", 1.0, None, True, True),
        ("missing_html_pct", "absolute", "<", 1.0, None, True, True),
        ("no_data_200_pct", "absolute", "<", 1.0, None, True, True),
        ("not_found_pct", "relative", None, None, 10.0, False, True),
        ("rows_per_input", "relative", None, None, 10.0, False, True),
        ("total_inputs", "relative", None, None, 10.0, False, True),
        ("total_rows", "relative", None, None, 10.0, False, True),
        ("duplicate_pct", "relative", None, None, 10.0, False, True),
        ("filtered_pct", "relative", None, None, 10.0, False, True),
        ("quality_score", "absolute", ">", 0.9, None, False, True),
        ("validation_errors.*", "relative", None, None, 10.0, False, True),
    ]


@pytest.mark.parametrize(("statistic", "good", "bad", "reason"), [
    ("system_error_pct", 0.99, 1.0, "1 is not < 1"),
    ("missing_html_pct", 0.0, 1.5, "1.5 is not < 1"),
    ("no_data_200_pct", 0.5, 12.0, "12 is not < 1"),
    ("quality_score", 0.91, 0.9, "0.9 is not > 0.9"),
])
def test_each_absolute_default_passes_and_fails(statistic: str, good: float, bad: float, reason: str) -> None:
    check = _default(statistic)
    passing = _one(check, good)
    assert (passing.passed, passing.reason, passing.value, passing.baseline) == (True, "", good, None)
    failing = _one(check, bad)
    assert (failing.passed, failing.reason, failing.escalate) == (False, reason, check.escalate)
    assert failing.limit == ("> 0.9" if statistic == "quality_score" else "< 1")


@pytest.mark.parametrize("statistic", ["not_found_pct", "rows_per_input", "total_inputs", "total_rows",
                                       "duplicate_pct", "filtered_pct"])
def test_each_relative_default_allows_ten_percent_either_way(statistic: str) -> None:
    check = _default(statistic)
    for value in (120, 108, 132, 131.9, 108.1):  # |value - 120| <= 12, boundaries included
        result = _one(check, value, 120)
        assert (result.passed, result.limit, result.baseline) == (True, "±10% of 120", 120), value
    high = _one(check, 132.5, 120)
    assert not high.passed and not high.escalate
    assert high.reason == "132.5 is 10.42% above the baseline 120 (allowed 108 to 132)"
    low = _one(check, 107.9, 120)
    assert not low.passed and low.reason == "107.9 is 10.08% below the baseline 120 (allowed 108 to 132)"


def test_relative_check_with_a_fractional_baseline() -> None:
    check = _default("rows_per_input")
    assert _one(check, 5.5, 5.0).passed and _one(check, 4.5, 5.0).passed
    assert not _one(check, 5.51, 5.0).passed


def test_a_healthy_snapshot_passes_every_default() -> None:
    result = evaluate(effective_checks(None, SCHEMA, GOOD), GOOD, GOOD)
    assert result.passed and result.outcome is S.PASSED_QA
    assert [r.statistic for r in result.results] == [
        "system_error_pct", "missing_html_pct", "no_data_200_pct", "not_found_pct", "rows_per_input",
        "total_inputs", "total_rows", "duplicate_pct", "filtered_pct", "quality_score",
        *[f"validation_errors.{rule}" for rule in SCHEMA_RULES],
    ]
    assert result.summary() == f"PASSED_QA: all {len(result.results)} checks passed"
    assert qa_table_markdown(result) == f"**PASSED_QA: all {len(result.results)} checks passed**"


# -- outcomes -----------------------------------------------------------------------------------


def test_an_escalating_failure_escalates() -> None:
    stats = {**GOOD, "system_error_pct": 2.5}
    result = evaluate(effective_checks(None, SCHEMA, stats), stats, GOOD)
    assert result.outcome is S.ESCALATED
    assert [(r.statistic, r.escalate) for r in result.failures] == [("system_error_pct", True)]


def test_a_failure_that_does_not_escalate_waits_for_review() -> None:
    stats = {**GOOD, "total_rows": 3000, "quality_score": 0.85}
    result = evaluate(effective_checks(None, SCHEMA, stats), stats, GOOD)
    assert result.outcome is S.PENDING_QA
    assert [r.statistic for r in result.failures] == ["total_rows", "quality_score"]
    assert result.escalated == []
    assert result.summary() == f"PENDING_QA: 2 of {len(result.results)} checks failed (none escalating)"


def test_one_escalating_failure_among_others_escalates() -> None:
    stats = {**GOOD, "total_rows": 3000, "missing_html_pct": 5.0}
    result = evaluate(effective_checks(None, SCHEMA, stats), stats, GOOD)
    assert result.outcome is S.ESCALATED
    assert result.summary().endswith("2 of 15 checks failed (1 escalating)")


def test_escalation_is_set_per_check() -> None:
    coll = _collection({"statistic": "total_rows", "escalate": True}, {"statistic": "system_error_pct",
                                                                      "escalate": False})
    stats = {**GOOD, "total_rows": 3000}
    assert evaluate(effective_checks(coll, SCHEMA, stats), stats, GOOD).outcome is S.ESCALATED
    stats = {**GOOD, "system_error_pct": 3.0}
    assert evaluate(effective_checks(coll, SCHEMA, stats), stats, GOOD).outcome is S.PENDING_QA


def test_no_checks_pass() -> None:
    assert QaResult().outcome is S.PASSED_QA


# -- baseline -----------------------------------------------------------------------------------


def test_baseline_is_the_median_of_the_recent_good_snapshots() -> None:
    history = [  # newest first, as history_for returns them
        {"total_rows": 130, "quality_score": 0.95, "duplicate_pct": None},
        {"total_rows": 100, "quality_score": 0.97},
        {"total_rows": 120, "quality_score": 0.99, "validation_errors.price.minimum": 4},
        {"total_rows": 5000, "quality_score": 0.96},  # one odd delivery does not move a median
        {"total_rows": 110, "quality_score": float("nan")},
    ]
    assert BASELINE_SIZE == 5
    assert baseline(history) == {"total_rows": 120.0, "quality_score": 0.965,
                                 "validation_errors.price.minimum": 4.0}
    assert baseline(history[:2]) == {"total_rows": 115.0, "quality_score": 0.96}
    assert baseline([]) == {}


def test_relative_checks_against_a_median_baseline_after_several_deliveries() -> None:
    deliveries = [{**GOOD, "total_rows": rows} for rows in (4800, 5000, 4900, 4700, 5100)]
    base = baseline(deliveries)
    assert base["total_rows"] == 4900
    for rows, passed in ((5390, True), (4410, True), (5391, False), (4409, False)):
        stats = {**GOOD, "total_rows": rows}
        result = evaluate(effective_checks(None, SCHEMA, stats), stats, base)
        assert result.passed is passed, rows


def test_before_a_baseline_exists_relative_checks_pass_and_say_so() -> None:
    result = evaluate(effective_checks(None, SCHEMA, GOOD), GOOD, {})
    assert result.outcome is S.PASSED_QA
    relative = [r for r in result.results if r.statistic in ("total_rows", "not_found_pct")]
    assert [(r.passed, r.reason, r.limit, r.baseline) for r in relative] == [
        (True, NO_BASELINE_REASON, "±10% of baseline", None)] * 2
    absolute = next(r for r in result.results if r.statistic == "system_error_pct")
    assert absolute.reason == ""  # absolute limits need no baseline


def test_a_zero_baseline_passes_only_zero() -> None:
    check = _default("duplicate_pct")
    assert _one(check, 0, 0).passed
    failing = _one(check, 0.1, 0)
    assert (failing.passed, failing.limit, failing.reason) == (
        False, "±10% of 0", "0.1 against a baseline of 0 (only 0 passes)")


def test_a_statistic_missing_from_the_snapshot_fails() -> None:
    result = _one(_default("quality_score"), None)
    assert (result.passed, result.reason) == (False, "not reported in the snapshot's statistics")
    result = _one(_default("total_rows"), None, 100)
    assert (result.passed, result.reason) == (False, "not reported in the snapshot's statistics")
    stats = {k: v for k, v in GOOD.items() if k != "system_error_pct"}
    assert evaluate(effective_checks(None, SCHEMA, stats), stats, GOOD).outcome is S.ESCALATED


# -- validation rules ---------------------------------------------------------------------------


def test_validation_rule_checks_appear_from_the_statistics() -> None:
    stats = {"validation_errors.price.minimum": 3, "validation_errors.row.type": 0}
    assert [c.statistic for c in effective_checks(None, None, stats) if c.statistic.startswith("validation")] == [
        "validation_errors.price.minimum", "validation_errors.row.type"]
    with_schema = [c.statistic for c in effective_checks(None, SCHEMA, stats) if c.statistic.startswith("valid")]
    assert with_schema == [f"validation_errors.{r}" for r in [*SCHEMA_RULES, "row.type"]]
    assert all(c.kind == "relative" and c.tolerance == 10 and not c.escalate
               for c in effective_checks(None, SCHEMA, stats) if c.statistic.startswith("valid"))
    assert not [c for c in effective_checks(None, None, {"total_rows": 1}) if c.statistic.startswith("valid")]


def test_validation_rules_fail_on_any_error_before_a_baseline() -> None:
    stats = {**GOOD, "validation_errors.price.minimum": 1}
    result = evaluate(effective_checks(None, SCHEMA, stats), stats, {})
    assert result.outcome is S.PENDING_QA
    [failure] = result.failures
    assert (failure.name, failure.value, failure.baseline, failure.limit) == (
        "Validation errors: price.minimum", 1, None, "±10% of baseline")
    assert failure.reason.startswith("1 validation error and no baseline yet")
    clean = next(r for r in result.results if r.statistic == "validation_errors.sku.pattern")
    assert (clean.passed, clean.value) == (True, 0.0)  # absent from the stats: no errors


def test_validation_rules_against_a_baseline() -> None:
    check = Check("validation_errors.price.minimum", "relative", tolerance=10)
    assert _one(check, 0, 0).passed
    assert not _one(check, 1, 0).passed  # a zero baseline: any error fails
    assert _one(check, 22, 20).passed and _one(check, 18, 20).passed
    assert not _one(check, 23, 20).passed and not _one(check, 17, 20).passed


def test_a_rule_entry_overrides_its_family_and_a_disabled_family_keeps_it() -> None:
    coll = _collection({"statistic": "validation_errors.*", "enabled": False},
                       {"statistic": "validation_errors.price.minimum", "kind": "absolute", "op": "<=", "limit": 5,
                        "escalate": True})
    checks = effective_checks(coll, SCHEMA, GOOD)
    assert [c for c in checks if c.statistic.startswith("valid")] == [
        Check("validation_errors.price.minimum", "absolute", op="<=", limit=5.0, escalate=True)]
    stats = {**GOOD, "validation_errors.price.minimum": 6}
    assert evaluate(checks, stats, GOOD).outcome is S.ESCALATED


def test_a_rule_entry_inherits_from_the_configured_family() -> None:
    [family, rule] = resolve_checks([{"statistic": "validation_errors.*", "tolerance": 25, "escalate": True},
                                     {"statistic": "validation_errors.sku.pattern", "escalate": False}])
    assert family == Check("validation_errors.*", "relative", tolerance=25.0, escalate=True)
    assert rule == Check("validation_errors.sku.pattern", "relative", tolerance=25.0, escalate=False)
    checks = effective_checks(_collection({"statistic": "validation_errors.*", "tolerance": 25, "escalate": True},
                                          {"statistic": "validation_errors.sku.pattern", "escalate": False}),
                              SCHEMA, {})
    by = {c.statistic: c for c in checks}
    assert by["validation_errors.price.minimum"] == Check("validation_errors.price.minimum", "relative",
                                                          tolerance=25.0, escalate=True)
    assert by["validation_errors.sku.pattern"].escalate is False


# -- configured checks --------------------------------------------------------------------------


def test_entries_merge_over_their_default() -> None:
    checks = resolve_checks([
        {"statistic": "total_rows", "escalate": True},
        {"statistic": "quality_score", "op": ">=", "limit": 0.95},
        {"statistic": "system_error_pct", "limit": 2},
        {"statistic": "total_inputs", "kind": "absolute", "op": ">", "limit": 100},  # kind changed: no tolerance
        {"statistic": "blocked_pct", "kind": "relative"},  # no default: the guide's ±10%
    ])
    assert checks == (
        Check("total_rows", "relative", tolerance=10.0, escalate=True),
        Check("quality_score", "absolute", op=">=", limit=0.95),
        Check("system_error_pct", "absolute", op="<", limit=2.0, escalate=True),
        Check("total_inputs", "absolute", op=">", limit=100.0),
        Check("blocked_pct", "relative", tolerance=10.0),
    )


def test_disabled_checks_are_not_run() -> None:
    coll = _collection({"statistic": "total_rows", "enabled": False}, {"statistic": "system_error_pct",
                                                                       "enabled": False})
    checks = effective_checks(coll, SCHEMA, GOOD)
    assert "total_rows" not in [c.statistic for c in checks]
    stats = {**GOOD, "total_rows": 1, "system_error_pct": 50}
    assert evaluate(checks, stats, GOOD).outcome is S.PASSED_QA
    # evaluate skips disabled checks handed to it directly, and an unexpanded family
    assert evaluate([Check("total_rows", "relative", tolerance=10, enabled=False), _default("validation_errors.*")],
                    stats, GOOD).results == ()


def test_added_checks_run_after_the_defaults() -> None:
    coll = _collection({"statistic": "blocked_pct", "kind": "absolute", "op": "<", "limit": 1, "escalate": True})
    checks = effective_checks(coll, None, {})
    assert checks[-1].statistic == "blocked_pct"
    assert evaluate(checks, {**GOOD, "blocked_pct": 4}, GOOD).outcome is S.ESCALATED


def test_the_example_projects_checks() -> None:
    project = load_project(EXAMPLE)
    production = project.collection("products")
    checks = effective_checks(production, project.collection_schema(production), GOOD)
    by = {c.statistic: c for c in checks}
    assert "filtered_pct" not in by and "quality_score" in by
    assert by["validation_errors.sku.pattern"] == Check("validation_errors.sku.pattern", "relative", tolerance=10.0,
                                                        escalate=True)
    stats = {**GOOD, "validation_errors.sku.pattern": 1}
    assert evaluate(checks, stats, GOOD).outcome is S.ESCALATED  # the family escalates in production
    staging = project.collection("products-staging")
    assert staging.checks == (Check("validation_errors.price.minimum", "absolute", op="<=", limit=0.0),)
    checks = effective_checks(staging, project.collection_schema(staging), GOOD)
    by = {c.statistic: c for c in checks}
    assert by["validation_errors.price.minimum"] == staging.checks[0]
    assert by["validation_errors.sku.pattern"] == Check("validation_errors.sku.pattern", "relative", tolerance=10.0)


# -- reporting ----------------------------------------------------------------------------------


def test_qa_table_markdown_lists_the_failures() -> None:
    stats = {**GOOD, "total_rows": 6000, "system_error_pct": 1.25, "validation_errors.sku|x.pattern": 2}
    result = evaluate(effective_checks(None, SCHEMA, stats), stats, GOOD)
    assert qa_table_markdown(result).splitlines() == [
        "**ESCALATED: 3 of 16 checks failed (1 escalating)**",
        "",
        "| Check | Value | Baseline | Limit | Escalates | Why |",
        "| --- | ---: | ---: | --- | :-: | --- |",
        "| System errors (%) | 1.25 | 0.2 | < 1 | yes | 1.25 is not < 1 |",
        "| Total rows | 6000 | 4900 | ±10% of 4900 | no | 6000 is 22.45% above the baseline 4900 (allowed 4410 to "
        "5390) |",
        "| Validation errors: sku\\|x.pattern | 2 | — | ±10% of baseline | no | 2 validation errors and no baseline "
        "yet (any validation error fails until a baseline exists) |",
    ]


def test_results_serialise_to_json() -> None:
    stats = {**GOOD, "total_rows": 6000}
    data = json.loads(json.dumps(evaluate(effective_checks(None, SCHEMA, stats), stats, GOOD).as_dict()))
    assert data["outcome"] == "PENDING_QA"
    assert data["results"][6] == {"name": "Total rows", "statistic": "total_rows", "value": 6000, "baseline": 4900,
                                  "limit": "±10% of 4900", "passed": False, "escalate": False,
                                  "reason": "6000 is 22.45% above the baseline 4900 (allowed 4410 to 5390)"}


def test_check_rejects_incomplete_settings() -> None:
    with pytest.raises(ValueError, match="needs op"):
        Check("total_rows", "absolute", limit=1)
    with pytest.raises(ValueError, match="tolerance"):
        Check("total_rows", "relative")
    with pytest.raises(ValueError, match="kind"):
        Check("total_rows", "sometimes")
