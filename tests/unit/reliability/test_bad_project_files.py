"""The bad-input corpus, project files: the exact message a user sees for each malformed project file.

Each case is one bad file (the example project with one thing broken, or raw text) and the whole
``ConfigError`` text it gives: the file's name, how many problems, and for each its path in the
file, its line and what is wrong. The rules themselves are tested one by one in
``tests/unit/workbench/test_config_*.py``; this is the catalogue of what a person reads.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from airflow_provider_importio.workbench.config import ConfigError, load_project, load_project_text
from tests.unit.workbench.helpers import example_data

NAME = "shop.yaml"


def _edit(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    """Set ``value`` at a dotted path of the example project (``"flows.0.cron"``)."""
    *parents, last = path.split(".")

    def apply(data: dict[str, Any]) -> None:
        node: Any = data
        for part in parents:
            node = node[int(part)] if part.isdigit() else node[part]
        node[int(last) if last.isdigit() else last] = value

    return apply


def _error_of_text(text: str) -> str:
    with pytest.raises(ConfigError) as caught:
        load_project_text(text, NAME)
    return str(caught.value)


RAW = [
    ("yaml-syntax", "project: {slug: p\nschemas: [\n  - x: 1\n",
     "shop.yaml: 1 configuration error\n"
     "  - (file) (line 2): YAML syntax error: while parsing a flow mapping started on line 1; expected ',' or '}', "
     "but got ':'"),
    ("empty-file", "",
     "shop.yaml: 1 configuration error\n  - (file): file is empty; it must hold a mapping with a 'project' key"),
    ("a-list-not-a-mapping", "- a\n- b\n",
     "shop.yaml: 1 configuration error\n  - (file): the file must hold a mapping with a 'project' key, not a list"),
    ("duplicate-key", "project: {slug: p, name: P}\nproject: {slug: q, name: Q}\n",
     "shop.yaml: 1 configuration error\n  - project (line 1): duplicate key 'project' on line 2 (first on line 1)"),
]


@pytest.mark.parametrize(("text", "message"), [c[1:] for c in RAW], ids=[c[0] for c in RAW])
def test_a_malformed_file(text: str, message: str) -> None:
    assert _error_of_text(text) == message


EDITS = [
    ("unknown-schema", _edit("collections.0.schema", "nope"),
     "  - collections[0].schema (line 76): unknown schema 'nope'; schemas defined in this file: product, product-prod"),
    ("unknown-destination", _edit("collections.0.destinations", ["staging-s3", "nope"]),
     "  - collections[0].destinations[1] (line 90): unknown destination 'nope'; destinations defined in this file: "
     "customer-sftp, staging-s3, warehouse"),
    ("unknown-collection", _edit("flows.0.definition.collectionId", "nope"),
     "  - flows[0].definition.collectionId (line 137): unknown collection 'nope'; collections defined in this file: "
     "products, products-staging"),
    ("unknown-extractor-id-form", _edit("collections.0.sources.0.extractorId", "1234"),
     "  - collections[0].sources[0].extractorId (line 83): '1234' is not an extractor id "
     "(a guid like 8-4-4-4-12 hex digits)"),
    ("cron-four-fields", _edit("flows.0.cron", "0 0 * *"),
     "  - flows[0].cron (line 130): '0 0 * *' must have 5 fields: minute hour day-of-month month day-of-week"),
    ("cron-out-of-range", _edit("flows.0.cron", "61 * * * *"),
     "  - flows[0].cron (line 130): '61 * * * *' is not a valid cron expression"),
    ("cron-unknown-preset", _edit("flows.0.cron", "@fortnightly"),
     "  - flows[0].cron (line 130): unknown cron preset '@fortnightly'; use one of @annually, @daily, @hourly, "
     "@midnight, @monthly, @weekly, @yearly"),
    ("window-data-after-push", _edit("flows.1.dataHours", 30),
     "  - flows[1].pushHours (line 145): pushHours (24) is less than dataHours (30); "
     "the rule is dataHours ≤ pushHours ≤ closeHours"),
    ("window-push-after-close", _edit("flows.1.pushHours", 50),
     "  - flows[1].closeHours (line 147): closeHours (48) is less than pushHours (50); "
     "the rule is dataHours ≤ pushHours ≤ closeHours"),
    ("destination-path-escapes-bucket", _edit("destinations.0.pathTemplate", "{project}/../../other"),
     "  - destinations[0].pathTemplate (line 55): path 'x/../../other/x_x.json' has a '..' segment and could leave "
     "the bucket root (the templates rendered with every variable as 'x')"),
    ("destination-path-absolute", _edit("destinations.0.pathTemplate", "/{project}"),
     "  - destinations[0].pathTemplate (line 55): must be relative: it is joined under the bucket or directory"),
    ("destination-filename-with-slash", _edit("destinations.1.filenameTemplate", "{source}/{snapshot}.{ext}"),
     "  - destinations[1].filenameTemplate (line 65): must not contain '/': put directories in pathTemplate"),
    ("secret-in-the-file", _edit("destinations.0.secretAccessKey", "s3cr3t-value"),
     "  - destinations[0].secretAccessKey (line 58): 'secretAccessKey' looks like a credential: never put secrets in "
     "a project file; store them in an Airflow connection and give its id (destination 'connection', flow "
     "'definition.inputConnection')"),
]


@pytest.mark.parametrize(("edit", "issue"), [c[1:] for c in EDITS], ids=[c[0] for c in EDITS])
def test_a_bad_value_in_the_example(edit: Callable[[dict[str, Any]], None], issue: str) -> None:
    data = example_data()
    edit(data)
    message = _error_of_text(yaml.safe_dump(data, sort_keys=False))
    assert message == f"shop.yaml: 1 configuration error\n{issue}"
    assert "s3cr3t-value" not in message


def test_an_sftp_directory_escaping_its_root_is_reported_once() -> None:
    data = example_data()
    _edit("destinations.1.directory", "/upload/../etc")(data)
    assert _error_of_text(yaml.safe_dump(data, sort_keys=False)) == (
        "shop.yaml: 1 configuration error\n"
        "  - destinations[1].directory (line 63): base '/upload/../etc' has a '..' segment")


def test_a_missing_file(tmp_path: Path) -> None:
    missing = tmp_path / "shop.yaml"
    with pytest.raises(ConfigError) as caught:
        load_project(missing)
    assert str(caught.value) == (f"{missing}: 1 configuration error\n"
                                 f"  - (file): cannot read the file: [Errno 2] No such file or directory: '{missing}'")


def test_a_directory_in_place_of_the_file(tmp_path: Path) -> None:
    directory = tmp_path / "shop.yaml"
    directory.mkdir()
    with pytest.raises(ConfigError) as caught:
        load_project(directory)
    assert str(caught.value) == (f"{directory}: 1 configuration error\n"
                                 f"  - (file): cannot read the file: [Errno 21] Is a directory: '{directory}'")


def test_a_file_that_is_not_utf8_text(tmp_path: Path) -> None:
    binary = tmp_path / "shop.yaml"
    binary.write_bytes(b"\xff\xfe\x00project")
    with pytest.raises(ConfigError) as caught:
        load_project(binary)
    assert str(caught.value) == (f"{binary}: 1 configuration error\n  - (file): cannot read the file: "
                                 "'utf-8' codec can't decode byte 0xff in position 0: invalid start byte")
