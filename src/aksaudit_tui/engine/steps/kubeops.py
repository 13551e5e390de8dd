"""Kubernetes plumbing the steps share: one KubeClient per cluster, leftovers, one-shot cleanup."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Collection
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from aksaudit_tui.engine.results import Leftover
from aksaudit_tui.engine.steps.base import StepContext
from aksaudit_tui.nodes import manifests as m
from aksaudit_tui.nodes.record import RECORD_CONFIGMAP

if TYPE_CHECKING:
    from aksaudit_tui.engine.config import EngineConfig
    from aksaudit_tui.engine.plan import Plan
    from aksaudit_tui.nodes.kube import KubeClient, ReadBounds


def open_kube(
    kubeconfig: str | None,
    context: str,
    executor: ThreadPoolExecutor | None = None,
    bounds: ReadBounds | None = None,
) -> KubeClient:
    """``executor``: a thread pool shared by many clusters' clients, ``bounds`` this client's
    share of it and its timeouts (KubeClient)."""
    # kubernetes client (~1 s of imports): loaded when a step first needs it
    from aksaudit_tui.nodes.kube import KubeClient, load_api

    return KubeClient(
        load_api(kubeconfig, context), context=context, executor=executor, bounds=bounds
    )


async def kube(ctx: StepContext) -> KubeClient:
    """The cluster's KubeClient (made once per run, closed by the run)."""
    if ctx.shared.api is None:
        ctx.shared.api = await asyncio.to_thread(
            open_kube, ctx.settings.kubeconfig, ctx.cluster.context
        )
    k: KubeClient = ctx.shared.api
    return k


def close_kube(ctx: StepContext) -> None:
    if ctx.shared.api is not None:
        with contextlib.suppress(Exception):
            ctx.shared.api.close()
        ctx.shared.api = None


def _is_keeper_pod(name: str) -> bool:
    return name.startswith(m.KEEPER_NAME + "-") or name == m.KEEPER_NAME


def _is_keeper_cm(name: str) -> bool:
    # the record of what was applied is meant to stay, like the keeper (remove deletes it)
    return name in (m.SCRIPT_CONFIGMAP, RECORD_CONFIGMAP)


def leftovers_of(context: str, found: Any) -> list[Leftover]:
    """The nodes adapter's label listing as Leftover rows (keeper objects marked as such)."""
    out: list[Leftover] = []
    for ns, name in found.pods:
        role = "keeper" if _is_keeper_pod(name) else "oneshot"
        out.append(Leftover(context, "Pod", ns, name, role=role))
    for ns, name in found.daemonsets:
        out.append(Leftover(context, "DaemonSet", ns, name, role="keeper"))
    for ns, name in found.configmaps:
        out.append(
            Leftover(
                context, "ConfigMap", ns, name, role="keeper" if _is_keeper_cm(name) else "oneshot"
            )
        )
    for name in found.namespaces:
        out.append(Leftover(context, "Namespace", None, name))
    return out


async def find_leftovers(ctx: StepContext) -> list[Leftover]:
    k = await kube(ctx)
    return leftovers_of(ctx.cluster.context, await k.list_leftovers())


async def delete_oneshot_pods(ctx: StepContext, run_id: str | None = None) -> int:
    """Delete one-shot pods (this run's, or all of ours when run_id is None)."""
    k = await kube(ctx)
    sel = f"{m.MANAGED_SELECTOR},{m.LABEL_ROLE}=oneshot"
    if run_id:
        sel += f",{m.LABEL_RUN}={m.label_value(run_id)}"
    pods, _rv = await k.list_pods(ctx.plan.namespace, sel)
    await asyncio.gather(
        *(k.delete_pod(ctx.plan.namespace, p["metadata"]["name"], grace_s=0) for p in pods)
    )
    return len(pods)


def _kube_contexts(kubeconfig: str | None) -> list[str]:
    # kubernetes client (~1 s of imports): loaded when a step first needs it
    from kubernetes import config

    lister: Any = config.list_kube_config_contexts
    try:
        contexts, _active = lister(config_file=kubeconfig)
    except Exception:
        return []
    return [str(c["name"]) for c in contexts or []]


async def plan_contexts(config: EngineConfig, plan: Plan | None) -> list[str]:
    """The plan's kube contexts, or every context of the kubeconfig."""
    if plan is not None:
        return [c.context for c in plan.clusters]
    return await asyncio.to_thread(_kube_contexts, config.settings.kubeconfig)


async def all_leftovers(
    config: EngineConfig,
    plan: Plan | None,
    delete: bool,
    *,
    known_plans: Collection[str] = (),
    confirmed: Collection[Leftover] | None = None,
) -> list[Leftover]:
    """Leftovers in every context we know: the plan's, or every kubeconfig context.

    What counts as left behind: one-shot pods and their ConfigMaps, and a namespace of ours
    that holds no keeper and names a plan that ran (``known_plans`` or the cluster's record;
    see ``KubeClient.list_leftovers``). A keeper DaemonSet is meant to stay (``remove`` takes
    it away). With ``confirmed`` (what the user was shown and agreed to) only those are
    deleted: anything that turned up since is left alone."""
    contexts = await plan_contexts(config, plan)
    agreed = None if confirmed is None else {_key(r) for r in confirmed}

    async def one(context: str) -> list[Leftover]:
        try:
            k = await asyncio.to_thread(open_kube, config.settings.kubeconfig, context)
        except Exception:
            return []
        try:
            found = await asyncio.wait_for(k.list_leftovers(known_plans), 30)
            rows = leftovers_of(context, found)
            keeper_ns = {r.namespace for r in rows if r.kind == "DaemonSet"}
            stray = [
                r
                for r in rows
                if (r.kind in ("Pod", "ConfigMap") and r.role == "oneshot")
                or (r.kind == "Namespace" and r.name not in keeper_ns)
            ]
            if delete and agreed is not None:
                stray = [r for r in stray if _key(r) in agreed]
            if not delete:
                return stray
            out: list[Leftover] = []
            for r in [x for x in stray if x.kind == "Pod"]:
                ok = True
                try:
                    await k.delete_pod(r.namespace or "", r.name, grace_s=0)
                except Exception:
                    ok = False
                out.append(Leftover(r.cluster, r.kind, r.namespace, r.name, r.run_id, r.role, ok))
            for r in [x for x in stray if x.kind == "ConfigMap"]:
                ok = True
                try:
                    await k.delete_owned("configmap", r.namespace or "", r.name)
                except Exception:
                    ok = False
                out.append(Leftover(r.cluster, r.kind, r.namespace, r.name, r.run_id, r.role, ok))
            for r in [x for x in stray if x.kind == "Namespace"]:
                ok = True
                try:
                    await k.delete_owned("namespace", "", r.name)
                except Exception:
                    ok = False
                out.append(Leftover(r.cluster, r.kind, None, r.name, r.run_id, r.role, ok))
            return out
        except Exception:
            return []
        finally:
            k.close()

    results = await asyncio.gather(*(one(c) for c in contexts))
    return [r for rows in results for r in rows]


def _key(r: Leftover) -> tuple[str, str, str, str]:
    """What names one leftover across two listings (``deleted`` and ``run_id`` aside)."""
    return (r.cluster, r.kind, r.namespace or "", r.name)
