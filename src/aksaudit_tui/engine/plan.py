"""The plan: the user's choices, everything an apply needs, never a secret.

A plan names its targets fully (cluster ARM id, subscription, node resource group, kube context)
so that an apply or a resume needs no discovery. ``plan_io`` reads and writes it as YAML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

from aksaudit_tui.cloud import logpaths as _logpaths
from aksaudit_tui.nodes import manifests as _manifests

PLAN_VERSION = 1

# A name in the log-path registry (cloud/logpaths: the one place that names them); plan_io
# checks it against LOG_PATHS.
LogPath = str
Delivery = Literal["keeper", "one-shot"]

LOG_PATHS: tuple[str, ...] = _logpaths.NAMES
DEFAULT_LOG_PATH: str = _logpaths.DEFAULT
DELIVERIES: tuple[str, ...] = ("keeper", "one-shot")
# The nodes adapter owns the pod shape; its pinned image and namespace are the plan's defaults
# (overridable in the plan, e.g. for a private registry mirror).
DEFAULT_IMAGE = _manifests.DEFAULT_IMAGE
DEFAULT_NAMESPACE = _manifests.DEFAULT_NAMESPACE
DEFAULT_CONCURRENCY = 10
DEFAULT_PRESETS: tuple[str, ...] = ("identity-and-config",)


# Why a cluster sends to its workspace (engine/workspace_choice.py has the rule). Shown on
# Discover and Review and written as a comment beside the cluster's workspace in the plan.
WorkspaceWhy = Literal["add-on", "agent", "region", "picked"]
WHY_TEXT: dict[str, str] = {
    "add-on": "add-on's workspace",
    "agent": "legacy agent's workspace",
    "region": "same subscription and region",
    "picked": "picked by you",
}


@dataclass(frozen=True)
class WorkspaceRef:
    """A Log Analytics workspace as the plan names it (never its key)."""

    name: str
    id: str  # ARM id
    customer_id: str  # the workspace ID (query API, agents)
    resource_group: str = ""
    subscription_id: str = ""
    location: str = ""


@dataclass(frozen=True)
class PlanRequest:
    """A plan asked for by names (``aksaudit plan``'s flags): the one declaration of those
    choices, taken as is by the facade (``Engine.plan_from_names``) and by planning, which
    resolves the names through discovery and validates the result like a plan file."""

    clusters: Sequence[str]
    # every cluster's workspace (name, workspace ID or ARM id); None: the default rule
    workspace: str | None = None
    # per cluster name, over ``workspace`` and the default rule
    workspaces: Mapping[str, str] = field(default_factory=dict)
    subscription: str | None = None  # limit discovery to it
    log_path: str = DEFAULT_LOG_PATH
    presets: Sequence[str] | None = None  # None: DEFAULT_PRESETS
    custom_rules_file: str | None = None
    facility: str = "authpriv"
    severity: str = "info"
    delivery: str = "keeper"
    namespace: str | None = None  # None: DEFAULT_NAMESPACE
    image: str | None = None  # None: DEFAULT_IMAGE (resolved to a digest)
    concurrency: int | None = None  # None: DEFAULT_CONCURRENCY
    kube_contexts: Mapping[str, str] = field(default_factory=dict)  # cluster name -> context


@dataclass(frozen=True)
class ClusterTarget:
    """One cluster to configure, named fully so no discovery is needed to act on it."""

    name: str
    id: str  # managed cluster ARM id
    subscription_id: str
    resource_group: str
    node_resource_group: str
    location: str = ""
    kube_context: str | None = None  # None: the context named after the cluster
    # This cluster's own workspace (None: the plan's ``workspace``) and why it was chosen
    # (a comment in the file, not read back: a hand edit must not keep a stale reason).
    workspace: WorkspaceRef | None = None
    workspace_why: WorkspaceWhy | None = field(default=None, compare=False)

    @property
    def context(self) -> str:
        return self.kube_context or self.name


@dataclass(frozen=True)
class Plan:
    clusters: tuple[ClusterTarget, ...]
    # every cluster's workspace unless the cluster names its own (plan_io: one of the two)
    workspace: WorkspaceRef | None = None
    log_path: LogPath = DEFAULT_LOG_PATH
    presets: tuple[str, ...] = DEFAULT_PRESETS
    custom_rules_file: str | None = None  # path, read when the rules are rendered
    custom_rules: str | None = None  # inline rules text
    facility: str = "authpriv"
    severity: str = "info"
    delivery: Delivery = "keeper"
    namespace: str = DEFAULT_NAMESPACE
    image: str = DEFAULT_IMAGE
    concurrency: int = DEFAULT_CONCURRENCY
    # Re-point a legacy agent (OmsAgentForLinux) that reports to another workspace: refused
    # unless the plan says so (remove then restores the workspace it reported to).
    repoint_agent: bool = False
    version: int = PLAN_VERSION
    source: str | None = field(default=None, compare=False)  # file it was loaded from
    # The tag `aksaudit plan` resolved ``image`` from (written as a comment, not a key).
    image_from: str | None = field(default=None, compare=False)
    # What `aksaudit plan` found the reviewer must know (e.g. a cluster too old for the
    # admission fence); written as comments above the clusters, never read back.
    notes: tuple[str, ...] = field(default=(), compare=False)

    def cluster(self, name: str) -> ClusterTarget:
        for c in self.clusters:
            if c.name == name:
                return c
        raise KeyError(name)

    def workspace_for(self, cluster: ClusterTarget) -> WorkspaceRef:
        """Where this cluster's audit lines go: its own workspace, else the plan's."""
        ws = cluster.workspace or self.workspace
        if ws is None:  # plan_io and planning never make such a plan
            raise ValueError(f"cluster {cluster.name} has no workspace")
        return ws

    def why_for(self, cluster: ClusterTarget) -> str:
        """Why the cluster sends there, for people ("add-on's workspace", ...)."""
        if cluster.workspace is not None and cluster.workspace_why:
            return WHY_TEXT[cluster.workspace_why]
        return "given in the plan"

    @property
    def workspaces(self) -> tuple[WorkspaceRef, ...]:
        """Every workspace the plan sends to, once each, in cluster order."""
        out: dict[str, WorkspaceRef] = {}
        for c in self.clusters:
            ws = self.workspace_for(c)
            out.setdefault(ws.id.lower(), ws)
        return tuple(out.values())

    def with_changes(self, **kw: Any) -> Plan:
        return replace(self, **kw)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for the journal and for YAML (key order is the file's order)."""
        d: dict[str, Any] = {
            "version": self.version,
            "clusters": [
                {
                    k: v
                    for k, v in (
                        ("name", c.name),
                        ("id", c.id),
                        ("subscription", c.subscription_id),
                        ("resource_group", c.resource_group),
                        ("node_resource_group", c.node_resource_group),
                        ("location", c.location),
                        ("kube_context", c.kube_context),
                        ("workspace", _ws_dict(c.workspace) if c.workspace else None),
                    )
                    if v is not None and v != ""
                }
                for c in self.clusters
            ],
        }
        if self.workspace is not None:
            d["workspace"] = _ws_dict(self.workspace)
        d["log_path"] = self.log_path
        d["presets"] = list(self.presets)
        if self.custom_rules_file or self.custom_rules:
            cr: dict[str, str] = {}
            if self.custom_rules_file:
                cr["file"] = self.custom_rules_file
            if self.custom_rules:
                cr["inline"] = self.custom_rules
            d["custom_rules"] = cr
        d.update(
            {
                "facility": self.facility,
                "severity": self.severity,
                "delivery": self.delivery,
                "namespace": self.namespace,
                "image": self.image,
                "concurrency": self.concurrency,
            }
        )
        if self.repoint_agent:  # written only when chosen: older plans stay byte-identical
            d["repoint_agent"] = True
        return d

    @staticmethod
    def from_dict(d: dict[str, Any]) -> Plan:
        """Inverse of ``to_dict`` for data already validated (journal). Files go via plan_io."""
        cr = d.get("custom_rules") or {}
        ws = d.get("workspace")
        return Plan(
            clusters=tuple(
                ClusterTarget(
                    name=c["name"],
                    id=c.get("id", ""),
                    subscription_id=c.get("subscription", ""),
                    resource_group=c.get("resource_group", ""),
                    node_resource_group=c.get("node_resource_group", ""),
                    location=c.get("location", ""),
                    kube_context=c.get("kube_context"),
                    workspace=_ws_ref(c["workspace"]) if c.get("workspace") else None,
                )
                for c in d["clusters"]
            ),
            workspace=_ws_ref(ws) if ws else None,
            log_path=d.get("log_path", DEFAULT_LOG_PATH),
            presets=tuple(d.get("presets") or ()),
            custom_rules_file=cr.get("file"),
            custom_rules=cr.get("inline"),
            facility=d.get("facility", "authpriv"),
            severity=d.get("severity", "info"),
            delivery=d.get("delivery", "keeper"),
            namespace=d.get("namespace", DEFAULT_NAMESPACE),
            repoint_agent=bool(d.get("repoint_agent", False)),
            image=d.get("image", DEFAULT_IMAGE),
            concurrency=int(d.get("concurrency", DEFAULT_CONCURRENCY)),
            version=int(d.get("version", PLAN_VERSION)),
        )


def _ws_dict(ws: WorkspaceRef) -> dict[str, str]:
    return {
        k: v
        for k, v in (
            ("name", ws.name),
            ("id", ws.id),
            ("customer_id", ws.customer_id),
            ("resource_group", ws.resource_group),
            ("subscription", ws.subscription_id),
            ("location", ws.location),
        )
        if v
    }


def _ws_ref(d: dict[str, Any]) -> WorkspaceRef:
    return WorkspaceRef(
        name=d.get("name", ""),
        id=d.get("id", ""),
        customer_id=d.get("customer_id", ""),
        resource_group=d.get("resource_group", ""),
        subscription_id=d.get("subscription", ""),
        location=d.get("location", ""),
    )
