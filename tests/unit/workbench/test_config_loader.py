"""Loading project files: the example, defaults, load_projects, YAML problems, error reporting."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import yaml

from airflow_provider_importio.workbench.config import ConfigError, load_project, load_project_text, load_projects
from airflow_provider_importio.workbench.config_model import Check
from tests.unit.workbench.helpers import EXAMPLE, assert_issue, config_error, example_data

MINIMAL = """\
project: {slug: p, name: P}
schemas:
  - slug: s
    name: S
    fields: [{name: a, type: STRING}]
destinations:
  - {slug: out, name: Out, type: S3, connection: aws_default, bucket: my-bucket}
collections:
  - slug: c
    name: C
    schema: s
    parameters: {locale: en_US, domain: example.com}
    sources: [{slug: src, name: Src, extractorId: 0d5e6c3a-1b2c-4d5e-8f90-123456789abc}]
    destinations: [out]
flows:
  - {slug: f, name: F, cron: "0 * * * *", dataHours: 1, pushHours: 1, closeHours: 1, definition: {collectionId: c}}
"""


def test_example_loads_with_every_entity() -> None:
    project = load_project(EXAMPLE)
    assert (project.slug, project.name, project.path) == ("shop-prices", "Shop prices", str(EXAMPLE))
    assert "two shops" in project.readme
    assert [s.slug for s in project.schemas] == ["product", "product-prod"]
    assert [d.type for d in project.destinations] == ["S3", "SFTP", "STITCH"]
    assert [f.slug for f in project.flows] == ["mystagingflow", "myproductionflow"]
    staging = project.flow("mystagingflow")
    assert (staging.cron, staging.push_hours, staging.data_hours, staging.close_hours) == ("0 0,12 * * *", 2, 1, 3)
    assert (staging.definition.chunks, staging.definition.chunk_collect_hours) == (10, 1)
    production = project.flow("myproductionflow")
    assert (production.push_hours, production.data_hours, production.close_hours, production.active) == (24, 12, 48, False)
    assert production.definition.chunk_count == 48
    assert production.definition.input_bucket == "my-production-inputs"
    assert project.flow_collection(production).slug == "products"
    coll = project.collection("products-staging")
    assert coll.parameters == {"locale": "en_GB", "domain": "www.example-shop.co.uk"}
    assert [s.state for s in coll.sources] == ["ACTIVE", "INACTIVE"]
    assert [d.slug for d in project.collection_destinations(coll)] == ["staging-s3", "warehouse"]
    assert coll.checks == (Check("validation_errors.price.minimum", "absolute", op="<=", limit=0.0),)
    assert project.collection("products").data_store and project.collection("products").blank_row_for_no_data
    assert project.collection_schema("products").forked_from == "product"


def test_defaults() -> None:
    project = load_project_text(MINIMAL, "minimal.yaml")
    schema = project.schema("s")
    assert (schema.version, schema.status, schema.forked_from) == (1, "DRAFT", None)
    assert project.schema("s").fields[0].required is False
    dest = project.destination("out")
    assert (dest.format, dest.active, dest.table, dest.key_fields) == ("JSON", False, None, ())
    assert dest.path_template == "{project}/{collection}/:YYYY/:MM/:DD"
    assert dest.filename_template == "{flow}_{source}_{snapshot}.{ext}"
    coll = project.collection("c")
    assert (coll.data_store, coll.blank_row_for_no_data, coll.checks) == (False, False, ())
    assert coll.sources[0].state == "INACTIVE" and not coll.sources[0].active
    flow = project.flow("f")
    assert (flow.active, flow.type) == (False, "SIMPLE")
    assert flow.definition.input_connection == "aws_default"
    assert (flow.definition.chunk_count, flow.chunk_hours) == (1, 1)
    assert project.readme == ""


def test_stitch_table_defaults_to_collection() -> None:
    data = example_data()
    del data["destinations"][2]["table"]
    project = load_project_text(yaml.safe_dump(data), "t.yaml")
    warehouse = project.destination("warehouse")
    assert warehouse.table == "{collection}"
    assert warehouse.table_name({"project": "p", "collection": "products"}) == "products"
    assert warehouse.path_template is None


def test_yaml_syntax_error_names_file_and_line() -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_text("project:\n  slug: p\n  name: [unclosed\n", "broken.yaml")
    assert str(caught.value) == (
        "broken.yaml: 1 configuration error\n  - (file) (line 4): YAML syntax error: while parsing a flow sequence "
        "started on line 3; expected ',' or ']', but got '<stream end>'"
    )
    with pytest.raises(ConfigError, match=r"^broken\.yaml: 1 configuration error\n  - \(file\) \(line 3\): YAML syntax"):
        load_project_text("project:\n  slug: p\n name: x\n", "broken.yaml")


def test_tabs_and_bad_indent_are_syntax_errors() -> None:
    with pytest.raises(ConfigError, match=r"bad\.yaml.*\n.*line 2.*YAML syntax error"):
        load_project_text("project:\n\tslug: p\n", "bad.yaml")


def test_duplicate_yaml_key_is_an_error_with_both_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        load_project_text(MINIMAL.replace("project: {slug: p, name: P}", "project: {slug: p, name: P, slug: q}"), "dup.yaml")
    assert ("project.slug", "duplicate key 'slug' on line 1 (first on line 1)") in caught.value.errors


@pytest.mark.parametrize("text", ["", "# only a comment\n", "- a list\n", "just text\n"])
def test_empty_or_non_mapping_file(text: str) -> None:
    with pytest.raises(ConfigError, match=r"^e\.yaml: 1 configuration error\n.*'project'"):
        load_project_text(text, "e.yaml")


def test_alias_bomb_is_refused() -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]\n" for i in range(6)
    )
    with pytest.raises(ConfigError, match="nodes"):
        load_project_text(bomb, "bomb.yaml")


def test_errors_are_collected_in_file_order_with_lines() -> None:
    text = MINIMAL.replace("dataHours: 1,", "dataHours: 2,").replace("schema: s\n", "schema: nope\n").replace(
        "bucket: my-bucket", "bucket: my-bucket, password: hunter2"
    )
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, "many.yaml")
    error = caught.value
    paths = [path for path, _ in error.errors]
    assert paths == ["destinations[0].password", "collections[0].schema", "flows[0].pushHours"]
    assert error.line_of("collections[0].schema") == 11
    assert "collections[0].schema (line 11): unknown schema 'nope'" in str(error)
    assert "hunter2" not in str(error)


def test_load_project_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_project(tmp_path / "missing.yaml")
    (tmp_path / "latin.yaml").write_bytes(b"project: {slug: p, name: \xe9}\n")
    with pytest.raises(ConfigError, match="cannot read the file"):
        load_project(tmp_path / "latin.yaml")


def test_load_projects_keeps_going_past_a_bad_file(tmp_path: Path) -> None:
    shutil.copy(EXAMPLE, tmp_path / "a-good.yaml")
    (tmp_path / "b-bad.yml").write_text(MINIMAL.replace('cron: "0 * * * *"', 'cron: "every hour"'))
    (tmp_path / "c-minimal.yaml").write_text(MINIMAL)
    (tmp_path / "d-same-slug.yaml").write_text(MINIMAL)
    (tmp_path / "notes.txt").write_text("not a project")
    (tmp_path / "sub").mkdir()
    projects, errors = load_projects(tmp_path)
    assert [p.slug for p in projects] == ["shop-prices", "p"]
    assert sorted(path.name for path in errors) == ["b-bad.yml", "d-same-slug.yaml"]
    assert_issue(errors[tmp_path / "b-bad.yml"], "flows[0].cron", "5 fields", name=str(tmp_path / "b-bad.yml"))
    assert "already used by" in str(errors[tmp_path / "d-same-slug.yaml"])


def test_valid_example_after_yaml_round_trip() -> None:
    # the helpers' dump of the example is itself valid, so every failing case below fails for its own reason
    load_project_text(yaml.safe_dump(example_data()), "roundtrip.yaml")
    error = config_error({"project": {"slug": "p"}})
    assert_issue(error, "project.name", "required key 'name' is missing")


def test_modules_do_not_import_airflow() -> None:
    import subprocess
    import sys

    code = (
        "import sys\n"
        "import airflow_provider_importio.workbench.config\n"
        "import airflow_provider_importio.workbench.templates\n"
        "import airflow_provider_importio.workbench.windows\n"
        "print(sorted(m for m in sys.modules if m == 'airflow' or m.startswith('airflow.')))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "[]"


def test_file_schema_is_valid_json_schema() -> None:
    from jsonschema import Draft202012Validator

    from airflow_provider_importio.workbench.config import PROJECT_FILE_SCHEMA

    Draft202012Validator.check_schema(PROJECT_FILE_SCHEMA)
    assert set(PROJECT_FILE_SCHEMA["properties"]) == {"project", "schemas", "destinations", "collections", "flows", "alarms", "alarmGroups"}
