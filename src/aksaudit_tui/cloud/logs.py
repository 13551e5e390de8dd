"""The log-arrival check: one KQL query per workspace for all nodes.

The query stays within the emulator's documented KQL subset (table, where ==/in/in~/ago,
summarize count()/max() by), which is plain Kusto, so it runs unchanged on Azure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.errors import describe
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.errors import UsageError, UserError
from aksaudit_tui.syslog import check_facility

# audisp-syslog logs as "audispd" with a non-default facility, "audisp-syslog" with the default.
AUDIT_PROCESSES = ("audispd", "audisp-syslog")
# The base preset's watch on /var/lib/aksaudit/heartbeat: the keyed record every enabled node
# sends when the node script touches it (apply, and every compliant keeper check).
HEARTBEAT_KEY = "aksaudit-heartbeat"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


@dataclass(frozen=True)
class Arrival:
    """Audit lines of one computer in the window; ``heartbeats`` those of the heartbeat key."""

    records: int
    last_seen: datetime | None
    heartbeats: int = 0
    last_heartbeat: datetime | None = None

    @property
    def arrived(self) -> bool:
        return self.records > 0


class Arrivals(dict[str, Arrival]):
    """Computer -> Arrival for every computer asked about; ``partial`` says why data may be
    incomplete (the service answered with a partial result)."""

    partial: str | None = None


def kql_string(value: str) -> str:
    """A KQL string literal: double-quoted, backslash and quote escaped, no control chars."""
    if _CONTROL.search(value):
        raise UsageError(f"invalid name for a log query: {value!r}")
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def kql_timespan(delta: timedelta) -> str:
    seconds = max(1, int(delta.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def arrival_query(computers: Sequence[str], facility: str, since: timedelta) -> str:
    names = ", ".join(kql_string(c) for c in computers)
    procs = ", ".join(kql_string(p) for p in AUDIT_PROCESSES)
    return (
        "Syslog"
        f" | where TimeGenerated > ago({kql_timespan(since)})"
        f" | where Facility == {kql_string(facility)}"
        f" | where ProcessName in ({procs})"
        # in~: host names are case-insensitive; Syslog keeps whatever case the host reported.
        f" | where Computer in~ ({names})"
        f" | extend Heartbeat = SyslogMessage contains {kql_string(HEARTBEAT_KEY)}"
        " | summarize records=count(), last_seen=max(TimeGenerated) by Computer, Heartbeat"
    )


def as_datetime(value: Any) -> datetime | None:
    """A query answer's datetime cell as an aware UTC datetime (None: empty or unreadable)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    text = str(value).replace("Z", "+00:00")
    try:
        dt = datetime.fromisoformat(text)
    except ValueError:
        return None
    return dt if dt.tzinfo else dt.replace(tzinfo=UTC)


def table_rows(tables: Sequence[Any]) -> list[dict[str, Any]]:
    """The rows of a query answer's tables as column -> value dicts."""
    out: list[dict[str, Any]] = []
    for table in tables:
        cols = [getattr(c, "name", c) for c in table.columns]
        for row in table.rows:
            out.append(dict(zip(cols, list(row), strict=False)))
    return out


async def syslog_arrival(
    settings: CloudSettings,
    workspace_customer_id: str,
    computers: Sequence[str],
    facility: str,
    since: timedelta,
    *,
    clients: AsyncClients | None = None,
) -> Arrivals:
    """Records and last-seen time per computer of audit lines in ``Syslog`` within ``since``.

    One query for all ``computers``; every requested computer is in the result (0 records when
    none arrived). Raises ``UserError`` with one line on a refused or failed query.
    """
    from azure.monitor.query import LogsQueryPartialResult

    fac = check_facility(facility)
    result = Arrivals({c: Arrival(0, None) for c in computers})
    if not computers:
        return result
    query = arrival_query(list(dict.fromkeys(computers)), fac, since)
    own = clients is None
    cl = clients or AsyncClients(settings)
    try:
        response = await cl.logs().query_workspace(
            workspace_customer_id,
            query,
            timespan=since + timedelta(minutes=5),  # the service also clips to timespan
        )
    except Exception as exc:
        raise query_error(exc, workspace_customer_id) from None
    finally:
        if own:
            await cl.close()
    if isinstance(response, LogsQueryPartialResult):
        tables = response.partial_data
        err = response.partial_error
        result.partial = (
            f"{getattr(err, 'code', 'PartialError')}: {getattr(err, 'message', '')}".strip()
        )
    else:
        tables = response.tables
    by_lower = {c.lower(): c for c in computers}
    for row in table_rows(tables):
        name = by_lower.get(str(row.get("Computer") or "").lower())
        if name is None:
            continue
        prev = result[name]
        count = int(row.get("records") or 0)
        at = as_datetime(row.get("last_seen"))
        beats, last_beat = prev.heartbeats, prev.last_heartbeat
        if as_bool(row.get("Heartbeat")):
            beats += count
            last_beat = _newest(last_beat, at)
        result[name] = Arrival(prev.records + count, _newest(prev.last_seen, at), beats, last_beat)
    return result


def _newest(a: datetime | None, b: datetime | None) -> datetime | None:
    if a is None:
        return b
    return a if b is None or a > b else b


def as_bool(value: Any) -> bool:
    """A query answer's bool cell (the service sends a JSON bool; some encoders a string)."""
    if isinstance(value, bool):
        return value
    return str(value).strip().lower() in ("true", "1")


def query_error(exc: BaseException, workspace: str) -> UserError:
    """A failed workspace query as one line that says what to fix (rejected, no access, ...)."""
    info = describe(exc)
    if info.status == 400 or info.code in ("BadArgumentError", "SemanticError", "SyntaxError"):
        return UserError(f"the log query was rejected by workspace {workspace}: {info.message}")
    if info.status == 403:
        return UserError(
            f"you lack read access to workspace {workspace}; ask for Log Analytics Reader on it"
        )
    if info.status == 404:
        return UserError(f"workspace {workspace} not found by the query API ({info.message})")
    return UserError(f"querying workspace {workspace} failed: {info.message} ({info.code})")
