"""Plain API clients on ``requests`` (no Airflow imports): one transport, one exception tree."""

from airflow_provider_importio.clients.errors import (
    ApiError,
    BadRequestError,
    ForbiddenError,
    InvalidResponseError,
    NotFoundError,
    PayloadTooLargeError,
    RateLimitedError,
    RequestTimeoutError,
    ServerError,
    TransportError,
    UnauthorizedError,
    UnprocessableEntityError,
    UnsupportedMediaTypeError,
)
from airflow_provider_importio.clients.http import HttpTransport, RetryPolicy
from airflow_provider_importio.clients.importio import DEFAULT_BASE_URL, ImportioApi, ImportioClient
from airflow_provider_importio.clients.importio_records import (
    CrawlRun,
    CrawlRunState,
    Extractor,
    Report,
    ReportRun,
    Subscription,
    User,
)
from airflow_provider_importio.clients.importio_results import ResultLine, parse_result_line

__all__ = [
    "DEFAULT_BASE_URL",
    "ApiError",
    "BadRequestError",
    "CrawlRun",
    "CrawlRunState",
    "Extractor",
    "ForbiddenError",
    "HttpTransport",
    "ImportioApi",
    "ImportioClient",
    "InvalidResponseError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "Report",
    "ReportRun",
    "RequestTimeoutError",
    "ResultLine",
    "RetryPolicy",
    "ServerError",
    "Subscription",
    "TransportError",
    "UnauthorizedError",
    "UnprocessableEntityError",
    "UnsupportedMediaTypeError",
    "User",
    "parse_result_line",
]
