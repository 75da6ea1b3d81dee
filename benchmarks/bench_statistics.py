"""QA statistics with schema validation over 1,000,000 result rows (issue 10).

Project: the pass the QA operator runs (``compute_statistics`` over ``iter_lines`` of the crawl run's
``json`` file, as ``operators.qa._statistics`` reads it) with the emulator's default fields and the
schema of ``tests/unit/workbench/test_statistics.py`` (name required ≤ 40 characters, price a number
≥ 0, link a URL), from a local file written once with the emulator's rows (1 in 10 pages broken,
duplicates, pages without data, 404s, errors, blocked pages: see ``_bench_support.result_urls``).

Baselines, in the same interleaved run:

* ``orjson.loads`` of every line of the same file, nothing else. Target: project time ≤ 3× this.
* ``json.loads`` + jsonschema per row, as a user would write it: each row's fields read and typed,
  then checked by a ``Draft202012Validator`` of the same row schema, built once (``iter_errors``, to
  count the errors per rule as the statistics do; ``jsonschema.validate()`` checks the schema on
  every call and is ~50× slower still). It runs ~10–15k rows/s, so it is timed on a prefix of the
  file (50,000 rows) and compared by rows/s: the ratio is project time ÷ its time for the same
  number of rows. Target: ≥ 10× faster (ratio ≤ 0.10).

A second line times the QA pass as the operator runs it, writing the rows file too
(``operators.qa._statistics``), against the same ``orjson.loads`` loop; reported, no target.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections import Counter
from pathlib import Path

import _bench_support as support
import orjson
from harness import Result, Side, compare

FULL_ROWS, QUICK_ROWS = 1_000_000, 20_000
FULL_PREFIX, QUICK_PREFIX = 50_000, 5_000


def run(quick: bool) -> list[Result]:
    from airflow_provider_importio.operators.qa import QaSpec, _statistics
    from airflow_provider_importio.workbench.config_codec import schema_to_dict
    from airflow_provider_importio.workbench.record_files import iter_lines
    from airflow_provider_importio.workbench.statistics import compute_statistics

    rows_wanted = QUICK_ROWS if quick else FULL_ROWS
    prefix_wanted = QUICK_PREFIX if quick else FULL_PREFIX
    repeat = 3 if quick else 5
    schema = support.product_schema()
    tmp = Path(tempfile.mkdtemp(prefix="importio-bench-statistics-"))
    try:
        results = tmp / "results.json"
        prefix = tmp / "prefix.json"  # the same first inputs: a prefix of results.json
        lines = support.write_results_file(results, rows_wanted)
        support.write_results_file(prefix, prefix_wanted)

        def statistics_of(path: Path):
            with path.open("rb") as stream:
                return compute_statistics(iter_lines(stream), schema)

        total_rows = statistics_of(results).total_rows
        prefix_stats = statistics_of(prefix)

        def project() -> int:
            return statistics_of(results).total_rows

        def orjson_loop() -> int:
            loads = orjson.loads
            with results.open("rb") as stream:
                for line in stream:
                    loads(line)
            return total_rows  # the same file: per-second figures in rows

        user_pass = _json_and_jsonschema(schema, prefix)
        checked = user_pass()
        assert (checked.rows, checked.valid) == (prefix_stats.total_rows, prefix_stats.valid_rows), (
            "the jsonschema baseline must see the rows the project sees", checked, prefix_stats)

        def jsonschema_loop() -> int:
            return user_pass().rows

        orjson_name = "orjson.loads loop"
        jsonschema_name = f"json.loads + jsonschema (first {prefix_stats.total_rows:,} rows)"
        found = compare(
            "statistics", Side(f"compute_statistics, {total_rows:,} rows from {lines:,} lines", project),
            [Side(orjson_name, orjson_loop), Side(jsonschema_name, jsonschema_loop)],
            repeat=repeat, warmup=1,
            targets={orjson_name: ("≤ 3× (aim ≤ 2.5×)", lambda ratio: ratio <= 3.0)},
        )
        ours, _, slow = found
        # (b) ran on fewer rows: compare rates, i.e. project time ÷ (b)'s time for the same rows.
        slow.ratio = (ours.median_s / ours.items) / (slow.median_s / slow.items)
        slow.target, slow.met = "≥ 10× faster (≤ 0.10×)", slow.ratio <= 0.10
        slow.note = (f"timed on a {slow.items:,}-row prefix, ratio by rows/s; "
                     f"{ours.per_s / slow.per_s:.0f}× faster")

        spec = QaSpec(schema_to_dict(schema), [], "products", False, None)
        rows_file = tmp / "rows.ndjson"

        def qa_pass() -> int:
            with rows_file.open("wb") as out:
                return _statistics(str(results), spec, out).total_rows

        qa = compare("statistics", Side("QA pass writing the rows file (operators.qa._statistics)", qa_pass),
                     [Side(orjson_name, orjson_loop)], repeat=max(2, repeat - 2), warmup=1)
        qa[1].note = "the line above's time ÷ this; no target"
        return [*found, *qa]
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


class _Counts:
    def __init__(self) -> None:
        self.rows = self.valid = 0
        self.errors: Counter[str] = Counter()
        self.seen: set[tuple] = set()
        self.duplicates = 0

    def __repr__(self) -> str:
        return f"rows={self.rows} valid={self.valid} errors={dict(self.errors)}"


def _json_and_jsonschema(schema, path: Path):
    """Baseline (b): ``json.loads`` per line, each row typed and validated by jsonschema, per-rule counts."""
    from jsonschema import Draft202012Validator

    from airflow_provider_importio.workbench.fast_validation import coerce_text
    from airflow_provider_importio.workbench.row_schema import build_row_schema, rule_name

    validator = Draft202012Validator(build_row_schema(schema))
    fields = [(f.name, f.type, f.type in ("URL", "IMAGE")) for f in schema.fields]

    def run() -> _Counts:
        counts = _Counts()
        with path.open("rb") as stream:
            for line in stream:
                page = json.loads(line)
                result = page.get("result") or {}
                for block in (result.get("extractorData") or {}).get("data") or []:
                    for group in block.get("group") or []:
                        row = {}
                        for name, field_type, link in fields:
                            values = group.get(name)
                            if not values:
                                row[name] = None
                                continue
                            value = values[0]
                            text = (value.get("href") if link else None) or value.get("text", "")
                            row[name] = coerce_text(field_type, text)
                        if all(value is None for value in row.values()):
                            continue  # no value at all: filtered
                        key = tuple(row.values())
                        counts.duplicates += key in counts.seen
                        counts.seen.add(key)
                        row["_url"] = page.get("url")
                        broken = [rule_name(error) for error in validator.iter_errors(row)]
                        counts.rows += 1
                        counts.valid += not broken
                        counts.errors.update(broken)
        return counts

    return run
