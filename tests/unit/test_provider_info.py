from __future__ import annotations

import json
from importlib.metadata import entry_points, version
from pathlib import Path

import airflow
import jsonschema

from airflow_provider_importio.get_provider_info import get_provider_info


def test_provider_info_validates_against_airflows_schema():
    schema = json.loads((Path(airflow.__file__).parent / "provider_info.schema.json").read_text())
    jsonschema.validate(get_provider_info(), schema)


def test_entry_point_and_package_name_match_the_distribution():
    (ep,) = [e for e in entry_points(group="apache_airflow_provider") if e.value.startswith("airflow_provider_importio")]
    info = ep.load()()
    assert info["package-name"] == "airflow-provider-importio"
    assert info["versions"] == [version("airflow-provider-importio")]


def test_connection_form_fields_for_the_airflow_ui():
    conns = {c["connection-type"]: c for c in get_provider_info()["connection-types"]}
    assert set(conns) == {"importio", "stitch_connect", "stitch_import", "importio_store"}
    assert conns["importio"]["ui-field-behaviour"]["relabeling"]["password"] == "API key"
    assert conns["stitch_import"]["conn-fields"]["region"]["schema"]["default"] == "north-america"
    assert conns["importio_store"]["conn-fields"]["url"]["schema"]["type"] == ["string", "null"]
    for conn in conns.values():
        if conn["connection-type"] != "importio_store":  # a database, not an HTTP API
            assert {"timeout", "max_retries", "backoff_base"} <= set(conn["conn-fields"])
        for field in conn["conn-fields"].values():
            assert field["label"] and field["description"] and "type" in field["schema"]
        module, _, cls = conn["hook-class-name"].rpartition(".")
        hook = getattr(__import__(module, fromlist=[cls]), cls)
        assert hook.conn_type == conn["connection-type"]
