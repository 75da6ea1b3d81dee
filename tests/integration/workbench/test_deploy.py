"""The staging → production deploy (plan, apply, CLI) and the emulator's extractor PATCH,
against the running Import.io emulator."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
import yaml
from openapi_core import OpenAPI
from openapi_core.contrib.requests import RequestsOpenAPIRequest, RequestsOpenAPIResponse

from airflow_provider_importio.cli.deploy import main as deploy_cli
from airflow_provider_importio.clients.errors import BadRequestError, ForbiddenError, NotFoundError, ServerError
from airflow_provider_importio.clients.http import RetryPolicy
from airflow_provider_importio.clients.importio import ImportioClient
from airflow_provider_importio.workbench.deploy import DeployError, apply_deploy, plan_deploy
from tests.integration.conftest import set_importio_connection
from tests.integration.testing.test_emulator_contract import SPEC_OVERLAY

SPEC_PATH = Path(__file__).resolve().parents[2] / "resources" / "importio-api-v2.openapi.yaml"
UNKNOWN = "00000000-0000-0000-0000-000000000000"
PATCH_PATH = r"^/extractors/[^/]+$"
NEW_FIELDS = [{"name": "title"}, {"name": "price", "type": "CURRENCY"}]


@pytest.fixture
def api(importio_emulator) -> Iterator[ImportioClient]:
    with ImportioClient(importio_emulator.api_key, importio_emulator.url,
                        retry=RetryPolicy(max_retries=3, backoff_base=0.01)) as client:
        yield client


@pytest.fixture
def staging(importio_emulator) -> dict[str, Any]:
    return importio_emulator.add_extractor(name="Products", inputs=["https://shop.example/p/1"])


def writes(emu) -> int:
    """Requests that change something (duplicate, PATCH)."""
    return emu.request_count("POST", r"/duplicate$") + emu.request_count("PATCH")


# -- the deploy --------------------------------------------------------------------------------


def test_first_deploy_duplicates_staging_once_and_names_it(api, importio_emulator, staging):
    plan = plan_deploy(api, staging["guid"])
    assert plan.creates_production and not plan.is_noop
    assert plan.staging_config_id == staging["latestConfigId"]
    assert plan.production_name == "Products (production)" and plan.production_config_id is None
    assert any("duplicating staging" in line for line in plan.lines())

    result = apply_deploy(api, plan)
    assert result.created and result.changed and result.old_config_id is None
    assert result.new_config_id == staging["latestConfigId"]
    assert importio_emulator.request_count("POST", r"/duplicate$") == 1
    production = importio_emulator.extractor(result.production_extractor_id)
    assert production["name"] == "Products (production)"
    assert production["latestConfigId"] == staging["latestConfigId"]
    assert production["guid"] != staging["guid"]
    assert importio_emulator.inputs(production["guid"]) == importio_emulator.inputs(staging["guid"])
    assert result.to_dict() == json.loads(json.dumps(result.to_dict()))


def test_second_deploy_patches_production_to_the_new_staging_config(api, importio_emulator, staging):
    first = apply_deploy(api, plan_deploy(api, staging["guid"]))
    prod_id = first.production_extractor_id
    new_config = importio_emulator.new_extractor_config(staging["guid"], fields=NEW_FIELDS)
    assert importio_emulator.extractor(prod_id)["latestConfigId"] == staging["latestConfigId"]  # untouched

    plan = plan_deploy(api, staging["guid"], prod_id)
    assert plan.changes == (f"production {prod_id}: latestConfigId {staging['latestConfigId']} -> {new_config}",)
    result = apply_deploy(api, plan)
    assert (result.old_config_id, result.new_config_id, result.changed, result.created) == (
        staging["latestConfigId"], new_config, True, False)
    production = importio_emulator.extractor(prod_id)
    assert production["latestConfigId"] == new_config
    assert [f["name"] for f in production["fields"]] == ["title", "price"]  # the configuration's fields
    assert importio_emulator.extractor_configs(prod_id) == [staging["latestConfigId"], new_config]
    assert importio_emulator.request_count("POST", r"/duplicate$") == 1
    assert importio_emulator.request_count("PATCH", PATCH_PATH) == 2  # the first deploy's rename, this one


def test_without_a_production_id_the_existing_production_is_found_by_name(api, importio_emulator, staging):
    first = apply_deploy(api, plan_deploy(api, staging["guid"]))
    new_config = importio_emulator.new_extractor_config(staging["guid"])
    plan = plan_deploy(api, staging["guid"])
    assert plan.production_extractor_id == first.production_extractor_id and not plan.creates_production
    assert apply_deploy(api, plan).new_config_id == new_config
    assert importio_emulator.request_count("POST", r"/duplicate$") == 1


def test_rerun_after_success_is_a_noop(api, importio_emulator, staging):
    prod_id = apply_deploy(api, plan_deploy(api, staging["guid"])).production_extractor_id
    importio_emulator.new_extractor_config(staging["guid"])
    apply_deploy(api, plan_deploy(api, staging["guid"], prod_id))
    before, modified = writes(importio_emulator), importio_emulator.extractor(prod_id)["_meta"]["modifiedAt"]
    total = len(importio_emulator.requests)

    for production_id in (prod_id, None):
        plan = plan_deploy(api, staging["guid"], production_id)
        assert plan.is_noop and plan.changes == ()
        assert plan.lines()[-1].startswith("Nothing to change")
        result = apply_deploy(api, plan)
        assert not result.changed and not result.created and result.production_extractor_id == prod_id
    assert writes(importio_emulator) == before
    assert importio_emulator.extractor(prod_id)["_meta"]["modifiedAt"] == modified
    # Reads only: two GETs with an id, one list of extractors.
    assert len(importio_emulator.requests) - total == 4
    assert {r.method for r in importio_emulator.requests[total:]} == {"GET"}


def test_dry_run_changes_nothing(api, importio_emulator, staging):
    production = importio_emulator.add_extractor(name="Prod")
    plan = plan_deploy(api, staging["guid"])  # a creation plan
    assert plan.creates_production
    plan = plan_deploy(api, staging["guid"], production["guid"])
    assert plan.changes and not plan.is_noop
    assert writes(importio_emulator) == 0
    assert importio_emulator.extractor(production["guid"])["latestConfigId"] == production["latestConfigId"]
    assert len(list(api.list_extractors())) == 2


def test_same_extractor_is_refused_before_any_request(api, importio_emulator, staging):
    with pytest.raises(DeployError, match="same extractor"):
        plan_deploy(api, staging["guid"], staging["guid"])
    assert importio_emulator.requests == []


@pytest.mark.parametrize("role", ["staging", "production"])
def test_archived_extractors_are_refused(api, importio_emulator, staging, role):
    production = importio_emulator.add_extractor(name="Prod")
    importio_emulator.state.archive_extractor(staging["guid"] if role == "staging" else production["guid"])
    with pytest.raises(DeployError, match=f"the {role} extractor .* is archived"):
        plan_deploy(api, staging["guid"], production["guid"])
    assert writes(importio_emulator) == 0


def test_several_extractors_with_the_production_name_are_ambiguous(api, importio_emulator, staging):
    for _ in range(2):
        importio_emulator.add_extractor(name="Live")
    with pytest.raises(DeployError, match="2 extractors are named 'Live'"):
        plan_deploy(api, staging["guid"], production_name="Live")


def test_unknown_staging_extractor_is_not_found(api):
    with pytest.raises(NotFoundError):
        plan_deploy(api, UNKNOWN)


def test_deploy_runs_the_planned_config_even_if_staging_moved_on(api, importio_emulator, staging):
    plan = plan_deploy(api, staging["guid"])
    importio_emulator.new_extractor_config(staging["guid"])  # staging edited after the plan was shown
    result = apply_deploy(api, plan)
    assert importio_emulator.extractor(result.production_extractor_id)["latestConfigId"] == staging["latestConfigId"]


def test_a_failed_rename_reports_the_new_production_id(api, importio_emulator, staging):
    importio_emulator.faults.script("503", "503", "503", "503", method="PATCH")  # beyond max_retries
    with pytest.raises(DeployError, match="created production extractor (\\S+) by duplicating") as err:
        apply_deploy(api, plan_deploy(api, staging["guid"]))
    copies = [e for e in importio_emulator.state.extractors.values() if e.guid != staging["guid"]]
    assert len(copies) == 1 and copies[0].guid in str(err.value)


# -- the client's PATCH and its retries ------------------------------------------------------


def test_patch_is_retried_on_500_and_dropped_connections(api, importio_emulator, staging):
    target = importio_emulator.add_extractor(name="Prod")
    importio_emulator.faults.script("500", "drop", "503", method="PATCH")
    updated = api.set_extractor_latest_config(target["guid"], staging["latestConfigId"])
    assert updated.latest_config_id == staging["latestConfigId"]
    assert importio_emulator.request_count("PATCH", PATCH_PATH) == 4


def test_duplicate_post_is_still_not_retried_on_500(api, importio_emulator, staging):
    importio_emulator.faults.script("500", path=r"/duplicate$")
    with pytest.raises(ServerError):
        api.duplicate_extractor(staging["guid"])
    assert importio_emulator.request_count("POST", r"/duplicate$") == 1


def test_update_extractor_renames_and_needs_fields(api, importio_emulator, staging):
    assert api.update_extractor(staging["guid"], name="Renamed").name == "Renamed"
    assert importio_emulator.extractor(staging["guid"])["name"] == "Renamed"
    with pytest.raises(ValueError, match="at least one field"):
        api.update_extractor(staging["guid"])
    with pytest.raises(ValueError, match="non-empty"):
        api.set_extractor_latest_config(staging["guid"], "")


# -- the emulator's PATCH /extractors/{id} --------------------------------------------------


def _openapi_with_patch(server_url: str) -> OpenAPI:
    """The spec with the contract test's overlay plus the guide's PATCH (see docs/importio-emulator.md)."""
    spec = yaml.safe_load(SPEC_PATH.read_text(encoding="utf-8"))
    error = {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}
    patch = {
        "operationId": "updateExtractor",
        "requestBody": {"content": {"application/json": {"schema": {
            "type": "object", "additionalProperties": True,
            "properties": {"latestConfigId": {"type": "string"}, "name": {"type": "string"}}}}}},
        "responses": {
            "200": {"description": "Updated extractor",
                    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Extractor"}}}},
            **{code: {"description": code, **error} for code in ("400", "401", "403", "404")},
        },
    }
    overlay = {**SPEC_OVERLAY, ("paths", "/extractors/{extractorId}", "patch"): patch}
    for keys, value in overlay.items():
        node = spec
        for key in keys[:-1]:
            node = node.setdefault(key, {})
        node[keys[-1]] = value
    spec["servers"] = [{"url": server_url}]
    return OpenAPI.from_dict(spec)


def test_emulator_patch_answers_validate_and_use_the_error_shape(importio_emulator, staging):
    emu = importio_emulator
    openapi = _openapi_with_patch(emu.url)
    other = emu.add_extractor(name="Prod")
    archived = emu.add_extractor(name="Gone", archived=True)
    emu.add_user(api_key="other-key-1", username="other")
    theirs = emu.add_extractor(name="Theirs", owner_api_key="other-key-1")
    their_config = theirs["latestConfigId"]

    def patch(guid: str, body: Any, key: str | None = emu.api_key) -> requests.Response:
        params = {"_apikey": key} if key else {}
        return requests.patch(f"{emu.url}/extractors/{guid}", json=body, params=params, timeout=10)

    cases = [
        (patch(other["guid"], {"latestConfigId": staging["latestConfigId"]}), 200, None),
        (patch(other["guid"], {"latestConfigId": UNKNOWN}), 400, f"Config {UNKNOWN} not found"),
        (patch(other["guid"], {"latestConfigId": their_config}), 400, "not found"),  # another user's
        (patch(other["guid"], {"latestConfigId": 42}), 400, "not found"),
        (patch(other["guid"], {"inputs": []}), 400, "cannot be updated"),
        (patch(other["guid"], {}), 400, "latestConfigId"),
        (patch(other["guid"], {"name": ""}), 400, "non-empty"),
        (patch(archived["guid"], {"latestConfigId": staging["latestConfigId"]}), 400, "archived"),
        (patch(UNKNOWN, {"latestConfigId": staging["latestConfigId"]}), 404, "not found"),
        (patch(theirs["guid"], {"name": "Mine"}), 403, "another user"),
        (patch(other["guid"], {"name": "x"}, key=None), 401, "Unauthorized"),
    ]
    for response, status, message in cases:
        assert response.status_code == status, response.text
        request = RequestsOpenAPIRequest(response.request)
        openapi.validate_response(request, RequestsOpenAPIResponse(response))
        if status >= 400:
            body = response.json()
            assert set(body) == {"code", "message", "error"} and body["code"] == status
            assert message in body["message"]
    assert cases[0][0].json()["latestConfigId"] == staging["latestConfigId"]
    # Nothing changed by the refused requests.
    assert emu.extractor(other["guid"])["latestConfigId"] == staging["latestConfigId"]
    assert emu.extractor(other["guid"])["name"] == "Prod"
    assert emu.extractor(archived["guid"])["latestConfigId"] == archived["latestConfigId"]
    assert emu.extractor(theirs["guid"])["name"] == "Theirs"


def test_hook_errors_for_patch(api, importio_emulator, staging):
    with pytest.raises(BadRequestError, match="Config .* not found"):
        api.set_extractor_latest_config(staging["guid"], UNKNOWN)
    with pytest.raises(NotFoundError):
        api.set_extractor_latest_config(UNKNOWN, staging["latestConfigId"])
    importio_emulator.add_user(api_key="other-key-2", username="other")
    theirs = importio_emulator.add_extractor(name="Theirs", owner_api_key="other-key-2")
    with pytest.raises(ForbiddenError):
        api.update_extractor(theirs["guid"], name="Mine")
    assert importio_emulator.request_count("PATCH") == 3  # 4xx are never retried


def test_crawl_runs_record_the_config_they_ran_with(api, importio_emulator, staging):
    prod_id = apply_deploy(api, plan_deploy(api, staging["guid"])).production_extractor_id
    run_id = api.start_extractor(prod_id)
    assert importio_emulator.crawl_run(run_id)["runtimeConfigId"] == staging["latestConfigId"]


def test_new_config_admin_endpoint_and_python_api(importio_emulator, staging):
    emu = importio_emulator
    response = requests.post(f"{emu.url}/_emulator/extractor-configs",
                             json={"extractor_id": staging["guid"], "fields": NEW_FIELDS}, timeout=10)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["extractor"]["latestConfigId"] == body["latestConfigId"] != staging["latestConfigId"]
    assert emu.extractor_configs(staging["guid"]) == [staging["latestConfigId"], body["latestConfigId"]]
    bad = requests.post(f"{emu.url}/_emulator/extractor-configs", json={"extractor_id": UNKNOWN}, timeout=10)
    assert bad.status_code == 400
    with pytest.raises(KeyError):
        emu.new_extractor_config(UNKNOWN)
    archived = emu.add_extractor(name="Gone", archived=True)
    with pytest.raises(ValueError, match="archived"):
        emu.new_extractor_config(archived["guid"])
    duplicate = requests.post(f"{emu.url}/extractors/{staging['guid']}/duplicate",
                              params={"_apikey": emu.api_key}, timeout=10).json()
    assert duplicate["latestConfigId"] == body["latestConfigId"]
    assert emu.extractor_configs(duplicate["guid"]) == [body["latestConfigId"]]
    emu.reset()
    assert emu.state.configs == {}


# -- the CLI --------------------------------------------------------------------------------


@pytest.fixture
def conn(importio_emulator, monkeypatch) -> str:
    set_importio_connection(monkeypatch, "importio_deploy", importio_emulator.url, importio_emulator.api_key)
    return "importio_deploy"


def test_cli_dry_run_then_deploy_then_noop(conn, importio_emulator, staging, capsys):
    args = ["--conn-id", conn, "--staging", staging["guid"], "--json"]
    assert deploy_cli([*args, "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "duplicating staging" in out and "Dry run: nothing changed" in out
    assert json.loads(out.splitlines()[-1])["dry_run"] is True
    assert writes(importio_emulator) == 0

    assert deploy_cli(args) == 0
    summary = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert summary["created"] and summary["changed"]
    assert deploy_cli([*args, "--production", summary["production_extractor_id"]]) == 0
    out = capsys.readouterr().out
    assert "Nothing to change" in out and json.loads(out.splitlines()[-1])["changed"] is False
    assert importio_emulator.request_count("POST", r"/duplicate$") == 1


def test_cli_refusal_exits_1_with_the_reason(conn, staging, capsys):
    assert deploy_cli(["--conn-id", conn, "--staging", staging["guid"], "--production", staging["guid"]]) == 1
    assert "same extractor" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        deploy_cli(["--conn-id", conn])
    assert exit_.value.code == 2
