"""Every rule of a project file, each with a bad file: the error names the file, the path and the rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.workbench.helpers import assert_issue, config_error, example_data

Mutation = Callable[[dict[str, Any]], None]


def _staging(d: dict[str, Any]) -> dict[str, Any]:
    return d["flows"][0]


def _prod(d: dict[str, Any]) -> dict[str, Any]:
    return d["flows"][1]


def _set(getter: Callable[[dict[str, Any]], dict[str, Any]], key: str, value: Any) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        getter(d)[key] = value
    return mutate


def _del(getter: Callable[[dict[str, Any]], dict[str, Any]], key: str) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        del getter(d)[key]
    return mutate


def _staging_def(d: dict[str, Any]) -> dict[str, Any]:
    return d["flows"][0]["definition"]


def _prod_def(d: dict[str, Any]) -> dict[str, Any]:
    return d["flows"][1]["definition"]


def _schema(d: dict[str, Any]) -> dict[str, Any]:
    return d["schemas"][0]


def _field(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: d["schemas"][0]["fields"][index]


def _rules(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: d["schemas"][0]["fields"][index].setdefault("rules", {})


def _dest(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: d["destinations"][index]


def _coll(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: d["collections"][index]


def _source(index: int) -> Callable[[dict[str, Any]], dict[str, Any]]:
    return lambda d: d["collections"][0]["sources"][index]


def _params(d: dict[str, Any]) -> dict[str, Any]:
    return d["collections"][0]["parameters"]


def _both(*mutations: Mutation) -> Mutation:
    def mutate(d: dict[str, Any]) -> None:
        for m in mutations:
            m(d)
    return mutate


CASES: list[tuple[str, Mutation, str, str]] = [
    # flow definition rules
    ("chunks-need-input", _del(_staging_def, "inputUriTemplate"), "flows[0].definition.chunks", "chunks requires inputUriTemplate"),
    ("chunk-hours-need-input", _del(_staging_def, "inputUriTemplate"), "flows[0].definition.chunkCollectHours",
     "chunkCollectHours requires inputUriTemplate"),
    ("data-after-push", _set(_prod, "dataHours", 30), "flows[1].pushHours", "dataHours ≤ pushHours ≤ closeHours"),
    ("push-after-close", _set(_prod, "pushHours", 50), "flows[1].closeHours", "dataHours ≤ pushHours ≤ closeHours"),
    ("chunk-hours-over-data", _set(_staging_def, "chunkCollectHours", 1.5), "flows[0].definition.chunkCollectHours",
     "chunkCollectHours ≤ dataHours"),
    ("chunks-zero", _set(_staging_def, "chunks", 0), "flows[0].definition.chunks", "integer ≥ 1"),
    ("chunks-fraction", _set(_staging_def, "chunks", 2.5), "flows[0].definition.chunks", "integer ≥ 1"),
    ("hours-zero", _set(_staging, "closeHours", 0), "flows[0].closeHours", "positive number of hours"),
    ("hours-huge", _set(_prod, "closeHours", 10**20), "flows[1].closeHours", "more than 10000 hours"),
    ("input-bucket-name", _set(_prod_def, "inputBucket", "Not A Bucket"), "flows[1].definition.inputBucket",
     "not an S3 bucket name"),
    ("hours-text", _set(_staging, "dataHours", "one"), "flows[0].dataHours", "is not of type 'number'"),
    ("hours-bool", _set(_staging, "pushHours", True), "flows[0].pushHours", "is not of type 'number'"),
    ("cron-fields", _set(_staging, "cron", "0 0 * *"), "flows[0].cron", "must have 5 fields"),
    ("cron-range", _set(_staging, "cron", "61 * * * *"), "flows[0].cron", "not a valid cron expression"),
    ("cron-seconds", _set(_staging, "cron", "0 0 0 * * *"), "flows[0].cron", "must have 5 fields"),
    ("cron-preset", _set(_staging, "cron", "@fortnightly"), "flows[0].cron", "unknown cron preset"),
    ("flow-type", _set(_staging, "type", "CHAINED"), "flows[0].type", "is not one of ['SIMPLE']"),
    ("flow-active-text", _set(_staging, "active", "maybe"), "flows[0].active", "is not of type 'boolean'"),
    ("flow-collection", _set(_staging_def, "collectionId", "nope"), "flows[0].definition.collectionId",
     "unknown collection 'nope'"),
    ("flow-missing-cron", _del(_staging, "cron"), "flows[0].cron", "required key 'cron' is missing"),
    ("input-scheme", _set(_staging_def, "inputUriTemplate", "https://x/in.json"), "flows[0].definition.inputUriTemplate",
     "must be an s3:// URI"),
    ("input-unknown-var", _set(_staging_def, "inputUriTemplate", "s3://b/:YYYY/{snapshot}.json"),
     "flows[0].definition.inputUriTemplate", "unknown variable 'snapshot'"),
    ("input-unknown-colon", _set(_staging_def, "inputUriTemplate", "s3://b/:YYY/in.json"),
     "flows[0].definition.inputUriTemplate", "unknown variable 'YYY'"),
    ("input-bucketname", _del(_prod_def, "inputBucket"), "flows[1].definition.inputBucket", "uses {bucketname}"),
    ("input-connection", _set(_staging_def, "inputConnection", "s3://AKIA:x@bucket"),
     "flows[0].definition.inputConnection", "not an Airflow connection id"),
    ("unknown-key", _set(_staging_def, "chunkz", 3), "flows[0].definition.chunkz", "did you mean 'chunks'?"),
    ("unknown-top", lambda d: d.update(flow=[]), "flow", "did you mean 'flows'?"),
    # slugs
    ("slug-case", _set(_prod, "slug", "MyFlow"), "flows[1].slug", "not a well-formed slug"),
    ("slug-digit", _set(_coll(0), "slug", "1coll"), "collections[0].slug", "not a well-formed slug"),
    ("slug-long", _set(_dest(0), "slug", "a" * 65), "destinations[0].slug", "at most 64 characters"),
    ("slug-space", lambda d: d["project"].update(slug="shop prices"), "project.slug", "not a well-formed slug"),
    ("dup-schema", _set(lambda d: d["schemas"][1], "slug", "product"), "schemas[1].slug", "duplicate schema slug 'product'"),
    ("dup-destination", _set(_dest(1), "slug", "staging-s3"), "destinations[1].slug", "duplicate destination slug"),
    ("dup-collection", _set(_coll(1), "slug", "products-staging"), "collections[1].slug", "duplicate collection slug"),
    ("dup-flow", _set(_prod, "slug", "mystagingflow"), "flows[1].slug", "duplicate flow slug"),
    ("dup-source", _set(_source(1), "slug", "shop-a"), "collections[0].sources[1].slug", "duplicate source slug 'shop-a'"),
    # references
    ("coll-schema", _set(_coll(0), "schema", "nope"), "collections[0].schema", "unknown schema 'nope'"),
    ("coll-destination", _set(_coll(0), "destinations", ["staging-s3", "nope"]), "collections[0].destinations[1]",
     "unknown destination 'nope'"),
    ("coll-destination-twice", _set(_coll(0), "destinations", ["staging-s3", "staging-s3"]),
     "collections[0].destinations[1]", "linked twice"),
    ("fork-missing", _set(lambda d: d["schemas"][1], "forkedFrom", "nope"), "schemas[1].forkedFrom", "unknown schema 'nope'"),
    ("fork-self", _set(lambda d: d["schemas"][1], "forkedFrom", "product-prod"), "schemas[1].forkedFrom",
     "cannot be forked from itself"),
    ("fork-cycle", _both(_set(_schema, "forkedFrom", "product-prod"), _del(_schema, "fields")), "schemas[0].forkedFrom",
     "forkedFrom cycle"),
    # schemas and fields
    ("no-fields", _del(_schema, "fields"), "schemas[0].fields", "at least one field"),
    ("status", _set(_schema, "status", "LIVE"), "schemas[0].status", "is not one of ['DRAFT', 'PRODUCTION']"),
    ("version", _set(_schema, "version", 0), "schemas[0].version", "less than the minimum of 1"),
    ("field-type", _set(_field(0), "type", "MONEY"), "schemas[0].fields[0].type", "is not one of"),
    ("field-name", _set(_field(0), "name", "_url"), "schemas[0].fields[0].name", "not a valid field name"),
    ("field-name-dot", _set(_field(0), "name", "a.b"), "schemas[0].fields[0].name", "not a valid field name"),
    ("field-dup", _set(_field(1), "name", "name"), "schemas[0].fields[1].name", "duplicate field name 'name'"),
    ("rule-minimum-on-text", _set(_rules(0), "minimum", 1), "schemas[0].fields[0].rules.minimum",
     "applies to NUMBER and INTEGER"),
    ("rule-pattern-on-number", _set(_rules(1), "pattern", "^1"), "schemas[0].fields[1].rules.pattern", "applies to text fields"),
    ("rule-bad-regex", _set(_rules(3), "pattern", "([A-Z"), "schemas[0].fields[3].rules.pattern", "not a valid regular expression"),
    ("rule-min-max", _set(_rules(1), "maximum", -1), "schemas[0].fields[1].rules.maximum", "less than minimum"),
    ("rule-length", _set(_rules(0), "minLength", 600), "schemas[0].fields[0].rules.maxLength", "less than minLength"),
    ("rule-enum-type", _set(_rules(2), "enum", ["GBP", 3]), "schemas[0].fields[2].rules.enum[1]", "not a valid STRING value"),
    ("rule-unknown", _set(_rules(1), "min", 0), "schemas[0].fields[1].rules.min", "unknown key 'min'"),
    # destinations
    ("s3-bucket", _del(_dest(0), "bucket"), "destinations[0].bucket", "required (and non-empty) for S3"),
    ("s3-bucket-name", _set(_dest(0), "bucket", "My_Bucket"), "destinations[0].bucket", "not an S3 bucket name"),
    ("sftp-directory", _del(_dest(1), "directory"), "destinations[1].directory", "required (and non-empty) for SFTP"),
    ("sftp-directory-dotdot", _set(_dest(1), "directory", "/upload/../etc"), "destinations[1].directory", "'..'"),
    ("sftp-bucket", _set(_dest(1), "bucket", "my-bucket"), "destinations[1].bucket", "does not apply to SFTP"),
    ("stitch-keys", _del(_dest(2), "keyFields"), "destinations[2].keyFields", "required (and non-empty) for STITCH"),
    ("stitch-keys-empty", _set(_dest(2), "keyFields", []), "destinations[2].keyFields", "required (and non-empty) for STITCH"),
    ("stitch-xlsx", _set(_dest(2), "format", "XLSX"), "destinations[2].format", "XLSX is not a format for STITCH"),
    ("stitch-path", _set(_dest(2), "pathTemplate", "{project}"), "destinations[2].pathTemplate", "does not apply to STITCH"),
    ("stitch-key-not-in-schema", _set(_dest(2), "keyFields", ["sku", "ean"]), "collections[0].destinations[1]",
     "keyFields ['ean'] that are not fields of schema 'product'"),
    ("stitch-key-not-in-fork", _set(lambda d: d["schemas"][1], "fields", [{"name": "title", "type": "STRING"}]),
     "collections[1].destinations[1]", "not fields of schema 'product-prod'"),
    ("stitch-table-var", _set(_dest(2), "table", "{projekt}"), "destinations[2].table", "unknown variable 'projekt'"),
    ("dest-type", _set(_dest(0), "type", "FTP"), "destinations[0].type", "is not one of ['S3', 'SFTP', 'STITCH']"),
    ("dest-format", _set(_dest(0), "format", "PARQUET"), "destinations[0].format", "is not one of"),
    ("dest-connection-missing", _del(_dest(0), "connection"), "destinations[0].connection", "required key 'connection'"),
    ("dest-path-var", _set(_dest(0), "pathTemplate", "{project}/:YYYY/{bucket}"), "destinations[0].pathTemplate",
     "unknown variable 'bucket'"),
    ("dest-path-brace", _set(_dest(0), "pathTemplate", "{project/:YYYY"), "destinations[0].pathTemplate", "unbalanced '{'"),
    ("dest-path-placeholder", _set(_dest(0), "pathTemplate", "{pro ject}/:YYYY"), "destinations[0].pathTemplate",
     "malformed placeholder"),
    ("dest-path-absolute", _set(_dest(0), "pathTemplate", "/{project}"), "destinations[0].pathTemplate", "must be relative"),
    ("dest-path-dotdot", _set(_dest(0), "pathTemplate", "{project}/../../other"), "destinations[0].pathTemplate", "'..'"),
    ("dest-filename-slash", _set(_dest(1), "filenameTemplate", "{source}/{snapshot}.{ext}"), "destinations[1].filenameTemplate",
     "must not contain '/'"),
    ("dest-active", _set(_dest(0), "active", "yes"), "destinations[0].active", "is not of type 'boolean'"),
    # collections and sources
    ("param-case", lambda d: d["collections"][0]["parameters"].update(Domain="x.com"), "collections[0].parameters.Domain",
     "keys are case sensitive, write 'domain'"),
    ("param-missing", _del(_params, "locale"), "collections[0].parameters.locale", "required key 'locale'"),
    ("param-domain", _set(_params, "domain", "https://www.example.com/"), "collections[0].parameters.domain",
     "bare domain name"),
    ("param-locale", _set(_params, "locale", "English"), "collections[0].parameters.locale", "not a locale"),
    ("param-extra", _set(_params, "currency", "GBP"), "collections[0].parameters.currency", "unknown key 'currency'"),
    ("source-guid", _set(_source(0), "extractorId", "1234"), "collections[0].sources[0].extractorId", "not an extractor id"),
    ("source-state", _set(_source(0), "state", "RUNNING"), "collections[0].sources[0].state", "['ACTIVE', 'INACTIVE']"),
    ("source-state-bool", _set(_source(0), "state", True), "collections[0].sources[0].state", "quote the value"),
    ("checks-not-list", _set(_coll(0), "checks", {"metric": "x"}), "collections[0].checks", "must be a list of mappings"),
    ("checks-item", _set(_coll(0), "checks", ["rows > 0"]), "collections[0].checks[0]", "is not of type 'object'"),
    ("data-store-text", _set(_coll(0), "dataStore", "on"), "collections[0].dataStore", "is not of type 'boolean'"),
    ("blank-row-text", _set(_coll(0), "blankRowForNoData", 1), "collections[0].blankRowForNoData", "is not of type 'boolean'"),
]


@pytest.mark.parametrize(("mutation", "path", "fragment"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_rule(mutation: Mutation, path: str, fragment: str) -> None:
    data = example_data()
    mutation(data)
    assert_issue(config_error(data), path, fragment)


SECRETS = ["accessKeyId", "secretAccessKey", "password", "token", "apiKey", "api_key", "private_key", "encryptedConfig"]


@pytest.mark.parametrize("key", SECRETS)
def test_secret_keys_are_rejected_with_a_pointer_to_connections(key: str) -> None:
    data = example_data()
    data["destinations"][0][key] = "s3cr3t-value"
    data["flows"][1]["definition"][key] = "s3cr3t-value"
    error = config_error(data)
    for path in (f"destinations[0].{key}", f"flows[1].definition.{key}"):
        assert_issue(error, path, "looks like a credential")
        assert_issue(error, path, "Airflow connection")
    assert not any("unknown key" in message for _, message in error.errors)
    assert "s3cr3t-value" not in str(error)


def test_all_errors_of_a_file_are_reported_together() -> None:
    data = example_data()
    data["flows"][0]["definition"]["chunks"] = 0
    data["collections"][1]["schema"] = "nope"
    data["destinations"][1]["secretAccessKey"] = "x"
    data["schemas"][0]["fields"][1]["type"] = "MONEY"
    error = config_error(data)
    paths = {path for path, _ in error.errors}
    assert {"flows[0].definition.chunks", "collections[1].schema", "destinations[1].secretAccessKey",
            "schemas[0].fields[1].type"} <= paths
    assert str(error).startswith(f"bad.yaml: {len(error.errors)} configuration errors")


def test_identifiers_must_be_single_line() -> None:
    data = example_data()
    data["destinations"][0]["connection"] = "aws_staging\n"
    assert_issue(config_error(data), "destinations[0].connection", "single line")
