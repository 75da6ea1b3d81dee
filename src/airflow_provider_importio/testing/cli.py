"""``importio-emulator``: run the Import.io emulator as a process.

Prints exactly one line, ``Import.io emulator listening on http://HOST:PORT``, then serves until
SIGINT or SIGTERM and exits 0. Also runnable as ``python -m airflow_provider_importio.testing.cli``.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from airflow_provider_importio.testing.faults import check_kinds
from airflow_provider_importio.testing.importio_emulator import DEFAULT_API_KEY, ImportioEmulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="importio-emulator", description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument(
        "--api-key", default=DEFAULT_API_KEY, help=f"the default user's key (default {DEFAULT_API_KEY})"
    )
    parser.add_argument("--seed", type=Path, help='JSON file {"users": [...], "extractors": [...], "reports": [...]}')
    parser.add_argument("--crawl-seconds", type=float, default=2.0, help="base run duration (default 2)")
    parser.add_argument("--seconds-per-url", type=float, default=0.0, help="extra run duration per URL (default 0)")
    parser.add_argument("--fault-rate", type=float, default=0.0, help="share of API requests faulted (default 0)")
    parser.add_argument("--fault-kinds", default="429,503", help="comma-separated fault kinds (default 429,503)")
    parser.add_argument("--fault-seed", type=int, default=None, help="seed of the random faults")
    parser.add_argument("--retry-after", type=int, default=1, help="Retry-After seconds of 429 faults (default 1)")
    parser.add_argument("--delay-seconds", type=float, default=2.0, help="wait of 'delay' faults (default 2)")
    return parser


def load_seed(emulator: ImportioEmulator, seed: dict[str, Any]) -> None:
    """Add the seed's users, extractors and reports (each a list of keyword-argument objects)."""
    for user in seed.get("users", []):
        emulator.add_user(**user)
    for extractor in seed.get("extractors", []):
        emulator.add_extractor(**extractor)
    for report in seed.get("reports", []):
        emulator.add_report(**report)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    emulator = ImportioEmulator(
        api_key=args.api_key,
        crawl_seconds=args.crawl_seconds,
        seconds_per_url=args.seconds_per_url,
        host=args.host,
        port=args.port,
    )
    try:
        if args.seed:
            load_seed(emulator, json.loads(args.seed.read_text(encoding="utf-8")))
        if args.fault_rate:
            emulator.faults.configure(
                rate=args.fault_rate,
                kinds=check_kinds(kind for kind in args.fault_kinds.split(",") if kind.strip()),
                retry_after=args.retry_after,
                delay_seconds=args.delay_seconds,
                seed=args.fault_seed,
            )
    except (OSError, TypeError, ValueError, KeyError) as exc:
        parser.error(str(exc))

    return serve_until_signalled(emulator, lambda: f"Import.io emulator listening on {emulator.url}")


def serve_until_signalled(server: Any, banner: Callable[[], str], on_start: Callable[[], None] | None = None) -> int:
    """Start ``server``, run ``on_start``, print ``banner()`` (one line), serve until SIGINT or
    SIGTERM, stop; exit code 0. The console scripts of every test server share this."""
    stopping = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopping.set())
    server.start()
    try:
        if on_start is not None:
            on_start()
        print(banner(), flush=True)
        while not stopping.wait(0.2):
            pass
    finally:
        server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
