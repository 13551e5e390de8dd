"""What apply and remove runs share: secrets registered before any write, one-shot pods
deleted on cancel, leftovers warned about, and the run's final outcome (journal, event, result).

The outcome rule: all clusters failed -> "failed"; some -> "partial" (``resume`` retries them);
cancel -> "cancelled"; a verify miss is not a failed change: "ok", and the CLI exits 5.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from aksaudit_tui.cloud.settings import CloudSettings
from aksaudit_tui.engine.coverage import VerifyReport
from aksaudit_tui.engine.events import Event, RunFinished, RunWarning
from aksaudit_tui.engine.journal import RunRecord, redact
from aksaudit_tui.engine.results import RunResult
from aksaudit_tui.engine.runner import ClusterRun, summarise
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import StepContext


def register_secrets(settings: CloudSettings) -> None:
    """Register what must never be written (the token; keys are registered by who fetches)."""
    redact(settings.access_token)


async def cancel_cleanup(ctxs: list[StepContext]) -> None:
    """Cancel: delete this run's one-shot pods (the keeper is meant to stay)."""
    for ctx in ctxs:
        with contextlib.suppress(Exception):
            await kubeops.delete_oneshot_pods(ctx, run_id=ctx.run_id)


async def cancelled_outright(
    record: RunRecord, ctxs: list[StepContext], cancel: asyncio.Event, emit: Callable[[Event], None]
) -> None:
    """The run's own task was cancelled (the engine thread's last resort once a safe stop ran
    out of time): its steps have unwound already (``runner``: each rollout deleted its pods),
    so delete what is left of this run's one-shot pods while the clients are still open, and
    record the run as cancelled (``aksaudit resume`` continues it). The caller re-raises."""
    cancel.set()  # anything still looking at the event stops starting work
    await cancel_cleanup(ctxs)
    message = "cancelled; `aksaudit resume` continues it"
    record.finish("cancelled", message)
    emit(RunFinished(record.run_id, "cancelled", message, record.doc.get("summary") or {}))


async def warn_leftovers(
    ctxs: list[StepContext], emit: Callable[[Event], None], run_id: str
) -> None:
    """A RunWarning per cluster that still holds one-shot pods of an earlier run."""
    for ctx in ctxs:
        try:
            found = await kubeops.find_leftovers(ctx)
        except Exception:
            continue  # a warning only: the access step reports an unreachable cluster
        pods = [f for f in found if f.kind == "Pod" and f.role == "oneshot" and f.run_id != run_id]
        if pods:
            emit(
                RunWarning(
                    run_id,
                    f"{len(pods)} one-shot pod(s) from an earlier run are still present "
                    f"({', '.join(p.name for p in pods[:3])}); `aksaudit cleanup` deletes them",
                    ctx.cluster.name,
                )
            )


def _partly_done(run: ClusterRun) -> bool:
    """A failed step of this cluster did part of its work (e.g. some nodes restored)."""
    return run.ctx is not None and bool(run.ctx.shared.partly_done)


def finish(
    record: RunRecord,
    runs: list[ClusterRun],
    report: VerifyReport | None,
    cancel: asyncio.Event,
    emit: Callable[[Event], None],
    timings: dict[str, float],
) -> RunResult:
    """Record the run's outcome in the journal, emit RunFinished, return the RunResult."""
    summary = summarise(runs)
    summary["timings"] = {k: round(v, 3) for k, v in timings.items()}
    # a verify miss is not a failed change: it ends "ok" with exit 5 (verification failed)
    failed = [r for r in runs if any(o == "failed" for k, o in r.outcomes.items() if k != "verify")]
    if report is not None:
        summary["verify"] = report.to_json()
    if cancel.is_set():
        outcome, message = "cancelled", "cancelled; `aksaudit resume` continues it"
    elif failed and len(failed) == len(runs) and not any(_partly_done(r) for r in failed):
        outcome = "failed"
        first = failed[0]
        step = next(k for k, v in first.outcomes.items() if v == "failed" and k != "verify")
        message = f"{first.name} {step}: {first.messages.get(step, '')}"
    elif failed:
        outcome = "partial"
        message = ", ".join(f"{r.name} failed" for r in failed) + "; `aksaudit resume` retries"
    else:
        outcome, message = "ok", ""
    verified: bool | None = None if report is None else report.ok
    summary["verified"] = verified
    if outcome == "ok" and report is not None and not report.ok:
        missing = len(report.missing)
        message = f"{missing} node(s) sent no audit lines yet; see `aksaudit verify`"
        if report.errors:  # a workspace or cluster could not be read: say which, not "yet"
            message = f"{missing} node(s) not verified: {report.errors[0]}"
    record.finish(outcome, message, summary)
    emit(RunFinished(record.run_id, outcome, message, summary))  # type: ignore[arg-type]
    return RunResult(record.run_id, outcome, message, summary)  # type: ignore[arg-type]
