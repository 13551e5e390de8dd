"""Where the libraries' diagnostics go: a log file, never the user's terminal.

The Azure SDK, azure-identity, msal, urllib3, aiohttp and the kubernetes client log through the
standard ``logging`` module; with no handler configured Python's last-resort handler prints
every warning to stderr (azure-identity alone printed 26 lines for a missing ``az login``). The
CLI attaches one rotating file handler to the root logger instead (file under the platformdirs
log dir, or ``AKSAUDIT_LOG_FILE``), opened only when the first record comes, and a stderr
handler only with ``--verbose``. Python ``warnings`` (urllib3's, for example) go the same way.

The session counts records at WARNING and above, so the one error line on stderr can add the
log file's path when there is more to read there.
"""

from __future__ import annotations

import logging
import logging.handlers
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from aksaudit_tui import redaction

ENV_LOG_FILE = "AKSAUDIT_LOG_FILE"
LOG_NAME = "aksaudit.log"
# Loggers whose records are only worth reading in the file (or on stderr with --verbose).
LIBRARY_LOGGERS = ("azure", "azure.identity", "msal", "urllib3", "kubernetes", "aiohttp")
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
_MAX_BYTES = 5_000_000


def log_file_path(env: Mapping[str, str] | None = None) -> Path:
    """``AKSAUDIT_LOG_FILE``, else ``aksaudit.log`` in the platform's user log dir."""
    environ: Mapping[str, str] = os.environ if env is None else env
    configured = environ.get(ENV_LOG_FILE)
    if configured:
        return Path(configured).expanduser()
    import platformdirs  # light, but only needed once a command runs

    return Path(platformdirs.user_log_dir("aksaudit")) / LOG_NAME


class _Counter(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.count = 0

    def emit(self, record: logging.LogRecord) -> None:
        self.count += 1


class LogSession:
    """The handlers one CLI run installed; :meth:`close` takes them away again."""

    def __init__(self, path: Path, verbose: bool) -> None:
        self.path = path
        self._counter = _Counter()
        self._handlers: list[logging.Handler] = [self._counter]
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            file_handler: logging.Handler = logging.handlers.RotatingFileHandler(
                path, maxBytes=_MAX_BYTES, backupCount=2, encoding="utf-8", delay=True
            )
        except OSError:
            # An unwritable log dir must not stop the tool; records are then dropped quietly.
            file_handler = logging.NullHandler()
            self.path = Path(os.devnull)
        file_handler.setFormatter(logging.Formatter(_FORMAT))
        self._handlers.append(file_handler)
        if verbose:
            err = logging.StreamHandler(sys.stderr)
            err.setFormatter(logging.Formatter("aksaudit: log: %(name)s: %(message)s"))
            self._handlers.append(err)
        root = logging.getLogger()
        self._old_level = root.level
        for handler in self._handlers:
            handler.addFilter(redaction.RedactingFilter())  # no workspace key or token in logs
            root.addHandler(handler)
        # INFO, even with --verbose: below it msal and the HTTP clients log request details
        # that may carry secrets.
        root.setLevel(logging.INFO)
        for name in LIBRARY_LOGGERS:
            # their own level may have been set by an earlier import; let the root decide
            logging.getLogger(name).setLevel(logging.NOTSET)
        logging.captureWarnings(True)

    @property
    def has_more(self) -> bool:
        """True when a warning or error went to the log file during this run."""
        return self._counter.count > 0 and self.path != Path(os.devnull)

    def close(self) -> None:
        root = logging.getLogger()
        for handler in self._handlers:
            root.removeHandler(handler)
            handler.close()
        root.setLevel(self._old_level)
        logging.captureWarnings(False)


def start(verbose: bool, env: Mapping[str, str] | None = None) -> LogSession:
    return LogSession(log_file_path(env), verbose)
