"""What every step is: probe -> apply -> verify, idempotent, telling what it will change first.

A step works on one cluster through a ``StepContext`` (the plan, the cluster, clients, the kube
API, the run's journal record, the event sink and the cancel flag). ``probe`` reads the real
state and returns the changes still needed; ``apply`` changes only those; ``verify`` confirms.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal, Protocol

from aksaudit_tui.engine.events import Event, NodeUpdate, StepLog, StepProgress
from aksaudit_tui.engine.plan import ClusterTarget, Plan

if TYPE_CHECKING:
    from aksaudit_tui.cloud.clients import AsyncClients
    from aksaudit_tui.cloud.settings import CloudSettings
    from aksaudit_tui.engine.journal import RunRecord


class StepFailed(Exception):
    """The step cannot complete: one line saying what failed and what to do."""


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
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass
class StepContext:
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
    mode: Literal["apply", "remove", "review", "status"] = "apply"
    include_log_path: bool = False

    def log(
        self,
        step: str,
        line: str,
        level: Literal["info", "warning", "error"] = "info",
        node: str | None = None,
    ) -> None:
        self.emit(StepLog(self.run_id, self.cluster.name, step, line, node=node, level=level))

    def progress(self, step: str, done: int, total: int, message: str = "") -> None:
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
        self.shared.node_phase[node] = phase
        self.emit(
            NodeUpdate(self.run_id, self.cluster.name, node, pool, os, phase, audit_version, result)
        )

    def check_cancel(self) -> None:
        if self.cancel.is_set():
            raise Cancelled()

    def set_lro(self, step: str, key: str, token: str | None) -> None:
        if self.record is not None:
            self.record.set_lro(self.cluster.name, step, key, token)

    def lro_token(self, step: str, key: str) -> str | None:
        if self.record is None:
            return None
        tok = self.record.step(self.cluster.name, step).get("lro", {}).get(key)
        return str(tok) if tok else None


class Step(Protocol):
    id: str
    title: str

    async def probe(self, ctx: StepContext) -> Probe: ...

    async def apply(self, ctx: StepContext, probe: Probe) -> None: ...

    async def verify(self, ctx: StepContext) -> None: ...
