"""moto's S3 (and Secrets Manager) server on loopback, and Airflow ``aws`` connections pointing at it."""

from __future__ import annotations

import json
from typing import Any

import requests

#: Access keys moto accepts; not secrets.
ACCESS_KEY_ID = "testing"
SECRET_ACCESS_KEY = "testing"
REGION = "us-east-1"


class MotoServer:
    """``moto``'s threaded server on an ephemeral loopback port; ``reset()`` empties every backend.

    moto accepts any access key: ``access_key_id`` and ``secret_access_key`` set the ones
    :meth:`connection` and :meth:`client` use (e.g. recognisable values for a leak scan).
    """

    def __init__(self, host: str = "127.0.0.1", port: int = 0, *, access_key_id: str = ACCESS_KEY_ID,
                 secret_access_key: str = SECRET_ACCESS_KEY) -> None:
        from moto.server import ThreadedMotoServer

        self._server = ThreadedMotoServer(ip_address=host, port=port, verbose=False)
        self.url = ""
        self.access_key_id = access_key_id
        self.secret_access_key = secret_access_key

    def start(self) -> MotoServer:
        self._server.start()
        host, port = self._server.get_host_and_port()
        self.url = f"http://{host}:{port}"
        self.reset()  # moto keeps its buckets per process, not per server: a new server starts empty
        return self

    def stop(self) -> None:
        self._server.stop()

    def reset(self) -> None:
        requests.post(f"{self.url}/moto-api/reset", timeout=10).raise_for_status()

    def __enter__(self) -> MotoServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def connection(self, **extra: Any) -> dict[str, Any]:
        """An Airflow ``aws`` connection (as a dict) for this server."""
        return {
            "conn_type": "aws",
            "login": self.access_key_id,
            "password": self.secret_access_key,
            "extra": {"endpoint_url": self.url, "region_name": REGION, **extra},
        }

    def connection_json(self, **extra: Any) -> str:
        """The connection as the JSON an ``AIRFLOW_CONN_<ID>`` variable holds."""
        return json.dumps(self.connection(**extra))

    def client(self, service: str = "s3") -> Any:
        """A boto3 client for this server, for tests to arrange and inspect state."""
        import boto3

        return boto3.client(service, endpoint_url=self.url, region_name=REGION,
                            aws_access_key_id=self.access_key_id, aws_secret_access_key=self.secret_access_key)
