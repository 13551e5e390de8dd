"""The one registry of secrets this process holds (workspace keys, access tokens).

A secret is registered where it enters the process (the static token when settings are read,
the workspace key the moment the legacy-oms path fetches it), and every way text leaves the
process scrubs against the registry: journal writes, the log file's records, error lines on
stderr and the errors the cloud layer builds. Registering is cheap and idempotent; secrets
shorter than 8 characters are not registered (scrubbing them would mangle ordinary text).
Plain Python with no imports of the product, so every layer may use it.
"""

from __future__ import annotations

import logging
import threading

_SECRETS: set[str] = set()
_LOCK = threading.Lock()
MIN_LENGTH = 8


def register(secret: str | None) -> None:
    """Remember ``secret`` so no journal, log record or error line can carry it."""
    if secret and len(secret) >= MIN_LENGTH:
        with _LOCK:
            _SECRETS.add(secret)


def scrub(text: str, mask: str = "<redacted>") -> str:
    """``text`` with every registered secret replaced by ``mask``."""
    with _LOCK:
        secrets = list(_SECRETS)
    for secret in secrets:
        if secret in text:
            text = text.replace(secret, mask)
    return text


class RedactingFilter(logging.Filter):
    """A handler filter that renders a record's message once and scrubs it (and the exception
    text a formatter would add), so no secret reaches the log file or stderr."""

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        clean = scrub(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[1] is not None and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = scrub(record.exc_text)
        return True
