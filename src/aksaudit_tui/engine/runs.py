"""Apply and resume runs: lock the clusters, journal every transition, run the steps per
cluster (``runner``), then the verify step for the clusters that got through.

Before anything changes anywhere, every cluster's access is probed: a plan error (a kube
context for another cluster) ends the run with exit 2, nothing changed and no journal.
A resume loads the journal, probes again and continues (a remove run resumes as a remove).
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from aksaudit_tui.cloud import logpaths
from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.engine import removal, rules
from aksaudit_tui.engine.config import EngineConfig
from aksaudit_tui.engine.coverage import VerifyReport
from aksaudit_tui.engine.events import (
    Event,
    RunStarted,
    RunWarning,
    StepFinished,
    StepLog,
    StepStarted,
)
from aksaudit_tui.engine.journal import RunRecord, new_run_id
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.results import RunResult
from aksaudit_tui.engine.runkit import (
    cancel_cleanup,
    cancelled_outright,
    finish,
    register_secrets,
    warn_leftovers,
)
from aksaudit_tui.engine.runner import ClusterRun, emitter, run_clusters
from aksaudit_tui.engine.runoptions import ApplyOptions
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.access import access_probe
from aksaudit_tui.engine.steps.base import StepContext
from aksaudit_tui.engine.steps.catalog import APPLY_STEPS, apply_steps
from aksaudit_tui.engine.verify import (
    after_apply_deadline_s,
    heartbeat_now,
    keeper_wait_line,
    verify_contexts,
)
from aksaudit_tui.errors import UsageError, UserError
from aksaudit_tui.nodes.image import require_digest


async def apply(
    config: EngineConfig, plan: Plan, on_event: Callable[[Event], None], cancel: asyncio.Event
) -> RunResult:
    """A new apply run of ``plan`` under the clusters' locks (see ``Engine.apply``)."""
    require_digest(plan.image)  # what runs as root must not change under the plan
    rules_text, script = rules.prepare(plan)
    run_id = new_run_id()
    with config.journal.locked([c.id for c in plan.clusters], run_id):
        return await _run(config, plan, None, on_event, cancel, rules_text, script, run_id)


async def resume(
    config: EngineConfig,
    run_id: str | None,
    on_event: Callable[[Event], None],
    cancel: asyncio.Event,
) -> RunResult:
    """Continue an unfinished run (the newest when ``run_id`` is None)."""
    journal = config.journal
    if run_id is None:
        pending = [r for r in journal.list_runs() if r.state not in ("ok", "running")]
        if not pending:
            raise UsageError("no unfinished run to resume (see `aksaudit resume --list`)")
        run_id = pending[0].run_id
    record = journal.load(run_id)
    summary = record.summary()
    if summary.state == "running":
        raise UserError(f"run {run_id} is still running in another process")
    if summary.state == "ok":
        raise UsageError(f"run {run_id} finished ok; nothing to resume")
    plan = record.plan
    rules_text, script = rules.prepare(plan)
    with journal.locked([c.id for c in plan.clusters], run_id):
        record.set(
            state="running",
            pid=os.getpid(),
            resumed=[
                *record.doc.get("resumed", []),
                datetime.now(UTC).isoformat(timespec="seconds"),
            ],
        )
        if record.kind == "remove":
            return await removal.run_remove(
                config, plan, record, on_event, cancel, rules_text, script
            )
        return await _run(config, plan, record, on_event, cancel, rules_text, script, record.run_id)


async def _preflight(ctxs: list[StepContext]) -> None:
    """Access probes for every cluster before anything changes anywhere: a plan error (a kube
    context for another cluster) stops the whole run with exit 2 and nothing changed."""

    async def one(ctx: StepContext) -> None:
        try:
            ctx.shared.access_probe = await access_probe(ctx)
        except UsageError:
            raise
        except Exception:
            return  # the access step reports it (this cluster fails, the others go on)

    await asyncio.gather(*(one(c) for c in ctxs))


async def _run(
    config: EngineConfig,
    plan: Plan,
    record: RunRecord | None,
    on_event: Callable[[Event], None],
    cancel: asyncio.Event,
    rules_text: str,
    script: str,
    run_id: str,
) -> RunResult:
    register_secrets(config.settings)
    emit = emitter(on_event)
    t0 = time.monotonic()
    started = datetime.now(UTC)  # apply's verify counts only records since then
    timings: dict[str, float] = {}
    async with AsyncClients(config.settings) as clients:
        ctxs = StepContext.for_plan(
            config,
            plan,
            run_id=run_id,
            clients=clients,
            rules_text=rules_text,
            script_text=script,
            mode="apply",
            emit=emit,
            cancel=cancel,
            record=record,
        )
        try:
            # a plan error (UsageError) ends here: one line, exit 2, nothing changed, no run;
            # what the probes report is held back until the run has started
            held: list[Event] = []
            for ctx in ctxs:
                ctx.emit = held.append
            try:
                await _preflight(ctxs)
            finally:
                for ctx in ctxs:
                    ctx.emit = emit
            timings["preflight_s"] = time.monotonic() - t0
            # the journal first, then the run id: a process killed right after announcing it
            # must leave a run that `aksaudit resume RUN_ID` finds
            if record is None:
                record = config.journal.create(
                    plan,
                    APPLY_STEPS,
                    kind="apply",
                    run_id=run_id,
                    options=ApplyOptions(config.verify_after_apply),
                )
            emit(RunStarted(run_id, tuple(c.name for c in plan.clusters), APPLY_STEPS))
            for ev in held:
                emit(ev)
            for ctx in ctxs:
                ctx.record = record
            warning = logpaths.describe(plan.log_path).warning
            if warning:
                emit(RunWarning(run_id, warning))
            await warn_leftovers(ctxs, emit, run_id)
            verify_report: VerifyReport | None = None
            try:
                runs = await run_clusters(apply_steps(plan), ctxs, config.max_clusters)
                timings["steps_s"] = time.monotonic() - t0
                ready = [
                    r
                    for r in runs
                    if r.ctx is not None
                    and not r.failed
                    and not r.interrupted
                    and len(r.outcomes) == 3
                ]
                if cancel.is_set():
                    await cancel_cleanup(ctxs)
                elif ready and config.verify_after_apply:
                    t1 = time.monotonic()
                    verify_report = await _verify_step(
                        config, plan, record, ready, emit, cancel, started
                    )
                    timings["verify_s"] = time.monotonic() - t1
                    if cancel.is_set():
                        await cancel_cleanup(ctxs)
                elif ready:
                    for r in ready:
                        record.mark(r.name, "verify", "skipped", message="--no-verify")
                        r.outcomes["verify"] = "skipped"
            except asyncio.CancelledError:
                # cancelled outright: clean up and record it before the clients close below
                await cancelled_outright(record, ctxs, cancel, emit)
                raise
            for r in runs:
                stats = r.ctx.shared.delivery_stats if r.ctx else None
                if stats is not None:
                    timings[f"{r.name}.delivery_pods"] = float(stats.pods_created)
                    timings[f"{r.name}.delivery_watch_requests"] = float(stats.watch_requests)
                    timings[f"{r.name}.delivery_calls"] = float(sum(stats.calls.values()))
        finally:
            for ctx in ctxs:
                kubeops.close_kube(ctx)
    timings["total_s"] = time.monotonic() - t0
    return finish(record, runs, verify_report, cancel, emit, timings)


async def _verify_step(
    config: EngineConfig,
    plan: Plan,
    record: RunRecord | None,
    runs: list[ClusterRun],
    emit: Callable[[Event], None],
    cancel: asyncio.Event,
    started: datetime,
) -> VerifyReport:
    """The run's last step, for every cluster that got through at once (one arrival query per
    poll for the workspace), journalled per cluster like the other steps."""
    run_id = record.run_id if record else "verify"
    ctxs = [r.ctx for r in runs if r.ctx is not None]
    left_alone = {
        r.name
        for r in runs
        if plan.delivery == "keeper" and r.outcomes.get("delivery") == "already"
    }
    for ctx in ctxs:
        if record is not None:
            record.mark(ctx.cluster.name, "verify", "running")
        emit(
            StepStarted(
                run_id,
                ctx.cluster.name,
                "verify",
                "verify: audit lines arrive in the workspace from every Linux node",
            )
        )
        if ctx.cluster.name in left_alone:
            emit(StepLog(run_id, ctx.cluster.name, "verify", keeper_wait_line(config.timing)))
    await asyncio.gather(
        *(heartbeat_now(ctx, emit, run_id) for ctx in ctxs if ctx.cluster.name in left_alone)
    )
    report = await verify_contexts(
        config,
        plan,
        ctxs,
        emit,
        cancel,
        since=timedelta(minutes=15),  # not used: started_at bounds the look-back
        deadline_s=after_apply_deadline_s(config.timing),
        run_id=run_id,
        started_at=started,
    )
    for ctx in ctxs:
        mine = [n for n in report.nodes if n.cluster == ctx.cluster.name]
        miss = [n for n in mine if not n.arrived]
        if cancel.is_set():
            outcome, msg = "interrupted", "cancelled"
        elif ctx.cluster.name in report.cluster_errors:
            outcome, msg = "failed", report.cluster_errors[ctx.cluster.name]
        elif miss:
            outcome = "failed"
            msg = f"{len(miss)}/{len(mine)} node(s) missing: " + "; ".join(
                f"{n.node}: {n.reason}" for n in miss[:3]
            )
        else:
            outcome, msg = "done", f"{len(mine)} node(s) arrived"
        if record is not None:
            record.mark(ctx.cluster.name, "verify", outcome, message=msg)
        emit(StepFinished(run_id, ctx.cluster.name, "verify", outcome, msg))  # type: ignore[arg-type]
        r = next(x for x in runs if x.name == ctx.cluster.name)
        r.outcomes["verify"] = outcome  # type: ignore[assignment]
        r.messages["verify"] = msg
    return report
