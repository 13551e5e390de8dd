"""Access step: can we read the cluster in ARM, is the kube context this cluster, may our
privileged pod run in the namespace. Changes nothing; fails with what to fix."""

from __future__ import annotations

from aksaudit_tui.cloud import logpaths
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import Probe, StepContext
from aksaudit_tui.engine.steps.logpath import cloud_cluster
from aksaudit_tui.errors import UsageError

EGRESS_NOTE = (
    "nodes install auditd from their OS package repositories (apt / tdnf): clusters with "
    "locked-down egress must allow them"
)


class AccessStep:
    id = "access"
    title = "access: Azure read, kube context identity, admission dry run"

    def __init__(self, for_remove: bool = False) -> None:
        self.for_remove = for_remove

    async def probe(self, ctx: StepContext) -> Probe:
        cached, ctx.shared.access_probe = ctx.shared.access_probe, None
        if cached is not None:
            return cached
        return await access_probe(ctx, self.for_remove)

    async def apply(self, ctx: StepContext, probe: Probe) -> None:
        return None

    async def verify(self, ctx: StepContext) -> None:
        return None


async def access_probe(ctx: StepContext, for_remove: bool = False) -> Probe:
    """Raises UsageError (bad kube context: exit 2, nothing changed) or UserError/Azure errors."""
    warnings: list[str] = []
    cluster = await cloud_cluster(ctx)
    k = await kubeops.kube(ctx)
    try:
        nodes = await k.check_identity(ctx.cluster.node_resource_group)
    except UsageError as exc:
        # say how to fix it in this tool's terms (the plan's kube_context)
        msg = str(exc).split("; pass --context")[0]
        raise UsageError(
            f"{ctx.cluster.name}: {msg}; set kube_context for {ctx.cluster.name} in the plan "
            "(or `aksaudit plan --kube-context CLUSTER=CONTEXT`)"
        ) from None
    ctx.shared.nodes = list(nodes)
    skipped = [n for n in nodes if n.skip_reason]
    for n in nodes:
        if n.skip_reason:
            ctx.node_update(n.name, n.pool, n.os_sku or n.os, "skipped", result=n.skip_reason or "")
        else:
            ctx.node_update(n.name, n.pool, n.os_sku or n.os, "pending")
    if not for_remove:
        # before this run's fence: a denial by our own fence is fine (re-made before any pod)
        note = await k.check_admission(ctx.plan.namespace, ctx.plan.image, None)
        if note:
            ctx.log("access", note)
        path = logpaths.describe(ctx.plan.log_path)
        if path.touches_scale_sets and (cluster.lockdown or "").lower() == "readonly":
            instead = next(a.name for a in logpaths.ADAPTERS if not a.touches_scale_sets)
            return Probe(
                blocking=(
                    "node resource group lockdown (restrictionLevel ReadOnly) on "
                    f"{ctx.cluster.name} "
                    f"denies the scale-set changes the {ctx.plan.log_path} path needs; use "
                    f"log_path: {instead}"
                )
            )
        if path.warning:
            warnings.append(path.warning)
        ctx.log("access", EGRESS_NOTE)
    eligible = len(nodes) - len(skipped)
    ctx.log(
        "access",
        f"{len(nodes)} node(s): {eligible} to configure, {len(skipped)} skipped"
        + (f" ({'; '.join(sorted({n.skip_reason or '' for n in skipped}))})" if skipped else ""),
    )
    return Probe(
        warnings=warnings,
        data={"nodes": len(nodes), "skipped": len(skipped)},
        note=f"checks passed; {eligible} Linux node(s) to configure, {len(skipped)} skipped",
    )
