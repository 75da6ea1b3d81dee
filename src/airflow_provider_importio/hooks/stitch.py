"""Stitch hooks: Airflow Connections in, the Stitch Connect and Import API clients out."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_importio.clients.errors import ApiError, BadRequestError, UnprocessableEntityError
from airflow_provider_importio.clients.http import HttpTransport
from airflow_provider_importio.clients.stitch import (
    CONNECT_BASE_URL,
    StitchConnectApi,
    StitchImportApi,
    build_transport,
    import_base_url,
)
from airflow_provider_importio.hooks._connection import require_secret, transport_settings, with_connection_hint


class StitchConnectHook(BaseHook, StitchConnectApi):
    """Stitch Connect API (sources, pause/unpause, Import API tokens) from an Airflow connection.

    Connection (type ``stitch_connect``): the Connect API token in *password*; *host* an optional
    base URL (default ``https://api.stitchdata.com``); extras ``timeout``, ``max_retries``,
    ``backoff_base`` as for every connection of this provider.
    """

    conn_name_attr = "stitch_connect_conn_id"
    default_conn_name = "stitch_connect_default"
    conn_type = "stitch_connect"
    hook_name = "Stitch Connect"

    def __init__(self, stitch_connect_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stitch_connect_conn_id = stitch_connect_conn_id

    @cached_property
    def transport(self) -> HttpTransport:  # type: ignore[override]
        conn = self.get_connection(self.stitch_connect_conn_id)
        token = require_secret(conn, "Stitch Connect API token")
        settings = transport_settings(conn, CONNECT_BASE_URL)
        transport = build_transport(token, settings.base_url, timeout=settings.timeout, retry=settings.retry)
        transport.refine_error = with_connection_hint(transport.refine_error, conn, "Connect API token")
        return transport

    def test_connection(self) -> tuple[bool, str]:
        """Read the ``import_api`` report card, which needs a valid Connect token."""
        try:
            self.get_source_type("import_api")
        except (ApiError, ValueError) as exc:
            return False, str(exc)
        return True, "Connected to the Stitch Connect API"


class StitchImportHook(BaseHook, StitchImportApi):
    """Stitch Import API (batch, validate, status, ``push_records``) from an Airflow connection.

    Connection (type ``stitch_import``): the Import API access token in *password*; extra
    ``region`` (``north-america``, the default, or ``europe``) picks the base URL, which *host*
    overrides; extras ``timeout``, ``max_retries``, ``backoff_base``.
    """

    conn_name_attr = "stitch_import_conn_id"
    default_conn_name = "stitch_import_default"
    conn_type = "stitch_import"
    hook_name = "Stitch Import API"

    def __init__(self, stitch_import_conn_id: str = default_conn_name, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.stitch_import_conn_id = stitch_import_conn_id

    @cached_property
    def transport(self) -> HttpTransport:  # type: ignore[override]
        conn = self.get_connection(self.stitch_import_conn_id)
        token = require_secret(conn, "Stitch Import API token")
        settings = transport_settings(conn, import_base_url((conn.extra_dejson or {}).get("region")))
        transport = build_transport(token, settings.base_url, timeout=settings.timeout, retry=settings.retry,
                                    all_idempotent=True)
        transport.refine_error = with_connection_hint(transport.refine_error, conn, "Import API token")
        return transport

    def test_connection(self) -> tuple[bool, str]:
        """Check the API is up, then that the token is accepted (an empty validate loads nothing)."""
        try:
            self.status()
            try:
                self.validate([])
            except (BadRequestError, UnprocessableEntityError):
                pass  # the token passed authentication; only the (empty) body was refused
        except (ApiError, ValueError) as exc:
            return False, str(exc)
        return True, "Connected to the Stitch Import API"
