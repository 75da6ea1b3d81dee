"""QA and every review choice against a real store and result files in the emulator's shape:
the states, the assignee and the audit rows each choice leaves."""

from __future__ import annotations

import datetime as dt
import json
import logging

import pytest

from airflow_provider_importio.hooks.store import ImportioStoreHook
from airflow_provider_importio.operators.qa import ImportioQAOperator
from airflow_provider_importio.operators.qa_review import (
    CHOICES, FAIL, PASS, PUSH_ANYWAY, REIMPORT, RERUN, ImportioQAReviewOperator, apply_choice,
)
from airflow_provider_importio.testing.importio_pages import DEFAULT_FIELDS, normalise_fields, result_line
from airflow_provider_importio.workbench.checks import default_checks
from airflow_provider_importio.workbench.config_codec import checks_to_dicts
from airflow_provider_importio.workbench.snapshot_states import SnapshotState as S

SCHEMA = {"slug": "product", "name": "Product", "fields": [
    {"name": "name", "type": "STRING", "required": True}, {"name": "price", "type": "STRING"}]}
QA = {"schema": SCHEMA, "checks": checks_to_dicts(default_checks()), "collection": "products", "data_store": False,
      "aws_conn_id": None}
START = dt.datetime(2026, 11, 25, 12, tzinfo=dt.timezone.utc)


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_IMPORTIO_STORE_DEFAULT", json.dumps(
        {"conn_type": "importio_store", "extra": {"url": f"sqlite:///{tmp_path / 'store.db'}"}}))
    return ImportioStoreHook().get_store()


def collected(store, tmp_path, urls, chunk=0):
    """A PENDING_IMPORT snapshot whose results file holds the emulator's lines for ``urls``."""
    results = tmp_path / f"results-{chunk}.json"
    results.write_text("".join(json.dumps(result_line(u, normalise_fields(DEFAULT_FIELDS), i, 1_764_072_000_000)) + "\n" for i, u in enumerate(urls)))
    delivery = store.get_or_create_delivery("shop", "staging", "manual__1", dag_id="shop__staging", start=START)
    snap = store.get_or_create_snapshot(delivery.id, "products", "shop-b", chunk, actor="test", extractor_id="ext-1")
    snap = store.transition(snap.id, S.STARTED, actor="test", crawl_run_id=f"run-{chunk}")
    return store.transition(snap.id, S.PENDING_IMPORT, actor="test", artifacts={"json": str(results)},
                            row_count=len(urls))


def qa(store, snapshot):
    op = ImportioQAOperator(task_id="qa", snapshot={"snapshot_id": snapshot.id}, **QA)
    return op.execute({})


def review(snapshot_result):
    return ImportioQAReviewOperator(task_id="qa_review", snapshot=snapshot_result, push_hours=2, qa=QA)


def answered(op, choice, user="alice"):
    """The review task resumed with Airflow's HITL event for ``user``'s ``choice`` (what the
    REST API's response handler hands to ``execute_complete``)."""
    event = {"chosen_options": [choice], "params_input": {}, "responded_at": dt.datetime.now(dt.timezone.utc),
             "responded_by_user": {"id": user, "name": user}}
    return op.execute_complete({}, event)


GOOD = [f"https://shop.example/p/{i}?rows=2" for i in range(9)]
BAD = GOOD[:8] + ["https://shop.example/error/x"]  # 1 system error in 9 inputs: escalates


def test_qa_passes_clean_results_and_writes_the_rows_file(store, tmp_path):
    result = qa(store, collected(store, tmp_path, GOOD + ["https://shop.example/status/404"]))
    assert result["state"] == "PASSED_QA" and result["failing"] == []
    rows = [json.loads(line) for line in open(result["rows_uri"])]
    assert sum(1 for r in rows if not r.get("_no_data")) == 18
    assert rows[-1] == {"_url": "https://shop.example/status/404", "_no_data": True}
    stats = store.snapshot_stats(result["snapshot_id"])
    assert stats["total_inputs"] == 10 and stats["not_found_pct"] == 10.0 and stats["total_rows"] == 18
    assert qa(store, store.get_snapshot(result["snapshot_id"]))["state"] == "PASSED_QA"  # a re-run changes nothing


@pytest.mark.parametrize(("choice", "final"), [
    (PASS, S.PASSED_QA), (PUSH_ANYWAY, S.PUSHED_IGNORE), (FAIL, S.FAILED_QA)])
def test_verdicts_record_the_assignee_then_the_verdict(store, tmp_path, choice, final):
    result = qa(store, collected(store, tmp_path, BAD))
    assert result["state"] == "ESCALATED"
    assert "System errors (%)" in result["table_md"] and "| 11.11 |" in result["table_md"]
    outcome = answered(review(result), choice)
    assert outcome["state"] == final.value and outcome["by"] == "user:alice"
    history = [(h.from_state, h.to_state, h.actor) for h in store.history(result["snapshot_id"])]
    assert history[-2:] == [(S.ESCALATED, S.QA, "user:alice"), (S.QA, final, "user:alice")]


def test_reimport_supersedes_and_checks_the_stored_results_again(store, tmp_path):
    result = qa(store, collected(store, tmp_path, BAD))
    off = ("system_error_pct", "quality_score")  # the checks were changed since: these are switched off
    relaxed = {**QA, "checks": [{**c, "enabled": c["statistic"] not in off} for c in QA["checks"]]}
    op = ImportioQAReviewOperator(task_id="qa_review", snapshot=result, push_hours=2, qa=relaxed)
    outcome = answered(op, REIMPORT, "bob")
    old = store.get_snapshot(result["snapshot_id"])
    assert old.state is S.SUPERCEDED
    fresh = store.get_snapshot(outcome["snapshot_id"])
    assert fresh.id != old.id and fresh.supersedes == old.id and fresh.attempt == 2
    assert fresh.crawl_run_id == old.crawl_run_id and fresh.state is S.PASSED_QA  # same data, current checks


def test_rerun_leaves_a_start_pending_snapshot_for_the_collect_task(store, tmp_path, caplog):
    caplog.set_level(logging.INFO)
    result = qa(store, collected(store, tmp_path, BAD))
    outcome = answered(review(result), RERUN, "carol")
    assert store.get_snapshot(result["snapshot_id"]).state is S.SUPERCEDED
    fresh = store.get_snapshot(outcome["snapshot_id"])
    assert fresh.state is S.START_PENDING and fresh.crawl_run_id is None
    assert store.live_snapshot(fresh.delivery_id, "products", "shop-b", 0).id == fresh.id


def test_a_snapshot_no_longer_in_review_is_left_alone(store, tmp_path):
    result = qa(store, collected(store, tmp_path, BAD))
    apply_choice(review(result), FAIL, "user:alice")
    again = apply_choice(review(result), PASS, "user:mallory")
    assert again["state"] == "FAILED_QA"


def test_an_answer_outside_the_options_is_refused(store, tmp_path):
    result = qa(store, collected(store, tmp_path, BAD))
    with pytest.raises(ValueError, match="not in"):
        answered(review(result), "Ship it")
    assert store.get_snapshot(result["snapshot_id"]).state is S.ESCALATED


def test_the_review_offers_the_guides_choices_and_times_out_before_the_push_deadline():
    op = review({"snapshot_id": "x"})
    assert op.options == list(CHOICES) and op.defaults == [FAIL]
    now = dt.datetime.now(dt.timezone.utc)
    left = op._time_left({"logical_date": now - dt.timedelta(minutes=30)})
    assert dt.timedelta(minutes=79) < left <= dt.timedelta(minutes=80)  # 2 h - 30 min - 10 min margin
    assert op._time_left({"logical_date": now - dt.timedelta(hours=3)}) == dt.timedelta(minutes=1)
    # Airflow hands tasks pendulum DateTimes; their difference (a pendulum Interval) cannot be serialized
    # when the task parks for input, which failed every review of an on-time run on a real Airflow
    import pendulum

    left = op._time_left({"logical_date": pendulum.instance(now - dt.timedelta(minutes=30))})
    assert type(left) is dt.timedelta and dt.timedelta(minutes=79) < left <= dt.timedelta(minutes=80)
    with pytest.raises(ValueError, match="timeout_choice"):
        ImportioQAReviewOperator(task_id="r", snapshot={}, push_hours=2, qa=QA, timeout_choice="Maybe")
