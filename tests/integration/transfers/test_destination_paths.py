"""Rendered destination paths never leave the bucket prefix or the SFTP directory."""

from __future__ import annotations

import pytest

from airflow_provider_importio.transfers.destination_push import DeliveryPush
from airflow_provider_importio.transfers.destinations import (
    DestinationError,
    destination_from_dict,
    static_prefix,
)
from airflow_provider_importio.workbench.config_model import Destination
from tests.integration.transfers.conftest import (
    FIELDS,
    make_snapshot,
    push_operator,
    s3_destination,
    sftp_destination,
)

ESCAPES = [
    ({"path_template": "../{project}"}, "'..' segment"),
    ({"path_template": "{project}/../../.."}, "'..' segment"),
    ({"path_template": "/etc/{source}"}, "absolute"),
    ({"filename_template": "../{source}.{ext}"}, "must not contain '/'"),
    ({"filename_template": ".."}, "'..' segment"),
    ({"path_template": "a\\..\\b"}, "backslash"),
    ({"directory": "/upload/../etc"}, "'..' segment"),
    ({"path_template": "{nope}"}, "unknown variable"),
]


@pytest.mark.parametrize(("change", "message"), ESCAPES)
def test_a_template_that_could_escape_is_refused_when_the_dag_is_built(change, message):
    with pytest.raises(DestinationError, match=message):
        push_operator([], [sftp_destination("CSV", **change)])


@pytest.mark.parametrize(("change", "message"), [e for e in ESCAPES if "directory" not in e[0]])
def test_the_same_for_s3(change, message):
    with pytest.raises(DestinationError, match=message):
        destination_from_dict(s3_destination("CSV", **change))


def test_an_escaping_destination_that_reaches_a_push_is_refused_and_recorded(store, sftp_server):
    # Built by hand, skipping destination_from_dict: the push checks again before writing anything.
    sneaky = Destination(slug="sneaky", name="Sneaky", type="SFTP", connection="sftp_test", format="CSV",
                         directory="/upload", path_template="../../etc", active=True)
    snapshot = make_snapshot(store)
    outcomes = DeliveryPush(store, [sneaky], FIELDS, blank_row_for_no_data=True, actor="test").run([snapshot.id])
    assert [o.status for o in outcomes] == ["FAILED"]
    assert "'..' segment" in outcomes[0].error and "sneaky" in outcomes[0].error
    assert store.pushes(snapshot_id=snapshot.id)[0].error == outcomes[0].error
    assert not any(sftp_server.root.rglob("*")) and sftp_server.stats.connections == 0


def test_slugs_with_slashes_and_dots_stay_one_segment(store, sftp_server):
    snapshot = make_snapshot(store, source="../../../etc/passwd")  # not a valid slug, but from the store anyway
    push_operator([snapshot.id], [sftp_destination("CSV", path_template="{source}/:YYYY")]).execute({})
    (written,) = [p for p in sftp_server.root.rglob("*") if p.is_file()]
    relative = written.relative_to(sftp_server.root).as_posix()
    assert relative == "upload/prices/.._.._.._etc_passwd/2027/products_2027-01-01_.._.._.._etc_passwd_0.csv"


def test_two_snapshots_on_one_path_are_refused(store, sftp_server):
    first = make_snapshot(store, source="shop-a")
    second = make_snapshot(store, source="shop-b")
    destination = sftp_destination("CSV", filename_template="{collection}_{date}.{ext}")
    from airflow.sdk.exceptions import AirflowException

    with pytest.raises(AirflowException, match="would both be written to"):
        push_operator([first.id, second.id], [destination]).execute({})
    assert [p.name for p in sftp_server.root.rglob("*") if p.is_file()] == ["products_2027-01-01.csv"]
    assert store.pushes(snapshot_id=second.id)[0].status.value == "FAILED"


@pytest.mark.parametrize(("template", "prefix"), [
    ("{project}/{collection}/:YYYY", ""),
    ("exports/daily/{project}", "exports/daily"),
    ("exports//./x:YYYY", "exports"),
    (None, ""),
])
def test_the_fixed_prefix_of_a_path_template(template, prefix):
    assert static_prefix(template) == prefix


def test_destinations_come_back_from_asdict_or_camel_case():
    from dataclasses import asdict

    destination = destination_from_dict(s3_destination("xlsx"))
    assert destination_from_dict(asdict(destination)) == destination
    camel = {"slug": "s", "name": "S", "type": "s3", "connection": "aws_default", "bucket": "b",
             "pathTemplate": "x/{source}", "filenameTemplate": "{snapshot}.{ext}", "keyFields": []}
    assert destination_from_dict(camel).path_template == "x/{source}"
    with pytest.raises(DestinationError, match="unknown key"):
        destination_from_dict({**camel, "secret": "x"})
