"""Run steps per cluster (clusters concurrently, bounded), journal every transition, emit events,
honour cancel.

Per cluster the steps run in order; a failed step stops that cluster (its later steps stay
pending, so a resume continues there). Cancel: nothing new starts, the step in flight is
cancelled and recorded as ``interrupted``.

Cancellation is structured: every step runs in a task group of its cluster and every cluster
in one of the run, so a run whose own task is cancelled outright (the engine thread's last
resort after its safe stop ran out of time) first cancels its steps and waits until they have
unwound (a rollout's ``finally`` deletes its one-shot pods) before the run's caller closes the
kube clients under them. An orphaned step task would otherwise carry on against closed
clients, leave its privileged pods behind and die with the loop ("Task was destroyed but it
is pending").
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aksaudit_tui.cloud.errors import describe
from aksaudit_tui.engine.events import Event, StepFinished, StepLog, StepOutcome, StepStarted
from aksaudit_tui.engine.journal import RunRecord, scrub
from aksaudit_tui.engine.steps.base import Cancelled, Probe, Step, StepContext, StepFailed
from aksaudit_tui.errors import UserError


@dataclass
class ClusterRun:
    """What one cluster's steps ended with: outcome, message and seconds per step id."""

    name: str
    outcomes: dict[str, StepOutcome] = field(default_factory=dict)
    messages: dict[str, str] = field(default_factory=dict)
    seconds: dict[str, float] = field(default_factory=dict)
    ctx: StepContext | None = None

    @property
    def failed(self) -> bool:
        return any(o == "failed" for o in self.outcomes.values())

    @property
    def interrupted(self) -> bool:
        return any(o == "interrupted" for o in self.outcomes.values())

    @property
    def changed(self) -> bool:
        return any(o == "done" for o in self.outcomes.values())


def describe_exc(exc: BaseException) -> str:
    """One line for an exception from a step, whatever raised it; secrets scrubbed."""
    if isinstance(exc, StepFailed | UserError):
        return scrub(str(exc))
    try:
        # azure-core (~0.2 s of imports): loaded only when an error needs describing
        from azure.core.exceptions import AzureError

        if isinstance(exc, AzureError):
            info = describe(exc)
            return scrub(
                f"{info.message} ({info.code})" if info.code not in info.message else info.message
            )
    except ImportError:  # pragma: no cover
        pass
    try:
        # kubernetes client (~1 s of imports): loaded only when an error needs describing
        from kubernetes.client.exceptions import ApiException

        if isinstance(exc, ApiException):
            reason = exc.reason or ""
            with contextlib.suppress(ValueError, TypeError):
                body = json.loads(exc.body or "")
                reason = body.get("message") or reason
            return scrub(f"Kubernetes API {exc.status}: {reason}")
    except ImportError:  # pragma: no cover
        pass
    text = " ".join(str(exc).split()) or type(exc).__name__
    return scrub(f"{type(exc).__name__}: {text[:300]}")


async def run_step(
    step: Step, ctx: StepContext, times: dict[str, float]
) -> tuple[StepOutcome, str]:
    """probe -> (apply -> verify) for one step on one cluster; never raises but CancelledError."""
    rec: RunRecord | None = ctx.record
    name = ctx.cluster.name
    t0 = time.monotonic()
    if ctx.cancel.is_set():
        return "interrupted", "cancelled before start"
    if rec is not None:
        rec.mark(name, step.id, "running")
    probe: Probe | None = None
    try:
        probe = await step.probe(ctx)
        ctx.emit(StepStarted(ctx.run_id, name, step.id, step.title, tuple(probe.changes)))
        for w in probe.warnings:
            ctx.emit(StepLog(ctx.run_id, name, step.id, w, level="warning"))
        if probe.blocking:
            raise StepFailed(probe.blocking)
        if probe.done:
            outcome: StepOutcome = "already"
            message = probe.note or "already done"
        else:
            if rec is not None:
                rec.mark(name, step.id, "running", changes=list(probe.changes))
            ctx.check_cancel()
            await step.apply(ctx, probe)
            ctx.check_cancel()
            await step.verify(ctx)
            outcome, message = "done", f"{len(probe.changes)} change(s) made"
    except (Cancelled, asyncio.CancelledError):
        if probe is None:
            ctx.emit(StepStarted(ctx.run_id, name, step.id, step.title, ()))
        outcome, message = "interrupted", "cancelled"
    except Exception as exc:
        if probe is None:
            ctx.emit(StepStarted(ctx.run_id, name, step.id, step.title, ()))
        outcome, message = "failed", describe_exc(exc)
        if isinstance(exc, StepFailed) and exc.partial:
            ctx.shared.partly_done.add(step.id)
    times[step.id] = time.monotonic() - t0
    if rec is not None:
        rec.mark(
            name,
            step.id,
            outcome,
            message=message,
            seconds=round(times[step.id], 3),
        )
    ctx.emit(StepFinished(ctx.run_id, name, step.id, outcome, message))
    return outcome, message


async def run_cluster(steps: Sequence[Step], ctx: StepContext) -> ClusterRun:
    """The steps in order on one cluster; stops at the first failed or interrupted step (the
    later ones stay pending for a resume); a cancel cuts the step in flight off after 2 s.
    Cancelled itself, it cancels the step in flight and returns (raising) only once that step
    has unwound (recorded as interrupted, its pods deleted)."""
    cr = ClusterRun(ctx.cluster.name, ctx=ctx)
    for step in steps:
        # The task group owns the step and the cancel watch: whatever ends this block (a
        # CancelledError of this task included), both are cancelled and awaited first.
        async with asyncio.TaskGroup() as group:
            task = group.create_task(run_step(step, ctx, cr.seconds))
            cancel_wait = group.create_task(ctx.cancel.wait())
            done, _ = await asyncio.wait({task, cancel_wait}, return_when=asyncio.FIRST_COMPLETED)
            if task not in done:
                # cancel set while the step runs: give it a moment to notice, then cut it off
                with contextlib.suppress(asyncio.TimeoutError):
                    await asyncio.wait_for(asyncio.shield(task), timeout=2.0)
                if not task.done():
                    task.cancel()
                    await asyncio.wait({task})  # run_step records itself "interrupted"
            cancel_wait.cancel()
        outcome: StepOutcome
        if task.cancelled():  # cut off before its first line ran: nothing recorded it
            outcome, message = "interrupted", "cancelled"
            if ctx.record is not None:
                ctx.record.mark(ctx.cluster.name, step.id, outcome, message=message)
            ctx.emit(StepFinished(ctx.run_id, ctx.cluster.name, step.id, outcome, message))
        else:
            outcome, message = task.result()
        cr.outcomes[step.id] = outcome
        cr.messages[step.id] = message
        if outcome in ("failed", "interrupted"):
            break
    return cr


async def run_clusters(
    steps: Sequence[Step],
    contexts: Sequence[StepContext],
    max_clusters: int,
) -> list[ClusterRun]:
    """``run_cluster`` for every context, at most ``max_clusters`` at once; a cluster not yet
    started when cancel is set does not start. One ClusterRun per context, in order. Cancelled,
    it returns (raising) only once every cluster's step in flight has unwound."""
    sem = asyncio.Semaphore(max(1, max_clusters))

    async def one(ctx: StepContext) -> ClusterRun:
        async with sem:
            if ctx.cancel.is_set():
                return ClusterRun(ctx.cluster.name, {}, {}, {}, ctx)
            return await run_cluster(steps, ctx)

    async with asyncio.TaskGroup() as group:
        tasks = [group.create_task(one(c)) for c in contexts]
    return [t.result() for t in tasks]


def emitter(on_event: Callable[[Event], None]) -> Callable[[Event], None]:
    """Wrap the caller's sink: a renderer bug must never break a run."""

    def emit(ev: Event) -> None:
        with contextlib.suppress(Exception):
            on_event(ev)

    return emit


def summarise(runs: Sequence[ClusterRun]) -> dict[str, Any]:
    """The journal's and RunResult's per-cluster summary (outcomes, seconds, errors)."""
    return {
        "clusters": {
            r.name: {
                "steps": dict(r.outcomes),
                "seconds": {k: round(v, 3) for k, v in r.seconds.items()},
                **(
                    {
                        "errors": {
                            k: m for k, m in r.messages.items() if r.outcomes.get(k) == "failed"
                        }
                    }
                    if r.failed
                    else {}
                ),
            }
            for r in runs
        }
    }
