"""The log paths: how syslog lines get from the nodes into the workspace. The registry.

A log path is one module here (a subclass of ``base.AdapterBase`` that declares its name, title,
explanation, warning and whether it touches scale sets, and implements ``probe`` / ``apply`` /
``remove``) plus one line in ``ADAPTERS`` below. The plan, the engine's steps, the TUI and the
az/kubectl equivalents read the declared words from ``LOG_PATHS``; nothing else names a path.

Adapters import ``base`` and ``dcr`` only, never each other, so the registry is the one module
that sees them all. Importing this package loads no Azure SDK (``clients.py`` does that lazily).
"""

from __future__ import annotations

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.logpaths.ama import AmaPath
from aksaudit_tui.cloud.logpaths.base import AdapterBase, Change, LeftAlone, LogPath, LogPathState
from aksaudit_tui.cloud.logpaths.container_insights import ContainerInsightsPath
from aksaudit_tui.cloud.logpaths.legacy_oms import LegacyOmsPath
from aksaudit_tui.errors import UsageError

__all__ = [
    "ADAPTERS",
    "DEFAULT",
    "LOG_PATHS",
    "NAMES",
    "AdapterBase",
    "Change",
    "LeftAlone",
    "LogPath",
    "LogPathState",
    "describe",
    "get_log_path",
]

# The registry, in the order a chooser offers them; the first is the default.
ADAPTERS: tuple[type[AdapterBase], ...] = (ContainerInsightsPath, LegacyOmsPath, AmaPath)

LOG_PATHS: dict[str, type[AdapterBase]] = {a.name: a for a in ADAPTERS}
NAMES: tuple[str, ...] = tuple(LOG_PATHS)
DEFAULT: str = ADAPTERS[0].name


def describe(name: str) -> type[AdapterBase]:
    """The adapter class of a plan's ``log_path`` (its declared words); ``UsageError`` for an
    unknown name."""
    try:
        return LOG_PATHS[name]
    except KeyError:
        raise UsageError(f"unknown log path {name!r}; use one of {', '.join(NAMES)}") from None


def get_log_path(
    name: str,
    clients: AsyncClients,
    concurrency: int | None = None,
    repoint_agent: bool = False,
    plan_sha: str = "",
) -> LogPath:
    """The adapter for a plan's ``log_path`` value, on these clients (``concurrency`` bounds
    its ARM calls; default: the settings'; ``repoint_agent``: the plan's choice to re-point an
    agent that reports to another workspace; ``plan_sha``: the plan's hash, in the tags of a
    rule it creates)."""
    return describe(name)(clients, concurrency, repoint_agent, plan_sha)
