"""Typed events the engine emits. The CLI and the TUI are only renderers of these.

Every event is a frozen dataclass with a ``kind`` and ``to_json()``; the headless commands write
one ``to_json()`` object per line with ``--json``. Events never carry a secret.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from aksaudit_tui.cloud.models import Cluster, DiscoveryError, Subscription, Workspace

StepOutcome = Literal["done", "already", "failed", "skipped", "interrupted"]
RunOutcome = Literal["ok", "partial", "failed", "cancelled"]
NodePhase = Literal[
    "pending", "scheduled", "running", "compliant", "failed", "skipped", "removed", "unknown"
]


@dataclass(frozen=True)
class _Event:
    kind: str = field(init=False, default="")

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d["kind"] = type(self).__name__
        return d


# --- discovery (streamed as found) ---------------------------------------------------------


@dataclass(frozen=True)
class SubscriptionFound(_Event):
    """Once its clusters are listed; again (same id, with the error) should listing its
    workspaces fail. Fold by id."""

    subscription: Subscription


@dataclass(frozen=True)
class ClusterFound(_Event):
    """Twice per cluster: as listed (``cluster.complete`` False: no scale sets or DCR yet), then
    complete (same id) once its subtree is read. Fold by id."""

    cluster: Cluster


@dataclass(frozen=True)
class WorkspaceFound(_Event):
    """A Log Analytics workspace the plan may send to (once per workspace)."""

    workspace: Workspace


@dataclass(frozen=True)
class DiscoveryFailed(_Event):
    """A part of discovery that could not be read (a subscription, a cluster): the rest goes on."""

    error: DiscoveryError


@dataclass(frozen=True)
class DiscoveryDone(_Event):
    """Last discovery event: distinct subscriptions, complete clusters, workspaces, errors."""

    subscriptions: int
    clusters: int
    workspaces: int
    errors: int
    # how discovery read the estate: "resource-graph" or "arm" (models.DiscoveryReport), and
    # its one line ("discovered through Azure Resource Graph (5 queries, 5 pages)")
    method: str = ""
    note: str = ""


# --- a run (apply, resume, remove) ------------------------------------------------------------


@dataclass(frozen=True)
class RunStarted(_Event):
    """First event of a run, once the preflight passed: its clusters and step ids."""

    run_id: str
    clusters: tuple[str, ...]
    steps: tuple[str, ...]  # step ids in order, e.g. ("access", "log-path", "delivery", "verify")


@dataclass(frozen=True)
class StepStarted(_Event):
    """A step began on a cluster, with the changes its probe found (empty: none)."""

    run_id: str
    cluster: str
    step: str
    title: str
    changes: tuple[str, ...] = ()  # what it will change (from the probe), human lines


@dataclass(frozen=True)
class StepProgress(_Event):
    """``done`` of ``total`` units of a step (nodes, resources) on a cluster."""

    run_id: str
    cluster: str
    step: str
    done: int
    total: int
    message: str = ""


@dataclass(frozen=True)
class StepLog(_Event):
    """One line a step logged (optionally about one node), at a level."""

    run_id: str
    cluster: str
    step: str
    line: str
    node: str | None = None
    level: Literal["info", "warning", "error"] = "info"


@dataclass(frozen=True)
class StepFinished(_Event):
    """A step ended on a cluster: done, already, failed, interrupted or skipped."""

    run_id: str
    cluster: str
    step: str
    outcome: StepOutcome
    message: str = ""


@dataclass(frozen=True)
class NodeUpdate(_Event):
    """A node's phase changed (pending, running, compliant, failed, skipped, ...)."""

    run_id: str
    cluster: str
    node: str
    pool: str
    os: str
    phase: NodePhase
    audit_version: str | None = None
    result: str = ""  # short text: "ok", "skipped: Windows node", "apt-get failed: ..."


@dataclass(frozen=True)
class NodeArrival(_Event):
    """Verify: one node's log-arrival state (emitted per poll for nodes that changed)."""

    run_id: str
    cluster: str
    node: str
    arrived: bool
    records: int
    last_seen: str | None
    reason: str = ""


@dataclass(frozen=True)
class VerifyWaiting(_Event):
    """After each arrival query: how many nodes arrived, how long verify still waits."""

    run_id: str
    arrived: int
    expected: int
    seconds_left: float


@dataclass(frozen=True)
class RunWarning(_Event):
    """Something the user must know before or during a run (legacy path, leftovers, egress)."""

    run_id: str
    message: str
    cluster: str | None = None


@dataclass(frozen=True)
class RunFinished(_Event):
    """Last event of a run: its outcome, a one-line message and the summary."""

    run_id: str
    outcome: RunOutcome
    message: str = ""
    summary: dict[str, Any] = field(default_factory=dict)


Event = (
    SubscriptionFound
    | ClusterFound
    | WorkspaceFound
    | DiscoveryFailed
    | DiscoveryDone
    | RunStarted
    | StepStarted
    | StepProgress
    | StepLog
    | StepFinished
    | NodeUpdate
    | NodeArrival
    | VerifyWaiting
    | RunWarning
    | RunFinished
)
