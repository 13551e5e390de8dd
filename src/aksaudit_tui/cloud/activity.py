"""What a workspace says arrived: one KQL query per workspace for every computer at once.

Per computer and facility: audit records and the last one, heartbeat records (the base preset's
watch, key ``aksaudit-heartbeat``) and the last one, and records per hour over the window (the
status screen's sparkline). One query answers all of it, so status costs one query per
workspace whatever the fleet size.

The query stays within the emulator's documented KQL subset (where, extend, summarize ... by,
``contains``, ``bin``), which is plain Kusto and runs unchanged on Azure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.logs import (
    AUDIT_PROCESSES,
    HEARTBEAT_KEY,
    as_bool,
    as_datetime,
    kql_string,
    kql_timespan,
    query_error,
    table_rows,
)

HOUR = timedelta(hours=1)


@dataclass
class ComputerActivity:
    """One computer's audit lines on one facility within the window."""

    records: int = 0
    last_seen: datetime | None = None
    heartbeats: int = 0
    last_heartbeat: datetime | None = None
    hourly: dict[datetime, int] = field(default_factory=dict)  # hour start (UTC) -> records

    def add(
        self, records: int, last: datetime | None, heartbeat: bool, hour: datetime | None
    ) -> None:
        self.records += records
        if last is not None and (self.last_seen is None or last > self.last_seen):
            self.last_seen = last
        if heartbeat:
            self.heartbeats += records
            if last is not None and (self.last_heartbeat is None or last > self.last_heartbeat):
                self.last_heartbeat = last
        if hour is not None:
            self.hourly[hour] = self.hourly.get(hour, 0) + records


@dataclass
class WorkspaceActivity:
    """(computer in lower case, facility) -> activity, for one workspace; ``partial`` says why
    the answer may be incomplete."""

    customer_id: str
    since: timedelta
    by_computer: dict[tuple[str, str], ComputerActivity] = field(default_factory=dict)
    partial: str | None = None
    queried_at: datetime = field(default_factory=lambda: datetime.now(UTC))

    def get(self, computer: str, facility: str) -> ComputerActivity | None:
        return self.by_computer.get((computer.lower(), facility.lower()))

    def facilities(self, computer: str) -> list[str]:
        """Facilities this computer's audit lines arrived on (a misconfigured plugin shows up
        as lines on another facility)."""
        c = computer.lower()
        return sorted(f for (comp, f) in self.by_computer if comp == c)


def activity_query(since: timedelta) -> str:
    procs = ", ".join(kql_string(p) for p in AUDIT_PROCESSES)
    return (
        "Syslog"
        f" | where TimeGenerated > ago({kql_timespan(since)})"
        f" | where ProcessName in ({procs})"
        f" | extend Heartbeat = SyslogMessage contains {kql_string(HEARTBEAT_KEY)},"
        " Hour = bin(TimeGenerated, 1h)"
        " | summarize records=count(), last_seen=max(TimeGenerated)"
        " by Computer, Facility, Heartbeat, Hour"
    )


def parse_activity(customer_id: str, since: timedelta, tables: Sequence[Any]) -> WorkspaceActivity:
    out = WorkspaceActivity(customer_id, since)
    for row in table_rows(tables):
        computer = str(row.get("Computer") or "").lower()
        if not computer:
            continue
        facility = str(row.get("Facility") or "").lower()
        act = out.by_computer.setdefault((computer, facility), ComputerActivity())
        act.add(
            int(row.get("records") or 0),
            as_datetime(row.get("last_seen")),
            as_bool(row.get("Heartbeat")),
            as_datetime(row.get("Hour")),
        )
    return out


async def workspace_activity(
    clients: AsyncClients, customer_id: str, since: timedelta
) -> WorkspaceActivity:
    """Run the activity query on one workspace. Raises ``UserError`` (one line) when the query
    is refused or fails."""
    from azure.monitor.query import LogsQueryPartialResult  # startup time: the Azure SDK

    try:
        response = await clients.logs().query_workspace(
            customer_id, activity_query(since), timespan=since + timedelta(minutes=5)
        )
    except Exception as exc:
        raise query_error(exc, customer_id) from None
    if isinstance(response, LogsQueryPartialResult):
        out = parse_activity(customer_id, since, response.partial_data)
        err = response.partial_error
        out.partial = (
            f"{getattr(err, 'code', 'PartialError')}: {getattr(err, 'message', '')}".strip()
        )
        return out
    return parse_activity(customer_id, since, response.tables)
