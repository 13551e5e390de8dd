"""The Status screen's view model: one row per cluster (the fleet), sorted and filtered, the
nodes of one cluster for the drill-down, and the exports. Textual-free, so it is tested alone
and its memory is measured for a 10,000-node fleet (bench/status.py).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from datetime import UTC, datetime

from aksaudit_tui.engine.coverage import ClusterCoverage, NodeRow, StatusReport

SORTS: tuple[str, ...] = ("name", "coverage", "drift", "heartbeat")
BAR_WIDTH = 10
CSV_FIELDS = (
    "cluster",
    "subscription",
    "node",
    "pool",
    "os",
    "state",
    "reason",
    "fix",
    "last_heartbeat",
    "last_seen",
    "records",
)


@dataclass(frozen=True)
class FleetRow:
    """One cluster as the fleet table shows it."""

    key: str  # unique: subscription/name
    name: str
    subscription: str
    coverage: float
    covered: int
    total: int
    state: str  # "covered" | "partial" | "not enabled" | "unknown"
    log_path: str
    last_heartbeat: str
    drift: int
    enabled_by: str
    hourly: tuple[int, ...]

    @property
    def bar(self) -> str:
        full = round(self.coverage * BAR_WIDTH)
        return "█" * full + "░" * (BAR_WIDTH - full)


def _when(iso: str | None, now: datetime) -> str:
    if not iso:
        return "-"
    try:
        dt = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    s = max(0, int((now - dt).total_seconds()))
    if s < 120:
        return f"{s} s ago"
    if s < 7200:
        return f"{s // 60} min ago"
    return f"{s // 3600} h ago"


def _generated(report: StatusReport) -> datetime | None:
    try:
        return datetime.fromisoformat(report.generated.replace("Z", "+00:00"))
    except ValueError:
        return None


def fleet_row(c: ClusterCoverage, now: datetime | None = None) -> FleetRow:
    now = now or datetime.now(UTC)
    if c.error:
        state = "unknown"
    elif c.enabled is False:
        state = "not enabled"
    elif c.fully_covered:
        state = "covered"
    else:
        state = "partial"
    return FleetRow(
        key=f"{c.subscription}/{c.name}",
        name=c.name,
        subscription=c.subscription_name or c.subscription,
        coverage=c.coverage,
        covered=c.covered_count,
        total=len(c.linux_nodes),
        state=state,
        log_path=c.log_path or "-",
        last_heartbeat=_when(c.last_heartbeat, now),
        drift=c.drift_count,
        enabled_by=c.enabled_by or "",
        hourly=c.hourly,
    )


class FleetModel:
    """The report as rows: sort, filter, find a cluster's nodes."""

    def __init__(self, report: StatusReport, now: datetime | None = None) -> None:
        self.report = report
        # ages are relative to when the report was read (stable while it is shown)
        now = now or _generated(report) or datetime.now(UTC)
        self.rows = [fleet_row(c, now) for c in report.clusters]
        self._by_key = {f"{c.subscription}/{c.name}": c for c in report.clusters}
        self.sort = "name"
        self.filter = ""

    def visible(self) -> list[FleetRow]:
        """Rows matching the filter (name, subscription or state; case-insensitive), sorted."""
        text = self.filter.strip().lower()
        rows = [
            r
            for r in self.rows
            if not text
            or text in r.name.lower()
            or text in r.subscription.lower()
            or text == r.state
        ]
        if self.sort == "coverage":
            rows.sort(key=lambda r: (r.coverage, r.name))
        elif self.sort == "drift":
            rows.sort(key=lambda r: (-r.drift, r.name))
        elif self.sort == "heartbeat":
            rows.sort(key=lambda r: (r.last_heartbeat == "-", r.name))
        else:
            rows.sort(key=lambda r: (r.name, r.subscription))
        return rows

    def next_sort(self) -> str:
        self.sort = SORTS[(SORTS.index(self.sort) + 1) % len(SORTS)]
        return self.sort

    def cluster(self, key: str) -> ClusterCoverage | None:
        return self._by_key.get(key)

    def nodes(self, key: str) -> tuple[NodeRow, ...]:
        c = self._by_key.get(key)
        return c.nodes if c else ()

    def totals(self) -> tuple[int, int, int, int]:
        """(clusters, enabled clusters, covered Linux nodes, Linux nodes)."""
        cs = self.report.clusters
        return (
            len(cs),
            sum(1 for c in cs if c.enabled),
            sum(c.covered_count for c in cs),
            sum(len(c.linux_nodes) for c in cs),
        )


def report_csv(report: StatusReport) -> str:
    """Every node of every cluster, one CSV row each."""
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(CSV_FIELDS)
    for c in report.clusters:
        for n in c.nodes:
            w.writerow(
                [
                    c.name,
                    c.subscription,
                    n.node,
                    n.pool,
                    n.os,
                    n.state or ("covered" if n.covered else ""),
                    n.reason,
                    n.fix,
                    n.last_heartbeat or "",
                    n.last_seen or "",
                    n.records,
                ]
            )
    return buf.getvalue()
