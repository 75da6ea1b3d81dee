"""The template engine: placeholders, colon tokens, variable sets, sanitising, safe_join."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from airflow_provider_importio.workbench import templates
from airflow_provider_importio.workbench.config import load_project
from airflow_provider_importio.workbench.templates import (
    TemplateError,
    check_template,
    destination_variables,
    input_variables,
    render,
    safe_join,
    sanitize_value,
    template_variables,
    time_variables,
)
from tests.unit.workbench.helpers import EXAMPLE

NEW_YEAR_2027 = datetime(2027, 1, 1, 6, 30, tzinfo=timezone.utc)


def test_guide_input_uri_with_colon_tokens() -> None:
    values = input_variables(moment=NEW_YEAR_2027, project="shop", collection="products", flow="prod",
                             source="shop-a", bucketname="in-bucket")
    uri = render("s3://{bucketname}/:YYYY/:ww/:source/inputs.json", values)
    assert uri == "s3://in-bucket/2027/53/shop-a/inputs.json"


def test_iso_week_at_the_year_boundary() -> None:
    values = time_variables(NEW_YEAR_2027)
    assert (values["YYYY"], values["ww"], values["GGGG"]) == ("2027", "53", "2026")
    assert time_variables(datetime(2024, 12, 30, tzinfo=timezone.utc))["ww"] == "01"
    assert time_variables(datetime(2024, 12, 30, tzinfo=timezone.utc))["GGGG"] == "2025"
    assert time_variables(datetime(2026, 1, 5, tzinfo=timezone.utc))["ww"] == "02"


def test_time_variables_are_utc_and_zero_padded() -> None:
    moment = datetime(2026, 3, 4, 1, 5, tzinfo=timezone(timedelta(hours=3)))  # 2026-03-03 22:05 UTC
    assert time_variables(moment) == {"YYYY": "2026", "MM": "03", "DD": "03", "HH": "22", "mm": "05",
                                      "ww": "10", "GGGG": "2026", "date": "2026-03-03"}
    with pytest.raises(ValueError, match="aware"):
        time_variables(datetime(2026, 1, 1))


def test_brace_and_colon_forms_are_the_same_variable() -> None:
    values = {"YYYY": "2026", "MM": "07", "source": "a"}
    assert render(":YYYY-:MM/{YYYY}{MM}/:source", values) == "2026-07/202607/a"


@pytest.mark.parametrize(("text", "expected"), [
    ("s3://bucket/x", "s3://bucket/x"),          # ':' before '/' is text
    ("host:8080/{source}", "host:8080/a"),       # ':' before a digit is text
    ("a::b/{{x}}", "a:b/{x}"),                   # escapes
    ("t=12::30", "t=12:30"),
])
def test_literal_colons_and_braces(text: str, expected: str) -> None:
    assert render(text, {"source": "a"}) == expected


def test_destination_variables_render() -> None:
    values = destination_variables(moment=NEW_YEAR_2027, project="p", collection="c", flow="f", source="s",
                                   snapshot="snap-1", delivery="del-9", chunk=7, format="csv")
    text = "{project}/{collection}/{flow}/:date/:HH:mm/{HH}:{mm}/{delivery}/{snapshot}-{chunk}-:source.{ext}+{format}"
    assert render(text, values) == "p/c/f/2027-01-01/0630/06:30/del-9/snap-1-7-s.csv+CSV"
    assert set(values) == templates.DESTINATION_VARIABLES


def test_check_template_unknown_variables_per_kind() -> None:
    assert check_template("s3://{bucketname}/:YYYY/:ww/:source/inputs.json", "input") == []
    assert check_template("{project}/:YYYY/:MM/:DD/{snapshot}_{chunk}.{ext}", "destination") == []
    assert any("'snapshot'" in e for e in check_template("s3://b/{snapshot}", "input"))
    assert any("'mm'" in e for e in check_template("s3://b/:mm", "input"))
    assert any("'bucketname'" in e for e in check_template("{bucketname}/x", "destination"))
    assert any("'YYY'" in e for e in check_template(":YYY/x", "destination"))
    assert any("'yyyy'" in e for e in check_template("{yyyy}", "destination"))  # names are case sensitive
    with pytest.raises(ValueError, match="kind"):
        check_template("x", "table")


@pytest.mark.parametrize(("text", "fragment"), [
    ("{project", "unbalanced '{'"),
    ("project}", "unbalanced '}'"),
    ("{}", "malformed placeholder"),
    ("{YYYY:04d}", "malformed placeholder"),
])
def test_check_template_syntax(text: str, fragment: str) -> None:
    errors = check_template(text, "destination")
    assert any(fragment in e for e in errors), errors
    with pytest.raises(TemplateError, match=fragment.split("'")[0]):
        render(text, {"project": "p", "YYYY": "2026"})


def test_template_variables_in_order() -> None:
    assert template_variables("s3://{bucketname}/:YYYY/{YYYY}/:source") == ["bucketname", "YYYY", "source"]


def test_render_missing_variable() -> None:
    with pytest.raises(TemplateError, match="no value for variable 'snapshot'"):
        render("{source}/{snapshot}", {"source": "a"})


@pytest.mark.parametrize(("value", "expected"), [
    ("a/b", "a_b"), ("..", "__"), (".", "_"), ("a\\b", "a_b"), ("a\x00b\nc", "a_b_c"), ("v1.2", "v1.2"), (7, "7"),
])
def test_sanitize_value(value: object, expected: str) -> None:
    assert sanitize_value(value) == expected


def test_values_cannot_inject_path_segments() -> None:
    rendered = render("{project}/:source/{snapshot}.json", {"project": "../..", "source": "/etc/passwd", "snapshot": ".."})
    assert rendered == ".._../_etc_passwd/__.json"  # no value adds a separator or a '..' segment
    assert safe_join("/upload", rendered) == "/upload/.._../_etc_passwd/__.json"


@pytest.mark.parametrize(("base", "path", "expected"), [
    ("", "a/b.json", "a/b.json"),
    ("", "a//./b/", "a/b"),
    ("prefix/", "a/b", "prefix/a/b"),
    ("/upload/prices", "2026/01/x.csv", "/upload/prices/2026/01/x.csv"),
    ("/", "x.csv", "/x.csv"),
    ("upload", "x", "upload/x"),
])
def test_safe_join_normalises(base: str, path: str, expected: str) -> None:
    assert safe_join(base, path) == expected


@pytest.mark.parametrize("path", [
    "../x", "a/../../x", "a/..", "..", "/etc/passwd", "a\\..\\b", "a\\b", "a\x00b", "a\nb", "", "./", "//",
])
@pytest.mark.parametrize("base", ["/upload", "", "prefix"])
def test_safe_join_refuses_escapes(base: str, path: str) -> None:
    with pytest.raises(ValueError):
        safe_join(base, path)


def test_safe_join_refuses_a_bad_base() -> None:
    with pytest.raises(ValueError, match="base"):
        safe_join("/upload/../etc", "x")


def test_destination_object_path_stays_under_the_base() -> None:
    project = load_project(EXAMPLE)
    sftp, s3 = project.destination("customer-sftp"), project.destination("staging-s3")
    values = destination_variables(moment=NEW_YEAR_2027, project=project.slug, collection="../../etc", flow="f",
                                   source="a/b", snapshot="s1", delivery="d1", chunk=3, format="ignored")
    assert sftp.object_path(values) == "/upload/prices/2027/53/.._.._etc_2027-01-01_a_b_3.csv"
    assert s3.object_path(values) == "shop-prices/.._.._etc/2027/01/01/06/a_b_s1.ndjson"
    with pytest.raises(ValueError, match="table"):
        project.destination("warehouse").object_path(values)
