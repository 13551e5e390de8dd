"""Node delivery against the emulator's Kubernetes API (real kubernetes client over HTTPS), with
the real node script run by the simulated kubelet on simulated node roots."""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from aksaudit_emulator.nodestate import read_node_audit_state
from aksaudit_tui.errors import UsageError, UserError
from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.delivery import (
    DeliverySpec,
    DeliveryStats,
    NodeResult,
    check_nodes,
    remove_nodes,
    rollout,
)
from aksaudit_tui.nodes.kube import KubeClient, NodeInfo, load_api
from aksaudit_tui.nodes.script import render_node_script
from fixtures.emulator import emulator, make_emulator  # noqa: F401  (pytest fixtures)

CLUSTER = "aks-prod-weu"  # 2 tainted Ubuntu 22.04 system nodes, 3 Ubuntu 24.04, 1 Windows
RULES = "-w /etc/passwd -p wa -k identity\n-a always,exit -F arch=b64 -S execve -k aks_exec\n"
SCRIPT = render_node_script(RULES, "authpriv", "info")

# Generous: CI machines are shared, and each node runs a real sh script with dpkg stand-ins.
pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def kube(emulator: Any) -> AsyncIterator[KubeClient]:  # noqa: F811
    k = KubeClient(
        load_api(emulator.info.kubeconfig, CLUSTER, emulator.info.ca_bundle), context=CLUSTER
    )
    yield k
    k.close()


def _cluster(emu: Any) -> Any:
    return emu.state.clusters[CLUSTER]


def _spec(**kw: Any) -> DeliverySpec:
    args: dict[str, Any] = {
        "mode": "one-shot",
        "run_id": "run-test-1",
        "concurrency": 3,
        "pod_deadline_s": 200,
        "keeper_interval_s": 30,
    }
    args.update(kw)
    return DeliverySpec(**args)


def _add_fault(emu: Any, fault: dict[str, Any]) -> None:
    with emu.state.lock:
        emu.state.faults.append(fault)


async def _our_pods(kube: KubeClient) -> list[tuple[str, str]]:
    return (await kube.list_leftovers()).pods


def _linux(nodes: list[NodeInfo]) -> list[NodeInfo]:
    return [n for n in nodes if n.eligible]


# --- identity and admission -----------------------------------------------------------------


async def test_identity_check_passes_for_the_right_resource_group(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    rg = _cluster(emulator).node_resource_group
    nodes = await kube.check_identity(rg.upper())  # case-insensitive
    assert {n.name for n in nodes} == set(_cluster(emulator).nodes)
    windows = [n for n in nodes if n.os == "windows"]
    assert windows and all(n.skip_reason and "Windows" in n.skip_reason for n in windows)


async def test_identity_check_names_the_wrong_cluster(emulator: Any) -> None:  # noqa: F811
    other = emulator.state.clusters["aks-dev-neu"]
    k = KubeClient(load_api(emulator.info.kubeconfig, other.name, emulator.info.ca_bundle),
                   context=other.name)  # fmt: skip
    try:
        with pytest.raises(UsageError) as ei:
            await k.check_identity(_cluster(emulator).node_resource_group)
    finally:
        k.close()
    msg = str(ei.value)
    assert "aks-dev-neu" in msg and "--context" in msg
    assert other.node_resource_group.lower() in msg.lower()
    assert _cluster(emulator).node_resource_group in msg
    assert emulator.info.token not in msg if hasattr(emulator.info, "token") else True


async def test_admission_rejection_is_surfaced_with_the_fix(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    # A namespace someone else made, enforcing Baseline (as AKS Automatic does).
    await kube._json(
        "create_namespace",
        kube.core.create_namespace,
        {"metadata": {"name": "locked", "labels": {m.PSA_ENFORCE: "baseline"}}},
    )
    with pytest.raises(UserError) as ei:
        await kube.check_admission("locked", m.DEFAULT_IMAGE, m.script_sha256(SCRIPT))
    msg = str(ei.value)
    assert "\n" not in msg
    assert "PodSecurity" in msg and "hostPID" in msg
    assert "kubectl label namespace locked pod-security.kubernetes.io/enforce=privileged" in msg
    # The rollout stops with the same reason and creates no pod, and leaves the namespace alone.
    nodes = await kube.list_nodes()
    with pytest.raises(UserError, match="PodSecurity"):
        await rollout(kube, _spec(namespace="locked"), nodes, SCRIPT, RULES)
    assert not await _our_pods(kube)
    ns = await kube._read("read_namespace", kube.core.read_namespace, "locked")
    assert ns is not None and ns["metadata"]["labels"][m.PSA_ENFORCE] == "baseline"
    # Our own namespace passes.
    assert await kube.ensure_namespace("aksaudit-system") is True
    assert await kube.check_admission("aksaudit-system", m.DEFAULT_IMAGE, None) is None
    assert await kube.ensure_namespace("aksaudit-system") is False  # idempotent


# --- one-shot -------------------------------------------------------------------------------


async def test_oneshot_rollout_configures_every_linux_node_and_leaves_nothing(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    nodes = await kube.check_identity(_cluster(emulator).node_resource_group)
    linux = _linux(nodes)
    seen: list[NodeResult] = []
    stats = DeliveryStats()
    t0 = time.monotonic()
    results = await rollout(
        kube, _spec(concurrency=2), nodes, SCRIPT, RULES, on_node=seen.append, stats=stats
    )
    took = time.monotonic() - t0
    by = {r.node: r for r in results}
    assert [r.node for r in results] == [n.name for n in nodes]
    for n in linux:
        assert by[n.name].phase == "compliant", by[n.name]
        assert by[n.name].status is not None and by[n.name].status.ok
        state = read_node_audit_state(_cluster(emulator).nodes[n.name].root)
        assert state.installed and state.running and state.plugin_active
        assert state.plugin_facility == "authpriv"
        assert "identity" in state.rule_keys
    assert {by[n.name].audit_version for n in linux} == {"3.0.7", "3.1.2"}
    win = [r for r in results if r.os.startswith("Windows")]
    assert win and all(r.phase == "skipped" for r in win)
    # Progress was reported per node: pending -> scheduled -> ... -> compliant.
    phases = [r.phase for r in seen if r.node == linux[0].name]
    assert phases[0] == "pending" and "scheduled" in phases and phases[-1] == "compliant"
    # Nothing left: no pod, no ConfigMap, not even the namespace.
    left = await kube.list_leftovers()
    assert left.empty, left
    # API cost: one list + one watch per run; per node one create, one log read, one delete.
    calls = stats.calls
    # One watch per run: resumed only when the server ends the stream (every 290 s).
    assert calls["watch_pods"] == stats.watch_requests <= 1 + int(took // 290)
    assert "list_node" not in calls  # the caller lists nodes (identity check), once
    assert calls["create_pod"] == len(linux) == stats.pods_created
    assert calls["read_log"] == len(linux)
    assert calls["delete_pod"] == len(linux)
    assert calls["list_pods"] <= 4


async def test_oneshot_api_calls_do_not_grow_per_node_for_watches(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    # Two clusters' worth of work in one cluster: run twice with 2 and 5 nodes; the watch/list
    # counts stay the same, only create/log/delete grow (3 per node).
    nodes = _linux(await kube.list_nodes())
    s1, s2 = DeliveryStats(), DeliveryStats()
    await rollout(kube, _spec(run_id="r-small"), nodes[:2], SCRIPT, RULES, stats=s1)
    await rollout(kube, _spec(run_id="r-big"), nodes, SCRIPT, RULES, stats=s2)
    assert s1.calls["watch_pods"] == s2.calls["watch_pods"] == 1  # unless a run took > 290 s
    assert s2.calls["list_pods"] == s1.calls["list_pods"]
    per_node = (s2.calls["create_pod"] + s2.calls["read_log"] + s2.calls["delete_pod"]) / len(nodes)
    assert per_node == 3


async def test_oneshot_check_and_remove(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    every = await kube.list_nodes()
    # One node of each Linux OS, plus the Windows node (skipped throughout).
    nodes = [*{n.os_sku: n for n in every}.values()]
    linux = _linux(nodes)
    assert len(linux) == 2
    # Before anything: check reports every Linux node as not compliant, changing nothing.
    before = await check_nodes(kube, _spec(run_id="c1"), nodes, SCRIPT, RULES)
    assert all(r.phase == "failed" and "not compliant" in r.message for r in before
               if r.node in {n.name for n in linux})  # fmt: skip
    root = _cluster(emulator).nodes[linux[0].name].root
    assert not read_node_audit_state(root).installed
    await rollout(kube, _spec(run_id="a1"), nodes, SCRIPT, RULES)
    after = await check_nodes(kube, _spec(run_id="c2"), nodes, SCRIPT, RULES)
    assert all(r.phase == "compliant" for r in after if r.node in {n.name for n in linux})
    removed = await remove_nodes(kube, _spec(run_id="rm1"), nodes, SCRIPT, RULES)
    assert all(r.phase == "removed" for r in removed if r.node in {n.name for n in linux})
    state = read_node_audit_state(root)
    assert not state.plugin_active and "identity" not in state.rule_keys
    assert (await kube.list_leftovers()).empty


async def test_cancel_without_deletecollection_right_still_leaves_no_pod(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    # Narrow RBAC: no `deletecollection` on pods; cleanup falls back to deleting one by one.
    _add_fault(emulator, {"kind": "forbidden", "cluster": CLUSTER, "verb": "deletecollection",
                          "resource": "pods"})  # fmt: skip
    nodes = _linux(await kube.list_nodes())[:3]
    cancel = asyncio.Event()

    def on_node(r: NodeResult) -> None:
        if r.phase == "scheduled":
            cancel.set()

    await rollout(kube, _spec(concurrency=3), nodes, SCRIPT, RULES, on_node=on_node, cancel=cancel)
    assert not await _our_pods(kube)


async def test_cancel_mid_rollout_leaves_no_pod(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    nodes = await kube.list_nodes()
    cancel = asyncio.Event()

    def on_node(r: NodeResult) -> None:
        if r.phase == "running":
            cancel.set()

    results = await rollout(
        kube, _spec(concurrency=2), nodes, SCRIPT, RULES, on_node=on_node, cancel=cancel
    )
    assert cancel.is_set()
    phases = {r.phase for r in results}
    assert "unknown" in phases
    assert all(r.message.startswith("cancelled") for r in results if r.phase == "unknown")
    assert not await _our_pods(kube)
    assert (await kube.list_leftovers()).empty


async def test_task_cancellation_still_deletes_pods(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    nodes = await kube.list_nodes()
    started = asyncio.Event()

    def on_node(r: NodeResult) -> None:
        if r.phase == "scheduled":
            started.set()

    task = asyncio.ensure_future(rollout(kube, _spec(), nodes, SCRIPT, RULES, on_node=on_node))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not await _our_pods(kube)


async def test_cancel_waits_for_creates_in_flight_and_deletes_their_pods(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    # A cancel cannot stop a create already on its thread. Here the later creates are held
    # until the cancel has arrived, then land; the namespace is kept (as beside a keeper), so
    # nothing but the run's own cleanup can remove what they made. Before the fix the run
    # returned first and those privileged pods stayed (the race behind the ~1 in 30 failures
    # of test_task_cancellation_still_deletes_pods).
    real_create = kube.core.create_namespaced_pod
    creates = itertools.count()
    cancelled = threading.Event()
    landed: list[str] = []

    def create(namespace: str, body: Any, **kw: Any) -> Any:
        # the first create goes through at once: its pod starts the cancel
        if not kw.get("dry_run") and next(creates) > 0:
            assert cancelled.wait(30)
            time.sleep(0.5)  # lands after the cancelled run would have looked
        resp = real_create(namespace, body, **kw)
        if not kw.get("dry_run"):
            landed.append(body["metadata"]["name"])
        return resp

    kube.core.create_namespaced_pod = create
    nodes = await kube.list_nodes()
    started = asyncio.Event()

    def on_node(r: NodeResult) -> None:
        if r.phase == "scheduled":
            started.set()

    spec = _spec(cleanup_namespace=False)
    task = asyncio.ensure_future(rollout(kube, spec, nodes, SCRIPT, RULES, on_node=on_node))
    await asyncio.wait_for(started.wait(), 30)
    task.cancel()
    cancelled.set()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(landed) == 3  # concurrency 3: all three creates reached the API
    assert not await _our_pods(kube)


@pytest.mark.parametrize("ack", [True, False], ids=["kubelet-took-pod", "never-acked"])
async def test_pod_stuck_pending_fails_with_reason_and_is_deleted(
    make_emulator: Callable[..., Any],  # noqa: F811
    ack: bool,
) -> None:
    # Real kubelet timings: activeDeadlineSeconds must not be scaled down under the healthy
    # nodes' own pods (the fast test tuning would kill them after a tenth of it).
    emu = make_emulator(None, kube={"time_scale": 1.0})
    kube = KubeClient(load_api(emu.info.kubeconfig, CLUSTER, emu.info.ca_bundle), context=CLUSTER)
    try:
        await _stuck_pending(emu, kube, ack)
    finally:
        kube.close()


STUCK_DEADLINE_S = 8


async def _stuck_pending(emu: Any, kube: KubeClient, ack: bool) -> None:
    nodes = await kube.list_nodes()
    stuck = _linux(nodes)[0].name
    _add_fault(emu, {"kind": "pod-pending", "cluster": CLUSTER, "node": stuck, "ack": ack})
    # long enough for the healthy nodes' own pods on a loaded machine (3 s failed there)
    results = await rollout(kube, _spec(pod_deadline_s=STUCK_DEADLINE_S), nodes, SCRIPT, RULES)
    by = {r.node: r for r in results}
    assert by[stuck].phase == "failed"
    msg = by[stuck].message
    if ack:
        # The kubelet started the pod: our own deadline or its activeDeadlineSeconds (the same
        # value, a race) ends it; either way the reason names where the pod is stuck.
        assert f"no result after {STUCK_DEADLINE_S}s" in msg or "DeadlineExceeded" in msg, msg
        assert "ContainerCreating" in msg, msg
    else:
        # No kubelet ever took the pod (no startTime): only our own deadline can end it.
        assert f"no result after {STUCK_DEADLINE_S}s" in msg and "Pending" in msg, msg
    others = [n for n in _linux(nodes) if n.name != stuck]
    assert all(by[n.name].phase == "compliant" for n in others)
    assert not await _our_pods(kube)


async def test_image_pull_failure_fails_fast_with_reason(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    nodes = await kube.list_nodes()
    _add_fault(emulator, {"kind": "image-pull", "cluster": CLUSTER, "image": "no-such"})
    t0 = time.monotonic()
    results = await rollout(
        kube, _spec(image="example.invalid/no-such:1.0", pod_deadline_s=200), nodes, SCRIPT, RULES
    )
    assert time.monotonic() - t0 < 150  # ImagePullBackOff ends it, not the 200 s deadline
    for r in results:
        if r.os.startswith("Windows"):
            continue
        assert r.phase == "failed" and ("ErrImagePull" in r.message or "ImagePull" in r.message)
    assert not await _our_pods(kube)


async def test_watch_drop_does_not_stop_the_rollout(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    nodes = await kube.list_nodes()
    _add_fault(
        emulator,
        {"kind": "drop-watch", "cluster": CLUSTER, "resource": "pods", "after_events": 2,
         "times": 3},
    )  # fmt: skip
    stats = DeliveryStats()
    results = await rollout(kube, _spec(concurrency=5), nodes, SCRIPT, RULES, stats=stats)
    assert all(r.phase in ("compliant", "skipped") for r in results), results
    assert 2 <= stats.watch_requests <= 8  # resumed, not one per node
    assert not await _our_pods(kube)


async def test_watch_relists_after_410_gone(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    ns = "aksaudit-system"
    await kube.ensure_namespace(ns)
    w = kube.watch_pods(ns, m.MANAGED_SELECTOR, timeout_s=30)
    await w.start()
    # The server forgets history and ends the stream: the resume gets 410 -> relist.
    emulator.state.kube[CLUSTER].compact()
    _add_fault(emulator, {"kind": "drop-watch", "cluster": CLUSTER, "resource": "pods",
                          "after_events": 0, "times": 1})  # fmt: skip
    pod = m.oneshot_pod_manifest(
        namespace=ns, node=_linux(await kube.list_nodes())[0].name, mode="check",
        image=m.DEFAULT_IMAGE, script_text=SCRIPT, run_id="w", configmap="none",
    )  # fmt: skip
    await kube.create_pod(pod)
    try:
        seen = False
        end = time.monotonic() + 20
        while time.monotonic() < end and not seen:
            ev = await w.next(0.5)
            if ev is None:
                continue
            names = [p["metadata"]["name"] for p in ev.pods] if ev.pods else []
            if ev.pod is not None:
                names.append(ev.pod["metadata"]["name"])
            seen = pod["metadata"]["name"] in names
        assert seen
    finally:
        w.stop()
        await kube.delete_pods(ns, m.MANAGED_SELECTOR, grace_s=0)


async def test_not_ready_node_is_reported_not_dropped(
    make_emulator: Callable[..., Any],  # noqa: F811
) -> None:
    emu = make_emulator(None)
    c = emu.state.clusters[CLUSTER]
    victim = next(n for n in c.nodes.values() if n.is_linux)
    _add_fault(emu, {"kind": "node-not-ready", "cluster": CLUSTER, "node": victim.name})
    k = KubeClient(load_api(emu.info.kubeconfig, CLUSTER, emu.info.ca_bundle), context=CLUSTER)
    try:
        end = time.monotonic() + 30
        while True:
            nodes = await k.list_nodes()
            if not next(n for n in nodes if n.name == victim.name).ready or time.monotonic() > end:
                break
            await asyncio.sleep(0.2)
        results = await rollout(k, _spec(), nodes, SCRIPT, RULES)
    finally:
        k.close()
    by = {r.node: r for r in results}
    assert by[victim.name].phase == "failed" and "NotReady" in by[victim.name].message
    assert sum(r.phase == "compliant" for r in results) == len(_linux(nodes))


# --- keeper ---------------------------------------------------------------------------------


async def test_keeper_rollout_all_ready_and_second_apply_changes_nothing(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    nodes = await kube.list_nodes()
    linux = _linux(nodes)
    stats = DeliveryStats()
    results = await rollout(kube, _spec(mode="keeper"), nodes, SCRIPT, RULES, stats=stats)
    assert all(r.phase == "compliant" for r in results if r.node in {n.name for n in linux})
    assert stats.calls["watch_pods"] == 1 and stats.calls["read_log"] == len(linux)
    pods, _ = await kube.list_pods("aksaudit-system", m.KEEPER_SELECTOR)
    assert len(pods) == len(linux)
    assert {p["spec"]["nodeName"] for p in pods} == {n.name for n in linux}  # not Windows
    assert all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
        for p in pods
    )
    for n in linux:
        assert read_node_audit_state(_cluster(emulator).nodes[n.name].root).plugin_active
    # Second apply (new run id, same script): the DaemonSet is not replaced, pods not rolled.
    k2 = KubeClient(kube.api, context=CLUSTER)
    again = await rollout(k2, _spec(mode="keeper", run_id="run-test-2"), nodes, SCRIPT, RULES)
    assert all(r.phase == "compliant" for r in again if r.node in {n.name for n in linux})
    assert "replace_daemonset" not in k2.calls and "create_daemonset" not in k2.calls
    pods2, _ = await kube.list_pods("aksaudit-system", m.KEEPER_SELECTOR)
    assert {p["metadata"]["uid"] for p in pods2} == {p["metadata"]["uid"] for p in pods}
    # Status through the keeper: every node compliant, read from the keeper logs.
    status = await check_nodes(kube, _spec(mode="keeper"), nodes, SCRIPT, RULES)
    assert all(r.phase == "compliant" for r in status if r.node in {n.name for n in linux})
    # A different script (the plan changed): the keeper rolls and reports the new state.
    script2 = render_node_script(RULES + "-w /etc/shadow -p wa -k identity\n", "authpriv")
    drift = await check_nodes(kube, _spec(mode="keeper"), nodes, script2, RULES)
    assert all(r.phase == "failed" and "different script" in r.message
               for r in drift if r.node in {n.name for n in linux})  # fmt: skip
    k3 = KubeClient(kube.api, context=CLUSTER)
    rolled = await rollout(k3, _spec(mode="keeper", run_id="run-3"), nodes, script2, RULES)
    assert "replace_daemonset" in k3.calls
    assert all(r.phase == "compliant" for r in rolled if r.node in {n.name for n in linux})
    # Remove: keeper gone first, nodes restored, our objects deleted.
    removed = await remove_nodes(kube, _spec(mode="keeper", run_id="rm"), nodes, script2, RULES)
    assert all(r.phase == "removed" for r in removed if r.node in {n.name for n in linux})
    assert (await kube.list_leftovers()).empty
    for n in linux:
        assert not read_node_audit_state(_cluster(emulator).nodes[n.name].root).plugin_active


async def test_keeper_image_pull_failure_reports_reason(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    nodes = await kube.list_nodes()
    _add_fault(emulator, {"kind": "image-pull", "cluster": CLUSTER, "image": "no-such"})
    t0 = time.monotonic()
    results = await rollout(
        kube, _spec(mode="keeper", image="example.invalid/no-such:1"), nodes, SCRIPT, RULES,
        deadline_s=200,
    )  # fmt: skip
    assert time.monotonic() - t0 < 150
    failed = [r for r in results if r.phase == "failed"]
    assert len(failed) == len(_linux(nodes))
    assert all("ImagePull" in r.message or "ErrImagePull" in r.message for r in failed)


async def test_keeper_pending_pod_times_out_with_reason(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    # The DaemonSet covers every node; the rollout waits only for the nodes it is given.
    nodes = _linux(await kube.list_nodes())[-1:]
    stuck = nodes[0].name
    _add_fault(emulator, {"kind": "pod-pending", "cluster": CLUSTER, "node": stuck})
    # The fault holds the pod whatever the deadline: 6 s only has to let the DaemonSet
    # controller place the pod (it does so within a sync interval or two).
    results = await rollout(kube, _spec(mode="keeper"), nodes, SCRIPT, RULES, deadline_s=6)
    (r,) = results
    assert r.node == stuck and r.phase == "failed"
    assert "not Ready after 6s" in r.message and "ContainerCreating" in r.message


async def test_keeper_refuses_a_tampered_configmap(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    nodes = await kube.list_nodes()
    await rollout(kube, _spec(mode="keeper", keeper_interval_s=1), nodes, SCRIPT, RULES)
    # Someone with ConfigMap edit rights swaps the script: keepers must refuse to run it.
    evil = SCRIPT.replace("set -u", 'set -u\necho pwned > "$AKSAUDIT_ROOT/pwned"', 1)
    cm = m.configmap_manifest("aksaudit-system", evil, RULES, "evil")
    cur = await kube._read(
        "read_configmap", kube.core.read_namespaced_config_map, m.SCRIPT_CONFIGMAP,
        "aksaudit-system",
    )  # fmt: skip
    assert cur is not None
    cm["metadata"]["resourceVersion"] = cur["metadata"]["resourceVersion"]
    await kube._json(
        "replace_configmap", kube.core.replace_namespaced_config_map, m.SCRIPT_CONFIGMAP,
        "aksaudit-system", cm,
    )  # fmt: skip
    # The emulated kubelet mounts ConfigMaps at pod start: make the DaemonSet start a new pod.
    pods, _ = await kube.list_pods("aksaudit-system", m.KEEPER_SELECTOR)
    await kube.delete_pod("aksaudit-system", pods[0]["metadata"]["name"], grace_s=0)
    end = time.monotonic() + 90
    refused = False
    while time.monotonic() < end and not refused:
        await asyncio.sleep(0.5)
        pods, _ = await kube.list_pods("aksaudit-system", m.KEEPER_SELECTOR)
        for p in pods:
            log = await kube.pod_log("aksaudit-system", p["metadata"]["name"], previous=True)
            log += await kube.pod_log("aksaudit-system", p["metadata"]["name"])
            refused = refused or "refusing to run node.sh" in log
    assert refused
    for n in _linux(nodes):
        assert not (_cluster(emulator).nodes[n.name].root / "pwned").exists()
    await remove_nodes(kube, _spec(mode="keeper", run_id="rm"), nodes, SCRIPT, RULES)


async def test_kube_api_briefly_down_mid_rollout(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    nodes = await kube.list_nodes()
    downed = False

    def on_node(r: NodeResult) -> None:
        nonlocal downed
        if r.phase == "running" and not downed:
            downed = True
            _add_fault(emulator, {"kind": "kube-down", "cluster": CLUSTER, "seconds": 2})

    nodes = nodes[:3]
    results = await rollout(kube, _spec(concurrency=2), nodes, SCRIPT, RULES, on_node=on_node)
    assert downed
    assert all(r.phase in ("compliant", "skipped") for r in results), results
    assert kube.calls["watch_pods"] >= 2  # the watch was resumed
    assert not await _our_pods(kube)


async def test_keeper_reports_a_node_that_cannot_install_early(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    nodes = _linux(await kube.list_nodes())[:2]
    victim = nodes[0].name
    marker = _cluster(emulator).nodes[victim].root / "var/lib/aksaudit-sim/no-egress"
    marker.parent.mkdir(parents=True, exist_ok=True)
    marker.touch()  # apt-get fails there as without egress
    t0 = time.monotonic()
    when: dict[str, float] = {}

    def on_node(r: NodeResult) -> None:
        if r.final:
            when[r.node] = time.monotonic() - t0

    results = await rollout(
        kube, _spec(mode="keeper"), nodes, SCRIPT, RULES, deadline_s=150, on_node=on_node
    )
    by = {r.node: r for r in results}
    assert by[victim].phase == "failed"
    assert by[victim].status is not None and by[victim].status.errors  # the script's own words
    assert "apt-get install auditd failed" in by[victim].message
    assert when[victim] < 100  # learned from the container's exit, not the 150 s deadline
    assert by[nodes[1].name].phase == "compliant"


async def test_leftovers_are_found_by_label_and_deleted(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    ns = "aksaudit-system"
    nodes = _linux(await kube.list_nodes())[:1]
    await kube.ensure_namespace(ns, plan_sha="b" * 64)  # as a run creates it (annotated)
    # A privileged one-shot pod an interrupted run left (kill -9), and its ConfigMap.
    cm = m.configmap_manifest(ns, SCRIPT, RULES, "dead", name=m.oneshot_configmap_name("dead"))
    await kube.ensure_configmap(cm)
    pod = m.oneshot_pod_manifest(
        namespace=ns, node=nodes[0].name, mode="apply", image=m.DEFAULT_IMAGE,
        script_text=SCRIPT, run_id="dead", configmap=cm["metadata"]["name"],
    )  # fmt: skip
    await kube.create_pod(pod)
    # Something of the user's in the same namespace, without our label, is not listed.
    await kube._json(
        "create_configmap", kube.core.create_namespaced_config_map, ns,
        {"metadata": {"name": "users-own", "namespace": ns}, "data": {"k": "v"}},
    )  # fmt: skip
    assert ns not in (await kube.list_leftovers()).namespaces  # no known plan named "b"*64
    found = await kube.list_leftovers(known_plans=("b" * 64,))
    assert (ns, pod["metadata"]["name"]) in found.pods
    assert (ns, cm["metadata"]["name"]) in found.configmaps
    assert ns in found.namespaces
    assert all(name != "users-own" for _, name in found.configmaps)
    # Re-running with the same run id replaces our leftover pod instead of failing on 409.
    await kube.create_pod(pod)
    await kube.delete_leftovers(found)
    for _ in range(100):
        if (await kube.list_leftovers()).empty:
            break
        await asyncio.sleep(0.2)
    assert (await kube.list_leftovers()).empty
