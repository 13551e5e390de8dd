"""Status of every cluster the user can read, from the sources of truth, read-only.

1. Azure discovery streams clusters; each complete cluster's Kubernetes read starts at once
   (get/list only: nodes, the record, the keeper DaemonSet and pods, their last status line),
   a few at a time while discovery runs, wider once it is done.
2. Once every cluster is read, one KQL query per recorded workspace (``cloud.activity``).
3. Each node gets its state from ``engine.truth``; each cluster its coverage, who enabled it,
   last heartbeat, drift count and records per hour.

No pod is created and nothing is written anywhere. The local journal is not needed (the
caller may pass notes from it, e.g. "a run of yours is unfinished here").
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aksaudit_tui.cloud import logpaths
from aksaudit_tui.cloud.activity import HOUR, WorkspaceActivity, workspace_activity
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.cloud.logpaths.base import Destination, PathGap
from aksaudit_tui.cloud.models import Cluster, DiscoveryReport, Subscription, Workspace
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine.coverage import ClusterCoverage, NodeRow, StatusReport
from aksaudit_tui.engine.truth import NodeFacts, Verdict, classify, path_verdict
from aksaudit_tui.errors import UsageError, UserError
from aksaudit_tui.nodes.kube import NodeInfo, ReadBounds, parse_provider_id, unreachable
from aksaudit_tui.nodes.observe import ClusterView

DEFAULT_WINDOW = timedelta(hours=24)
LOGS_CONCURRENCY = 5  # Log Analytics: 5 concurrent queries per user
KUBE_READS_DURING_DISCOVERY = 4  # clusters read at once while discovery runs (bench/status.py)
# One cluster's share of the shared thread pool and its timeouts: its first reads go one after
# the other on one connection (nodes/observe.py); only a keeper's pod logs use 4 at once. A dead
# API server holds one permit and at most 4 threads for connect_s + read_s, never the others'.
STATUS_READS = ReadBounds(in_flight=4, connect_s=5.0, read_s=10.0)
CLUSTER_DEADLINE_S = 60.0  # the whole read of one cluster (a server that answers a byte a second)


@dataclass
class _ClusterRead:
    cluster: Cluster
    view: ClusterView | None = None
    error: str | None = None  # why the cluster's Kubernetes side is unknown
    fence: str | None = None  # why a keeper's namespace is not fenced (admission policy)


@dataclass
class FleetStats:
    """What a status run cost (the benchmark and the no-write test read it)."""

    clusters: int = 0
    kql_queries: int = 0
    kube_calls: dict[str, int] = field(default_factory=dict)
    discovery_s: float = 0.0
    total_s: float = 0.0
    discovery: DiscoveryReport = field(default_factory=DiscoveryReport)  # how, throttled


def _kube_error(exc: BaseException, bounds: ReadBounds | None = None) -> str:
    from aksaudit_tui.engine.runner import describe_exc  # startup time: the SDK error types

    said = unreachable(exc, bounds)
    if said is None and isinstance(exc, TimeoutError):  # CLUSTER_DEADLINE_S
        said = f"its API server did not finish answering within {CLUSTER_DEADLINE_S:g} s"
    if said is not None:
        return f"cannot read the cluster: {said}"
    text = describe_exc(exc)
    if "403" in text or "orbidden" in text:
        return (
            f"cannot read the cluster: {text} (needs get/list on nodes, configmaps, pods, "
            "pods/log and daemonsets)"
        )
    return f"cannot read the cluster: {text}"


async def _read_cluster(
    settings: CloudSettings,
    cluster: Cluster,
    sem: asyncio.Semaphore,
    stats: FleetStats,
    pool: ThreadPoolExecutor,
    bounds: ReadBounds,
) -> _ClusterRead:
    # startup time: the kubernetes client loads when a status first reads a cluster
    from aksaudit_tui.engine.steps.kubeops import open_kube
    from aksaudit_tui.nodes.observe import observe_cluster

    async with sem:
        try:  # on the fleet's pool: asyncio.to_thread's would start threads of its own
            kube = await asyncio.get_running_loop().run_in_executor(
                pool, open_kube, settings.kubeconfig, cluster.name, pool, bounds
            )
        except UsageError as exc:
            return _ClusterRead(cluster, error=str(exc))
        try:
            try:
                async with asyncio.timeout(CLUSTER_DEADLINE_S):
                    view = await observe_cluster(kube, cluster.node_resource_group)
            except Exception as exc:  # the cluster is reported unknown with this reason
                return _ClusterRead(cluster, error=_kube_error(exc, bounds))
            fence = None
            try:
                if view.record is not None and view.record.delivery == "keeper":
                    async with asyncio.timeout(CLUSTER_DEADLINE_S):
                        fence = await kube.fence_problem(view.record.namespace, None)
            except Exception as exc:  # e.g. no right to read admission policies: said
                fence = f"cannot check the admission fence: {_kube_error(exc, bounds)}"
        finally:
            for k, v in kube.calls.items():
                stats.kube_calls[k] = stats.kube_calls.get(k, 0) + v
            # closing TLS sockets (close_notify) is a few ms of CPU: on the pool, not the loop
            pool.submit(kube.close)
    return _ClusterRead(cluster, view=view, fence=fence)


def _start_threads(pool: ThreadPoolExecutor, n: int) -> None:
    """Start ``n`` of the pool's threads, from a thread of its own while discovery waits for
    Azure's first answers. A pool starts a thread in ``submit`` when none is idle, and the
    start waits until the new thread has run: on the event loop, with the GIL busy, ~5-20 ms
    each, paid by every Azure call waiting for the loop."""
    go = threading.Event()
    try:
        for _ in range(n):
            pool.submit(go.wait)  # none idle (the earlier ones wait): each starts a thread
    except RuntimeError:  # the status ended first (shut down): nothing left to start
        pass
    finally:
        go.set()


def _nodes_from_azure(cluster: Cluster) -> list[NodeInfo]:
    """The cluster's nodes as discovery saw them (when Kubernetes cannot be read)."""
    out: list[NodeInfo] = []
    for ss in cluster.scale_sets:
        for inst in ss.instances:
            windows = ss.os.lower() == "windows"
            out.append(
                NodeInfo(
                    name=inst.computer_name,
                    pool=ss.pool,
                    os_sku=ss.os_sku or "",
                    os="windows" if windows else "linux",
                    arch="",
                    ready=True,
                    virtual=False,
                    taints=(),
                    provider_id=inst.id,
                    skip_reason="Windows node (auditd is Linux only)" if windows else None,
                )
            )
    return out


def _hourly(rows: list[dict[datetime, int]], now: datetime, window: timedelta) -> tuple[int, ...]:
    hours = max(1, int(window / HOUR))
    start = now.replace(minute=0, second=0, microsecond=0) - (hours - 1) * HOUR
    out = [0] * hours
    for hourly in rows:
        for h, n in hourly.items():
            i = int((h - start) / HOUR)
            if 0 <= i < hours:
                out[i] += n
    return tuple(out)


def _coverage(
    read: _ClusterRead,
    subs: Mapping[str, Subscription],
    workspaces: Mapping[str, Workspace],
    activity: Mapping[str, WorkspaceActivity],
    activity_errors: Mapping[str, str],
    gaps: Sequence[PathGap],
    now: datetime,
    window: timedelta,
    notes: tuple[str, ...],
) -> ClusterCoverage:
    c = read.cluster
    sub = subs.get(c.subscription_id)
    base: dict[str, Any] = dict(
        name=c.name,
        subscription=c.subscription_id,
        subscription_name=sub.name if sub else "",
        notes=notes,
    )
    if read.view is None:
        rows = tuple(
            NodeRow(
                node=n.name,
                pool=n.pool,
                os=n.os_sku or n.os,
                skipped_reason=n.skip_reason,
                state="skipped" if n.skip_reason else "unknown",
                reason=n.skip_reason or (read.error or "cannot read the cluster"),
                fix="" if n.skip_reason else "check the kube context and your Kubernetes RBAC",
            )
            for n in _nodes_from_azure(c)
        )
        return ClusterCoverage(nodes=rows, error=read.error, enabled=None, **base)
    view, rec = read.view, read.view.record
    act: WorkspaceActivity | None = None
    act_error: str | None = None
    if rec is not None:
        act = activity.get(rec.workspace_id.lower())
        act_error = activity_errors.get(rec.workspace_id.lower())
    rows_out: list[NodeRow] = []
    series: list[dict[datetime, int]] = []
    last_beat: datetime | None = None
    for n in sorted(view.nodes, key=lambda x: x.name):
        a = act.get(n.name, rec.facility) if act is not None and rec is not None else None
        others = tuple(
            f
            for f in (act.facilities(n.name) if act is not None else [])
            if rec and f != rec.facility
        )
        ref = parse_provider_id(n.provider_id)
        gap = path_verdict(gaps, ref.vm_set if ref else "") if rec is not None else None
        v: Verdict = classify(NodeFacts(n, rec, view, a, others, act_error, gap, now))
        pod = view.pods.get(n.name)
        st = pod.status if pod else None
        if a is not None:
            series.append(a.hourly)
            if a.last_heartbeat and (last_beat is None or a.last_heartbeat > last_beat):
                last_beat = a.last_heartbeat
        rows_out.append(
            NodeRow(
                node=n.name,
                pool=n.pool,
                os=n.os_sku or n.os,
                audit_version=st.audit_version if st else None,
                auditd_running=st.running if st else None,
                plugin_facility=st.facility if st and st.plugin_active else None,
                rules_match=(st.compliant and st.ok) if st else None,
                log_path_ok=None if rec is None else gap is None,
                last_seen=a.last_seen.isoformat() if a and a.last_seen else None,
                skipped_reason=n.skip_reason,
                delivery_ready=pod.ready if pod else None,
                records=a.records if a else 0,
                state=v.state,
                reason=v.reason,
                fix=v.fix,
                last_heartbeat=a.last_heartbeat.isoformat() if a and a.last_heartbeat else None,
            )
        )
    return ClusterCoverage(
        nodes=tuple(rows_out),
        log_path=rec.log_path if rec else None,
        enabled=rec is not None,
        enabled_by=rec.applied_by if rec else None,
        applied_at=rec.applied_at if rec else None,
        presets=rec.presets if rec else (),
        delivery=rec.delivery if rec else None,
        workspace=rec.workspace_name if rec else None,
        last_heartbeat=last_beat.isoformat() if last_beat else None,
        hourly=_hourly(series, now, window),
        **base,
    )


async def fleet_status(
    settings: CloudSettings,
    *,
    cluster: str | None = None,
    subscription: str | None = None,
    window: timedelta = DEFAULT_WINDOW,
    notes: Mapping[str, tuple[str, ...]] | None = None,
    max_clusters: int = 16,
    stats: FleetStats | None = None,
    on_cluster: Callable[[Cluster], None] | None = None,
    kube_bounds: ReadBounds = STATUS_READS,
) -> StatusReport:
    """Coverage of every discovered cluster (or the one named), read-only (module docstring).
    UsageError when ``cluster`` names no discovered cluster. ``kube_bounds``: each cluster's
    share of the Kubernetes threads and its timeouts (a test shortens them)."""
    from aksaudit_tui.cloud import discovery  # startup time: the Azure SDK

    stats = stats if stats is not None else FleetStats()
    t0 = asyncio.get_running_loop().time()
    # Kubernetes reads run on threads that share the interpreter with discovery's event loop:
    # while discovery still lists Azure, only a few clusters are read at once (they would
    # otherwise slow every ARM call down); the rest of the permits come when it is done.
    during = max(0, min(max_clusters, KUBE_READS_DURING_DISCOVERY))
    sem = asyncio.Semaphore(during)
    subs: dict[str, Subscription] = {}
    workspaces: dict[str, Workspace] = {}
    found: dict[str, Cluster] = {}
    reads: dict[str, asyncio.Task[_ClusterRead]] = {}
    queries: dict[str, asyncio.Task[WorkspaceActivity | BaseException]] = {}
    warnings: list[str] = []
    qsem = asyncio.Semaphore(LOGS_CONCURRENCY)

    def wanted(c: Cluster) -> bool:
        return cluster is None or c.name == cluster or c.name.lower() == cluster.lower()

    # one thread pool for every cluster's API calls: threads are reused from one cluster to the
    # next. A private pool per client started two or more threads per cluster, and each start
    # waits for the new thread to take the GIL from the busy ones (~20 ms of event loop at
    # load; 100 clusters: 200 starts). Room for every cluster read's full share: a cluster
    # whose API server hangs holds only its own, plus one thread per read to open and close.
    pool = ThreadPoolExecutor(
        max_workers=(kube_bounds.in_flight + 1) * max(1, max_clusters),
        thread_name_prefix="aksaudit-status",
    )
    threading.Thread(
        target=_start_threads, args=(pool, max(1, max_clusters)), name="aksaudit-status-start"
    ).start()
    async with AsyncClients(settings) as clients:

        async def query(ws: str) -> WorkspaceActivity | BaseException:
            async with qsem:
                stats.kql_queries += 1
                try:
                    return await workspace_activity(clients, ws, window)
                except Exception as exc:  # the nodes depending on it are "unknown" with this
                    return exc

        async def read(c: Cluster) -> _ClusterRead:
            r = await _read_cluster(settings, c, sem, stats, pool, kube_bounds)
            # the record names its workspace: its one query starts now, beside the other
            # clusters' reads, rather than after the last of them
            ws = r.view.record.workspace_id.lower() if r.view and r.view.record else None
            if ws and ws not in queries:
                queries[ws] = asyncio.ensure_future(query(ws))
            return r

        try:
            async for item in discovery.discover(settings, subscription, report=stats.discovery):
                if isinstance(item, Subscription):
                    subs[item.id] = item
                    if item.error:
                        warnings.append(f"subscription {item.name}: {item.error}")
                elif isinstance(item, Workspace):
                    workspaces[item.customer_id.lower()] = item
                elif isinstance(item, Cluster):
                    if not wanted(item):
                        continue
                    if item.complete:
                        found[item.id] = item
                        if on_cluster is not None:
                            on_cluster(item)
                    # the Kubernetes read needs only the context and the node resource group:
                    # it starts as soon as the cluster is listed, not when Azure has told the
                    # rest of it (the report takes the complete cluster)
                    if item.id not in reads and (item.complete or item.node_resource_group):
                        reads[item.id] = asyncio.ensure_future(read(item))
                else:
                    warnings.append(f"{item.scope}: {item.code}: {item.message}")
            stats.discovery_s = asyncio.get_running_loop().time() - t0
            for _ in range(max(1, max_clusters) - during):
                sem.release()  # discovery is done: the full width for the remaining reads
            if cluster is not None and not found:
                raise UsageError(f"--cluster {cluster}: no such cluster among those you can read")
            # a cluster listed but never complete is not reported (as discovery's inventory)
            done = [
                replace(r, cluster=found[cid])
                for cid, r in zip(
                    found, await asyncio.gather(*(reads[cid] for cid in found)), strict=True
                )
            ]
            for t in [t for cid, t in reads.items() if cid not in found]:
                t.cancel()
            # the clusters' records name their workspaces: one query each (started above)
            answers = dict(zip(queries, await asyncio.gather(*queries.values()), strict=True))
        finally:
            pending: list[asyncio.Task[Any]] = [*reads.values(), *queries.values()]
            for t in pending:
                t.cancel()
            pool.shutdown(wait=False, cancel_futures=True)
        warnings.extend(f"{r.cluster.name}: {r.fence}" for r in done if r.fence)
        ws_ids = sorted(
            {r.view.record.workspace_id.lower() for r in done if r.view and r.view.record}
        )
        activity: dict[str, WorkspaceActivity] = {}
        errors: dict[str, str] = {}
        for ws in ws_ids:
            answer = answers.get(ws)
            if isinstance(answer, WorkspaceActivity):
                activity[ws] = answer
            elif answer is not None:
                name = workspaces[ws].name if ws in workspaces else ws
                errors[ws] = f"workspace {name} could not be queried: {answer}"
                warnings.append(errors[ws])
        gaps: dict[str, list[PathGap]] = {}  # cluster id -> the log path's broken links

        async def judge(r: _ClusterRead) -> None:
            rec = r.view.record if r.view else None
            if rec is None or not r.cluster.complete:
                return
            dest = Destination(
                resource_id=rec.workspace_resource_id,
                customer_id=rec.workspace_id,
                name=rec.workspace_name,
                workspace=workspaces.get(rec.workspace_id.lower()),
            )
            try:
                path = logpaths.get_log_path(rec.log_path, clients)
                gaps[r.cluster.id] = await path.diagnose(
                    r.cluster, dest, rec.facility, rec.severity
                )
            except UserError as exc:  # the nodes' other checks still stand; said once
                warnings.append(f"{r.cluster.name}: cannot judge log path {rec.log_path}: {exc}")

        await asyncio.gather(*(judge(r) for r in done))
    for ws, act in activity.items():
        if act.partial:
            warnings.append(f"workspace {ws}: partial answer ({act.partial})")
    now = datetime.now(UTC)
    clusters = [
        _coverage(
            r,
            subs,
            workspaces,
            activity,
            errors,
            gaps.get(r.cluster.id, []),
            now,
            window,
            tuple((notes or {}).get(r.cluster.name, ())),
        )
        for r in sorted(done, key=lambda r: (r.cluster.name, r.cluster.subscription_id))
    ]
    stats.clusters = len(clusters)
    stats.total_s = asyncio.get_running_loop().time() - t0
    return StatusReport(
        clusters=tuple(clusters),
        generated=now.isoformat(timespec="seconds"),
        warnings=tuple(warnings),
        window_h=max(1, int(window / HOUR)),
        queries=stats.kql_queries,
    )
