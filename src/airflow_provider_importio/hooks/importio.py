"""The Import.io hook: an Airflow Connection in, the Import.io operations out."""

from __future__ import annotations

from functools import cached_property
from typing import Any

from airflow.sdk import BaseHook

from airflow_provider_importio.clients.errors import ApiError
from airflow_provider_importio.clients.http import HttpTransport, RetryPolicy
from airflow_provider_importio.clients.importio import DEFAULT_BASE_URL, ImportioApi, build_transport


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
        if not conn.password:
            raise ValueError(
                f"Connection {conn.conn_id!r} has no Import.io API key: put it in the password field."
            )
        _mask(conn.password)
        extra = conn.extra_dejson or {}
        timeout = _number(extra, "timeout", 120.0, conn.conn_id)
        return build_transport(
            conn.password,
            _base_url(conn.host, conn.port),
            timeout=(min(10.0, timeout), timeout),
            retry=RetryPolicy(
                max_retries=int(_number(extra, "max_retries", 5, conn.conn_id)),
                backoff_base=_number(extra, "backoff_base", 0.5, conn.conn_id),
            ),
        )

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


def _base_url(host: str | None, port: int | None) -> str:
    if not host:
        return DEFAULT_BASE_URL
    url = host if "://" in host else f"https://{host}"
    return f"{url.rstrip('/')}:{port}" if port else url


def _number(extra: dict[str, Any], key: str, default: float, conn_id: str) -> float:
    value = extra.get(key, extra.get(f"extra__importio__{key}"))
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Connection {conn_id!r}: extra {key!r} must be a number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"Connection {conn_id!r}: extra {key!r} must not be negative, got {value!r}")
    return number


def _mask(secret: str) -> None:
    """Register a secret with Airflow's log masker (Airflow masks connection passwords too)."""
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older task SDKs
        return
    mask_secret(secret)
