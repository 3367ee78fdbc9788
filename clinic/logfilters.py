"""Logging filters that keep credentials and search terms out of every log line (issue 17 item 10).

`RedactSecrets` masks Authorization values (Bearer, Basic, any scheme), API tokens and passwords in
any record; `RedactQueryStrings` drops query-string values from access-log request lines, because
search terms are often patient names. Both are on the console handler in settings.LOGGING.
"""

from __future__ import annotations

import logging
import re

_SECRETS = (
    # "Authorization: Basic dXNlcjpwYXNz", "'Bearer soap_...'", "Token abc" ...
    (re.compile(r"(?i)\b(authorization\b[\"']?\s*[:=]\s*[\"']?)([^\s\"',}]+)(\s+[^\s\"',}]+)?"), r"\1[redacted]"),
    (re.compile(r"(?i)\b(basic|bearer|token|digest|negotiate)\s+[A-Za-z0-9._~+/=-]{6,}"), r"\1 [redacted]"),
    (re.compile(r"\bsoap_[A-Za-z0-9_-]{8,}"), "[redacted-token]"),
    (re.compile(r"(?i)\b(password|passwd|secret|api_key|token)=([^&\s]+)"), r"\1=[redacted]"),
)
_QUERY = re.compile(r"\?[^\s\"]*")


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


def _message(record: logging.LogRecord) -> str:
    try:
        return record.getMessage()
    except Exception:  # a malformed record is logged as is rather than dropped
        return str(record.msg)


class RedactSecrets(logging.Filter):
    """Rewrite the record's message with credentials masked (formatted once, args dropped)."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = _message(record)
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        return True


class RedactQueryStrings(logging.Filter):
    """Access-log lines ("GET /?q=smith HTTP/1.1" 200) keep the path and drop the query values."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name in {"django.server", "gunicorn.access"}:
            message = _message(record)
            record.msg, record.args = _QUERY.sub("?[query]", message), None
        return True
