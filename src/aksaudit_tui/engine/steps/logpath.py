"""Log-path step: the plan's log path from the registry (``cloud/logpaths``), whose adapter
probes, applies and removes; its title and warning are the ones the adapter declares."""

from __future__ import annotations

from typing import Any

from aksaudit_tui.cloud import logpaths
from aksaudit_tui.cloud.logpaths import LeftAlone
from aksaudit_tui.cloud.models import Workspace
from aksaudit_tui.engine.azure import read_cluster
from aksaudit_tui.engine.steps.base import Probe, StepContext, StepFailed
from aksaudit_tui.engine.steps.record import plan_hash


def workspace_model(ctx: StepContext) -> Any:
    """The cluster's workspace (its own, else the plan's) as the log-path adapters take it."""
    w = ctx.plan.workspace_for(ctx.cluster)
    return Workspace(
        id=w.id,
        name=w.name,
        customer_id=w.customer_id,
        location=w.location,
        resource_group=w.resource_group,
        subscription_id=w.subscription_id,
    )


def adapter(ctx: StepContext) -> logpaths.LogPath:
    return logpaths.get_log_path(
        ctx.plan.log_path,
        ctx.clients,
        ctx.plan.concurrency,
        ctx.plan.repoint_agent,
        plan_hash(ctx.plan),
    )


async def cloud_cluster(ctx: StepContext) -> Any:
    """The cluster as ARM has it now (cached for the run's later steps)."""
    if ctx.shared.cloud_cluster is None:
        ctx.shared.cloud_cluster = await read_cluster(ctx.clients, ctx.cluster)
    return ctx.shared.cloud_cluster


class LogPathStep:
    id = "log-path"

    def __init__(self, log_path: str) -> None:
        path = logpaths.LOG_PATHS.get(log_path)
        self.title = f"log path: {path.summary if path else log_path}"

    async def probe(self, ctx: StepContext) -> Probe:
        cluster = await cloud_cluster(ctx)
        state = await adapter(ctx).probe(
            cluster, workspace_model(ctx), ctx.plan.facility, ctx.plan.severity
        )
        ctx.shared.log_path_probe = state
        warnings = list(state.warnings)
        warning = logpaths.describe(ctx.plan.log_path).warning
        if warning and warning not in warnings:
            warnings.insert(0, warning)
        return Probe(
            changes=[] if state.ok else list(state.changes),
            warnings=warnings,
            blocking=state.blocking,
            data={"details": dict(state.details)},
        )

    async def apply(self, ctx: StepContext, probe: Probe) -> None:
        cluster = await cloud_cluster(ctx)
        changes = await adapter(ctx).apply(
            cluster, workspace_model(ctx), ctx.plan.facility, ctx.plan.severity
        )
        undo = [c.undo for c in changes if c.undo]
        for c in changes:
            ctx.log(self.id, c.description)
        if ctx.record is not None and undo:
            prev = ctx.record.step(ctx.cluster.name, self.id).get("undo") or []
            ctx.record.mark(
                ctx.cluster.name, self.id, "running", undo=list(dict.fromkeys([*prev, *undo]))
            )
        ctx.shared.cloud_cluster = None  # changed: read it again

    async def verify(self, ctx: StepContext) -> None:
        cluster = await cloud_cluster(ctx)
        state = await adapter(ctx).probe(
            cluster, workspace_model(ctx), ctx.plan.facility, ctx.plan.severity
        )
        ctx.shared.log_path_probe = state
        if not state.ok:
            raise StepFailed(
                "log path still not in place after apply: " + "; ".join(state.changes[:3])
            )


class RemoveLogPathStep:
    """Undo only what our applies recorded (undo tokens from every journal of this cluster)."""

    id = "log-path"
    title = "log path: remove what aksaudit added"

    def __init__(self, undo: list[str]) -> None:
        self.undo = undo

    async def probe(self, ctx: StepContext) -> Probe:
        if not self.undo:
            return Probe()
        return Probe(changes=[f"undo: {u}" for u in self.undo])

    async def apply(self, ctx: StepContext, probe: Probe) -> None:
        cluster = await cloud_cluster(ctx)
        done = await adapter(ctx).remove(cluster, workspace_model(ctx), self.undo)
        for line in done:  # what it was asked to undo and left (not ours) is a warning
            ctx.log(self.id, line, level="warning" if isinstance(line, LeftAlone) else "info")

    async def verify(self, ctx: StepContext) -> None:
        return None
