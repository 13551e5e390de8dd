"""Cleanup: list or delete the privileged one-shot pods (and their namespaces) earlier runs left
behind, in every kubeconfig context, trusting only plans this machine's journal ran (and what
the clusters' records name, ``steps/kubeops.py``)."""

from __future__ import annotations

from collections.abc import Sequence

from aksaudit_tui.engine.config import EngineConfig
from aksaudit_tui.engine.journal import new_run_id
from aksaudit_tui.engine.plan import Plan
from aksaudit_tui.engine.results import Leftover
from aksaudit_tui.engine.steps import kubeops
from aksaudit_tui.engine.steps.record import plan_hash
from aksaudit_tui.errors import UserError


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
