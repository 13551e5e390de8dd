"""Exit codes and the errors every command turns into one line on stderr."""

from __future__ import annotations

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_PARTIAL = 3
EXIT_CANCELLED = 4
EXIT_VERIFY_FAILED = 5


class UserError(Exception):
    """A problem the user can fix; printed as one line, no traceback."""

    exit_code = EXIT_ERROR

    def __init__(self, message: str, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(UserError):
    """Bad input (flags, plan file, preset names): exit 2, nothing changed."""

    exit_code = EXIT_USAGE
