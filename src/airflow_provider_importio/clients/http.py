"""The HTTP transport every client in this package shares.

One ``requests`` session, one request builder, one retry predicate (:class:`RetryPolicy`), one
way to turn an HTTP failure into the exception tree of :mod:`.errors`, and streamed downloads.
Secrets never leave this module unmasked: URLs and bodies in errors and logs pass a
:class:`~.masking.Masker`, and exceptions are raised outside ``except`` blocks so no
``requests`` exception (whose text holds the full URL) is chained to them.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Union
from urllib.parse import quote

if TYPE_CHECKING:  # imported when a request is made: importing an operator module stays cheap (DAG parse)
    import requests

from airflow_provider_importio.clients.errors import (
    ApiError,
    InvalidResponseError,
    RequestTimeoutError,
    TransportError,
    error_class_for_status,
)
from airflow_provider_importio.clients.masking import Masker, install_urllib3_redaction

log = logging.getLogger(__name__)

Timeout = Union[float, tuple[float, float]]
DownloadTarget = Union[str, os.PathLike, IO[bytes]]

IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})
MAX_ERROR_BODY = 2000
DOWNLOAD_CHUNK = 1 << 16


@dataclass(frozen=True)
class RetryPolicy:
    """When to retry a request, and how long to wait first.

    Retried: 429, 502, 503 and 504 answers, dropped or refused connections, and for idempotent
    methods also 500 answers and read timeouts. Never retried: every other 4xx (400, 401, 403,
    404, ...), because the same request would fail the same way. Waits grow exponentially with
    full jitter, and a ``Retry-After`` header is honoured (up to ``max_retry_after`` seconds).
    """

    max_retries: int = 5
    backoff_base: float = 0.5
    backoff_max: float = 30.0
    max_retry_after: float = 300.0
    retry_statuses: frozenset[int] = frozenset({429, 502, 503, 504})
    idempotent_retry_statuses: frozenset[int] = frozenset({500})
    #: Every request to the service is safe to repeat (e.g. upserts with fixed sequences).
    all_idempotent: bool = False

    def should_retry(self, method: str, error: ApiError) -> bool:
        idempotent = self.all_idempotent or method.upper() in IDEMPOTENT_METHODS
        if isinstance(error, RequestTimeoutError):
            return idempotent
        if isinstance(error, TransportError):
            return True
        if error.status in self.retry_statuses:
            return True
        return idempotent and error.status in self.idempotent_retry_statuses

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        backoff = random.uniform(0, min(self.backoff_max, self.backoff_base * 2**attempt))
        if retry_after is not None:
            return max(min(retry_after, self.max_retry_after), backoff)
        return backoff


def parse_retry_after(value: str | None) -> float | None:
    """``Retry-After`` as seconds: either a number or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def path(template: str, *ids: str) -> str:
    """Fill ``{}`` placeholders of a path template with URL-quoted ids."""
    return template.format(*(quote(str(i), safe="") for i in ids))


@dataclass
class HttpTransport:
    """Sends requests to one service, with auth, retries, masking and typed errors."""

    base_url: str
    service: str
    masker: Masker = field(default_factory=Masker, repr=False)
    auth_params: Mapping[str, str] = field(default_factory=dict, repr=False)
    auth_headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    timeout: Timeout = (10.0, 120.0)
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    user_agent: str = "airflow-provider-importio"
    session: requests.Session = field(default_factory=lambda: _requests().Session(), repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)
    #: Turns a generic HTTP error into a service-specific one (e.g. by reading its body).
    refine_error: Callable[[ApiError], ApiError] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        install_urllib3_redaction()
        self.base_url = self.base_url.rstrip("/")
        self.session.headers["User-Agent"] = self.user_agent

    def close(self) -> None:
        self.session.close()

    def url(self, path_: str) -> str:
        """The absolute URL of a path; an absolute URL must lie under ``base_url``
        (a link from a response never sends our credentials to another host)."""
        if "://" in path_:
            if not path_.startswith(self.base_url + "/"):
                raise InvalidResponseError(
                    f"{self.service} refused to follow a link outside {self.base_url}",
                    service=self.service, url=self.masker.mask(path_),
                )
            return path_
        return f"{self.base_url}/{path_.lstrip('/')}"

    # -- requests ------------------------------------------------------------------------
    def request(
        self,
        method: str,
        path_: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        data: bytes | str | None = None,
        headers: Mapping[str, str] | None = None,
        stream: bool = False,
    ) -> requests.Response:
        """Send a request, retrying per :attr:`retry`; return a 2xx/3xx response or raise."""
        method = method.upper()
        url = self.url(path_)
        query = {**(params or {}), **self.auth_params}
        all_headers = {**(headers or {}), **self.auth_headers}
        attempt = 0
        while True:
            outcome = self._send_once(method, url, query, json, data, all_headers, stream)
            if not isinstance(outcome, ApiError):  # a response
                if outcome.status_code < 400:
                    return outcome
                error = self._error_from_response(method, outcome)
            else:
                error = outcome
            if attempt >= self.retry.max_retries or not self.retry.should_retry(method, error):
                raise error
            wait = self.retry.delay(attempt, error.retry_after)
            attempt += 1
            log.warning(
                "%s %s failed (%s); retry %d of %d in %.2f s",
                method,
                error.url,
                error.status or type(error).__name__,
                attempt,
                self.retry.max_retries,
                wait,
            )
            self.sleep(wait)

    def request_json(self, method: str, path_: str, **kwargs: Any) -> Any:
        """Send a request and decode its JSON body (``None`` for an empty body)."""
        response = self.request(method, path_, **kwargs)
        if not response.content.strip():
            return None
        try:
            return response.json()
        except ValueError:
            raise self._error(
                InvalidResponseError, f"answered {response.status_code} with a body that is not JSON",
                method, response.url, response.status_code, response.text,
            ) from None

    def _send_once(self, method, url, query, json, data, headers, stream) -> requests.Response | ApiError:
        requests = _requests()
        try:
            return self.session.request(
                method, url, params=query, json=json, data=data, headers=headers,
                timeout=self.timeout, stream=stream,
            )
        except requests.Timeout as exc:
            failure = (RequestTimeoutError, f"timed out ({type(exc).__name__})")
        except requests.RequestException as exc:
            failure = (TransportError, f"could not be completed: {type(exc).__name__}: {exc}")
        # Raised by the caller outside this function: nothing unmasked is chained to it.
        return self._error(failure[0], failure[1], method, self._full_url(url, query), None, None)

    def _full_url(self, url: str, query: Mapping[str, Any]) -> str:
        return _requests().Request("GET", url, params=query).prepare().url or url

    def _error_from_response(self, method: str, response: requests.Response) -> ApiError:
        body = response.text[:MAX_ERROR_BODY]
        reason = _reason_from_body(response)
        detail = f"{response.status_code} {response.reason or ''}".strip()
        if reason:
            detail += f": {reason}"
        error = self._error(
            error_class_for_status(response.status_code), f"answered {detail}", method, response.url,
            response.status_code, body, reason=reason,
            retry_after=parse_retry_after(response.headers.get("Retry-After")),
        )
        return self.refine_error(error) if self.refine_error else error

    def _error(self, cls: type[ApiError], what: str, method: str, url: str | None, status: int | None,
               body: str | None, *, reason: str | None = None, retry_after: float | None = None) -> ApiError:
        mask = self.masker.mask
        masked_url = mask(url)
        return cls(
            mask(f"{self.service} {method} {masked_url} {what}"),
            service=self.service, method=method, url=masked_url, status=status,
            body=mask(body) if body else body, reason=mask(reason) if reason else reason,
            retry_after=retry_after,
        )

    # -- downloads -----------------------------------------------------------------------
    def download(self, path_: str, target: DownloadTarget, *, params: Mapping[str, Any] | None = None,
                 headers: Mapping[str, str] | None = None) -> int:
        """Stream a GET response body to a path or binary file object; return bytes written.

        Memory stays flat whatever the size. A path is written to a temporary file beside it and
        renamed into place when complete, so it never holds a partial file. A connection that
        drops mid-stream restarts the download (into a seekable file object, from its start).
        """
        if isinstance(target, (str, os.PathLike)):
            return self._download_to_path(path_, Path(target), params, headers)
        return self._download_to_file(path_, target, params, headers)

    def _download_to_path(self, path_, target: Path, params, headers) -> int:
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                written = self._download_to_file(path_, fh, params, headers)
            os.replace(tmp, target)
            return written
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)

    def _download_to_file(self, path_, fh: IO[bytes], params, headers) -> int:
        start = fh.tell() if fh.seekable() else None
        attempt = 0
        while True:
            response = self.request("GET", path_, params=params, headers=headers, stream=True)
            outcome = self._copy_body(response, fh)
            if isinstance(outcome, int):
                return outcome
            if start is None or attempt >= self.retry.max_retries:
                raise outcome
            attempt += 1
            log.warning("%s download of %s broke off (%s); restarting, attempt %d of %d",
                        self.service, outcome.url, outcome.message, attempt, self.retry.max_retries)
            fh.seek(start)
            fh.truncate()
            self.sleep(self.retry.delay(attempt - 1))

    def _copy_body(self, response: requests.Response, fh: IO[bytes]) -> int | ApiError:
        written = 0
        try:
            with response:
                for chunk in response.iter_content(DOWNLOAD_CHUNK):
                    fh.write(chunk)
                    written += len(chunk)
            return written
        except _requests().RequestException as exc:
            what = f"broke off after {written} bytes: {type(exc).__name__}"
        return self._error(TransportError, what, "GET", response.url, response.status_code, None)

    def iter_lines(self, path_: str, *, params: Mapping[str, Any] | None = None) -> Iterator[bytes]:
        """Stream a GET response body line by line (no retry once lines have been yielded)."""
        response = self.request("GET", path_, params=params, stream=True)
        with response:
            try:
                for line in response.iter_lines(DOWNLOAD_CHUNK):
                    if line:
                        yield line
            except _requests().RequestException as exc:
                what = f"broke off while streaming: {type(exc).__name__}"
                error = self._error(TransportError, what, "GET", response.url, response.status_code, None)
            else:
                return
        raise error


def _requests() -> Any:
    import requests

    return requests


def _reason_from_body(response: requests.Response) -> str | None:
    """The service's own explanation, from a JSON error body's usual keys."""
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return text[:300] or None
    if not isinstance(body, dict):
        return None
    parts = [body[k] for k in ("error", "message", "reason") if isinstance(body.get(k), str) and body[k]]
    nested = body.get("errors")
    if isinstance(nested, dict):
        nested = [nested]
    for item in nested if isinstance(nested, list) else ():
        if isinstance(item, dict):
            parts += [item[k] for k in ("error", "reason", "message") if isinstance(item.get(k), str)]
    data = body.get("data")
    if isinstance(data, dict) and isinstance(data.get("message"), str):
        parts.append(data["message"])
    return "; ".join(dict.fromkeys(parts)) or None


def paginate(fetch_page: Callable[[int], list[Any]], per_page: int) -> Iterator[Any]:
    """Yield items from 1-based pages until a page comes back short."""
    page = 1
    while True:
        items = fetch_page(page)
        yield from items
        if len(items) < per_page:
            return
        page += 1
