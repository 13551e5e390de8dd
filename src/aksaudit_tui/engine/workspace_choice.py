"""Which Log Analytics workspace each cluster sends to: the default rule, in one place.

Per cluster, in this order:
1. the workspace its monitoring add-on (Container Insights) already uses: the Container
   Insights path cannot move an add-on elsewhere (review blocks), and its rows land there;
2. the workspace its legacy agent extension (OmsAgentForLinux) already reports to;
3. the only workspace in the cluster's own subscription and region (no cross-subscription
   ownership, no cross-region traffic);
4. else none: the user must pick. The wizard asks before it can make the plan; ``aksaudit
   plan`` stops with one line naming the cluster and the flag to pass.

Pure (no I/O): planning applies it to a discovered inventory and the wizard to what discovery
streamed, so the CLI and the wizard default the same way and say the same "why".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from aksaudit_tui.cloud.models import Cluster, Workspace
from aksaudit_tui.engine.plan import WHY_TEXT, WorkspaceRef, WorkspaceWhy

AGENT_TYPES = ("OmsAgentForLinux",)  # their public settings name the workspace (customer id)


@dataclass(frozen=True)
class WorkspaceChoice:
    """One cluster's workspace and why; ``workspace`` None means the user must pick
    (``ask`` says why no default was taken)."""

    cluster: str
    workspace: Workspace | None
    why: WorkspaceWhy | None
    ask: str = ""

    @property
    def why_text(self) -> str:
        """ "add-on's workspace", "same subscription and region", "picked by you", ..."""
        return WHY_TEXT[self.why] if self.why else f"pick one: {self.ask}"


def _same(a: str, b: str) -> bool:
    return a.strip().lower() == b.strip().lower()


def find_workspaces(workspaces: Sequence[Workspace], text: str) -> list[Workspace]:
    """The workspaces ``text`` names: ARM id, workspace ID (customer id) or name (exact
    case first, then any case)."""
    exact = [w for w in workspaces if text in (w.name, w.customer_id) or _same(w.id, text)]
    return exact or [w for w in workspaces if _same(w.name, text)]


def default_workspace(cluster: Cluster, workspaces: Sequence[Workspace]) -> WorkspaceChoice:
    """The default rule (module docstring) for one discovered cluster."""
    addon = cluster.monitoring.workspace_id if cluster.monitoring.addon_enabled else None
    if addon:
        for w in workspaces:
            if _same(w.id, addon):
                return WorkspaceChoice(cluster.name, w, "add-on")
        name = addon.rstrip("/").rsplit("/", 1)[-1]
        return WorkspaceChoice(
            cluster.name,
            None,
            None,
            f"its monitoring add-on sends to workspace {name}, which discovery did not list",
        )
    for ss in cluster.scale_sets:
        for ext in ss.extensions:
            cid = str(ext.settings.get("workspaceId") or "")
            if ext.type in AGENT_TYPES and cid:
                for w in workspaces:
                    if _same(w.customer_id, cid):
                        return WorkspaceChoice(cluster.name, w, "agent")
    near = [
        w
        for w in workspaces
        if _same(w.subscription_id, cluster.subscription_id) and _same(w.location, cluster.location)
    ]
    if len(near) == 1:
        return WorkspaceChoice(cluster.name, near[0], "region")
    if near:
        names = ", ".join(sorted(w.name for w in near))
        return WorkspaceChoice(
            cluster.name,
            None,
            None,
            f"{len(near)} workspaces in its subscription and region ({names})",
        )
    return WorkspaceChoice(
        cluster.name,
        None,
        None,
        f"no monitoring add-on and no workspace in its subscription and region "
        f"({cluster.location})",
    )


def picked(cluster: Cluster, workspace: Workspace) -> WorkspaceChoice:
    """The user's own choice for a cluster."""
    return WorkspaceChoice(cluster.name, workspace, "picked")


def workspace_ref(w: Workspace) -> WorkspaceRef:
    """The plan's reference to a discovered workspace (no key: the plan holds no secret)."""
    return WorkspaceRef(
        name=w.name,
        id=w.id,
        customer_id=w.customer_id,
        resource_group=w.resource_group,
        subscription_id=w.subscription_id,
        location=w.location,
    )
