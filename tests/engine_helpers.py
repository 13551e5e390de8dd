"""Helpers for the engine end-to-end tests: an Engine pointed at an in-process emulator, the
environment for running the real `aksaudit` CLI against it, and emulator state probes."""

from __future__ import annotations

import asyncio
import copy
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from aksaudit_emulator import load_scenario
from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine.plan import PlanRequest
from aksaudit_tui.engine.service import Engine

# Per log path: a cluster of the default scenario that path can serve, and its workspace.
TARGETS = {
    "container-insights": ("aks-prod-weu", "law-prod-weu"),
    "legacy-oms": ("aks-dev-neu", "law-dev-neu"),
    "ama": ("aks-dev-neu", "law-dev-neu"),
}
# Keeper readiness probes and back-offs run 2x faster in tests (pod deadlines too: keep the
# node deadline generous, the machine may be busy).
FAST_KUBE = {"time_scale": 0.5}


def settings_for(emu: Any) -> CloudSettings:
    i = emu.info
    return CloudSettings(
        arm_endpoint=i.arm_endpoint,
        logs_endpoint=i.logs_endpoint,
        ca_bundle=i.ca_bundle,
        access_token=i.token,
        kubeconfig=i.kubeconfig,
        registry_endpoint=i.registry_endpoint,
        profile="fast",
    )


def engine_for(emu: Any, state_dir: Path, node_deadline_s: float = 60.0) -> Engine:
    eng = Engine(settings_for(emu), state_dir=state_dir, verify_deadline_s=20, verify_poll_s=0.3)
    eng.node_deadline_s = node_deadline_s
    return eng


async def dev_ama_oneshot(
    make_emulator: Callable[..., Any], state_dir: Path, node_deadline_s: float = 60.0
) -> tuple[Any, Engine, Any]:
    """(emulator, engine, plan) for the usual fault test: the default scenario, aks-dev-neu
    through the AMA path into law-dev-neu, one-shot delivery."""
    emu = make_emulator(scenario())
    eng = engine_for(emu, state_dir, node_deadline_s)
    plan = await eng.plan_from_names(
        PlanRequest(
            clusters=["aks-dev-neu"], workspace="law-dev-neu", log_path="ama", delivery="one-shot"
        )
    )
    return emu, eng, plan


def cli_env(emu: Any, state_dir: Path) -> dict[str, str]:
    """Environment for a subprocess `aksaudit` against the emulator (no other Azure)."""
    i = emu.info
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AKSAUDIT_", "AZURE_"))}
    env.update(
        AKSAUDIT_ARM_ENDPOINT=i.arm_endpoint,
        AKSAUDIT_LOGS_ENDPOINT=i.logs_endpoint,
        AKSAUDIT_CA_BUNDLE=i.ca_bundle,
        AKSAUDIT_REGISTRY_ENDPOINT=i.registry_endpoint,
        AKSAUDIT_ACCESS_TOKEN=i.token,
        AKSAUDIT_STATE_DIR=str(state_dir),
        KUBECONFIG=i.kubeconfig,
        AKSAUDIT_PROFILE="fast",
        PYTHONUNBUFFERED="1",
    )
    return env


def aksaudit_cmd() -> list[str]:
    return [sys.executable, "-m", "aksaudit_tui"]


def scenario(mutate: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    data = copy.deepcopy(load_scenario(None))
    data["kube"] = dict(FAST_KUBE)
    if mutate is not None:
        mutate(data)
    return data


def workspace_of(data: dict[str, Any], name: str) -> dict[str, Any]:
    """The scenario's workspace mapping (a live reference: changing it changes the scenario)."""
    for sub in data["subscriptions"]:
        for rg in sub["resource_groups"]:
            for ws in rg.get("workspaces", []):
                if ws["name"] == name:
                    ws_map: dict[str, Any] = ws
                    return ws_map
    raise KeyError(name)


def oneshot_pods(emu: Any, cluster: str) -> list[str]:
    """Names of one-shot pods of ours still in the emulated cluster (privileged leftovers)."""
    store = emu.state.kube.get(cluster)
    if store is None:
        return []
    out = []
    for pod in _pods(store):
        labels = (pod.get("metadata") or {}).get("labels") or {}
        if labels.get("aksaudit.io/role") == "oneshot":
            out.append(pod["metadata"]["name"])
    return out


def _pods(store: Any) -> list[dict[str, Any]]:
    with_lock = getattr(store, "list")  # noqa: B009 - KubeStore.list(resource, namespace)
    return list(with_lock("pods"))


def dcr_bodies(emu: Any) -> list[dict[str, Any]]:
    with emu.state.lock:
        return [
            b
            for b in emu.state.arm.values()
            if str(b.get("type", "")).lower() == "microsoft.insights/datacollectionrules"
        ]


def node_root(emu: Any, cluster: str, node: str) -> Path:
    root = emu.state.clusters[cluster].nodes[node].root
    assert root is not None
    return Path(root)


def linux_nodes(emu: Any, cluster: str) -> list[str]:
    return sorted(
        n.name for n in emu.state.clusters[cluster].nodes.values() if n.is_linux and n.root
    )


def add_fault(emu: Any, fault: dict[str, Any]) -> dict[str, Any]:
    with emu.state.lock:
        emu.state.faults.append(fault)
    return fault


def clear_faults(emu: Any) -> None:
    with emu.state.lock:
        emu.state.faults.clear()


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def drop_dcr_facility(emu: Any, facility: str) -> None:
    """Edit every data collection rule through ARM (the real SDK) to stop collecting
    ``facility``, as a person in the portal would."""
    from aksaudit_tui.cloud.arm import ArmId, rest
    from aksaudit_tui.cloud.clients import AsyncClients

    async with AsyncClients(settings_for(emu)) as clients:
        for body in dcr_bodies(emu):
            rid = ArmId.parse(body["id"])
            monitor = clients.monitor(rid.subscription)
            cur = rest(await monitor.data_collection_rules.get(rid.resource_group, rid.name))
            for src in cur["properties"]["dataSources"].get("syslog", []):
                src["facilityNames"] = [f for f in src["facilityNames"] if f != facility]
            new = {"location": cur["location"], "properties": cur["properties"]}
            await monitor.data_collection_rules.create(rid.resource_group, rid.name, new)
