"""What every benchmark shares: interleaved timing of the project and its baselines in one process,
peak memory of one run in a forked child, and the printed table.

A benchmark module (``benchmarks/bench_<name>.py``) defines ``run(quick: bool) -> list[Result]``;
``benchmarks/run.py`` (``make bench``) runs them and prints one table. Ratios, not absolute
times, are the result: the project and its baseline run alternately in the same process, so a
busy machine slows both.
"""

from __future__ import annotations

import gc
import os
import resource
import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field


@dataclass
class Side:
    """One contender: ``fn()`` does the whole job once and returns how many items it handled."""

    name: str
    fn: Callable[[], int]
    setup: Callable[[], None] | None = None  # run before every repetition, not timed


@dataclass
class Result:
    benchmark: str
    side: str
    median_s: float
    items: int
    unit: str = "rows"
    peak_mb: float | None = None  # peak RSS growth of one run in a forked child, MB
    ratio: float | None = None  # median_s / the project's median_s (baselines), None for the project
    target: str = ""
    met: bool | None = None
    note: str = ""
    samples: list[float] = field(default_factory=list)

    @property
    def per_s(self) -> float:
        return self.items / self.median_s if self.median_s else float("inf")


def time_interleaved(sides: Sequence[Side], repeat: int = 5, warmup: int = 1) -> dict[str, tuple[float, int, list[float]]]:
    """Run the sides alternately (A, B, A, B, ...) ``warmup + repeat`` times; median seconds each."""
    samples: dict[str, list[float]] = {s.name: [] for s in sides}
    items: dict[str, int] = {}
    for round_ in range(warmup + repeat):
        for side in sides:
            if side.setup:
                side.setup()
            gc.collect()
            start = time.perf_counter()
            count = side.fn()
            elapsed = time.perf_counter() - start
            items[side.name] = count
            if round_ >= warmup:
                samples[side.name].append(elapsed)
    return {name: (statistics.median(values), items[name], values) for name, values in samples.items()}


def _rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_rss_growth_mb(side: Side) -> float:
    """Run ``side`` once in a forked child; its peak RSS minus the RSS it started with, in MB."""
    if side.setup:
        side.setup()
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        os.close(read)
        code = 0
        try:
            gc.collect()
            start = _rss_mb()
            side.fn()
            peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kB -> MB
            os.write(write, f"{max(0.0, peak - start):.1f}".encode())
        except BaseException as exc:  # noqa: BLE001 - reported by the parent
            os.write(write, f"error {type(exc).__name__}: {exc}".encode()[:4000])
            code = 1
        finally:
            os._exit(code)
    os.close(write)
    with os.fdopen(read) as f:
        answer = f.read()
    os.waitpid(pid, 0)
    if answer.startswith("error"):
        raise RuntimeError(f"{side.name}: {answer}")
    return float(answer)


def compare(benchmark: str, project: Side, baselines: Sequence[Side], *, repeat: int = 5, warmup: int = 1,
            unit: str = "rows", memory: bool = True, targets: dict[str, tuple[str, Callable[[float], bool]]] | None = None,
            ) -> list[Result]:
    """Time ``project`` against each baseline in one interleaved run; ``targets`` maps a baseline's
    name to (text, check(ratio)) where ratio = project time / baseline time."""
    timed = time_interleaved([project, *baselines], repeat=repeat, warmup=warmup)
    base_median = timed[project.name][0]
    results = []
    for side in (project, *baselines):
        median, count, values = timed[side.name]
        result = Result(benchmark, side.name, median, count, unit, samples=values)
        if side is not project:
            result.ratio = base_median / median if median else None  # project time / baseline time
            if targets and side.name in targets:
                text, check = targets[side.name]
                result.target, result.met = text, bool(result.ratio is not None and check(result.ratio))
        if memory:
            result.peak_mb = peak_rss_growth_mb(side)
        results.append(result)
    return results


def rate(per_s: float) -> str:
    """A rate for the table: whole numbers from 100 up, else three significant digits (0.00521, 2.79)."""
    return f"{per_s:,.0f}" if per_s >= 100 else f"{per_s:.3g}"


def table(results: Sequence[Result]) -> str:
    """Markdown table: one line per side; ratio = project time / that baseline's time."""
    lines = ["| benchmark | side | median s | per s | project time ÷ this | peak RSS +MB | target | met |",
             "|---|---|---:|---:|---:|---:|---|---|"]
    for r in results:
        ratio = "" if r.ratio is None else f"{r.ratio:.2f}×"
        peak = "" if r.peak_mb is None else f"{r.peak_mb:.0f}"
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        note = f" ({r.note})" if r.note else ""
        lines.append(f"| {r.benchmark} | {r.side}{note} | {r.median_s:.3f} | {rate(r.per_s)} {r.unit} | {ratio} | "
                     f"{peak} | {r.target} | {met} |")
    return "\n".join(lines)
