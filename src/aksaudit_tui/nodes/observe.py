"""What one cluster says about its audit delivery, read with get/list only (no pod is created,
nothing is written): the nodes, the record of what was applied, the keeper DaemonSet, its pods'
readiness and each pod's last JSON status line (pod log).

This is what ``status`` (and read-only verify and review) rely on instead of starting check
pods: the keeper already runs ``check`` every interval and prints its verdict.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Any

from kubernetes.client import ApiException

from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.kube import KubeClient, NodeInfo
from aksaudit_tui.nodes.pods import pod_node, pod_ready, pod_reason
from aksaudit_tui.nodes.record import RECORD_SELECTOR, AppliedRecord, parse_record
from aksaudit_tui.nodes.status import NodeStatus, parse_node_status

Obj = dict[str, Any]
LOG_TAIL_LINES = 80  # one keeper pass prints ~20 lines; the last JSON line is near the end


@dataclass(frozen=True)
class KeeperPod:
    """The keeper pod on one node as the API shows it, with its last status line."""

    name: str
    ready: bool
    reason: str  # pod_reason(): phase, waiting reason, last exit
    script_sha256: str  # the pod's annotation: which configuration it runs
    status: NodeStatus | None  # the node script's last JSON line (None: none printed yet)
    restarts: int = 0


@dataclass
class ClusterView:
    """One cluster's delivery state (see the module docstring)."""

    nodes: list[NodeInfo] = field(default_factory=list)
    record: AppliedRecord | None = None
    records: list[AppliedRecord] = field(default_factory=list)  # >1: two namespaces recorded
    keeper: bool = False  # the keeper DaemonSet exists in the record's namespace
    keeper_desired: int = 0
    pods: dict[str, KeeperPod] = field(default_factory=dict)  # node -> keeper pod
    calls: dict[str, int] = field(default_factory=dict)  # API calls by kind (tests count them)


def _restarts(pod: Obj) -> int:
    for cs in (pod.get("status") or {}).get("containerStatuses") or []:
        return int(cs.get("restartCount") or 0)
    return 0


async def _pod_status(kube: KubeClient, ns: str, pod: Obj) -> NodeStatus | None:
    name = str(pod["metadata"]["name"])
    st = parse_node_status(await kube.pod_log(ns, name, tail_lines=LOG_TAIL_LINES))
    if st is None and _restarts(pod) > 0:
        # crash-looping: the container before the last restart printed the verdict
        st = parse_node_status(
            await kube.pod_log(ns, name, previous=True, tail_lines=LOG_TAIL_LINES)
        )
    return st


async def observe_cluster(
    kube: KubeClient, node_resource_group: str, *, concurrency: int = 16
) -> ClusterView:
    """Read the cluster (get/list and pod logs only). Raises what the API raises for the
    nodes list (the caller reports the cluster as unknown with that reason); a missing
    namespace or DaemonSet is an answer, not an error."""
    view = ClusterView()
    # one after the other: the second call reuses the first's kept-alive connection. Side by
    # side they opened two connections, and the second TLS handshake cost more client CPU than
    # the reads themselves (a fleet status reads 100s of clusters); it costs one round trip.
    cms = await kube.list_configmaps(RECORD_SELECTOR)
    view.nodes = await kube.check_identity(node_resource_group)
    view.records = sorted(
        (r for cm in cms if (r := parse_record(cm)) is not None),
        key=lambda r: r.applied_at,
        reverse=True,
    )
    view.record = view.records[0] if view.records else None
    if view.record is None or view.record.delivery != "keeper":
        view.calls = dict(kube.calls)
        return view
    ns = view.record.namespace
    ds = await kube.get_daemonset(ns)
    view.keeper = ds is not None
    if ds is not None:
        view.keeper_desired = int((ds.get("status") or {}).get("desiredNumberScheduled") or 0)
    try:
        pods, _ = await kube.list_pods(ns, m.KEEPER_SELECTOR)
    except ApiException as e:
        if e.status != 404:
            raise
        pods = []
    live = [p for p in pods if not (p.get("metadata") or {}).get("deletionTimestamp")]
    sem = asyncio.Semaphore(max(1, concurrency))

    async def one(pod: Obj) -> tuple[str, KeeperPod]:
        async with sem:
            st = await _pod_status(kube, ns, pod)
        ann = (pod.get("metadata") or {}).get("annotations") or {}
        return pod_node(pod), KeeperPod(
            name=str(pod["metadata"]["name"]),
            ready=pod_ready(pod),
            reason=pod_reason(pod),
            script_sha256=str(ann.get(m.ANNOTATION_SCRIPT_SHA) or ""),
            status=st,
            restarts=_restarts(pod),
        )

    view.pods = dict(await asyncio.gather(*(one(p) for p in live)))
    view.calls = dict(kube.calls)
    return view
