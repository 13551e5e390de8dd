"""The work behind the Engine facade: discovery to plan, apply/resume/remove runs, verify,
status, cleanup. ``service.Engine`` is the stable surface; this module may change freely."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aksaudit_tui.engine import verify as verify_mod
from aksaudit_tui.engine.coverage import StatusReport, VerifyReport
from aksaudit_tui.engine.events import (
    ClusterFound,
    DiscoveryDone,
    DiscoveryFailed,
    Event,
    RunFinished,
    RunStarted,
    RunWarning,
    StepFinished,
    StepStarted,
    SubscriptionFound,
    WorkspaceFound,
)
from aksaudit_tui.engine.journal import RunRecord, redact
from aksaudit_tui.engine.plan import (
    DEFAULT_CONCURRENCY,
    DEFAULT_IMAGE,
    DEFAULT_NAMESPACE,
    DEFAULT_PRESETS,
    LEGACY_WARNING,
    ClusterTarget,
    Plan,
    WorkspaceRef,
)
from aksaudit_tui.engine.results import Leftover, PlannedChange, RunResult
from aksaudit_tui.engine.runner import ClusterRun, emitter, run_clusters, summarise
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import ClusterShared, StepContext
from aksaudit_tui.errors import UsageError, UserError

if TYPE_CHECKING:
    from aksaudit_tui.cloud.clients import AsyncClients
    from aksaudit_tui.cloud.settings import CloudSettings
    from aksaudit_tui.engine.service import Engine

APPLY_STEPS = ("access", "log-path", "delivery", "verify")
REMOVE_STEPS = ("access", "delivery", "log-path")


# --- discovery ------------------------------------------------------------------------------------


async def discover_events(
    settings: CloudSettings, subscription: str | None
) -> AsyncIterator[Event]:
    from aksaudit_tui.cloud import discovery
    from aksaudit_tui.cloud.models import Cluster, Subscription, Workspace

    counts = {"s": 0, "c": 0, "w": 0, "e": 0}
    subs: set[str] = set()  # a subscription may be announced again (a later listing error)
    async for item in discovery.discover(settings, subscription):
        if isinstance(item, Subscription):
            subs.add(item.id)
            counts["s"] = len(subs)
            yield SubscriptionFound(item)
        elif isinstance(item, Cluster):
            # twice per cluster: as listed (complete=False), then complete (same id)
            counts["c"] += int(item.complete)
            yield ClusterFound(item)
        elif isinstance(item, Workspace):
            counts["w"] += 1
            yield WorkspaceFound(item)
        else:
            counts["e"] += 1
            yield DiscoveryFailed(item)
    yield DiscoveryDone(counts["s"], counts["c"], counts["w"], counts["e"])


def target_from_cluster(c: Any, kube_context: str | None = None) -> ClusterTarget:
    return ClusterTarget(
        name=c.name,
        id=c.id,
        subscription_id=c.subscription_id,
        resource_group=c.resource_group,
        node_resource_group=c.node_resource_group,
        location=c.location,
        kube_context=kube_context if kube_context and kube_context != c.name else None,
    )


def workspace_ref(w: Any) -> WorkspaceRef:
    return WorkspaceRef(
        name=w.name,
        id=w.id,
        customer_id=w.customer_id,
        resource_group=w.resource_group,
        subscription_id=w.subscription_id,
        location=w.location,
    )


def _abspath(path: str | None) -> str | None:
    # the plan may be written elsewhere than the cwd: keep the rules file findable
    return str(Path(path).absolute()) if path else None


async def plan_from_names(
    engine: Engine,
    *,
    clusters: Sequence[str],
    workspace: str,
    subscription: str | None = None,
    log_path: str = "container-insights",
    presets: Sequence[str] | None = None,
    custom_rules_file: str | None = None,
    facility: str = "authpriv",
    severity: str = "info",
    delivery: str = "keeper",
    namespace: str | None = None,
    image: str | None = None,
    concurrency: int | None = None,
    kube_contexts: dict[str, str] | None = None,
) -> Plan:
    """Discover, resolve names to ids, validate like a plan file."""
    from aksaudit_tui.cloud import discovery
    from aksaudit_tui.engine import plan_io

    inv = await discovery.discover_all(engine.settings, subscription)
    targets: list[ClusterTarget] = []
    for name in clusters:
        hits = [c for c in inv.clusters if c.name == name] or [
            c for c in inv.clusters if c.name.lower() == name.lower()
        ]
        if not hits:
            known = ", ".join(sorted({c.name for c in inv.clusters})) or "none"
            raise UsageError(f"--cluster {name}: no such cluster; found: {known}")
        if len(hits) > 1:
            raise UsageError(
                f"--cluster {name}: {len(hits)} clusters have that name; add --subscription ID"
            )
        targets.append(target_from_cluster(hits[0], (kube_contexts or {}).get(name)))
    wss = [w for w in inv.workspaces if w.name == workspace or w.customer_id == workspace] or [
        w for w in inv.workspaces if w.name.lower() == workspace.lower()
    ]
    if not wss:
        known = ", ".join(sorted({w.name for w in inv.workspaces})) or "none"
        raise UsageError(f"--workspace {workspace}: no such workspace; found: {known}")
    if len(wss) > 1:
        raise UsageError(f"--workspace {workspace}: ambiguous; pass its customer id (workspace ID)")
    plan = Plan(
        clusters=tuple(targets),
        workspace=workspace_ref(wss[0]),
        log_path=log_path,  # type: ignore[arg-type]
        presets=tuple(presets) if presets is not None else DEFAULT_PRESETS,
        custom_rules_file=_abspath(custom_rules_file),
        facility=facility,
        severity=severity,
        delivery=delivery,  # type: ignore[arg-type]
        namespace=namespace or DEFAULT_NAMESPACE,
        image=image or DEFAULT_IMAGE,
        concurrency=concurrency or DEFAULT_CONCURRENCY,
    )
    # Validate exactly as a file would be (facility, presets, custom rules, ...).
    text = plan_io.dumps(plan)
    try:
        return plan_io.loads(text, name="plan")
    except UsageError as exc:
        # "plan:12: unknown facility ..." -> drop the synthetic line number for flags
        msg = str(exc)
        parts = msg.split(": ", 1)
        raise UsageError(
            parts[1] if len(parts) == 2 and parts[0].startswith("plan:") else msg
        ) from None


# --- contexts -------------------------------------------------------------------------------------


def _prepare(plan: Plan) -> tuple[str, str]:
    """Rules text and node script for a plan; UsageError (exit 2) when they do not render."""
    from aksaudit_tui.engine.rules import RulesError, node_script, render_plan_rules

    base = Path(plan.source).resolve().parent if plan.source else None
    try:
        rules = render_plan_rules(plan, base_dir=base)
        script = node_script(plan, rules)
    except RulesError as exc:
        raise UsageError(str(exc)) from None
    except ValueError as exc:
        raise UsageError(str(exc).splitlines()[0]) from None
    return rules, script


def _contexts(
    engine: Engine,
    plan: Plan,
    run_id: str,
    clients: AsyncClients,
    emit: Callable[[Event], None],
    cancel: asyncio.Event,
    record: RunRecord | None,
    rules: str,
    script: str,
    mode: Any,
    include_log_path: bool = False,
) -> list[StepContext]:
    return [
        StepContext(
            run_id=run_id,
            plan=plan,
            cluster=c,
            settings=engine.settings,
            clients=clients,
            emit=emit,
            cancel=cancel,
            record=record,
            rules_text=rules,
            script_text=script,
            shared=ClusterShared(),
            mode=mode,
            include_log_path=include_log_path,
        )
        for c in plan.clusters
    ]


def apply_steps(plan: Plan) -> list[Any]:
    from aksaudit_tui.engine.steps.access import AccessStep
    from aksaudit_tui.engine.steps.delivery import DeliveryStep
    from aksaudit_tui.engine.steps.logpath import LogPathStep

    return [AccessStep(), LogPathStep(plan.log_path), DeliveryStep()]


# --- review ---------------------------------------------------------------------------------------


async def review(engine: Engine, plan: Plan) -> list[PlannedChange]:
    from aksaudit_tui.cloud.clients import AsyncClients

    rules, script = _prepare(plan)
    out: list[PlannedChange] = []
    cancel = asyncio.Event()
    async with AsyncClients(engine.settings) as clients:
        ctxs = _contexts(
            engine, plan, "review", clients, lambda e: None, cancel, None, rules, script, "review"
        )

        async def one(ctx: StepContext) -> list[PlannedChange]:
            rows: list[PlannedChange] = []
            for step in apply_steps(plan):
                try:
                    probe = await step.probe(ctx)
                except Exception as exc:
                    from aksaudit_tui.engine.runner import describe_exc

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
                warn = (
                    "; ".join([*([probe.blocking] if probe.blocking else []), *probe.warnings])
                    or None
                )
                if probe.done:
                    rows.append(
                        PlannedChange(ctx.cluster.name, step.id, step.title, "already done", warn)
                    )
                for ch in probe.changes:
                    rows.append(PlannedChange(ctx.cluster.name, step.id, ch, "will change", warn))
                if probe.blocking and step.id == "access":
                    break
            rows.append(
                PlannedChange(
                    ctx.cluster.name,
                    "verify",
                    "check audit lines arrive from every Linux node (one query)",
                    "will change",
                )
            )
            return rows

        _tune(engine, ctxs)
        try:
            for rows in await asyncio.gather(*(one(c) for c in ctxs)):
                out.extend(rows)
        finally:
            for ctx in ctxs:
                kubeops.close_kube(ctx)
    return out


# --- apply / resume -------------------------------------------------------------------------------


async def apply(
    engine: Engine, plan: Plan, on_event: Callable[[Event], None], cancel: asyncio.Event
) -> RunResult:
    rules, script = _prepare(plan)
    rid_holder: dict[str, str] = {}
    from aksaudit_tui.engine.journal import new_run_id

    rid_holder["id"] = new_run_id()
    with engine.journal.locked([c.id for c in plan.clusters], rid_holder["id"]):
        return await _run(engine, plan, None, on_event, cancel, rules, script, rid_holder["id"])


async def resume(
    engine: Engine, run_id: str | None, on_event: Callable[[Event], None], cancel: asyncio.Event
) -> RunResult:
    if run_id is None:
        pending = [r for r in engine.journal.list_runs() if r.state not in ("ok", "running")]
        if not pending:
            raise UsageError("no unfinished run to resume (see `aksaudit resume --list`)")
        run_id = pending[0].run_id
    record = engine.journal.load(run_id)
    summary = record.summary()
    if summary.state == "running":
        raise UserError(f"run {run_id} is still running in another process")
    if summary.state == "ok":
        raise UsageError(f"run {run_id} finished ok; nothing to resume")
    plan = record.plan
    rules, script = _prepare(plan)
    with engine.journal.locked([c.id for c in plan.clusters], run_id):
        import os

        record.set(
            state="running",
            pid=os.getpid(),
            resumed=[
                *record.doc.get("resumed", []),
                datetime.now(UTC).isoformat(timespec="seconds"),
            ],
        )
        if record.kind == "remove":
            return await _run_remove(
                engine,
                plan,
                record,
                on_event,
                cancel,
                rules,
                script,
                bool(record.doc.get("options", {}).get("include_log_path")),
            )
        return await _run(engine, plan, record, on_event, cancel, rules, script, record.run_id)


async def _fetch_secrets(engine: Engine) -> None:
    """Register what must never be written (the token; keys are registered by who fetches)."""
    redact(engine.settings.access_token)


async def _preflight(ctxs: list[StepContext]) -> None:
    """Access probes for every cluster before anything changes anywhere: a plan error (a kube
    context for another cluster) stops the whole run with exit 2 and nothing changed."""
    from aksaudit_tui.engine.steps.access import access_probe

    async def one(ctx: StepContext) -> None:
        try:
            ctx.shared.extra["access_probe"] = await access_probe(ctx)
        except UsageError:
            raise
        except Exception:
            return  # the access step reports it (this cluster fails, the others go on)

    await asyncio.gather(*(one(c) for c in ctxs))


def _tune(engine: Engine, ctxs: list[StepContext]) -> None:
    for ctx in ctxs:
        ctx.shared.extra["pod_deadline_s"] = engine.node_deadline_s
        ctx.shared.extra["probe_deadline_s"] = engine.review_deadline_s
        ctx.shared.extra["keeper_interval_s"] = engine.keeper_interval_s


async def _run(
    engine: Engine,
    plan: Plan,
    record: RunRecord | None,
    on_event: Callable[[Event], None],
    cancel: asyncio.Event,
    rules: str,
    script: str,
    run_id: str,
) -> RunResult:
    from aksaudit_tui.cloud.clients import AsyncClients

    await _fetch_secrets(engine)
    emit = emitter(on_event)
    t0 = time.monotonic()
    timings: dict[str, float] = {}
    async with AsyncClients(engine.settings) as clients:
        ctxs = _contexts(
            engine, plan, run_id, clients, emit, cancel, record, rules, script, "apply"
        )
        _tune(engine, ctxs)
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
            emit(RunStarted(run_id, tuple(c.name for c in plan.clusters), APPLY_STEPS))
            for ev in held:
                emit(ev)
            timings["preflight_s"] = time.monotonic() - t0
            if record is None:
                record = engine.journal.create(
                    plan,
                    APPLY_STEPS,
                    kind="apply",
                    run_id=run_id,
                    options={"verify": engine.verify_after_apply},
                )
            for ctx in ctxs:
                ctx.record = record
            if plan.log_path == "legacy-oms":
                emit(RunWarning(run_id, LEGACY_WARNING))
            await _warn_leftovers(engine, plan, ctxs, emit, run_id)
            runs = await run_clusters(apply_steps(plan), ctxs, engine.max_clusters)
            timings["steps_s"] = time.monotonic() - t0
            verify_report: VerifyReport | None = None
            ready = [
                r
                for r in runs
                if r.ctx is not None and not r.failed and not r.interrupted and len(r.outcomes) == 3
            ]
            if cancel.is_set():
                await _cancel_cleanup(ctxs, emit)
            elif ready and engine.verify_after_apply:
                t1 = time.monotonic()
                verify_report = await _verify_step(
                    engine, plan, record, ready, emit, cancel, clients
                )
                timings["verify_s"] = time.monotonic() - t1
                if cancel.is_set():
                    await _cancel_cleanup(ctxs, emit)
            elif ready:
                for r in ready:
                    record.mark(r.name, "verify", "skipped", message="--no-verify")
                    r.outcomes["verify"] = "skipped"
            for r in runs:
                stats = r.ctx.shared.extra.get("delivery_stats") if r.ctx else None
                if stats is not None:
                    timings[f"{r.name}.delivery_pods"] = float(stats.pods_created)
                    timings[f"{r.name}.delivery_watch_requests"] = float(stats.watch_requests)
        finally:
            for ctx in ctxs:
                kubeops.close_kube(ctx)
    timings["total_s"] = time.monotonic() - t0
    return _finish(record, runs, verify_report, cancel, emit, timings)


def _finish(
    record: RunRecord,
    runs: list[ClusterRun],
    report: VerifyReport | None,
    cancel: asyncio.Event,
    emit: Callable[[Event], None],
    timings: dict[str, float],
) -> RunResult:
    summary = summarise(runs)
    summary["timings"] = {k: round(v, 3) for k, v in timings.items()}
    # a verify miss is not a failed change: it ends "ok" with exit 5 (verification failed)
    failed = [r for r in runs if any(o == "failed" for k, o in r.outcomes.items() if k != "verify")]
    if report is not None:
        summary["verify"] = report.to_json()
    if cancel.is_set():
        outcome, message = "cancelled", "cancelled; `aksaudit resume` continues it"
    elif failed and len(failed) == len(runs):
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
    record.finish(outcome, message, summary)
    emit(RunFinished(record.run_id, outcome, message, summary))  # type: ignore[arg-type]
    return RunResult(record.run_id, outcome, message, summary)  # type: ignore[arg-type]


async def _verify_step(
    engine: Engine,
    plan: Plan,
    record: RunRecord | None,
    runs: list[ClusterRun],
    emit: Callable[[Event], None],
    cancel: asyncio.Event,
    clients: AsyncClients,
) -> VerifyReport:
    run_id = record.run_id if record else "verify"
    ctxs = [r.ctx for r in runs if r.ctx is not None]
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
    report = await verify_mod.verify_contexts(
        engine,
        plan,
        ctxs,
        emit,
        cancel,
        since=timedelta(minutes=15),
        deadline_s=engine.verify_deadline_s,
        run_id=run_id,
    )
    for ctx in ctxs:
        mine = [n for n in report.nodes if n.cluster == ctx.cluster.name]
        miss = [n for n in mine if not n.arrived]
        if cancel.is_set():
            outcome, msg = "interrupted", "cancelled"
        elif report.errors:
            outcome, msg = "failed", report.errors[0]
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


async def _cancel_cleanup(ctxs: list[StepContext], emit: Callable[[Event], None]) -> None:
    """Cancel: delete this run's one-shot pods (the keeper is meant to stay)."""
    for ctx in ctxs:
        with contextlib.suppress(Exception):
            await kubeops.delete_oneshot_pods(ctx, run_id=ctx.run_id)


async def _warn_leftovers(
    engine: Engine,
    plan: Plan,
    ctxs: list[StepContext],
    emit: Callable[[Event], None],
    run_id: str,
) -> None:
    for ctx in ctxs:
        try:
            found = await kubeops.find_leftovers(ctx)
        except Exception:
            continue
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


# --- verify / status ------------------------------------------------------------------------------


async def verify(
    engine: Engine,
    plan_or_run: Plan | str | None,
    since: timedelta,
    on_event: Callable[[Event], None],
    deadline_s: float,
    cancel: asyncio.Event,
) -> VerifyReport:
    from aksaudit_tui.cloud.clients import AsyncClients

    plan, run_id = _plan_of(engine, plan_or_run)
    rules, script = _prepare(plan)
    emit = emitter(on_event)
    async with AsyncClients(engine.settings) as clients:
        ctxs = _contexts(engine, plan, run_id, clients, emit, cancel, None, rules, script, "status")
        _tune(engine, ctxs)
        try:
            return await verify_mod.verify_contexts(
                engine,
                plan,
                ctxs,
                emit,
                cancel,
                since=since,
                deadline_s=deadline_s,
                run_id=run_id,
                probe_first=True,
            )
        finally:
            for ctx in ctxs:
                kubeops.close_kube(ctx)


def _plan_of(engine: Engine, plan_or_run: Plan | str | None) -> tuple[Plan, str]:
    if isinstance(plan_or_run, Plan):
        return plan_or_run, "verify"
    if plan_or_run is None:
        runs = [r for r in engine.journal.list_runs() if r.kind == "apply"]
        if not runs:
            raise UsageError("no run recorded yet; pass --plan plan.yaml or run `aksaudit apply`")
        plan_or_run = runs[0].run_id
    rec = engine.journal.load(plan_or_run)
    return rec.plan, rec.run_id


async def status(engine: Engine, cluster_name: str | None) -> StatusReport:
    from aksaudit_tui.engine import status as status_mod

    return await status_mod.status(engine, cluster_name)


# --- remove / cleanup -----------------------------------------------------------------------------


async def remove(
    engine: Engine,
    plan: Plan,
    on_event: Callable[[Event], None],
    include_log_path: bool,
    cancel: asyncio.Event,
) -> RunResult:
    rules, script = _prepare(plan)
    from aksaudit_tui.engine.journal import new_run_id

    rid = new_run_id()
    with engine.journal.locked([c.id for c in plan.clusters], rid):
        record = engine.journal.create(
            plan,
            REMOVE_STEPS,
            kind="remove",
            run_id=rid,
            options={"include_log_path": include_log_path},
        )
        return await _run_remove(
            engine, plan, record, on_event, cancel, rules, script, include_log_path
        )


def _undo_tokens(engine: Engine, plan: Plan, cluster: ClusterTarget) -> list[str]:
    tokens: list[str] = []
    for r in engine.journal.list_runs():
        if r.kind != "apply":
            continue
        with contextlib.suppress(Exception):
            rec = engine.journal.load(r.run_id)
            if rec.plan.log_path != plan.log_path:
                continue
            c = rec.doc.get("clusters", {}).get(cluster.name, {})
            tokens.extend(c.get("steps", {}).get("log-path", {}).get("undo", []) or [])
    return list(dict.fromkeys(tokens))


async def _run_remove(
    engine: Engine,
    plan: Plan,
    record: RunRecord,
    on_event: Callable[[Event], None],
    cancel: asyncio.Event,
    rules: str,
    script: str,
    include_log_path: bool,
) -> RunResult:
    from aksaudit_tui.cloud.clients import AsyncClients
    from aksaudit_tui.engine.steps.access import AccessStep
    from aksaudit_tui.engine.steps.delivery import RemoveDeliveryStep
    from aksaudit_tui.engine.steps.logpath import RemoveLogPathStep

    await _fetch_secrets(engine)
    emit = emitter(on_event)
    t0 = time.monotonic()
    emit(RunStarted(record.run_id, tuple(c.name for c in plan.clusters), REMOVE_STEPS))
    async with AsyncClients(engine.settings) as clients:
        ctxs = _contexts(
            engine,
            plan,
            record.run_id,
            clients,
            emit,
            cancel,
            record,
            rules,
            script,
            "remove",
            include_log_path,
        )
        runs: list[ClusterRun] = []

        async def one(ctx: StepContext) -> ClusterRun:
            from aksaudit_tui.engine.runner import run_cluster

            steps: list[Any] = [AccessStep(for_remove=True), RemoveDeliveryStep()]
            if include_log_path:
                steps.append(RemoveLogPathStep(_undo_tokens(engine, plan, ctx.cluster)))
            return await run_cluster(steps, ctx)

        _tune(engine, ctxs)
        try:
            runs = list(await asyncio.gather(*(one(c) for c in ctxs)))
            if cancel.is_set():
                await _cancel_cleanup(ctxs, emit)
        finally:
            for ctx in ctxs:
                kubeops.close_kube(ctx)
    return _finish(record, runs, None, cancel, emit, {"total_s": time.monotonic() - t0})


async def leftovers(engine: Engine, plan: Plan | None) -> list[Leftover]:
    from aksaudit_tui.engine.steps import kubeops

    return await kubeops.all_leftovers(engine, plan, delete=False)


async def cleanup(engine: Engine, dry_run: bool) -> list[Leftover]:
    from aksaudit_tui.engine.steps import kubeops

    return await kubeops.all_leftovers(engine, None, delete=not dry_run)
