"""Remove runs: restore every node, delete what delivery left in the cluster and, when asked,
undo only what our applies recorded on the log path (``undo_scan``: this machine's journals) or
what the clusters' own records name (``recorded.py``). Journalled like an apply, with its
``runoptions.RemoveOptions``, so a resume undoes the same. Cleanup of leftover pods is
``cleanup.py``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.engine import rules
from aksaudit_tui.engine.config import EngineConfig
from aksaudit_tui.engine.events import Event, RunStarted, RunWarning
from aksaudit_tui.engine.journal import RunRecord, new_run_id
from aksaudit_tui.engine.logpath_undo import LogPathUndo
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.planning import pin_image
from aksaudit_tui.engine.results import RunResult
from aksaudit_tui.engine.runkit import cancel_cleanup, finish, register_secrets
from aksaudit_tui.engine.runner import ClusterRun, emitter, run_cluster
from aksaudit_tui.engine.runoptions import RemoveOptions
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import StepContext
from aksaudit_tui.engine.steps.catalog import REMOVE_STEPS, remove_steps
from aksaudit_tui.engine.undo_scan import undo_tokens
from aksaudit_tui.nodes.image import require_digest


async def remove(
    config: EngineConfig,
    plan: Plan,
    on_event: Callable[[Event], None],
    include_log_path: bool,
    cancel: asyncio.Event,
    undo: Mapping[str, LogPathUndo] | None = None,
) -> RunResult:
    """A new remove run of ``plan`` under the clusters' locks (see ``Engine.remove``).
    ``undo``: each cluster's log-path undo as its record in the cluster holds it (a remove from
    the record, ``engine/recorded.py``); None: from this machine's journal. Either way it is
    journaled with the run, so a resume undoes the same (the record is deleted on the way).
    A remove from a record runs the image pinned to its digest here, like an apply: what runs
    as root is never named by the record (``engine/recorded.py``) nor by a mutable tag."""
    if undo is not None:
        plan = await pin_image(config.settings, plan)
        require_digest(plan.image)
    rules_text, script = rules.prepare(plan)
    rid = new_run_id()
    options = RemoveOptions(include_log_path, None if undo is None else dict(undo))
    with config.journal.locked([c.id for c in plan.clusters], rid):
        record = config.journal.create(
            plan, REMOVE_STEPS, kind="remove", run_id=rid, options=options
        )
        return await run_remove(config, plan, record, on_event, cancel, rules_text, script)


async def run_remove(
    config: EngineConfig,
    plan: Plan,
    record: RunRecord,
    on_event: Callable[[Event], None],
    cancel: asyncio.Event,
    rules_text: str,
    script: str,
) -> RunResult:
    """Run (or continue) a journalled remove run, as its journaled options ask."""
    register_secrets(config.settings)
    emit = emitter(on_event)
    options = RemoveOptions.from_json(record.options)
    include_log_path = options.include_log_path
    t0 = time.monotonic()
    emit(RunStarted(record.run_id, tuple(c.name for c in plan.clusters), REMOVE_STEPS))
    async with AsyncClients(config.settings) as clients:
        ctxs = StepContext.for_plan(
            config,
            plan,
            run_id=record.run_id,
            clients=clients,
            rules_text=rules_text,
            script_text=script,
            mode="remove",
            emit=emit,
            cancel=cancel,
            record=record,
            include_log_path=include_log_path,
        )
        runs: list[ClusterRun] = []

        async def one(ctx: StepContext) -> ClusterRun:
            if not include_log_path:
                kept = options.undo_of(ctx.cluster.name).tokens
                if kept:  # the record goes with the nodes: say where its undo steps remain
                    emit(
                        RunWarning(
                            record.run_id,
                            f"the log path stays: the {len(kept)} change(s) the cluster's record "
                            f"named are kept only in this machine's journal (run {record.run_id})"
                            "; a later remove from this machine with the log path undoes them, "
                            "a remove from the cluster cannot",
                            ctx.cluster.name,
                        )
                    )
                return await run_cluster(remove_steps(None), ctx)
            undo = (  # a remove from the clusters' records, else this machine's journal
                options.undo_of(ctx.cluster.name)
                if options.undo is not None
                else undo_tokens(config.journal, plan, ctx.cluster)
            )
            for note in undo.notes:
                emit(RunWarning(record.run_id, note, ctx.cluster.name))
            return await run_cluster(remove_steps(list(undo.tokens)), ctx)

        try:
            runs = list(await asyncio.gather(*(one(c) for c in ctxs)))
            if cancel.is_set():
                await cancel_cleanup(ctxs)
        finally:
            for ctx in ctxs:
                kubeops.close_kube(ctx)
    return finish(record, runs, None, cancel, emit, {"total_s": time.monotonic() - t0})
