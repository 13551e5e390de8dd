"""Remove runs and cleanup: restore every node, delete what delivery left in the cluster and,
when asked, undo only what our applies recorded on the log path; list or delete the privileged
pods earlier runs left behind."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aksaudit_tui.cloud.clients import AsyncClients
from aksaudit_tui.engine import rules
from aksaudit_tui.engine.config import EngineConfig
from aksaudit_tui.engine.events import Event, RunStarted, RunWarning
from aksaudit_tui.engine.journal import Journal, RunRecord, new_run_id
from aksaudit_tui.engine.plan import ClusterTarget, Plan
from aksaudit_tui.engine.planning import pin_image
from aksaudit_tui.engine.results import Leftover, RunResult
from aksaudit_tui.engine.runkit import cancel_cleanup, finish, register_secrets
from aksaudit_tui.engine.runner import ClusterRun, emitter, run_cluster
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.base import StepContext
from aksaudit_tui.engine.steps.catalog import REMOVE_STEPS, remove_steps
from aksaudit_tui.engine.steps.record import plan_hash
from aksaudit_tui.errors import UserError
from aksaudit_tui.nodes.image import require_digest
from aksaudit_tui.nodes.record import words


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
    options: dict[str, Any] = {"include_log_path": include_log_path}
    if undo is not None:
        options["undo"] = {name: u.to_json() for name, u in undo.items()}
    with config.journal.locked([c.id for c in plan.clusters], rid):
        record = config.journal.create(
            plan, REMOVE_STEPS, kind="remove", run_id=rid, options=options
        )
        return await run_remove(
            config, plan, record, on_event, cancel, rules_text, script, include_log_path
        )


@dataclass(frozen=True)
class LogPathUndo:
    """What a remove undoes on one cluster's log path: the undo tokens (oldest first) and one
    line per thing the user must know about them (a journal that could not be read, a token
    not recorded in the cluster)."""

    tokens: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    def to_json(self) -> dict[str, list[str]]:
        return {"tokens": list(self.tokens), "notes": list(self.notes)}

    @classmethod
    def from_json(cls, data: Any) -> LogPathUndo:
        """Read back from a remove run's journal (shapes checked: a hand-edited file)."""
        d = data if isinstance(data, dict) else {}
        return cls(words(d, "tokens"), words(d, "notes"))


def undo_tokens(journal: Journal, plan: Plan, cluster: ClusterTarget) -> LogPathUndo:
    """The log-path undo tokens every apply of this log path recorded for the cluster in this
    machine's journal, and those a remove from the cluster's record kept when it left the log
    path as it was (the record went with the nodes; its tokens stay in that run's options, as
    the run's warning says). A journal that cannot be read holds no token we could trust: it
    is skipped, and a note says which one and why (its changes stay unless undone by hand)."""
    tokens: list[str] = []
    unreadable: list[str] = []
    runs = journal.list_runs(unreadable)
    notes = [_unreadable(f"journal {where}") for where in unreadable]
    for r in runs:
        if r.kind not in ("apply", "remove"):
            continue
        try:
            rec = journal.load(r.run_id)
            log_path = rec.plan.log_path
        except UserError as exc:  # gone since listed, bad JSON, another journal version
            notes.append(_unreadable(f"journal of run {r.run_id} ({exc})"))
            continue
        except OSError as exc:  # unreadable file (permissions, I/O)
            notes.append(_unreadable(f"journal of run {r.run_id} ({exc.strerror or exc})"))
            continue
        except (KeyError, TypeError, ValueError) as exc:  # a plan the journal mangled
            notes.append(_unreadable(f"journal of run {r.run_id} (malformed plan: {exc!r})"))
            continue
        if log_path != plan.log_path:
            continue
        if r.kind == "apply":
            tokens.extend(_journaled_undo(rec, cluster.name))
        else:
            tokens.extend(_kept_undo(rec, cluster.name))
    return LogPathUndo(tuple(dict.fromkeys(tokens)), tuple(notes))


def _kept_undo(rec: RunRecord, cluster: str) -> tuple[str, ...]:
    """The tokens a remove from the cluster's record left undone for ``cluster`` (it kept the
    log path): already checked to name the cluster's own resources when that remove was built."""
    options = rec.doc.get("options")
    options = options if isinstance(options, dict) else {}
    given = options.get("undo")
    if options.get("include_log_path") is not False or not isinstance(given, dict):
        return ()
    return LogPathUndo.from_json(given.get(cluster)).tokens


def _unreadable(journal: str) -> str:
    """One line: which journal could not be read and why, and what that means for the remove."""
    return f"{journal} could not be read: the log path changes it recorded (if any) stay"


def _journaled_undo(rec: RunRecord, cluster: str) -> list[str]:
    """The undo tokens one apply journaled for ``cluster`` (shapes checked, not trusted)."""
    undo: Any = rec.doc.get("clusters")
    for key in (cluster, "steps", "log-path", "undo"):  # read only: never add what is missing
        undo = undo.get(key) if isinstance(undo, dict) else None
    return [t for t in undo if isinstance(t, str)] if isinstance(undo, list) else []


async def run_remove(
    config: EngineConfig,
    plan: Plan,
    record: RunRecord,
    on_event: Callable[[Event], None],
    cancel: asyncio.Event,
    rules_text: str,
    script: str,
    include_log_path: bool,
) -> RunResult:
    """Run (or continue) a journalled remove run."""
    register_secrets(config.settings)
    emit = emitter(on_event)
    given = (record.doc.get("options") or {}).get("undo")  # a remove from the clusters' records
    given = given if isinstance(given, dict) else None
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
                kept = LogPathUndo.from_json((given or {}).get(ctx.cluster.name)).tokens
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
            undo = (
                LogPathUndo.from_json(given.get(ctx.cluster.name))
                if given is not None
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


async def leftovers(config: EngineConfig, plan: Plan | None) -> list[Leftover]:
    """One-shot pods (and namespaces) earlier runs left, in the plan's or every context."""
    known = _journaled_plans(config) | ({plan_hash(plan)} if plan is not None else set())
    return await kubeops.all_leftovers(config, plan, delete=False, known_plans=known)


async def cleanup(
    config: EngineConfig, dry_run: bool, confirmed: Sequence[Leftover] | None = None
) -> list[Leftover]:
    """Delete what ``leftovers`` finds in every kubeconfig context (only list with dry_run),
    holding the lock of every cluster those contexts reach, so no run of this machine is
    changing them meanwhile (UserError naming the holder otherwise). ``confirmed``: what the
    user was shown and agreed to; only those go (the cluster may have changed since)."""
    known = _journaled_plans(config)
    if dry_run:
        return await kubeops.all_leftovers(config, None, delete=False, known_plans=known)
    contexts = await kubeops.plan_contexts(config, None)
    with config.journal.locked(_cluster_ids(config, contexts), new_run_id()):
        return await kubeops.all_leftovers(
            config, None, delete=True, known_plans=known, confirmed=confirmed
        )


def _journaled_plans(config: EngineConfig) -> set[str]:
    """The hashes of the plans this machine's journal ran (the annotation our namespaces
    carry); an unreadable journal names none."""
    out: set[str] = set()
    for summary in config.journal.list_runs():
        try:
            out.add(plan_hash(config.journal.load(summary.run_id).plan))
        except UserError:
            continue
    return out


def _cluster_ids(config: EngineConfig, contexts: list[str]) -> list[str]:
    """The ARM ids runs lock (from this machine's journals) of the clusters ``contexts`` reach;
    a context no journal names is locked by its own name (no run of ours can be using it)."""
    ids: dict[str, str] = {}  # context -> cluster id
    for summary in config.journal.list_runs():
        try:
            plan = config.journal.load(summary.run_id).plan
        except UserError:
            continue  # an unreadable journal names no cluster
        for c in plan.clusters:
            if c.context in contexts:
                ids.setdefault(c.context, c.id)
    return sorted({ids.get(ctx, f"kube-context/{ctx}") for ctx in contexts})
