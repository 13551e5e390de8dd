"""Discovery: subscriptions -> clusters -> node resource group -> pool scale sets -> instances,
workspaces, and what is already in place (monitoring add-on, MSCI DCR, agent extensions,
LinuxSyslog data sources).

Subscriptions and clusters are read concurrently through ``.aio`` clients; results stream as
they arrive. A subscription is yielded once its cluster listing is known (so it carries that
error, if any), and again (same id) should listing its workspaces fail; each of its clusters
twice: at once as the listing describes it (``complete=False``: node resource group, version,
add-on; no scale sets or DCR yet), and again (same id, ``complete=True``) when its subtree is
read. Consumers fold by id (``add_found``). A 403 on one subscription is recorded
(``Subscription.error`` + a ``DiscoveryError``) and the others carry on.

All ARM calls share one limit (``CloudSettings.concurrency``), but a freed slot goes to cluster
listings first, then workspace listings, workspace details, and cluster details in the order the
clusters were found: the first rows show after two round trips (subscriptions, managed
clusters), and clusters complete one after another rather than all at the very end.

That walk is the fallback: ``discover`` first asks Azure Resource Graph (``graphwalk.py``: a few
paged queries at tenant scope, sent beside the subscription listing, ARM only for what they
lack) and walks ARM only when Resource Graph is turned off (``CloudSettings.resource_graph``,
``--no-resource-graph``) or cannot answer (403 and the like). ``DiscoveryReport`` says which
way was taken, and why.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import logging
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Mapping
from contextvars import ContextVar
from dataclasses import replace
from typing import Any, TypeVar

from aksaudit_tui.cloud.arm import ArmId, Bounded, iget, props, rest, same_id
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.errors import describe, is_not_found, user_error
from aksaudit_tui.cloud.graphwalk import graph_discovery
from aksaudit_tui.cloud.models import (
    ARM_WALK,
    RESOURCE_GRAPH,
    Cluster,
    DiscoveryError,
    DiscoveryReport,
    Extension,
    Instance,
    Inventory,
    Monitoring,
    ScaleSet,
    Subscription,
    SyslogCollection,
    Workspace,
)
from aksaudit_tui.cloud.parse import (
    CI_ASSOCIATION,
    is_msci_name,
    node_resource_group_default,
    parse_extension,
    parse_instance,
    parse_linux_syslog,
    parse_listed_cluster,
    parse_monitoring,
    parse_scale_set,
    parse_workspace,
    pool_of,
    with_rule,
)
from aksaudit_tui.cloud.resourcegraph import GraphUnavailable
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.errors import UsageError

log = logging.getLogger(__name__)

Found = Subscription | Cluster | Workspace | DiscoveryError
T = TypeVar("T")

CLUSTER_TAG = "aks-managed-cluster-name"


# --- call priority -----------------------------------------------------------------------------

Priority = tuple[int, int]
LISTING: Priority = (0, 0)  # subscriptions, managed clusters: the first rows wait on these
WORKSPACE_LISTING: Priority = (0, 1)
WORKSPACE_DETAIL: Priority = (1, 0)  # one call per workspace; fills the workspace picker
# (2, n): the subtree of the n-th cluster found. A context variable, so the tasks a cluster's
# walk spawns inherit it without threading it through every call.
_PRIORITY: ContextVar[Priority] = ContextVar("aksaudit_discovery_priority", default=LISTING)


class PriorityLimit:
    """At most ``limit`` calls at once; a freed slot goes to the waiting call with the lowest
    priority (first come, first served among equals). Handing the slot over directly keeps a
    newcomer from overtaking the waiters."""

    def __init__(self, limit: int) -> None:
        self._free = max(1, limit)
        self._waiters: list[tuple[Priority, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    async def acquire(self, priority: Priority) -> None:
        if self._free > 0 and not self._waiters:
            self._free -= 1
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._waiters, (priority, next(self._seq), fut))
        try:
            await fut
        except asyncio.CancelledError:
            if fut.done() and not fut.cancelled():
                self.release()  # the slot was handed to us as we were cancelled: pass it on
            raise  # (a cancelled waiter stays in the heap; release() skips it)

    def release(self) -> None:
        while self._waiters:
            _, _, fut = heapq.heappop(self._waiters)
            if not fut.done():
                fut.set_result(None)
                return
        self._free += 1


class Prioritized(Bounded):
    """``Bounded`` over a shared ``PriorityLimit``; each call takes the caller's priority
    (``_PRIORITY`` of the running task)."""

    def __init__(self, limit: PriorityLimit) -> None:
        super().__init__(1)
        self._limit = limit

    async def call(self, aw: Awaitable[T]) -> T:
        await self._limit.acquire(_PRIORITY.get())
        try:
            self.requests += 1
            return await aw
        finally:
            self._limit.release()

    async def collect(self, pager: AsyncIterable[Any]) -> list[dict[str, Any]]:
        await self._limit.acquire(_PRIORITY.get())
        try:
            self.requests += 1
            return [rest(item) async for item in pager]
        finally:
            self._limit.release()

    async def lro(self, begin: Awaitable[Any]) -> dict[str, Any]:
        await self._limit.acquire(_PRIORITY.get())
        try:
            self.requests += 1
            poller = await begin
            return rest(await poller.result())
        finally:
            self._limit.release()


# --- the walk --------------------------------------------------------------------------------


def _subscription(sid: str, name: str, error: DiscoveryError | None) -> Subscription:
    return Subscription(
        id=sid, name=name, error=f"{error.code}: {error.message}" if error else None
    )


class ArmWalk:
    """The per-subscription ARM walk (module doc): each ``Found`` item goes to ``emit`` as it is
    read. ``discover`` runs it over every subscription at once (the fallback when Resource Graph
    cannot answer), ``graphwalk`` borrows its ARM reads, ``read_cluster`` one cluster's subtree;
    public so a caller can order the walk itself (``bench/fleet_discovery.py`` walks the
    subscriptions one after another, the baseline issue 14 measures against)."""

    def __init__(
        self, clients: AsyncClients, bounded: Bounded, emit: Callable[[Found], None]
    ) -> None:
        self.clients = clients
        self.b = bounded
        self.emit = emit
        self._clusters_seen = itertools.count()

    @classmethod
    def prioritized(cls, clients: AsyncClients, emit: Callable[[Found], None]) -> ArmWalk:
        """A walk on one limit of ``clients.settings.concurrency`` calls, listings first
        (``PriorityLimit``): the way ``discover`` walks."""
        return cls(clients, Prioritized(PriorityLimit(clients.settings.concurrency)), emit)

    def _error(self, scope: str, exc: BaseException, doing: str) -> DiscoveryError:
        info = describe(exc)
        err = DiscoveryError(scope=scope, code=info.code, message=f"{doing}: {info.message}")
        self.emit(err)
        return err

    async def run(self, subscription: str | None) -> None:
        await self.walk(await self.list_subscriptions(subscription))

    async def list_subscriptions(self, subscription: str | None) -> list[tuple[str, str]]:
        """(id, display name) of every subscription the credential sees, or only the one
        ``subscription`` names (id or name; UsageError when it is not among them)."""
        try:
            subs = await self.b.collect(self.clients.subscriptions().subscriptions.list())
        except Exception as exc:
            raise user_error(exc, doing="listing subscriptions") from None
        found = [
            (
                str(s.get("subscriptionId") or ArmId.parse(str(s.get("id"))).subscription),
                str(s.get("displayName") or ""),
            )
            for s in subs
        ]
        if subscription:
            wanted = subscription.lower()
            found = [(i, n) for i, n in found if wanted in (i.lower(), n.lower())]
            if not found:
                raise UsageError(
                    f"--subscription {subscription}: not among the {len(subs)} subscription(s) "
                    "this credential can see"
                )
        return found

    async def walk(self, found: list[tuple[str, str]]) -> None:
        """The per-subscription ARM walk over ``found`` (module doc)."""
        await asyncio.gather(*(self.subscription(sid, name) for sid, name in found))

    async def subscription(self, sid: str, name: str) -> None:
        """List clusters and workspaces; announce the subscription as soon as its clusters are
        listed (with that error, if any), then read every cluster's subtree concurrently."""
        # Listed alongside, but the subscription and its first rows do not wait for it.
        ws_listing = asyncio.ensure_future(self._list_workspaces(sid))
        try:
            await self._subscription(sid, name, ws_listing)
        finally:
            if ws_listing.done():
                if not ws_listing.cancelled():
                    ws_listing.exception()  # seen (cancelled before it was awaited)
            else:
                ws_listing.cancel()  # cancelled: nothing is left running

    async def _subscription(
        self, sid: str, name: str, ws_listing: asyncio.Future[list[dict[str, Any]]]
    ) -> None:
        cs = self.clients.containerservice(sid)
        clusters: list[dict[str, Any]] = []
        error: DiscoveryError | None = None
        try:
            clusters = await self.b.collect(cs.managed_clusters.list())
        except Exception as exc:
            error = self._error(f"subscription/{sid}", exc, "listing managed clusters")
        self.emit(_subscription(sid, name, error))
        listed = [parse_listed_cluster(sid, body) for body in clusters]
        for c in listed:  # the rows, straight after their subscription
            self.emit(c)

        async def workspaces() -> None:
            try:
                bodies = await ws_listing
            except Exception as exc:
                ws_error = self._error(
                    f"subscription/{sid}", exc, "listing Log Analytics workspaces"
                )
                if error is None:  # announce it again, now with this error
                    self.emit(_subscription(sid, name, ws_error))
                return
            _PRIORITY.set(WORKSPACE_DETAIL)  # (own task under gather: the setting stays in it)
            await asyncio.gather(*(self.workspace(sid, body) for body in bodies))

        await asyncio.gather(
            workspaces(), *(self.cluster(sid, b, c) for b, c in zip(clusters, listed, strict=True))
        )

    async def _list_workspaces(self, sid: str) -> list[dict[str, Any]]:
        _PRIORITY.set(WORKSPACE_LISTING)  # (own task: the setting stays in it)
        return await self.b.collect(self.clients.loganalytics(sid).workspaces.list())

    async def workspace(self, sid: str, body: dict[str, Any]) -> None:
        self.emit(await self.read_workspace(sid, body))

    async def read_workspace(self, sid: str, body: dict[str, Any]) -> Workspace:
        """The workspace with its LinuxSyslog data sources (one ARM call; a failure is reported
        and the workspace comes without them)."""
        rid = ArmId.parse(str(body.get("id") or ""))
        la = self.clients.loganalytics(rid.subscription or sid)
        sources: tuple[SyslogCollection, ...] = ()
        try:
            ds = await self.b.collect(
                la.data_sources.list_by_workspace(
                    rid.resource_group, rid.name, filter="kind='LinuxSyslog'"
                )
            )
            sources = tuple(s for s in map(parse_linux_syslog, ds) if s is not None)
        except Exception as exc:
            self._error(f"workspace/{body.get('id')}", exc, "listing LinuxSyslog data sources")
        return parse_workspace(body, sources)

    async def cluster(self, sid: str, body: dict[str, Any], listed: Cluster | None = None) -> None:
        """Read the cluster's subtree and emit it complete; first emit it as listed
        (``complete=False``) unless the caller already did (``listed``)."""
        if listed is None:
            listed = parse_listed_cluster(sid, body)
            self.emit(listed)
        token = _PRIORITY.set((2, next(self._clusters_seen)))
        try:
            await self._subtree(sid, body, listed)
        finally:
            _PRIORITY.reset(token)  # read_cluster awaits this in its caller's context

    async def _subtree(self, sid: str, body: dict[str, Any], listed: Cluster) -> None:
        cid, name, location = listed.id, listed.name, listed.location
        rid = ArmId.parse(cid)
        p = props(body)
        scope = f"cluster/{cid}"
        node_rg = p.get("nodeResourceGroup")
        if not node_rg:
            node_rg = await self.fallback_node_rg(sid, cid, rid.resource_group, name, location)
        pools = {str(a.get("name") or "").lower(): a for a in p.get("agentPoolProfiles") or []}
        scale_sets_task = asyncio.ensure_future(self.scale_sets(sid, scope, node_rg, pools))
        monitoring_task = asyncio.ensure_future(self.monitoring(sid, scope, body, name))
        scale_sets = await scale_sets_task
        monitoring = await monitoring_task
        self.emit(
            replace(
                listed,
                node_resource_group=node_rg or "",
                monitoring=monitoring,
                scale_sets=scale_sets,
                complete=True,
            )
        )

    async def fallback_node_rg(
        self, sid: str, cid: str, rg: str, name: str, location: str
    ) -> str | None:
        """Cluster body lacks nodeResourceGroup: try the default name, confirm it is this
        cluster's via ``managedBy`` or the ``aks-managed-cluster-name`` tag."""
        guess = node_resource_group_default(rg, name, location)
        try:
            group = rest(await self.b.call(self.clients.resources(sid).resource_groups.get(guess)))
        except Exception as exc:
            self._error(f"cluster/{cid}", exc, f"finding the node resource group {guess}")
            return None
        managed_by = group.get("managedBy") or group.get("managed_by")
        tag = iget(group.get("tags") or {}, CLUSTER_TAG)
        if same_id(str(managed_by or ""), cid) or (tag and str(tag).lower() == name.lower()):
            return guess
        self.emit(
            DiscoveryError(
                scope=f"cluster/{cid}",
                code="NodeResourceGroupUnknown",
                message=f"{guess} is not managed by this cluster (managedBy={managed_by!r})",
            )
        )
        return None

    async def scale_sets(
        self, sid: str, scope: str, node_rg: str | None, pools: Mapping[str, Any]
    ) -> tuple[ScaleSet, ...]:
        if not node_rg:
            return ()
        compute = self.clients.compute(sid)
        try:
            bodies = await self.b.collect(compute.virtual_machine_scale_sets.list(node_rg))
        except Exception as exc:
            self._error(scope, exc, f"listing scale sets in {node_rg}")
            return ()
        bodies = [b for b in bodies if pool_of(b)]

        async def one(vmss: dict[str, Any]) -> ScaleSet:
            vname = str(vmss.get("name") or "")
            vms_t = asyncio.ensure_future(
                self.b.collect(compute.virtual_machine_scale_set_vms.list(node_rg, vname))
            )
            ext_t = asyncio.ensure_future(
                self.b.collect(compute.virtual_machine_scale_set_extensions.list(node_rg, vname))
            )
            instances: tuple[Instance, ...] = ()
            extensions: tuple[Extension, ...] = ()
            try:
                instances = tuple(parse_instance(v, vname) for v in await vms_t)
            except Exception as exc:
                self._error(scope, exc, f"listing instances of {vname}")
            try:
                extensions = tuple(parse_extension(e) for e in await ext_t)
            except Exception as exc:
                self._error(scope, exc, f"listing extensions of {vname}")
            pool = (pool_of(vmss) or "").lower()
            return parse_scale_set(vmss, pools.get(pool), node_rg, instances, extensions)

        found = await asyncio.gather(*(one(b) for b in bodies))
        return tuple(sorted(found, key=lambda s: s.name))

    async def monitoring(
        self, sid: str, scope: str, body: Mapping[str, Any], name: str
    ) -> Monitoring:
        base = parse_monitoring(body)
        cid = str(body.get("id") or "")
        monitor = self.clients.monitor(sid)
        dcr_id: str | None = None
        associated = False
        try:
            assocs = await self.b.collect(
                monitor.data_collection_rule_associations.list_by_resource(cid)
            )
            for a in assocs:
                if str(a.get("name") or "").lower() == CI_ASSOCIATION.lower():
                    dcr_id = props(a).get("dataCollectionRuleId")
                    associated = bool(dcr_id)
        except Exception as exc:
            if not is_not_found(exc):
                self._error(scope, exc, "listing data collection rule associations")
        dcr = await self.read_rule(sid, scope, dcr_id) if dcr_id else None
        if dcr is None:
            dcr = await self._find_msci_dcr(sid, scope, ArmId.parse(cid).resource_group, name)
        if dcr is None:
            return base
        return with_rule(base, dcr, dcr_id, associated)

    async def read_rule(self, sid: str, scope: str, dcr_id: str) -> dict[str, Any] | None:
        """A data collection rule by id; None when it is gone (other errors reported)."""
        did = ArmId.parse(dcr_id)
        try:
            return rest(
                await self.b.call(
                    self.clients.monitor(did.subscription or sid).data_collection_rules.get(
                        did.resource_group, did.name
                    )
                )
            )
        except Exception as exc:
            if not is_not_found(exc):
                self._error(scope, exc, f"reading data collection rule {did.name}")
        return None

    async def _find_msci_dcr(
        self, sid: str, scope: str, rg: str, name: str
    ) -> dict[str, Any] | None:
        try:
            rules = await self.b.collect(
                self.clients.monitor(sid).data_collection_rules.list_by_resource_group(rg)
            )
        except Exception as exc:
            if not is_not_found(exc):
                self._error(scope, exc, f"listing data collection rules in {rg}")
            return None
        for r in rules:
            if is_msci_name(str(r.get("name") or ""), name):
                return r
        return None


# --- public API --------------------------------------------------------------------------------

_DONE = object()


async def discover(
    settings: CloudSettings,
    subscription: str | None = None,
    *,
    credential: Any = None,
    report: DiscoveryReport | None = None,
) -> AsyncIterator[Found]:
    """Stream what discovery finds (see module doc). Raises ``UserError`` only when nothing can
    be listed at all (bad credentials, unreachable endpoint, unknown ``subscription``).

    Through Azure Resource Graph (``graphwalk``) unless ``settings.resource_graph`` is off or
    Resource Graph cannot answer (403 and the like: ``GraphUnavailable``); then by the
    per-subscription ARM walk. Either way the same items; ``report`` (when given) says which
    way, and why, and the choice is logged."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    clients = AsyncClients(settings, credential)
    walk = ArmWalk.prioritized(clients, queue.put_nowait)
    report = report if report is not None else DiscoveryReport()

    listing: asyncio.Future[list[tuple[str, str]]] | None = None

    async def runner() -> None:
        nonlocal listing
        try:
            if settings.resource_graph:
                # All subscriptions: the queries start at tenant scope at once, beside ARM's
                # listing (names, and what the queries keep); one asked for is listed first.
                scope: list[str] | None = None
                listed = asyncio.ensure_future(walk.list_subscriptions(subscription))
                listing = listed
                if subscription:
                    scope = [sid for sid, _ in await listed]
                try:
                    stats = await graph_discovery(clients, walk, listed, scope)
                except GraphUnavailable as exc:
                    report.reason = f"Resource Graph unavailable: {exc.reason}"
                else:
                    report.method = RESOURCE_GRAPH
                    report.graph_queries, report.graph_pages = stats.queries, stats.pages
                    report.throttled, report.waited_s = stats.throttled, stats.waited_s
                    log.info("discovery: %s", report.line())
                    return
                found = await listed
            else:
                report.reason = "Resource Graph turned off (--no-resource-graph)"
                found = await walk.list_subscriptions(subscription)
            report.method = ARM_WALK
            log.info("discovery: %s", report.line())
            await walk.walk(found)
        finally:
            if listing is not None and not listing.done():
                listing.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await listing
            queue.put_nowait(_DONE)

    task = asyncio.ensure_future(runner())
    try:
        while True:
            item = await queue.get()
            if item is _DONE:
                break
            yield item
        await task  # re-raise a fatal error
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        await clients.close()


async def read_cluster(clients: AsyncClients, cluster_id: str) -> Cluster:
    """One managed cluster as discovery describes it (scale sets, instances, extensions,
    monitoring), read fresh. Raises ``UserError`` when the cluster cannot be read; errors in its
    subtree (e.g. a 403 on the node resource group) raise too, since a step needs all of it."""
    rid = ArmId.parse(cluster_id)
    cs = clients.containerservice(rid.subscription)
    bounded = Bounded(clients.settings.concurrency)
    try:
        body = rest(await bounded.call(cs.managed_clusters.get(rid.resource_group, rid.name)))
    except Exception as exc:
        raise user_error(exc, doing=f"reading cluster {rid.name}", scope=cluster_id) from None
    found: list[Found] = []
    await ArmWalk(clients, bounded, found.append).cluster(rid.subscription, body)
    errors = [f for f in found if isinstance(f, DiscoveryError)]
    if errors:
        from aksaudit_tui.errors import UserError

        raise UserError(f"reading cluster {rid.name}: {errors[0].message}")
    return next(f for f in found if isinstance(f, Cluster) and f.complete)


def add_found(inventory: Inventory, item: Found) -> None:
    """Fold one streamed item into ``inventory`` (what the engine and the TUI do too): a
    subscription announced again replaces its earlier form; a cluster counts once complete (its
    listed form comes first and is superseded)."""
    if isinstance(item, Subscription):
        subs = inventory.subscriptions
        same = [i for i, s in enumerate(subs) if s.id == item.id]
        if same:
            subs[same[0]] = item
        else:
            subs.append(item)
    elif isinstance(item, Cluster):
        if item.complete:
            inventory.clusters.append(item)
    elif isinstance(item, Workspace):
        inventory.workspaces.append(item)
    else:
        inventory.errors.append(item)


async def discover_all(
    settings: CloudSettings, subscription: str | None = None, *, credential: Any = None
) -> Inventory:
    """Everything at once, sorted for stable output (``inventory.discovery`` says how)."""
    inv = Inventory()
    async for item in discover(settings, subscription, credential=credential, report=inv.discovery):
        add_found(inv, item)
    inv.subscriptions.sort(key=lambda s: (s.name.lower(), s.id))
    inv.clusters.sort(key=lambda c: (c.subscription_id, c.resource_group.lower(), c.name.lower()))
    inv.workspaces.sort(key=lambda w: (w.subscription_id, w.name.lower()))
    inv.errors.sort(key=lambda e: (e.scope, e.code))
    return inv
