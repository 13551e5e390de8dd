"""Which of the journal's runs the wizard offers: to resume (the start screen) and to undo (the
remove flow), and what the remove flow picked.

A run's journal says its state; one whose process died (``kill -9``) reads as ``interrupted``
(``engine.journal``: the recorded pid is gone). A run still ``running`` belongs to another live
process: it is neither resumed nor removed from here.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # types only: the start screen imports this before its first frame
    from aksaudit_tui.engine.journal import RunSummary
    from aksaudit_tui.engine.logpath_undo import LogPathUndo
    from aksaudit_tui.engine.plan import Plan

RESUMABLE = ("interrupted", "failed", "cancelled", "partial")
RUN_KINDS = ("apply", "remove")


def resumable(runs: Iterable[RunSummary]) -> list[RunSummary]:
    """Unfinished runs a resume can continue (applies and removes), in the journal's order
    (newest first)."""
    return [r for r in runs if r.state in RESUMABLE and r.kind in RUN_KINDS]


def removable(runs: Iterable[RunSummary]) -> list[RunSummary]:
    """The applies a remove can undo, each narrowed to the clusters whose configuration it is
    (newest first).

    Remove undoes with the picked run's plan (namespace, delivery, log path), so a cluster is
    offered only under the apply that configured it last: its newest successful (``ok``) apply,
    or, when it never had one, its newest unfinished apply (a failed first apply leaves changes
    to undo too). An apply superseded on every cluster by a later one is left out; so is a
    cluster whose newest run is a completed remove (nothing left to undo) or is still running
    in another process. Newest means last written (``updated``): a resumed run is as new as its
    resume."""
    ordered = sorted(runs, key=lambda r: (r.updated or r.started, r.run_id), reverse=True)
    owner: dict[str, str | None] = {}  # cluster -> the run id offered for it (None: nothing)
    unfinished: dict[str, str] = {}  # cluster -> its newest unfinished apply seen so far
    for r in ordered:
        for c in r.clusters:
            if c in owner:
                continue  # decided by a newer run
            if r.state == "running":
                owner[c] = None  # another process is changing it
            elif r.kind == "remove" and r.state == "ok":
                owner[c] = unfinished.get(c)  # removed; only a later apply left changes
            elif r.kind == "apply" and r.state == "ok":
                owner[c] = r.run_id
            elif r.kind == "apply":
                unfinished.setdefault(c, r.run_id)
    for c, run_id in unfinished.items():
        owner.setdefault(c, run_id)  # never applied successfully: its newest attempt
    out: list[RunSummary] = []
    for r in ordered:
        mine = tuple(c for c in r.clusters if owner.get(c) == r.run_id)
        if mine and r.kind == "apply":
            out.append(replace(r, clusters=mine))
    return out


def age(started: str, now: datetime) -> str:
    """``5m``, ``3h``, ``2d`` from an ISO timestamp; ``?`` when unreadable."""
    try:
        then = datetime.fromisoformat(started.replace("Z", "+00:00"))
    except ValueError:
        return "?"
    secs = max(0, int((now - then).total_seconds()))
    if secs < 3600:
        return f"{secs // 60}m"
    if secs < 86400:
        return f"{secs // 3600}h"
    return f"{secs // 86400}d"


def describe(r: RunSummary, now: datetime) -> str:
    """One line per run: id, clusters, step reached, state, age (what the lists show)."""
    what = "removal " if r.kind == "remove" else ""
    clusters = ", ".join(r.clusters) or "?"
    return (
        f"{what}{r.run_id}: {clusters} · reached {r.step or 'start'} · {r.state} · "
        f"{age(r.started, now)} ago"
    )


@dataclass(frozen=True)
class Removal:
    """What the remove flow picked: the run whose plan it undoes, narrowed to the picked
    clusters, and whether the log path's recorded changes are undone too. A removal built from
    a cluster's own record (no run of this machine) says so in ``source`` ("enabled by X at T
    (from the cluster)") and carries that record's log-path ``undo``."""

    run_id: str
    plan: Plan
    include_log_path: bool
    undo: Mapping[str, LogPathUndo] | None = None
    source: str = ""


def narrowed(plan: Plan, clusters: Sequence[str]) -> Plan:
    """``plan`` with only ``clusters`` (in the plan's order)."""
    return replace(plan, clusters=tuple(c for c in plan.clusters if c.name in clusters))
