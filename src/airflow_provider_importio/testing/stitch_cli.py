"""Run the Stitch emulator as a process: ``python -m airflow_provider_importio.testing.stitch_cli``.

Prints exactly one line, ``Stitch emulator listening on http://HOST:PORT``, then serves until SIGINT
or SIGTERM and exits 0. ``--source NAME --import-token SECRET`` creates an Import API source with an
Import API token of a *known* secret at start, so that a connection can be preset (docker-compose.yaml
presets ``stitch_shop`` this way); a demo-only convenience: real Stitch never lets a client choose it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from airflow_provider_importio.testing.cli import serve_until_signalled
from airflow_provider_importio.testing.stitch_emulator import DEFAULT_CONNECT_TOKEN, StitchEmulator


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_importio.testing.stitch_cli",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--connect-token", default=DEFAULT_CONNECT_TOKEN,
                        help=f"the Connect API token (default {DEFAULT_CONNECT_TOKEN})")
    parser.add_argument("--load-delay", type=float, default=0.0, help="seconds before a batch is loaded")
    parser.add_argument("--source", help="create an Import API source of this display name at start")
    parser.add_argument("--import-token", help="with --source: that source's Import API token (its secret)")
    return parser


def preset_token(emulator: StitchEmulator, source_id: int, secret: str) -> None:
    """Give the source an Import API token whose secret is ``secret`` (the emulator draws random ones)."""
    drawn = emulator.add_import_token(source_id)
    with emulator._lock:  # noqa: SLF001 - the emulator has no public way to choose a secret
        token = next(t for t in emulator._tokens.values() if t.secret == drawn)  # noqa: SLF001
        token.secret = secret


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.import_token and not args.source:
        parser.error("--import-token needs --source")
    emulator = StitchEmulator(connect_token=args.connect_token, load_delay=args.load_delay,
                              host=args.host, port=args.port)
    def seed() -> None:
        if args.source:
            source = emulator.add_source(display_name=args.source)
            if args.import_token:
                preset_token(emulator, source["id"], args.import_token)

    return serve_until_signalled(emulator, lambda: f"Stitch emulator listening on {emulator.url}", seed)


if __name__ == "__main__":
    sys.exit(main())
