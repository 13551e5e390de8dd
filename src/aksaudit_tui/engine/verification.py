"""The verify operation on its own (``aksaudit verify``): which plan (given, a run's, or the
newest apply's), one context per cluster, then ``verify.verify_contexts``. Changes nothing."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import timedelta

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.engine import rules
from aksaudit_tui.engine.config import EngineConfig
from aksaudit_tui.engine.coverage import VerifyReport
from aksaudit_tui.engine.events import Event
from aksaudit_tui.engine.journal import Journal
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.runner import emitter
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import StepContext
from aksaudit_tui.engine.verify import verify_contexts
from aksaudit_tui.errors import UsageError


async def verify(
    config: EngineConfig,
    plan_or_run: Plan | str | None,
    since: timedelta,
    on_event: Callable[[Event], None],
    deadline_s: float,
    cancel: asyncio.Event,
    *,
    probe_nodes: bool = False,
) -> VerifyReport:
    """See ``Engine.verify``."""
    plan, run_id = plan_of(config.journal, plan_or_run)
    rules_text, script = rules.prepare(plan)
    emit = emitter(on_event)
    async with AsyncClients(config.settings) as clients:
        ctxs = StepContext.for_plan(
            config,
            plan,
            run_id=run_id,
            clients=clients,
            rules_text=rules_text,
            script_text=script,
            mode="status",
            emit=emit,
            cancel=cancel,
            probe_nodes=probe_nodes,
        )
        try:
            return await verify_contexts(
                config,
                plan,
                ctxs,
                emit,
                cancel,
                since=since,
                deadline_s=deadline_s,
                run_id=run_id,
                probe_first=True,
                probe_nodes=probe_nodes,
            )
        finally:
            for ctx in ctxs:
                kubeops.close_kube(ctx)


def plan_of(journal: Journal, plan_or_run: Plan | str | None) -> tuple[Plan, str]:
    """(plan, run id) to verify: a plan as given, a run's plan, or the newest apply's."""
    if isinstance(plan_or_run, Plan):
        return plan_or_run, "verify"
    if plan_or_run is None:
        runs = [r for r in journal.list_runs() if r.kind == "apply"]
        if not runs:
            raise UsageError("no run recorded yet; pass --plan plan.yaml or run `aksaudit apply`")
        plan_or_run = runs[0].run_id
    rec = journal.load(plan_or_run)
    return rec.plan, rec.run_id
