"""Review: probe every step of every cluster and list what an apply (or a remove) would change;
nothing is changed. A probe that cannot run is a row with the reason ("cannot check: ..."), not
an error."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.engine import rules
from aksaudit_tui.engine.config import EngineConfig
from aksaudit_tui.engine.logpath_undo import LogPathUndo
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.results import PlannedChange
from aksaudit_tui.engine.runner import describe_exc
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import Step, StepContext
from aksaudit_tui.engine.steps.catalog import apply_steps, remove_steps
from aksaudit_tui.engine.undo_scan import undo_tokens


async def review(
    config: EngineConfig, plan: Plan, *, probe_nodes: bool = False
) -> list[PlannedChange]:
    """The planned changes per cluster and step, in plan order (see ``Engine.review``)."""
    return await _each_cluster(config, plan, _apply_rows, probe_nodes=probe_nodes)


async def review_remove(
    config: EngineConfig,
    plan: Plan,
    *,
    include_log_path: bool,
    undo: Mapping[str, LogPathUndo] | None = None,
) -> list[PlannedChange]:
    """What a remove of ``plan`` would do per cluster and step, probing exactly the steps
    ``removal.remove`` runs (with ``include_log_path``: the log-path undo our applies recorded);
    nothing is changed and no pod starts."""

    async def one(ctx: StepContext) -> list[PlannedChange]:
        if not include_log_path:
            return await _rows(ctx, remove_steps(None))
        if undo is not None:  # from the clusters' records
            todo = undo.get(ctx.cluster.name) or LogPathUndo()
            nothing = "log path: the cluster's record names nothing to undo"
        else:
            todo = undo_tokens(config.journal, plan, ctx.cluster)
            nothing = "log path: nothing recorded by an apply from this machine to undo"
        rows = await _rows(ctx, remove_steps(list(todo.tokens)))
        if not todo.tokens:
            rows.append(PlannedChange(ctx.cluster.name, "log-path", nothing, "already done"))
        if todo.notes:  # said on each log-path row: what will not be undone, and why
            rows = [_warned(r, "; ".join(todo.notes)) if r.step == "log-path" else r for r in rows]
        return rows

    return await _each_cluster(config, plan, one, include_log_path=include_log_path)


def _warned(row: PlannedChange, note: str) -> PlannedChange:
    return replace(row, warning=f"{row.warning}; {note}" if row.warning else note)


async def _each_cluster(
    config: EngineConfig,
    plan: Plan,
    rows_for: Callable[[StepContext], Awaitable[list[PlannedChange]]],
    *,
    probe_nodes: bool = False,
    include_log_path: bool = False,
) -> list[PlannedChange]:
    """``rows_for`` every cluster of ``plan`` at once, in plan order, each on a review context
    (nothing is changed; no pod starts unless ``probe_nodes``)."""
    rules_text, script = rules.prepare(plan)
    out: list[PlannedChange] = []
    async with AsyncClients(config.settings) as clients:
        ctxs = StepContext.for_plan(
            config,
            plan,
            run_id="review",
            clients=clients,
            rules_text=rules_text,
            script_text=script,
            mode="review",
            probe_nodes=probe_nodes,
            include_log_path=include_log_path,
        )
        try:
            for rows in await asyncio.gather(*(rows_for(ctx) for ctx in ctxs)):
                out.extend(rows)
        finally:
            for ctx in ctxs:
                kubeops.close_kube(ctx)
    return out


async def _apply_rows(ctx: StepContext) -> list[PlannedChange]:
    rows = await _rows(ctx, apply_steps(ctx.plan))
    rows.append(
        PlannedChange(
            ctx.cluster.name,
            "verify",
            "check audit lines arrive from every Linux node (one query)",
            "will change",
        )
    )
    return rows


async def _rows(ctx: StepContext, steps: list[Step]) -> list[PlannedChange]:
    rows: list[PlannedChange] = []
    for step in steps:
        try:
            probe = await step.probe(ctx)
        except Exception as exc:
            rows.append(
                PlannedChange(
                    ctx.cluster.name,
                    step.id,
                    step.title,
                    "will change",
                    warning=f"cannot check: {describe_exc(exc)}",
                )
            )
            if step.id == "access":
                break
            continue
        warn = "; ".join([*([probe.blocking] if probe.blocking else []), *probe.warnings]) or None
        if probe.done:
            rows.append(PlannedChange(ctx.cluster.name, step.id, step.title, "already done", warn))
        for ch in probe.changes:
            rows.append(PlannedChange(ctx.cluster.name, step.id, ch, "will change", warn))
        if probe.blocking and step.id == "access":
            break
    return rows
