"""Discovery through Azure Resource Graph: the queries at once, ARM only for what they lack.

``graph_discovery`` runs every query of ``resourcegraph.QUERIES`` at once, at tenant scope
(every subscription the caller can read) while ARM still lists the subscriptions, or over the
one subscription asked for; rows of a subscription ARM does not list are left out, so the
inventory is the listed subscriptions' either way. It streams what it finds the way the ARM
walk does (``discovery.py``): the subscriptions and each cluster as listed as soon as the
cluster query and the listing have answered (one round trip: they run at once), then each
cluster complete and each workspace. ARM is asked only for what Resource Graph does not hold:
a workspace's LinuxSyslog data sources (one call per workspace, started as soon as the
workspace rows arrive, on the walk's shared limit), a node resource group a cluster does not
name, and a data collection rule outside the subscriptions queried.

A subscription ARM lists but Resource Graph does not hold (``ResourceContainers``: no read
access there, or not indexed yet) is walked through ARM, which finds what is there or reports
why it cannot (a 403 per subscription, as the walk always did).

Nothing that would be found again is emitted before every query has answered, except the
subscriptions and the listed clusters (consumers fold those by id), so a ``GraphUnavailable``
raised by any query leaves the caller free to walk ARM instead. Each cluster is emitted
complete as soon as every query has answered, while the workspaces' ARM reads still run.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

from aksaudit_tui.cloud.arm import ArmId, props
from aksaudit_tui.cloud.graphrows import GraphIndex, monitoring, pools_of
from aksaudit_tui.cloud.models import (
    Cluster,
    DiscoveryError,
    Subscription,
    Workspace,
)
from aksaudit_tui.cloud.parse import parse_listed_cluster
from aksaudit_tui.cloud.resourcegraph import (
    QUERIES,
    GraphStats,
    PerQuery,
    ResourceGraph,
    graph_client,
    settled,
)

if TYPE_CHECKING:
    from aksaudit_tui.cloud.clients import AsyncClients

Found = Subscription | Cluster | Workspace | DiscoveryError

COMPLETE_BATCH = 50  # clusters built between two turns of the loop (~15 ms of CPU)


class ArmFill(Protocol):
    """The ARM calls the graph path borrows from the walk (same limit, same error reports)."""

    emit: Callable[[Found], None]

    async def read_workspace(self, sid: str, body: dict[str, Any]) -> Workspace: ...

    async def fallback_node_rg(
        self, sid: str, cid: str, rg: str, name: str, location: str
    ) -> str | None: ...

    async def read_rule(self, sid: str, scope: str, rule_id: str) -> dict[str, Any] | None: ...

    async def walk(self, found: list[tuple[str, str]]) -> None: ...


async def graph_discovery(
    clients: AsyncClients,
    arm: ArmFill,
    listing: Awaitable[list[tuple[str, str]]],
    scope: list[str] | None,
) -> GraphStats:
    """Discover the subscriptions ``listing`` gives ((id, name) pairs, listed by ARM while the
    queries run) through Resource Graph (module doc); the queries cover ``scope`` (ids; None:
    tenant scope). Raises ``resourcegraph.GraphUnavailable`` when a query cannot be answered,
    and what ``listing`` raises."""
    client = graph_client(clients.settings, clients.credential, clients.transport())
    graph = ResourceGraph(client, scope)
    tasks: PerQuery[asyncio.Future[list[dict[str, Any]]]] = QUERIES.map(
        lambda name, q: asyncio.ensure_future(graph.rows(name, q))
    )
    # shielded: the caller still awaits the listing when a query fails (it walks ARM then)
    listed_subs = asyncio.ensure_future(_wanted(asyncio.shield(listing)))
    fills = asyncio.ensure_future(_workspaces(arm, tasks.workspaces_and_rules, listed_subs))
    try:
        subscriptions, wanted = await listed_subs
        containers = await tasks.subscriptions
        readable = {str(r.get("subscriptionId") or "").lower() for r in containers} & wanted
        clusters = [b for b in await tasks.clusters if _sub_of(b).lower() in wanted]
        for sid, name in subscriptions:
            if sid.lower() in readable:
                arm.emit(Subscription(id=sid, name=name))
        listed = [(body, parse_listed_cluster(_sub_of(body), body)) for body in clusters]
        for _, cluster in listed:
            arm.emit(cluster)
        rows = await settled(tasks)
        index = GraphIndex.build(rows)
        # Each cluster is complete with the queries' rows (ARM only for a missing node resource
        # group or a rule elsewhere): emitted now, not one round trip later after the
        # workspaces' data sources (the first filled row in the TUI: bench/first_row.py).
        completes = asyncio.ensure_future(_complete_all(arm, index, listed))
        workspaces = (await asyncio.gather(fills, completes))[0]
    finally:
        pending: list[asyncio.Future[Any]] = [*tasks.values(), fills, listed_subs]
        for task in pending:
            if not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await task
            elif not task.cancelled():
                # the first failure decides (walk ARM); the others are collected here, or
                # asyncio reports each as "never retrieved" when the task is collected
                task.exception()
        with contextlib.suppress(Exception):  # closing must not mask the real outcome
            await client.close()
    for ws in workspaces:
        arm.emit(ws)
    unread = [(sid, name) for sid, name in subscriptions if sid.lower() not in readable]
    await arm.walk(unread)  # ARM reads them, or says why it cannot (a 403 per subscription)
    return graph.stats


async def _wanted(
    listing: Awaitable[list[tuple[str, str]]],
) -> tuple[list[tuple[str, str]], set[str]]:
    """The listed subscriptions, and their ids in lower case (rows are kept by these)."""
    subscriptions = await listing
    return subscriptions, {sid.lower() for sid, _ in subscriptions}


async def _workspaces(
    arm: ArmFill,
    rows: asyncio.Future[list[dict[str, Any]]],
    listed: asyncio.Future[tuple[list[tuple[str, str]], set[str]]],
) -> list[Workspace]:
    """Each workspace of a listed subscription with its LinuxSyslog data sources (ARM), as soon
    as the rows and the listing are in."""
    _, wanted = await listed
    bodies = [
        r
        for r in await rows
        if str(r.get("type") or "").lower().endswith("/workspaces") and _sub_of(r).lower() in wanted
    ]
    return list(await asyncio.gather(*(arm.read_workspace(_sub_of(b), b) for b in bodies)))


def _sub_of(body: dict[str, Any]) -> str:
    return str(body.get("subscriptionId") or ArmId.parse(str(body.get("id") or "")).subscription)


async def _complete_all(
    arm: ArmFill, index: GraphIndex, listed: list[tuple[dict[str, Any], Cluster]]
) -> None:
    """Emit every cluster complete. Those the rows answer whole are built here, a batch at a
    time with the loop let go in between: a fleet's clusters are CPU work (~0.3 ms each, 1,000
    of them ~0.3 s), and built in one go they held up the workspaces' ARM reads in flight (their
    answers wait on this loop; bench/fleet_discovery.py saw them finish after every cluster).
    One that needs ARM (no node resource group named, a rule outside the subscriptions queried)
    is read in its own task, on the walk's shared limit."""
    reads: list[asyncio.Future[None]] = []
    for n, (body, cluster) in enumerate(listed):
        if _needs_arm(index, body, cluster):
            reads.append(asyncio.ensure_future(_complete(arm, index, body, cluster)))
        else:
            _complete_from_rows(arm, index, body, cluster)
        if n % COMPLETE_BATCH == COMPLETE_BATCH - 1:
            await asyncio.sleep(0)
    await asyncio.gather(*reads)


def _needs_arm(index: GraphIndex, body: dict[str, Any], listed: Cluster) -> bool:
    if not props(body).get("nodeResourceGroup"):
        return True
    rule_id = index.association(listed.id)
    return rule_id is not None and index.rule(rule_id) is None


def _complete_from_rows(
    arm: ArmFill, index: GraphIndex, body: dict[str, Any], listed: Cluster
) -> None:
    node_rg = str(props(body).get("nodeResourceGroup") or "")
    rule_id = index.association(listed.id)
    _emit_complete(
        arm, index, body, listed, node_rg, rule_id, index.rule(rule_id) if rule_id else None
    )


async def _complete(arm: ArmFill, index: GraphIndex, body: dict[str, Any], listed: Cluster) -> None:
    sid = listed.subscription_id
    node_rg: str | None = props(body).get("nodeResourceGroup")
    if not node_rg:
        node_rg = await arm.fallback_node_rg(
            sid, listed.id, listed.resource_group, listed.name, listed.location
        )
    rule_id = index.association(listed.id)
    rule = index.rule(rule_id) if rule_id else None
    if rule_id and rule is None:  # a rule in a subscription not queried: ask ARM
        rule = await arm.read_rule(sid, f"cluster/{listed.id}", rule_id)
    _emit_complete(arm, index, body, listed, node_rg, rule_id, rule)


def _emit_complete(
    arm: ArmFill,
    index: GraphIndex,
    body: dict[str, Any],
    listed: Cluster,
    node_rg: str | None,
    rule_id: str | None,
    rule: dict[str, Any] | None,
) -> None:
    sid = listed.subscription_id
    scale_sets = index.scale_sets_of(sid, node_rg, pools_of(body)) if node_rg else ()
    if rule is None:
        rule = index.msci_rule(sid, listed.resource_group, listed.name)
    arm.emit(
        replace(
            listed,
            node_resource_group=node_rg or "",
            monitoring=monitoring(body, rule_id, rule),
            scale_sets=scale_sets,
            complete=True,
        )
    )
