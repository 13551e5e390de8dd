"""The coverage model: what `status` and `verify` report, and the CLI's JSON shapes for them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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

    @property
    def linux(self) -> bool:
        return self.skipped_reason is None or not self.skipped_reason.startswith(
            ("Windows", "virtual")
        )

    @property
    def covered(self) -> bool:
        """Audited and shipping: auditd running, plugin on, rules as planned, path in place."""
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
        return d


@dataclass(frozen=True)
class ClusterCoverage:
    name: str
    nodes: tuple[NodeRow, ...] = ()
    error: str | None = None  # the cluster could not be read (kube down, 403, ...)
    log_path: str | None = None  # what is in place: "container-insights", "legacy-oms", "ama"

    @property
    def linux_nodes(self) -> tuple[NodeRow, ...]:
        return tuple(
            n
            for n in self.nodes
            if not (n.skipped_reason or "").startswith(("Windows", "virtual", "immutable"))
        )

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
        return d


@dataclass(frozen=True)
class StatusReport:
    clusters: tuple[ClusterCoverage, ...] = ()
    generated: str = ""
    warnings: tuple[str, ...] = ()

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
    nodes: tuple[NodeVerdict, ...] = ()
    skipped: tuple[NodeVerdict, ...] = field(default=())  # Windows / virtual: not expected
    waited_s: float = 0.0
    queries: int = 0
    errors: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return bool(self.nodes) and all(n.arrived for n in self.nodes) and not self.errors

    @property
    def missing(self) -> tuple[NodeVerdict, ...]:
        return tuple(n for n in self.nodes if not n.arrived)

    def to_json(self) -> dict[str, Any]:
        d: dict[str, Any] = {"ok": self.ok, "nodes": [n.to_json() for n in self.nodes]}
        if self.errors:
            d["errors"] = list(self.errors)
        return d
