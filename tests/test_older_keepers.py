"""A namespace change leaves no keeper behind (``nodes/older_keepers.py``).

An apply with another namespace used to leave the earlier keeper running in its old namespace
(a second ``aksaudit-applied`` record beside it), re-applying its own script as root on every
node, and a remove deleted only the newer one: after "remove", a privileged keeper was still on
every node. Now the apply that moves the keeper retires the older one once the new one is in
place, and a remove retires any it finds before restoring the nodes; neither deletes anything in
a namespace aksaudit did not create. Driven through the real engine and `kubernetes` client
against the emulator.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.engine.service import Engine
from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes import older_keepers
from engine_helpers import engine_for, linux_nodes, node_root, oneshot_pods, scenario

CLUSTER, WORKSPACE = "aks-dev-neu", "law-dev-neu"  # Kubernetes 1.31: fenced namespaces
KINDS = (
    "daemonsets", "configmaps", "namespaces", "pods", "validatingadmissionpolicies",
    "validatingadmissionpolicybindings",
)  # fmt: skip


def _ours(emu: Any) -> list[str]:
    """Every object of ours in the cluster, as kind/namespace/name."""
    store = emu.state.kube[CLUSTER]
    return sorted(
        f"{kind}/{o['metadata'].get('namespace', '')}/{o['metadata']['name']}"
        for kind in KINDS
        for o in store.list(kind)
        if (o["metadata"].get("labels") or {}).get(m.LABEL_MANAGED_BY) == m.MANAGED_BY_VALUE
    )


def _keepers(emu: Any) -> list[str]:
    """Namespaces holding a keeper DaemonSet or a keeper pod (root on every node)."""
    store = emu.state.kube[CLUSTER]
    found = {
        str(o["metadata"].get("namespace"))
        for kind in ("daemonsets", "pods")
        for o in store.list(kind)
        if (o["metadata"].get("labels") or {}).get(m.LABEL_ROLE) == "keeper"
    }
    return sorted(found)


def _privileged_pods(emu: Any) -> list[str]:
    store = emu.state.kube[CLUSTER]
    return [
        f"{p['metadata'].get('namespace')}/{p['metadata']['name']}"
        for p in store.list("pods")
        if any(
            (c.get("securityContext") or {}).get("privileged")
            for c in p["spec"].get("containers") or []
        )
    ]


def _records(emu: Any) -> list[str]:
    store = emu.state.kube[CLUSTER]
    return [
        str(cm["metadata"]["namespace"])
        for cm in store.list("configmaps")
        if cm["metadata"]["name"] == "aksaudit-applied"
    ]


async def _apply_keeper(eng: Engine, namespace: str) -> list[str]:
    """A keeper apply in ``namespace``; returns the run's log lines."""
    lines: list[str] = []

    def on_event(ev: Any) -> None:
        d = ev.to_json()
        if d.get("kind") in ("StepLog", "RunWarning"):
            lines.append(str(d.get("line") or d.get("message")))

    plan = await eng.plan_from_names(
        PlanRequest(
            clusters=[CLUSTER], workspace=WORKSPACE, log_path="ama", delivery="keeper",
            namespace=namespace,
        )
    )  # fmt: skip
    result = await eng.apply(plan, on_event)
    assert result.outcome == "ok", result.message
    return lines


def _remove_from_record(emu: Any, state: Path) -> None:
    eng = engine_for(emu, state)
    scan = asyncio.run(eng.recorded_clusters(CLUSTER))
    (rc,) = scan.clusters
    removal = eng.removal_from_record(rc)
    result = asyncio.run(eng.remove(removal.plan, include_log_path=True, undo=removal.undo))
    assert result.outcome == "ok", result.message


def _assert_all_gone(emu: Any) -> None:
    assert _keepers(emu) == [] and _privileged_pods(emu) == [] and oneshot_pods(emu, CLUSTER) == []
    assert _ours(emu) == [], _ours(emu)
    for n in linux_nodes(emu, CLUSTER):
        assert not (node_root(emu, CLUSTER, n) / "var/lib/aksaudit").exists(), n


def test_an_apply_that_moves_the_keeper_retires_the_one_in_the_old_namespace(
    make_emulator: Any, tmp_path: Path
) -> None:
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "A")
    eng.verify_after_apply = False
    asyncio.run(_apply_keeper(eng, "audit-a"))
    assert _keepers(emu) == ["audit-a"] and _records(emu) == ["audit-a"]

    lines = asyncio.run(_apply_keeper(eng, "audit-b"))
    assert _keepers(emu) == ["audit-b"] and _records(emu) == ["audit-b"], _ours(emu)
    old = [o for o in _ours(emu) if "/audit-a/" in o or o.endswith("audit-a")]
    assert old == [] and "namespaces//audit-b" in _ours(emu), _ours(emu)  # fence, namespace too
    assert "deleted the keeper, record and namespace audit-a an earlier plan left" in lines
    # the remove from the cluster's record (another machine) then leaves nothing of ours
    _remove_from_record(emu, tmp_path / "B")
    _assert_all_gone(emu)


def test_a_remove_retires_a_keeper_an_earlier_plan_left_in_another_namespace(
    make_emulator: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The state an aksaudit from before the fix left: two keepers, two records."""
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "A")
    eng.verify_after_apply = False
    asyncio.run(_apply_keeper(eng, "audit-a"))
    with monkeypatch.context() as mp:  # the apply of an older aksaudit: it retired nothing
        mp.setattr(older_keepers, "retire", _retire_nothing)
        asyncio.run(_apply_keeper(eng, "audit-b"))
    assert _keepers(emu) == ["audit-a", "audit-b"] and sorted(_records(emu)) == [
        "audit-a",
        "audit-b",
    ]
    _remove_from_record(emu, tmp_path / "B")
    _assert_all_gone(emu)


async def _retire_nothing(kube: Any, found: Any) -> list[str]:
    return []


def test_a_keeper_in_a_namespace_aksaudit_did_not_create_is_left_and_said(
    make_emulator: Any, tmp_path: Path
) -> None:
    """Someone labels a DaemonSet in their own namespace as our keeper: apply never deletes
    in a namespace without our label and plan annotation, and says so."""
    emu = make_emulator(scenario())
    eng = engine_for(emu, tmp_path / "A")
    eng.verify_after_apply = False
    store = emu.state.kube[CLUSTER]
    theirs = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "team-x"}}
    ds = {
        "apiVersion": "apps/v1",
        "kind": "DaemonSet",
        "metadata": {
            "name": m.KEEPER_NAME,
            "namespace": "team-x",
            "labels": {m.LABEL_MANAGED_BY: m.MANAGED_BY_VALUE, m.LABEL_ROLE: "keeper"},
        },
        "spec": {
            "selector": {"matchLabels": {"app": "x"}},
            "template": {
                "metadata": {"labels": {"app": "x"}},
                "spec": {"containers": [{"name": "x", "image": "busybox"}]},
            },
        },
    }
    _create(emu, theirs, ds)
    lines = asyncio.run(_apply_keeper(eng, "audit-a"))
    assert any(
        "left the aksaudit keeper objects in namespace team-x as they are" in ln for ln in lines
    ), lines
    assert store.get("daemonsets", "team-x", m.KEEPER_NAME) is not None


def _create(emu: Any, *objs: dict[str, Any]) -> None:
    """Create objects through the real kubernetes client (as a user with rights would)."""
    api = config.new_client_from_config(emu.info.kubeconfig, context=CLUSTER)
    try:
        for o in objs:
            if o["kind"] == "Namespace":
                client.CoreV1Api(api).create_namespace(o)
            else:
                client.AppsV1Api(api).create_namespaced_daemon_set(o["metadata"]["namespace"], o)
    finally:
        api.close()
