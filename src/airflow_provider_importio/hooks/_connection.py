"""Reading transport settings from an Airflow Connection, shared by every hook here."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from airflow_provider_importio.clients.errors import ApiError, UnauthorizedError
from airflow_provider_importio.clients.http import RetryPolicy, Timeout


@dataclass(frozen=True)
class TransportSettings:
    """Base URL, timeout and retry policy of a connection."""

    base_url: str
    timeout: Timeout
    retry: RetryPolicy


def transport_settings(conn: Any, default_base_url: str, **retry_defaults: Any) -> TransportSettings:
    """Settings from *host* (a base URL), *port* and the extras ``timeout``, ``max_retries``,
    ``backoff_base``; a bad value raises ``ValueError`` naming the connection and the extra."""
    extra = conn.extra_dejson or {}
    timeout = _number(conn, extra, "timeout", 120.0)
    return TransportSettings(
        base_url=base_url(conn.host, conn.port, default_base_url),
        timeout=(min(10.0, timeout), timeout),
        retry=RetryPolicy(
            max_retries=int(_number(conn, extra, "max_retries", 5)),
            backoff_base=_number(conn, extra, "backoff_base", 0.5),
            **retry_defaults,
        ),
    )


def base_url(host: str | None, port: int | None, default: str) -> str:
    """The connection's host as a base URL (``https://`` when it has no scheme)."""
    if not host:
        return default
    url = host if "://" in host else f"https://{host}"
    return f"{url.rstrip('/')}:{port}" if port else url.rstrip("/")


def require_secret(conn: Any, what: str) -> str:
    """The connection's password, registered with Airflow's secrets masker."""
    if not conn.password:
        raise ValueError(f"Connection {conn.conn_id!r} has no {what}: put it in the password field.")
    try:
        from airflow.sdk.log import mask_secret
    except ImportError:  # pragma: no cover - older task SDKs
        pass
    else:
        mask_secret(conn.password)
    return conn.password


def _number(conn: Any, extra: dict[str, Any], key: str, default: float) -> float:
    value = extra.get(key, extra.get(f"extra__{conn.conn_type}__{key}"))
    if value in (None, ""):
        return default
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"Connection {conn.conn_id!r}: extra {key!r} must be a number, got {value!r}") from None
    if number < 0:
        raise ValueError(f"Connection {conn.conn_id!r}: extra {key!r} must not be negative, got {value!r}")
    return number


def with_connection_hint(refine: Callable[[ApiError], ApiError] | None, conn: Any,
                         secret: str) -> Callable[[ApiError], ApiError]:
    """A transport's ``refine_error`` that also names the Airflow connection in a plain 401 (a wrong or
    revoked key), so the message says which connection's ``secret`` to check; never the secret itself."""
    conn_id = getattr(conn, "conn_id", None)

    def refined(error: ApiError) -> ApiError:
        error = refine(error) if refine is not None else error
        if conn_id and type(error) is UnauthorizedError:
            error.message = f"{error.message} (check the {secret} in Airflow connection {conn_id!r})"
            error.args = (error.message,)
        return error

    return refined
