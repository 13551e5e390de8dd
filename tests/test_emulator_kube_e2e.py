"""The kube side inside the real emulator (default scenario): the kubeconfig it writes, the
tool's own manifests and node script run by the simulated kubelet against real node roots with
the real host-command stand-ins."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from kubernetes import client, config

from aksaudit_emulator.kube import KubeStore
from aksaudit_tui.nodes import manifests
from aksaudit_tui.nodes.script import render_node_script
from aksaudit_tui.nodes.status import parse_node_status
from fixtures.emulator import make_emulator  # noqa: F401  (pytest fixture)

CLUSTER = "aks-prod-weu"
RULES = "-w /etc/passwd -p wa -k identity\n-w /etc/shadow -p wa -k identity\n"
FAST = {"time_scale": 0.05, "sync_interval": 0.05}


def wait_for(pred: Callable[[], Any], timeout: float = 20.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def _setup(emu: Any) -> tuple[client.CoreV1Api, client.AppsV1Api, str]:
    api = config.new_client_from_config(emu.info.kubeconfig, context=CLUSTER)
    v1, apps = client.CoreV1Api(api), client.AppsV1Api(api)
    script = render_node_script(RULES, "authpriv", "info")
    ns = manifests.DEFAULT_NAMESPACE
    v1.create_namespace(manifests.namespace_manifest(ns))
    v1.create_namespaced_config_map(ns, manifests.configmap_manifest(ns, script, RULES, "run1"))
    return v1, apps, script


def test_oneshot_pod_runs_the_real_node_script(make_emulator: Any) -> None:  # noqa: F811
    emu = make_emulator(None, kube=FAST)
    v1, _, script = _setup(emu)
    nodes = v1.list_node(label_selector="kubernetes.azure.com/agentpool=apps").items
    node = nodes[0].metadata.name
    # identity check the engine relies on: providerID names the node resource group
    sim = emu.state.clusters[CLUSTER].nodes[node]
    assert nodes[0].spec.provider_id == sim.provider_id
    assert nodes[0].status.node_info.kubelet_version == "v1.32.6"
    ns = manifests.DEFAULT_NAMESPACE
    pod = manifests.oneshot_pod_manifest(
        namespace=ns,
        node=node,
        mode="apply",
        image=manifests.DEFAULT_IMAGE,
        script_text=script,
        run_id="run1",
        configmap=manifests.SCRIPT_CONFIGMAP,
    )
    v1.create_namespaced_pod(ns, pod)
    name = pod["metadata"]["name"]
    phase = wait_for(
        lambda: (
            v1.read_namespaced_pod(name, ns).status.phase in ("Succeeded", "Failed")
            and v1.read_namespaced_pod(name, ns).status.phase
        ),
        what="pod done",
    )
    log = v1.read_namespaced_pod_log(name, ns)
    assert phase == "Succeeded", log
    status = parse_node_status(log)
    assert status is not None and status.ok and status.node == node, log
    assert status.installed and status.running and status.plugin_active
    assert status.rules_loaded == 2
    assert sim.root is not None
    rules = list((sim.root / "etc/audit/rules.d").glob("*.rules"))
    assert any("identity" in p.read_text() for p in rules)
    got = v1.read_namespaced_pod(name, ns)
    assert got.spec.priority == 2000001000 and got.status.qos_class == "Burstable"


def test_keeper_daemonset_ready_on_every_eligible_node(make_emulator: Any) -> None:  # noqa: F811
    emu = make_emulator(None, kube=FAST)
    v1, apps, script = _setup(emu)
    ns = manifests.DEFAULT_NAMESPACE
    ds = manifests.keeper_daemonset_manifest(
        namespace=ns, image=manifests.DEFAULT_IMAGE, script_text=script, run_id="run1"
    )
    apps.create_namespaced_daemon_set(ns, ds)
    linux = [
        n
        for n in emu.state.clusters[CLUSTER].nodes.values()
        if n.is_linux and not n.virtual and n.os_sku != "Flatcar"
    ]

    def all_ready() -> Any:
        st = apps.read_namespaced_daemon_set(manifests.KEEPER_NAME, ns).status
        return st.desired_number_scheduled == len(linux) == st.number_ready and st

    st = wait_for(all_ready, what="keeper ready everywhere")
    assert st.updated_number_scheduled == len(linux)
    pods = v1.list_namespaced_pod(ns, label_selector=manifests.KEEPER_SELECTOR).items
    assert sorted(p.spec.node_name for p in pods) == sorted(n.name for n in linux)
    for p in pods:
        status = parse_node_status(v1.read_namespaced_pod_log(p.metadata.name, ns))
        assert status is not None and status.ok
    # deleting the namespace takes the DaemonSet, its pods and the ConfigMap with it
    v1.delete_namespace(ns)
    wait_for(
        lambda: ns not in {n.metadata.name for n in v1.list_namespace().items},
        what="namespace gone",
    )
    store = emu.state.kube[CLUSTER]
    assert isinstance(store, KubeStore)
    assert not [k for k in store.objects if k[1] == ns]
