"""Run the PagerDuty Events API v2 stand-in as a process: ``python -m airflow_provider_importio.testing.pagerduty_cli``.

Prints one line, ``PagerDuty emulator listening on https://HOST:PORT``, then serves until SIGINT or
SIGTERM. Its certificate is self-signed at start; ``--ca-file`` copies it where the clients read it
(the connection's ``verify`` extra). ``--name`` adds a host name to it (docker-compose's service name).
"""

from __future__ import annotations

import argparse
import shutil
import sys
from collections.abc import Sequence
from pathlib import Path

from airflow_provider_importio.testing.cli import serve_until_signalled
from airflow_provider_importio.testing.pagerduty import PagerDutyEmulator


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_importio.testing.pagerduty_cli",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--name", action="append", default=[], help="a host name the certificate also names")
    parser.add_argument("--ca-file", type=Path, help="write the certificate (PEM) here for clients to trust")
    args = parser.parse_args(argv)
    emulator = PagerDutyEmulator(host=args.host, port=args.port, cert_names=args.name)

    def publish() -> None:
        if args.ca_file:
            args.ca_file.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(emulator.ca_file, args.ca_file)

    return serve_until_signalled(emulator, lambda: f"PagerDuty emulator listening on {emulator.url}", publish)


if __name__ == "__main__":
    sys.exit(main())
