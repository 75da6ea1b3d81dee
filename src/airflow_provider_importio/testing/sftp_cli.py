"""Run the SFTP test server as a process: ``python -m airflow_provider_importio.testing.sftp_cli``.

Prints ``SFTP server listening on HOST:PORT, host key <type> <base64>``, then serves ``--root``
until SIGINT or SIGTERM and exits 0. The host key is random unless ``--host-key-seed`` is given:
then it is the Ed25519 key derived from that text (SHA-256 of it as the private key's seed), the
same at every start, so a connection's ``host_key`` extra can be written down beforehand (as
docker-compose.yaml does). A seed anyone can read is a demo's key, never a real server's.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from airflow_provider_importio.testing.cli import serve_until_signalled
from airflow_provider_importio.testing.sftp_server import USERNAME, SFTPTestServer


def seeded_key(seed: str) -> Any:
    """The asyncssh Ed25519 private key derived from ``seed``."""
    import asyncssh
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    private = Ed25519PrivateKey.from_private_bytes(hashlib.sha256(seed.encode()).digest())
    pem = private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.OpenSSH,
                                serialization.NoEncryption())
    return asyncssh.import_private_key(pem)


def public_host_key(seed: str) -> str:
    """``"ssh-ed25519 <base64>"``: the ``host_key`` extra of a server started with ``--host-key-seed seed``."""
    return " ".join(seeded_key(seed).export_public_key("openssh").decode().split()[:2])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m airflow_provider_importio.testing.sftp_cli",
                                     description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port; 0 picks a free one (default)")
    parser.add_argument("--root", type=Path, required=True, help="directory the clients see as /")
    parser.add_argument("--username", default=USERNAME, help=f"the one user (default {USERNAME})")
    parser.add_argument("--password", required=True, help="that user's password")
    parser.add_argument("--host-key-seed", help="derive a fixed Ed25519 host key from this text")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    server = SFTPTestServer(args.root, host=args.host, port=args.port, username=args.username,
                            password=args.password)
    if args.host_key_seed:
        server._key = seeded_key(args.host_key_seed)  # noqa: SLF001 - the server draws its key in __init__
    return serve_until_signalled(
        server, lambda: f"SFTP server listening on {server.host}:{server.port}, host key {server.host_key}")


if __name__ == "__main__":
    sys.exit(main())
