"""``make bench``: every ``benchmarks/bench_*.py`` (or the ones named), then one results table.

    python benchmarks/run.py                 # all, full size
    python benchmarks/run.py statistics push # by name
    python benchmarks/run.py --quick         # small sizes: checks that each benchmark runs
    python benchmarks/run.py --output results.md
"""

from __future__ import annotations

import argparse
import importlib
import os
import platform
import sys
import time
import traceback
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from harness import Result, table  # noqa: E402


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = ""
    try:
        kb = int(Path("/proc/meminfo").read_text().split()[1])
        mem = f", {kb / 2**20:.0f} GiB RAM"
    except (OSError, ValueError, IndexError):
        pass
    return f"{os.cpu_count()} cores ({cpu}){mem}, {platform.system()} {platform.release()}, Python {platform.python_version()}"


def main(argv: list[str] | None = None) -> int:
    names = sorted(p.stem[len("bench_"):] for p in HERE.glob("bench_*.py"))
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("names", nargs="*", metavar="NAME", help=f"some of: {', '.join(names)}")
    parser.add_argument("--quick", action="store_true", help="small inputs (a smoke run, not a measurement)")
    parser.add_argument("--output", type=Path, help="also write the table (markdown) here")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.names) - set(names))
    if unknown:
        parser.error(f"unknown benchmark(s) {', '.join(unknown)}; known: {', '.join(names)}")
    chosen = args.names or names
    results: list[Result] = []
    failed = []
    started = time.monotonic()
    print(f"Machine: {machine()}", flush=True)
    for name in chosen:
        print(f"\n--- {name} ---", flush=True)
        t0 = time.monotonic()
        try:
            module = importlib.import_module(f"bench_{name}")
            found = module.run(quick=args.quick)
        except Exception:  # noqa: BLE001 - one broken benchmark does not hide the others
            traceback.print_exc()
            failed.append(name)
            continue
        print(table(found), flush=True)
        print(f"({name}: {time.monotonic() - t0:.0f} s)", flush=True)
        results += found
    text = f"Machine: {machine()}\n\n{table(results)}\n"
    print(f"\n=== Results ({time.monotonic() - started:.0f} s) ===\n{text}")
    missed = [r for r in results if r.met is False]
    if missed:
        print("Targets missed: " + "; ".join(f"{r.benchmark} vs {r.side} ({r.target})" for r in missed))
    if failed:
        print(f"Benchmarks that failed to run: {', '.join(failed)}")
    if args.output:
        args.output.write_text(text)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
