"""Where a task may write an Airflow connection it created (a new Stitch token, say).

Airflow 3 tasks cannot write connections to the metadata database, so a created credential goes
to a secrets backend that Airflow reads connections from:

* ``aws-secrets-manager://<aws_conn_id>?prefix=airflow/connections`` - AWS Secrets Manager
  through the Amazon provider's ``SecretsManagerHook``, as the secret ``<prefix>/<conn_id>``
  that Airflow's ``SecretsManagerBackend`` reads (the prefix must match the backend's
  ``connections_prefix``).
* ``file:///path/to/connections.json`` - a JSON file of the shape Airflow's
  ``LocalFilesystemBackend`` reads (``connections_file_path``); written atomically, mode 0600.
  For development and the demo.

The value is an Airflow connection as a dict (``conn_type``, ``host``, ``password``, ``extra``).
Nothing here logs a value.
"""

from __future__ import annotations

import json
import os
import tempfile
from typing import Any, Protocol
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_SECRETS_PREFIX = "airflow/connections"


class ConnectionStore(Protocol):
    def get(self, conn_id: str) -> dict[str, Any] | None:
        """The stored connection, or ``None``."""

    def put(self, conn_id: str, connection: dict[str, Any]) -> str:
        """Store (create or replace) the connection; return where it went, for the log."""


def connection_store(uri: str) -> ConnectionStore:
    """The store a URI names (see the module docstring)."""
    parts = urlsplit(uri)
    if parts.scheme == "file":
        path = unquote(parts.path)
        if not path:
            raise ValueError(f"connection store {uri!r}: a file store needs a path, e.g. file:///srv/connections.json")
        return LocalFileConnectionStore(path)
    if parts.scheme == "aws-secrets-manager":
        query = parse_qs(parts.query)
        prefix = query.get("prefix", [DEFAULT_SECRETS_PREFIX])[0].strip("/")
        return SecretsManagerConnectionStore(parts.netloc or "aws_default", prefix)
    raise ValueError(
        f"unknown connection store {uri!r}: use aws-secrets-manager://<aws_conn_id>?prefix=... or file:///path.json"
    )


class LocalFileConnectionStore:
    """Connections in a JSON file read by Airflow's ``LocalFilesystemBackend``."""

    def __init__(self, path: str) -> None:
        self.path = path

    def _read(self) -> dict[str, Any]:
        try:
            with open(self.path, encoding="utf-8") as handle:
                text = handle.read()
        except FileNotFoundError:
            return {}
        if not text.strip():
            return {}
        try:
            content = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"connections file {self.path} is not valid JSON: {exc.msg} (line {exc.lineno})") from None
        if not isinstance(content, dict):
            raise ValueError(f"connections file {self.path} must hold a JSON object of connections")
        return content

    def get(self, conn_id: str) -> dict[str, Any] | None:
        value = self._read().get(conn_id)
        return value if isinstance(value, dict) else None

    def put(self, conn_id: str, connection: dict[str, Any]) -> str:
        content = self._read()
        content[conn_id] = connection
        directory = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(directory, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".connections-", dir=directory)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(content, handle, indent=2, sort_keys=True)
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            os.unlink(tmp)
            raise
        return f"connections file {self.path}"


class SecretsManagerConnectionStore:
    """Connections as AWS Secrets Manager secrets ``<prefix>/<conn_id>``, read by Airflow's backend."""

    def __init__(self, aws_conn_id: str = "aws_default", prefix: str = DEFAULT_SECRETS_PREFIX) -> None:
        self.aws_conn_id = aws_conn_id
        self.prefix = prefix

    def _client(self) -> Any:
        from airflow.providers.amazon.aws.hooks.secrets_manager import SecretsManagerHook

        return SecretsManagerHook(aws_conn_id=self.aws_conn_id).get_conn()

    def secret_name(self, conn_id: str) -> str:
        return f"{self.prefix}/{conn_id}" if self.prefix else conn_id

    def get(self, conn_id: str) -> dict[str, Any] | None:
        client = self._client()
        try:
            value = client.get_secret_value(SecretId=self.secret_name(conn_id))["SecretString"]
        except client.exceptions.ResourceNotFoundException:
            return None
        try:
            parsed = json.loads(value)
        except ValueError:
            return None  # a URI-form secret written by someone else: treat as not ours
        return parsed if isinstance(parsed, dict) else None

    def put(self, conn_id: str, connection: dict[str, Any]) -> str:
        client = self._client()
        name = self.secret_name(conn_id)
        value = json.dumps(connection)
        try:
            client.put_secret_value(SecretId=name, SecretString=value)
        except client.exceptions.ResourceNotFoundException:
            client.create_secret(Name=name, SecretString=value,
                                 Description="Airflow connection written by airflow-provider-importio")
        return f"AWS Secrets Manager secret {name!r} (connection {self.aws_conn_id!r})"
