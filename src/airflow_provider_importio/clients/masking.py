"""Keep secrets out of text that may reach a log, an exception or the Airflow UI.

Import.io's API key travels as the ``_apikey`` query parameter, so any URL is a secret carrier.
:class:`Masker` replaces the values of secret query parameters and every literal occurrence of a
known secret (raw or URL-encoded). :func:`install_urllib3_redaction` does the same for the one
library that logs URLs on its own: urllib3's connection pool, at DEBUG level.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from urllib.parse import quote, quote_plus

MASK = "***"
#: Query parameters whose values are secrets wherever they appear.
SECRET_QUERY_PARAMS: tuple[str, ...] = ("_apikey",)
#: Secrets shorter than this are not masked literally (they would mask ordinary text).
MIN_SECRET_LENGTH = 4


def _param_pattern(params: Iterable[str]) -> re.Pattern[str]:
    names = "|".join(re.escape(p) for p in params)
    return re.compile(rf"((?:^|[?&;\s\"'(])(?:{names})=)[^&#\s\"'<>)]*")


_DEFAULT_PARAM_PATTERN = _param_pattern(SECRET_QUERY_PARAMS)


class Masker:
    """Masks secret query parameters and known secret values in text."""

    def __init__(self, secrets: Iterable[str | None] = (), params: Iterable[str] = SECRET_QUERY_PARAMS):
        params = tuple(params)
        self._param_pattern = (
            _DEFAULT_PARAM_PATTERN if params == SECRET_QUERY_PARAMS else _param_pattern(params)
        )
        forms: set[str] = set()
        for secret in secrets:
            if secret and len(secret) >= MIN_SECRET_LENGTH:
                forms.update({secret, quote(secret), quote(secret, safe=""), quote_plus(secret)})
        # Longest first, so a secret that contains another is masked whole.
        self._literals = sorted(forms, key=len, reverse=True)

    def mask(self, text: str | None) -> str:
        if not text:
            return text or ""
        text = self._param_pattern.sub(rf"\g<1>{MASK}", text)
        for literal in self._literals:
            text = text.replace(literal, MASK)
        return text

    def __repr__(self) -> str:
        return f"Masker(<{len(self._literals)} secret forms>)"


class _QueryParamRedactor(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = _DEFAULT_PARAM_PATTERN.sub(rf"\g<1>{MASK}", message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


_REDACTOR = _QueryParamRedactor()


def install_urllib3_redaction() -> None:
    """Mask secret query parameters in urllib3's own log records (idempotent)."""
    for name in ("urllib3.connectionpool", "urllib3.util.retry", "urllib3.connection"):
        logger = logging.getLogger(name)
        if _REDACTOR not in logger.filters:
            logger.addFilter(_REDACTOR)
