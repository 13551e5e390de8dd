"""The product under Kubernetes API semantics a real API server has (and the emulator now too):
a DaemonSet deleted in the foreground stays, being deleted, until its pods are gone; container
restarts keep one log per instance. Real `kubernetes` client over HTTPS, real node script.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.delivery import DeliverySpec, remove_nodes, rollout
from aksaudit_tui.nodes.kube import KubeClient, NodeInfo, load_api
from aksaudit_tui.nodes.script import render_node_script
from fixtures.emulator import emulator, make_emulator  # noqa: F401  (pytest fixtures)

CLUSTER = "aks-prod-weu"
NS = m.DEFAULT_NAMESPACE
RULES = "-w /etc/passwd -p wa -k identity\n"
SCRIPT = render_node_script(RULES, "authpriv", "info")
HOLD = "example.com/hold"

pytestmark = pytest.mark.timeout(300)


@pytest.fixture
async def kube(emulator: Any) -> AsyncIterator[KubeClient]:  # noqa: F811
    k = KubeClient(
        load_api(emulator.info.kubeconfig, CLUSTER, emulator.info.ca_bundle), context=CLUSTER
    )
    yield k
    k.close()


def _spec(**kw: Any) -> DeliverySpec:
    args: dict[str, Any] = {
        "mode": "keeper",
        "run_id": "run-1",
        "concurrency": 3,
        "pod_deadline_s": 90,
        "keeper_interval_s": 30,
    }
    args.update(kw)
    return DeliverySpec(**args)


def _linux(nodes: list[NodeInfo]) -> set[str]:
    return {n.name for n in nodes if n.eligible}


async def _raw_daemonset(kube: KubeClient) -> dict[str, Any] | None:
    return await kube._read(
        "read_daemonset", kube.apps.read_namespaced_daemon_set, m.KEEPER_NAME, NS
    )


async def _set_finalizers(kube: KubeClient, finalizers: list[str]) -> None:
    # A JSON merge patch replaces the list (a strategic merge would merge it).
    await kube._json(
        "patch_daemonset",
        kube.apps.patch_namespaced_daemon_set,
        m.KEEPER_NAME,
        NS,
        {"metadata": {"finalizers": finalizers}},
        _content_type="application/merge-patch+json",
    )


async def test_keeper_waits_for_the_old_daemonset_still_being_deleted(
    emulator: Any,  # noqa: F811
    kube: KubeClient,
) -> None:
    """A keeper deleted in the foreground (a switch to one-shot, a cleanup) keeps its name
    until it is gone; a keeper rollout meanwhile must not take it for the one in place."""
    nodes = await kube.list_nodes()
    linux = _linux(nodes)
    first = await rollout(kube, _spec(), nodes, SCRIPT, RULES)
    assert {r.node for r in first if r.phase == "compliant"} == linux
    old = await kube.get_daemonset(NS)
    assert old is not None
    # Another controller's finalizer holds it once deleted, as a slow cascade would.
    await _set_finalizers(kube, [HOLD])
    assert await kube.delete_owned("daemonset", NS, m.KEEPER_NAME)
    held = await _raw_daemonset(kube)
    assert held is not None and held["metadata"]["deletionTimestamp"]
    assert "foregroundDeletion" in held["metadata"]["finalizers"]
    assert await kube.get_daemonset(NS) is None  # being deleted: not in place

    k2 = KubeClient(kube.api, context=CLUSTER)
    task = asyncio.create_task(rollout(k2, _spec(run_id="run-2"), nodes, SCRIPT, RULES))
    try:
        for _ in range(40):  # the cascade deletes the old pods while the name stays taken
            pods, _ = await kube.list_pods(NS, m.KEEPER_SELECTOR)
            if not pods:
                break
            await asyncio.sleep(0.25)
        assert pods == []
        assert not task.done()
        assert "create_daemonset" not in k2.calls and "replace_daemonset" not in k2.calls
        held = await _raw_daemonset(kube)
        assert held is not None and held["metadata"]["uid"] == old["metadata"]["uid"]
        await _set_finalizers(kube, [])  # the other controller lets go
        second = await asyncio.wait_for(task, 120)
    finally:
        if not task.done():
            task.cancel()
    assert {r.node for r in second if r.phase == "compliant"} == linux
    assert k2.calls["create_daemonset"] == 1
    new = await kube.get_daemonset(NS)
    assert new is not None and new["metadata"]["uid"] != old["metadata"]["uid"]
    pods, _ = await kube.list_pods(NS, m.KEEPER_SELECTOR)
    assert {p["metadata"]["ownerReferences"][0]["uid"] for p in pods} == {new["metadata"]["uid"]}
    await remove_nodes(kube, _spec(run_id="rm"), nodes, SCRIPT, RULES)
    assert (await kube.list_leftovers()).empty
