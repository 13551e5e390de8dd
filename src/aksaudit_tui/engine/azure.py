"""Engine-side reads of Azure state through the cloud adapter (one cluster, arrivals)."""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

from aksaudit_tui.engine.plan import ClusterTarget
from aksaudit_tui.errors import UserError

if TYPE_CHECKING:
    from aksaudit_tui.cloud.clients import AsyncClients
    from aksaudit_tui.cloud.models import Cluster


async def read_cluster(clients: AsyncClients, target: ClusterTarget) -> Cluster:
    """One managed cluster as discovery would describe it (scale sets, monitoring)."""
    from aksaudit_tui.cloud import discovery
    from aksaudit_tui.cloud.arm import Bounded, rest
    from aksaudit_tui.cloud.errors import user_error
    from aksaudit_tui.cloud.models import Cluster, DiscoveryError

    reader = getattr(discovery, "read_cluster", None)
    if reader is not None:  # the cloud adapter's own single-cluster read, when it has one
        got = reader(clients, target.id)
        return await got if inspect.isawaitable(got) else got  # type: ignore[no-any-return]
    cs = clients.containerservice(target.subscription_id)
    try:
        body = rest(await cs.managed_clusters.get(target.resource_group, target.name))
    except Exception as exc:
        raise user_error(exc, doing=f"reading cluster {target.name}", scope=target.id) from None
    found: list[Any] = []
    walk = discovery._Walk(clients, Bounded(clients.settings.concurrency), found.append)
    await walk.cluster(target.subscription_id, body)
    clusters = [f for f in found if isinstance(f, Cluster)]
    errors = [f for f in found if isinstance(f, DiscoveryError)]
    if not clusters:
        msg = errors[0].message if errors else "not found"
        raise UserError(f"reading cluster {target.name}: {msg}")
    return clusters[0]


async def arrivals(
    settings: Any,
    customer_id: str,
    computers: list[str],
    facility: str,
    since: Any,
    clients: Any = None,
) -> dict[str, Any]:
    """One KQL query for all nodes: computer -> Arrival(records, last_seen)."""
    from aksaudit_tui.cloud import logs

    return dict(
        await logs.syslog_arrival(
            settings, customer_id, computers, facility, since, clients=clients
        )
    )
