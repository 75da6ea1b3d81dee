"""The QA baseline from a real store: only PASSED_QA and PUSHED snapshots count, newest first, per project."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from airflow_provider_importio.store.store import Store
from airflow_provider_importio.workbench.checks import qa_table_markdown
from airflow_provider_importio.workbench.config_model import Collection, Field, FieldRules, Schema
from airflow_provider_importio.workbench.qa_baseline import baseline_for, evaluate_snapshot, history_for
from airflow_provider_importio.workbench.snapshot_states import SnapshotState

S = SnapshotState
DAY = 86_400
SCHEMA = Schema("product", "Product", fields=(Field("price", "NUMBER", rules=FieldRules(minimum=0)),))
COLLECTION = Collection("products", "Products", "product", "en_GB", "example.com")

#: Earlier deliveries of shop-a, oldest first: the state each snapshot ended in and its total_rows.
HISTORY = [
    (S.PUSHED, 100),
    (S.PUSHED_IGNORE, 10),  # pushed despite failed QA: never "good data"
    (S.PASSED_QA, 110),
    (S.PUSHED, 120),
    (S.PUSHED_IGNORE, 5),
    (S.PENDING_QA, 1000),  # waiting for a person
    (S.FAILED_QA, 2000),
    (S.PUSHED, 130),
    (S.PASSED_QA, 140),
]
#: The path from PENDING_IMPORT to each final state.
PATHS = {
    S.PASSED_QA: [S.PASSED_QA],
    S.PUSHED: [S.PASSED_QA, S.PUSHED],
    S.PENDING_QA: [S.PENDING_QA],
    S.FAILED_QA: [S.PENDING_QA, S.QA, S.FAILED_QA],
    S.PUSHED_IGNORE: [S.PENDING_QA, S.QA, S.PUSHED_IGNORE],
}


@pytest.fixture
def qa_store(store_url: str, clock) -> Iterator[Store]:
    """A migrated store on the fake clock (one day between deliveries)."""
    with Store.from_url(store_url, clock=clock) as store:
        store.migrate()
        yield store


def _deliver(store: Store, clock, number: int, state: S, stats: dict[str, Any], *, project: str = "shop",
             source: str = "shop-a", chunk: int = 0, advance: bool = True):
    """A snapshot of delivery ``number`` with ``stats``, moved to ``state``."""
    if advance:
        clock.advance(DAY)
    delivery = store.get_or_create_delivery(project, "daily", f"run-{number}", dag_id=f"{project}__daily")
    snapshot = store.get_or_create_snapshot(delivery.id, "products", source, chunk, actor="test",
                                            initial_state=S.PENDING_IMPORT)
    store.record_stats(snapshot.id, stats)
    for step in PATHS.get(state, []):
        store.transition(snapshot.id, step, actor="test")
    return store.get_snapshot(snapshot.id)


#: The other statistics, the same in every delivery.
FULL = {"missing_html_pct": 0.0, "no_data_200_pct": 0.0, "not_found_pct": 1.0, "rows_per_input": 2.5,
        "duplicate_pct": 0.0, "filtered_pct": 0.0, "quality_score": 0.98, "validation_errors.price.minimum": 0}


def _stats(rows: float, **extra: float) -> dict[str, float]:
    return {"total_inputs": 50, "total_rows": rows, "system_error_pct": 0.0, **extra}


def _record_history(store: Store, clock) -> None:
    for number, (state, rows) in enumerate(HISTORY, start=1):
        _deliver(store, clock, number, state, _stats(rows))


def test_the_baseline_uses_only_passed_qa_and_pushed_snapshots(qa_store: Store, clock) -> None:
    _record_history(qa_store, clock)
    history = history_for(qa_store, "products", "shop-a")
    assert [h["total_rows"] for h in history] == [140, 130, 120, 110, 100]  # newest first, 5 of them
    assert baseline_for(qa_store, "products", "shop-a")["total_rows"] == 120  # median of 100..140
    assert baseline_for(qa_store, "products", "shop-a", limit=3)["total_rows"] == 130  # 140, 130, 120
    assert baseline_for(qa_store, "products", "shop-a", limit=2)["total_rows"] == 135
    assert baseline_for(qa_store, "products", "shop-b") == {}  # no baseline yet for another source


def test_the_baseline_leaves_out_the_snapshot_under_qa_and_later_ones(qa_store: Store, clock) -> None:
    _record_history(qa_store, clock)
    newest = qa_store.snapshots(source="shop-a", state=S.PASSED_QA)[-1]
    assert [h["total_rows"] for h in history_for(qa_store, "products", "shop-a", exclude_snapshot=newest.id)] == [
        130, 120, 110, 100]
    assert [h["total_rows"] for h in history_for(qa_store, "products", "shop-a", before=newest.created_at)] == [
        130, 120, 110, 100]


def test_other_projects_with_the_same_slugs_are_left_out(qa_store: Store, clock) -> None:
    _record_history(qa_store, clock)
    for number in range(3):
        _deliver(qa_store, clock, 100 + number, S.PUSHED, _stats(9000), project="other")
    assert [h["total_rows"] for h in history_for(qa_store, "products", "shop-a", project="shop")] == [
        140, 130, 120, 110, 100]
    assert history_for(qa_store, "products", "shop-a", project="other", limit=5) == [_stats(9000)] * 3


def test_evaluate_snapshot_compares_with_earlier_deliveries_only(qa_store: Store, clock) -> None:
    for number, (state, rows) in enumerate(HISTORY, start=1):
        _deliver(qa_store, clock, number, state, _stats(rows, **FULL))
    # The current delivery: chunk 0 already passed with odd numbers; chunk 1 is under QA.
    sibling = _deliver(qa_store, clock, 99, S.PASSED_QA, _stats(5000, **FULL))
    current = _deliver(qa_store, clock, 99, S.PENDING_IMPORT,
                       _stats(150, **{**FULL, "validation_errors.price.minimum": 2}), chunk=1, advance=False)
    assert current.delivery_id == sibling.delivery_id
    result = evaluate_snapshot(qa_store, current.id, COLLECTION, SCHEMA)
    assert result.outcome is S.PENDING_QA
    failures = {r.statistic: r for r in result.failures}
    assert set(failures) == {"total_rows", "validation_errors.price.minimum"}
    assert (failures["total_rows"].baseline, failures["total_rows"].limit) == (120, "±10% of 120")
    assert failures["validation_errors.price.minimum"].baseline == 0  # any error fails against 0
    table = qa_table_markdown(result)
    assert "| Total rows | 150 | 120 | ±10% of 120 | no |" in table
    assert "| Validation errors: price.minimum | 2 | 0 | ±10% of 0 | no |" in table


def test_a_missing_statistic_fails_its_check(qa_store: Store, clock) -> None:
    _record_history(qa_store, clock)
    current = _deliver(qa_store, clock, 99, S.PENDING_IMPORT, _stats(120))  # no missing_html_pct, ...
    result = evaluate_snapshot(qa_store, current, COLLECTION, SCHEMA)
    assert result.outcome is S.ESCALATED  # missing_html_pct escalates
    assert {r.reason for r in result.failures} == {"not reported in the snapshot's statistics"}


def test_evaluate_snapshot_passes_a_delivery_like_the_good_ones(qa_store: Store, clock) -> None:
    full = FULL
    for number, rows in enumerate((100, 120, 110), start=1):
        _deliver(qa_store, clock, number, S.PUSHED, _stats(rows, **full))
    _deliver(qa_store, clock, 4, S.PUSHED_IGNORE, _stats(10, **{**full, "validation_errors.price.minimum": 40}))
    current = _deliver(qa_store, clock, 5, S.PENDING_IMPORT, _stats(115, **full))
    result = evaluate_snapshot(qa_store, current, COLLECTION, SCHEMA)
    assert result.outcome is S.PASSED_QA, qa_table_markdown(result)
    total = next(r for r in result.results if r.statistic == "total_rows")
    assert (total.value, total.baseline) == (115, 110)
