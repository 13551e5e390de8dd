"""What the wizard has gathered so far: discovery results and the user's choices.

Plain Python (no Textual) so it can be tested on its own; screens read and write it, and
``to_plan()`` turns it into the engine's ``Plan``. Each cluster's workspace comes from the
engine's rule (``engine/workspace_choice.py``) unless the user picked one for that cluster.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from aksaudit_tui.cloud.models import Cluster, DiscoveryError, Subscription, Workspace
from aksaudit_tui.engine.plan import (
    DEFAULT_CONCURRENCY,
    DEFAULT_IMAGE,
    DEFAULT_LOG_PATH,
    DEFAULT_NAMESPACE,
    ClusterTarget,
    Delivery,
    LogPath,
    Plan,
)
from aksaudit_tui.engine.workspace_choice import (
    WorkspaceChoice,
    default_workspace,
    picked,
    workspace_ref,
)


@dataclass
class WizardState:
    """Discovery results plus every choice made on the wizard's screens."""

    subscriptions: list[Subscription] = field(default_factory=list)
    clusters: list[Cluster] = field(default_factory=list)
    workspaces: list[Workspace] = field(default_factory=list)
    errors: list[DiscoveryError] = field(default_factory=list)
    discovery_done: bool = False
    selected: list[str] = field(default_factory=list)  # cluster ARM ids, in selection order
    # cluster ARM id (lower case) -> the workspace ARM id the user picked for it
    picked_workspaces: dict[str, str] = field(default_factory=dict)
    log_path: LogPath = DEFAULT_LOG_PATH
    presets: list[str] = field(default_factory=lambda: ["identity-and-config"])
    custom_rules: str = ""
    facility: str = "authpriv"
    severity: str = "info"
    delivery: Delivery = "keeper"
    namespace: str = DEFAULT_NAMESPACE
    image: str = DEFAULT_IMAGE
    concurrency: int = DEFAULT_CONCURRENCY
    contexts: dict[str, str] = field(default_factory=dict)  # cluster name -> kube context
    # lower-case cluster id -> its index in ``clusters`` (``_cluster_at``); not a setting
    _positions: dict[str, int] = field(default_factory=dict, init=False, repr=False, compare=False)

    def reset_discovery(self) -> None:
        self.subscriptions.clear()
        self.clusters.clear()
        self._positions.clear()
        self.workspaces.clear()
        self.errors.clear()
        self.discovery_done = False

    # --- lookups -----------------------------------------------------------------------------

    def found_subscription(self, sub: Subscription) -> None:
        """Add a subscription, or replace its earlier form (announced again with an error)."""
        for i, s in enumerate(self.subscriptions):
            if s.id == sub.id:
                self.subscriptions[i] = sub
                return
        self.subscriptions.append(sub)

    def found_cluster(self, cluster: Cluster) -> None:
        """Add a discovered cluster, or replace its earlier form (same id) where it stands:
        discovery sends each cluster as listed, then complete."""
        i = self._cluster_at(cluster.id)
        if i is None:
            self._positions[cluster.id.lower()] = len(self.clusters)
            self.clusters.append(cluster)
        else:
            self.clusters[i] = cluster

    def cluster_by_id(self, cluster_id: str) -> Cluster | None:
        i = self._cluster_at(cluster_id)
        return None if i is None else self.clusters[i]

    def _cluster_at(self, cluster_id: str) -> int | None:
        """Where the cluster stands in ``clusters`` (ids compared in lower case). A scan per
        lookup made a 1,000-cluster discovery quadratic (each cluster comes twice: 2,000 scans of
        up to 1,000; bench/fleet_tui.py), so positions are kept; ``clusters`` is a plain list
        others may replace or clear, so a position is trusted only when it still holds that id,
        else they are read again (as when the list's length and theirs differ)."""
        key = cluster_id.lower()
        i = self._positions.get(key)
        if i is not None and i < len(self.clusters) and self.clusters[i].id.lower() == key:
            return i
        if i is None and len(self._positions) == len(self.clusters):
            return None  # every cluster has its position: a new one (no scan per new cluster)
        self._positions = {c.id.lower(): n for n, c in enumerate(self.clusters)}
        return self._positions.get(key)

    @property
    def chosen_clusters(self) -> list[Cluster]:
        found = (self.cluster_by_id(i) for i in self.selected)
        return [c for c in found if c is not None]

    def toggle(self, cluster_id: str) -> bool:
        """Select or unselect a cluster; returns whether it is now selected."""
        if cluster_id in self.selected:
            self.selected.remove(cluster_id)
            return False
        self.selected.append(cluster_id)
        return True

    def workspace_choice(self, cluster: Cluster) -> WorkspaceChoice:
        """The cluster's workspace and why: the user's pick, else the engine's default rule
        (a pick that is the default keeps the default's reason: it is still true)."""
        rule = default_workspace(cluster, self.workspaces)
        wid = self.picked_workspaces.get(cluster.id.lower())
        ws = next((w for w in self.workspaces if w.id.lower() == (wid or "").lower()), None)
        if ws is None or (rule.workspace is not None and rule.workspace.id == ws.id):
            return rule
        return picked(cluster, ws)

    def pick_workspace(self, cluster_id: str, workspace_id: str | None) -> None:
        """The user's workspace for one cluster; None: back to the default rule."""
        if workspace_id is None:
            self.picked_workspaces.pop(cluster_id.lower(), None)
        else:
            self.picked_workspaces[cluster_id.lower()] = workspace_id

    # --- the plan ------------------------------------------------------------------------------

    def missing(self) -> str | None:
        """What still blocks a plan, as one line, or None."""
        if not self.chosen_clusters:
            return "Pick at least one cluster (space on a cluster in the tree)."
        reading = [c.name for c in self.chosen_clusters if not c.complete]
        if reading:
            return f"Still reading {', '.join(reading)}: a moment, discovery is finishing."
        for c in self.chosen_clusters:
            choice = self.workspace_choice(c)
            if choice.workspace is None:
                return f"Pick a workspace for {c.name} (w on it in the tree): {choice.ask}."
        if not self.presets and not self.custom_rules.strip():
            return "Pick at least one rule preset or write custom rules."
        return None

    def to_plan(self) -> Plan:
        targets = []
        for c in self.chosen_clusters:
            choice = self.workspace_choice(c)
            if choice.workspace is None:
                raise ValueError(f"no workspace chosen for {c.name}")
            targets.append(
                ClusterTarget(
                    name=c.name,
                    id=c.id,
                    subscription_id=c.subscription_id,
                    resource_group=c.resource_group,
                    node_resource_group=c.node_resource_group,
                    location=c.location,
                    kube_context=self.contexts.get(c.name) or None,
                    workspace=workspace_ref(choice.workspace),
                    workspace_why=choice.why,
                )
            )
        return Plan(
            clusters=tuple(targets),
            log_path=self.log_path,
            presets=tuple(self.presets),
            custom_rules=self.custom_rules.strip() or None,
            facility=self.facility,
            severity=self.severity,
            delivery=self.delivery,
            namespace=self.namespace,
            image=self.image,
            concurrency=self.concurrency,
        )

    def load_plan(self, plan: Plan) -> None:
        """Take the choices of an existing plan (resume, plan file)."""
        self.selected = [c.id for c in plan.clusters]
        self.picked_workspaces = {c.id.lower(): plan.workspace_for(c).id for c in plan.clusters}
        self.log_path = plan.log_path
        self.presets = list(plan.presets)
        self.custom_rules = plan.custom_rules or ""
        self.facility = plan.facility
        self.severity = plan.severity
        self.delivery = plan.delivery
        self.namespace = plan.namespace
        self.image = plan.image
        self.concurrency = plan.concurrency
        self.contexts = {c.name: c.kube_context for c in plan.clusters if c.kube_context}
