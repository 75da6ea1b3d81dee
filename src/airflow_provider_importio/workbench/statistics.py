"""Statistics of one snapshot (one source's crawl run), in one streaming pass over its JSON results.

:func:`compute_statistics` reads the crawl run's ``json`` file line by line (one line per input),
types and validates every extracted row against the collection schema, hands each delivered row
(valid or not, flagged) to ``rows_out`` (as a dict) or ``ndjson_out`` (as an NDJSON line) and
returns :class:`SnapshotStatistics`, whose
:meth:`~SnapshotStatistics.to_dict` is the flat name → value map the QA checks and
``Store.record_stats`` use. Every statistic is defined in ``docs/statistics.md``.

The pass is one function generated per schema (:func:`pass_source`), so a row costs no function
call of its own; its parts come from the modules that own the knowledge: the line shape and its
markers from :mod:`airflow_provider_importio.clients.importio_results` (``line_scan_source``,
``row_reader_source``), the typing and the rules from
:mod:`airflow_provider_importio.workbench.fast_validation` (the same rule names as ``row_schema``).

Memory: nothing grows with the file but the duplicate detection: one 64-bit hash per delivered row,
8 bytes in one of 64 ``array`` buckets (picked by the hash's top 6 bits), so ~8 MB for a million
rows. At the end each bucket's distinct hashes are counted in a ``set`` of its own, one bucket at a
time: a ``set`` of every row's hash would take ~70 bytes a row and, once larger than the CPU cache,
miss it on nearly every insert.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson

from airflow_provider_importio.clients.importio_results import (
    BLOCKED,
    SYSTEM_ERROR,
    line_scan_source,
    row_reader_source,
)
from airflow_provider_importio.workbench.fast_validation import Constants, columns, generate, typed_checks_source

if TYPE_CHECKING:
    from airflow_provider_importio.workbench.config_model import Schema

#: Prefix of the per-rule statistics (``validation_errors.price.minimum``).
VALIDATION_ERRORS = "validation_errors."
#: System columns added to every delivered row.
URL_COLUMN, STATUS_COLUMN, VALID_COLUMN, ERRORS_COLUMN = "_url", "_status", "_valid", "_errors"
#: HTTP statuses counted as "not found".
NOT_FOUND_STATUSES = frozenset({404, 410})
#: The statistic names, in the order :meth:`SnapshotStatistics.to_dict` gives them (then the rules).
STATISTIC_NAMES = (
    "total_inputs", "inputs_with_data", "total_rows", "valid_rows", "invalid_rows",
    "system_error_pct", "missing_html_pct", "no_data_200_pct", "not_found_pct", "blocked_pct",
    "rows_per_input", "duplicate_pct", "filtered_pct", "quality_score",
)

RowsOut = Callable[[dict[str, Any]], None]


class ResultFileError(ValueError):
    """A line of the crawl run's JSON file is not a JSON object; the message gives the line number."""


def _share(numerator: int, denominator: int, scale: float = 1.0) -> float:
    return scale * numerator / denominator if denominator else 0.0


@dataclass
class SnapshotStatistics:
    """The counts of one pass; the derived statistics are properties and :meth:`to_dict`."""

    total_inputs: int = 0
    system_errors: int = 0
    blocked: int = 0
    missing_html: int = 0
    not_found: int = 0
    responses_200: int = 0
    no_data_200: int = 0
    inputs_with_data: int = 0
    extracted_rows: int = 0
    filtered_rows: int = 0
    total_rows: int = 0
    valid_rows: int = 0
    duplicate_rows: int = 0
    #: Delivered rows breaking each rule of the schema (every rule listed, zeros included).
    validation_errors: dict[str, int] = field(default_factory=dict)

    @property
    def invalid_rows(self) -> int:
        return self.total_rows - self.valid_rows

    @property
    def fetched_inputs(self) -> int:
        """Inputs that got a page: neither a system error nor blocked."""
        return self.total_inputs - self.system_errors - self.blocked

    @property
    def quality_score(self) -> float:
        """Share of delivered rows that are valid × share of inputs fetched (0 without rows or inputs)."""
        return _share(self.valid_rows, self.total_rows) * _share(self.fetched_inputs, self.total_inputs)

    def to_dict(self) -> dict[str, float]:
        """The statistics by name (``docs/statistics.md``); percentages are 0–100."""
        stats = {
            "total_inputs": float(self.total_inputs),
            "inputs_with_data": float(self.inputs_with_data),
            "total_rows": float(self.total_rows),
            "valid_rows": float(self.valid_rows),
            "invalid_rows": float(self.invalid_rows),
            "system_error_pct": _share(self.system_errors, self.total_inputs, 100.0),
            "missing_html_pct": _share(self.missing_html, self.total_inputs, 100.0),
            "no_data_200_pct": _share(self.no_data_200, self.responses_200, 100.0),
            "not_found_pct": _share(self.not_found, self.total_inputs, 100.0),
            "blocked_pct": _share(self.blocked, self.total_inputs, 100.0),
            "rows_per_input": _share(self.total_rows, self.inputs_with_data),
            "duplicate_pct": _share(self.duplicate_rows, self.total_rows, 100.0),
            "filtered_pct": _share(self.filtered_rows, self.extracted_rows, 100.0),
            "quality_score": self.quality_score,
        }
        stats.update((VALIDATION_ERRORS + rule, float(count)) for rule, count in self.validation_errors.items())
        return stats


_PASS_TEMPLATE = """\
def run(lines, out, no_data_out, buckets, errors):
    total_inputs = blank = system_errors = blocked = missing_html = not_found = 0
    responses_200 = no_data_200 = inputs_with_data = extracted = delivered_rows = valid_rows = 0
    for line in lines:
        try:
            obj = _loads(line)
        except _JSONDecodeError as exc:
            if not line.strip():
                blank += 1
                continue
            raise _bad_line(total_inputs + blank + 1, exc) from None
        if obj.__class__ is not dict:
            raise _bad_line(total_inputs + blank + 1, None)
{scan}
        total_inputs += 1
        if error_type is not None:
            if error_type == _SYSTEM_ERROR:
                system_errors += 1
            elif error_type == _BLOCKED:
                blocked += 1
        elif not html_captured:
            missing_html += 1
        if status in _NOT_FOUND:
            not_found += 1
        delivered = 0
        for group in groups:
{read}
{check}
            if empty:
                continue
            delivered += 1
            _h = hash(({texts}))
            buckets[_h >> 58].append(_h)
            if failed is None:
                valid_rows += 1
{emit_valid}
            else:
                for rule in failed:
                    errors[rule] += 1
{emit_invalid}
        if delivered:
            inputs_with_data += 1
            delivered_rows += delivered
        elif no_data_out is not None:
            no_data_out(obj.get('url'))
        extracted += len(groups)
        if status == 200:
            responses_200 += 1
            if not delivered:
                no_data_200 += 1
    return dict(
        total_inputs=total_inputs, system_errors=system_errors, blocked=blocked, missing_html=missing_html,
        not_found=not_found, responses_200=responses_200, no_data_200=no_data_200,
        inputs_with_data=inputs_with_data, extracted_rows=extracted, filtered_rows=extracted - delivered_rows,
        total_rows=delivered_rows, valid_rows=valid_rows,
    )
"""


def _bad_line(number: int, error: Exception | None) -> ResultFileError:
    what = f"is not JSON: {error}" if error is not None else "is not a JSON object"
    return ResultFileError(f"line {number} of the results {what}")


#: What the pass does with each delivered row: hand it out as a dict, as an NDJSON line, or nothing.
_EMIT = {
    "dict": "out({row})",
    "ndjson": "out(_dumps({row}, option=_NDJSON_LINE))",
    None: None,
}


def pass_source(schema: Schema, emit: str | None = "dict") -> tuple[str, dict[str, Any]]:
    """The source of the pass for ``schema`` and the names it uses.

    ``run(lines, out, no_data_out, buckets, errors) -> counts`` is generated once per schema so that
    a row costs no function call of its own: the line is read by
    :func:`~airflow_provider_importio.clients.importio_results.line_scan_source`, each row's schema
    fields by :func:`~airflow_provider_importio.clients.importio_results.row_reader_source`, typed and
    checked by :func:`~airflow_provider_importio.workbench.fast_validation.typed_checks_source`.
    ``out`` gets each delivered row as ``emit`` says (``"dict"``, ``"ndjson"``: its line as bytes,
    ``None``: not at all); ``no_data_out`` (or ``None``) the ``url`` of each input that delivered no
    row; ``buckets`` (64 ``array("q")``) the hash of each delivered row's extracted values, in the
    one its top 6 bits pick (``hash() >> 58``, -32 to 31, indexes all 64); ``errors`` counts broken
    rules.
    """
    constants = Constants()
    scan, scan_names = line_scan_source("obj", indent=" " * 8)
    read, read_names = row_reader_source(columns(schema), group="group", prefix="c", indent=" " * 12)
    check = typed_checks_source(schema, constants, texts="c", values="v", indent=" " * 12)
    fields = "".join(f"{f.name!r}: v{i}, " for i, f in enumerate(schema.fields))
    system = f"{URL_COLUMN!r}: url, {STATUS_COLUMN!r}: status, {VALID_COLUMN!r}: "

    def emit_line(valid: bool) -> str:
        template = _EMIT[emit]
        if template is None:
            return ""
        row = f"{{{fields}{system}{valid}, {ERRORS_COLUMN!r}: {'[]' if valid else 'failed'}}}"
        return " " * 16 + template.format(row=row)

    source = _PASS_TEMPLATE.format(
        scan="\n".join(scan), read="\n".join(read), check="\n".join(check),
        texts="".join(f"c{i}, " for i in range(len(schema.fields))),
        emit_valid=emit_line(True), emit_invalid=emit_line(False),
    )
    names = {
        **scan_names, **read_names, **constants.namespace,
        "_loads": orjson.loads, "_JSONDecodeError": orjson.JSONDecodeError, "_bad_line": _bad_line,
        "_SYSTEM_ERROR": SYSTEM_ERROR, "_BLOCKED": BLOCKED, "_NOT_FOUND": NOT_FOUND_STATUSES,
        "_dumps": orjson.dumps, "_NDJSON_LINE": orjson.OPT_APPEND_NEWLINE,
    }
    return source, names


def compute_statistics(
    lines: Iterable[bytes | str], schema: Schema, *, rows_out: RowsOut | None = None,
    ndjson_out: Callable[[bytes], None] | None = None, no_data_out: Callable[[Any], None] | None = None,
) -> SnapshotStatistics:
    """Statistics of one crawl run's JSON results (one line per input), in one streaming pass.

    Each extracted row's schema fields are read (a URL/IMAGE field takes a link's href), typed
    (:func:`~airflow_provider_importio.workbench.fast_validation.coerce_text`; a missing field is
    ``None``) and validated. A row with no value in any schema field is *filtered*: counted, not
    delivered. Every other row goes to ``rows_out`` — valid or not — as a new dict of the schema
    fields plus ``_url`` (the input), ``_status`` (its HTTP status), ``_valid`` and ``_errors`` (the
    rule names it breaks, in rule order); or to ``ndjson_out`` as that dict's compact NDJSON line
    (``orjson``, ending ``\n``: write it to a file at once). ``no_data_out``, if given, gets
    the ``url`` of each input (non-blank line) that delivered no row, in order with the rows. Blank
    lines are skipped; a line that is not a JSON object raises :class:`ResultFileError`.
    """
    if rows_out is not None and ndjson_out is not None:
        raise ValueError("give rows_out or ndjson_out, not both")
    emit = "dict" if rows_out is not None else "ndjson" if ndjson_out is not None else None
    source, names = pass_source(schema, emit)
    run = generate(source, names, "run")
    errors = dict.fromkeys(schema.rule_names, 0)
    buckets = [array("q") for _ in range(64)]  # one 64-bit hash per delivered row
    counts = run(lines, rows_out or ndjson_out, no_data_out, buckets, errors)
    distinct = sum(len(set(bucket)) for bucket in buckets)
    return SnapshotStatistics(**counts, duplicate_rows=counts["total_rows"] - distinct, validation_errors=errors)
