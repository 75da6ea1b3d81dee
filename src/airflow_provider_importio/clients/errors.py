"""One exception tree for every API client in this package.

Every error carries the service name, the HTTP method, the URL and the response body, with
secrets already masked, so it can be logged or shown in the Airflow UI as it is.
"""

from __future__ import annotations


class ApiError(Exception):
    """An API call failed. ``status`` is the HTTP status, or ``None`` when no answer came."""

    def __init__(
        self,
        message: str,
        *,
        service: str,
        method: str | None = None,
        url: str | None = None,
        status: int | None = None,
        body: str | None = None,
        reason: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.service = service
        self.method = method
        self.url = url
        self.status = status
        self.body = body
        self.reason = reason
        self.retry_after = retry_after

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}(status={self.status!r}, message={self.message!r})"

    def __reduce__(self):  # keep errors picklable (they cross process boundaries in Airflow)
        return (_rebuild, (type(self), self.message, self.__dict__))


def _rebuild(cls: type[ApiError], message: str, state: dict) -> ApiError:
    err = cls.__new__(cls)
    Exception.__init__(err, message)
    err.__dict__.update(state)
    return err


class TransportError(ApiError):
    """No HTTP answer: the connection failed or dropped."""


class RequestTimeoutError(TransportError):
    """No HTTP answer within the configured timeout."""


class BadRequestError(ApiError):
    """400: the request was understood and refused; retrying will not help."""


class UnauthorizedError(ApiError):
    """401: the credentials are missing, wrong or revoked."""


class ForbiddenError(ApiError):
    """403: the credentials are valid but not allowed to do this."""


class NotFoundError(ApiError):
    """404: no such resource."""


class PayloadTooLargeError(ApiError):
    """413: the request body is larger than the service accepts."""


class UnsupportedMediaTypeError(ApiError):
    """415: the request body has the wrong content type."""


class UnprocessableEntityError(ApiError):
    """422: the body is well formed but its content was rejected."""


class RateLimitedError(ApiError):
    """429: too many requests; ``retry_after`` holds the service's advice in seconds."""


class ServerError(ApiError):
    """5xx: the service failed."""


class InvalidResponseError(ApiError):
    """The service answered with a body this client cannot read."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: BadRequestError,
    401: UnauthorizedError,
    403: ForbiddenError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaTypeError,
    422: UnprocessableEntityError,
    429: RateLimitedError,
}


def error_class_for_status(status: int) -> type[ApiError]:
    """The exception class for an HTTP error status."""
    if status in _BY_STATUS:
        return _BY_STATUS[status]
    return ServerError if status >= 500 else ApiError
