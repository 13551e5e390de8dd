"""Point 2 of the trust issue: the namespace is fenced by a ValidatingAdmissionPolicy that
admits only our pod shape. The product creates it (KubeClient.ensure_fence, from the manifests
apply uses); the emulator enforces it with a real CEL evaluator; one-shot delivery deletes the
namespace and the fence when done; clusters older than 1.30 get a warning instead."""

from __future__ import annotations

import asyncio
import copy
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config
from kubernetes.client.rest import ApiException

from aksaudit_tui.engine import plan_io
from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.errors import UserError
from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.delivery import DeliverySpec, DeliveryStats, check_nodes, rollout
from aksaudit_tui.nodes.kube import KubeClient, load_api
from aksaudit_tui.nodes.script import render_node_script
from engine_helpers import engine_for, run, scenario
from fixtures.emulator import emulator, make_emulator  # noqa: F401  (pytest fixtures)

CLUSTER = "aks-prod-weu"
NS = m.DEFAULT_NAMESPACE
IMAGE = "mcr.microsoft.com/azurelinux/busybox@sha256:" + "d" * 64
SCRIPT = render_node_script("-w /etc/passwd -p wa -k identity\n", "authpriv", "info")
POLICY = m.fence_name(NS)
SHA = m.script_sha256(SCRIPT)
# someone else's script, as someone who may create ConfigMaps and pods in the namespace writes it
EVIL = SCRIPT.replace("set -u", 'set -u\necho pwned > "$AKSAUDIT_ROOT/pwned"', 1)
EVIL_SHA = m.script_sha256(EVIL)
PINNED = f"{m.SHA_ENV} must be the sha256 of a node script aksaudit rendered"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def kube(emulator: Any) -> AsyncIterator[KubeClient]:  # noqa: F811
    k = KubeClient(
        load_api(emulator.info.kubeconfig, CLUSTER, emulator.info.ca_bundle), context=CLUSTER
    )
    yield k
    k.close()


def _apis(emu: Any) -> tuple[Any, Any, Any]:
    api = config.new_client_from_config(emu.info.kubeconfig, context=CLUSTER)
    return client.CoreV1Api(api), client.AppsV1Api(api), client.AdmissionregistrationV1Api(api)


def _denied(call: Any) -> str:
    with pytest.raises(ApiException) as info:
        call()
    assert info.value.status == 403, info.value.body
    body = str(info.value.body)
    assert f"ValidatingAdmissionPolicy '{POLICY}' with binding '{POLICY}' denied request" in body
    return body


async def test_the_fence_admits_only_our_pod_shape(emulator: Any, kube: KubeClient) -> None:  # noqa: F811
    await kube.ensure_namespace(NS)
    assert await kube.ensure_fence(NS, IMAGE, (SHA,)) is None
    assert await kube.ensure_fence(NS, IMAGE, (SHA,)) is None  # idempotent
    v1, apps, adm = _apis(emulator)
    policy = adm.read_validating_admission_policy(POLICY)
    served = adm.api_client.sanitize_for_serialization(policy)
    assert served["spec"] == m.admission_policy_manifest(NS, IMAGE, (SHA,))["spec"]
    binding = adm.read_validating_admission_policy_binding(POLICY)
    assert binding.spec.match_resources.namespace_selector.match_labels == {
        "kubernetes.io/metadata.name": NS
    }
    node = v1.list_node(label_selector="kubernetes.azure.com/agentpool=apps").items[0]
    ours = m.oneshot_pod_manifest(
        namespace=NS, node=node.metadata.name, mode="check", image=IMAGE,
        script_text=SCRIPT, run_id="r1", configmap=m.oneshot_configmap_name("r1"),
    )  # fmt: skip
    v1.create_namespaced_pod(NS, ours, dry_run="All")  # admitted
    assert await kube.check_admission(NS, IMAGE, SHA) is None  # our own probe passes the fence

    foreign = {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "evil", "namespace": NS},
        "spec": {
            "hostPID": True,
            "containers": [
                {
                    "name": "x",
                    "image": "docker.io/library/busybox:latest",
                    "command": ["sh", "-c", "nsenter -t 1 -a sh"],
                    "securityContext": {"privileged": True},
                }
            ],
        },
    }
    body = _denied(lambda: v1.create_namespaced_pod(NS, foreign))
    assert f"the image must be {IMAGE}" in body
    # our exact pod with one more container, or another volume, or without our labels
    extra = copy.deepcopy(ours)
    extra["spec"]["containers"].append({**extra["spec"]["containers"][0], "name": "sidecar"})
    assert "only the single aksaudit container" in _denied(
        lambda: v1.create_namespaced_pod(NS, extra)
    )
    hostpath = copy.deepcopy(ours)
    hostpath["spec"]["volumes"].append({"name": "root", "hostPath": {"path": "/"}})
    assert "the only volume must be the node-script ConfigMap" in _denied(
        lambda: v1.create_namespaced_pod(NS, hostpath)
    )
    unlabelled = copy.deepcopy(ours)
    unlabelled["metadata"]["labels"] = {}
    assert "must carry the aksaudit labels" in _denied(
        lambda: v1.create_namespaced_pod(NS, unlabelled)
    )

    keeper = m.keeper_daemonset_manifest(namespace=NS, image=IMAGE, script_text=SCRIPT, run_id="r1")
    other = copy.deepcopy(keeper)
    other["spec"]["template"]["spec"]["containers"][0]["command"] = ["/bin/sh", "-c", "id"]
    assert "the command must be the aksaudit launcher" in _denied(
        lambda: apps.create_namespaced_daemon_set(NS, other)
    )
    apps.create_namespaced_daemon_set(NS, keeper)  # ours is admitted
    # editing the admitted DaemonSet to run something else is denied too
    patched = {"spec": {"template": {"spec": {"containers": [
        {**keeper["spec"]["template"]["spec"]["containers"][0], "command": ["sh", "-c", "id"]}
    ]}}}}  # fmt: skip
    _denied(lambda: apps.patch_namespaced_daemon_set(m.KEEPER_NAME, NS, patched))
    # another namespace is not fenced
    v1.create_namespace({"metadata": {"name": "elsewhere"}})
    v1.create_namespaced_pod("elsewhere", {**foreign, "metadata": {"name": "fine"}})


async def _wait_pod(v1: Any, name: str) -> Any:
    end = time.monotonic() + 120
    while time.monotonic() < end:
        pod = v1.read_namespaced_pod(name, NS)
        if pod.status.phase in ("Succeeded", "Failed"):
            return pod
        await asyncio.sleep(0.25)
    raise AssertionError(f"pod {name} did not finish")


async def test_the_fence_admits_only_scripts_aksaudit_rendered(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    v1, _, adm = _apis(emulator)
    nodes = [n for n in await kube.list_nodes() if n.eligible][:2]
    spec = DeliverySpec(mode="keeper", run_id="k1", keeper_interval_s=30, pod_deadline_s=200)
    results = await rollout(kube, spec, nodes, SCRIPT, "")
    assert {r.phase for r in results} == {"compliant"}, results
    policy = adm.read_validating_admission_policy(POLICY)
    assert policy.metadata.annotations[m.ANNOTATION_FENCE_SHAS] == SHA

    # ConfigMaps are not fenced: their script goes into one named like ours
    cm_name = m.oneshot_configmap_name("evil")
    v1.create_namespaced_config_map(NS, m.configmap_manifest(NS, EVIL, "", "evil", name=cm_name))
    node = nodes[0].name

    def pod(script: str) -> dict[str, Any]:
        return m.oneshot_pod_manifest(
            namespace=NS, node=node, mode="apply", image=spec.image, script_text=script,
            run_id="evil", configmap=cm_name,
        )  # fmt: skip

    # our exact shape, pointed at their script with its own sha256: denied by the fence
    body = _denied(lambda: v1.create_namespaced_pod(NS, pod(EVIL)))
    assert f"{PINNED} ({SHA})" in body
    # our sha256 first and theirs again after it (the container gets the last one): denied
    doubled = pod(SCRIPT)
    doubled["spec"]["containers"][0]["env"].append({"name": m.SHA_ENV, "value": EVIL_SHA})
    assert PINNED in _denied(lambda: v1.create_namespaced_pod(NS, doubled))
    # the sha256 read from a ConfigMap they control: denied
    indirect = pod(SCRIPT)
    indirect["spec"]["containers"][0]["env"][0] = {
        "name": m.SHA_ENV,
        "valueFrom": {"configMapKeyRef": {"name": cm_name, "key": "sha"}},
    }
    assert "only the aksaudit environment variables" in _denied(
        lambda: v1.create_namespaced_pod(NS, indirect)
    )
    # with our sha256 the pod is admitted, and the launcher refuses their script: it runs only a
    # script whose sha256 is the pinned one
    ours = pod(SCRIPT)
    v1.create_namespaced_pod(NS, ours)
    done = await _wait_pod(v1, ours["metadata"]["name"])
    log = v1.read_namespaced_pod_log(ours["metadata"]["name"], NS)
    assert done.status.phase == "Failed" and "refusing to run node.sh" in log, log
    assert not (emulator.state.clusters[CLUSTER].nodes[node].root / "pwned").exists()


async def test_a_run_beside_the_keeper_widens_the_fence_only_while_it_runs(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    nodes = [n for n in await kube.list_nodes() if n.eligible][:2]
    keeper = DeliverySpec(mode="keeper", run_id="k1", keeper_interval_s=30, pod_deadline_s=200)
    assert {r.phase for r in await rollout(kube, keeper, nodes, SCRIPT, "")} == {"compliant"}
    other = render_node_script("-w /etc/shadow -p wa -k identity\n", "authpriv", "info")
    other_sha = m.script_sha256(other)
    check = DeliverySpec(mode="one-shot", run_id="c1", pod_deadline_s=200)
    await check_nodes(kube, check, nodes, other, "")
    # the keeper re-applied with the new script: its old script is no longer admitted
    k2 = DeliverySpec(mode="keeper", run_id="k2", keeper_interval_s=30, pod_deadline_s=200)
    assert {r.phase for r in await rollout(kube, k2, nodes, other, "")} == {"compliant"}
    store = emulator.state.kube[CLUSTER]
    admitted = [
        e.obj["metadata"]["annotations"][m.ANNOTATION_FENCE_SHAS]
        for e in store.events_since(0, "validatingadmissionpolicies", None)
    ]
    assert admitted == [
        SHA,  # the first keeper
        f"{other_sha},{SHA}",  # the one-shot check, the keeper's pods still admitted
        SHA,  # back to the keeper's only
        f"{other_sha},{SHA}",  # the new keeper while its DaemonSet rolls
        other_sha,  # the new keeper only
    ], admitted


async def test_a_fence_that_records_no_sha_never_admits_the_keepers_env_sha(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    """A fence from before scripts were pinned records no sha; the keeper DaemonSet's env is
    then all there is, and anyone who may edit DaemonSets in the namespace writes it. A one-shot
    run must not admit that sha, during the run or after (it used to narrow the fence to it)."""
    nodes = [n for n in await kube.list_nodes() if n.eligible][:2]
    keeper = DeliverySpec(mode="keeper", run_id="k1", keeper_interval_s=30, pod_deadline_s=200)
    assert {r.phase for r in await rollout(kube, keeper, nodes, SCRIPT, "")} == {"compliant"}
    _, apps, adm = _apis(emulator)
    # the fence as made before 0357384: no sha annotation (so no pin to enforce here either)
    adm.delete_validating_admission_policy_binding(POLICY)
    adm.delete_validating_admission_policy(POLICY)
    ds = apps.read_namespaced_daemon_set(m.KEEPER_NAME, NS)
    for c in ds.spec.template.spec.containers:
        for e in c.env or []:
            if e.name == m.SHA_ENV:
                e.value = EVIL_SHA  # a namespace editor's edit
    apps.replace_namespaced_daemon_set(m.KEEPER_NAME, NS, ds)
    store = emulator.state.kube[CLUSTER]
    seen = len(store.events_since(0, "validatingadmissionpolicies", None))
    other = render_node_script("-w /etc/shadow -p wa -k identity\n", "authpriv", "info")
    other_sha = m.script_sha256(other)
    stats = DeliveryStats()
    check = DeliverySpec(mode="one-shot", run_id="c1", pod_deadline_s=200)
    await check_nodes(kube, check, nodes, other, "", stats=stats)
    admitted = [
        e.obj["metadata"]["annotations"][m.ANNOTATION_FENCE_SHAS]
        for e in store.events_since(0, "validatingadmissionpolicies", None)[seen:]
        if e.type != "DELETED"
    ]
    assert admitted and all(EVIL_SHA not in a for a in admitted), admitted
    assert await kube.admitted_shas(NS) in (None, (other_sha,))
    assert any("apply the keeper again" in w for w in stats.warnings), stats.warnings


async def test_a_run_that_fails_after_widening_the_fence_narrows_it_again(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    """The one-shot run widens the keeper's fence to admit its own script, then admission
    refuses its pod (here: another team's policy that denies hostPID pods). The error is the
    one the user sees, and the fence goes back to the keeper's script only."""
    nodes = [n for n in await kube.list_nodes() if n.eligible][:2]
    keeper = DeliverySpec(mode="keeper", run_id="k1", keeper_interval_s=30, pod_deadline_s=200)
    assert {r.phase for r in await rollout(kube, keeper, nodes, SCRIPT, "")} == {"compliant"}
    _, _, adm = _apis(emulator)
    theirs = copy.deepcopy(m.admission_policy_manifest(NS, IMAGE, (SHA,)))
    theirs["metadata"] = {"name": "no-hostpid"}
    theirs["spec"]["matchConstraints"]["resourceRules"] = theirs["spec"]["matchConstraints"][
        "resourceRules"
    ][:1]
    theirs["spec"].pop("variables")
    theirs["spec"]["validations"] = [
        {"expression": "!has(object.spec.hostPID) || !object.spec.hostPID", "message": "no hostPID"}
    ]
    adm.create_validating_admission_policy(theirs)
    binding = copy.deepcopy(m.admission_binding_manifest(NS))
    binding["metadata"] = {"name": "no-hostpid"}
    binding["spec"]["policyName"] = "no-hostpid"
    adm.create_validating_admission_policy_binding(binding)
    other = render_node_script("-w /etc/shadow -p wa -k identity\n", "authpriv", "info")
    check = DeliverySpec(mode="one-shot", run_id="c1", pod_deadline_s=200)
    with pytest.raises(UserError, match="no hostPID"):
        await check_nodes(kube, check, nodes, other, "")
    store = emulator.state.kube[CLUSTER]
    admitted = [
        e.obj["metadata"]["annotations"][m.ANNOTATION_FENCE_SHAS]
        for e in store.events_since(0, "validatingadmissionpolicies", None)
        if e.obj["metadata"]["name"] == POLICY
    ]
    assert admitted == [SHA, f"{m.script_sha256(other)},{SHA}", SHA], admitted
    assert await kube.admitted_shas(NS) == (SHA,)


async def test_policy_with_a_broken_expression_is_refused(emulator: Any) -> None:  # noqa: F811
    _, _, adm = _apis(emulator)
    bad = m.admission_policy_manifest(NS, IMAGE, (SHA,))
    bad["spec"]["validations"][0]["expression"] = "object.spec.containers.all(c, "
    with pytest.raises(ApiException) as info:
        adm.create_validating_admission_policy(bad)
    assert info.value.status == 422 and "compilation failed" in str(info.value.body)


def test_one_shot_apply_leaves_no_namespace_and_no_fence(
    make_emulator: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    plan = run(
        eng.plan_from_names(
            PlanRequest(
                clusters=["aks-dev-neu"],
                workspace="law-dev-neu",
                log_path="ama",
                delivery="one-shot",
            )
        )
    )
    result = run(eng.apply(plan))
    assert result.outcome == "ok", result
    store = emu.state.kube["aks-dev-neu"]
    assert store.get("namespaces", "", NS) is None or _terminating(store)
    for resource in ("validatingadmissionpolicies", "validatingadmissionpolicybindings"):
        # fenced while the pods ran (created before them), deleted with the namespace after
        events = store.events_since(0, resource, None)
        history = [(e.type, e.obj["metadata"]["name"]) for e in events]
        # once per pod batch (the pre-apply check pods, then the apply pods)
        assert history and history == [("ADDED", POLICY), ("DELETED", POLICY)] * (
            len(history) // 2
        ), history
        assert store.list(resource, None) == []


def _terminating(store: Any) -> bool:
    end = time.monotonic() + 30
    while time.monotonic() < end:
        ns = store.get("namespaces", "", NS)
        if ns is None or (ns.get("status") or {}).get("phase") == "Terminating":
            return True
        time.sleep(0.1)
    return False


def test_clusters_older_than_1_30_get_a_warning_not_a_fence(
    make_emulator: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    def old(data: dict[str, Any]) -> None:
        for sub in data["subscriptions"]:
            for rg in sub["resource_groups"]:
                for cl in rg.get("clusters", []):
                    if cl["name"] == "aks-dev-neu":
                        cl["kubernetes_version"] = "1.29.9"

    emu = make_emulator(scenario(old))
    eng = engine_for(emu, tmp_path / "state")
    plan = run(
        eng.plan_from_names(
            PlanRequest(
                clusters=["aks-dev-neu"], workspace="law-dev-neu", log_path="ama", delivery="keeper"
            )
        )
    )
    # the plan says so (a comment above the clusters), the review too
    assert plan.notes and "1.29.9" in plan.notes[0] and "not fenced" in plan.notes[0]
    assert f"# WARNING: {plan.notes[0]}" in plan_io.dumps(plan)
    changes = run(eng.review(plan))
    warned = [c.warning for c in changes if c.warning and "ValidatingAdmissionPolicy" in c.warning]
    assert warned and "1.29.9" in warned[0] and "not fenced" in warned[0]
    events: list[Any] = []
    result = run(eng.apply(plan, events.append))
    assert result.outcome == "ok", result
    run_warnings = [e.message for e in events if type(e).__name__ == "RunWarning"]
    assert any("not fenced" in w for w in run_warnings), run_warnings
    assert emu.state.kube["aks-dev-neu"].list("validatingadmissionpolicies", None) == []


def test_status_says_when_a_keeper_namespace_lost_its_fence(
    make_emulator: Any,  # noqa: F811
    tmp_path: Path,
) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "state")
    plan = run(
        eng.plan_from_names(
            PlanRequest(
                clusters=["aks-dev-neu"], workspace="law-dev-neu", log_path="ama", delivery="keeper"
            )
        )
    )
    assert plan.notes == ()  # 1.3x: fenced, nothing to warn about
    assert run(eng.apply(plan)).outcome == "ok"
    assert not [w for w in run(eng.status()).warnings if "fence" in w]
    api = config.new_client_from_config(emu.info.kubeconfig, context="aks-dev-neu")
    client.AdmissionregistrationV1Api(api).delete_validating_admission_policy_binding(POLICY)
    warnings = run(eng.status()).warnings
    assert any(
        f"namespace {NS} is not fenced: admission policy binding {POLICY} is missing" in w
        for w in warnings
    ), warnings
