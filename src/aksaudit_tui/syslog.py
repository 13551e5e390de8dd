"""The syslog vocabulary of the whole product: which facilities and severities the tool offers,
how a user's spelling is read, and the data collection rule spelling of the levels.

One list for every layer (the node script, the cloud log paths, the log query, the plan, its
editor and the TUI). It sits at the top of the package, beside ``errors.py``, because both
``cloud`` and ``nodes`` need it and neither may import the other. The emulator is a separate
program and keeps its own.
"""

from __future__ import annotations

from aksaudit_tui.errors import UsageError

# Facilities audisp-syslog accepts (audit 3.x audisp-syslog.c and 2.x builtin syslog): the only
# ones the node can send, so the only ones worth collecting. The recommended default first.
FACILITIES: tuple[str, ...] = (
    "authpriv",
    "auth",
    "user",
    "daemon",
    "syslog",
    *(f"local{i}" for i in range(8)),
)
# Priorities audisp-syslog accepts as its first argument, most severe first (the order matters:
# "info" collects info and everything more severe).
SEVERITIES: tuple[str, ...] = (
    "emerg",
    "alert",
    "crit",
    "err",
    "warning",
    "notice",
    "info",
    "debug",
)
# The same levels as data collection rules spell them (``logLevels``), most severe first.
DCR_LEVELS: tuple[str, ...] = (
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Info",
    "Debug",
)
_SEVERITY_ALIASES = {
    "emergency": "emerg",
    "panic": "emerg",
    "critical": "crit",
    "error": "err",
    "warn": "warning",
    "information": "info",
    "informational": "info",
}


class UnknownSyslogName(UsageError, ValueError):
    """A facility or severity the tool does not offer. A ``UsageError`` (exit 2) for the
    commands, and a ``ValueError`` for ``render_node_script``'s callers, who catch that."""


def check_facility(facility: str) -> str:
    """``facility`` as the tool spells it (lower case, no ``LOG_`` prefix), or
    :class:`UnknownSyslogName`."""
    f = facility.strip().lower().removeprefix("log_")
    if f not in FACILITIES:
        raise UnknownSyslogName(
            f"unknown syslog facility {facility!r}; use one of {', '.join(FACILITIES)}"
        )
    return f


def check_severity(severity: str) -> str:
    """``severity`` as the syslog keyword (``err``, ``warning``, ...); common spellings such as
    ``error`` or ``LOG_WARN`` are accepted. Otherwise :class:`UnknownSyslogName`."""
    s = severity.strip().lower().removeprefix("log_")
    s = _SEVERITY_ALIASES.get(s, s)
    if s not in SEVERITIES:
        raise UnknownSyslogName(
            f"unknown syslog severity {severity!r}; use one of {', '.join(SEVERITIES)}"
        )
    return s


def severities_from(severity: str) -> tuple[str, ...]:
    """Every syslog severity from emerg down to ``severity`` (lower-case keywords): what a
    collector must list to receive ``severity`` and everything more severe."""
    s = check_severity(severity)
    return SEVERITIES[: SEVERITIES.index(s) + 1]


def dcr_levels_from(severity: str) -> tuple[str, ...]:
    """The DCR logLevels for ``severity`` and everything more severe, in DCR spelling, least
    severe first (the az CLI's order)."""
    n = len(severities_from(severity))
    return tuple(reversed(DCR_LEVELS[:n]))


def keyword_of_level(level: str) -> str:
    """A DCR level (``Error``) or a syslog keyword (``err``) as the syslog keyword; anything
    else lower-cased as it is (``*`` stays ``*``)."""
    low = level.lower()
    for keyword, dcr in zip(SEVERITIES, DCR_LEVELS, strict=True):
        if low == dcr.lower():
            return keyword
    return low
