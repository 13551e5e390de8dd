"""What discovery finds. Plain dataclasses: the engine, the CLI and the TUI all read these.

Field names follow the `aksaudit discover --json` contract; `to_json()` gives that shape.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class Subscription:
    id: str  # the GUID
    name: str
    error: str | None = None  # e.g. "AuthorizationFailed: ..." when listing inside it failed


@dataclass(frozen=True)
class Instance:
    id: str  # full ARM id of the scale-set VM
    instance_id: str  # "0", "1", ...
    computer_name: str  # the node name / Syslog Computer
    latest_model_applied: bool


@dataclass(frozen=True)
class Extension:
    name: str
    publisher: str
    type: str  # e.g. "OmsAgentForLinux", "AzureMonitorLinuxAgent"
    provisioning_state: str | None = None
    settings: dict[str, Any] = field(default_factory=dict)  # public settings only, never protected


@dataclass(frozen=True)
class ScaleSet:
    id: str
    name: str  # aks-<pool>-<n>-vmss
    pool: str  # tag aks-managed-poolName
    os: str  # "Linux" | "Windows"
    os_sku: str | None  # e.g. "Ubuntu2204", "AzureLinux3", "Windows2022" when known
    upgrade_mode: str  # "Manual" | "Automatic" | "Rolling"
    instances: tuple[Instance, ...] = ()
    extensions: tuple[Extension, ...] = ()
    taints: tuple[str, ...] = ()  # agent pool nodeTaints, e.g. "CriticalAddonsOnly=true:NoSchedule"
    mode: str | None = None  # agent pool mode: "System" | "User"
    resource_group: str = ""  # the node resource group holding the scale set


@dataclass(frozen=True)
class SyslogCollection:
    """One syslog data source of a data collection rule."""

    name: str
    facilities: tuple[str, ...]  # lower case: "authpriv", "auth", "local0", "*"
    levels: tuple[str, ...]  # as the DCR says: "Info", "Notice", ... "Emergency", "*"


@dataclass(frozen=True)
class Monitoring:
    """Container Insights state of one managed cluster."""

    addon_enabled: bool = False  # addonProfiles.omsagent.enabled
    workspace_id: str | None = None  # config.logAnalyticsWorkspaceResourceID (ARM id)
    msi_auth: bool = False  # config.useAADAuth == "true"
    syslog_enabled: bool = False  # the MSCI DCR streams Microsoft-Syslog
    syslog_port: int | None = None  # azureMonitorProfile.containerInsights.syslogPort
    dcr_id: str | None = None  # the MSCI-* data collection rule, when found
    syslog: tuple[SyslogCollection, ...] = ()
    dcr_associated: bool = False  # associated with the cluster as ContainerInsightsExtension
    dcr_workspace_ids: tuple[str, ...] = ()  # the DCR's logAnalytics destinations (ARM ids)


@dataclass(frozen=True)
class Cluster:
    id: str
    name: str
    subscription_id: str
    resource_group: str
    location: str
    node_resource_group: str
    fqdn: str | None = None
    kubernetes_version: str | None = None
    lockdown: str | None = None  # nodeResourceGroupProfile.restrictionLevel, e.g. "ReadOnly"
    monitoring: Monitoring = field(default_factory=Monitoring)
    scale_sets: tuple[ScaleSet, ...] = ()
    # False: only what the managed-clusters listing says (no scale sets, no DCR yet; discovery
    # streams this first, then the same id again complete). Not part of `discover --json`.
    complete: bool = False


@dataclass(frozen=True)
class Workspace:
    id: str
    name: str
    customer_id: str  # the workspace ID used by the query API and agents
    location: str
    resource_group: str
    subscription_id: str = ""
    # LinuxSyslog data sources (legacy agent configuration): name, (facility,), severities
    syslog_sources: tuple[SyslogCollection, ...] = ()


@dataclass(frozen=True)
class DiscoveryError:
    scope: str  # e.g. "subscription/<id>", "cluster/<id>"
    code: str  # Azure error code, e.g. "AuthorizationFailed"
    message: str


RESOURCE_GRAPH = "resource-graph"
ARM_WALK = "arm"


@dataclass
class DiscoveryReport:
    """How one discovery read the estate: through Resource Graph, or by walking ARM per
    subscription (and why). Filled in by ``discovery.discover``; ``discover --json`` shows it as
    ``"discovery"``, the log and ``discover`` on stderr as ``line()``."""

    method: str = ""  # RESOURCE_GRAPH | ARM_WALK ("" until discovery chose)
    reason: str | None = None  # why the ARM walk was used
    graph_queries: int = 0
    graph_pages: int = 0
    throttled: int = 0  # Resource Graph 429 answers waited out
    waited_s: float = 0.0  # time spent waiting for Resource Graph's quota

    def line(self) -> str:
        if self.method == RESOURCE_GRAPH:
            text = (
                f"discovered through Azure Resource Graph ({self.graph_queries} queries, "
                f"{self.graph_pages} pages"
            )
            if self.throttled or self.waited_s:
                text += f"; throttled, waited {self.waited_s:.1f} s"
            return text + ")"
        return "discovered by walking ARM per subscription" + (
            f" ({self.reason})" if self.reason else ""
        )

    def to_json(self) -> dict[str, Any]:
        return {"method": self.method, "reason": self.reason}


@dataclass
class Inventory:
    """Everything one discovery found."""

    subscriptions: list[Subscription] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    workspaces: list[Workspace] = field(default_factory=list)
    errors: list[DiscoveryError] = field(default_factory=list)
    discovery: DiscoveryReport = field(default_factory=DiscoveryReport)

    def to_json(self) -> dict[str, Any]:
        def sub(s: Subscription) -> dict[str, Any]:
            d: dict[str, Any] = {"id": s.id, "name": s.name}
            if s.error:
                d["error"] = s.error
            return d

        return {
            "subscriptions": [sub(s) for s in self.subscriptions],
            "clusters": [_cluster_json(c) for c in self.clusters],
            "workspaces": [asdict(w) for w in self.workspaces],
            "errors": [asdict(e) for e in self.errors],
            "discovery": self.discovery.to_json(),
        }


def _cluster_json(c: Cluster) -> dict[str, Any]:
    d = asdict(c)
    del d["complete"]  # the inventory holds complete clusters only; the JSON contract predates it
    return d
