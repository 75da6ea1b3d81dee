"""``ImportioPagerdutyEventsHook``: the PagerDuty provider's Events API v2 hook with a base URL,
TLS verification, a timeout and retries from the connection (used by ``ImportioAlarmOperator``).

Its own module, so that importing the alarm operator (as DAG files do) does not import the
PagerDuty provider, its client and ``aiohttp``; the operator imports it when it notifies.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.pagerduty.hooks.pagerduty_events import PagerdutyEventsHook, prepare_event_data


class ImportioPagerdutyEventsHook(PagerdutyEventsHook):
    """The PagerDuty provider's Events API v2 hook, also honouring the connection's *host* (the
    API base URL, e.g. ``https://events.eu.pagerduty.com``; default ``https://events.pagerduty.com``)
    and extras ``verify`` (``false`` or a CA bundle path), ``timeout`` (seconds), ``retries``
    (attempts after a 5xx or a network error, default 3) and ``retry_delay`` (seconds before the
    first retry, doubling after each; default 2). The routing key is the connection's password.
    """

    def __init__(self, integration_key: str | None = None, pagerduty_events_conn_id: str | None = None, *,
                 retries: int | None = None, retry_delay: float | None = None) -> None:
        super().__init__(integration_key=integration_key, pagerduty_events_conn_id=pagerduty_events_conn_id)
        extra: dict[str, Any] = {}
        self.base_url: str | None = None
        if pagerduty_events_conn_id is not None:
            conn = self.get_connection(pagerduty_events_conn_id)
            extra = dict(conn.extra_dejson or {})
            if conn.host:
                host = conn.host if "://" in conn.host else f"https://{conn.host}"
                self.base_url = f"{host.rstrip('/')}:{conn.port}" if conn.port else host.rstrip("/")
        self.verify: Any = _verify(extra.get("verify", True))
        self.timeout = float(extra.get("timeout", 30))
        self.retries = int(retries if retries is not None else extra.get("retries", 3))
        self.retry_delay = float(retry_delay if retry_delay is not None else extra.get("retry_delay", 2.0))

    def client(self) -> Any:
        """A ``pagerduty.EventsApiV2Client`` for this connection, retrying every 5xx and network
        error :attr:`retries` times with exponential backoff (429 as the client does: unlimited)."""
        import pagerduty

        client = pagerduty.EventsApiV2Client(self.integration_key, base_url=self.base_url, verify=self.verify)
        client.timeout = self.timeout
        client.sleep_timer_base = 2
        client.sleep_timer = self.retry_delay / 2  # the client multiplies before each sleep
        client.retry.update({status: self.retries for status in range(500, 600)})
        client.max_http_attempts = self.retries
        client.max_network_attempts = self.retries
        return client

    def send_event(self, summary: str, severity: str, source: str = "airflow", action: str = "trigger",
                   dedup_key: str | None = None, custom_details: Any | None = None, group: str | None = None,
                   component: str | None = None, class_type: str | None = None, images: list[Any] | None = None,
                   links: list[Any] | None = None) -> str:
        """As :meth:`PagerdutyEventsHook.send_event`, at this connection's base URL with retries."""
        data = prepare_event_data(summary=summary, severity=severity, source=source, custom_details=custom_details,
                                  component=component, group=group, class_type=class_type, action=action,
                                  dedup_key=dedup_key, images=images, links=links)
        with self.client() as client:
            return client.send_event(**data)


def _verify(value: Any) -> Any:
    """``verify`` extra → what the HTTP client takes: a bool, or an SSL context trusting a CA file."""
    if isinstance(value, str):
        if value.strip().lower() in ("true", "false", "1", "0", "yes", "no"):
            return value.strip().lower() in ("true", "1", "yes")
        import ssl

        return ssl.create_default_context(cafile=value)
    return bool(value)
