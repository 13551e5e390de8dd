"""Control plane loops: node objects from the simulated nodes, the garbage collector (gc.py), a
small scheduler, the DaemonSet controller and namespace termination. One task for all clusters;
it reacts to store events and resyncs every `sync_interval`."""

from __future__ import annotations

import asyncio
import copy
import hashlib
import logging
import time
from dataclasses import replace
from typing import Any

from ..state import SimNode
from . import events
from .gc import collect
from .objects import prepare_pod, template_hash
from .runtime import NodeSeen, wait_event
from .store import (
    ApiError,
    KubeStore,
    Obj,
    labels_match,
    now_iso,
    random_suffix,
    selector_from_match,
)

log = logging.getLogger(__name__)

KUBELET_VERSION = "v1.32.6"

_OS_INFO: dict[str, tuple[str, str, str]] = {
    # os sku -> osImage, kernelVersion, containerRuntimeVersion
    "Ubuntu2204": ("Ubuntu 22.04.5 LTS", "5.15.0-1079-azure", "containerd://1.7.27-1"),
    "Ubuntu2404": ("Ubuntu 24.04.2 LTS", "6.8.0-1027-azure", "containerd://1.7.27-1"),
    "Ubuntu1804": ("Ubuntu 18.04.6 LTS", "5.4.0-1109-azure", "containerd://1.7.1-1"),
    "AzureLinux3": ("Microsoft Azure Linux 3.0", "6.6.85.1-2.azl3", "containerd://2.0.0"),
    "Flatcar": (
        "Flatcar Container Linux by Kinvolk 4152.2.3 (Oklo)",
        "6.6.88-flatcar",
        "containerd://1.7.23",
    ),
}


def node_ip(node: SimNode) -> str:
    """The node's InternalIP: the scenario's, or a stable one when it left the default."""
    if node.ip and node.ip != "10.224.0.4":
        return node.ip
    h = int(hashlib.sha256(node.name.encode()).hexdigest()[:6], 16)
    return f"10.224.{(h >> 8) % 250}.{4 + h % 250}"


def render_node(node: SimNode, ready: bool, kubelet_version: str = KUBELET_VERSION) -> Obj:
    """The Node object AKS would show for a simulated node."""
    windows = not node.is_linux
    os_name = "windows" if windows else "linux"
    labels: dict[str, str] = {
        "kubernetes.io/os": os_name,
        "beta.kubernetes.io/os": os_name,
        "kubernetes.io/arch": node.arch,
        "beta.kubernetes.io/arch": node.arch,
        "kubernetes.io/hostname": node.name,
        "agentpool": node.pool,
        "kubernetes.azure.com/agentpool": node.pool,
        "kubernetes.azure.com/os-sku": node.os_sku,
        "kubernetes.azure.com/os-sku-effective": node.os_sku,
        "kubernetes.azure.com/role": "agent",
        "kubernetes.azure.com/cluster": node.cluster,
    }
    if node.virtual:
        labels = {
            "kubernetes.io/os": "linux",
            "kubernetes.io/hostname": node.name,
            "kubernetes.io/role": "agent",
            "type": "virtual-kubelet",
            "alpha.service-controller.kubernetes.io/exclude-balancer": "true",
        }
    labels.update(node.labels)
    if windows:
        image = ("Windows Server 2022 Datacenter", "10.0.20348.3453", "containerd://1.7.20+azure")
    elif node.virtual:
        image = ("", "", "")
    else:
        image = _OS_INFO.get(node.os_sku, _OS_INFO["Ubuntu2204"])
    image = (node.os_image or image[0], node.kernel_version or image[1], image[2])
    taints: list[dict[str, Any]] = [dict(t) for t in node.taints]
    if node.virtual and not any(t.get("key") == "virtual-kubelet.io/provider" for t in taints):
        taints.append(
            {"key": "virtual-kubelet.io/provider", "value": "azure", "effect": "NoSchedule"}
        )
    if not ready:
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoSchedule"})
        taints.append({"key": "node.kubernetes.io/not-ready", "effect": "NoExecute"})
    ip = node_ip(node)
    ready_cond: dict[str, Any] = (
        {
            "type": "Ready",
            "status": "True",
            "reason": "KubeletReady",
            "message": "kubelet is posting ready status",
        }
        if ready
        else {
            "type": "Ready",
            "status": "False",
            "reason": "KubeletNotReady",
            "message": "container runtime status check may not have completed yet",
        }
    )
    conditions = [
        {"type": t, "status": "False", "reason": r, "message": m}
        for t, r, m in (
            (
                "MemoryPressure",
                "KubeletHasSufficientMemory",
                "kubelet has sufficient memory available",
            ),
            ("DiskPressure", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
            ("PIDPressure", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
        )
    ] + [ready_cond]
    machine = hashlib.md5(node.name.encode(), usedforsecurity=False).hexdigest()
    capacity = {
        "cpu": "4",
        "memory": "16369020Ki",
        "pods": "110",
        "ephemeral-storage": "129886128Ki",
    }
    return {
        "metadata": {
            "name": node.name,
            "labels": labels,
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {"providerID": node.provider_id, **({"taints": taints} if taints else {})},
        "status": {
            "capacity": capacity,
            "allocatable": {**capacity, "cpu": "3860m", "memory": "12880764Ki"},
            "conditions": conditions,
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": node.name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "machineID": machine,
                "systemUUID": f"{machine[:8]}-{machine[8:12]}-{machine[12:16]}-{machine[16:20]}-"
                f"{machine[20:32]}",
                "bootID": machine[::-1][:8] + "-0000-4000-8000-" + machine[:12],
                "kernelVersion": image[1],
                "osImage": image[0],
                "containerRuntimeVersion": image[2],
                "kubeletVersion": "v1.19.10-vk-azure-aci-1.6.2"
                if node.virtual
                else kubelet_version,
                "kubeProxyVersion": "" if node.virtual else kubelet_version,
                "operatingSystem": os_name,
                "architecture": node.arch,
            },
        },
    }


def _comparable(obj: Obj) -> Obj:
    o = copy.deepcopy(obj)
    for k in ("resourceVersion", "uid", "creationTimestamp", "managedFields"):
        o["metadata"].pop(k, None)
    o.pop("kind", None)
    o.pop("apiVersion", None)
    for c in o.get("status", {}).get("conditions", []):
        for k in ("lastHeartbeatTime", "lastTransitionTime"):
            c.pop(k, None)
    return o


def sync_nodes(rt: Any, store: KubeStore) -> None:
    """Make the Node objects match the simulated nodes (added, changed, removed)."""
    sims: dict[str, SimNode] = rt.sim_nodes(store.cluster)
    version = rt.kube_version(store.cluster)
    seen: dict[str, NodeSeen] = rt.node_sigs.setdefault(store.cluster, {})
    for name, sim in sims.items():
        ready = rt.node_ready(sim)
        # Rendering 500 nodes every pass is costly: only when the simulated node changed. It
        # is compared with a copy of what was last rendered (dataclass equality, ~4 us a node;
        # a repr of it was ~40 us, ~12 % of the emulator's CPU in a fleet status): SimNodes
        # are changed in place (scenarios, faults, tests), so no stamp would see every change.
        have = store.get("nodes", "", name)
        if have is not None and seen.get(name) == (sim, ready, version):
            continue
        snap = replace(sim, labels=dict(sim.labels), taints=[dict(t) for t in sim.taints])
        seen[name] = (snap, ready, version)
        want = render_node(sim, ready, version)
        if have is None:
            for c in want["status"]["conditions"]:
                c["lastHeartbeatTime"] = c["lastTransitionTime"] = now_iso()
            store.create("nodes", want)
        elif _comparable(have) != _comparable(want):
            want["metadata"]["uid"] = have["metadata"]["uid"]
            want["metadata"]["creationTimestamp"] = have["metadata"]["creationTimestamp"]
            for c in want["status"]["conditions"]:
                c["lastHeartbeatTime"] = c["lastTransitionTime"] = now_iso()
            store.update("nodes", want)
    for node in store.list("nodes"):
        name = node["metadata"]["name"]
        if name not in sims:
            store.remove("nodes", "", name)
            seen.pop(name, None)
            # pod garbage collection: pods bound to a node that is gone are force-deleted
            for pod in store.list("pods"):
                if pod["spec"].get("nodeName") == name:
                    rt.delete_pod(store, pod, grace=False)


# ---------------------------------------------------------------- scheduling


def tolerates(tolerations: list[dict[str, Any]], taint: dict[str, Any]) -> bool:
    for t in tolerations:
        if t.get("effect") and t.get("effect") != taint.get("effect"):
            continue
        op = t.get("operator", "Equal")
        if op == "Exists" and (not t.get("key") or t.get("key") == taint.get("key")):
            return True
        if (
            op == "Equal"
            and t.get("key") == taint.get("key")
            and (t.get("value") or "") == (taint.get("value") or "")
        ):
            return True
    return False


def _term_matches(term: dict[str, Any], node: Obj) -> bool:
    labels = node["metadata"].get("labels") or {}
    if not labels_match(
        selector_from_match({"matchExpressions": term.get("matchExpressions") or []}), labels
    ):
        return False
    fields = {"metadata.name": node["metadata"]["name"]}
    for e in term.get("matchFields") or []:
        reqs = selector_from_match({"matchExpressions": [e]})
        if not labels_match(reqs, fields):
            return False
    return True


def unfit_reason(
    pod_spec: dict[str, Any], node: Obj, extra_tolerations: list[dict[str, Any]] | None = None
) -> str | None:
    """Why the scheduler would not place the pod on the node (None = fits)."""
    labels = node["metadata"].get("labels") or {}
    sel = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in sel.items()):
        return "didn't match Pod's node affinity/selector"
    req = ((pod_spec.get("affinity") or {}).get("nodeAffinity") or {}).get(
        "requiredDuringSchedulingIgnoredDuringExecution"
    ) or {}
    terms = req.get("nodeSelectorTerms") or []
    if terms and not any(_term_matches(t, node) for t in terms):
        return "didn't match Pod's node affinity/selector"
    for taint in (node.get("spec") or {}).get("taints") or []:
        if taint.get("effect") in ("NoSchedule", "NoExecute") and not tolerates(
            (pod_spec.get("tolerations") or []) + (extra_tolerations or []), taint
        ):
            v = taint.get("value")
            return (
                f"had untolerated taint {{{taint['key']}: {v}}}"
                if v
                else (f"had untolerated taint {{{taint['key']}: }}")
            )
    return None


def schedule(store: KubeStore) -> None:
    """Bind pending pods that have no nodeName to a fitting node (spread by pod count)."""
    nodes = store.list("nodes")
    pods = store.list("pods")
    counts: dict[str, int] = {}
    for p in pods:
        n = p["spec"].get("nodeName")
        if n:
            counts[n] = counts.get(n, 0) + 1
    for pod in pods:
        spec = pod["spec"]
        if spec.get("nodeName") or pod["metadata"].get("deletionTimestamp"):
            continue
        reasons: dict[str, int] = {}
        fit: list[Obj] = []
        for node in nodes:
            why = unfit_reason(spec, node)
            if why is None:
                fit.append(node)
            else:
                reasons[why] = reasons.get(why, 0) + 1
        new = copy.deepcopy(pod)
        conds = [c for c in new["status"].get("conditions", []) if c["type"] != "PodScheduled"]
        if fit:
            best = min(
                fit, key=lambda n: (counts.get(n["metadata"]["name"], 0), n["metadata"]["name"])
            )
            new["spec"]["nodeName"] = best["metadata"]["name"]
            counts[best["metadata"]["name"]] = counts.get(best["metadata"]["name"], 0) + 1
            conds.append(
                {"type": "PodScheduled", "status": "True", "lastTransitionTime": now_iso()}
            )
            scheduled = (
                f"Successfully assigned {pod['metadata']['namespace']}/"
                f"{pod['metadata']['name']} to {new['spec']['nodeName']}"
            )
        else:
            detail = ", ".join(f"{n} node(s) {r}" for r, n in sorted(reasons.items()))
            msg = (
                f"0/{len(nodes)} nodes are available: {detail}."
                if nodes
                else ("no nodes available to schedule pods")
            )
            old = next(
                (c for c in pod["status"].get("conditions", []) if c["type"] == "PodScheduled"),
                None,
            )
            if old and old.get("message") == msg:
                continue
            conds.append(
                {
                    "type": "PodScheduled",
                    "status": "False",
                    "reason": "Unschedulable",
                    "message": msg,
                    "lastTransitionTime": now_iso(),
                }
            )
            scheduled = None
        new["status"]["conditions"] = conds
        stored = store.update("pods", new)
        if scheduled is not None:
            events.record(store, stored, "Normal", "Scheduled", scheduled, _SCHEDULER)
        else:
            events.record(store, stored, "Warning", "FailedScheduling", msg, _SCHEDULER)


# ---------------------------------------------------------------- DaemonSets

_DS_TOLERATIONS = [
    ("node.kubernetes.io/not-ready", "NoExecute"),
    ("node.kubernetes.io/unreachable", "NoExecute"),
    ("node.kubernetes.io/disk-pressure", "NoSchedule"),
    ("node.kubernetes.io/memory-pressure", "NoSchedule"),
    ("node.kubernetes.io/pid-pressure", "NoSchedule"),
    ("node.kubernetes.io/unschedulable", "NoSchedule"),
]


_SCHEDULER: events.Source = ("default-scheduler", "")
_DS_CONTROLLER: events.Source = ("daemonset-controller", "")


def _delete_ds_pod(rt: Any, store: KubeStore, ds: Obj, pod: Obj, grace: bool) -> None:
    rt.delete_pod(store, pod, grace=grace)
    events.record(
        store,
        ds,
        "Normal",
        "SuccessfulDelete",
        f"Deleted pod: {pod['metadata']['name']}",
        _DS_CONTROLLER,
    )


def _owned(store: KubeStore, ds: Obj) -> list[Obj]:
    uid = ds["metadata"]["uid"]
    return [
        p
        for p in store.list("pods", ds["metadata"]["namespace"])
        if any(r.get("uid") == uid for r in p["metadata"].get("ownerReferences") or [])
    ]


def _pod_ready(pod: Obj) -> bool:
    return any(
        c["type"] == "Ready" and c["status"] == "True" for c in pod["status"].get("conditions", [])
    )


_DS_EXTRA = [{"key": k, "operator": "Exists", "effect": e} for k, e in _DS_TOLERATIONS]


def _should_run(ds: Obj, node: Obj) -> bool:
    # The controller's default tolerations count too; not-ready NoSchedule does not, so only a
    # DaemonSet that tolerates everything lands on a NotReady node (and its pod stays Pending).
    return unfit_reason(ds["spec"]["template"]["spec"], node, _DS_EXTRA) is None


def _ds_pod(ds: Obj, node_name: str, h: str) -> Obj:
    tmpl = copy.deepcopy(ds["spec"]["template"])
    meta = tmpl.setdefault("metadata", {})
    name = f"{ds['metadata']['name']}-{random_suffix()}"
    labels = dict(meta.get("labels") or {})
    labels["controller-revision-hash"] = h
    labels["pod-template-generation"] = str(ds["metadata"].get("generation", 1))
    spec = tmpl["spec"]
    tol = spec.setdefault("tolerations", [])
    for key, effect in _DS_TOLERATIONS:
        if not any(t.get("key") == key and t.get("effect") == effect for t in tol):
            tol.append({"key": key, "operator": "Exists", "effect": effect})
    aff = spec.setdefault("affinity", {})
    aff["nodeAffinity"] = {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {"matchFields": [{"key": "metadata.name", "operator": "In", "values": [node_name]}]}
            ]
        }
    }
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "generateName": f"{ds['metadata']['name']}-",
            "labels": labels,
            "annotations": dict(meta.get("annotations") or {}),
            "ownerReferences": [
                {
                    "apiVersion": "apps/v1",
                    "kind": "DaemonSet",
                    "name": ds["metadata"]["name"],
                    "uid": ds["metadata"]["uid"],
                    "controller": True,
                    "blockOwnerDeletion": True,
                }
            ],
        },
        "spec": spec,
    }


def reconcile_daemonset(rt: Any, store: KubeStore, ds: Obj) -> None:
    if ds["metadata"].get("deletionTimestamp"):
        return
    ns = ds["metadata"]["namespace"]
    h = template_hash(ds["spec"]["template"])
    nodes = {n["metadata"]["name"]: n for n in store.list("nodes")}
    want = {name for name, n in nodes.items() if _should_run(ds, n)}
    owned = _owned(store, ds)
    # a node whose old pod is still terminating gets its new pod once that one is gone
    terminating = {_pod_target(p) for p in owned if p["metadata"].get("deletionTimestamp")}
    pods = [p for p in owned if not p["metadata"].get("deletionTimestamp")]
    backoff: dict[tuple[str, str], tuple[float, float]] = rt.ds_backoff
    now = time.monotonic()
    for p in [p for p in pods if p["status"].get("phase") == "Failed"]:
        # the controller replaces failed daemon pods, backing off per node (1 s doubling to 5 min)
        bkey = (ds["metadata"]["uid"], _pod_target(p))
        delay = min(backoff.get(bkey, (0.0, 0.5))[1] * 2, 300.0)
        backoff[bkey] = (now + delay * rt.options.time_scale, delay)
        rt.ds_backoff_pending.add(bkey)
        _delete_ds_pod(rt, store, ds, p, grace=False)
        pods.remove(p)
    by_node: dict[str, list[Obj]] = {}
    for p in pods:
        node = _pod_target(p)
        by_node.setdefault(node, []).append(p)
    failed_create: str | None = None
    for name in sorted(want):
        if name in by_node or name in terminating:
            continue
        if backoff.get((ds["metadata"]["uid"], name), (0.0, 0.0))[0] > now:
            continue
        pod = _ds_pod(ds, name, h)
        try:
            made = store.create("pods", prepare_pod(store, pod, ns))
        except ApiError as e:  # e.g. Pod Security: recorded like the controller's event
            failed_create = f"Error creating: {e.message}"
            events.record(store, ds, "Warning", "FailedCreate", failed_create, _DS_CONTROLLER)
            break
        events.record(
            store,
            ds,
            "Normal",
            "SuccessfulCreate",
            f"Created pod: {made['metadata']['name']}",
            _DS_CONTROLLER,
        )
    for node_name, plist in by_node.items():
        if node_name not in want:
            for p in plist:
                _delete_ds_pod(rt, store, ds, p, grace=True)
        elif len(plist) > 1:
            for p in plist[1:]:
                _delete_ds_pod(rt, store, ds, p, grace=True)
    strategy = ds["spec"].get("updateStrategy") or {}
    if strategy.get("type", "RollingUpdate") == "RollingUpdate":
        desired = max(len(want), 1)
        mu = (strategy.get("rollingUpdate") or {}).get("maxUnavailable", 1)
        if isinstance(mu, str) and mu.endswith("%"):
            mu = max(1, desired * int(mu[:-1]) // 100)
        unavailable = sum(1 for n in want if not any(_pod_ready(p) for p in by_node.get(n, [])))
        budget = int(mu) - unavailable
        for p in pods:
            if budget <= 0:
                break
            if p["metadata"].get("labels", {}).get("controller-revision-hash") != h and _pod_ready(
                p
            ):
                _delete_ds_pod(rt, store, ds, p, grace=True)
                budget -= 1
        # Outdated pods that are not ready anyway are replaced at once.
        for p in pods:
            if p["metadata"].get("labels", {}).get(
                "controller-revision-hash"
            ) != h and not _pod_ready(p):
                _delete_ds_pod(rt, store, ds, p, grace=True)
    current = [p for p in _owned(store, ds) if not p["metadata"].get("deletionTimestamp")]
    on_wanted = [p for p in current if _pod_target(p) in want]
    status = {
        "currentNumberScheduled": len({_pod_target(p) for p in on_wanted}),
        "numberMisscheduled": len([p for p in current if _pod_target(p) not in want]),
        "desiredNumberScheduled": len(want),
        "numberReady": len([p for p in on_wanted if _pod_ready(p)]),
        "observedGeneration": ds["metadata"].get("generation", 1),
        "updatedNumberScheduled": len(
            [p for p in on_wanted if p["metadata"]["labels"].get("controller-revision-hash") == h]
        ),
    }
    status["numberAvailable"] = status["numberReady"]
    unavailable_n = status["desiredNumberScheduled"] - status["numberAvailable"]
    if unavailable_n:
        status["numberUnavailable"] = unavailable_n
    if failed_create:
        status["conditions"] = [
            {
                "type": "ReplicaFailure",
                "status": "True",
                "reason": "FailedCreate",
                "message": failed_create,
            }
        ]
    latest = store.get("daemonsets", ns, ds["metadata"]["name"])
    if latest is not None and latest.get("status") != status:
        new = copy.deepcopy(latest)
        new["status"] = status
        store.update("daemonsets", new)


def _pod_target(pod: Obj) -> str:
    """The node a DaemonSet pod is for (nodeName once bound, else its matchFields pin)."""
    if pod["spec"].get("nodeName"):
        return str(pod["spec"]["nodeName"])
    terms = (
        ((pod["spec"].get("affinity") or {}).get("nodeAffinity") or {}).get(
            "requiredDuringSchedulingIgnoredDuringExecution"
        )
        or {}
    ).get("nodeSelectorTerms") or []
    for t in terms:
        for f in t.get("matchFields") or []:
            if f.get("key") == "metadata.name" and f.get("values"):
                return str(f["values"][0])
    return ""


def finish_namespaces(rt: Any, store: KubeStore) -> None:
    """Remove a Terminating namespace once its content is gone."""
    for ns in store.list("namespaces"):
        if ns.get("status", {}).get("phase") != "Terminating":
            continue
        name = ns["metadata"]["name"]
        for o in store.list("events", name):  # gone at once: they hold nothing up
            store.remove("events", name, o["metadata"]["name"])
        left = False
        for resource in ("pods", "configmaps", "daemonsets"):
            for o in store.list(resource, name):
                left = True
                if resource == "pods":
                    rt.delete_pod(store, o, grace=True)
                elif not o["metadata"].get("deletionTimestamp"):
                    store.remove(resource, name, o["metadata"]["name"])
        if not left:
            store.remove("namespaces", "", name)


def reconcile(rt: Any, store: KubeStore, nodes: bool = True) -> None:
    if nodes:
        sync_nodes(rt, store)
    # Nothing changed since the last full pass (and no back-off is due): skip the O(nodes x
    # pods) work, which otherwise dominates an idle 500-node cluster.
    now = time.monotonic()
    due = {k for k in rt.ds_backoff_pending if rt.ds_backoff[k][0] <= now}
    backoff_due = bool(due)
    if store.work_rv == rt.reconciled_rv.get(store.cluster) and not backoff_due:
        return
    start_rv = store.work_rv  # a pass that writes gets a follow-up pass; a quiet one ends the chain
    collect(rt, store)
    for ds in store.list("daemonsets"):
        reconcile_daemonset(rt, store, ds)
    schedule(store)
    finish_namespaces(rt, store)
    rt.reconciled_rv[store.cluster] = start_rv
    rt.ds_backoff_pending -= due  # acted on above


# The node pass (every simulated node against its Node object) takes at most this share of the
# emulator's time: on a fleet (1,000 clusters, 10,000 nodes) one pass costs about a second, and
# run every sync_interval it kept the event loop busy, so every ARM and Resource Graph answer
# waited behind it. Small scenarios (a pass of a few ms) still re-read every sync_interval.
NODE_PASS_SHARE = 0.1
# Clusters reconciled between two yields to the event loop (requests are served in between).
CLUSTERS_PER_SLICE = 50


async def run_controller(rt: Any) -> None:
    """Resync all clusters on store events (batched), at least every sync_interval; the
    simulated nodes are re-read every sync_interval, or less often when a node pass is long
    (``NODE_PASS_SHARE``)."""
    last_nodes = 0.0
    node_pass_s = 0.0
    while True:
        await wait_event(rt.wake, rt.options.sync_interval)
        rt.wake.clear()
        await asyncio.sleep(min(0.05, rt.options.sync_interval))  # batch a burst of writes
        now = time.monotonic()
        nodes = now - last_nodes >= max(rt.options.sync_interval, node_pass_s / NODE_PASS_SHARE)
        if nodes:
            last_nodes = now
        busy = 0.0  # this pass's own time, without the requests served between its slices
        start = time.monotonic()
        for i, cluster in enumerate(rt.clusters()):
            if i and i % CLUSTERS_PER_SLICE == 0:
                busy += time.monotonic() - start
                await asyncio.sleep(0)
                start = time.monotonic()
            store = rt.store(cluster)
            if store is None:
                continue
            try:
                reconcile(rt, store, nodes)
            except Exception:  # a controller bug must not stop the emulator
                log.exception("kube controller pass failed for %s", cluster)
        if nodes:
            node_pass_s = busy + time.monotonic() - start
