"""The coverage model: what `status` and `verify` report, and the CLI's JSON shapes for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

# A node's audit state, read from the cluster, Azure and the workspace (engine/truth.py):
NodeState = Literal["covered", "silent", "drift", "new", "not enabled", "skipped", "unknown"]
NODE_STATES: tuple[NodeState, ...] = (
    "covered",
    "silent",
    "drift",
    "new",
    "not enabled",
    "skipped",
    "unknown",
)


@dataclass(frozen=True)
class NodeRow:
    """One node's live audit state (the `status --json` node object, plus a few extras)."""

    node: str
    pool: str
    os: str
    audit_version: str | None = None
    auditd_running: bool | None = None
    plugin_facility: str | None = None
    rules_match: bool | None = None  # rules sha256 on the node equals the plan's
    log_path_ok: bool | None = None  # the log path is in place for this node's scale set/cluster
    last_seen: str | None = None  # ISO time of the last audit record in the workspace
    skipped_reason: str | None = None  # Windows / virtual / immutable OS / not ready
    delivery_ready: bool | None = None  # keeper pod Ready (keeper) / check pod ran (one-shot)
    records: int = 0
    state: NodeState | None = None  # None: an older report without states (covered = fields)
    reason: str = ""  # why this state (for silent: the broken link)
    fix: str = ""  # what to do about it
    last_heartbeat: str | None = None  # ISO time of the last heartbeat record in the workspace

    @property
    def linux(self) -> bool:
        return self.skipped_reason is None or not self.skipped_reason.startswith(
            ("Windows", "virtual")
        )

    @property
    def covered(self) -> bool:
        """Audited and shipping: auditd running, plugin on, rules as planned, path in place."""
        if self.state is not None:
            return self.state == "covered"
        return bool(
            self.skipped_reason is None
            and self.auditd_running
            and self.plugin_facility
            and self.rules_match
            and self.log_path_ok
        )

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.pop("records", None)
        d.pop("delivery_ready", None)
        d["delivery_ready"] = self.delivery_ready
        if self.state is None:  # the older shape, unchanged
            for key in ("state", "reason", "fix", "last_heartbeat"):
                d.pop(key, None)
        return d


@dataclass(frozen=True)
class ClusterCoverage:
    """One cluster's node rows, or the error that kept them from being read."""

    name: str
    nodes: tuple[NodeRow, ...] = ()
    error: str | None = None  # the cluster could not be read (kube down, 403, ...)
    log_path: str | None = None  # what is in place: a name in cloud.logpaths.NAMES
    subscription: str = ""  # subscription id (name in subscription_name)
    subscription_name: str = ""
    enabled: bool | None = None  # the cluster holds an aksaudit record (None: not read)
    enabled_by: str | None = None  # who applied (the record's identity name)
    applied_at: str | None = None
    presets: tuple[str, ...] = ()
    delivery: str | None = None
    workspace: str | None = None  # the recorded workspace's name
    last_heartbeat: str | None = None  # newest heartbeat of any node (ISO)
    hourly: tuple[int, ...] = ()  # audit records per hour over the window, oldest first
    notes: tuple[str, ...] = ()  # e.g. "a run of yours is unfinished here"

    @property
    def linux_nodes(self) -> tuple[NodeRow, ...]:
        return tuple(
            n
            for n in self.nodes
            if not (n.skipped_reason or "").startswith(("Windows", "virtual", "immutable"))
            and n.state != "skipped"
        )

    @property
    def covered_count(self) -> int:
        return sum(1 for n in self.linux_nodes if n.covered)

    @property
    def drift_count(self) -> int:
        return sum(1 for n in self.nodes if n.state == "drift")

    @property
    def fully_covered(self) -> bool:
        nodes = self.linux_nodes
        return self.error is None and bool(nodes) and all(n.covered for n in nodes)

    @property
    def coverage(self) -> float:
        """Covered share of Linux nodes that can be audited (0.0..1.0)."""
        eligible = self.linux_nodes
        if not eligible:
            return 0.0
        return sum(1 for n in eligible if n.covered) / len(eligible)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {
            "name": self.name,
            "coverage": round(self.coverage, 4),
            "nodes": [n.to_json() for n in self.nodes],
        }
        if self.error:
            d["error"] = self.error
        if self.log_path:
            d["log_path"] = self.log_path
        if self.enabled is not None:  # read from the cluster (status of any cluster)
            d.update(
                subscription=self.subscription,
                enabled=self.enabled,
                enabled_by=self.enabled_by,
                applied_at=self.applied_at,
                presets=list(self.presets),
                delivery=self.delivery,
                workspace=self.workspace,
                covered=self.covered_count,
                linux_nodes=len(self.linux_nodes),
                drift=self.drift_count,
                last_heartbeat=self.last_heartbeat,
                records_per_hour=list(self.hourly),
            )
            if self.notes:
                d["notes"] = list(self.notes)
        return d


@dataclass(frozen=True)
class StatusReport:
    """Live coverage of every known cluster (``aksaudit status``, the status screen)."""

    clusters: tuple[ClusterCoverage, ...] = ()
    generated: str = ""
    warnings: tuple[str, ...] = ()

    window_h: int = 24
    queries: int = 0  # KQL queries this report took (one per workspace)

    @property
    def fully_covered(self) -> bool:
        """Every listed cluster covers every Linux node (the CLI's exit 0; otherwise 5)."""
        return bool(self.clusters) and all(c.fully_covered for c in self.clusters)

    def to_json(self) -> dict[str, Any]:
        return {"clusters": [c.to_json() for c in self.clusters]}


@dataclass(frozen=True)
class NodeVerdict:
    """Verify: one Linux node's arrival and, when missing, the most likely reason."""

    cluster: str
    node: str
    arrived: bool
    records: int = 0
    last_seen: str | None = None
    reason: str = ""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class VerifyReport:
    """Arrived and missing nodes (with the likely reason), skipped ones, query count."""

    nodes: tuple[NodeVerdict, ...] = ()
    skipped: tuple[NodeVerdict, ...] = field(default=())  # Windows / virtual: not expected
    waited_s: float = 0.0
    queries: int = 0
    errors: tuple[str, ...] = ()
    # cluster -> the error that kept its nodes from being verified (its nodes unreadable, or
    # its workspace's arrival query failed); the other clusters were verified regardless
    cluster_errors: dict[str, str] = field(default_factory=dict)
    # what counted as a node's proof (engine/verify.py ``Rule``): "heartbeat since the run
    # started", "heartbeat within 2 keeper intervals (600 s) and ...", ...
    rule: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.nodes) and all(n.arrived for n in self.nodes) and not self.errors

    @property
    def missing(self) -> tuple[NodeVerdict, ...]:
        return tuple(n for n in self.nodes if not n.arrived)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": self.ok, "nodes": [n.to_json() for n in self.nodes]}
        if self.rule:
            d["rule"] = self.rule
        if self.errors:
            d["errors"] = list(self.errors)
        return d
