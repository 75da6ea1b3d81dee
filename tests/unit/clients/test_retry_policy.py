from __future__ import annotations

import email.utils
import time

import pytest

from airflow_provider_importio.clients.errors import (
    ApiError,
    RequestTimeoutError,
    TransportError,
    error_class_for_status,
)
from airflow_provider_importio.clients.http import RetryPolicy, parse_retry_after, path


def _error(status):
    return error_class_for_status(status)("x", service="s", status=status)


@pytest.mark.parametrize("status", [429, 502, 503, 504])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT"])
def test_retryable_statuses_for_every_method(status, method):
    assert RetryPolicy().should_retry(method, _error(status))


@pytest.mark.parametrize("status", [400, 401, 403, 404, 413, 415, 422])
@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "DELETE"])
def test_client_errors_are_never_retried(status, method):
    assert not RetryPolicy().should_retry(method, _error(status))


def test_500_is_retried_only_for_idempotent_methods():
    policy = RetryPolicy()
    assert policy.should_retry("GET", _error(500))
    assert policy.should_retry("PUT", _error(500))
    assert not policy.should_retry("POST", _error(500))


def test_connection_errors_retry_and_timeouts_only_when_idempotent():
    policy = RetryPolicy()
    assert policy.should_retry("POST", TransportError("x", service="s"))
    assert policy.should_retry("GET", RequestTimeoutError("x", service="s"))
    assert not policy.should_retry("POST", RequestTimeoutError("x", service="s"))


def test_delay_grows_exponentially_within_jitter_bounds():
    policy = RetryPolicy(backoff_base=1.0, backoff_max=8.0)
    for attempt, cap in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (6, 8.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= d <= cap for d in delays)
        assert max(delays) > cap / 2  # jitter spreads over the range


def test_retry_after_is_honoured_and_capped():
    policy = RetryPolicy(backoff_base=0.01, max_retry_after=60)
    assert policy.delay(0, retry_after=7) == 7
    assert policy.delay(0, retry_after=3600) == 60


def test_parse_retry_after_seconds_and_http_date():
    assert parse_retry_after("5") == 5
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    future = email.utils.formatdate(time.time() + 30, usegmt=True)
    assert 25 <= parse_retry_after(future) <= 31


def test_path_quotes_ids():
    assert path("/extractors/{}/inputs", "a/b?c") == "/extractors/a%2Fb%3Fc/inputs"


def test_unknown_4xx_maps_to_base_error_and_5xx_to_server_error():
    assert error_class_for_status(418) is ApiError
    assert error_class_for_status(599).__name__ == "ServerError"


def test_all_idempotent_services_retry_500_and_timeouts_on_post():
    policy = RetryPolicy(all_idempotent=True)
    assert policy.should_retry("POST", _error(500))
    assert policy.should_retry("POST", RequestTimeoutError("x", service="s"))
    assert not policy.should_retry("POST", _error(400))
