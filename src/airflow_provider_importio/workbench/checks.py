"""QA checks of a snapshot's statistics (plain Python, no Airflow or SQL). See ``docs/checks.md``.

* :func:`default_checks` — the Workbench guide's table; :func:`resolve_checks` merges a collection's
  ``checks`` entries over it (the loader does this); :func:`effective_checks` gives the checks to run
  on one snapshot, with ``validation_errors.*`` expanded into one check per rule.
* :func:`baseline` — per statistic, the median over the source's recent good snapshots (PASSED_QA
  or PUSHED; :mod:`.qa_baseline` reads them from the store).
* :func:`evaluate` — every check's :class:`CheckResult` and the snapshot's next state: all pass →
  PASSED_QA; a failing check with ``escalate`` → ESCALATED; any other failure → PENDING_QA.
* :func:`qa_table_markdown` — the failing checks as a Markdown table, for the human review task.
"""

from __future__ import annotations

import math
import statistics as _stats
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from airflow_provider_importio.workbench.config_model import Check
from airflow_provider_importio.workbench.snapshot_states import SnapshotState

if TYPE_CHECKING:
    from airflow_provider_importio.workbench.config_model import Collection, Schema

__all__ = [
    "BASELINE_SIZE", "DEFAULT_TOLERANCE", "NO_BASELINE_REASON", "STATISTICS", "VALIDATION_FAMILY", "VALIDATION_PREFIX",
    "Check", "CheckResult", "QaResult", "baseline", "check_label", "default_checks", "effective_checks",
    "evaluate", "inherited_from", "is_validation_statistic", "merge_entry", "qa_table_markdown", "resolve_checks",
    "statistic_range",
]

#: Every statistic a check may name (besides ``validation_errors.<rule>``), with its label.
STATISTICS: Mapping[str, str] = {
    "total_inputs": "Total inputs",
    "inputs_with_data": "Inputs with data",
    "total_rows": "Total rows",
    "valid_rows": "Valid rows",
    "invalid_rows": "Invalid rows",
    "system_error_pct": "System errors (%)",
    "missing_html_pct": "Missing HTML snapshots (%)",
    "no_data_200_pct": "200 responses with no data (%)",
    "not_found_pct": "404/410 responses (%)",
    "blocked_pct": "Blocked inputs (%)",
    "rows_per_input": "Rows per input (inputs with data)",
    "duplicate_pct": "Duplicates (%)",
    "filtered_pct": "Filtered rows (%)",
    "quality_score": "Quality score",
}
VALIDATION_PREFIX = "validation_errors."
#: The per-rule family: one check per validation rule of the collection's schema or its statistics.
VALIDATION_FAMILY = "validation_errors.*"
#: A relative check's tolerance when an entry defines one without ``tolerance`` (the guide's ±10%).
DEFAULT_TOLERANCE = 10.0
#: How many of the source's latest good snapshots make the baseline.
BASELINE_SIZE = 5
#: Why a relative check passed without comparing.
NO_BASELINE_REASON = "no baseline yet (no earlier PASSED_QA or PUSHED snapshot of this source): not compared"

#: The Workbench guide's table ("Set up the production collection quality checks"), in its order.
#: Escalated by default: the three crawl-health limits (the crawl itself broke; see docs/checks.md).
_DEFAULTS: tuple[Check, ...] = (
    Check("system_error_pct", "absolute", op="<", limit=1.0, escalate=True),
    Check("missing_html_pct", "absolute", op="<", limit=1.0, escalate=True),
    Check("no_data_200_pct", "absolute", op="<", limit=1.0, escalate=True),
    Check("not_found_pct", "relative", tolerance=DEFAULT_TOLERANCE),
    Check("rows_per_input", "relative", tolerance=DEFAULT_TOLERANCE),
    Check("total_inputs", "relative", tolerance=DEFAULT_TOLERANCE),
    Check("total_rows", "relative", tolerance=DEFAULT_TOLERANCE),
    Check("duplicate_pct", "relative", tolerance=DEFAULT_TOLERANCE),
    Check("filtered_pct", "relative", tolerance=DEFAULT_TOLERANCE),
    Check("quality_score", "absolute", op=">", limit=0.9),
    Check(VALIDATION_FAMILY, "relative", tolerance=DEFAULT_TOLERANCE),
)
_OPS = {"<": lambda a, b: a < b, "<=": lambda a, b: a <= b, ">": lambda a, b: a > b, ">=": lambda a, b: a >= b}


def default_checks() -> tuple[Check, ...]:
    """The guide's checks, applied to every collection unless its ``checks`` override them."""
    return _DEFAULTS


def is_validation_statistic(name: str) -> bool:
    """Whether ``name`` is ``validation_errors.<rule>`` or ``validation_errors.*``."""
    return name.startswith(VALIDATION_PREFIX) and len(name) > len(VALIDATION_PREFIX)


def statistic_range(name: str) -> tuple[float, float | None]:
    """The values a statistic can take: percentages 0..100, the quality score 0..1, counts ≥ 0."""
    if name.endswith("_pct"):
        return 0.0, 100.0
    if name == "quality_score":
        return 0.0, 1.0
    return 0.0, None


def check_label(statistic: str) -> str:
    """A human name for a statistic (``Validation errors: price.minimum``)."""
    if is_validation_statistic(statistic):
        rule = statistic[len(VALIDATION_PREFIX):]
        return "Validation errors (every rule)" if rule == "*" else f"Validation errors: {rule}"
    return STATISTICS.get(statistic, statistic)


def inherited_from(statistic: str, family: Check | None = None) -> Check | None:
    """The check an entry for ``statistic`` starts from: its default, or for one validation rule the
    (possibly overridden) ``validation_errors.*`` family; ``None`` for a statistic without a default."""
    if is_validation_statistic(statistic) and statistic != VALIDATION_FAMILY:
        return family if family is not None else _default(VALIDATION_FAMILY)
    return _default(statistic)


def _default(statistic: str) -> Check | None:
    return next((c for c in _DEFAULTS if c.statistic == statistic), None)


def merge_entry(entry: Mapping[str, Any], base: Check | None) -> dict[str, Any]:
    """An entry's settings with the missing ones taken from ``base`` (a :class:`Check`'s keywords).

    ``op``/``limit``/``tolerance`` are inherited only when the kind is the base's; ``enabled`` is
    never inherited (listing a check enables it unless it says ``enabled: false``).
    """
    kind = entry.get("kind", base.kind if base else None)
    same = base is not None and base.kind == kind
    settings: dict[str, Any] = {
        "statistic": entry["statistic"],
        "kind": kind,
        "escalate": bool(entry.get("escalate", base.escalate if base else False)),
        "enabled": bool(entry.get("enabled", True)),
    }
    if kind == "absolute":
        settings["op"] = entry.get("op", base.op if same and base else None)
        settings["limit"] = _float(entry.get("limit", base.limit if same and base else None))
    elif kind == "relative":
        settings["tolerance"] = _float(entry.get("tolerance", base.tolerance if same and base else DEFAULT_TOLERANCE))
    return settings


def _float(value: Any) -> Any:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else value


def resolve_checks(entries: Iterable[Mapping[str, Any]]) -> tuple[Check, ...]:
    """A collection's ``checks`` entries (camelCase mappings, already validated) as :class:`Check`\\ s,
    each merged over its default; a ``validation_errors.<rule>`` entry inherits from the family entry."""
    raw = list(entries)
    family = None
    for entry in raw:
        if entry.get("statistic") == VALIDATION_FAMILY:
            family = Check(**merge_entry(entry, _default(VALIDATION_FAMILY)))
    return tuple(Check(**merge_entry(e, inherited_from(e["statistic"], family))) for e in raw)


def effective_checks(collection: Collection | Iterable[Check] | None, schema: Schema | None = None,
                     stats: Mapping[str, Any] | None = None) -> list[Check]:
    """The enabled checks to run on one snapshot.

    The defaults, each replaced by the collection's check of the same statistic (``enabled: false``
    drops it), then the collection's other checks; ``validation_errors.*`` becomes one check per rule
    that the schema defines (``schema.rule_names``) or the statistics report
    (``validation_errors.<rule>`` keys, e.g. ``row.type``) — in schema order, then by name. A rule
    with its own entry keeps that entry (even when the family is disabled).
    """
    configured = (collection.checks if hasattr(collection, "checks") else tuple(collection or ()))
    by_statistic = {c.statistic: c for c in _DEFAULTS}
    for check in configured:
        by_statistic[check.statistic] = check  # replaces a default in place, or appends
    rules: list[str] = list(schema.rule_names) if schema is not None else []
    reported = sorted(k[len(VALIDATION_PREFIX):] for k in (stats or {})
                      if isinstance(k, str) and is_validation_statistic(k) and k != VALIDATION_FAMILY)
    rules += [r for r in reported if r not in rules]
    result: list[Check] = []
    for check in by_statistic.values():
        if not check.is_family:
            if check.enabled and not (is_validation_statistic(check.statistic) and _rule_of(check) in rules):
                result.append(check)
            continue
        for rule in rules:
            own = by_statistic.get(VALIDATION_PREFIX + rule)
            if own is not None:
                if own.enabled:
                    result.append(own)
            elif check.enabled:
                result.append(replace(check, statistic=VALIDATION_PREFIX + rule))
    return result


def _rule_of(check: Check) -> str:
    return check.statistic[len(VALIDATION_PREFIX):]


def baseline(history: Sequence[Mapping[str, float | None]]) -> dict[str, float]:
    """Per statistic, the median of its values over ``history`` (one mapping of statistics per good
    snapshot; :func:`~airflow_provider_importio.workbench.qa_baseline.history_for` gives the last
    :data:`BASELINE_SIZE`). ``None`` and NaN are skipped; a statistic with no value has no baseline."""
    values: dict[str, list[float]] = {}
    for stats in history:
        for name, value in stats.items():
            if _number(value) is not None:
                values.setdefault(name, []).append(float(value))  # type: ignore[arg-type]
    return {name: float(_stats.median(found)) for name, found in values.items()}


@dataclass(frozen=True)
class CheckResult:
    """One check on one snapshot. ``limit`` is human text (``< 1``, ``±10% of 120``); ``reason`` says
    why it failed, or why it passed without comparing (no baseline yet); empty for a plain pass."""

    name: str
    statistic: str
    value: float | None
    baseline: float | None
    limit: str
    passed: bool
    escalate: bool
    reason: str = ""

    def as_dict(self) -> dict[str, Any]:
        """JSON-friendly (XCom, the store's ``options``)."""
        return {"name": self.name, "statistic": self.statistic, "value": self.value, "baseline": self.baseline,
                "limit": self.limit, "passed": self.passed, "escalate": self.escalate, "reason": self.reason}


@dataclass(frozen=True)
class QaResult:
    """Every check's result and the state the snapshot moves to."""

    results: tuple[CheckResult, ...] = field(default_factory=tuple)

    @property
    def failures(self) -> list[CheckResult]:
        return [r for r in self.results if not r.passed]

    @property
    def escalated(self) -> list[CheckResult]:
        """Failing checks that escalate."""
        return [r for r in self.failures if r.escalate]

    @property
    def passed(self) -> bool:
        return not self.failures

    @property
    def outcome(self) -> SnapshotState:
        """PASSED_QA if every check passed, ESCALATED if an escalating check failed, else PENDING_QA."""
        if self.passed:
            return SnapshotState.PASSED_QA
        return SnapshotState.ESCALATED if self.escalated else SnapshotState.PENDING_QA

    def summary(self) -> str:
        """One line: ``PENDING_QA: 2 of 15 checks failed (none escalating)``."""
        total, failed = len(self.results), len(self.failures)
        if not failed:
            return f"{self.outcome}: all {total} checks passed"
        escalating = len(self.escalated)
        tail = f"{escalating} escalating" if escalating else "none escalating"
        return f"{self.outcome}: {failed} of {total} checks failed ({tail})"

    def as_dict(self) -> dict[str, Any]:
        return {"outcome": self.outcome.value, "summary": self.summary(),
                "results": [r.as_dict() for r in self.results]}


def evaluate(checks: Iterable[Check], stats: Mapping[str, Any], baseline: Mapping[str, float] | None = None,
             ) -> QaResult:
    """Run ``checks`` (from :func:`effective_checks`; disabled ones and an unexpanded family are
    skipped) on one snapshot's ``stats`` against the source's ``baseline``.

    * absolute: passes when ``value <op> limit``;
    * relative: passes when ``|value - baseline| <= tolerance% × |baseline|``: with a zero baseline
      only a zero value passes; with no baseline yet it passes (reason "no baseline yet") — except a
      validation-rule check, which then fails on any error (count > 0);
    * a statistic missing from ``stats`` (or ``None``/NaN) fails ("not reported"), except
      ``validation_errors.<rule>``, whose missing count is 0.
    """
    known = baseline or {}
    results = [_run(c, stats, known) for c in checks if c.enabled and not c.is_family]
    return QaResult(tuple(results))


def _run(check: Check, stats: Mapping[str, Any], known: Mapping[str, float]) -> CheckResult:
    name, statistic = check_label(check.statistic), check.statistic
    rule_check = is_validation_statistic(statistic)
    value = _number(stats.get(statistic))
    if value is None and rule_check and stats.get(statistic) is None:
        value = 0.0  # rules with no errors may be left out of the statistics
    base = _number(known.get(statistic))

    def result(passed: bool, limit: str, reason: str = "") -> CheckResult:
        return CheckResult(name, statistic, value, base, limit, passed, check.escalate, reason)

    if check.kind == "absolute":
        limit_text = f"{check.op} {_fmt(check.limit)}"
        if value is None:
            return result(False, limit_text, "not reported in the snapshot's statistics")
        passed = _OPS[check.op](value, check.limit)  # type: ignore[index]
        return result(passed, limit_text, "" if passed else f"{_fmt(value)} is not {limit_text}")

    tolerance = float(check.tolerance or 0.0)
    if base is None:
        limit_text = f"±{_fmt(tolerance)}% of baseline"
        if value is None:
            return result(False, limit_text, "not reported in the snapshot's statistics")
        if rule_check:
            if value > 0:
                errors = "validation error" if value == 1 else "validation errors"
                return result(False, limit_text, f"{_fmt(value)} {errors} and no baseline yet "
                                                 "(any validation error fails until a baseline exists)")
            return result(True, limit_text, "no baseline yet; no validation errors")
        return result(True, limit_text, NO_BASELINE_REASON)
    limit_text = f"±{_fmt(tolerance)}% of {_fmt(base)}"
    if value is None:
        return result(False, limit_text, "not reported in the snapshot's statistics")
    allowed = tolerance / 100.0 * abs(base)
    difference = abs(value - base)
    passed = difference <= allowed or math.isclose(difference, allowed, rel_tol=1e-9, abs_tol=1e-12)
    if passed:
        return result(True, limit_text)
    if base == 0:
        return result(False, limit_text, f"{_fmt(value)} against a baseline of 0 (only 0 passes)")
    change = (value - base) / abs(base) * 100.0
    low, high = base - allowed, base + allowed
    return result(False, limit_text, f"{_fmt(value)} is {_fmt(abs(change))}% {'above' if change > 0 else 'below'} "
                                     f"the baseline {_fmt(base)} (allowed {_fmt(low)} to {_fmt(high)})")


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    return None if math.isnan(value) else float(value)


def _fmt(value: float | None) -> str:
    """A number for people: ``120``, ``0.95``, ``12.35``, ``1234567``."""
    if value is None:
        return "—"
    if float(value).is_integer():
        return str(int(value))
    if abs(value) >= 100:
        return f"{value:.1f}"
    return f"{value:.4g}" if abs(value) >= 0.0001 else f"{value:.2e}"


def _cell(text: str) -> str:
    return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


def qa_table_markdown(result: QaResult) -> str:
    """The failing checks as a Markdown table (check, value, baseline, limit, escalates, why), headed by
    the summary line; just the summary when every check passed."""
    lines = [f"**{result.summary()}**"]
    if result.passed:
        return lines[0]
    lines += ["", "| Check | Value | Baseline | Limit | Escalates | Why |", "| --- | ---: | ---: | --- | :-: | --- |"]
    for r in result.failures:
        cells = [r.name, _fmt(r.value), _fmt(r.baseline), r.limit, "yes" if r.escalate else "no", r.reason]
        lines.append("| " + " | ".join(_cell(c) for c in cells) + " |")
    return "\n".join(lines)
