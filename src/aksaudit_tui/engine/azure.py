"""Engine-side reads of Azure state through the cloud adapter (one cluster, arrivals)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aksaudit_tui.cloud import logs
from aksaudit_tui.cloud.discovery import read_cluster as _read
from aksaudit_tui.engine.plan import ClusterTarget

if TYPE_CHECKING:
    from aksaudit_tui.cloud.clients import AsyncClients
    from aksaudit_tui.cloud.models import Cluster


async def read_cluster(clients: AsyncClients, target: ClusterTarget) -> Cluster:
    """One managed cluster as discovery would describe it (scale sets, monitoring)."""
    return await _read(clients, target.id)


async def arrivals(
    settings: Any,
    customer_id: str,
    computers: list[str],
    facility: str,
    since: Any,
    clients: Any = None,
) -> dict[str, Any]:
    """One KQL query for all nodes: computer -> Arrival(records, last_seen)."""
    return dict(
        await logs.syslog_arrival(
            settings, customer_id, computers, facility, since, clients=clients
        )
    )
