"""The emulator's Kubernetes API, DaemonSet controller and simulated kubelet, driven by the real
`kubernetes` client over HTTPS (trustme CA, bearer token)."""

from __future__ import annotations

import asyncio
import json
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import trustme
from aiohttp import web
from kubernetes import client, watch
from kubernetes.client.rest import ApiException

from aksaudit_emulator.kube import KubeOptions, KubeRuntime, KubeStore, register_kube_routes
from aksaudit_emulator.state import EmulatorState, SimCluster, SimNode

TOKEN = "test-token-not-a-secret"
CLUSTER = "aks-one"
SUB = "00000000-0000-0000-0000-000000000001"
NRG = "MC_rg-one_aks-one_westeurope"

NSENTER = """#!/bin/sh
# stand-in: skip nsenter's options up to --, run the rest in this "host"
while [ $# -gt 0 ]; do case "$1" in --) shift; break;; *) shift;; esac; done
exec "$@"
"""

NODE_SCRIPT = """#!/bin/sh
mode="${1:-apply}"
mkdir -p "$AKSAUDIT_ROOT/etc/audit/rules.d"
echo "-w /etc/passwd -p wa -k identity" > "$AKSAUDIT_ROOT/etc/audit/rules.d/aksaudit.rules"
echo "line one on $HOSTNAME"
echo "to stderr" >&2
echo "{\\"aksaudit\\": 1, \\"mode\\": \\"$mode\\", \\"node\\": \\"$HOSTNAME\\", \\"ok\\": true}"
"""

LAUNCHER = 'nsenter -t 1 -m -u -i -n -p -- sh -s -- apply < "${AKSAUDIT_MOUNT:-/aksaudit}/node.sh"'


def _node(tmp: Path, pool: str, idx: int, os_sku: str = "Ubuntu2204", **kw: Any) -> SimNode:
    name = f"aks-{pool}-12345678-vmss{idx:06d}"
    root: Path | None = None
    if not os_sku.startswith("Windows") and not kw.get("virtual"):
        root = tmp / "nodes" / CLUSTER / name
        root.mkdir(parents=True)
    if kw.get("virtual"):
        name = "virtual-node-aci-linux"
    return SimNode(
        name=name,
        cluster=CLUSTER,
        pool=pool,
        os_sku=os_sku,
        arch="amd64",
        vmss_name=f"aks-{pool}-12345678-vmss",
        instance_id=str(idx),
        provider_id=(
            f"azure:///subscriptions/{SUB}/resourceGroups/mc_rg-one_aks-one_westeurope/providers/"
            f"Microsoft.Compute/virtualMachineScaleSets/aks-{pool}-12345678-vmss/"
            f"virtualMachines/{idx}"
        ),
        root=root,
        **kw,
    )


class Harness:
    """A small HTTPS aiohttp server carrying only the kube routes, on its own loop thread."""

    def __init__(self, tmp: Path, options: KubeOptions) -> None:
        self.tmp = tmp
        self.state = EmulatorState(state_dir=tmp)
        nodes = [
            _node(
                tmp,
                "system",
                0,
                taints=[{"key": "CriticalAddonsOnly", "value": "true", "effect": "NoSchedule"}],
            ),
            _node(tmp, "user", 0),
            _node(tmp, "azl", 0, "AzureLinux3"),
            _node(tmp, "win", 0, "Windows2022"),
            _node(tmp, "aci", 0, virtual=True),
        ]
        self.state.clusters[CLUSTER] = SimCluster(
            CLUSTER, SUB, "rg-one", "westeurope", NRG, {n.name: n for n in nodes}
        )
        self.nodes = nodes
        self.options = options
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        ca = trustme.CA()
        self.ca_path = tmp / "ca.pem"
        ca.cert_pem.write_to_path(str(self.ca_path))
        self.ssl_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ca.issue_cert("127.0.0.1").configure_cert(self.ssl_ctx)
        self.port = 0
        self.runner: web.AppRunner | None = None
        self.rt: KubeRuntime | None = None

    def run(self, fn: Callable[[], Any]) -> Any:
        """Run fn on the server loop (the store is loop-owned) and return its result."""

        async def call() -> Any:
            return fn()

        return asyncio.run_coroutine_threadsafe(call(), self.loop).result(10)

    def start(self) -> None:
        self.thread.start()

        async def up() -> None:
            app = web.Application()
            self.rt = register_kube_routes(app, self.state, self.options)
            self.runner = web.AppRunner(app)
            await self.runner.setup()
            site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.ssl_ctx)
            await site.start()
            server = site._server
            assert server is not None
            self.port = server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]

        asyncio.run_coroutine_threadsafe(up(), self.loop).result(10)

    def stop(self) -> None:
        async def down() -> None:
            assert self.runner is not None
            await self.runner.cleanup()

        asyncio.run_coroutine_threadsafe(down(), self.loop).result(15)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)

    def api(self, cluster: str = CLUSTER, token: str = TOKEN) -> client.ApiClient:
        cfg = client.Configuration()
        cfg.host = f"https://127.0.0.1:{self.port}/k8s/{cluster}"
        cfg.ssl_ca_cert = str(self.ca_path)
        cfg.api_key = {"authorization": f"Bearer {token}"}
        return client.ApiClient(cfg)

    def store(self) -> KubeStore:
        st = self.state.kube[CLUSTER]
        assert isinstance(st, KubeStore)
        return st


@pytest.fixture
def standins(tmp_path: Path) -> Path:
    d = tmp_path / "standins"
    d.mkdir()
    (d / "nsenter").write_text(NSENTER)
    (d / "nsenter").chmod(0o755)
    return d


@pytest.fixture
def kube(tmp_path: Path, standins: Path) -> Iterator[Harness]:
    h = Harness(
        tmp_path,
        KubeOptions(
            token=TOKEN,
            time_scale=0.05,
            sync_interval=0.05,
            standins=standins,
            bookmark_interval=0.3,
        ),
    )
    h.start()
    yield h
    h.stop()


def wait_for(pred: Callable[[], Any], timeout: float = 15.0, what: str = "condition") -> Any:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        got = pred()
        if got:
            return got
        time.sleep(0.03)
    raise AssertionError(f"timed out waiting for {what}")


def node_pod(name: str, node: str, ns: str = "default", **spec: Any) -> dict[str, Any]:
    """A pod like the tool's one-shot pods: pinned, privileged, hostPID, ConfigMap at /aksaudit."""
    body: dict[str, Any] = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "labels": {"app.kubernetes.io/managed-by": "aksaudit", "aksaudit.io/role": "oneshot"},
        },
        "spec": {
            "nodeName": node,
            "hostPID": True,
            "restartPolicy": "Never",
            "automountServiceAccountToken": False,
            "tolerations": [{"operator": "Exists"}],
            "containers": [
                {
                    "name": "c",
                    "image": "mcr.microsoft.com/cbl-mariner/busybox:2.0",
                    "command": ["/bin/sh", "-c", LAUNCHER],
                    "securityContext": {"privileged": True},
                    "volumeMounts": [{"name": "script", "mountPath": "/aksaudit"}],
                }
            ],
            "volumes": [{"name": "script", "configMap": {"name": "aksaudit-script"}}],
        },
    }
    body["spec"].update(spec)
    return body


def script_cm(v1: client.CoreV1Api, ns: str = "default", script: str = NODE_SCRIPT) -> None:
    v1.create_namespaced_config_map(
        ns, {"metadata": {"name": "aksaudit-script"}, "data": {"node.sh": script}}
    )


def message(err: pytest.ExceptionInfo[ApiException]) -> str:
    """The Kubernetes Status message of a failed call."""
    return str(json.loads(err.value.body)["message"])


def phase(v1: client.CoreV1Api, name: str, ns: str = "default") -> str:
    return str(v1.read_namespaced_pod(name, ns).status.phase)


# ------------------------------------------------------------------ nodes, discovery, auth


def test_nodes_carry_aks_labels_taints_and_provider_id(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    nodes = {n.metadata.name: n for n in v1.list_node().items}
    assert len(nodes) == 5
    system = nodes["aks-system-12345678-vmss000000"]
    assert system.metadata.labels["kubernetes.azure.com/agentpool"] == "system"
    assert system.metadata.labels["kubernetes.azure.com/os-sku-effective"] == "Ubuntu2204"
    assert system.metadata.labels["kubernetes.io/os"] == "linux"
    assert [(t.key, t.value, t.effect) for t in system.spec.taints] == [
        ("CriticalAddonsOnly", "true", "NoSchedule")
    ]
    assert system.spec.provider_id.startswith(f"azure:///subscriptions/{SUB}/resourceGroups/")
    assert system.status.node_info.os_image == "Ubuntu 22.04.5 LTS"
    assert system.status.node_info.kernel_version.endswith("-azure")
    assert system.status.node_info.architecture == "amd64"
    ready = {c.type: c.status for c in system.status.conditions}
    assert ready["Ready"] == "True"
    azl = nodes["aks-azl-12345678-vmss000000"]
    assert azl.status.node_info.os_image == "Microsoft Azure Linux 3.0"
    win = nodes["aks-win-12345678-vmss000000"]
    assert win.metadata.labels["kubernetes.io/os"] == "windows"
    assert nodes["virtual-node-aci-linux"].metadata.labels["type"] == "virtual-kubelet"
    # one node, and a selector
    got = v1.read_node("aks-user-12345678-vmss000000")
    assert got.status.node_info.kubelet_version.startswith("v1.")
    linux = v1.list_node(label_selector="kubernetes.io/os=linux,type!=virtual-kubelet").items
    assert len(linux) == 3
    # a node going NotReady shows up as a MODIFIED node with Ready False and the taint
    kube.nodes[1].ready = False
    wait_for(
        lambda: any(
            c.type == "Ready" and c.status == "False"
            for c in v1.read_node(kube.nodes[1].name).status.conditions
        ),
        what="NotReady",
    )
    taints = {t.key for t in v1.read_node(kube.nodes[1].name).spec.taints}
    assert "node.kubernetes.io/not-ready" in taints


def test_version_discovery_auth_and_access_review(kube: Harness) -> None:
    ver = client.VersionApi(kube.api()).get_code()
    assert ver.git_version.startswith("v1.")
    groups = client.ApisApi(kube.api()).get_api_versions()
    assert {g.name for g in groups.groups} >= {"apps", "authorization.k8s.io"}
    res = client.CoreV1Api(kube.api()).get_api_resources()
    assert "pods" in {r.name for r in res.resources}
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(kube.api(token="wrong")).list_node()
    assert err.value.status == 401
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(kube.api(cluster="nope")).list_node()
    assert err.value.status == 404
    authz = client.AuthorizationV1Api(kube.api())
    body = {
        "spec": {
            "resourceAttributes": {"verb": "create", "resource": "pods", "namespace": "aksaudit"}
        }
    }
    assert authz.create_self_subject_access_review(body).status.allowed is True
    kube.state.faults.append({"kind": "forbidden", "verb": "create", "resource": "pods"})
    assert authz.create_self_subject_access_review(body).status.allowed is False
    with pytest.raises(ApiException) as err:
        client.CoreV1Api(kube.api()).create_namespaced_pod("default", node_pod("x", "n"))
    assert err.value.status == 403
    assert message(err) == (
        'pods is forbidden: User "aksaudit-user" cannot create resource "pods" in API group "" '
        'in the namespace "default"'
    )


# ------------------------------------------------------------------ namespaces, errors, PSA


def test_namespace_pod_security_dry_run_and_errors(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespace(
        {
            "metadata": {
                "name": "locked",
                "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
            }
        }
    )
    ns = v1.read_namespace("locked")
    assert ns.metadata.labels["kubernetes.io/metadata.name"] == "locked"
    assert ns.status.phase == "Active"
    with pytest.raises(ApiException) as err:
        v1.create_namespace({"metadata": {"name": "locked"}})
    assert err.value.status == 409
    assert '"reason":"AlreadyExists"' in err.value.body
    for dry in (None, "All"):
        with pytest.raises(ApiException) as err:
            kwargs = {"dry_run": dry} if dry else {}
            v1.create_namespaced_pod("locked", node_pod("probe", "n1"), **kwargs)
        assert err.value.status == 403
        assert message(err) == (
            'pods "probe" is forbidden: violates PodSecurity "baseline:latest": host namespaces '
            '(hostPID=true), privileged (container "c" must not set '
            "securityContext.privileged=true)"
        )
        assert json.loads(err.value.body)["reason"] == "Forbidden"
    # an open namespace: the server-side dry run passes and stores nothing
    v1.create_namespace({"metadata": {"name": "open"}})
    out = v1.create_namespaced_pod("open", node_pod("probe", "n1"), dry_run="All")
    assert out.metadata.name == "probe"
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_pod("probe", "open")
    assert err.value.status == 404
    assert message(err) == 'pods "probe" not found'
    # 422 for a pod without containers, 404 for a missing namespace
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_pod("open", {"metadata": {"name": "bad"}, "spec": {"containers": []}})
    assert err.value.status == 422
    assert message(err) == 'Pod "bad" is invalid: spec.containers: Required value'
    with pytest.raises(ApiException) as err:
        v1.create_namespaced_config_map("missing", {"metadata": {"name": "x"}})
    assert err.value.status == 404
    # deleting a namespace deletes what is in it
    v1.create_namespaced_config_map("open", {"metadata": {"name": "cm"}, "data": {"a": "b"}})
    v1.delete_namespace("open")
    wait_for(
        lambda: "open" not in {n.metadata.name for n in v1.list_namespace().items},
        what="namespace gone",
    )
    assert kube.run(lambda: kube.store().get("configmaps", "open", "cm")) is None
    with pytest.raises(ApiException) as err:
        v1.delete_namespace("default")
    assert err.value.status == 403


# ------------------------------------------------------------------ kubelet


def test_pinned_pod_runs_script_against_node_root(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    script_cm(v1)
    node = kube.nodes[1]
    v1.create_namespaced_pod("default", node_pod("once", node.name))
    wait_for(lambda: phase(v1, "once") == "Succeeded", what="Succeeded")
    assert node.root is not None
    rules = node.root / "etc/audit/rules.d/aksaudit.rules"
    assert rules.read_text() == "-w /etc/passwd -p wa -k identity\n"
    log = v1.read_namespaced_pod_log("once", "default")
    assert f"line one on {node.name}" in log
    assert "to stderr" in log
    assert v1.read_namespaced_pod_log("once", "default", tail_lines=1).startswith('{"aksaudit"')
    pod = v1.read_namespaced_pod("once", "default")
    cs = pod.status.container_statuses[0]
    assert cs.state.terminated.exit_code == 0 and cs.state.terminated.reason == "Completed"
    assert pod.status.host_ip and pod.status.start_time
    # the ConfigMap was materialized under the pod's sandbox
    sandbox = kube.tmp / "pods" / CLUSTER / "default" / "once"
    assert (sandbox / "volumes/script/node.sh").read_text() == NODE_SCRIPT
    # field selector by node, label selector
    on_node = v1.list_namespaced_pod("default", field_selector=f"spec.nodeName={node.name}")
    assert [p.metadata.name for p in on_node.items] == ["once"]
    assert not v1.list_namespaced_pod("default", label_selector="aksaudit.io/role=keeper").items
    # a finished pod's delete is immediate, and its sandbox goes with it
    v1.delete_namespaced_pod("once", "default")
    assert not v1.list_namespaced_pod("default").items
    assert not sandbox.exists()


def test_failed_exit_deadline_windows_and_virtual(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    script_cm(v1, script="echo failing; exit 3\n")
    linux = kube.nodes[1].name
    v1.create_namespaced_pod("default", node_pod("fails", linux))
    # activeDeadlineSeconds 20 x time_scale 0.05 = 1 s
    v1.create_namespaced_pod(
        "default",
        node_pod(
            "slow",
            linux,
            activeDeadlineSeconds=20,
            containers=[{"name": "c", "image": "busybox", "command": ["sh", "-c", "sleep 30"]}],
        ),
    )
    v1.create_namespaced_pod(
        "default", node_pod("win", kube.nodes[3].name, nodeSelector={"kubernetes.io/os": "linux"})
    )
    v1.create_namespaced_pod("default", node_pod("aci", kube.nodes[4].name))
    wait_for(lambda: phase(v1, "fails") == "Failed", what="fails")
    term = v1.read_namespaced_pod("fails", "default").status.container_statuses[0]
    assert term.state.terminated.exit_code == 3
    assert "failing" in v1.read_namespaced_pod_log("fails", "default")
    wait_for(lambda: phase(v1, "slow") == "Failed", what="deadline")
    assert v1.read_namespaced_pod("slow", "default").status.reason == "DeadlineExceeded"
    wait_for(lambda: phase(v1, "win") == "Failed", what="windows")
    assert v1.read_namespaced_pod("win", "default").status.reason == "NodeAffinity"
    wait_for(lambda: phase(v1, "aci") == "Failed", what="virtual")
    assert v1.read_namespaced_pod("aci", "default").status.reason == "ProviderFailed"


def test_long_running_pod_is_killed_on_delete(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    node = kube.nodes[2]
    assert node.root is not None
    script_cm(v1)
    cmd = 'echo $$ > "$AKSAUDIT_ROOT/pid"; while :; do sleep 0.05; done'
    v1.create_namespaced_pod(
        "default",
        node_pod(
            "loop",
            node.name,
            restartPolicy="Always",
            containers=[{"name": "c", "image": "busybox", "command": ["/bin/sh", "-c", cmd]}],
        ),
    )
    wait_for(lambda: phase(v1, "loop") == "Running", what="Running")
    pid = int(wait_for(lambda: (node.root / "pid").exists() and (node.root / "pid").read_text()))
    with pytest.raises(ApiException) as err:  # logs exist but follow=false returns at once
        v1.read_namespaced_pod_log("nothere", "default")
    assert err.value.status == 404
    deleted = v1.delete_namespaced_pod("loop", "default")
    assert deleted.metadata.deletion_timestamp is not None
    wait_for(lambda: not v1.list_namespaced_pod("default").items, what="pod removed")
    wait_for(lambda: not Path(f"/proc/{pid}").exists(), what="process killed")


# ------------------------------------------------------------------ watch


def test_watch_events_resume_and_410(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    start_rv = v1.list_namespaced_pod("default").metadata.resource_version
    script_cm(v1)
    v1.create_namespaced_pod("default", node_pod("w1", kube.nodes[1].name))
    wait_for(lambda: phase(v1, "w1") == "Succeeded", what="Succeeded")
    v1.delete_namespaced_pod("w1", "default")
    wait_for(lambda: not v1.list_namespaced_pod("default").items, what="deleted")
    events = list(
        watch.Watch().stream(
            v1.list_namespaced_pod, "default", resource_version=start_rv, timeout_seconds=1
        )
    )
    types = [e["type"] for e in events]
    assert types[0] == "ADDED" and types[-1] == "DELETED" and "MODIFIED" in types
    phases = [e["object"].status.phase for e in events]
    assert "Running" in phases and "Succeeded" in phases
    # resume from the middle: only what came after
    mid = events[1]["object"].metadata.resource_version
    later = list(
        watch.Watch().stream(
            v1.list_namespaced_pod, "default", resource_version=mid, timeout_seconds=1
        )
    )
    assert len(later) == len(events) - 2
    # a live event while the stream is open, and bookmarks when asked for
    got: list[str] = []

    def create_later() -> None:
        time.sleep(0.3)
        v1.create_namespaced_config_map("default", {"metadata": {"name": "live"}})

    t = threading.Thread(target=create_later)
    t.start()
    rv_now = v1.list_namespaced_config_map("default").metadata.resource_version
    for e in watch.Watch().stream(
        v1.list_namespaced_config_map,
        "default",
        resource_version=rv_now,
        timeout_seconds=1,
        allow_watch_bookmarks=True,
    ):
        got.append(e["type"])
    t.join()
    assert "ADDED" in got and "BOOKMARK" in got
    # compaction: the old resourceVersion is gone -> 410 Expired
    kube.run(lambda: kube.store().compact())
    with pytest.raises(ApiException) as err:
        list(
            watch.Watch().stream(
                v1.list_namespaced_pod, "default", resource_version=start_rv, timeout_seconds=1
            )
        )
    assert err.value.status == 410
    assert "too old resource version" in str(err.value.reason)


def test_watch_without_resource_version_lists_then_follows_and_selectors(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    for n in ("a", "b"):
        v1.create_namespaced_config_map("default", {"metadata": {"name": n, "labels": {"k": n}}})
    evs = list(
        watch.Watch().stream(
            v1.list_namespaced_config_map, "default", label_selector="k=a", timeout_seconds=1
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in evs] == [("ADDED", "a")]
    rv = v1.list_namespaced_config_map("default").metadata.resource_version
    # relabelling b into the selection is ADDED, a out of it DELETED
    v1.patch_namespaced_config_map("b", "default", {"metadata": {"labels": {"k": "a"}}})
    v1.patch_namespaced_config_map("a", "default", {"metadata": {"labels": {"k": "z"}}})
    evs = list(
        watch.Watch().stream(
            v1.list_namespaced_config_map,
            "default",
            label_selector="k=a",
            resource_version=rv,
            timeout_seconds=1,
        )
    )
    assert [(e["type"], e["object"].metadata.name) for e in evs] == [
        ("ADDED", "b"),
        ("DELETED", "a"),
    ]


# ------------------------------------------------------------------ DaemonSet


def keeper_ds(name: str = "keeper", tolerate: bool = True) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "aksaudit", "aksaudit.io/role": "keeper"}
    cmd = (
        'sh "$AKSAUDIT_MOUNT/node.sh" apply; touch "$AKSAUDIT_RUN/aksaudit-ready"; '
        "while :; do sleep 1; done"
    )
    spec: dict[str, Any] = {
        "hostPID": True,
        "nodeSelector": {"kubernetes.io/os": "linux"},
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": "type", "operator": "NotIn", "values": ["virtual-kubelet"]}
                            ]
                        }
                    ]
                }
            }
        },
        "containers": [
            {
                "name": "keeper",
                "image": "busybox",
                "command": ["/bin/sh", "-c", cmd],
                "securityContext": {"privileged": True},
                "volumeMounts": [{"name": "script", "mountPath": "/aksaudit"}],
                "readinessProbe": {
                    "exec": {
                        "command": ["sh", "-c", 'test -f "${AKSAUDIT_RUN:-/tmp}/aksaudit-ready"']
                    },
                    "periodSeconds": 2,
                },
            }
        ],
        "volumes": [{"name": "script", "configMap": {"name": "aksaudit-script"}}],
    }
    if tolerate:
        spec["tolerations"] = [{"operator": "Exists"}]
    return {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": spec},
        },
    }


def test_daemonset_one_ready_pod_per_linux_node_and_cleanup(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    apps = client.AppsV1Api(kube.api())
    script_cm(v1)
    apps.create_namespaced_daemon_set("default", keeper_ds())
    apps.create_namespaced_daemon_set("default", keeper_ds("picky", tolerate=False))

    def ready() -> bool:
        st = apps.read_namespaced_daemon_set("keeper", "default").status
        return st.desired_number_scheduled == 3 and st.number_ready == 3

    wait_for(ready, what="3 ready keeper pods")
    st = apps.read_namespaced_daemon_set_status("keeper", "default").status
    assert st.updated_number_scheduled == 3 and st.number_available == 3
    pods = v1.list_namespaced_pod("default", label_selector="aksaudit.io/role=keeper").items
    keeper = [p for p in pods if p.metadata.owner_references[0].name == "keeper"]
    assert sorted(p.spec.node_name for p in keeper) == sorted(n.name for n in kube.nodes[:3])
    for p in keeper:
        assert p.metadata.name.startswith("keeper-") and len(p.metadata.name) == len("keeper-") + 5
        assert p.metadata.owner_references[0].kind == "DaemonSet"
        assert p.metadata.owner_references[0].controller is True
        assert {c.type: c.status for c in p.status.conditions}["Ready"] == "True"
    for n in kube.nodes[:3]:
        assert n.root is not None and (n.root / "etc/audit/rules.d/aksaudit.rules").exists()
    # without tolerations the system pool's CriticalAddonsOnly taint keeps it off that node
    wait_for(
        lambda: (
            apps.read_namespaced_daemon_set("picky", "default").status.desired_number_scheduled == 2
        ),
        what="picky desired 2",
    )
    # a deleted pod is recreated
    victim = keeper[0]
    v1.delete_namespaced_pod(victim.metadata.name, "default", grace_period_seconds=0)

    def replaced() -> bool:
        ps = v1.list_namespaced_pod(
            "default",
            field_selector=f"spec.nodeName={victim.spec.node_name}",
            label_selector="aksaudit.io/role=keeper",
        ).items
        names = {p.metadata.name for p in ps if p.metadata.owner_references[0].name == "keeper"}
        return bool(names) and victim.metadata.name not in names

    wait_for(replaced, what="replacement pod")
    apps.delete_namespaced_daemon_set("keeper", "default")
    apps.delete_namespaced_daemon_set("picky", "default")
    wait_for(lambda: not v1.list_namespaced_pod("default").items, what="pods gone")


def test_daemonset_in_baseline_namespace_reports_failed_create(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    apps = client.AppsV1Api(kube.api())
    v1.create_namespace(
        {
            "metadata": {
                "name": "strict",
                "labels": {"pod-security.kubernetes.io/enforce": "baseline"},
            }
        }
    )
    apps.create_namespaced_daemon_set("strict", keeper_ds())

    def failed() -> Any:
        s = apps.read_namespaced_daemon_set("keeper", "strict").status
        return s.conditions and s

    s = wait_for(failed, what="FailedCreate condition")
    assert s.desired_number_scheduled == 3 and s.current_number_scheduled == 0
    assert 'violates PodSecurity "baseline:latest"' in s.conditions[0].message
    with pytest.raises(ApiException) as err:
        bad = keeper_ds()
        bad["spec"]["template"]["spec"]["restartPolicy"] = "Never"
        apps.create_namespaced_daemon_set("default", bad)
    assert err.value.status == 422


# ------------------------------------------------------------------ faults


def test_fault_drop_watch_ends_the_stream(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    for n in ("a", "b", "c"):
        v1.create_namespaced_config_map("default", {"metadata": {"name": n}})
    kube.state.faults.append(
        {"kind": "drop-watch", "cluster": CLUSTER, "after_events": 1, "times": 1}
    )
    t0 = time.monotonic()
    evs = list(watch.Watch().stream(v1.list_namespaced_config_map, "default", timeout_seconds=30))
    # ended by the fault, not by the 30 s server timeout (generous: the machine may be busy)
    assert len(evs) == 1 and time.monotonic() - t0 < 15
    # the fault dropped one watch only: the next one sees everything
    evs = list(watch.Watch().stream(v1.list_namespaced_config_map, "default", timeout_seconds=1))
    assert len(evs) == 3


def test_fault_pod_pending_image_pull_and_node_not_ready(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    script_cm(v1)
    n_user, n_azl, n_sys = kube.nodes[1].name, kube.nodes[2].name, kube.nodes[0].name
    kube.state.faults.append({"kind": "pod-pending", "node": n_user})
    kube.state.faults.append({"kind": "image-pull", "node": n_azl, "image": "busybox"})
    kube.state.faults.append({"kind": "node-not-ready", "node": n_sys})
    v1.create_namespaced_pod("default", node_pod("p1", n_user))
    v1.create_namespaced_pod("default", node_pod("p2", n_azl))
    v1.create_namespaced_pod("default", node_pod("p3", n_sys))

    def waiting(name: str) -> str | None:
        cs = v1.read_namespaced_pod(name, "default").status.container_statuses
        return cs and cs[0].state.waiting and cs[0].state.waiting.reason

    kube.state.faults.append(
        {"kind": "pod-pending", "node": n_user, "pod_prefix": "p4", "ack": False}
    )
    v1.create_namespaced_pod("default", node_pod("p4", n_user, activeDeadlineSeconds=1))
    v1.create_namespaced_pod("default", node_pod("p5", n_user, activeDeadlineSeconds=10))
    wait_for(lambda: waiting("p1") == "ContainerCreating", what="ContainerCreating")
    # acknowledged by the kubelet: its deadline (10 x 0.05 s) ends it; unacknowledged: never
    wait_for(lambda: phase(v1, "p5") == "Failed", what="p5 deadline")
    assert v1.read_namespaced_pod("p5", "default").status.reason == "DeadlineExceeded"
    p4 = v1.read_namespaced_pod("p4", "default")
    assert p4.status.phase == "Pending" and not p4.status.start_time
    wait_for(lambda: waiting("p2") == "ImagePullBackOff", what="ImagePullBackOff")
    with pytest.raises(ApiException) as err:
        v1.read_namespaced_pod_log("p2", "default")
    assert err.value.status == 400 and message(err) == (
        'container "c" in pod "p2" is waiting to start: ImagePullBackOff'
    )
    time.sleep(0.3)
    assert [phase(v1, p) for p in ("p1", "p2", "p3")] == ["Pending"] * 3
    assert not v1.read_namespaced_pod("p3", "default").status.container_statuses
    # lifting the faults lets them run
    v1.delete_namespaced_pod("p4", "default")
    kube.state.faults.clear()
    for p in ("p1", "p2", "p3"):
        wait_for(lambda p=p: phase(v1, p) == "Succeeded", what=f"{p} Succeeded")


def test_fault_kube_down_answers_503_for_a_while(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    kube.state.faults.append({"kind": "kube-down", "cluster": CLUSTER, "seconds": 0.5})
    with pytest.raises(ApiException) as err:
        v1.list_node()
    assert err.value.status == 503
    assert '"reason":"ServiceUnavailable"' in err.value.body
    wait_for(lambda: _ok(v1.list_node), what="API back")


def _ok(fn: Callable[[], Any]) -> bool:
    try:
        fn()
    except ApiException:
        return False
    return True


def test_delete_collection_and_configmap_crud(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    v1.create_namespaced_config_map("default", {"metadata": {"name": "one"}, "data": {"k": "v"}})
    cm = v1.read_namespaced_config_map("one", "default")
    cm.data["k"] = "v2"
    v1.replace_namespaced_config_map("one", "default", cm)
    assert v1.read_namespaced_config_map("one", "default").data == {"k": "v2"}
    with pytest.raises(ApiException) as err:  # stale resourceVersion
        v1.replace_namespaced_config_map("one", "default", cm)
    assert err.value.status == 409
    v1.delete_namespaced_config_map("one", "default")
    assert not v1.list_namespaced_config_map("default").items
    for i in range(3):
        v1.create_namespaced_pod("default", node_pod(f"d{i}", "no-such-node"))
    v1.delete_collection_namespaced_pod("default", label_selector="aksaudit.io/role=oneshot")
    assert not v1.list_namespaced_pod("default").items


def test_daemonset_rolling_update_replaces_every_pod(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    apps = client.AppsV1Api(kube.api())
    script_cm(v1)
    apps.create_namespaced_daemon_set("default", keeper_ds())

    def settled() -> Any:
        st = apps.read_namespaced_daemon_set("keeper", "default").status
        done = st.number_ready == 3 and st.updated_number_scheduled == 3
        return done and len(v1.list_namespaced_pod("default").items) == 3 and st

    wait_for(settled, what="first rollout")
    before = {p.metadata.name for p in v1.list_namespaced_pod("default").items}
    patch = {
        "spec": {"template": {"metadata": {"annotations": {"aksaudit.io/script-sha256": "2"}}}}
    }
    ds = apps.patch_namespaced_daemon_set("keeper", "default", patch)
    assert ds.metadata.generation == 2
    wait_for(
        lambda: (
            settled()
            and not before & {p.metadata.name for p in v1.list_namespaced_pod("default").items}
        ),
        what="second rollout",
    )
    st = apps.read_namespaced_daemon_set("keeper", "default").status
    assert st.observed_generation == 2
    hashes = {
        p.metadata.labels["controller-revision-hash"]
        for p in v1.list_namespaced_pod("default").items
    }
    assert len(hashes) == 1


def test_log_follow_streams_until_the_container_ends(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    script_cm(v1)
    cmd = "for i in 1 2 3; do echo tick $i; sleep 0.2; done"
    v1.create_namespaced_pod(
        "default",
        node_pod(
            "ticker",
            kube.nodes[1].name,
            containers=[{"name": "c", "image": "busybox", "command": ["sh", "-c", cmd]}],
        ),
    )
    wait_for(lambda: phase(v1, "ticker") != "Pending", what="started")
    resp = v1.read_namespaced_pod_log("ticker", "default", follow=True, _preload_content=False)
    text = b"".join(resp.stream()).decode()
    assert [ln for ln in text.splitlines() if ln.startswith("tick")] == [
        "tick 1",
        "tick 2",
        "tick 3",
    ]
    stamped = v1.read_namespaced_pod_log("ticker", "default", timestamps=True, tail_lines=1)
    assert stamped.split(" ", 1)[1] == "tick 3\n" and stamped[:4].isdigit()


def test_node_watch_sees_readiness_change(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    rv = v1.list_node().metadata.resource_version
    kube.nodes[2].ready = False
    seen: list[tuple[str, str]] = []
    for e in watch.Watch().stream(v1.list_node, resource_version=rv, timeout_seconds=2):
        ready = {c.type: c.status for c in e["object"].status.conditions}["Ready"]
        seen.append((e["type"], ready))
        if ready == "False":
            break
    assert seen[-1] == ("MODIFIED", "False")


def test_scale_in_and_out_follow_the_simulated_nodes(kube: Harness, tmp_path: Path) -> None:
    v1 = client.CoreV1Api(kube.api())
    apps = client.AppsV1Api(kube.api())
    script_cm(v1)
    apps.create_namespaced_daemon_set("default", keeper_ds())

    def ready(n: int) -> bool:
        st = apps.read_namespaced_daemon_set("keeper", "default").status
        return st.desired_number_scheduled == n and st.number_ready == n

    wait_for(lambda: ready(3), what="3 ready")
    nodes = kube.state.clusters[CLUSTER].nodes
    with kube.state.lock:  # scale-in: the node and (pod GC) its pod go away
        gone = nodes.pop(kube.nodes[1].name)
    wait_for(
        lambda: (
            gone.name not in {p.spec.node_name for p in v1.list_namespaced_pod("default").items}
            and ready(2)
        ),
        what="scale-in",
    )
    new = _node(tmp_path, "user", 7)
    with kube.state.lock:  # scale-out: the new node gets its keeper pod
        nodes[new.name] = new
    wait_for(lambda: ready(3), what="scale-out")
    assert new.root is not None and (new.root / "etc/audit/rules.d/aksaudit.rules").exists()
    # list paging with limit/continue
    page = v1.list_namespaced_pod("default", limit=2)
    assert len(page.items) == 2 and page.metadata._continue
    rest = v1.list_namespaced_pod("default", limit=2, _continue=page.metadata._continue)
    assert len(rest.items) == 1 and not rest.metadata._continue


def test_pod_security_levels_and_message_order() -> None:
    from aksaudit_emulator.kube import psa
    from aksaudit_emulator.kube.store import ApiError

    pod = node_pod("p", "n")
    pod["spec"]["hostNetwork"] = True
    pod["spec"]["volumes"].append({"name": "host", "hostPath": {"path": "/"}})
    psa.check_pod(pod, {})  # no label: privileged
    psa.check_pod(pod, {psa.ENFORCE: "privileged"})
    with pytest.raises(ApiError) as err:
        psa.check_pod(pod, {psa.ENFORCE: "baseline", psa.ENFORCE_VERSION: "v1.32"})
    assert err.value.code == 403
    assert err.value.message == (
        'pods "p" is forbidden: violates PodSecurity "baseline:v1.32": host namespaces '
        '(hostNetwork=true, hostPID=true), hostPath volumes (volume "host"), privileged '
        '(container "c" must not set securityContext.privileged=true)'
    )
    plain = {"metadata": {"name": "q"}, "spec": {"containers": [{"name": "c", "image": "i"}]}}
    psa.check_pod(plain, {psa.ENFORCE: "baseline"})
    with pytest.raises(ApiError) as err:
        psa.check_pod(plain, {psa.ENFORCE: "restricted"})
    assert err.value.message == (
        'pods "q" is forbidden: violates PodSecurity "restricted:latest": '
        'allowPrivilegeEscalation != false (container "c" must set '
        "securityContext.allowPrivilegeEscalation=false), unrestricted capabilities (container "
        '"c" must set securityContext.capabilities.drop=["ALL"]), runAsNonRoot != true (pod or '
        'container "c" must set securityContext.runAsNonRoot=true), seccompProfile (pod or '
        'container "c" must set securityContext.seccompProfile.type to "RuntimeDefault" or '
        '"Localhost")'
    )


def test_node_reboot_restarts_its_keeper_which_reapplies(kube: Harness) -> None:
    v1 = client.CoreV1Api(kube.api())
    apps = client.AppsV1Api(kube.api())
    script_cm(v1)
    apps.create_namespaced_daemon_set("default", keeper_ds())
    wait_for(
        lambda: apps.read_namespaced_daemon_set("keeper", "default").status.number_ready == 3,
        what="ready",
    )
    node = kube.nodes[2]
    assert node.root is not None
    rules = node.root / "etc/audit/rules.d/aksaudit.rules"
    rules.unlink()  # the reimage wiped it
    assert kube.rt is not None
    assert kube.run(lambda: kube.rt.reboot_node(CLUSTER, node.name)) == 1  # type: ignore[union-attr]

    def restarted() -> bool:
        pods = v1.list_namespaced_pod("default", field_selector=f"spec.nodeName={node.name}")
        cs = pods.items[0].status.container_statuses[0]
        return bool(cs.restart_count == 1 and cs.ready and rules.exists())

    wait_for(restarted, what="keeper restarted and re-applied")


def test_a_killed_container_leaves_its_temp_files_on_the_node(kube: Harness) -> None:
    """A forced delete kills the container outright (SIGKILL: no trap runs): what it made under
    TMPDIR stays in the simulated node's /tmp, never in this machine's."""
    v1 = client.CoreV1Api(kube.api())
    node = kube.nodes[1]
    assert node.root is not None
    script_cm(v1)  # the pod mounts it
    made = node.root / "made"
    cmd = f'mktemp -d "${{TMPDIR:-/tmp}}/aksaudit.XXXXXX" >"{made}.new"; mv "{made}.new" "{made}"'
    v1.create_namespaced_pod(
        "default",
        node_pod(
            "killed",
            node.name,
            containers=[
                {"name": "c", "image": "busybox", "command": ["sh", "-c", cmd + "; sleep 30"]}
            ],
        ),
    )
    scratch = Path(wait_for(lambda: made.exists() and made.read_text().strip(), what="mktemp"))
    v1.delete_namespaced_pod("killed", "default", grace_period_seconds=0)
    wait_for(lambda: not v1.list_namespaced_pod("default").items, what="pod removed")
    assert scratch.parent == node.root / "tmp"
    assert scratch.is_dir()  # killed outright: left, but on the node
