"""``ImportioDeployExtractorOperator.execute`` against the Import.io emulator, through an Airflow
connection set with ``AIRFLOW_CONN_...``. Outside a task runner the operator's log is printed to
stdout, where these tests read it."""

from __future__ import annotations

import json

import pytest
from airflow.sdk.exceptions import AirflowFailException

from airflow_provider_importio.operators.deploy import ImportioDeployExtractorOperator
from tests.integration.conftest import set_importio_connection

CONN_ID = "importio_deploy_test"


@pytest.fixture(autouse=True)
def conn(importio_emulator, monkeypatch) -> None:
    set_importio_connection(monkeypatch, CONN_ID, importio_emulator.url, importio_emulator.api_key)


@pytest.fixture
def staging(importio_emulator) -> dict:
    return importio_emulator.add_extractor(name="Products", inputs=["https://shop.example/p/1"])


def deploy(**kwargs) -> dict:
    op = ImportioDeployExtractorOperator(task_id="deploy", importio_conn_id=CONN_ID, **kwargs)
    result = op.execute({})
    assert json.loads(json.dumps(result)) == result  # XCom-safe
    return result


def test_first_deploy_creates_then_patches_then_is_a_noop(importio_emulator, staging, capsys):
    first = deploy(staging_extractor_id=staging["guid"])
    prod_id = first["production_extractor_id"]
    assert first == {
        "staging_extractor_id": staging["guid"], "production_extractor_id": prod_id, "old_config_id": None,
        "new_config_id": staging["latestConfigId"], "changed": True, "created": True, "dry_run": False,
        "changes": first["changes"],
    }
    assert importio_emulator.extractor(prod_id)["name"] == "Products (production)"
    assert "Change: create the production extractor by duplicating staging" in capsys.readouterr().out

    new_config = importio_emulator.new_extractor_config(staging["guid"])
    second = deploy(staging_extractor_id=staging["guid"], production_extractor_id=prod_id)
    assert (second["old_config_id"], second["new_config_id"], second["changed"], second["created"]) == (
        staging["latestConfigId"], new_config, True, False)
    assert importio_emulator.extractor(prod_id)["latestConfigId"] == new_config

    patches = importio_emulator.request_count("PATCH")
    third = deploy(staging_extractor_id=staging["guid"], production_extractor_id=prod_id)
    assert not third["changed"] and third["changes"] == []
    assert importio_emulator.request_count("PATCH") == patches
    assert importio_emulator.request_count("POST", r"/duplicate$") == 1


def test_dry_run_logs_the_change_and_changes_nothing(importio_emulator, staging, capsys):
    production = importio_emulator.add_extractor(name="Live")
    result = deploy(staging_extractor_id=staging["guid"], production_extractor_id=production["guid"], dry_run=True)
    assert result["dry_run"] and not result["changed"]
    assert result["old_config_id"] == production["latestConfigId"]
    assert result["new_config_id"] == staging["latestConfigId"]
    assert result["changes"] == [
        f"production {production['guid']}: latestConfigId {production['latestConfigId']} -> {staging['latestConfigId']}"
    ]
    logged = capsys.readouterr().out  # the task SDK's structured log goes to stdout here
    assert f"Change: {result['changes'][0]}" in logged and "Dry run: the changes above were not made" in logged
    assert importio_emulator.extractor(production["guid"])["latestConfigId"] == production["latestConfigId"]
    assert importio_emulator.request_count("PATCH") == 0

    creation = deploy(staging_extractor_id=staging["guid"], dry_run=True)
    assert creation["production_extractor_id"] is None and len(creation["changes"]) == 2
    assert importio_emulator.request_count("POST") == 0 and len(importio_emulator.state.extractors) == 2


def test_refusals_fail_the_task_without_retries(importio_emulator, staging):
    with pytest.raises(AirflowFailException, match="same extractor"):
        deploy(staging_extractor_id=staging["guid"], production_extractor_id=staging["guid"])
    archived = importio_emulator.add_extractor(name="Gone", archived=True)
    with pytest.raises(AirflowFailException, match="archived"):
        deploy(staging_extractor_id=staging["guid"], production_extractor_id=archived["guid"])


def test_templated_fields_and_no_hook_in_init():
    op = ImportioDeployExtractorOperator(task_id="d", staging_extractor_id="{{ params.staging }}",
                                         importio_conn_id="does_not_exist")
    assert set(op.template_fields) == {"staging_extractor_id", "production_extractor_id", "production_name",
                                       "importio_conn_id"}
    assert not op.dry_run and op.production_extractor_id is None
