"""The Import.io hook: an Airflow Connection in, the Import.io operations out."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_importio.clients.errors import ApiError
from airflow_provider_importio.clients.http import HttpTransport
from airflow_provider_importio.clients.importio import DEFAULT_BASE_URL, ImportioApi, build_transport
from airflow_provider_importio.hooks._connection import require_secret, transport_settings, with_connection_hint


class ImportioHook(BaseHook, ImportioApi):
    """Calls the Import.io v2 API with the credentials of an Airflow connection.

    Connection (type ``importio``): the API key in *password*; *host* an optional base URL
    (default ``https://api.import.io``); extras ``timeout`` (seconds, default 120),
    ``max_retries`` (default 5) and ``backoff_base`` (seconds, default 0.5). The hook has every
    method of :class:`~airflow_provider_importio.clients.importio.ImportioApi`; the connection is
    read on first use, never in ``__init__``.

    :param importio_conn_id: the Airflow connection id.
    """

    conn_name_attr = "importio_conn_id"
    default_conn_name = "importio_default"
    conn_type = "importio"
    hook_name = "Import.io"

    def __init__(self, importio_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.importio_conn_id = importio_conn_id

    @cached_property
    def transport(self) -> HttpTransport:  # type: ignore[override]
        return self.transport_for(self.get_connection(self.importio_conn_id))

    @classmethod
    def transport_for(cls, conn: Any) -> HttpTransport:
        """Build the transport from a Connection (also used with connections fetched async)."""
        api_key = require_secret(conn, "Import.io API key")
        settings = transport_settings(conn, DEFAULT_BASE_URL)
        return build_transport(api_key, settings.base_url, timeout=settings.timeout, retry=settings.retry,
                               refine_error=with_connection_hint(None, conn, "API key"))

    def get_conn(self) -> ImportioHook:
        """The hook itself is the client: every API operation is a method on it."""
        return self

    def test_connection(self) -> tuple[bool, str]:
        """Call ``GET /users/current`` and report who the key belongs to."""
        try:
            user = self.get_current_user()
        except (ApiError, ValueError) as exc:
            return False, str(exc)
        return True, f"Connected to Import.io as {user.username or user.guid}"
