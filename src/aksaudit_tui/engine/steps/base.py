"""What every step is: probe -> apply -> verify, idempotent, telling what it will change first.

A step works on one cluster through a ``StepContext`` (the plan, the cluster, clients, the kube
API, the run's journal record, the event sink and the cancel flag). ``probe`` reads the real
state and returns the changes still needed; ``apply`` changes only those; ``verify`` confirms.
Contexts are made by ``StepContext.for_plan`` (one per cluster of the plan), which copies the
deadlines of the ``EngineConfig`` onto typed fields: a step reads no settings bag.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aksaudit_tui.engine.config import EngineConfig
from aksaudit_tui.engine.events import Event, NodeUpdate, StepLog, StepProgress
from aksaudit_tui.engine.plan import ClusterTarget, Plan

if TYPE_CHECKING:
    from aksaudit_tui.cloud.clients import AsyncClients
    from aksaudit_tui.cloud.settings import CloudSettings
    from aksaudit_tui.engine.journal import RunRecord
    from aksaudit_tui.nodes.delivery import DeliveryStats

Mode = Literal["apply", "remove", "review", "status"]


class StepFailed(Exception):
    """The step cannot complete: one line saying what failed and what to do.

    ``partial``: the step did part of its work before failing (a remove that restored some
    nodes and not others): the run then ends "partial" (exit 3), not "failed"."""

    def __init__(self, message: str, *, partial: bool = False) -> None:
        super().__init__(message)
        self.partial = partial


class Cancelled(Exception):
    """Raised inside a step when the run's cancel flag is set."""


@dataclass
class Probe:
    """What a step found: the changes it would make (empty = already done)."""

    changes: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    blocking: str | None = None  # a reason the step cannot run at all (fails the step)
    note: str = ""  # what "nothing to change" means for this step (the finished message)
    data: dict[str, Any] = field(default_factory=dict)

    @property
    def done(self) -> bool:
        """Nothing to change and nothing blocking: the step is already in place."""
        return not self.changes and self.blocking is None


@dataclass
class ClusterShared:
    """What steps of one cluster learn and pass on (kube API, nodes, log-path state)."""

    api: Any = None  # nodes.kube api handle
    nodes: list[Any] = field(default_factory=list)  # node infos from the kube adapter
    node_status: dict[str, Any] = field(default_factory=dict)  # node -> NodeStatus
    node_phase: dict[str, str] = field(default_factory=dict)  # node -> NodePhase
    log_path_probe: Any = None  # the log-path adapter's last probe
    cloud_cluster: Any = None  # cloud.models.Cluster (from ARM)
    # the run's preflight access probe, taken (once) by the access step
    access_probe: Probe | None = None
    # delivery: the nodes its probe found still to configure (None: every eligible node)
    todo: list[Any] | None = None
    # delivery (one-shot): a keeper left by an earlier plan, to delete before the rollout
    delete_keeper: bool = False
    delivery_stats: DeliveryStats | None = None  # pods and watch requests of the rollout
    # status: a leftover-pods warning, and nodes whose check pod did not start in time
    warning: str | None = None
    unknown: list[str] = field(default_factory=list)
    partly_done: set[str] = field(default_factory=set)  # failed steps that did part of their work


@dataclass
class StepContext:
    """Everything a step may use for one cluster of one run; steps reach nothing else."""

    run_id: str
    plan: Plan
    cluster: ClusterTarget
    settings: CloudSettings
    clients: AsyncClients
    emit: Callable[[Event], None]
    cancel: asyncio.Event
    record: RunRecord | None
    rules_text: str
    script_text: str
    shared: ClusterShared
    mode: Mode = "apply"
    include_log_path: bool = False
    # How long one delivery pod may take (activeDeadlineSeconds and its watch).
    pod_deadline_s: float = 600.0
    # How long one read-only check pod may take (phase "unknown" after that).
    probe_deadline_s: float = 120.0
    keeper_interval_s: int = 300
    # May probes start pods on the nodes (check pods)? Apply's yes; review and verify only
    # when the user asks (--probe-nodes): otherwise they read what the keeper reports.
    probe_nodes: bool = True

    @classmethod
    def for_plan(
        cls,
        config: EngineConfig,
        plan: Plan,
        *,
        run_id: str,
        clients: AsyncClients,
        rules_text: str,
        script_text: str,
        mode: Mode,
        emit: Callable[[Event], None] = lambda _ev: None,
        cancel: asyncio.Event | None = None,
        record: RunRecord | None = None,
        include_log_path: bool = False,
        probe_nodes: bool = True,
    ) -> list[StepContext]:
        """One fresh context per cluster of ``plan`` (in plan order), sharing one cancel flag,
        with the deadlines of ``config.timing``."""
        flag = cancel if cancel is not None else asyncio.Event()
        t = config.timing
        return [
            cls(
                run_id=run_id,
                plan=plan,
                cluster=c,
                settings=config.settings,
                clients=clients,
                emit=emit,
                cancel=flag,
                record=record,
                rules_text=rules_text,
                script_text=script_text,
                shared=ClusterShared(),
                mode=mode,
                include_log_path=include_log_path,
                pod_deadline_s=t.node_deadline_s,
                probe_deadline_s=t.review_deadline_s,
                keeper_interval_s=t.keeper_interval_s,
                probe_nodes=probe_nodes,
            )
            for c in plan.clusters
        ]

    def log(
        self,
        step: str,
        line: str,
        level: Literal["info", "warning", "error"] = "info",
        node: str | None = None,
    ) -> None:
        """One log line of ``step`` on this cluster (a StepLog event)."""
        self.emit(StepLog(self.run_id, self.cluster.name, step, line, node=node, level=level))

    def progress(self, step: str, done: int, total: int, message: str = "") -> None:
        """``done`` of ``total`` for ``step`` (a StepProgress event)."""
        self.emit(StepProgress(self.run_id, self.cluster.name, step, done, total, message))

    def node_update(
        self,
        node: str,
        pool: str,
        os: str,
        phase: Any,
        audit_version: str | None = None,
        result: str = "",
    ) -> None:
        """A node's new phase: remembered for the run, and a NodeUpdate event."""
        self.shared.node_phase[node] = phase
        self.emit(
            NodeUpdate(self.run_id, self.cluster.name, node, pool, os, phase, audit_version, result)
        )

    def check_cancel(self) -> None:
        """Raise Cancelled when the run's cancel flag is set (call between changes)."""
        if self.cancel.is_set():
            raise Cancelled()

    def set_lro(self, step: str, key: str, token: str | None) -> None:
        """Journal a long-running operation's continuation token (a resume picks it up)."""
        if self.record is not None:
            self.record.set_lro(self.cluster.name, step, key, token)

    def lro_token(self, step: str, key: str) -> str | None:
        """The continuation token an earlier attempt of this run journalled, if any."""
        if self.record is None:
            return None
        tok = self.record.step(self.cluster.name, step).get("lro", {}).get(key)
        return str(tok) if tok else None


class Step(Protocol):
    """One idempotent unit of a run on one cluster; the runner calls probe, then (when the
    probe found changes) apply and verify."""

    id: str

    @property
    def title(self) -> str:
        """One line saying what the step does (the run screen and the journal show it)."""
        ...

    async def probe(self, ctx: StepContext) -> Probe:
        """Read the real state; change nothing; return what is still to change."""
        ...

    async def apply(self, ctx: StepContext, probe: Probe) -> None:
        """Make exactly the probe's changes; raise StepFailed with what to fix."""
        ...

    async def verify(self, ctx: StepContext) -> None:
        """Confirm the changes took (StepFailed when not)."""
        ...
